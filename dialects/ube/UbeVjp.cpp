//===- UbeVjp.cpp - reverse-mode gradient rules of the ube ops ------------===//
//
// One rule per differentiable op, written in primitive ube ops (so every
// target compiles them like any other graph). Broadcast operands get their
// gradient summed back to their shape. The distillation losses treat the
// teacher's tensors as constants, as every distillation setup does, and
// reuse their `*_grad` ops. Integer and boolean values carry no gradient.
//
//===----------------------------------------------------------------------===//

#include "dialects/ube/UbeAttention.h"
#include "dialects/ube/UbeBuilder.h"
#include "dialects/ube/UbeOps.h"
#include "dialects/ube/UbeWindowGrad.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>

using namespace mlir;
using namespace ube;

namespace {

using Grads = SmallVectorImpl<Value>;

bool isFloatTensor(Value v) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  return type && isa<FloatType>(type.getElementType());
}

int64_t positive(int64_t axis, int64_t rank) { return axis < 0 ? axis + rank : axis; }

/// Sets the gradient of a float operand, summed back to its shape.
void setGrad(UbeBuilder &u, Grads &grads, unsigned index, Value operand, Value grad) {
  if (isFloatTensor(operand))
    grads[index] = u.sumToShapeOf(grad, operand);
}

// Elementwise ops: g times the local derivative. `y` is the op's result.

LogicalResult vjp(NegOp op, UbeBuilder &u, Value g, Grads &grads) {
  grads[0] = u.neg(g);
  return success();
}
LogicalResult vjp(AbsOp op, UbeBuilder &u, Value g, Grads &grads) {
  grads[0] = u.mul(g, u.sign(op.getInput()));
  return success();
}
LogicalResult vjp(ExpOp op, UbeBuilder &u, Value g, Grads &grads) {
  grads[0] = u.mul(g, op.getResult());
  return success();
}
LogicalResult vjp(LogOp op, UbeBuilder &u, Value g, Grads &grads) {
  grads[0] = u.div(g, op.getInput());
  return success();
}
LogicalResult vjp(SqrtOp op, UbeBuilder &u, Value g, Grads &grads) {
  Type type = UbeBuilder::elementTypeOf(g);
  grads[0] = u.div(u.mul(g, u.scalar(type, 0.5)), op.getResult());
  return success();
}
LogicalResult vjp(RsqrtOp op, UbeBuilder &u, Value g, Grads &grads) {
  Value y = op.getResult();
  Type type = UbeBuilder::elementTypeOf(g);
  grads[0] = u.mul(u.mul(g, u.scalar(type, -0.5)), u.mul(y, u.mul(y, y)));
  return success();
}
LogicalResult vjp(TanhOp op, UbeBuilder &u, Value g, Grads &grads) {
  Value y = op.getResult();
  grads[0] = u.mul(g, u.sub(u.scalar(UbeBuilder::elementTypeOf(g), 1.0), u.mul(y, y)));
  return success();
}
LogicalResult vjp(ErfOp op, UbeBuilder &u, Value g, Grads &grads) {
  Value x = op.getInput();
  Type type = UbeBuilder::elementTypeOf(g);
  grads[0] = u.mul(g, u.mul(u.scalar(type, 2.0 / std::sqrt(M_PI)), u.exp(u.neg(u.mul(x, x)))));
  return success();
}
LogicalResult vjp(SigmoidOp op, UbeBuilder &u, Value g, Grads &grads) {
  Value y = op.getResult();
  grads[0] = u.mul(g, u.mul(y, u.sub(u.scalar(UbeBuilder::elementTypeOf(g), 1.0), y)));
  return success();
}
LogicalResult vjp(ReluOp op, UbeBuilder &u, Value g, Grads &grads) {
  Type type = UbeBuilder::elementTypeOf(g);
  Value zero = u.scalar(type, 0.0);
  grads[0] = u.where(u.compare("gt", op.getInput(), zero), g, zero);
  return success();
}
/// y = x s with s = sigmoid(x): y' = s (1 + x (1 - s)).
LogicalResult vjp(SiluOp op, UbeBuilder &u, Value g, Grads &grads) {
  Value x = op.getInput();
  Type type = UbeBuilder::elementTypeOf(g);
  Value s = SigmoidOp::create(u.b, x);
  Value one = u.scalar(type, 1.0);
  grads[0] = u.mul(g, u.mul(s, u.add(one, u.mul(x, u.sub(one, s)))));
  return success();
}
LogicalResult vjp(LeakyReluOp op, UbeBuilder &u, Value g, Grads &grads) {
  Type type = UbeBuilder::elementTypeOf(g);
  Value negative = u.compare("lt", op.getInput(), u.scalar(type, 0.0));
  grads[0] = u.where(negative, u.mul(g, u.scalar(type, op.getAlpha().convertToDouble())), g);
  return success();
}
/// y' = scale for x > 0, scale·alpha·input_scale·e^(x·input_scale) below.
LogicalResult vjp(EluOp op, UbeBuilder &u, Value g, Grads &grads) {
  Value x = op.getInput();
  Type type = UbeBuilder::elementTypeOf(g);
  auto c = [&](double v) { return u.scalar(type, v); };
  double alpha = op.getAlpha().convertToDouble(), scale = op.getScale().convertToDouble();
  double inputScale = op.getInputScale().convertToDouble();
  Value below = u.mul(c(scale * alpha * inputScale), u.exp(u.mul(x, c(inputScale))));
  grads[0] = u.mul(g, u.where(u.compare("gt", x, c(0.0)), c(scale), below));
  return success();
}
/// y' = sigmoid(beta·x), 1 past the threshold.
LogicalResult vjp(SoftplusOp op, UbeBuilder &u, Value g, Grads &grads) {
  Type type = UbeBuilder::elementTypeOf(g);
  Value scaled = u.mul(op.getInput(), u.scalar(type, op.getBeta().convertToDouble()));
  Value linear = u.compare("gt", scaled, u.scalar(type, op.getThreshold().convertToDouble()));
  grads[0] = u.where(linear, g, u.mul(g, SigmoidOp::create(u.b, scaled)));
  return success();
}
/// y = x·t with t = tanh(softplus(x)): y' = t + x·(1 − t²)·sigmoid(x).
LogicalResult vjp(MishOp op, UbeBuilder &u, Value g, Grads &grads) {
  Value x = op.getInput();
  Type type = UbeBuilder::elementTypeOf(g);
  Value t = TanhOp::create(u.b, SoftplusOp::create(u.b, x));
  Value one = u.scalar(type, 1.0);
  grads[0] = u.mul(g, u.add(t, u.mul(u.mul(x, u.sub(one, u.mul(t, t))),
                                     SigmoidOp::create(u.b, x))));
  return success();
}
/// alpha where 0 < alpha·x + beta < 1, else 0.
LogicalResult vjp(HardSigmoidOp op, UbeBuilder &u, Value g, Grads &grads) {
  Type type = UbeBuilder::elementTypeOf(g);
  double alpha = op.getAlpha().convertToDouble();
  Value z = u.add(u.mul(op.getInput(), u.scalar(type, alpha)),
                  u.scalar(type, op.getBeta().convertToDouble()));
  Value inside = LogicalAndOp::create(u.b, u.compare("gt", z, u.scalar(type, 0.0)),
                                      u.compare("lt", z, u.scalar(type, 1.0)));
  grads[0] = u.where(inside, u.mul(g, u.scalar(type, alpha)), u.scalar(type, 0.0));
  return success();
}
/// 0 below −3, x/3 + 1/2 up to 3, 1 above (PyTorch's hardswish_backward).
LogicalResult vjp(HardSwishOp op, UbeBuilder &u, Value g, Grads &grads) {
  Value x = op.getInput();
  Type type = UbeBuilder::elementTypeOf(g);
  auto c = [&](double v) { return u.scalar(type, v); };
  Value slope = u.where(u.compare("le", x, c(3.0)), u.add(u.mul(x, c(1.0 / 3.0)), c(0.5)), c(1.0));
  grads[0] = u.mul(g, u.where(u.compare("lt", x, c(-3.0)), c(0.0), slope));
  return success();
}
/// g where min ≤ x ≤ max, as PyTorch's clamp_backward.
LogicalResult vjp(ClampOp op, UbeBuilder &u, Value g, Grads &grads) {
  Value x = op.getInput();
  if (!isFloatTensor(x))
    return success();
  Type type = UbeBuilder::elementTypeOf(g);
  Value zero = u.scalar(type, 0.0);
  Value result = g;
  if (auto low = op.getMin())
    result = u.where(u.compare("ge", x, u.scalar(type, low->convertToDouble())), result, zero);
  if (auto high = op.getMax())
    result = u.where(u.compare("le", x, u.scalar(type, high->convertToDouble())), result, zero);
  grads[0] = result;
  return success();
}
LogicalResult vjp(SinOp op, UbeBuilder &u, Value g, Grads &grads) {
  grads[0] = u.mul(g, CosOp::create(u.b, op.getInput()));
  return success();
}
LogicalResult vjp(CosOp op, UbeBuilder &u, Value g, Grads &grads) {
  grads[0] = u.neg(u.mul(g, SinOp::create(u.b, op.getInput())));
  return success();
}
LogicalResult vjp(GeluOp op, UbeBuilder &u, Value g, Grads &grads) {
  Value x = op.getInput();
  Type type = UbeBuilder::elementTypeOf(g);
  auto c = [&](double v) { return u.scalar(type, v); };
  Value derivative;
  if (op.getApproximate() == "tanh") {
    // y = x/2 (1 + tanh(k (x + 0.044715 x³))):
    // y' = (1 + t)/2 + x/2 (1 - t²) k (1 + 3·0.044715 x²).
    double k = std::sqrt(2.0 / M_PI);
    Value x2 = u.mul(x, x);
    Value t = TanhOp::create(u.b, u.mul(c(k), u.mul(x, u.add(c(1.0), u.mul(c(0.044715), x2)))));
    Value inner = u.mul(c(k), u.add(c(1.0), u.mul(c(3 * 0.044715), x2)));
    derivative = u.add(u.mul(c(0.5), u.add(c(1.0), t)),
                       u.mul(u.mul(c(0.5), x), u.mul(u.sub(c(1.0), u.mul(t, t)), inner)));
  } else {
    // y = x Φ(x): y' = Φ(x) + x φ(x).
    Value cdf = u.mul(c(0.5), u.add(c(1.0), ErfOp::create(u.b, u.mul(x, c(M_SQRT1_2)))));
    Value pdf = u.mul(c(1.0 / std::sqrt(2.0 * M_PI)), u.exp(u.mul(c(-0.5), u.mul(x, x))));
    derivative = u.add(cdf, u.mul(x, pdf));
  }
  grads[0] = u.mul(g, derivative);
  return success();
}

LogicalResult vjp(AddOp op, UbeBuilder &u, Value g, Grads &grads) {
  setGrad(u, grads, 0, op.getLhs(), g);
  setGrad(u, grads, 1, op.getRhs(), g);
  return success();
}
LogicalResult vjp(SubOp op, UbeBuilder &u, Value g, Grads &grads) {
  setGrad(u, grads, 0, op.getLhs(), g);
  setGrad(u, grads, 1, op.getRhs(), u.neg(g));
  return success();
}
LogicalResult vjp(MulOp op, UbeBuilder &u, Value g, Grads &grads) {
  setGrad(u, grads, 0, op.getLhs(), u.mul(g, op.getRhs()));
  setGrad(u, grads, 1, op.getRhs(), u.mul(g, op.getLhs()));
  return success();
}
LogicalResult vjp(DivOp op, UbeBuilder &u, Value g, Grads &grads) {
  Value quotient = u.div(g, op.getRhs());
  setGrad(u, grads, 0, op.getLhs(), quotient);
  setGrad(u, grads, 1, op.getRhs(), u.neg(u.mul(quotient, op.getResult())));
  return success();
}
LogicalResult vjp(PowOp op, UbeBuilder &u, Value g, Grads &grads) {
  Value x = op.getLhs(), y = op.getRhs();
  Type type = UbeBuilder::elementTypeOf(g);
  Value zero = u.scalar(type, 0.0);
  // d/dx = y x^(y-1); d/dy = x^y log x, taken as 0 where x = 0 (as PyTorch).
  Value dx = u.mul(y, PowOp::create(u.b, x, u.sub(y, u.scalar(type, 1.0))));
  Value dy = u.where(u.compare("eq", x, zero), zero, u.mul(op.getResult(), u.log(x)));
  setGrad(u, grads, 0, x, u.mul(g, dx));
  setGrad(u, grads, 1, y, u.mul(g, dy));
  return success();
}
/// maximum/minimum: the gradient goes to the chosen operand, half to each on
/// a tie (PyTorch's rule).
template <typename Op>
LogicalResult vjpMinMax(Op op, UbeBuilder &u, Value g, Grads &grads, StringRef wins) {
  Value x = op.getLhs(), y = op.getRhs();
  Type type = UbeBuilder::elementTypeOf(g);
  Value half = u.mul(g, u.scalar(type, 0.5)), zero = u.scalar(type, 0.0);
  Value tie = u.compare("eq", x, y);
  setGrad(u, grads, 0, x, u.where(u.compare(wins, x, y), g, u.where(tie, half, zero)));
  setGrad(u, grads, 1, y, u.where(u.compare(wins, y, x), g, u.where(tie, half, zero)));
  return success();
}
LogicalResult vjp(MaximumOp op, UbeBuilder &u, Value g, Grads &grads) {
  return vjpMinMax(op, u, g, grads, "gt");
}
LogicalResult vjp(MinimumOp op, UbeBuilder &u, Value g, Grads &grads) {
  return vjpMinMax(op, u, g, grads, "lt");
}
// The transcendental functions: g times the derivative in ube ops.
Value one(UbeBuilder &u, Value like) { return u.scalar(UbeBuilder::elementTypeOf(like), 1.0); }
Value sqrtOf(UbeBuilder &u, Value x) { return SqrtOp::create(u.b, x); }
LogicalResult vjp(Log1pOp op, UbeBuilder &u, Value g, Grads &grads) {
  grads[0] = u.div(g, u.add(op.getInput(), one(u, g)));
  return success();
}
LogicalResult vjp(Expm1Op op, UbeBuilder &u, Value g, Grads &grads) {
  grads[0] = u.mul(g, u.add(op.getResult(), one(u, g)));
  return success();
}
LogicalResult vjp(TanOp op, UbeBuilder &u, Value g, Grads &grads) {
  Value y = op.getResult();
  grads[0] = u.mul(g, u.add(one(u, g), u.mul(y, y)));
  return success();
}
LogicalResult vjp(AtanOp op, UbeBuilder &u, Value g, Grads &grads) {
  Value x = op.getInput();
  grads[0] = u.div(g, u.add(one(u, g), u.mul(x, x)));
  return success();
}
LogicalResult vjp(AsinOp op, UbeBuilder &u, Value g, Grads &grads) {
  Value x = op.getInput();
  grads[0] = u.div(g, sqrtOf(u, u.sub(one(u, g), u.mul(x, x))));
  return success();
}
LogicalResult vjp(AcosOp op, UbeBuilder &u, Value g, Grads &grads) {
  Value x = op.getInput();
  grads[0] = u.neg(u.div(g, sqrtOf(u, u.sub(one(u, g), u.mul(x, x)))));
  return success();
}
LogicalResult vjp(SinhOp op, UbeBuilder &u, Value g, Grads &grads) {
  grads[0] = u.mul(g, CoshOp::create(u.b, op.getInput()));
  return success();
}
LogicalResult vjp(CoshOp op, UbeBuilder &u, Value g, Grads &grads) {
  grads[0] = u.mul(g, SinhOp::create(u.b, op.getInput()));
  return success();
}
LogicalResult vjp(AsinhOp op, UbeBuilder &u, Value g, Grads &grads) {
  Value x = op.getInput();
  grads[0] = u.div(g, sqrtOf(u, u.add(u.mul(x, x), one(u, g))));
  return success();
}
LogicalResult vjp(AcoshOp op, UbeBuilder &u, Value g, Grads &grads) {
  Value x = op.getInput();
  grads[0] = u.div(g, sqrtOf(u, u.sub(u.mul(x, x), one(u, g))));
  return success();
}
LogicalResult vjp(AtanhOp op, UbeBuilder &u, Value g, Grads &grads) {
  Value x = op.getInput();
  grads[0] = u.div(g, u.sub(one(u, g), u.mul(x, x)));
  return success();
}
/// atan2(a, b): da = g·b/(a² + b²), db = −g·a/(a² + b²).
LogicalResult vjp(Atan2Op op, UbeBuilder &u, Value g, Grads &grads) {
  Value a = op.getLhs(), b = op.getRhs();
  Value scale = u.div(g, u.add(u.mul(a, a), u.mul(b, b)));
  setGrad(u, grads, 0, a, u.mul(scale, b));
  setGrad(u, grads, 1, b, u.neg(u.mul(scale, a)));
  return success();
}

/// Rounding and sign: piecewise constant, a zero gradient.
template <typename Op>
LogicalResult vjpPiecewiseConstant(Op op, UbeBuilder &u, Value g, Grads &grads) {
  grads[0] = u.broadcastLike(u.scalar(UbeBuilder::elementTypeOf(g), 0.0), op.getInput());
  return success();
}
LogicalResult vjp(FloorOp op, UbeBuilder &u, Value g, Grads &grads) {
  return vjpPiecewiseConstant(op, u, g, grads);
}
LogicalResult vjp(CeilOp op, UbeBuilder &u, Value g, Grads &grads) {
  return vjpPiecewiseConstant(op, u, g, grads);
}
LogicalResult vjp(RoundOp op, UbeBuilder &u, Value g, Grads &grads) {
  return vjpPiecewiseConstant(op, u, g, grads);
}
LogicalResult vjp(TruncOp op, UbeBuilder &u, Value g, Grads &grads) {
  return vjpPiecewiseConstant(op, u, g, grads);
}
LogicalResult vjp(SignOp op, UbeBuilder &u, Value g, Grads &grads) {
  return vjpPiecewiseConstant(op, u, g, grads);
}
/// fmod(a, b) = a − trunc(a/b)·b: da = g, db = −g·trunc(a/b) (as torch.fmod).
LogicalResult vjp(FmodOp op, UbeBuilder &u, Value g, Grads &grads) {
  setGrad(u, grads, 0, op.getLhs(), g);
  Value quotient = TruncOp::create(u.b, u.div(op.getLhs(), op.getRhs()));
  setGrad(u, grads, 1, op.getRhs(), u.neg(u.mul(g, quotient)));
  return success();
}
LogicalResult vjp(WhereOp op, UbeBuilder &u, Value g, Grads &grads) {
  Value zero = u.scalar(UbeBuilder::elementTypeOf(g), 0.0);
  setGrad(u, grads, 1, op.getLhs(), u.where(op.getCondition(), g, zero));
  setGrad(u, grads, 2, op.getRhs(), u.where(op.getCondition(), zero, g));
  return success();
}
LogicalResult vjp(CastOp op, UbeBuilder &u, Value g, Grads &grads) {
  if (isFloatTensor(op.getInput()))
    grads[0] = u.castTo(g, UbeBuilder::elementTypeOf(op.getInput()));
  return success();
}

// Contractions.

/// C = op(A)·op(B) with op a transpose where flagged:
///   dA = g·op(B)ᵀ (or its transpose), dB = op(A)ᵀ·g (or its transpose),
/// batch dimensions broadcast in the product summed away; vectors (numpy's
/// rank-1 cases) as one-row or one-column matrices.
LogicalResult vjp(MatmulOp op, UbeBuilder &u, Value g, Grads &grads) {
  Value a = op.getLhs(), b = op.getRhs();
  auto aShape = UbeBuilder::typeOf(a).getShape(), bShape = UbeBuilder::typeOf(b).getShape();
  bool tl = op.getTransposeLhs(), tr = op.getTransposeRhs();
  if (aShape.size() == 1) {
    a = u.reshape(a, {1, aShape[0]});
    tl = false;
  }
  if (bShape.size() == 1) {
    b = u.reshape(b, {bShape[0], 1});
    tr = false;
  }
  // g with the dimensions a vector operand dropped put back.
  SmallVector<int64_t> gShape(UbeBuilder::typeOf(g).getShape());
  if (aShape.size() == 1)
    gShape.insert(gShape.end() - (bShape.size() == 1 ? 0 : 1), 1);
  if (bShape.size() == 1)
    gShape.push_back(1);
  g = u.reshape(g, gShape);
  Value da = tl ? u.matmul(b, g, /*transposeRhs=*/true, /*transposeLhs=*/tr)
                : u.matmul(g, b, /*transposeRhs=*/!tr);
  Value db = tr ? u.matmul(g, a, /*transposeRhs=*/tl, /*transposeLhs=*/true)
                : u.matmul(a, g, /*transposeRhs=*/false, /*transposeLhs=*/!tl);
  if (isFloatTensor(op.getLhs()))
    grads[0] = u.reshapeLike(u.sumToShapeOf(da, a), op.getLhs());
  if (isFloatTensor(op.getRhs()))
    grads[1] = u.reshapeLike(u.sumToShapeOf(db, b), op.getRhs());
  return success();
}

/// y = x·Wᵀ + b: dx = g·W, dW = gᵀ·x over all rows, db = the sum of g.
LogicalResult vjp(LinearOp op, UbeBuilder &u, Value g, Grads &grads) {
  Value x = op.getInput(), w = op.getWeight();
  auto wShape = UbeBuilder::typeOf(w).getShape();
  grads[0] = u.matmul(g, w);
  // Every row of x at once: a collapse, whatever the sizes (symbolic: `?`).
  auto xType = UbeBuilder::typeOf(x);
  int64_t rows = xType.hasStaticShape() ? xType.getNumElements() / wShape[1]
                                        : ShapedType::kDynamic;
  grads[1] = u.matmul(u.reshape(g, {rows, wShape[0]}), u.reshape(x, {rows, wShape[1]}),
                      /*transposeRhs=*/false, /*transposeLhs=*/true);
  if (Value bias = op.getBias())
    grads[2] = u.sumToShapeOf(g, bias);
  return success();
}

// Normalizations.

LogicalResult vjp(SoftmaxOp op, UbeBuilder &u, Value g, Grads &grads) {
  Value y = op.getResult();
  int64_t axis = op.getAxis();
  grads[0] = u.mul(y, u.sub(g, u.reduceSum(u.mul(g, y), {axis}, true)));
  return success();
}
LogicalResult vjp(LogSoftmaxOp op, UbeBuilder &u, Value g, Grads &grads) {
  int64_t axis = op.getAxis();
  grads[0] = u.sub(g, u.mul(u.exp(op.getResult()), u.reduceSum(g, {axis}, true)));
  return success();
}
/// With x̂ = (x - μ)·r, r = 1/√(σ² + ε) and ĝ = g·w:
/// dx = r (ĝ - mean ĝ - x̂ mean(ĝ x̂)), dw = Σ g x̂, db = Σ g.
LogicalResult vjp(LayerNormOp op, UbeBuilder &u, Value g, Grads &grads) {
  Value x = op.getInput();
  SmallVector<int64_t> axes = UbeBuilder::normalizedAxes(x, op.getAxis());
  Type type = UbeBuilder::elementTypeOf(x);
  Value centered = u.sub(x, u.reduceMean(x, axes, true));
  Value variance = u.reduceMean(u.mul(centered, centered), axes, true);
  Value r = u.rsqrt(u.add(variance, u.scalar(type, op.getEpsilon().convertToDouble())));
  Value normalized = u.mul(centered, r);
  auto affine = op.getAffine();
  Value gn = affine.empty() ? g : u.mul(g, affine[0]);
  grads[0] = u.mul(r, u.sub(u.sub(gn, u.reduceMean(gn, axes, true)),
                            u.mul(normalized, u.reduceMean(u.mul(gn, normalized), axes, true))));
  for (auto [i, parameter] : llvm::enumerate(affine))
    grads[1 + i] = u.sumToShapeOf(i == 0 ? u.mul(g, normalized) : g, parameter);
  return success();
}

/// With r = 1/√(mean x² + ε), x̂ = x·r and ĝ = g·w:
/// dx = r (ĝ - x̂ mean(ĝ x̂)), dw = Σ g x̂.
LogicalResult vjp(RmsNormOp op, UbeBuilder &u, Value g, Grads &grads) {
  Value x = op.getInput();
  SmallVector<int64_t> axes = UbeBuilder::normalizedAxes(x, op.getAxis());
  Type type = UbeBuilder::elementTypeOf(x);
  Value r = u.rsqrt(u.add(u.reduceMean(u.mul(x, x), axes, true),
                          u.scalar(type, op.getEpsilon().convertToDouble())));
  Value normalized = u.mul(x, r);
  Value weight = op.getWeight();
  Value gn = weight ? u.mul(g, weight) : g;
  grads[0] = u.mul(r, u.sub(gn, u.mul(normalized, u.reduceMean(u.mul(gn, normalized), axes,
                                                                   true))));
  if (weight)
    grads[1] = u.sumToShapeOf(u.mul(g, normalized), weight);
  return success();
}

/// One op that a target may run as a kernel (the forward's statistics and
/// dropout mask recomputed, no [L, S] tensor); a float mask's gradient,
/// when the mask needs one, from the composition.
LogicalResult vjp(ScaledDotProductAttentionOp op, UbeBuilder &u, Value g, Grads &grads) {
  Value mask = op.getMask();
  auto grad = ScaledDotProductAttentionGradOp::create(
      u.b, op.getQuery(), op.getKey(), op.getValue(), mask, op.getResult(), g, op.getStep(),
      op.getIsCausalAttr(), op.getScaleAttr(), op.getDropoutPAttr(), op.getSeedAttr());
  grads[0] = grad.getDQuery();
  grads[1] = grad.getDKey();
  grads[2] = grad.getDValue();
  if (mask && !UbeBuilder::elementTypeOf(mask).isInteger(1)) {
    if (std::string why = AttentionComposition::unsupported(op); !why.empty())
      return op.emitOpError("gradient of a float mask on symbolic dimensions: ")
             << why << " is not supported yet";
    SmallVector<Value> composed(4);
    AttentionComposition(u, op).gradients(g, composed);
    grads[3] = composed[3];
  }
  return success();
}

// Reductions and data movement.

/// The reduced axes of a reduce op (all when empty), as non-negative numbers.
SmallVector<int64_t> reducedAxes(ArrayRef<int64_t> axes, int64_t rank) {
  SmallVector<int64_t> result;
  if (axes.empty())
    for (int64_t d = 0; d < rank; ++d)
      result.push_back(d);
  for (int64_t a : axes)
    result.push_back(positive(a, rank));
  return result;
}

/// g of a reduction, reshaped to keepdims form and broadcast to `x`'s shape.
template <typename Op>
Value spread(Op op, UbeBuilder &u, Value g) {
  auto shape = UbeBuilder::typeOf(op.getInput()).getShape();
  SmallVector<int64_t> kept(shape);
  for (int64_t d : reducedAxes(op.getAxes(), shape.size()))
    kept[d] = 1;
  // (An expansion by 1s: its symbolic sizes follow from g's.)
  return u.broadcastLike(u.reshape(g, kept), op.getInput());
}

LogicalResult vjp(ReduceSumOp op, UbeBuilder &u, Value g, Grads &grads) {
  grads[0] = spread(op, u, g);
  return success();
}
LogicalResult vjp(ReduceMeanOp op, UbeBuilder &u, Value g, Grads &grads) {
  auto type = UbeBuilder::typeOf(op.getInput());
  Value count = u.countAlong(op.getInput(), reducedAxes(op.getAxes(), type.getRank()));
  grads[0] = u.div(spread(op, u, g), count);
  return success();
}
/// The gradient is shared equally by the maxima (minima) of each reduced
/// group (as torch.amax and torch.amin).
template <typename Op>
LogicalResult vjpReduceExtreme(Op op, UbeBuilder &u, Value g, Grads &grads) {
  Value x = op.getInput();
  auto type = UbeBuilder::typeOf(x);
  SmallVector<int64_t> axes = reducedAxes(op.getAxes(), type.getRank());
  Value isExtreme =
      u.castTo(u.compare("eq", x, spread(op, u, op.getResult())), type.getElementType());
  Value count = u.broadcastLike(u.reduceSum(isExtreme, axes, true), x);
  grads[0] = u.div(u.mul(spread(op, u, g), isExtreme), count);
  return success();
}
LogicalResult vjp(ReduceMaxOp op, UbeBuilder &u, Value g, Grads &grads) {
  return vjpReduceExtreme(op, u, g, grads);
}
LogicalResult vjp(ReduceMinOp op, UbeBuilder &u, Value g, Grads &grads) {
  return vjpReduceExtreme(op, u, g, grads);
}
/// The gradient of a running sum is the running sum of g the other way.
LogicalResult vjp(CumsumOp op, UbeBuilder &u, Value g, Grads &grads) {
  grads[0] = CumsumOp::create(u.b, g, op.getAxisAttr(), op.getExclusiveAttr(),
                              u.b.getBoolAttr(!op.getReverse()));
  return success();
}
LogicalResult vjp(TransposeOp op, UbeBuilder &u, Value g, Grads &grads) {
  ArrayRef<int64_t> perm = op.getPerm();
  SmallVector<int64_t> inverse(perm.size());
  for (auto [i, p] : llvm::enumerate(perm))
    inverse[p] = i;
  grads[0] = u.transpose(g, inverse);
  return success();
}
LogicalResult vjp(ReshapeOp op, UbeBuilder &u, Value g, Grads &grads) {
  grads[0] = u.reshapeLike(g, op.getInput());
  return success();
}
LogicalResult vjp(BroadcastToOp op, UbeBuilder &u, Value g, Grads &grads) {
  grads[0] = u.sumToShapeOf(g, op.getInput());
  return success();
}
/// Each operand's part of the gradient, sliced along the axis. On symbolic
/// sizes the other dimensions are taken whole; along the axis only the last
/// operand may be symbolic (the others' slices must start at known offsets).
LogicalResult vjp(ConcatOp op, UbeBuilder &u, Value g, Grads &grads) {
  int64_t rank = UbeBuilder::typeOf(g).getRank();
  int64_t axis = positive(op.getAxis(), rank), offset = 0;
  for (auto [i, input] : llvm::enumerate(op.getInputs())) {
    int64_t size = UbeBuilder::typeOf(input).getDimSize(axis);
    bool last = i + 1 == op.getInputs().size();
    if (ShapedType::isDynamic(size) && !last)
      return op.emitOpError("gradient of a concat along a symbolic size of an operand "
                            "before the last is not supported yet");
    if (isFloatTensor(input))
      grads[i] = u.slice(g, axis, offset,
                            ShapedType::isDynamic(size) ? ShapedType::kDynamic : offset + size);
    if (!last)
      offset += size;
  }
  return success();
}
/// The sliced elements' gradients put back in place, zeros elsewhere; per
/// dimension, a stride s spreads each element over s slots (the element
/// then s - 1 zeros) before the zeros before and after are added. A
/// symbolic dimension must be taken whole (its gradient needs no zeros).
LogicalResult vjp(SliceOp op, UbeBuilder &u, Value g, Grads &grads) {
  auto inputShape = UbeBuilder::typeOf(op.getInput()).getShape();
  Type type = UbeBuilder::elementTypeOf(g);
  // Zeros of `g`'s shape but `size` along `axis` (static), other symbolic
  // sizes read from `g`.
  auto zeros = [&](Value like, int64_t axis, int64_t size) {
    SmallVector<int64_t> shape(UbeBuilder::typeOf(like).getShape());
    shape[axis] = size;
    auto zerosType = RankedTensorType::get(shape, type);
    return BroadcastToOp::create(u.b, zerosType, u.scalar(type, 0.0), u.sizesFrom(like, shape))
        .getResult();
  };
  for (int64_t d = 0; d < int64_t(inputShape.size()); ++d) {
    int64_t start = op.getStart()[d], stride = op.getStride()[d];
    SmallVector<int64_t> shape(UbeBuilder::typeOf(g).getShape());
    int64_t count = shape[d];
    if (ShapedType::isDynamic(count) || ShapedType::isDynamic(inputShape[d])) {
      if (ShapedType::isDynamic(count) && ShapedType::isDynamic(inputShape[d]) &&
          start == 0 && stride == 1)
        continue; // taken whole
      return op.emitOpError("gradient of a slice to a symbolic size is not supported yet");
    }
    if (stride > 1 && count > 0) {
      SmallVector<int64_t> split(shape);
      split[d] = count;
      split.insert(split.begin() + d + 1, 1);
      // Past the inserted 1, split's dimension e is g's e - 1.
      SmallVector<int64_t> from(split.size());
      for (int64_t e = 0; e < int64_t(split.size()); ++e)
        from[e] = e <= d ? e : e - 1;
      Value column = u.reshape(g, split, u.sizesFrom(g, split, from));
      Value spaced = ConcatOp::create(u.b, ValueRange{column, zeros(column, d + 1, stride - 1)},
                                      d + 1);
      shape[d] = count * stride;
      g = u.reshape(spaced, shape, u.sizesFrom(g, shape));
      // Keep what lies inside the input: at most size - start elements.
      g = u.slice(g, d, 0, std::min(count * stride, inputShape[d] - start));
    }
    SmallVector<Value> pieces;
    if (start > 0)
      pieces.push_back(zeros(g, d, start));
    pieces.push_back(g);
    if (int64_t after = inputShape[d] - start - UbeBuilder::typeOf(g).getDimSize(d); after > 0)
      pieces.push_back(zeros(g, d, after));
    if (pieces.size() > 1)
      g = ConcatOp::create(u.b, pieces, d);
  }
  grads[0] = g;
  return success();
}
/// The padded elements' gradients cropped out (and the cropped ones' put
/// back as zeros): the pad by the negated amounts.
LogicalResult vjp(PadOp op, UbeBuilder &u, Value g, Grads &grads) {
  if (!isFloatTensor(op.getInput()))
    return success();
  auto negated = [&](ArrayRef<int64_t> amounts, ValueRange runtime, SmallVector<int64_t> &fixed,
                     SmallVector<Value> &values) {
    Value zero = arith::ConstantIndexOp::create(u.b, 0);
    auto next = runtime.begin();
    for (int64_t amount : amounts) {
      fixed.push_back(ShapedType::isDynamic(amount) ? amount : -amount);
      if (ShapedType::isDynamic(amount))
        values.push_back(arith::SubIOp::create(u.b, zero, *next++));
    }
  };
  SmallVector<int64_t> low, high;
  SmallVector<Value> lowAmounts, highAmounts;
  negated(op.getLow(), op.getLowAmounts(), low, lowAmounts);
  negated(op.getHigh(), op.getHighAmounts(), high, highAmounts);
  Value grad = PadOp::create(u.b, g, lowAmounts, highAmounts, u.b.getDenseI64ArrayAttr(low),
                             u.b.getDenseI64ArrayAttr(high), u.b.getF64FloatAttr(0.0));
  // (Runtime amounts leave sizes the input has statically symbolic.)
  if (grad.getType() != op.getInput().getType())
    grad = tensor::CastOp::create(u.b, op.getInput().getType(), grad);
  grads[0] = grad;
  return success();
}
/// Gathered rows scattered back with addition (ube.scatter_add):
/// d table[v] = Σ over positions i with ids[i] = v of g[i].
LogicalResult vjp(GatherOp op, UbeBuilder &u, Value g, Grads &grads) {
  Value table = op.getInput(), ids = op.getIndices();
  if (!isFloatTensor(table))
    return success();
  auto tableShape = UbeBuilder::typeOf(table).getShape();
  int64_t rank = tableShape.size(), axis = positive(op.getAxis(), rank);
  int64_t idsRank = UbeBuilder::typeOf(ids).getRank();
  // (The ids' count: symbolic for a batch of any length.)
  int64_t positions = UbeBuilder::typeOf(ids).hasStaticShape()
                          ? UbeBuilder::typeOf(ids).getNumElements()
                          : ShapedType::kDynamic;
  // g: [before..., ids..., after...] -> [ids..., before..., after...] -> [P, rest...].
  SmallVector<int64_t> perm;
  for (int64_t i = 0; i < idsRank; ++i)
    perm.push_back(axis + i);
  for (int64_t i = 0; i < axis; ++i)
    perm.push_back(i);
  for (int64_t i = axis + idsRank; i < axis + idsRank + (rank - axis - 1); ++i)
    perm.push_back(i);
  SmallVector<int64_t> rows = {positions}, moved = {tableShape[axis]};
  for (int64_t i = 0; i < rank; ++i)
    if (i != axis) {
      rows.push_back(tableShape[i]);
      moved.push_back(tableShape[i]);
    }
  Value updates = u.reshape(u.transpose(g, perm), rows);
  auto movedType = RankedTensorType::get(moved, UbeBuilder::elementTypeOf(g));
  // A symbolic table size (gathering along a batch's tokens) is the table's.
  Value tableRows;
  if (ShapedType::isDynamic(tableShape[axis]))
    tableRows = tensor::DimOp::create(u.b, table, axis);
  Value summed =
      ScatterAddOp::create(u.b, movedType, updates, u.reshape(ids, {positions}), tableRows);
  // [V, before..., after...] -> the table's layout.
  SmallVector<int64_t> back;
  for (int64_t i = 0; i < rank; ++i)
    back.push_back(i < axis ? i + 1 : i == axis ? 0 : i);
  grads[0] = u.transpose(summed, back);
  return success();
}
/// The same mask (same seed, step and element index) applied to g.
LogicalResult vjp(DropoutOp op, UbeBuilder &u, Value g, Grads &grads) {
  grads[0] = DropoutOp::create(u.b, g, op.getStep(), op.getRateAttr(), op.getSeedAttr(),
                               op.getCounterShapeAttr(), op.getCounterOffsetAttr());
  return success();
}

// Losses.

/// g times (softmax(logits) - onehot(labels)) on counted rows, divided by
/// their number for `mean`; g per row for `none`.
LogicalResult vjp(CrossEntropyOp op, UbeBuilder &u, Value g, Grads &grads) {
  Value logits = op.getLogits(), labels = op.getLabels();
  auto type = UbeBuilder::typeOf(logits);
  Type floatType = type.getElementType();
  int64_t classes = type.getShape().back();
  Value valid = u.castTo(
      u.compare("ne", labels,
                u.scalar(UbeBuilder::elementTypeOf(labels), double(op.getIgnoreIndex()))),
      floatType);
  Value weight = valid; // per row
  if (op.getReduction() == "mean")
    weight = u.div(valid, u.maximum(u.reduceSum(valid), u.scalar(floatType, 1.0)));
  weight = u.mul(weight, g); // g is a scalar, or per row for `none`
  SmallVector<int64_t> column(UbeBuilder::typeOf(labels).getShape());
  column.push_back(1);
  Value residual = u.sub(u.softmax(logits, -1),
                         u.castTo(u.oneHot(labels, classes), floatType));
  grads[0] = u.mul(residual, u.reshape(weight, column));
  return success();
}
LogicalResult vjp(MseLossOp op, UbeBuilder &u, Value g, Grads &grads) {
  auto type = UbeBuilder::typeOf(op.getInput());
  Value scale = u.scalar(type.getElementType(), 2.0);
  if (op.getReduction() == "mean") {
    SmallVector<int64_t> all;
    for (int64_t d = 0; d < type.getRank(); ++d)
      all.push_back(d);
    scale = u.div(scale, u.maximum(u.countAlong(op.getInput(), all),
                                   u.scalar(type.getElementType(), 1.0)));
  }
  Value d = u.mul(u.mul(u.sub(op.getInput(), op.getTarget()), scale), g);
  setGrad(u, grads, 0, op.getInput(), d);
  setGrad(u, grads, 1, op.getTarget(), u.neg(d));
  return success();
}
LogicalResult vjp(KdLossOp op, UbeBuilder &u, Value g, Grads &grads) {
  grads[0] = KdLossGradOp::create(u.b, op.getStudentLogits(), op.getTeacherLogits(), g,
                                  op.getLabels(), op.getTemperatureAttr(),
                                  op.getScaleByTemperatureSquaredAttr(), op.getAlphaAttr(),
                                  op.getIgnoreIndexAttr());
  return success();
}
LogicalResult vjp(ProjectedKdLossOp op, UbeBuilder &u, Value g, Grads &grads) {
  auto grad = ProjectedKdLossGradOp::create(
      u.b, op.getStudentHidden(), op.getStudentWeight(), op.getTeacherHidden(),
      op.getTeacherWeight(), g, op.getLabels(), op.getTemperatureAttr(),
      op.getScaleByTemperatureSquaredAttr(), op.getAlphaAttr(), op.getIgnoreIndexAttr());
  grads[0] = grad.getDStudentHidden();
  grads[1] = grad.getDStudentWeight();
  return success();
}
LogicalResult vjp(FeatureMapLossOp op, UbeBuilder &u, Value g, Grads &grads) {
  auto grad = FeatureMapLossGradOp::create(u.b, op.getStudent(), op.getTeacher(), g,
                                           op.getProjection(), op.getAlphaAttr(),
                                           op.getBetaAttr(), op.getGammaAttr(),
                                           op.getEpsilonAttr());
  grads[0] = grad.getDStudent();
  if (op.getProjection())
    grads[2] = grad.getDProjection();
  return success();
}
LogicalResult vjp(AttentionTransferLossOp op, UbeBuilder &u, Value g, Grads &grads) {
  auto grad = AttentionTransferLossGradOp::create(u.b, op.getStudentQuery(), op.getStudentKey(),
                                                  op.getTeacherQuery(), op.getTeacherKey(), g,
                                                  op.getMask());
  grads[0] = grad.getDStudentQuery();
  grads[1] = grad.getDStudentKey();
  return success();
}
/// The same draw routes g to the module that was chosen.
LogicalResult vjp(BernoulliSelectOp op, UbeBuilder &u, Value g, Grads &grads) {
  if (!isFloatTensor(op.getStudent()))
    return success();
  Value zeros = u.broadcastLike(u.scalar(UbeBuilder::elementTypeOf(g), 0.0), g);
  auto select = [&](Value student, Value teacher) {
    return BernoulliSelectOp::create(u.b, op.getProbability(), op.getStep(), student, teacher,
                                     op.getSeedAttr(), op.getModuleIdAttr())
        .getResult();
  };
  grads[2] = select(g, zeros);
  grads[3] = select(zeros, g);
  return success();
}

LogicalResult vjp(ConvOp op, UbeBuilder &u, Value g, Grads &grads) {
  return convGradients(op, u, g, grads);
}
LogicalResult vjp(ConvInputGradOp op, UbeBuilder &u, Value g, Grads &grads) {
  return convInputGradGradients(op, u, g, grads);
}
LogicalResult vjp(AvgPoolOp op, UbeBuilder &u, Value g, Grads &grads) {
  return avgPoolGradient(op, u, g, grads);
}
LogicalResult vjp(MaxPoolOp op, UbeBuilder &u, Value g, Grads &grads) {
  return maxPoolGradient(op, u, g, grads);
}

/// The interface for one op type: the rule above for its (single) result.
template <typename Op>
struct VjpModel : DifferentiableOpInterface::ExternalModel<VjpModel<Op>, Op> {
  LogicalResult buildVjp(Operation *op, OpBuilder &builder, ArrayRef<Value> resultGrads,
                         SmallVectorImpl<Value> &operandGrads) const {
    operandGrads.assign(op->getNumOperands(), Value());
    if (resultGrads.empty() || !resultGrads[0])
      return success();
    UbeBuilder u(builder, op->getLoc());
    return vjp(cast<Op>(op), u, resultGrads[0], operandGrads);
  }
};

template <typename... Ops>
void attach(MLIRContext &context) {
  (Ops::template attachInterface<VjpModel<Ops>>(context), ...);
}

} // namespace

void ube::attachVjpRules(MLIRContext &context) {
  attach<NegOp, AbsOp, ExpOp, LogOp, SqrtOp, RsqrtOp, TanhOp, ErfOp, SigmoidOp, ReluOp, SiluOp,
         SinOp, CosOp, GeluOp, AddOp, SubOp, MulOp, DivOp, PowOp, MaximumOp, MinimumOp, WhereOp,
         CastOp, MatmulOp, LinearOp, ScaledDotProductAttentionOp, SoftmaxOp, LogSoftmaxOp,
         LayerNormOp, RmsNormOp, ReduceSumOp, ReduceMeanOp, ReduceMaxOp, ReduceMinOp, CumsumOp,
         FloorOp, CeilOp, RoundOp, TruncOp, SignOp, FmodOp, Log1pOp, Expm1Op, TanOp, AtanOp,
         AsinOp, AcosOp, SinhOp, CoshOp, AsinhOp, AcoshOp, AtanhOp, Atan2Op, TransposeOp, ReshapeOp,
         BroadcastToOp, ConcatOp, SliceOp, PadOp, GatherOp, DropoutOp, CrossEntropyOp, MseLossOp,
         KdLossOp, ProjectedKdLossOp, FeatureMapLossOp, AttentionTransferLossOp,
         BernoulliSelectOp, ConvOp, ConvInputGradOp, AvgPoolOp, MaxPoolOp, LeakyReluOp, EluOp,
         SoftplusOp, MishOp, HardSigmoidOp, HardSwishOp, ClampOp>(context);
}
