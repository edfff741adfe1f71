//===- CudaTarget.cpp - the NVIDIA GPU target -----------------------------===//
//
// linalg -> bufferized parallel loops -> one gpu.launch per loop nest
// (ube-cuda-map-to-launches) -> outlined kernels -> NVVM -> PTX (and cubin
// through ptxas when the CUDA toolkit is found). The host side of each entry
// point is not compiled: what is left of it (allocations, views, copies,
// launches with constant grids) becomes a launch plan in the manifest that
// the runtime's cuda plugin executes through the driver API. Weights become
// one "constants" section uploaded once at load.
//
//===----------------------------------------------------------------------===//

#include "CudaTarget.h"
#include "CudaTargetOptions.h"

#include "dialects/ube/UbeDialect.h"
#include "passes/Cuda/Passes.h"
#include "passes/Cuda/Pipelines.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"

#include "ube/Support/LaunchPlan.h"

#include <cstring>

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

/// A function's host side, turned into buffers and steps.
class PlanBuilder {
public:
  PlanBuilder(ModuleOp module, std::vector<uint8_t> &constants)
      : module_(module), constants_(constants) {}

  FailureOr<LaunchPlan> build(func::FuncOp fn);

private:
  FailureOr<size_t> bufferOf(Value memref, Operation *user) {
    auto it = buffers_.find(memref);
    if (it == buffers_.end())
      return user->emitOpError("uses a buffer the cuda launch plan cannot follow");
    return it->second;
  }
  size_t addBuffer(LaunchBuffer buffer) {
    plan_.buffers.push_back(buffer);
    return plan_.buffers.size() - 1;
  }
  LogicalResult addConstant(memref::GetGlobalOp op);
  LogicalResult addLaunch(gpu::LaunchFuncOp launch);
  LogicalResult addCopy(memref::CopyOp copy);
  FailureOr<int64_t> constantIndex(Value v, Operation *user) {
    if (auto c = getConstantIntValue(v))
      return *c;
    return user->emitOpError("needs a constant launch size for the cuda target");
  }

  ModuleOp module_;
  std::vector<uint8_t> &constants_;
  llvm::DenseMap<Value, size_t> buffers_;
  LaunchPlan plan_;
};

/// Bytes of a dense or resource-backed constant.
FailureOr<std::vector<uint8_t>> constantBytes(Attribute value, Location loc) {
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(value)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob)
      return emitError(loc) << "constant '" << resource.getRawHandle().getKey()
                            << "' has no data";
    ArrayRef<char> data = blob->getData();
    return std::vector<uint8_t>(data.begin(), data.end());
  }
  auto dense = dyn_cast<DenseElementsAttr>(value);
  if (!dense)
    return emitError(loc) << "unsupported constant kind for the cuda target";
  auto type = cast<ShapedType>(dense.getType());
  unsigned width = type.getElementTypeBitWidth();
  size_t elementBytes = width == 1 ? 1 : width / 8;
  std::vector<uint8_t> bytes(type.getNumElements() * elementBytes);
  for (int64_t i = 0; i < type.getNumElements(); ++i) {
    APInt bits = isa<FloatType>(type.getElementType())
                     ? dense.getValues<APFloat>()[i].bitcastToAPInt()
                     : dense.getValues<APInt>()[i];
    uint64_t raw = bits.getZExtValue();
    for (size_t b = 0; b < elementBytes; ++b)
      bytes[i * elementBytes + b] = uint8_t(raw >> (8 * b));
  }
  return bytes;
}

LogicalResult PlanBuilder::addConstant(memref::GetGlobalOp op) {
  auto global = SymbolTable::lookupNearestSymbolFrom<memref::GlobalOp>(op, op.getNameAttr());
  if (!global || !global.getInitialValue())
    return op.emitOpError("refers to a global without a value");
  auto bytes = constantBytes(*global.getInitialValue(), op.getLoc());
  if (failed(bytes))
    return failure();
  constants_.resize((constants_.size() + 255) / 256 * 256);
  size_t offset = constants_.size();
  constants_.insert(constants_.end(), bytes->begin(), bytes->end());
  buffers_[op.getResult()] = addBuffer({LaunchBuffer::Constant, offset, bytes->size()});
  return success();
}

/// The element size in bytes of a memref (i1 is a byte).
int64_t elementBytes(MemRefType type) {
  unsigned width = type.getElementTypeBitWidth();
  return width == 1 ? 1 : width / 8;
}

LogicalResult PlanBuilder::addLaunch(gpu::LaunchFuncOp launch) {
  LaunchStep step;
  step.module = launch.getKernelModuleName().str();
  step.kernel = launch.getKernelName().str();
  auto scalar = [](LaunchArg::Kind kind, uint64_t bits) { return LaunchArg{kind, 0, bits}; };
  for (Value operand : launch.getKernelOperands()) {
    Type type = operand.getType();
    if (auto memref = dyn_cast<MemRefType>(type)) {
      auto buffer = bufferOf(operand, launch);
      if (failed(buffer))
        return failure();
      SmallVector<int64_t> strides;
      int64_t offset;
      if (failed(memref.getStridesAndOffset(strides, offset)) ||
          ShapedType::isDynamic(offset) || llvm::any_of(strides, ShapedType::isDynamic) ||
          !memref.hasStaticShape())
        return launch.emitOpError("passes a dynamically shaped buffer");
      // The memref descriptor, field by field: allocated and aligned
      // pointer, offset, sizes, strides.
      step.args.push_back({LaunchArg::Pointer, *buffer, 0});
      step.args.push_back({LaunchArg::Pointer, *buffer, 0});
      step.args.push_back(scalar(LaunchArg::I64, uint64_t(offset)));
      for (int64_t size : memref.getShape())
        step.args.push_back(scalar(LaunchArg::I64, uint64_t(size)));
      for (int64_t stride : strides)
        step.args.push_back(scalar(LaunchArg::I64, uint64_t(stride)));
      continue;
    }
    Attribute value;
    if (!matchPattern(operand, m_Constant(&value)))
      return launch.emitOpError("passes a kernel argument computed on the host");
    if (auto i = dyn_cast<IntegerAttr>(value)) {
      unsigned width = type.isIndex() ? 64 : type.getIntOrFloatBitWidth();
      step.args.push_back(scalar(width <= 32 ? LaunchArg::I32 : LaunchArg::I64,
                                 uint64_t(i.getValue().getSExtValue())));
    } else if (auto f = dyn_cast<FloatAttr>(value)) {
      // As bit patterns: JSON has no inf or NaN (a max-reduction starts at -inf).
      if (!f.getType().isF32() && !f.getType().isF64())
        return launch.emitOpError("passes a scalar of type ") << f.getType();
      step.args.push_back(scalar(f.getType().isF32() ? LaunchArg::F32 : LaunchArg::F64,
                                 f.getValue().bitcastToAPInt().getZExtValue()));
    } else {
      return launch.emitOpError("passes an unsupported constant");
    }
  }
  Value sizes[6] = {launch.getGridSizeX(),  launch.getGridSizeY(),  launch.getGridSizeZ(),
                    launch.getBlockSizeX(), launch.getBlockSizeY(), launch.getBlockSizeZ()};
  for (int i = 0; i < 6; ++i) {
    auto v = constantIndex(sizes[i], launch);
    if (failed(v))
      return failure();
    (i < 3 ? step.grid[i] : step.block[i - 3]) = unsigned(*v);
  }
  plan_.steps.push_back(std::move(step));
  return success();
}

LogicalResult PlanBuilder::addCopy(memref::CopyOp copy) {
  auto src = bufferOf(copy.getSource(), copy), dst = bufferOf(copy.getTarget(), copy);
  if (failed(src) || failed(dst))
    return failure();
  auto byteRange = [&](Value v) -> std::optional<std::pair<int64_t, int64_t>> {
    auto type = cast<MemRefType>(v.getType());
    SmallVector<int64_t> strides;
    int64_t offset;
    if (failed(type.getStridesAndOffset(strides, offset)) || ShapedType::isDynamic(offset) ||
        !type.hasStaticShape() || !type.areTrailingDimsContiguous(type.getRank()))
      return std::nullopt;
    return std::pair{offset * elementBytes(type), type.getNumElements() * elementBytes(type)};
  };
  auto s = byteRange(copy.getSource()), d = byteRange(copy.getTarget());
  if (!s || !d)
    return copy.emitOpError("copies a non-contiguous buffer on the host");
  LaunchStep step;
  step.kind = LaunchStep::Copy;
  step.src = *src;
  step.dst = *dst;
  step.srcOffset = uint64_t(s->first);
  step.dstOffset = uint64_t(d->first);
  step.bytes = uint64_t(s->second);
  plan_.steps.push_back(std::move(step));
  return success();
}

FailureOr<LaunchPlan> PlanBuilder::build(func::FuncOp fn) {
  for (BlockArgument arg : fn.getArguments()) {
    if (!isa<MemRefType>(arg.getType()))
      return fn.emitOpError("argument ") << arg.getArgNumber() << " is not a buffer";
    buffers_[arg] = addBuffer({LaunchBuffer::Argument, arg.getArgNumber(), 0});
  }
  for (Operation &op : fn.getBody().front()) {
    LogicalResult result =
        llvm::TypeSwitch<Operation *, LogicalResult>(&op)
            .Case([&](memref::GetGlobalOp g) { return addConstant(g); })
            .Case<memref::AllocOp, memref::AllocaOp>([&](Operation *alloc) {
              auto type = cast<MemRefType>(alloc->getResult(0).getType());
              if (!type.hasStaticShape())
                return LogicalResult(alloc->emitOpError("allocates a dynamic shape"));
              buffers_[alloc->getResult(0)] = addBuffer(
                  {LaunchBuffer::Temporary, 0,
                   uint64_t(type.getNumElements() * elementBytes(type))});
              return success();
            })
            .Case<memref::CollapseShapeOp, memref::ExpandShapeOp, memref::SubViewOp,
                  memref::ReinterpretCastOp, memref::CastOp>([&](Operation *view) {
              // A view reads its source's buffer; its layout travels in its type.
              auto root = bufferOf(view->getOperand(0), view);
              if (failed(root))
                return LogicalResult(failure());
              buffers_[view->getResult(0)] = *root;
              return success();
            })
            .Case([&](gpu::LaunchFuncOp launch) { return addLaunch(launch); })
            .Case([&](memref::CopyOp copy) { return addCopy(copy); })
            .Case<memref::DeallocOp, func::ReturnOp>([](Operation *) { return success(); })
            .Default([&](Operation *other) -> LogicalResult {
              if (other->hasTrait<OpTrait::ConstantLike>())
                return success();
              return other->emitOpError("is not supported on the host side of the cuda "
                                        "target yet");
            });
    if (failed(result))
      return failure();
  }
  return std::move(plan_);
}

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
    PlanBuilder builder(module, constants);
    auto plan = builder.build(fn);
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
