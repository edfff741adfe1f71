//===- CudaTarget.cpp - the NVIDIA GPU target -----------------------------===//
//
// linalg -> bufferized parallel loops -> one gpu.launch per loop nest
// (ube-cuda-map-to-launches) -> outlined kernels -> NVVM -> PTX (and cubin
// through ptxas when the CUDA toolkit is found). The host side of each entry
// point is not compiled: what is left of it (allocations, views, copies,
// launches, and the sizes of symbolic dimensions) becomes a launch plan in
// the manifest (LaunchPlanBuilder.h) that the runtime's cuda plugin executes
// through the driver API. Weights become one "constants" section uploaded
// once at load.
//
//===----------------------------------------------------------------------===//

#include "CudaTarget.h"
#include "CudaTargetOptions.h"
#include "LaunchPlanBuilder.h"

#include "dialects/ube/UbeDialect.h"
#include "passes/Cuda/Passes.h"
#include "passes/Cuda/Pipelines.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"

using namespace mlir;

namespace ube {
namespace {

/// NVIDIA's libdevice bitcode in the CUDA toolkit.
std::string libdevicePath(const CudaTargetOptions &options) {
  llvm::SmallString<128> path(options.cudaPath.getValue());
  llvm::sys::path::append(path, "nvvm", "libdevice", "libdevice.10.bc");
  return path.str().str();
}

class CudaTarget : public Target {
public:
  llvm::StringRef name() const override { return "cuda"; }
  bool supportsSymbolicDims() const override { return true; }

  std::shared_ptr<mlir::detail::PassOptions> createOptions() const override {
    return std::make_shared<CudaTargetOptions>();
  }
  llvm::StringRef suffixOption() const override { return "chip"; }

  LogicalResult validateOptions(const CompileOptions &compileOptions,
                                std::string &error) const override {
    auto options = parseTargetOptions<CudaTargetOptions>(*this, compileOptions);
    llvm::StringRef chip = options->chip.getValue();
    unsigned version;
    if (!chip.starts_with("sm_") || chip.drop_front(3).getAsInteger(10, version) ||
        version < 50) {
      error = ("the cuda target takes an architecture sm_NN, e.g. --target=cuda:sm_90 (got '" +
               chip + "')")
                  .str();
      return failure();
    }
    if (llvm::sys::fs::exists(libdevicePath(*options)))
      return success();
    error = "the cuda target needs the CUDA toolkit's libdevice, not found at " +
            libdevicePath(*options) + "; pass --cuda-path=DIR";
    return failure();
  }

  void buildCodegenPipeline(OpPassManager &pm, const CompileOptions &options) const override {
    auto target = parseTargetOptions<CudaTargetOptions>(*this, options);
    CudaCodegenPipelineOptions codegen;
    codegen.chip = target->chip.getValue();
    unsigned version = 80;
    llvm::StringRef(codegen.chip).drop_front(3).getAsInteger(10, version);
    // PTX ISA 8.0 (CUDA 12) covers sm_50..sm_90; newer chips need newer ISA.
    // sm_90 takes 8.1 (CUDA 12.1): its kernels may have 32 KB of parameters,
    // which fused kernels that capture many memref descriptors need.
    codegen.ptxFeatures = version >= 100 ? "+ptx86" : version >= 90 ? "+ptx81" : "+ptx80";
    codegen.libdevice = libdevicePath(*target);
    buildCudaCodegenPipeline(pm, codegen);
  }

  void buildKernelPipeline(OpPassManager &pm, const CompileOptions &) const override {
    buildCudaKernelPipeline(pm);
  }

  void registerPasses() const override {
    registerUbeCudaPasses();
    registerCudaPipelines();
  }

  LogicalResult emit(ModuleOp module, const CompileOptions &options, EmitStage stage,
                     llvm::raw_ostream &out) const override;
  LogicalResult buildExecutable(ModuleOp module, const CompileOptions &options,
                                std::vector<EntryPoint> &entries,
                                TargetBinary &binary) const override;
};

/// Runs ptxas on `ptx` for `chip`; nullopt (with a warning) when it is missing.
FailureOr<std::optional<std::vector<uint8_t>>>
assemble(Location loc, llvm::StringRef ptx, const std::string &chip,
         const std::string &cudaPath) {
  llvm::SmallString<128> bin(cudaPath);
  llvm::sys::path::append(bin, "bin");
  auto ptxas = llvm::sys::findProgramByName("ptxas", {bin});
  if (!ptxas)
    ptxas = llvm::sys::findProgramByName("ptxas");
  if (!ptxas)
    return std::optional<std::vector<uint8_t>>();
  llvm::SmallString<128> input, output, log;
  int fd;
  if (llvm::sys::fs::createTemporaryFile("ube-kernel", "ptx", fd, input))
    return emitError(loc) << "cannot create a temporary file";
  {
    llvm::raw_fd_ostream file(fd, /*shouldClose=*/true);
    file << ptx;
  }
  llvm::sys::fs::createTemporaryFile("ube-kernel", "cubin", output);
  llvm::sys::fs::createTemporaryFile("ube-ptxas", "log", log);
  std::string arch = "-arch=" + chip;
  llvm::StringRef args[] = {*ptxas, arch, "-O3", "-o", output, input};
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, log, log};
  int rc = llvm::sys::ExecuteAndWait(*ptxas, args, std::nullopt, redirects);
  auto cubin = llvm::MemoryBuffer::getFile(output, false, false);
  auto message = llvm::MemoryBuffer::getFile(log);
  llvm::sys::fs::remove(input);
  llvm::sys::fs::remove(output);
  llvm::sys::fs::remove(log);
  if (rc != 0 || !cubin)
    return emitError(loc) << "ptxas failed for " << chip << ":\n"
                          << (message ? (*message)->getBuffer() : "");
  return std::optional<std::vector<uint8_t>>(
      std::vector<uint8_t>((*cubin)->getBufferStart(), (*cubin)->getBufferEnd()));
}

/// The PTX of every kernel module, by module name.
std::vector<std::pair<std::string, std::string>> ptxModules(ModuleOp module) {
  std::vector<std::pair<std::string, std::string>> ptx;
  for (auto binary : module.getOps<gpu::BinaryOp>()) {
    auto object = cast<gpu::ObjectAttr>(binary.getObjects()[0]);
    ptx.emplace_back(binary.getName().str(), object.getObject().getValue().str());
  }
  return ptx;
}

LogicalResult CudaTarget::emit(ModuleOp module, const CompileOptions &options,
                               EmitStage stage, llvm::raw_ostream &out) const {
  if (stage != EmitStage::Asm)
    return emitError(module.getLoc())
           << "--emit=" << (stage == EmitStage::Llvm ? "llvm" : "obj")
           << " is not available for the cuda target; use --emit=asm (PTX) or --emit=exe";
  for (auto &[name, text] : ptxModules(module))
    out << "// module " << name << "\n" << text << "\n";
  return success();
}

LogicalResult CudaTarget::buildExecutable(ModuleOp module, const CompileOptions &options,
                                          std::vector<EntryPoint> &entries,
                                          TargetBinary &binary) const {
  Location loc = module.getLoc();
  auto targetOptions = parseTargetOptions<CudaTargetOptions>(*this, options);
  std::string chip = targetOptions->chip;
  // No host code: each entry point's host side becomes its launch plan.
  std::vector<uint8_t> constants;
  for (EntryPoint &entry : entries) {
    auto fn = module.lookupSymbol<func::FuncOp>(entry.name);
    if (!fn)
      return emitError(loc) << "entry point '" << entry.name << "' disappeared";
    auto plan = buildLaunchPlan(fn, constants);
    if (failed(plan))
      return failure();
    entry.plan = launchPlanToJson(*plan);
    // Updates in place proven by --ube-mark-in-place-updates.
    if (DenseI64ArrayAttr pairs = UbeDialect::InPlaceAttrHelper(fn.getContext()).getAttr(fn))
      for (int64_t k = 0; k + 1 < pairs.size(); k += 2)
        entry.inPlace.emplace_back(uint32_t(pairs[k]), uint32_t(pairs[k + 1]));
  }
  auto held = [](std::vector<uint8_t> bytes) {
    return std::make_shared<const FileBytes>(std::move(bytes));
  };
  bool haveCubin = false;
  for (auto &[name, text] : ptxModules(module)) {
    std::vector<uint8_t> ptx(text.begin(), text.end());
    ptx.push_back(0); // the driver takes NUL-terminated PTX
    binary.sections.push_back({section::ptx(name), held(std::move(ptx))});
    auto cubin = assemble(loc, text, chip, targetOptions->cudaPath);
    if (failed(cubin))
      return failure();
    if (*cubin) {
      binary.sections.push_back({section::cubin(name), held(std::move(**cubin))});
      haveCubin = true;
    }
  }
  binary.sections.push_back({section::kConstants, held(std::move(constants))});
  binary.targetInfo = chip + (haveCubin ? " (cubin + PTX)" : " (PTX)");
  // The GPU architecture the code needs (runtime/cuda/ModuleImage.h).
  binary.requiredFeatures = {chip};
  return success();
}

} // namespace

std::unique_ptr<Target> createCudaTarget() { return std::make_unique<CudaTarget>(); }

} // namespace ube
