//===- CudaTarget.cpp - the NVIDIA GPU target -----------------------------===//
//
// linalg -> bufferized parallel loops -> one gpu.launch per loop nest
// (ube-map-to-gpu-launches) -> outlined kernels -> NVVM -> PTX (and cubin
// through ptxas when the CUDA toolkit is found). The host side of each entry
// point is not compiled: what is left of it (allocations, views, copies,
// launches with constant grids) becomes a launch plan in the manifest that
// the runtime's cuda plugin executes through the driver API. Weights become
// one "constants" section uploaded once at load.
//
//===----------------------------------------------------------------------===//

#include "CudaTarget.h"

#include "passes/Pipelines.h"

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

#include <nlohmann/json.hpp>

using namespace mlir;
using json = nlohmann::ordered_json;

namespace ube {
namespace {

/// "sm_90" from "cuda:sm_90"; sm_80 when none is given.
std::string chipOf(const CompileOptions &options) {
  auto [name, chip] = llvm::StringRef(options.target).split(':');
  return chip.empty() ? "sm_80" : chip.str();
}

/// NVIDIA's libdevice bitcode in the CUDA toolkit.
std::string libdevicePath(const CompileOptions &options) {
  llvm::SmallString<128> path(options.cudaPath);
  llvm::sys::path::append(path, "nvvm", "libdevice", "libdevice.10.bc");
  return path.str().str();
}

class CudaTarget : public Target {
public:
  llvm::StringRef name() const override { return "cuda"; }

  LogicalResult validateOptions(llvm::StringRef targetOptions, const CompileOptions &options,
                                std::string &error) const override {
    unsigned version;
    if (targetOptions.empty() ||
        (targetOptions.starts_with("sm_") &&
         !targetOptions.drop_front(3).getAsInteger(10, version) && version >= 50)) {
      if (llvm::sys::fs::exists(libdevicePath(options)))
        return success();
      error = "the cuda target needs the CUDA toolkit's libdevice, not found at " +
              libdevicePath(options) + "; pass --cuda-path=DIR";
      return failure();
    }
    error = ("the cuda target takes an architecture, e.g. --target=cuda:sm_90 (got '" +
             targetOptions + "')")
                .str();
    return failure();
  }

  void buildCodegenPipeline(OpPassManager &pm, const CompileOptions &options) const override {
    unsigned version = 80;
    llvm::StringRef(chipOf(options)).drop_front(3).getAsInteger(10, version);
    // PTX ISA 8.0 (CUDA 12) covers sm_50..sm_90; newer chips need newer ISA.
    std::string features = version >= 100 ? "+ptx86" : "+ptx80";
    buildCudaCodegenPipeline(pm, chipOf(options), features, libdevicePath(options));
  }

  LogicalResult serialize(ModuleOp module, const CompileOptions &options, EmitStage stage,
                          Manifest manifest, llvm::raw_ostream &out) const override;
};

/// A function's host side, turned into buffers and steps.
class PlanBuilder {
public:
  PlanBuilder(ModuleOp module, std::vector<uint8_t> &constants)
      : module_(module), constants_(constants) {}

  FailureOr<json> build(func::FuncOp fn);

private:
  FailureOr<int64_t> bufferOf(Value memref, Operation *user) {
    auto it = buffers_.find(memref);
    if (it == buffers_.end())
      return user->emitOpError("uses a buffer the cuda launch plan cannot follow");
    return it->second;
  }
  int64_t addBuffer(json description) {
    bufferList_.push_back(std::move(description));
    return int64_t(bufferList_.size()) - 1;
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
  llvm::DenseMap<Value, int64_t> buffers_;
  json bufferList_ = json::array();
  json steps_ = json::array();
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
  buffers_[op.getResult()] = addBuffer(
      {{"kind", "constant"}, {"offset", offset}, {"bytes", bytes->size()}});
  return success();
}

/// The element size in bytes of a memref (i1 is a byte).
int64_t elementBytes(MemRefType type) {
  unsigned width = type.getElementTypeBitWidth();
  return width == 1 ? 1 : width / 8;
}

LogicalResult PlanBuilder::addLaunch(gpu::LaunchFuncOp launch) {
  json args = json::array();
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
      args.push_back({{"ptr", *buffer}});
      args.push_back({{"ptr", *buffer}});
      args.push_back({{"i64", offset}});
      for (int64_t size : memref.getShape())
        args.push_back({{"i64", size}});
      for (int64_t stride : strides)
        args.push_back({{"i64", stride}});
      continue;
    }
    Attribute value;
    if (!matchPattern(operand, m_Constant(&value)))
      return launch.emitOpError("passes a kernel argument computed on the host");
    if (auto i = dyn_cast<IntegerAttr>(value)) {
      unsigned width = type.isIndex() ? 64 : type.getIntOrFloatBitWidth();
      args.push_back({{width <= 32 ? "i32" : "i64", i.getValue().getSExtValue()}});
    } else if (auto f = dyn_cast<FloatAttr>(value)) {
      // As bit patterns: JSON has no inf or NaN (a max-reduction starts at -inf).
      if (!f.getType().isF32() && !f.getType().isF64())
        return launch.emitOpError("passes a scalar of type ") << f.getType();
      uint64_t bits = f.getValue().bitcastToAPInt().getZExtValue();
      args.push_back({{f.getType().isF32() ? "f32_bits" : "f64_bits", bits}});
    } else {
      return launch.emitOpError("passes an unsupported constant");
    }
  }
  std::array<int64_t, 6> dims;
  Value sizes[6] = {launch.getGridSizeX(),  launch.getGridSizeY(),  launch.getGridSizeZ(),
                    launch.getBlockSizeX(), launch.getBlockSizeY(), launch.getBlockSizeZ()};
  for (int i = 0; i < 6; ++i) {
    auto v = constantIndex(sizes[i], launch);
    if (failed(v))
      return failure();
    dims[i] = *v;
  }
  steps_.push_back({{"op", "launch"},
                    {"module", launch.getKernelModuleName().str()},
                    {"kernel", launch.getKernelName().str()},
                    {"grid", {dims[0], dims[1], dims[2]}},
                    {"block", {dims[3], dims[4], dims[5]}},
                    {"args", std::move(args)}});
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
  steps_.push_back({{"op", "copy"}, {"src", *src}, {"src_offset", s->first}, {"dst", *dst},
                    {"dst_offset", d->first}, {"bytes", s->second}});
  return success();
}

FailureOr<json> PlanBuilder::build(func::FuncOp fn) {
  for (BlockArgument arg : fn.getArguments()) {
    if (!isa<MemRefType>(arg.getType()))
      return fn.emitOpError("argument ") << arg.getArgNumber() << " is not a buffer";
    buffers_[arg] = addBuffer({{"kind", "argument"}, {"index", arg.getArgNumber()}});
  }
  for (Operation &op : fn.getBody().front()) {
    LogicalResult result =
        llvm::TypeSwitch<Operation *, LogicalResult>(&op)
            .Case([&](memref::GetGlobalOp g) { return addConstant(g); })
            .Case<memref::AllocOp, memref::AllocaOp>([&](Operation *alloc) {
              auto type = cast<MemRefType>(alloc->getResult(0).getType());
              if (!type.hasStaticShape())
                return LogicalResult(alloc->emitOpError("allocates a dynamic shape"));
              buffers_[alloc->getResult(0)] =
                  addBuffer({{"kind", "temporary"},
                             {"bytes", type.getNumElements() * elementBytes(type)}});
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
  return json{{"buffers", bufferList_}, {"steps", steps_}};
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

LogicalResult CudaTarget::serialize(ModuleOp module, const CompileOptions &options,
                                    EmitStage stage, Manifest manifest,
                                    llvm::raw_ostream &out) const {
  Location loc = module.getLoc();
  if (stage == EmitStage::Llvm || stage == EmitStage::Obj)
    return emitError(loc) << "--emit=" << (stage == EmitStage::Llvm ? "llvm" : "obj")
                          << " is not available for the cuda target; use --emit=asm "
                             "(PTX) or --emit=exe";
  std::string chip = chipOf(options);
  // PTX of every kernel module, by module name.
  std::vector<std::pair<std::string, std::string>> ptx;
  for (auto binary : module.getOps<gpu::BinaryOp>()) {
    auto object = cast<gpu::ObjectAttr>(binary.getObjects()[0]);
    ptx.emplace_back(binary.getName().str(), object.getObject().getValue().str());
  }
  if (stage == EmitStage::Asm) {
    for (auto &[name, text] : ptx)
      out << "// module " << name << "\n" << text << "\n";
    return success();
  }

  std::vector<uint8_t> constants;
  for (EntryPoint &entry : manifest.entries) {
    auto fn = module.lookupSymbol<func::FuncOp>(entry.name);
    if (!fn)
      return emitError(loc) << "entry point '" << entry.name << "' disappeared";
    PlanBuilder builder(module, constants);
    auto plan = builder.build(fn);
    if (failed(plan))
      return failure();
    entry.plan = plan->dump();
    entry.symbol.clear();
  }
  std::vector<std::vector<uint8_t>> sections;
  manifest.sections.clear();
  bool haveCubin = false;
  for (auto &[name, text] : ptx) {
    manifest.sections.push_back({section::ptx(name), 0, 0});
    sections.emplace_back(text.begin(), text.end());
    sections.back().push_back(0); // the driver takes NUL-terminated PTX
    auto cubin = assemble(loc, text, chip, options.cudaPath);
    if (failed(cubin))
      return failure();
    if (*cubin) {
      manifest.sections.push_back({section::cubin(name), 0, 0});
      sections.push_back(std::move(**cubin));
      haveCubin = true;
    }
  }
  manifest.sections.push_back({section::kConstants, 0, 0});
  sections.push_back(std::move(constants));
  manifest.target = "cuda";
  manifest.targetInfo = chip + (haveCubin ? " (cubin + PTX)" : " (PTX)");
  std::vector<uint8_t> image = writeExecutable(std::move(manifest), sections);
  out.write(reinterpret_cast<const char *>(image.data()), image.size());
  return success();
}

} // namespace

std::unique_ptr<Target> createCudaTarget() { return std::make_unique<CudaTarget>(); }

} // namespace ube
