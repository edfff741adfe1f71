//===- Decompose.cpp - composite ube ops -> primitive ube ops -------------===//
//
// Each pattern spells out an op's definition (docs/ops.md,
// docs/distillation.md) in primitive ube ops, in numerically stable form.
// The fused lowerings of the distillation losses replace these later; this
// is the reference composition they are tested against.
//
//===----------------------------------------------------------------------===//

#include "passes/Graph/Passes.h"

#include "dialects/ube/UbeAttention.h"
#include "dialects/ube/UbeBuilder.h"
#include "dialects/ube/UbeOps.h"
#include "dialects/ube/UbeWindowGrad.h"

#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>

namespace ube {
#define GEN_PASS_DEF_UBEDECOMPOSE
#include "passes/Graph/Passes.h.inc"
} // namespace ube

using namespace mlir;
using namespace ube;

namespace {

struct DecomposeLinear : OpRewritePattern<LinearOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(LinearOp op, PatternRewriter &rewriter) const override {
    UbeBuilder u(rewriter, op.getLoc());
    Value y = u.matmul(op.getInput(), op.getWeight(), /*transposeRhs=*/true);
    if (Value bias = op.getBias())
      y = u.add(y, bias);
    rewriter.replaceOp(op, y);
    return success();
  }
};

/// numpy's rank-1 cases of matmul, as rank-2 products and a reshape.
struct DecomposeVectorMatmul : OpRewritePattern<MatmulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MatmulOp op, PatternRewriter &rewriter) const override {
    auto lhsType = UbeBuilder::typeOf(op.getLhs()), rhsType = UbeBuilder::typeOf(op.getRhs());
    if (lhsType.getRank() != 1 && rhsType.getRank() != 1)
      return failure();
    UbeBuilder u(rewriter, op.getLoc());
    Value lhs = op.getLhs(), rhs = op.getRhs();
    if (lhsType.getRank() == 1)
      lhs = u.reshape(lhs, {1, lhsType.getDimSize(0)});
    if (rhsType.getRank() == 1)
      rhs = u.reshape(rhs, {rhsType.getDimSize(0), 1});
    Value product = MatmulOp::create(u.b, lhs, rhs, op.getTransposeLhsAttr(),
                                     op.getTransposeRhsAttr());
    rewriter.replaceOp(op, u.reshape(product, op.getType().getShape()));
    return success();
  }
};

struct DecomposeSoftmax : OpRewritePattern<SoftmaxOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(SoftmaxOp op, PatternRewriter &rewriter) const override {
    UbeBuilder u(rewriter, op.getLoc());
    int64_t axis = op.getAxis();
    Value x = op.getInput();
    Value e = u.exp(u.sub(x, u.reduceMax(x, {axis}, true)));
    rewriter.replaceOp(op, u.div(e, u.reduceSum(e, {axis}, true)));
    return success();
  }
};

struct DecomposeLogSoftmax : OpRewritePattern<LogSoftmaxOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(LogSoftmaxOp op, PatternRewriter &rewriter) const override {
    UbeBuilder u(rewriter, op.getLoc());
    int64_t axis = op.getAxis();
    Value x = op.getInput();
    Value shifted = u.sub(x, u.reduceMax(x, {axis}, true));
    rewriter.replaceOp(op, u.sub(shifted, u.log(u.reduceSum(u.exp(shifted), {axis}, true))));
    return success();
  }
};

struct DecomposeLayerNorm : OpRewritePattern<LayerNormOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(LayerNormOp op, PatternRewriter &rewriter) const override {
    UbeBuilder u(rewriter, op.getLoc());
    Value x = op.getInput();
    SmallVector<int64_t> axes = UbeBuilder::normalizedAxes(x, op.getAxis());
    Type elementType = UbeBuilder::elementTypeOf(x);
    Value centered = u.sub(x, u.reduceMean(x, axes, true));
    Value variance = u.reduceMean(u.mul(centered, centered), axes, true);
    Value epsilon = u.scalar(elementType, op.getEpsilon().convertToDouble());
    Value y = u.mul(centered, u.rsqrt(u.add(variance, epsilon)));
    if (Value weight = op.getWeight())
      y = u.mul(y, weight);
    if (Value bias = op.getBias())
      y = u.add(y, bias);
    rewriter.replaceOp(op, y);
    return success();
  }
};

struct DecomposeRmsNorm : OpRewritePattern<RmsNormOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(RmsNormOp op, PatternRewriter &rewriter) const override {
    UbeBuilder u(rewriter, op.getLoc());
    Value x = op.getInput();
    SmallVector<int64_t> axes = UbeBuilder::normalizedAxes(x, op.getAxis());
    Value epsilon = u.scalar(UbeBuilder::elementTypeOf(x), op.getEpsilon().convertToDouble());
    Value y = u.mul(x, u.rsqrt(u.add(u.reduceMean(u.mul(x, x), axes, true), epsilon)));
    if (Value weight = op.getWeight())
      y = u.mul(y, weight);
    rewriter.replaceOp(op, y);
    return success();
  }
};

/// A plain composition: matmuls and a softmax over whole score matrices.
struct DecomposeScaledDotProductAttention : OpRewritePattern<ScaledDotProductAttentionOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ScaledDotProductAttentionOp op,
                                PatternRewriter &rewriter) const override {
    if (std::string why = AttentionComposition::unsupported(op); !why.empty())
      return rewriter.notifyMatchFailure(op, why);
    UbeBuilder u(rewriter, op.getLoc());
    rewriter.replaceOp(op, AttentionComposition(u, op).output());
    return success();
  }
};

/// The composition's gradients: blocked past kFlashKeys static keys, else
/// whole score matrices.
struct DecomposeScaledDotProductAttentionGrad
    : OpRewritePattern<ScaledDotProductAttentionGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ScaledDotProductAttentionGradOp op,
                                PatternRewriter &rewriter) const override {
    if (std::string why = AttentionComposition::unsupported(op); !why.empty())
      return rewriter.notifyMatchFailure(op, why);
    UbeBuilder u(rewriter, op.getLoc());
    SmallVector<Value> grads(4);
    AttentionComposition(u, op).gradients(op.getGrad(), grads);
    rewriter.replaceOp(op, ArrayRef<Value>(grads).take_front(3));
    return success();
  }
};

/// Per-row negative log-likelihood of `labels` under `logits` ([..., C] and
/// [...]), 0 where the label is `ignoreIndex`, and the 0/1 validity mask.
std::pair<Value, Value> nllPerRow(UbeBuilder &u, Value logits, Value labels,
                                  int64_t ignoreIndex) {
  auto logitsType = UbeBuilder::typeOf(logits);
  Type floatType = logitsType.getElementType();
  Type indexType = UbeBuilder::elementTypeOf(labels);
  Value logProbs = u.logSoftmax(logits, -1);
  Value picked = u.reduceSum(u.where(u.oneHot(labels, logitsType.getShape().back()), logProbs,
                                     u.scalar(floatType, 0.0)),
                             {-1});
  Value valid = u.compare("ne", labels, u.scalar(indexType, static_cast<double>(ignoreIndex)));
  Value nll = u.where(valid, u.neg(picked), u.scalar(floatType, 0.0));
  return {nll, u.castTo(valid, floatType)};
}

struct DecomposeCrossEntropy : OpRewritePattern<CrossEntropyOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(CrossEntropyOp op, PatternRewriter &rewriter) const override {
    UbeBuilder u(rewriter, op.getLoc());
    auto [nll, valid] =
        nllPerRow(u, op.getLogits(), op.getLabels(), op.getIgnoreIndex());
    Value result = nll;
    if (op.getReduction() == "sum")
      result = u.reduceSum(nll);
    else if (op.getReduction() == "mean")
      result = u.maskedMean(nll, valid);
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// The gradients of the window ops (dialects/ube/UbeWindowGrad.h):
/// `expand` builds the replacement.
template <typename OpTy>
struct DecomposeWindowGrad : OpRewritePattern<OpTy> {
  DecomposeWindowGrad(MLIRContext *context, bool keepDepthwise = false)
      : OpRewritePattern<OpTy>(context), keepDepthwise(keepDepthwise) {}
  LogicalResult matchAndRewrite(OpTy op, PatternRewriter &rewriter) const override {
    if constexpr (std::is_same_v<OpTy, ConvWeightGradOp>)
      if (keepDepthwise && op.isDepthwise())
        return rewriter.notifyMatchFailure(op, "depthwise: left for the target's kernel");
    UbeBuilder u(rewriter, op.getLoc());
    rewriter.replaceOp(op, expand(op, u));
    return success();
  }
  static ArrayRef<int64_t> shape(Value v) { return UbeBuilder::typeOf(v).getShape(); }
  /// An input gradient's sizes: the batch `grad`'s, the spatial ones
  /// `input_spatial` or, where -1, the next of `input_sizes`.
  template <typename GradOp>
  static SizeList inputSizes(GradOp op, UbeBuilder &u) {
    ArrayRef<int64_t> result = shape(op.getResult());
    SizeList sizes = {ShapedType::isDynamic(result[0]) ? OpFoldResult(u.dimSize(op.getGrad(), 0))
                                                        : u.b.getIndexAttr(result[0]),
                      u.b.getIndexAttr(result[1])};
    auto runtime = op.getInputSizes().begin();
    for (int64_t size : op.getInputSpatial())
      sizes.push_back(size == -1 ? OpFoldResult(*runtime++) : u.b.getIndexAttr(size));
    return sizes;
  }
  static Value expand(ConvInputGradOp op, UbeBuilder &u) {
    return convInputGradient(u, op.getGrad(), op.getWeight(), op.window(), op.getGroups(),
                             inputSizes(op, u));
  }
  static Value expand(ConvWeightGradOp op, UbeBuilder &u) {
    return convWeightGradient(u, op.getInput(), op.getGrad(), op.window(), op.getGroups(),
                              shape(op.getResult()));
  }
  static Value expand(AvgPoolGradOp op, UbeBuilder &u) {
    return avgPoolInputGradient(u, op.getGrad(), op.window(), op.getCountIncludePad(),
                                inputSizes(op, u));
  }
  static Value expand(MaxPoolIndicesOp op, UbeBuilder &u) {
    Value y = MaxPoolOp::create(u.b, op.getInput(), op.getKernelAttr(), op.getStrideAttr(),
                                op.getPaddingAttr(), op.getDilationAttr(), op.getCeilModeAttr());
    return maxPoolIndices(u, op.getInput(), y, op.window());
  }
  static Value expand(MaxPoolGradOp op, UbeBuilder &u) {
    Value y = MaxPoolOp::create(u.b, op.getInput(), op.getKernelAttr(), op.getStrideAttr(),
                                op.getPaddingAttr(), op.getDilationAttr(), op.getCeilModeAttr());
    return maxPoolInputGradient(u, op.getInput(), y, op.getGrad(), op.window());
  }
  bool keepDepthwise;
};

/// torch.optim.SGD's update (see the op's description).
struct DecomposeSgdUpdate : OpRewritePattern<SgdUpdateOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(SgdUpdateOp op, PatternRewriter &rewriter) const override {
    UbeBuilder u(rewriter, op.getLoc());
    Value p = op.getParam();
    Type type = UbeBuilder::elementTypeOf(p);
    double momentum = op.getMomentum().convertToDouble();
    double decay = op.getWeightDecay().convertToDouble();
    Value d = op.getGrad();
    if (decay != 0.0)
      d = u.add(d, u.mul(p, u.scalar(type, decay)));
    Value buffer = d;
    if (momentum != 0.0)
      buffer = u.add(u.mul(op.getMomentumBuffer(), u.scalar(type, momentum)), d);
    Value direction = buffer;
    if (op.getNesterov())
      direction = u.add(d, u.mul(buffer, u.scalar(type, momentum)));
    Value lr = u.castTo(op.getLr(), type);
    rewriter.replaceOp(op, {u.sub(p, u.mul(direction, lr)), buffer});
    return success();
  }
};

/// torch.optim.AdamW's update, in its order of operations.
struct DecomposeAdamwUpdate : OpRewritePattern<AdamwUpdateOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AdamwUpdateOp op, PatternRewriter &rewriter) const override {
    UbeBuilder u(rewriter, op.getLoc());
    Value p = op.getParam(), g = op.getGrad();
    Type type = UbeBuilder::elementTypeOf(p);
    auto c = [&](double v) { return u.scalar(type, v); };
    double beta1 = op.getBeta1().convertToDouble(), beta2 = op.getBeta2().convertToDouble();
    Value lr = u.castTo(op.getLr(), type);
    Value t = u.castTo(op.getStep(), type);
    Value decayed = u.mul(p, u.sub(c(1.0), u.mul(lr, c(op.getWeightDecay().convertToDouble()))));
    Value m = u.add(u.mul(op.getExpAvg(), c(beta1)), u.mul(g, c(1.0 - beta1)));
    Value v = u.add(u.mul(op.getExpAvgSq(), c(beta2)), u.mul(u.mul(g, g), c(1.0 - beta2)));
    Value correction1 = u.sub(c(1.0), PowOp::create(u.b, c(beta1), t));
    Value correction2 = u.sub(c(1.0), PowOp::create(u.b, c(beta2), t));
    Value denominator = u.add(u.div(SqrtOp::create(u.b, v), SqrtOp::create(u.b, correction2)),
                              c(op.getEpsilon().convertToDouble()));
    Value stepSize = u.div(lr, correction1);
    Value updated = u.sub(decayed, u.mul(stepSize, u.div(m, denominator)));
    rewriter.replaceOp(op, {updated, m, v});
    return success();
  }
};

struct DecomposeMseLoss : OpRewritePattern<MseLossOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MseLossOp op, PatternRewriter &rewriter) const override {
    UbeBuilder u(rewriter, op.getLoc());
    Value d = u.sub(op.getInput(), op.getTarget());
    Value squared = u.mul(d, d);
    Value result = squared;
    if (op.getReduction() == "sum")
      result = u.reduceSum(squared);
    else if (op.getReduction() == "mean")
      result = u.reduceMean(squared);
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// kd_loss's logits as [rows, vocab] (rows may be symbolic).
struct KdRows {
  Value student, teacher;
  int64_t vocab;
  Type floatType;

  /// `x` (one value per row) as [rows, trailing...].
  Value perRow(UbeBuilder &u, Value x, ArrayRef<int64_t> trailing = {}) const {
    SmallVector<int64_t> shape = {UbeBuilder::typeOf(student).getDimSize(0)};
    llvm::append_range(shape, trailing);
    return u.reshape(x, shape, u.sizesFrom(student, shape));
  }
};
KdRows kdRows(UbeBuilder &u, Value studentLogits, Value teacherLogits) {
  auto type = UbeBuilder::typeOf(studentLogits);
  return {u.rows(studentLogits), u.rows(teacherLogits), type.getShape().back(),
          type.getElementType()};
}

struct DecomposeKdLoss : OpRewritePattern<KdLossOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(KdLossOp op, PatternRewriter &rewriter) const override {
    UbeBuilder u(rewriter, op.getLoc());
    KdRows kd = kdRows(u, op.getStudentLogits(), op.getTeacherLogits());
    auto [student, teacher, vocab, floatType] = kd;
    double temperature = op.getTemperature().convertToDouble();
    Value scaledStudent = student, scaledTeacher = teacher;
    if (temperature != 1.0) {
      Value inverse = u.scalar(floatType, 1.0 / temperature);
      scaledStudent = u.mul(student, inverse);
      scaledTeacher = u.mul(teacher, inverse);
    }
    // KL(p_t || p_s) per row without materializing either distribution:
    // with m the row maxima, Z = sum exp(x - m) and lse = m + log Z,
    //   KL = sum p_t (t - s) - lse_t + lse_s,  sum p_t (t - s) = W / Z_t,
    //   W = sum exp(t - m_t) (t - s)          (t, s already divided by T).
    // Each sum is one streaming pass over the rows.
    Value maxS = u.reduceMax(scaledStudent, {-1}, true);
    Value maxT = u.reduceMax(scaledTeacher, {-1}, true);
    Value expT = u.exp(u.sub(scaledTeacher, maxT));
    Value sumS = u.reduceSum(u.exp(u.sub(scaledStudent, maxS)), {-1});
    Value sumT = u.reduceSum(expT, {-1});
    Value weighted = u.reduceSum(u.mul(expT, u.sub(scaledTeacher, scaledStudent)), {-1});
    Value lseS = u.add(kd.perRow(u, maxS), u.log(sumS));
    Value lseT = u.add(kd.perRow(u, maxT), u.log(sumT));
    Value kl = u.add(u.sub(u.div(weighted, sumT), lseT), lseS);
    Value loss;
    Value labels = op.getLabels() ? kd.perRow(u, op.getLabels()) : Value();
    int64_t ignoreIndex = op.getIgnoreIndex();
    if (labels) {
      Value valid = u.compare("ne", labels,
                              u.scalar(UbeBuilder::elementTypeOf(labels), double(ignoreIndex)));
      loss = u.maskedMean(kl, u.castTo(valid, floatType));
    } else {
      loss = u.reduceMean(kl);
    }
    if (op.getScaleByTemperatureSquared() && temperature != 1.0)
      loss = u.mul(loss, u.scalar(floatType, temperature * temperature));
    double alpha = op.getAlpha().convertToDouble();
    if (alpha != 0.0) {
      auto [nll, valid] = nllPerRow(u, student, labels, ignoreIndex);
      loss = u.add(loss, u.mul(u.scalar(floatType, alpha), u.maskedMean(nll, valid)));
    }
    rewriter.replaceOp(op, loss);
    return success();
  }
};

/// The gradient of kd_loss for the student logits (see the op's description).
struct DecomposeKdLossGrad : OpRewritePattern<KdLossGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(KdLossGradOp op, PatternRewriter &rewriter) const override {
    UbeBuilder u(rewriter, op.getLoc());
    KdRows kd = kdRows(u, op.getStudentLogits(), op.getTeacherLogits());
    auto [student, teacher, vocab, floatType] = kd;
    double temperature = op.getTemperature().convertToDouble();
    Value inverse = u.scalar(floatType, 1.0 / temperature);
    Value diff = u.sub(u.softmax(u.mul(student, inverse), -1),
                       u.softmax(u.mul(teacher, inverse), -1));
    // Per-row weights: grad / N on counted rows, 0 on ignored ones.
    Value labels = op.getLabels() ? kd.perRow(u, op.getLabels()) : Value();
    Value counted = u.scalar(floatType, 1.0);
    if (labels)
      counted = u.castTo(u.compare("ne", labels,
                                   u.scalar(UbeBuilder::elementTypeOf(labels),
                                            double(op.getIgnoreIndex()))),
                         floatType);
    Value count = labels ? u.maximum(u.reduceSum(counted), u.scalar(floatType, 1.0))
                         : u.countOf(student, {0});
    Value perRow = u.div(op.getGrad(), count);
    if (labels)
      perRow = kd.perRow(u, u.mul(perRow, counted), {1});
    double klScale = (op.getScaleByTemperatureSquared() ? temperature * temperature : 1.0) /
                     temperature;
    Value result = u.mul(diff, u.mul(perRow, u.scalar(floatType, klScale)));
    double alpha = op.getAlpha().convertToDouble();
    if (alpha != 0.0) {
      Value target = u.castTo(u.oneHot(labels, vocab), floatType);
      Value ce = u.sub(u.softmax(student, -1), target);
      result = u.add(result, u.mul(ce, u.mul(perRow, u.scalar(floatType, alpha))));
    }
    rewriter.replaceOp(op, u.reshapeLike(result, op.getStudentLogits()));
    return success();
  }
};

/// Per-token mean and biased variance over the hidden (last) axis, and the
/// normalized features, as feature_map_loss uses them.
struct FeatureStats {
  Value mean, centered, variance, inverseStd, normalized;
};
FeatureStats featureStats(UbeBuilder &u, Value h, Value epsilon) {
  FeatureStats s;
  s.mean = u.reduceMean(h, {-1}, true);
  s.centered = u.sub(h, s.mean);
  s.variance = u.reduceMean(u.mul(s.centered, s.centered), {-1}, true);
  s.inverseStd = u.rsqrt(u.add(s.variance, epsilon));
  s.normalized = u.mul(s.centered, s.inverseStd);
  return s;
}

struct DecomposeFeatureMapLoss : OpRewritePattern<FeatureMapLossOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(FeatureMapLossOp op, PatternRewriter &rewriter) const override {
    UbeBuilder u(rewriter, op.getLoc());
    Value student = op.getStudent();
    if (Value projection = op.getProjection())
      student = u.matmul(student, projection);
    Type floatType = UbeBuilder::elementTypeOf(student);
    Value epsilon = u.scalar(floatType, op.getEpsilon().convertToDouble());
    FeatureStats s = featureStats(u, student, epsilon),
                 t = featureStats(u, op.getTeacher(), epsilon);
    Value loss;
    auto addTerm = [&](double weight, Value term) {
      if (weight == 0.0)
        return;
      Value weighted = weight == 1.0 ? term : u.mul(u.scalar(floatType, weight), term);
      loss = loss ? u.add(loss, weighted) : weighted;
    };
    // The mean over all elements as a mean over tokens of per-token means: the
    // same value, but float32 sums of a few hundred terms each instead of one
    // running sum over millions (1e-4 relative error at 4096 × 768).
    auto meanSquare = [&](Value a, Value b) {
      Value d = u.sub(a, b);
      return u.reduceMean(u.reduceMean(u.mul(d, d), {-1}));
    };
    addTerm(op.getAlpha().convertToDouble(), meanSquare(s.normalized, t.normalized));
    addTerm(op.getBeta().convertToDouble(), meanSquare(t.mean, s.mean));
    addTerm(op.getGamma().convertToDouble(), u.reduceMean(u.abs(u.sub(t.variance, s.variance))));
    if (!loss)
      loss = u.scalar(floatType, 0.0);
    rewriter.replaceOp(op, loss);
    return success();
  }
};

/// The gradient of feature_map_loss: each term's derivative with respect to
/// the (projected) student features h, then through the projection.
struct DecomposeFeatureMapLossGrad : OpRewritePattern<FeatureMapLossGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(FeatureMapLossGradOp op,
                                PatternRewriter &rewriter) const override {
    UbeBuilder u(rewriter, op.getLoc());
    Value projection = op.getProjection();
    Value h = projection ? u.matmul(op.getStudent(), projection) : op.getStudent();
    auto type = UbeBuilder::typeOf(h);
    Type floatType = type.getElementType();
    int64_t rank = type.getRank();
    double width = double(type.getShape().back());
    // The token count may be symbolic (a batch of any length).
    Value tokens = u.countOf(h, llvm::to_vector(llvm::seq<int64_t>(0, rank - 1)));
    Value epsilon = u.scalar(floatType, op.getEpsilon().convertToDouble());
    FeatureStats s = featureStats(u, h, epsilon),
                 t = featureStats(u, op.getTeacher(), epsilon);
    Value grad = op.getGrad();
    // c / tokens · grad · x.
    auto times = [&](double c, Value x) {
      return u.mul(u.mul(x, u.div(grad, tokens)), u.scalar(floatType, c));
    };
    Value dh;
    auto addTerm = [&](Value term) { dh = dh ? u.add(dh, term) : term; };
    if (double alpha = op.getAlpha().convertToDouble(); alpha != 0.0) {
      // d MSE / d LN(h), then LayerNorm's backward:
      // dh = r (dy - mean(dy) - y mean(dy y)).
      Value dy = times(2.0 * alpha / width, u.sub(s.normalized, t.normalized));
      Value meanDy = u.reduceMean(dy, {-1}, true);
      Value meanDyY = u.reduceMean(u.mul(dy, s.normalized), {-1}, true);
      addTerm(u.mul(s.inverseStd, u.sub(u.sub(dy, meanDy), u.mul(s.normalized, meanDyY))));
    }
    if (double beta = op.getBeta().convertToDouble(); beta != 0.0) {
      // d/dμ_h of β·mean((μ_t − μ_h)²), spread evenly over the token's features.
      Value dMean = times(-2.0 * beta, u.sub(t.mean, s.mean));
      addTerm(u.broadcastLike(u.mul(dMean, u.scalar(floatType, 1.0 / width)), h));
    }
    if (double gamma = op.getGamma().convertToDouble(); gamma != 0.0) {
      // d/dσ²_h of γ·mean(|σ²_t − σ²_h|), and dσ²/dh = 2 (h − μ) / D.
      Value dVariance = times(-gamma, u.sign(u.sub(t.variance, s.variance)));
      addTerm(u.mul(u.mul(dVariance, s.centered), u.scalar(floatType, 2.0 / width)));
    }
    if (!dh) // every weight 0
      dh = u.broadcastLike(u.scalar(floatType, 0.0), h);
    if (!projection) {
      rewriter.replaceOp(op, dh);
      return success();
    }
    // h = h_s · W: d h_s = dh · Wᵀ, d W = h_sᵀ · dh over all tokens.
    Value dStudent = u.matmul(dh, projection, /*transposeRhs=*/true);
    Value dProjection = u.matmul(u.rows(op.getStudent()), u.rows(dh), /*transposeRhs=*/false,
                                 /*transposeLhs=*/true);
    rewriter.replaceOp(op, {dStudent, dProjection});
    return success();
  }
};

// The attention losses are flash-style: scores are computed a block of
// tokens at a time ([batch, heads, tokens, block] or its transpose), and the
// forward meets running per-row statistics (max, sum of exponentials), so
// no [tokens × tokens] map exists in the forward or the backward. The
// blocks are unrolled (static slices for the matmul kernels), at most
// kMaxBlocks of them. The 1/√d scale is applied to the scores in the
// elementwise code, so no scaled copy of q or k is made. A symbolic token
// count is one block of all tokens: its scores are [tokens × tokens].
constexpr int64_t kMinBlock = 32, kMaxBlocks = 16;

/// [begin, end) of each block of `tokens` tokens; [0, ?) when symbolic.
SmallVector<std::pair<int64_t, int64_t>> tokenBlocks(int64_t tokens) {
  if (ShapedType::isDynamic(tokens))
    return {{0, tokens}};
  int64_t size = std::max(kMinBlock, int64_t(llvm::divideCeil(tokens, kMaxBlocks)));
  SmallVector<std::pair<int64_t, int64_t>> blocks;
  for (int64_t begin = 0; begin < tokens; begin += size)
    blocks.push_back({begin, std::min(tokens, begin + size)});
  return blocks;
}

/// Reshapes attention values: `x` to a shape whose dimensions are those of
/// the queries [batch, heads, tokens, d] named by `from` (-1: a 1).
Value reshapeFromQuery(UbeBuilder &u, Value x, Value query, ArrayRef<int64_t> from) {
  auto queryShape = UbeBuilder::typeOf(query).getShape();
  SmallVector<int64_t> shape, dims;
  for (int64_t d : from) {
    shape.push_back(d < 0 ? 1 : queryShape[d]);
    dims.push_back(std::max<int64_t>(d, 0));
  }
  return u.reshape(x, shape, u.sizesFrom(query, shape, dims));
}

/// One side of an attention loss: its queries and keys, 1/√d, and the key
/// mask ([batch, 1, 1, tokens], or null).
struct AttentionSide {
  Value query, key, keyMask;
  double scale;

  /// Scaled scores of all queries against keys [begin, end), masked keys
  /// at the lowest float (after scaling: the same on both sides) so the
  /// softmax gives them nothing.
  Value keyBlock(UbeBuilder &u, int64_t begin, int64_t end) const {
    Value scores = u.matmul(query, u.slice(key, 2, begin, end), /*transposeRhs=*/true);
    return scaledAndMasked(u, scores, keyMask ? u.slice(keyMask, 3, begin, end) : Value());
  }
  /// The transposed scaled scores [batch, heads, keys, queries] of all keys
  /// against queries [begin, end).
  Value transposedQueryBlock(UbeBuilder &u, int64_t begin, int64_t end) const {
    Value scores = u.matmul(key, u.slice(query, 2, begin, end), /*transposeRhs=*/true);
    Value rows = keyMask ? reshapeFromQuery(u, keyMask, key, {0, -1, 2, -1}) : Value();
    return scaledAndMasked(u, scores, rows);
  }
  /// keyBlock() again, multiplied with the block of keys transposed first:
  /// CSE cannot merge it with keyBlock()'s product, which would keep every
  /// block of the forward alive until the backward.
  Value recomputedKeyBlock(UbeBuilder &u, int64_t begin, int64_t end) const {
    Value scores =
        u.matmul(query, u.transpose(u.slice(key, 2, begin, end), {0, 1, 3, 2}));
    return scaledAndMasked(u, scores, keyMask ? u.slice(keyMask, 3, begin, end) : Value());
  }
  Value scaledAndMasked(UbeBuilder &u, Value scores, Value mask) const {
    Type floatType = UbeBuilder::elementTypeOf(scores);
    Value scaled = u.mul(scores, u.scalar(floatType, scale));
    return mask ? u.where(mask, scaled, u.lowest(floatType)) : scaled;
  }
};

/// A row softmax accumulated over key blocks: the running max and the sum
/// of exp(score − max), both [batch, heads, tokens, 1].
struct OnlineSoftmax {
  Value max, sum;

  /// Takes in a block's scores; returns exp(scores − new max) and
  /// the factor exp(old max − new max) that rescales what was summed before
  /// (null for the first block).
  std::pair<Value, Value> add(UbeBuilder &u, Value scores) {
    Value blockMax = u.reduceMax(scores, {-1}, true);
    Value newMax = max ? u.maximum(max, blockMax) : blockMax;
    Value exps = u.exp(u.sub(scores, newMax));
    Value blockSum = u.reduceSum(exps, {-1}, true);
    Value rescale = max ? u.exp(u.sub(max, newMax)) : Value();
    sum = rescale ? u.add(u.mul(sum, rescale), blockSum) : blockSum;
    max = newMax;
    return {exps, rescale};
  }
  /// log Σ exp(score) per row.
  Value logSumExp(UbeBuilder &u) { return u.add(max, u.log(sum)); }
};

/// 1/√d for queries [..., d].
double attentionScale(Value query) {
  return 1.0 / std::sqrt(double(UbeBuilder::typeOf(query).getShape().back()));
}

/// The mask [batch, tokens] as a key mask for the scores [batch, 1, 1, tokens];
/// null without a mask.
Value attentionKeyMask(UbeBuilder &u, Value query, Value mask) {
  return mask ? reshapeFromQuery(u, mask, query, {0, -1, -1, 2}) : Value();
}

/// The query mask as floats [batch, 1, tokens] (null without a mask) and the
/// number of counted query rows over batch and heads (at least 1).
struct CountedRows {
  Value queryMask, count;
};
CountedRows attentionCountedRows(UbeBuilder &u, Value query, Value mask) {
  auto type = UbeBuilder::typeOf(query);
  Type floatType = type.getElementType();
  if (!mask)
    return {Value(), u.countOf(query, {0, 1, 2})};
  Value queryMask = u.castTo(reshapeFromQuery(u, mask, query, {0, -1, 2}), floatType);
  Value rows = u.mul(u.reduceSum(queryMask), u.countOf(query, {1}));
  return {queryMask, u.maximum(rows, u.scalar(floatType, 1.0))};
}

/// The two sides of an attention_transfer_loss(_grad) op.
template <typename Op>
std::pair<AttentionSide, AttentionSide> attentionSides(UbeBuilder &u, Op op) {
  Value keyMask = attentionKeyMask(u, op.getStudentQuery(), op.getMask());
  return {{op.getStudentQuery(), op.getStudentKey(), keyMask,
           attentionScale(op.getStudentQuery())},
          {op.getTeacherQuery(), op.getTeacherKey(), keyMask,
           attentionScale(op.getTeacherQuery())}};
}

/// Each side's softmax statistics over the key blocks; the forward and the
/// backward build them with the same ops, so CSE shares them when both are
/// in one function (the backward's saved statistics). `onBlock` sees each
/// block's scores and the teacher's exponentials and rescale factor.
template <typename OnBlock>
std::pair<OnlineSoftmax, OnlineSoftmax> attentionStatistics(UbeBuilder &u,
                                                            const AttentionSide &student,
                                                            const AttentionSide &teacher,
                                                            OnBlock onBlock) {
  OnlineSoftmax s, t;
  auto type = UbeBuilder::typeOf(student.query);
  for (auto [begin, end] : tokenBlocks(type.getDimSize(2))) {
    Value studentScores = student.keyBlock(u, begin, end);
    Value teacherScores = teacher.keyBlock(u, begin, end);
    s.add(u, studentScores);
    auto [teacherExps, rescale] = t.add(u, teacherScores);
    onBlock(studentScores, teacherScores, teacherExps, rescale);
  }
  return {s, t};
}

struct DecomposeAttentionTransferLoss : OpRewritePattern<AttentionTransferLossOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AttentionTransferLossOp op,
                                PatternRewriter &rewriter) const override {
    UbeBuilder u(rewriter, op.getLoc());
    auto [studentSide, teacherSide] = attentionSides(u, op);
    // KL(A_t ‖ A_s) per row = Σ_j A_t (t_j − s_j) − lse_t + lse_s, with
    // Σ_j A_t (t_j − s_j) = weighted / Σ_j exp(t_j − max_t), rescaled like
    // the sum whenever the teacher's max grows.
    Value weighted;
    auto [student, teacher] = attentionStatistics(
        u, studentSide, teacherSide, [&](Value s, Value t, Value teacherExps, Value rescale) {
          Value block = u.reduceSum(u.mul(teacherExps, u.sub(t, s)), {-1}, true);
          weighted = rescale ? u.add(u.mul(weighted, rescale), block) : block;
        });
    // Differences of maxima first: both may be large (or the lowest float
    // for a row without valid keys) while the KL is small.
    Value kl = u.add(u.sub(u.div(weighted, teacher.sum), u.sub(teacher.max, student.max)),
                     u.sub(u.log(student.sum), u.log(teacher.sum)));
    kl = reshapeFromQuery(u, kl, op.getStudentQuery(), {0, 1, 2});
    CountedRows rows = attentionCountedRows(u, op.getStudentQuery(), op.getMask());
    // Padded queries leave the mean: weight each [b, h, n] row by mask[b, n].
    Value loss = rows.queryMask ? u.div(u.reduceSum(u.mul(kl, rows.queryMask)), rows.count)
                                : u.reduceMean(kl);
    rewriter.replaceOp(op, loss);
    return success();
  }
};

/// The gradient of attention_transfer_loss for the student's queries and
/// keys: G = grad · w_row · (A_s − A_t) on the scaled scores, then through
/// the product q kᵀ / √d. From the per-row log-sum-exps (the forward's
/// statistics), d q = G·k/√d is computed a block of queries at a time and
/// d k = Gᵀ·q/√d a block of keys at a time (on transposed score blocks), so
/// neither sums partial products. The three sweeps multiply q and k in
/// different orders: CSE cannot merge their score blocks, which would keep
/// every block alive from one sweep to the next.
struct DecomposeAttentionTransferLossGrad : OpRewritePattern<AttentionTransferLossGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AttentionTransferLossGradOp op,
                                PatternRewriter &rewriter) const override {
    UbeBuilder u(rewriter, op.getLoc());
    Value query = op.getStudentQuery();
    Type floatType = UbeBuilder::elementTypeOf(query);
    int64_t tokens = UbeBuilder::typeOf(query).getDimSize(2);
    auto sides = attentionSides(u, op);
    const AttentionSide &studentSide = sides.first, &teacherSide = sides.second;
    auto [student, teacher] =
        attentionStatistics(u, studentSide, teacherSide, [](Value, Value, Value, Value) {});
    Value studentLse = student.logSumExp(u), teacherLse = teacher.logSumExp(u);
    CountedRows rows = attentionCountedRows(u, op.getStudentQuery(), op.getMask());
    // Per query row: grad / (counted rows) / √d, 0 for a padded query;
    // [batch, 1, tokens, 1] with a mask, a scalar without.
    Value weight = u.mul(u.div(op.getGrad(), rows.count),
                         u.scalar(floatType, studentSide.scale));
    if (rows.queryMask)
      weight = u.mul(reshapeFromQuery(u, rows.queryMask, query, {0, -1, 2, -1}), weight);
    auto gradScores = [&](Value s, Value t, Value sLse, Value tLse, Value w) {
      Value diff = u.sub(u.exp(u.sub(s, sLse)), u.exp(u.sub(t, tLse)));
      return u.mul(diff, w);
    };
    // On transposed blocks (rows are keys, columns queries), per-row values
    // [b, h|1, n, 1] become [b, h|1, 1, n].
    auto columns = [&](Value perRow) {
      auto shape = UbeBuilder::typeOf(perRow).getShape();
      if (shape.empty())
        return perRow;
      SmallVector<int64_t> transposed = {shape[0], shape[1], 1, shape[2]};
      return u.reshape(perRow, transposed, u.sizesFrom(perRow, transposed, {0, 1, 2, 2}));
    };
    Value studentLseColumns = columns(studentLse), teacherLseColumns = columns(teacherLse);
    Value weightColumns = columns(weight);
    SmallVector<Value> dQueries, dKeys;
    auto blocks = tokenBlocks(tokens);
    for (auto block : blocks) {
      int64_t begin = block.first, end = block.second;
      // Gᵀ for queries [begin, end): [b, h, keys, block].
      auto sliceColumns = [&](Value perColumn) {
        return UbeBuilder::typeOf(perColumn).getRank() == 0
                   ? perColumn
                   : u.slice(perColumn, 3, begin, end);
      };
      Value g = gradScores(studentSide.transposedQueryBlock(u, begin, end),
                           teacherSide.transposedQueryBlock(u, begin, end),
                           sliceColumns(studentLseColumns), sliceColumns(teacherLseColumns),
                           sliceColumns(weightColumns));
      dQueries.push_back(u.matmul(g, op.getStudentKey(), /*transposeRhs=*/false,
                                  /*transposeLhs=*/true));
    }
    for (auto [begin, end] : blocks) {
      Value g = gradScores(studentSide.recomputedKeyBlock(u, begin, end),
                           teacherSide.recomputedKeyBlock(u, begin, end), studentLse, teacherLse,
                           weight);
      dKeys.push_back(u.matmul(g, op.getStudentQuery(), /*transposeRhs=*/false,
                               /*transposeLhs=*/true));
    }
    rewriter.replaceOp(op, {u.concat(dQueries, 2), u.concat(dKeys, 2)});
    return success();
  }
};

struct UbeDecomposePass : ube::impl::UbeDecomposeBase<UbeDecomposePass> {
  using Base::Base;
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateDecomposePatterns(patterns, keepNormalizations, keepDepthwiseWeightGrads);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void ube::populateDecomposePatterns(RewritePatternSet &patterns, bool keepNormalizations,
                                    bool keepDepthwiseWeightGrads) {
  if (!keepNormalizations)
    patterns.add<DecomposeSoftmax, DecomposeLogSoftmax, DecomposeLayerNorm, DecomposeRmsNorm>(
        patterns.getContext());
  patterns.add<DecomposeWindowGrad<ConvWeightGradOp>>(patterns.getContext(),
                                                       keepDepthwiseWeightGrads);
  patterns.add<DecomposeLinear, DecomposeVectorMatmul, DecomposeScaledDotProductAttention,
               DecomposeScaledDotProductAttentionGrad,
               DecomposeCrossEntropy, DecomposeMseLoss,
               DecomposeKdLoss, DecomposeKdLossGrad, DecomposeFeatureMapLoss,
               DecomposeFeatureMapLossGrad, DecomposeAttentionTransferLoss,
               DecomposeAttentionTransferLossGrad, DecomposeSgdUpdate, DecomposeAdamwUpdate,
               DecomposeWindowGrad<ConvInputGradOp>, DecomposeWindowGrad<AvgPoolGradOp>,
               DecomposeWindowGrad<MaxPoolGradOp>, DecomposeWindowGrad<MaxPoolIndicesOp>>(
      patterns.getContext());
}
