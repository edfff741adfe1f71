//===- Compiler.cpp - the compiler API -------------------------------------===//
//
// One pass manager runs graph passes, the linalg lowering and the target's
// codegen, stopping after the requested stage; the target then serializes.
// --mlir-print-ir-after-all, --mlir-timing and friends apply to it as to
// ube-opt.
//
//===----------------------------------------------------------------------===//

#include "ube/Compiler.h"

#include "passes/Pipelines.h"
#include "ube/DTypeConversion.h"
#include "ube/Target/Target.h"
#include "ube/Version.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/Timing.h"
#include "llvm/ADT/StringSwitch.h"

using namespace mlir;

namespace ube {

static constexpr llvm::StringLiteral kEmitStageNames = "ube, linalg, llvm, asm, obj, exe";

llvm::StringRef emitStageNames() { return kEmitStageNames; }

std::optional<EmitStage> parseEmitStage(llvm::StringRef name) {
  return llvm::StringSwitch<std::optional<EmitStage>>(name)
      .Case("ube", EmitStage::Ube)
      .Case("linalg", EmitStage::Linalg)
      .Case("llvm", EmitStage::Llvm)
      .Case("asm", EmitStage::Asm)
      .Case("obj", EmitStage::Obj)
      .Case("exe", EmitStage::Exe)
      .Default(std::nullopt);
}

/// The entry points of `module`: its public functions, with argument and
/// result names from `ube.name` attributes.
static FailureOr<Manifest> describeEntryPoints(ModuleOp module) {
  Manifest manifest;
  manifest.producer = std::string("ube ") + kVersion;
  auto signature = [](Type type, std::string name, TensorSignature &out) {
    auto tensor = dyn_cast<RankedTensorType>(type);
    // Zero-size tensors do not survive the bare-pointer calling convention.
    if (!tensor || !tensor.hasStaticShape() || tensor.getNumElements() == 0)
      return false;
    std::optional<DType> dtype = toDType(tensor.getElementType());
    if (!dtype)
      return false;
    out = {std::move(name), *dtype, tensor.getShape().vec()};
    return true;
  };
  for (auto fn : module.getOps<func::FuncOp>()) {
    if (!fn.isPublic() || fn.isExternal())
      continue;
    EntryPoint entry;
    entry.name = fn.getName().str();
    entry.symbol = entrySymbol(fn.getName().str());
    for (auto [i, type] : llvm::enumerate(fn.getArgumentTypes())) {
      auto name = fn.getArgAttrOfType<StringAttr>(i, "ube.name");
      entry.inputs.emplace_back();
      if (!signature(type, name ? name.str() : "arg" + std::to_string(i), entry.inputs.back()))
        return emitError(fn.getLoc(), "entry point '")
               << fn.getName() << "': argument " << i << " has type " << type
               << "; executables take statically shaped, non-empty tensors of f32, f16, "
                  "bf16, i1, i32 or i64";
    }
    for (auto [i, type] : llvm::enumerate(fn.getResultTypes())) {
      auto name = fn.getResultAttrOfType<StringAttr>(i, "ube.name");
      entry.outputs.emplace_back();
      if (!signature(type, name ? name.str() : "result" + std::to_string(i),
                     entry.outputs.back()))
        return emitError(fn.getLoc(), "entry point '")
               << fn.getName() << "': result " << i << " has type " << type
               << "; executables return statically shaped, non-empty tensors";
    }
    manifest.entries.push_back(std::move(entry));
  }
  if (manifest.entries.empty())
    return emitError(module.getLoc()) << "nothing to compile: the module has no public functions";
  return manifest;
}

/// After the graph pipeline, up to `options.emit`: the expansions, the
/// target's kernels, the linalg lowering, the target's codegen.
static void buildLoweringPipeline(OpPassManager &pm, const Target &target,
                                  const CompileOptions &options) {
  if (options.emit >= EmitStage::Linalg) {
    buildExpansionPipeline(pm);
    if (options.fusedKernels)
      target.buildKernelPipeline(pm, options);
    buildFallbackExpansionPipeline(pm);
    buildLinalgPipeline(pm);
  }
  if (options.emit >= EmitStage::Llvm)
    target.buildCodegenPipeline(pm, options);
}

/// The target `options.target` names ("name" or "name:options"), or null.
static const Target *targetOf(const CompileOptions &options) {
  registerBuiltinTargets();
  return lookupTarget(llvm::StringRef(options.target).split(':').first);
}

void buildCompilePipeline(OpPassManager &pm, const CompileOptions &options) {
  const Target *target = targetOf(options);
  assert(target && "checkTarget first");
  buildGraphPipeline(pm);
  buildLoweringPipeline(pm, *target, options);
}

LogicalResult checkTarget(const CompileOptions &options, std::string &error) {
  auto [targetName, targetOptions] = llvm::StringRef(options.target).split(':');
  const Target *target = targetOf(options);
  if (!target) {
    llvm::raw_string_ostream os(error);
    os << "unknown target '" << targetName << "' (available: ";
    llvm::interleaveComma(registeredTargetNames(), os);
    os << ")";
    return failure();
  }
  return target->validateOptions(targetOptions, options, error);
}

LogicalResult compileModule(ModuleOp module, const CompileOptions &options,
                            llvm::raw_ostream &out) {
  std::string error;
  if (failed(checkTarget(options, error)))
    return emitError(module.getLoc()) << error;
  const Target *target = targetOf(options);

  auto makePassManager = [&](TimingScope &timing) -> FailureOr<std::unique_ptr<PassManager>> {
    auto pm = std::make_unique<PassManager>(module.getContext(), ModuleOp::getOperationName(),
                                            OpPassManager::Nesting::Implicit);
    if (options.commandLinePassOptions) {
      if (failed(applyPassManagerCLOptions(*pm)))
        return failure();
      if (!options.timing)
        applyDefaultTimingPassManagerCLOptions(*pm);
    }
    pm->enableTiming(timing);
    return pm;
  };
  // The graph pipeline can change signatures (autodiff appends gradients);
  // the entry points are described from its result.
  TimingScope graphTiming = timePhase(options, "graph pipeline");
  auto graph = makePassManager(graphTiming);
  if (failed(graph))
    return failure();
  buildGraphPipeline(**graph);
  if (failed((*graph)->run(module)))
    return failure();
  auto manifest = describeEntryPoints(module);
  if (failed(manifest))
    return failure();

  graphTiming.stop();

  TimingScope restTiming = timePhase(options, "kernel and codegen pipelines");
  auto rest = makePassManager(restTiming);
  if (failed(rest))
    return failure();
  buildLoweringPipeline(**rest, *target, options);
  if (failed((*rest)->run(module)))
    return failure();
  restTiming.stop();
  if (options.emit <= EmitStage::Linalg) {
    module.print(out, OpPrintingFlags());
    out << "\n";
    return success();
  }
  return target->serialize(module, options, options.emit, std::move(*manifest), out);
}

} // namespace ube
