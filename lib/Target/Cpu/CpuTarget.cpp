//===- CpuTarget.cpp - the x86 (host) CPU target --------------------------===//
//
// linalg -> LLVM dialect (passes/Pipelines.cpp) -> LLVM IR -> O3 -> object
// for the chosen CPU -> a shared object linked by ld.lld -> the .ube
// container with the manifest. The shared object needs only malloc/free
// from the process that loads it.
//
//===----------------------------------------------------------------------===//

#include "CpuTarget.h"
#include "ConstantSection.h"

#include "passes/Passes.h"
#include "passes/Pipelines.h"
#include "ube/Version.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Support/Timing.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"

#include <mutex>

using namespace mlir;

namespace ube {
namespace {

class CpuTarget : public Target {
public:
  llvm::StringRef name() const override { return "cpu"; }

  LogicalResult validateOptions(llvm::StringRef targetOptions, const CompileOptions &,
                                std::string &error) const override {
    if (targetOptions.empty())
      return success();
    error = ("the cpu target takes no ':' options (got '" + targetOptions +
             "'); use --cpu=NAME to choose the CPU model")
                .str();
    return failure();
  }

  void buildKernelPipeline(OpPassManager &pm, const CompileOptions &options) const override;

  void buildCodegenPipeline(OpPassManager &pm, const CompileOptions &options) const override {
    buildHostCodegenPipeline(pm, options.printMemoryPlan);
  }

  LogicalResult serialize(ModuleOp module, const CompileOptions &options, EmitStage stage,
                          Manifest manifest, llvm::raw_ostream &out) const override;
};

/// A TargetMachine for the host triple and `cpu` ("native": this machine's
/// model and features).
std::unique_ptr<llvm::TargetMachine> createTargetMachine(llvm::StringRef cpu,
                                                         std::string &error) {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser(); // module assembly (ConstantSection)
    // O3's full unrolling of the small constant loops of data movement
    // (a transpose's 26-element rows) multiplies code size and makes loop
    // strength reduction take most of the compile time (BERT layers: 60%);
    // our kernels are unrolled where it pays already. Unless the user set it.
    auto &options = llvm::cl::getRegisteredOptions();
    if (llvm::cl::Option *threshold = options.lookup("unroll-threshold"))
      if (threshold->getNumOccurrences() == 0)
        (void)threshold->addOccurrence(0, "unroll-threshold", "50");
  });
  llvm::Triple triple(llvm::sys::getDefaultTargetTriple());
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return nullptr;
  std::string model = cpu.str(), features;
  if (cpu == "native") {
    model = llvm::sys::getHostCPUName().str();
    llvm::SubtargetFeatures subtarget;
    for (auto &feature : llvm::sys::getHostCPUFeatures())
      subtarget.AddFeature(feature.first(), feature.second);
    features = subtarget.getString();
  } else {
    std::unique_ptr<llvm::MCSubtargetInfo> info(
        target->createMCSubtargetInfo(triple, model, ""));
    if (!info || !info->isCPUStringValid(model)) {
      error = "unknown CPU model '" + model + "' for " + triple.str();
      return nullptr;
    }
  }
  llvm::TargetOptions targetOptions;
  return std::unique_ptr<llvm::TargetMachine>(target->createTargetMachine(
      triple, model, features, targetOptions, llvm::Reloc::PIC_, std::nullopt,
      llvm::CodeGenOptLevel::Aggressive));
}

/// Constants from this size on are weights rather than tables the optimizer
/// should see into.
constexpr uint64_t kLargeConstantBytes = 4096;

/// Appends the bytes `constant` is laid out as in memory; false for
/// constants that are not plain data (addresses, expressions).
bool appendBytes(llvm::Constant *constant, const llvm::DataLayout &layout, std::string &out) {
  if (auto *data = llvm::dyn_cast<llvm::ConstantDataSequential>(constant)) {
    out += data->getRawDataValues();
    return true;
  }
  if (llvm::isa<llvm::ConstantAggregateZero>(constant)) {
    out.append(layout.getTypeAllocSize(constant->getType()), '\0');
    return true;
  }
  auto *array = llvm::dyn_cast<llvm::ConstantArray>(constant);
  if (!array)
    return false;
  for (llvm::Value *element : array->operands())
    if (!appendBytes(llvm::cast<llvm::Constant>(element), layout, out))
      return false;
  return true;
}

/// Large constant arrays (weights, packed weights) become one byte array
/// each. LLVM otherwise keeps them as nested arrays of floats that its
/// passes walk and its asm printer formats element by element: most of the
/// compile time of a weight-heavy model (BERT-base: 440 MB). Uses see only
/// the address, so nothing else changes.
void flattenLargeConstants(llvm::Module &module) {
  const llvm::DataLayout &layout = module.getDataLayout();
  llvm::SmallVector<llvm::GlobalVariable *> globals;
  for (llvm::GlobalVariable &global : module.globals())
    if (global.isConstant() && global.hasInitializer() &&
        llvm::isa<llvm::ArrayType>(global.getValueType()) &&
        layout.getTypeAllocSize(global.getValueType()) >= kLargeConstantBytes)
      globals.push_back(&global);
  auto *byte = llvm::Type::getInt8Ty(module.getContext());
  for (llvm::GlobalVariable *global : globals) {
    std::string bytes;
    if (!appendBytes(global->getInitializer(), layout, bytes) ||
        bytes.size() != layout.getTypeAllocSize(global->getValueType()))
      continue;
    llvm::Constant *raw = llvm::ConstantDataArray::getRaw(bytes, bytes.size(), byte);
    auto *flat = new llvm::GlobalVariable(module, raw->getType(), /*isConstant=*/true,
                                          global->getLinkage(), raw, "", global,
                                          global->getThreadLocalMode(),
                                          global->getAddressSpace());
    flat->setAlignment(global->getAlign().value_or(layout.getPreferredAlign(global)));
    flat->setUnnamedAddr(global->getUnnamedAddr());
    flat->takeName(global);
    global->replaceAllUsesWith(flat);
    global->eraseFromParent();
  }
}

/// A temporary file's path, removed with it.
struct TemporaryFile {
  ~TemporaryFile() {
    if (!path.empty())
      llvm::sys::fs::remove(path);
  }
  LogicalResult create(Location loc, llvm::StringRef prefix, llvm::StringRef suffix) {
    if (llvm::sys::fs::createTemporaryFile(prefix, suffix, path))
      return emitError(loc) << "cannot create a temporary file";
    return success();
  }
  llvm::SmallString<128> path;
};

/// Runs ld.lld to turn the object at `objectPath` into a shared object;
/// returns its bytes (mapped, not copied).
FailureOr<std::unique_ptr<llvm::MemoryBuffer>> linkSharedObject(Location loc,
                                                                llvm::StringRef objectPath) {
  auto lld = llvm::sys::findProgramByName("ld.lld", {"/usr/lib/llvm-22/bin"});
  if (!lld)
    lld = llvm::sys::findProgramByName("ld.lld-22");
  if (!lld)
    return emitError(loc) << "cannot find ld.lld (install lld-22)";
  TemporaryFile library, log;
  if (failed(library.create(loc, "ube-host", "so")) || failed(log.create(loc, "ube-lld", "log")))
    return failure();
  llvm::StringRef args[] = {*lld, "-shared", "--build-id=none", "-z", "noexecstack",
                            "-O2", "-o", library.path, objectPath};
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, log.path, log.path};
  std::string message;
  int rc = llvm::sys::ExecuteAndWait(*lld, args, std::nullopt, redirects, 0, 0, &message);
  if (rc != 0) {
    auto output = llvm::MemoryBuffer::getFile(log.path);
    InFlightDiagnostic diag = emitError(loc) << "linking the host code failed";
    if (!message.empty())
      diag << ": " << message;
    if (output)
      diag << "\n" << (*output)->getBuffer();
    return failure();
  }
  // The mapping outlives the file's name.
  auto bytes = llvm::MemoryBuffer::getFile(library.path, /*IsText=*/false,
                                           /*RequiresNullTerminator=*/false);
  if (!bytes)
    return emitError(loc) << "cannot read the linked host code";
  return std::move(*bytes);
}

/// Emits `module` as an object file (assembly when `assembly`) to `out`.
LogicalResult emitCode(Location loc, llvm::TargetMachine &machine, llvm::Module &module,
                       bool assembly, llvm::raw_pwrite_stream &out) {
  llvm::legacy::PassManager codegen;
  auto fileType =
      assembly ? llvm::CodeGenFileType::AssemblyFile : llvm::CodeGenFileType::ObjectFile;
  if (machine.addPassesToEmitFile(codegen, out, nullptr, fileType))
    return emitError(loc) << "the CPU target cannot emit this file type";
  codegen.run(module);
  return success();
}

void CpuTarget::buildKernelPipeline(OpPassManager &pm, const CompileOptions &options) const {
  // f32 lanes of the widest vectors the chosen CPU has (AVX-512 or AVX2/SSE,
  // where LLVM splits 8-wide vectors in two).
  std::string error;
  std::unique_ptr<llvm::TargetMachine> machine = createTargetMachine(options.cpu, error);
  bool avx512 = machine && machine->getMCSubtargetInfo()->checkFeatures("+avx512f");
  UbeCpuDistillationKernelsOptions kernels;
  kernels.vectorWidth = avx512 ? 16 : 8;
  // Register tiles of products: MR × NR/lanes accumulators + NR/lanes panel
  // vectors + 1 broadcast within 16 (AVX2) or 32 (AVX-512) vector registers.
  int64_t panelWidth = 2 * kernels.vectorWidth, tileRows = avx512 ? 12 : 6;
  pm.addNestedPass<func::FuncOp>(createUbeCpuDistillationKernels(kernels));
  UbeCpuFeatureMapKernelsOptions featureMaps;
  featureMaps.vectorWidth = kernels.vectorWidth;
  featureMaps.panelWidth = panelWidth;
  featureMaps.tileRows = tileRows;
  pm.addNestedPass<func::FuncOp>(createUbeCpuFeatureMapKernels(featureMaps));
  // Matmuls of composite ops (linear, attention) are visible once those are
  // decomposed.
  // (Softmax and layer norms stay whole for the row kernels.)
  UbeDecomposeOptions decompose;
  decompose.keepNormalizations = true;
  pm.addNestedPass<func::FuncOp>(createUbeDecompose(decompose));
  UbeCpuRowKernelsOptions rows;
  rows.vectorWidth = kernels.vectorWidth;
  pm.addNestedPass<func::FuncOp>(createUbeCpuRowKernels(rows));
  UbeCpuMatmulKernelsOptions matmuls;
  matmuls.vectorWidth = kernels.vectorWidth;
  matmuls.panelWidth = panelWidth;
  matmuls.tileRows = tileRows;
  pm.addNestedPass<func::FuncOp>(createUbeCpuMatmulKernels(matmuls));
}

LogicalResult CpuTarget::serialize(ModuleOp module, const CompileOptions &options,
                                   EmitStage stage, Manifest manifest,
                                   llvm::raw_ostream &out) const {
  Location loc = module.getLoc();
  std::string error;
  auto machine = createTargetMachine(options.cpu, error);
  if (!machine)
    return emitError(loc) << "cannot target CPU '" << options.cpu << "': " << error;

  // Arena sizes planned by --ube-plan-memory, updates in place proven by
  // --ube-mark-in-place-updates.
  for (EntryPoint &entry : manifest.entries)
    if (auto fn = module.lookupSymbol<LLVM::LLVMFuncOp>(entry.name)) {
      if (auto bytes = fn->getAttrOfType<IntegerAttr>("ube.arena_bytes"))
        entry.arenaBytes = bytes.getInt();
      if (auto pairs = fn->getAttrOfType<DenseI64ArrayAttr>("ube.in_place"))
        for (int64_t k = 0; k + 1 < pairs.size(); k += 2)
          entry.inPlace.emplace_back(uint32_t(pairs[k]), uint32_t(pairs[k + 1]));
    }

  // Objects get the large constants' bytes without LLVM IR in between; IR
  // and assembly output keep them inline, so they stand alone.
  ConstantSection constants;
  TimingScope timing = timePhase(options, "move constants out of the module");
  if ((stage == EmitStage::Obj || stage == EmitStage::Exe) &&
      failed(constants.extract(module, kLargeConstantBytes)))
    return failure();

  timing = timePhase(options, "translate to LLVM IR");
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmContext, module.getName().value_or("ube"));
  if (!llvmModule)
    return emitError(loc) << "translation to LLVM IR failed";
  llvmModule->appendModuleInlineAsm(constants.assembly());
  llvmModule->setTargetTriple(machine->getTargetTriple());
  llvmModule->setDataLayout(machine->createDataLayout());
  flattenLargeConstants(*llvmModule);
  timing = timePhase(options, "LLVM optimization");
  if (llvm::Error err = makeOptimizingTransformer(3, 0, machine.get())(llvmModule.get()))
    return emitError(loc) << "LLVM optimization failed: " << llvm::toString(std::move(err));
  if (stage == EmitStage::Llvm) {
    llvmModule->print(out, nullptr);
    return success();
  }

  timing = timePhase(options, "code generation");
  if (stage == EmitStage::Asm || stage == EmitStage::Obj) {
    llvm::SmallVector<char, 0> code;
    llvm::raw_svector_ostream codeStream(code);
    if (failed(emitCode(loc, *machine, *llvmModule, stage == EmitStage::Asm, codeStream)))
      return failure();
    out.write(code.data(), code.size());
    return success();
  }
  // Straight to the file the linker reads: the object holds the weights.
  TemporaryFile object;
  if (failed(object.create(loc, "ube-host", "o")))
    return failure();
  {
    std::error_code error;
    llvm::raw_fd_ostream objectStream(object.path, error);
    if (error)
      return emitError(loc) << "cannot write '" << object.path << "': " << error.message();
    if (failed(emitCode(loc, *machine, *llvmModule, /*assembly=*/false, objectStream)))
      return failure();
  }

  timing = timePhase(options, "link");
  auto sharedObject = linkSharedObject(loc, object.path);
  if (failed(sharedObject))
    return failure();
  manifest.target = "cpu";
  manifest.targetInfo = (machine->getTargetTriple().str() + " " +
                         machine->getTargetCPU().str());
  manifest.sections = {{section::kHostObject, 0, 0}};
  timing = timePhase(options, "write the executable");
  llvm::StringRef library = (*sharedObject)->getBuffer();
  writeExecutable(std::move(manifest),
                  {{reinterpret_cast<const uint8_t *>(library.data()), library.size()}},
                  [&](const uint8_t *data, size_t size) {
                    out.write(reinterpret_cast<const char *>(data), size);
                  });
  return success();
}

} // namespace

std::unique_ptr<Target> createCpuTarget() { return std::make_unique<CpuTarget>(); }

} // namespace ube
