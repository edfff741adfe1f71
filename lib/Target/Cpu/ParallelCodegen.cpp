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
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/ThreadPool.h"
#include "llvm/Support/Threading.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Transforms/Utils/Cloning.h"

using namespace mlir;

namespace ube {

llvm::Error optimizeHostCode(llvm::Module &module, llvm::TargetMachine &machine) {
  if (llvm::Error error = makeOptimizingTransformer(3, 0, &machine)(&module))
    return llvm::createStringError("LLVM optimization failed: " +
                                   llvm::toString(std::move(error)));
  return llvm::Error::success();
}

llvm::Error emitHostCode(llvm::Module &module, llvm::TargetMachine &machine, bool assembly,
                         llvm::raw_pwrite_stream &out) {
  llvm::legacy::PassManager codegen;
  auto fileType =
      assembly ? llvm::CodeGenFileType::AssemblyFile : llvm::CodeGenFileType::ObjectFile;
  if (machine.addPassesToEmitFile(codegen, out, nullptr, fileType))
    return llvm::createStringError("the CPU target cannot emit this file type");
  codegen.run(module);
  return llvm::Error::success();
}

namespace {

/// Optimizes and compiles one partition (bitcode) in a context of its own.
llvm::Error compilePartition(llvm::StringRef bitcode, llvm::TargetMachine &machine,
                             const ConstantSection &constants, const std::string &objectPath) {
  llvm::LLVMContext context;
  llvm::Expected<std::unique_ptr<llvm::Module>> module = llvm::parseBitcodeFile(
      llvm::MemoryBufferRef(bitcode, "partition"), context);
  if (!module)
    return llvm::createStringError("cannot read a partition back: " +
                                   llvm::toString(module.takeError()));
  constants.addressAsLarge(**module);
  if (llvm::Error error = optimizeHostCode(**module, machine))
    return error;
  std::error_code error;
  llvm::raw_fd_ostream out(objectPath, error);
  if (error)
    return llvm::createStringError("cannot write '" + objectPath + "': " + error.message());
  if (llvm::Error error = emitHostCode(**module, machine, /*assembly=*/false, out))
    return error;
  out.close();
  if (out.has_error())
    return llvm::createStringError("cannot write '" + objectPath +
                                   "': " + out.error().message());
  return llvm::Error::success();
}

} // namespace

LogicalResult
compileInParallel(Location loc, llvm::Module &module,
                  llvm::function_ref<std::unique_ptr<llvm::TargetMachine>()> createMachine,
                  const ConstantSection &constants, const std::vector<std::string> &objectPaths) {
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
      // A machine per thread: they are not shared between compilations.
      std::unique_ptr<llvm::TargetMachine> machine = createMachine();
      if (!machine) {
        errors[i] = "cannot create a target machine for a partition";
        return;
      }
      if (llvm::Error error =
              compilePartition(llvm::StringRef(bitcode[i].data(), bitcode[i].size()), *machine,
                               constants, objectPaths[i]))
        errors[i] = llvm::toString(std::move(error));
    });
  pool.wait();
  for (const std::string &error : errors)
    if (!error.empty())
      return emitError(loc) << error;
  return success();
}

} // namespace ube
