//===- ParallelCodegen.cpp - host code optimized and compiled on every core ---===//

#include "ParallelCodegen.h"

#include "ConstantSection.h"

#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/Bitcode/BitcodeReader.h"
#include "llvm/Bitcode/BitcodeWriter.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/ThreadPool.h"
#include "llvm/Support/Threading.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Transforms/Utils/Cloning.h"

#include <mutex>

using namespace mlir;

namespace ube {

namespace {

/// Optimizes and compiles one partition (bitcode) in a context of its own;
/// returns an error message, empty on success.
std::string compilePartition(llvm::StringRef bitcode, const llvm::TargetMachine &like,
                             const ConstantSection &constants, const std::string &objectPath) {
  llvm::LLVMContext context;
  llvm::Expected<std::unique_ptr<llvm::Module>> module = llvm::parseBitcodeFile(
      llvm::MemoryBufferRef(bitcode, "partition"), context);
  if (!module)
    return "cannot read a partition back: " + llvm::toString(module.takeError());
  // A machine per thread: they are not shared between compilations.
  std::unique_ptr<llvm::TargetMachine> machine(like.getTarget().createTargetMachine(
      like.getTargetTriple(), like.getTargetCPU(), like.getTargetFeatureString(), like.Options,
      llvm::Reloc::PIC_, std::nullopt, llvm::CodeGenOptLevel::Aggressive));
  if (!machine)
    return "cannot create a target machine for a partition";
  constants.addressAsLarge(**module);
  if (llvm::Error error =
          makeOptimizingTransformer(3, 0, machine.get())((*module).get()))
    return "LLVM optimization failed: " + llvm::toString(std::move(error));
  std::error_code error;
  llvm::raw_fd_ostream out(objectPath, error);
  if (error)
    return "cannot write '" + objectPath + "': " + error.message();
  llvm::legacy::PassManager codegen;
  if (machine->addPassesToEmitFile(codegen, out, nullptr, llvm::CodeGenFileType::ObjectFile))
    return "the CPU target cannot emit object files";
  codegen.run(**module);
  out.close();
  if (out.has_error())
    return "cannot write '" + objectPath + "': " + out.error().message();
  return "";
}

} // namespace

LogicalResult compileInParallel(Location loc, llvm::Module &module,
                                const llvm::TargetMachine &machine,
                                const ConstantSection &constants,
                                const std::vector<std::string> &objectPaths) {
  // Local symbols become hidden globals, under their own (unique) names,
  // so partitions can refer to each other's.
  for (llvm::GlobalValue &value : module.global_values())
    if (value.hasLocalLinkage() && !value.isDeclaration()) {
      value.setLinkage(llvm::GlobalValue::ExternalLinkage);
      value.setVisibility(llvm::GlobalValue::HiddenVisibility);
    }
  // Functions round robin in module order (a model's kernels spread
  // evenly), variables in the first partition, with the module assembly
  // that defines the constants. Every choice follows the module's order:
  // llvm::SplitModule's follows pointer order, and the objects differed from
  // one compile to the next.
  unsigned partitions = objectPaths.size();
  llvm::DenseMap<const llvm::GlobalValue *, unsigned> owner;
  unsigned next = 0;
  for (llvm::Function &function : module)
    if (!function.isDeclaration())
      owner[&function] = next++ % partitions;
  std::vector<llvm::SmallVector<char, 0>> bitcode(partitions);
  for (unsigned i = 0; i < partitions; ++i) {
    llvm::ValueToValueMapTy map;
    std::unique_ptr<llvm::Module> partition =
        llvm::CloneModule(module, map, [&](const llvm::GlobalValue *value) {
          auto it = owner.find(value);
          return it == owner.end() ? i == 0 : it->second == i;
        });
    if (i > 0)
      partition->setModuleInlineAsm("");
    llvm::raw_svector_ostream out(bitcode[i]);
    llvm::WriteBitcodeToFile(*partition, out);
  }

  std::vector<std::string> errors(bitcode.size());
  llvm::DefaultThreadPool pool(llvm::hardware_concurrency(bitcode.size()));
  for (size_t i = 0; i < bitcode.size(); ++i)
    pool.async([&, i] {
      errors[i] = compilePartition(llvm::StringRef(bitcode[i].data(), bitcode[i].size()),
                                   machine, constants, objectPaths[i]);
    });
  pool.wait();
  for (const std::string &error : errors)
    if (!error.empty())
      return emitError(loc) << error;
  return success();
}

} // namespace ube
