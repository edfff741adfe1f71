//===- BuildTrainStep.cpp - a forward function -> one training step -------===//
//
// A function marked `ube.train` computes losses from its inputs; the marked
// inputs are the trainable parameters. It becomes one training step: the
// optimizer's state for every parameter becomes extra inputs, the gradients
// of the loss are built in (the same reverse sweep as --ube-autodiff), and
// the optimizer's update follows, so the step returns the function's own
// results, then each updated parameter and state tensor under the name of
// the input it replaces: feeding outputs back by name runs the next step.
//
//===----------------------------------------------------------------------===//

#include "passes/Graph/Autodiff.h"
#include "passes/Graph/Passes.h"

#include "dialects/ube/UbeBuilder.h"
#include "dialects/ube/UbeOps.h"

#include "mlir/IR/Verifier.h"

namespace ube {
#define GEN_PASS_DEF_UBEBUILDTRAINSTEP
#include "passes/Graph/Passes.h.inc"
} // namespace ube

using namespace mlir;
using namespace ube;

namespace {

constexpr StringLiteral kTrainAttr = UbeDialect::TrainAttrHelper::getNameStr();

/// The optimizer's settings, read from the `ube.train` dictionary. The
/// learning rate is a number, or the index of an f32 scalar argument that
/// carries it each step (a schedule, without recompiling).
struct OptimizerSpec {
  std::string kind;
  std::optional<double> lr;
  std::optional<int64_t> lrArgument;
  DictionaryAttr attrs;
  double get(StringRef key, double fallback) const {
    auto value = attrs.getAs<FloatAttr>(key);
    return value ? value.getValueAsDouble() : fallback;
  }
  bool flag(StringRef key) const {
    auto value = attrs.getAs<BoolAttr>(key);
    return value && value.getValue();
  }
  /// The state tensors the optimizer keeps per parameter.
  SmallVector<StringRef> stateNames() const {
    if (kind == "adamw")
      return {"exp_avg", "exp_avg_sq"};
    return {"momentum_buffer"};
  }
};

LogicalResult buildTrainStep(func::FuncOp fn, DictionaryAttr spec) {
  auto lossAttr = spec.getAs<IntegerAttr>("loss");
  auto gradientsAttr = spec.getAs<DenseI64ArrayAttr>("gradients");
  auto paramsAttr = spec.getAs<DenseI64ArrayAttr>("params");
  auto kindAttr = spec.getAs<StringAttr>("optimizer");
  auto lrAttr = spec.get("lr");
  if (!lossAttr == !gradientsAttr || !paramsAttr || !kindAttr || !lrAttr ||
      !isa<FloatAttr, IntegerAttr>(lrAttr))
    return fn.emitOpError("ube.train needs `loss` (a result index) or `gradients` (argument "
                          "indices), `params` (argument indices), `optimizer` (\"sgd\" or "
                          "\"adamw\") and `lr` (a number, or the argument index of the "
                          "learning rate)");
  OptimizerSpec optimizer{kindAttr.str(), std::nullopt, std::nullopt, spec};
  if (auto number = dyn_cast<FloatAttr>(lrAttr))
    optimizer.lr = number.getValueAsDouble();
  else
    optimizer.lrArgument = cast<IntegerAttr>(lrAttr).getInt();
  if (optimizer.kind != "sgd" && optimizer.kind != "adamw")
    return fn.emitOpError("ube.train: unknown optimizer '")
           << optimizer.kind << "' (sgd or adamw)";
  if (optimizer.lr && !(*optimizer.lr > 0.0))
    return fn.emitOpError("ube.train: lr must be positive");
  auto scalarF32 = RankedTensorType::get({}, Float32Type::get(fn.getContext()));
  if (optimizer.lrArgument &&
      (*optimizer.lrArgument < 0 || *optimizer.lrArgument >= fn.getNumArguments() ||
       fn.getArgument(*optimizer.lrArgument).getType() != scalarF32))
    return fn.emitOpError("ube.train: the learning rate must be an f32 scalar input");
  SmallVector<int64_t> params(paramsAttr.asArrayRef());
  if (llvm::any_of(params, [&](int64_t p) { return p < 0 || p >= fn.getNumArguments(); }))
    return fn.emitOpError("ube.train: a parameter index is out of range");
  if (llvm::SmallDenseSet<int64_t>(params.begin(), params.end()).size() != params.size())
    return fn.emitOpError("ube.train: a parameter is listed twice");
  if (optimizer.lrArgument && llvm::is_contained(params, *optimizer.lrArgument))
    return fn.emitOpError("ube.train: the learning rate input is not a parameter");

  FailureOr<SmallVector<Value>> grads = SmallVector<Value>();
  if (lossAttr) {
    grads = buildGradients(fn, lossAttr.getInt(), params);
  } else {
    // An update step of gradients computed elsewhere (e.g. all-reduced
    // across data-parallel workers): each arrives as an input.
    auto given = gradientsAttr.asArrayRef();
    if (given.size() != params.size())
      return fn.emitOpError("ube.train: ") << given.size() << " gradients for " << params.size()
                                           << " params";
    for (auto [g, p] : llvm::zip(given, params)) {
      if (g < 0 || g >= int64_t(fn.getNumArguments()) || llvm::is_contained(params, g))
        return fn.emitOpError("ube.train: gradient argument ") << g
               << " is not an input apart from the params";
      if (fn.getArgument(g).getType() != fn.getArgument(p).getType())
        return fn.emitOpError("ube.train: the gradient of '")
               << argumentName(fn, p) << "' is " << fn.getArgument(g).getType()
               << ", the parameter " << fn.getArgument(p).getType();
      grads->push_back(fn.getArgument(g));
    }
  }
  if (failed(grads))
    return failure();

  // State inputs after the function's own, then the step (AdamW) unless the
  // function already takes an i64 scalar named "step".
  MLIRContext *context = fn.getContext();
  Builder attrs(context);
  auto stepType = RankedTensorType::get({}, IntegerType::get(context, 64));
  // A parameter's symbols name the sizes of its state, input and output.
  StringRef dimsName = UbeDialect::DimsAttrHelper::getNameStr();
  auto addArgument = [&](Type type, const std::string &name, ArrayAttr dims = {}) {
    unsigned index = fn.getNumArguments();
    SmallVector<NamedAttribute> argAttrs = {
        attrs.getNamedAttr(UbeDialect::NameAttrHelper::getNameStr(), attrs.getStringAttr(name))};
    if (dims)
      argAttrs.push_back(attrs.getNamedAttr(dimsName, dims));
    if (failed(fn.insertArgument(index, type, attrs.getDictionaryAttr(argAttrs), fn.getLoc())))
      return BlockArgument();
    return fn.getArgument(index);
  };
  SmallVector<SmallVector<BlockArgument>> state;
  SmallVector<std::string> names;
  for (int64_t p : params) {
    state.emplace_back();
    for (StringRef s : optimizer.stateNames()) {
      std::string name = argumentName(fn, p) + "." + s.str();
      state.back().push_back(addArgument(fn.getArgument(p).getType(), name,
                                         fn.getArgAttrOfType<ArrayAttr>(p, dimsName)));
      if (!state.back().back())
        return failure();
    }
  }
  // Dropouts (forward and backward alike) without a step of their own draw
  // the step's masks: a new mask every step.
  SmallVector<MutableOperandRange> stepless;
  fn.walk([&](Operation *op) {
    if (auto dropout = dyn_cast<DropoutOp>(op); dropout && !dropout.getStep())
      stepless.push_back(dropout.getStepMutable());
    if (auto attention = dyn_cast<ScaledDotProductAttentionOp>(op);
        attention && !attention.getStep() && !attention.getDropoutP().isZero())
      stepless.push_back(attention.getStepMutable());
    if (auto gradient = dyn_cast<ScaledDotProductAttentionGradOp>(op);
        gradient && !gradient.getStep() && !gradient.getDropoutP().isZero())
      stepless.push_back(gradient.getStepMutable());
  });
  Value step;
  if (optimizer.kind == "adamw" || !stepless.empty()) {
    for (unsigned i = 0; i < fn.getNumArguments(); ++i)
      if (argumentName(fn, i) == "step" && fn.getArgument(i).getType() == stepType)
        step = fn.getArgument(i);
    if (!step && !(step = addArgument(stepType, "step")))
      return failure();
  }
  for (MutableOperandRange &operand : stepless)
    operand.assign(step);

  auto ret = cast<func::ReturnOp>(fn.getBody().front().getTerminator());
  OpBuilder b(ret);
  UbeBuilder u(b, fn.getLoc());
  Value lr = optimizer.lrArgument ? Value(fn.getArgument(*optimizer.lrArgument))
                                  : u.scalar(b.getF32Type(), *optimizer.lr);
  SmallVector<Value> updated;
  SmallVector<Value> newState;
  SmallVector<std::string> stateNames;
  // The input each result replaces (it has the result's symbols).
  SmallVector<unsigned> sources, stateSources;
  for (auto [i, p] : llvm::enumerate(params)) {
    Value param = fn.getArgument(p), grad = (*grads)[i];
    names.push_back(argumentName(fn, p));
    Operation *update;
    if (optimizer.kind == "adamw")
      update = AdamwUpdateOp::create(
          u.b, param, grad, state[i][0], state[i][1], lr, step,
          attrs.getF64FloatAttr(optimizer.get("beta1", 0.9)),
          attrs.getF64FloatAttr(optimizer.get("beta2", 0.999)),
          attrs.getF64FloatAttr(optimizer.get("epsilon", 1e-8)),
          attrs.getF64FloatAttr(optimizer.get("weight_decay", 0.01)));
    else
      update = SgdUpdateOp::create(
          u.b, param, grad, state[i][0], lr, attrs.getF64FloatAttr(optimizer.get("momentum", 0.0)),
          attrs.getF64FloatAttr(optimizer.get("weight_decay", 0.0)),
          attrs.getBoolAttr(optimizer.flag("nesterov")));
    if (failed(mlir::verify(update)))
      return failure();
    updated.push_back(update->getResult(0));
    sources.push_back(p);
    for (auto [s, arg] : llvm::zip(update->getResults().drop_front(), state[i])) {
      newState.push_back(s);
      stateNames.push_back(argumentName(fn, arg.getArgNumber()));
      stateSources.push_back(arg.getArgNumber());
    }
  }
  llvm::append_range(updated, newState);
  llvm::append_range(names, stateNames);
  llvm::append_range(sources, stateSources);
  unsigned first = fn.getNumResults();
  appendResults(fn, updated, names);
  for (auto [k, source] : llvm::enumerate(sources))
    if (auto dims = fn.getArgAttrOfType<ArrayAttr>(source, dimsName))
      fn.setResultAttr(first + k, dimsName, dims);
  fn->removeAttr(kTrainAttr);
  return success();
}

struct UbeBuildTrainStepPass : ube::impl::UbeBuildTrainStepBase<UbeBuildTrainStepPass> {
  void runOnOperation() override {
    for (auto fn : getOperation().getOps<func::FuncOp>()) {
      auto spec = fn->getAttrOfType<DictionaryAttr>(kTrainAttr);
      if (spec && failed(buildTrainStep(fn, spec)))
        return signalPassFailure();
    }
  }
};

} // namespace
