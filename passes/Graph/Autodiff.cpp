//===- Autodiff.cpp - reverse-mode differentiation of ube functions -------===//
//
// A function marked `ube.gradient = {loss = L, wrt = [i, ...]}` gets, after
// its results, the gradient of its scalar result L with respect to each
// listed argument. The forward values stay as they are (each is computed
// once and kept for the backward sweep, as a tape would); the backward sweep
// visits the ops in reverse, asks each op on the path between the arguments
// and the loss for its vector-Jacobian product (DifferentiableOpInterface)
// and adds up the contributions of values used more than once.
//
//===----------------------------------------------------------------------===//

#include "passes/Graph/Autodiff.h"
#include "passes/Graph/Passes.h"

#include "dialects/ube/UbeBuilder.h"
#include "dialects/ube/UbeOps.h"

namespace ube {
#define GEN_PASS_DEF_UBEAUTODIFF
#include "passes/Graph/Passes.h.inc"
} // namespace ube

using namespace mlir;
using namespace ube;

namespace {

constexpr StringLiteral kGradientAttr = UbeDialect::GradientAttrHelper::getNameStr();

bool carriesGradient(Value v) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  return type && isa<FloatType>(type.getElementType());
}

} // namespace

FailureOr<SmallVector<Value>> ube::buildGradients(func::FuncOp fn, int64_t lossIndex,
                                                  ArrayRef<int64_t> wrtIndices) {
  if (!fn.getBody().hasOneBlock())
    return fn.emitOpError("autodiff needs a single-block function");
  auto ret = cast<func::ReturnOp>(fn.getBody().front().getTerminator());
  if (lossIndex < 0 || lossIndex >= int64_t(ret.getNumOperands()))
    return fn.emitOpError("gradient: loss ") << lossIndex << " is not a result";
  Value loss = ret.getOperand(lossIndex);
  auto lossType = dyn_cast<RankedTensorType>(loss.getType());
  if (!lossType || lossType.getRank() != 0 || !isa<FloatType>(lossType.getElementType()))
    return fn.emitOpError("gradient: result ")
           << lossIndex << " is not a float scalar (got " << loss.getType() << ")";
  SmallVector<BlockArgument> wrt;
  for (int64_t i : wrtIndices) {
    if (i < 0 || i >= int64_t(fn.getNumArguments()))
      return fn.emitOpError("gradient: argument ") << i << " does not exist";
    if (!carriesGradient(fn.getArgument(i)))
      return fn.emitOpError("gradient: argument ")
             << i << " is not a float tensor (got " << fn.getArgument(i).getType() << ")";
    wrt.push_back(fn.getArgument(i));
  }

  // Active values: float values computed from a differentiated argument.
  llvm::DenseSet<Value> active(wrt.begin(), wrt.end());
  Block &body = fn.getBody().front();
  for (Operation &op : body.without_terminator())
    if (llvm::any_of(op.getOperands(), [&](Value v) { return active.contains(v); }))
      for (Value result : op.getResults())
        if (carriesGradient(result))
          active.insert(result);

  OpBuilder b(ret);
  UbeBuilder u(b, fn.getLoc());
  llvm::DenseMap<Value, Value> grads;
  auto accumulate = [&](Value v, Value g) {
    auto [it, inserted] = grads.try_emplace(v, g);
    if (!inserted)
      it->second = u.add(it->second, g);
  };
  if (active.contains(loss))
    grads[loss] = u.scalar(lossType.getElementType(), 1.0);
  for (Operation &op : llvm::reverse(body.without_terminator())) {
    SmallVector<Value> resultGrads;
    bool any = false;
    for (Value result : op.getResults()) {
      resultGrads.push_back(grads.lookup(result));
      any |= bool(resultGrads.back());
    }
    if (!any || llvm::none_of(op.getOperands(), [&](Value v) { return active.contains(v); }))
      continue;
    auto rule = dyn_cast<DifferentiableOpInterface>(&op);
    if (!rule)
      return op.emitOpError("has no gradient rule (DifferentiableOpInterface), so the "
                            "gradient of '")
             << fn.getSymName() << "' cannot flow through it";
    SmallVector<Value> operandGrads;
    b.setInsertionPoint(ret);
    if (failed(rule.buildVjp(b, resultGrads, operandGrads)))
      return failure();
    for (auto [operand, g] : llvm::zip(op.getOperands(), operandGrads))
      if (g && active.contains(operand))
        accumulate(operand, g);
  }

  // Zeros for an argument the loss does not depend on.
  SmallVector<Value> result;
  for (BlockArgument arg : wrt) {
    Value g = grads.lookup(arg);
    if (!g)
      g = u.broadcastLike(u.scalar(UbeBuilder::elementTypeOf(arg), 0.0), arg);
    result.push_back(g);
  }
  return result;
}

std::string ube::argumentName(func::FuncOp fn, unsigned index) {
  auto name = fn.getArgAttrOfType<StringAttr>(index, UbeDialect::NameAttrHelper::getNameStr());
  return name ? name.str() : "arg" + std::to_string(index);
}

void ube::appendResults(func::FuncOp fn, ValueRange values, ArrayRef<std::string> names) {
  auto ret = cast<func::ReturnOp>(fn.getBody().front().getTerminator());
  SmallVector<Value> results(ret.getOperands());
  llvm::append_range(results, values);
  SmallVector<DictionaryAttr> attrs;
  for (unsigned i = 0; i < fn.getNumResults(); ++i)
    attrs.push_back(fn.getResultAttrDict(i));
  Builder b(fn.getContext());
  for (const std::string &name : names)
    attrs.push_back(b.getDictionaryAttr(b.getNamedAttr(UbeDialect::NameAttrHelper::getNameStr(), b.getStringAttr(name))));
  ret->setOperands(results);
  fn.setFunctionType(
      FunctionType::get(fn.getContext(), fn.getArgumentTypes(), ValueRange(results).getTypes()));
  fn.setAllResultAttrs(attrs);
}

namespace {

LogicalResult differentiate(func::FuncOp fn, DictionaryAttr spec) {
  auto lossAttr = spec.getAs<IntegerAttr>("loss");
  auto wrtAttr = spec.getAs<DenseI64ArrayAttr>("wrt");
  if (!lossAttr || !wrtAttr)
    return fn.emitOpError("ube.gradient needs `loss` (a result index) and `wrt` (argument "
                          "indices)");
  auto grads = buildGradients(fn, lossAttr.getInt(), wrtAttr.asArrayRef());
  if (failed(grads))
    return failure();
  SmallVector<std::string> names;
  for (int64_t i : wrtAttr.asArrayRef())
    names.push_back("d_" + argumentName(fn, i));
  unsigned first = fn.getNumResults();
  appendResults(fn, *grads, names);
  // A gradient has its input's shape: the same symbols name its sizes.
  StringRef dimsName = UbeDialect::DimsAttrHelper::getNameStr();
  for (auto [k, i] : llvm::enumerate(wrtAttr.asArrayRef()))
    if (auto dims = fn.getArgAttrOfType<ArrayAttr>(i, dimsName))
      fn.setResultAttr(first + k, dimsName, dims);
  fn->removeAttr(kGradientAttr);
  return success();
}

struct UbeAutodiffPass : ube::impl::UbeAutodiffBase<UbeAutodiffPass> {
  void runOnOperation() override {
    for (auto fn : getOperation().getOps<func::FuncOp>()) {
      auto spec = fn->getAttrOfType<DictionaryAttr>(kGradientAttr);
      if (spec && failed(differentiate(fn, spec)))
        return signalPassFailure();
    }
  }
};

} // namespace
