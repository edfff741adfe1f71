//===- CpuTarget.cpp - the x86 (host) CPU target --------------------------===//
//
// linalg -> LLVM dialect (passes/Cpu/Pipelines.cpp) -> LLVM IR -> O3 -> object
// for the chosen CPU -> a shared object linked by ld.lld: the .ube's host.so
// section. The shared object needs only malloc/free from the process that
// loads it. The large constants skip LLVM, the assembler and the linker: the
// .ube's constants section, copied into the object at load
// (ConstantSection).
//
//===----------------------------------------------------------------------===//

#include "CpuTarget.h"
#include "CpuCacheSizes.h"
#include "ConstantSection.h"
#include "ParallelCodegen.h"
#include "CpuTargetOptions.h"

#include "dialects/ube/UbeDialect.h"
#include "passes/Cpu/Passes.h"
#include "passes/Cpu/Pipelines.h"
#include "ube/Support/CpuFeatures.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Support/Timing.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/ADT/StringSet.h"
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
  bool supportsSymbolicDims() const override { return true; }

  std::shared_ptr<mlir::detail::PassOptions> createOptions() const override {
    return std::make_shared<CpuTargetOptions>();
  }

  LogicalResult validateOptions(const CompileOptions &options,
                                std::string &error) const override;
  std::vector<std::string> variants(const CompileOptions &options) const override;

  void buildKernelPipeline(OpPassManager &pm, const CompileOptions &options) const override;

  void buildCodegenPipeline(OpPassManager &pm, const CompileOptions &options) const override;

  void registerPasses() const override {
    registerUbeCpuPasses();
    registerCpuPipelines();
  }

  LogicalResult emit(ModuleOp module, const CompileOptions &options, EmitStage stage,
                     llvm::raw_ostream &out) const override;
  LogicalResult buildExecutable(ModuleOp module, const CompileOptions &options,
                                std::vector<EntryPoint> &entries,
                                TargetBinary &binary) const override;

private:
  /// The lowered module as optimized LLVM IR for `machine`; with
  /// `constants`, the large constants moved out of it first (defined by
  /// the module assembly, as `placement` says).
  FailureOr<std::unique_ptr<llvm::Module>>
  translate(ModuleOp module, const CompileOptions &options, llvm::TargetMachine &machine,
            llvm::LLVMContext &context, ConstantSection *constants,
            ConstantPlacement placement) const;
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

/// The ISA features the runtime checks (CpuFeatures.h) that `machine`
/// compiles for: what a host must have to run the code.
std::vector<std::string> requiredFeatures(const llvm::TargetMachine &machine) {
  const llvm::MCSubtargetInfo &info = *machine.getMCSubtargetInfo();
  llvm::StringSet<> known;
  for (const llvm::SubtargetFeatureKV &feature : info.getAllProcessorFeatures())
    known.insert(feature.Key);
  std::vector<std::string> features;
  for (const CpuFeatureInfo &feature : checkedCpuFeatures())
    if (known.contains(feature.name) &&
        info.checkFeatures(std::string("+") + feature.name))
      features.push_back(feature.name);
  std::sort(features.begin(), features.end());
  return features;
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

/// Runs ld.lld to link the objects at `objectPaths` into a shared object;
/// returns its bytes (mapped, not copied).
FailureOr<std::shared_ptr<const FileBytes>>
linkSharedObject(Location loc, const std::vector<std::string> &objectPaths) {
  auto lld = llvm::sys::findProgramByName("ld.lld", {"/usr/lib/llvm-22/bin"});
  if (!lld)
    lld = llvm::sys::findProgramByName("ld.lld-22");
  if (!lld)
    return emitError(loc) << "cannot find ld.lld (install lld-22)";
  TemporaryFile library, log;
  if (failed(library.create(loc, "ube-host", "so")) || failed(log.create(loc, "ube-lld", "log")))
    return failure();
  llvm::SmallVector<llvm::StringRef> args = {*lld, "-shared", "--build-id=none", "-z",
                                             "noexecstack", "-O2", "-o", library.path};
  args.append(objectPaths.begin(), objectPaths.end());
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
  std::string error;
  std::shared_ptr<const FileBytes> bytes = FileBytes::map(library.path.str().str(), error);
  if (!bytes)
    return emitError(loc) << "cannot read the linked host code: " << error;
  return bytes;
}

LogicalResult CpuTarget::validateOptions(const CompileOptions &options,
                                         std::string &error) const {
  std::vector<std::string> cpus =
      cpuVariants(parseTargetOptions<CpuTargetOptions>(*this, options)->cpu);
  for (size_t i = 0; i < cpus.size(); ++i) {
    if (cpus.size() > 1 && (cpus[i].empty() || cpus[i] == "native" ||
                            llvm::is_contained(llvm::ArrayRef(cpus).take_front(i), cpus[i]))) {
      error = "cpu=" + llvm::join(cpus, ",") +
              ": variants are distinct CPU models or levels (not 'native', none twice)";
      return failure();
    }
    if (!createTargetMachine(cpus[i], error))
      return failure();
  }
  return success();
}

std::vector<std::string> CpuTarget::variants(const CompileOptions &options) const {
  std::vector<std::string> cpus =
      cpuVariants(parseTargetOptions<CpuTargetOptions>(*this, options)->cpu);
  std::vector<std::string> selections;
  if (cpus.size() > 1)
    for (const std::string &cpu : cpus)
      selections.push_back("cpu=" + cpu);
  return selections;
}

void CpuTarget::buildKernelPipeline(OpPassManager &pm, const CompileOptions &options) const {
  // f32 lanes of the widest vectors the chosen CPU has (AVX-512 or AVX2/SSE,
  // where LLVM splits 8-wide vectors in two).
  std::string error;
  std::unique_ptr<llvm::TargetMachine> machine =
      createTargetMachine(parseTargetOptions<CpuTargetOptions>(*this, options)->cpu, error);
  CpuKernelPipelineOptions kernels;
  kernels.vectorWidth =
      machine && machine->getMCSubtargetInfo()->checkFeatures("+avx512f") ? 16 : 8;
  CpuCaches caches = cpuCaches(parseTargetOptions<CpuTargetOptions>(*this, options)->cpu);
  kernels.l1CacheBytes = caches.l1Bytes;
  kernels.l1Ways = caches.l1Ways;
  kernels.l2CacheBytes = caches.l2Bytes;
  buildCpuKernelPipeline(pm, kernels);
}

void CpuTarget::buildCodegenPipeline(OpPassManager &pm, const CompileOptions &options) const {
  CpuCodegenPipelineOptions codegen;
  auto cpuOptions = parseTargetOptions<CpuTargetOptions>(*this, options);
  codegen.printMemoryPlan = cpuOptions->printMemoryPlan;
  // Where the CPU converts f32 to bf16 itself, LLVM uses its instructions.
  std::string error;
  auto machine = createTargetMachine(cpuOptions->cpu, error);
  const llvm::MCSubtargetInfo *info = machine ? machine->getMCSubtargetInfo() : nullptr;
  codegen.expandBf16 =
      !info || !(info->checkFeatures("+avx512bf16") || info->checkFeatures("+avxneconvert"));
  buildCpuCodegenPipeline(pm, codegen);
}

FailureOr<std::unique_ptr<llvm::Module>>
CpuTarget::translate(ModuleOp module, const CompileOptions &options,
                     llvm::TargetMachine &machine, llvm::LLVMContext &context,
                     ConstantSection *constants, ConstantPlacement placement) const {
  Location loc = module.getLoc();
  TimingScope timing = timePhase(options, "move constants out of the module");
  if (constants && failed(constants->extract(module, kLargeConstantBytes)))
    return failure();
  if (constants && placement == ConstantPlacement::Embedded &&
      failed(constants->writeFile(loc)))
    return failure();
  timing = timePhase(options, "translate to LLVM IR");
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, context, module.getName().value_or("ube"));
  if (!llvmModule)
    return emitError(loc) << "translation to LLVM IR failed";
  if (constants) {
    llvmModule->appendModuleInlineAsm(constants->assembly(placement));
    constants->addressAsLarge(*llvmModule);
  }
  llvmModule->setTargetTriple(machine.getTargetTriple());
  llvmModule->setDataLayout(machine.createDataLayout());
  flattenLargeConstants(*llvmModule);
  return llvmModule;
}

/// A TargetMachine for the CPU the options name, or an error at `loc`.
static FailureOr<std::unique_ptr<llvm::TargetMachine>>
targetMachineFor(const std::string &cpu, Location loc) {
  std::string error;
  auto machine = createTargetMachine(cpu, error);
  if (!machine)
    return emitError(loc) << "cannot target CPU '" << cpu << "': " << error;
  return machine;
}

LogicalResult CpuTarget::emit(ModuleOp module, const CompileOptions &options, EmitStage stage,
                              llvm::raw_ostream &out) const {
  Location loc = module.getLoc();
  auto machine = targetMachineFor(parseTargetOptions<CpuTargetOptions>(*this, options)->cpu, loc);
  if (failed(machine))
    return failure();
  // Objects get the large constants' bytes without LLVM IR in between; IR
  // and assembly keep them inline, so they stand alone.
  ConstantSection constants;
  llvm::LLVMContext context;
  auto llvmModule = translate(module, options, **machine, context,
                              stage == EmitStage::Obj ? &constants : nullptr,
                              ConstantPlacement::Embedded);
  if (failed(llvmModule))
    return failure();
  TimingScope timing = timePhase(options, "LLVM optimization");
  if (llvm::Error error = optimizeHostCode(**llvmModule, **machine))
    return emitError(loc) << llvm::toString(std::move(error));
  if (stage == EmitStage::Llvm) {
    (*llvmModule)->print(out, nullptr);
    return success();
  }
  timing = timePhase(options, "code generation");
  llvm::SmallVector<char, 0> code;
  llvm::raw_svector_ostream codeStream(code);
  if (llvm::Error error =
          emitHostCode(**llvmModule, **machine, stage == EmitStage::Asm, codeStream))
    return emitError(loc) << llvm::toString(std::move(error));
  out.write(code.data(), code.size());
  return success();
}

LogicalResult CpuTarget::buildExecutable(ModuleOp module, const CompileOptions &options,
                                         std::vector<EntryPoint> &entries,
                                         TargetBinary &binary) const {
  Location loc = module.getLoc();
  std::string cpu = parseTargetOptions<CpuTargetOptions>(*this, options)->cpu;
  auto machine = targetMachineFor(cpu, loc);
  if (failed(machine))
    return failure();
  // Arena sizes planned by --ube-cpu-plan-memory, updates in place proven
  // by --ube-mark-in-place-updates.
  for (EntryPoint &entry : entries) {
    entry.symbol = entrySymbol(entry.name);
    auto fn = module.lookupSymbol<LLVM::LLVMFuncOp>(entry.name);
    if (!fn)
      continue;
    if (IntegerAttr bytes = UbeDialect::ArenaBytesAttrHelper(fn.getContext()).getAttr(fn))
      entry.arenaBytes = bytes.getInt();
    if (ArrayAttr exprs = UbeDialect::ArenaExprsAttrHelper(fn.getContext()).getAttr(fn)) {
      FailureOr<std::vector<PlanExpr>> list = sizeExprsFromAttr(exprs);
      if (failed(list))
        return fn.emitOpError("has malformed 'ube.arena_exprs'");
      entry.arenaExprs = std::move(*list);
    }
    if (DenseI64ArrayAttr pairs = UbeDialect::InPlaceAttrHelper(fn.getContext()).getAttr(fn))
      for (int64_t k = 0; k + 1 < pairs.size(); k += 2)
        entry.inPlace.emplace_back(uint32_t(pairs[k]), uint32_t(pairs[k + 1]));
  }

  ConstantSection constants;
  llvm::LLVMContext context;
  auto llvmModule = translate(module, options, **machine, context, &constants,
                              ConstantPlacement::LoadedAtRunTime);
  if (failed(llvmModule))
    return failure();
  // Straight to the files the linker reads.
  TimingScope timing = timePhase(options, "LLVM optimization and code generation");
  std::vector<TemporaryFile> objects(kCodegenPartitions);
  std::vector<std::string> objectPaths;
  for (TemporaryFile &object : objects) {
    if (failed(object.create(loc, "ube-host", "o")))
      return failure();
    objectPaths.push_back(object.path.str().str());
  }
  auto createMachine = [&cpu] {
    std::string error;
    return createTargetMachine(cpu, error);
  };
  if (failed(compileInParallel(loc, **llvmModule, createMachine, constants, objectPaths)))
    return failure();
  timing = timePhase(options, "link");
  auto sharedObject = linkSharedObject(loc, objectPaths);
  if (failed(sharedObject))
    return failure();
  binary.targetInfo =
      (*machine)->getTargetTriple().str() + " " + (*machine)->getTargetCPU().str();
  binary.requiredFeatures = requiredFeatures(**machine);
  binary.variantName = (*machine)->getTargetCPU().str();
  binary.sections.push_back({section::kHostObject, std::move(*sharedObject)});
  if (!constants.empty())
    binary.sections.push_back({section::kConstants, constants.bytes()});
  return success();
}

} // namespace

std::unique_ptr<Target> createCpuTarget() { return std::make_unique<CpuTarget>(); }

} // namespace ube
