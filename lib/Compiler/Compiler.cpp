//===- Compiler.cpp - the compiler API -------------------------------------===//
//
// One pass manager runs graph passes, the linalg lowering and the target's
// codegen, stopping after the requested stage; the target then serializes.
// --mlir-print-ir-after-all, --mlir-timing and friends apply to it as to
// ube-opt.
//
//===----------------------------------------------------------------------===//

#include "ube/Compiler.h"
#include "ConstantData.h"

#include "dialects/ube/UbeDialect.h"
#include "passes/Graph/Pipelines.h"
#include "passes/Linalg/Pipelines.h"
#include "ube/DTypeConversion.h"
#include "ube/Target/Target.h"
#include "ube/Version.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/Timing.h"
#include "llvm/ADT/StringExtras.h"
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
/// result names from `ube.name` attributes, and their symbolic dimensions
/// (`ube.symbols`, and `ube.dims` per argument and result).
static FailureOr<std::vector<EntryPoint>> describeEntryPoints(ModuleOp module) {
  std::vector<EntryPoint> entries;
  llvm::StringLiteral nameAttr = UbeDialect::NameAttrHelper::getNameStr();
  llvm::StringLiteral dimsAttr = UbeDialect::DimsAttrHelper::getNameStr();
  auto signature = [](Type type, std::string name, ArrayAttr dims, TensorSignature &out) {
    auto tensor = dyn_cast<RankedTensorType>(type);
    // Zero-size tensors do not survive the bare-pointer calling convention.
    if (!tensor || llvm::is_contained(tensor.getShape(), 0))
      return false;
    std::optional<DType> dtype = toDType(tensor.getElementType());
    if (!dtype || (!tensor.hasStaticShape() &&
                   (!dims || dims.size() != size_t(tensor.getNumDynamicDims()))))
      return false;
    out = {std::move(name), *dtype, tensor.getShape().vec(), {}};
    for (int64_t &size : out.shape)
      if (ShapedType::isDynamic(size))
        size = kSymbolicDim;
    if (dims)
      for (auto dim : dims.getAsRange<StringAttr>())
        out.dims.push_back(dim.str());
    return true;
  };
  for (auto fn : module.getOps<func::FuncOp>()) {
    if (!fn.isPublic() || fn.isExternal())
      continue;
    EntryPoint entry;
    entry.name = fn.getName().str();
    if (auto symbols = fn->getAttrOfType<ArrayAttr>(UbeDialect::SymbolsAttrHelper::getNameStr()))
      for (auto symbol : symbols.getAsRange<DimSymbolAttr>())
        entry.symbols.push_back({symbol.getName().str(), symbol.getMin(), symbol.getMax(),
                                 symbol.getMultipleOf()});
    for (auto [i, type] : llvm::enumerate(fn.getArgumentTypes())) {
      auto name = fn.getArgAttrOfType<StringAttr>(i, nameAttr);
      entry.inputs.emplace_back();
      if (!signature(type, name ? name.str() : "arg" + std::to_string(i),
                     fn.getArgAttrOfType<ArrayAttr>(i, dimsAttr), entry.inputs.back()))
        return emitError(fn.getLoc(), "entry point '")
               << fn.getName() << "': argument " << i << " has type " << type
               << "; executables take non-empty tensors of " << dtypeNameList()
               << " (a `?` size named by a symbol)";
    }
    for (auto [i, type] : llvm::enumerate(fn.getResultTypes())) {
      auto name = fn.getResultAttrOfType<StringAttr>(i, nameAttr);
      entry.outputs.emplace_back();
      if (!signature(type, name ? name.str() : "result" + std::to_string(i),
                     fn.getResultAttrOfType<ArrayAttr>(i, dimsAttr), entry.outputs.back()))
        return emitError(fn.getLoc(), "entry point '")
               << fn.getName() << "': result " << i << " has type " << type
               << "; executables return non-empty tensors (a `?` size named by a symbol)";
    }
    entries.push_back(std::move(entry));
  }
  if (entries.empty())
    return emitError(module.getLoc()) << "nothing to compile: the module has no public functions";
  return entries;
}

/// The derived symbols' sizes, which the lowering computes
/// (--ube-derive-symbol-sizes), from `lowered`'s functions.
static LogicalResult describeDerivedSymbols(ModuleOp lowered, std::vector<EntryPoint> &entries) {
  for (EntryPoint &entry : entries) {
    Operation *fn = SymbolTable::lookupSymbolIn(lowered, entry.name);
    auto symbols =
        fn ? fn->getAttrOfType<ArrayAttr>(UbeDialect::SymbolsAttrHelper::getNameStr()) : nullptr;
    if (!symbols)
      continue;
    entry.symbols.clear();
    for (auto symbol : symbols.getAsRange<DimSymbolAttr>()) {
      entry.symbols.push_back({symbol.getName().str(), symbol.getMin(), symbol.getMax(),
                               symbol.getMultipleOf()});
      if (!symbol.isDerived())
        continue;
      FailureOr<std::vector<PlanExpr>> size = sizeExprsFromAttr(symbol.getSize());
      if (failed(size) || size->empty())
        return fn->emitOpError("has no size for the derived symbol '")
               << symbol.getName() << "'";
      entry.symbols.back().size = std::move(*size);
    }
  }
  return success();
}

/// One build of the lowered code: what its entry points need at run time,
/// and the target's part.
struct Build {
  std::vector<EntryPoint> entries;
  TargetBinary binary;
};

/// Makes `entry`'s arena what either build's entry point needs: the larger
/// at every call.
static void mergeArena(EntryPoint &entry, const EntryPoint &other) {
  if (entry.arenaExprs.empty() && other.arenaExprs.empty()) {
    entry.arenaBytes = std::max(entry.arenaBytes, other.arenaBytes);
    return;
  }
  // A size without expressions is a constant one; one with and no bytes,
  // unbounded.
  auto exprs = [](const EntryPoint &e) {
    return e.arenaExprs.empty()
               ? std::vector<PlanExpr>{{PlanExpr::Constant, int64_t(e.arenaBytes)}}
               : e.arenaExprs;
  };
  bool unbounded = (!entry.arenaExprs.empty() && !entry.arenaBytes) ||
                   (!other.arenaExprs.empty() && !other.arenaBytes);
  std::vector<PlanExpr> merged = exprs(entry);
  uint32_t lhs = uint32_t(merged.size() - 1), rhs = appendPlanExprs(merged, exprs(other));
  merged.push_back({PlanExpr::MaxUI, 0, lhs, rhs});
  entry.arenaExprs = std::move(merged);
  entry.arenaBytes = unbounded ? 0 : std::max(entry.arenaBytes, other.arenaBytes);
}

/// Writes the executable of `target`'s builds: the manifest is assembled
/// here, and only here. Several builds become variants: each keeps its
/// sections (named "<section>:<variant>") and requirements, and the entry
/// points get what any variant needs (the largest arena, the in-place pairs
/// every variant proved).
static void writeTargetExecutable(const Target &target, std::vector<Build> builds,
                                  llvm::raw_ostream &out) {
  Manifest manifest;
  manifest.target = target.name().str();
  manifest.producer = std::string("ube ") + kVersion;
  manifest.entries = builds.front().entries;
  std::vector<SectionBytes> bytes;
  auto addSections = [&](const TargetBinary &binary, const std::string &variant) {
    for (const TargetBinary::OwnedSection &section : binary.sections) {
      manifest.sections.push_back(
          {variant.empty() ? section.name : section::ofVariant(section.name, variant), 0, 0});
      bytes.push_back(section.bytes);
    }
  };
  if (builds.size() == 1) {
    manifest.targetInfo = builds.front().binary.targetInfo;
    manifest.requiredFeatures = builds.front().binary.requiredFeatures;
    addSections(builds.front().binary, /*variant=*/"");
  } else {
    manifest.requiredFeatures = builds.front().binary.requiredFeatures;
    std::vector<std::string> infos;
    for (const Build &build : builds) {
      const TargetBinary &binary = build.binary;
      manifest.variants.push_back(
          {binary.variantName, binary.targetInfo, binary.requiredFeatures,
           section::ofVariant(binary.sections.front().name, binary.variantName)});
      addSections(binary, binary.variantName);
      infos.push_back(binary.targetInfo);
      llvm::erase_if(manifest.requiredFeatures, [&](const std::string &feature) {
        return !llvm::is_contained(binary.requiredFeatures, feature);
      });
      for (size_t k = 0; k < manifest.entries.size(); ++k) {
        EntryPoint &entry = manifest.entries[k];
        const EntryPoint &variantEntry = build.entries[k];
        mergeArena(entry, variantEntry);
        llvm::erase_if(entry.inPlace, [&](const std::pair<uint32_t, uint32_t> &pair) {
          return !llvm::is_contained(variantEntry.inPlace, pair);
        });
      }
    }
    manifest.targetInfo = llvm::join(infos, " | ");
  }
  // The oldest format that holds it, so older runtimes load what they can run.
  manifest.formatVersion = formatVersionOf(manifest);
  writeExecutable(std::move(manifest), bytes, [&](const uint8_t *data, size_t size) {
    out.write(reinterpret_cast<const char *>(data), size);
  });
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
  auto [targetName, suffix] = llvm::StringRef(options.target).split(':');
  const Target *target = targetOf(options);
  llvm::raw_string_ostream os(error);
  if (!target) {
    os << "unknown target '" << targetName << "' (available: ";
    llvm::interleaveComma(registeredTargetNames(), os);
    os << ")";
    return failure();
  }
  if (!suffix.empty() && target->suffixOption().empty()) {
    os << "the " << targetName << " target takes no ':' suffix (got '" << suffix
       << "'); its options go in --target-options (ube-opt --help lists them under --ube-"
       << targetName << "-pipeline)";
    return failure();
  }
  // MLIR's option parser reports "<Pass-Options-Parser>: no such option X";
  // a value that does not parse, llvm::cl reports on stderr itself.
  std::string message;
  llvm::raw_string_ostream parseErrors(message);
  if (failed(target->createOptions()->parseFromString(targetOptionText(*target, options),
                                                      parseErrors))) {
    llvm::StringRef reason = llvm::StringRef(message).trim();
    reason.consume_front("<Pass-Options-Parser>: ");
    os << "the " << targetName << " target's options '" << targetOptionText(*target, options)
       << "': " << (reason.empty() ? "a value does not parse (see above)" : reason);
    return failure();
  }
  return target->validateOptions(options, error);
}

LogicalResult compileModule(ModuleOp module, const CompileOptions &options,
                            llvm::raw_ostream &out) {
  std::string error;
  if (failed(checkTarget(options, error)))
    return emitError(module.getLoc()) << error;
  const Target *target = targetOf(options);
  ConstantData constantData(module);

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
    pm->enableVerifier(options.verifyEachPass);
    return pm;
  };
  // Without the verifier after each pass, a pipeline's result is verified
  // once, so an invalid module still never reaches the next phase.
  auto runPipeline = [&](PassManager &pm, ModuleOp op, llvm::StringRef phase) -> LogicalResult {
    if (failed(pm.run(op)))
      return failure();
    if (options.verifyEachPass || succeeded(verify(op)))
      return success();
    return emitError(op.getLoc()) << "internal error: the module after the " << phase
                                  << " does not verify (--verify-each names the pass)";
  };
  // The graph pipeline can change signatures (autodiff appends gradients);
  // the entry points are described from its result.
  TimingScope graphTiming = timePhase(options, "graph pipeline");
  auto graph = makePassManager(graphTiming);
  if (failed(graph))
    return failure();
  buildGraphPipeline(**graph);
  if (failed(runPipeline(**graph, module, "graph pipeline")))
    return failure();
  auto entries = describeEntryPoints(module);
  if (failed(entries))
    return failure();
  for (const EntryPoint &entry : *entries)
    if (!entry.symbols.empty() && !target->supportsSymbolicDims())
      return emitError(module.getLoc())
             << "entry point '" << entry.name << "' has symbolic dimensions ("
             << entry.symbols.front().name << "), which the " << target->name()
             << " target does not compile yet";

  graphTiming.stop();

  // One build, or several (a multi-ISA executable): then the graph is
  // lowered once per variant, each from a copy of the graph-level module.
  std::vector<std::string> variants = target->variants(options);
  if (!variants.empty() && options.emit != EmitStage::Exe)
    return emitError(module.getLoc())
           << "the options select " << variants.size() << " builds ("
           << llvm::join(variants, ", ") << "), which only an executable holds: give one "
           << "for --emit stages before exe";
  std::vector<std::string> selections = variants.empty() ? std::vector<std::string>{""}
                                                         : variants;
  std::vector<Build> builds;
  for (size_t i = 0; i < selections.size(); ++i) {
    CompileOptions buildOptions = options;
    OwningOpRef<ModuleOp> copy;
    ModuleOp lowered = module;
    if (!variants.empty()) {
      buildOptions.targetOptions += " " + selections[i];
      // The copies share the weights' blobs, and each build's constants
      // section points into them: none may go before the executable is
      // written.
      buildOptions.keepConstantData = true;
      copy = module.clone();
      lowered = *copy;
    }
    TimingScope timing = timePhase(options, variants.empty() ? "kernel and codegen pipelines"
                                                             : "build for " + selections[i]);
    auto pm = makePassManager(timing);
    if (failed(pm))
      return failure();
    buildLoweringPipeline(**pm, *target, buildOptions);
    if (failed(runPipeline(**pm, lowered, "kernel and codegen pipelines")))
      return failure();
    // The weights the kernels replaced (packed into panels) are dead.
    if (!buildOptions.keepConstantData)
      constantData.releaseUnreferenced(lowered);
    timing.stop();
    if (options.emit <= EmitStage::Linalg) {
      lowered.print(out, OpPrintingFlags());
      out << "\n";
      return success();
    }
    if (options.emit < EmitStage::Exe)
      return target->emit(lowered, buildOptions, options.emit, out);
    Build build{*entries, {}};
    if (failed(describeDerivedSymbols(lowered, build.entries)))
      return failure();
    if (failed(target->buildExecutable(lowered, buildOptions, build.entries, build.binary)))
      return failure();
    builds.push_back(std::move(build));
  }
  TimingScope writeTiming = timePhase(options, "write the executable");
  // The constants sections are written from the blobs; then they can go.
  writeTargetExecutable(*target, std::move(builds), out);
  if (!options.keepConstantData)
    constantData.releaseUnreferenced(module);
  return success();
}

} // namespace ube
