//===- Decompose.cpp - composite ube ops -> primitive ube ops -------------===//
//
// Each pattern spells out an op's definition (docs/ops.md,
// docs/distillation.md) in primitive ube ops, in numerically stable form.
// The fused lowerings of the distillation losses replace these later; this
// is the reference composition they are tested against.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialects/ube/UbeBuilder.h"
#include "dialects/ube/UbeOps.h"

#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>
#include <numeric>

namespace ube {
#define GEN_PASS_DEF_UBEDECOMPOSE
#include "passes/Passes.h.inc"
} // namespace ube

using namespace mlir;
using namespace ube;

namespace {

int64_t positiveAxis(int64_t axis, int64_t rank) { return axis < 0 ? axis + rank : axis; }

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
    int64_t rank = op.getType().getRank();
    SmallVector<int64_t> axes(rank - positiveAxis(op.getAxis(), rank));
    std::iota(axes.begin(), axes.end(), positiveAxis(op.getAxis(), rank));
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

/// Row-wise KL(softmax(teacher) || softmax(student)) over the last axis,
/// from log-probabilities: sum p_t (log p_t - log p_s).
Value klRows(UbeBuilder &u, Value teacherLogProbs, Value studentLogProbs) {
  Value teacherProbs = u.exp(teacherLogProbs);
  return u.reduceSum(u.mul(teacherProbs, u.sub(teacherLogProbs, studentLogProbs)), {-1});
}

/// kd_loss's logits as [rows, vocab].
struct KdRows {
  Value student, teacher;
  int64_t rows, vocab;
  Type floatType;
};
KdRows kdRows(UbeBuilder &u, Value studentLogits, Value teacherLogits) {
  auto type = UbeBuilder::typeOf(studentLogits);
  int64_t vocab = type.getShape().back();
  int64_t rows = type.getNumElements() / std::max<int64_t>(vocab, 1);
  return {u.reshape(studentLogits, {rows, vocab}), u.reshape(teacherLogits, {rows, vocab}), rows,
          vocab, type.getElementType()};
}

struct DecomposeKdLoss : OpRewritePattern<KdLossOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(KdLossOp op, PatternRewriter &rewriter) const override {
    UbeBuilder u(rewriter, op.getLoc());
    auto [student, teacher, rows, vocab, floatType] =
        kdRows(u, op.getStudentLogits(), op.getTeacherLogits());
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
    Value lseS = u.add(u.reshape(maxS, {rows}), u.log(sumS));
    Value lseT = u.add(u.reshape(maxT, {rows}), u.log(sumT));
    Value kl = u.add(u.sub(u.div(weighted, sumT), lseT), lseS);
    Value loss;
    Value labels = op.getLabels() ? u.reshape(op.getLabels(), {rows}) : Value();
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
    auto [student, teacher, rows, vocab, floatType] =
        kdRows(u, op.getStudentLogits(), op.getTeacherLogits());
    auto type = UbeBuilder::typeOf(op.getStudentLogits());
    double temperature = op.getTemperature().convertToDouble();
    Value inverse = u.scalar(floatType, 1.0 / temperature);
    Value diff = u.sub(u.softmax(u.mul(student, inverse), -1),
                       u.softmax(u.mul(teacher, inverse), -1));
    // Per-row weights: grad / N on counted rows, 0 on ignored ones.
    Value labels = op.getLabels() ? u.reshape(op.getLabels(), {rows}) : Value();
    Value counted = u.scalar(floatType, 1.0);
    if (labels)
      counted = u.castTo(u.compare("ne", labels,
                                   u.scalar(UbeBuilder::elementTypeOf(labels),
                                            double(op.getIgnoreIndex()))),
                         floatType);
    Value count = labels ? u.maximum(u.reduceSum(counted), u.scalar(floatType, 1.0))
                         : u.scalar(floatType, double(rows));
    Value perRow = u.reshape(u.mul(u.div(op.getGrad(), count),
                                   labels ? counted : u.scalar(floatType, 1.0)),
                             labels ? SmallVector<int64_t>{rows, 1} : SmallVector<int64_t>{});
    double klScale = (op.getScaleByTemperatureSquared() ? temperature * temperature : 1.0) /
                     temperature;
    Value result = u.mul(diff, u.mul(perRow, u.scalar(floatType, klScale)));
    double alpha = op.getAlpha().convertToDouble();
    if (alpha != 0.0) {
      Value target = u.castTo(u.oneHot(labels, vocab), floatType);
      Value ce = u.sub(u.softmax(student, -1), target);
      result = u.add(result, u.mul(ce, u.mul(perRow, u.scalar(floatType, alpha))));
    }
    rewriter.replaceOp(op, u.reshape(result, type.getShape()));
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
    double width = double(type.getShape().back());
    double elements = double(type.getNumElements()), tokens = elements / width;
    Value epsilon = u.scalar(floatType, op.getEpsilon().convertToDouble());
    FeatureStats s = featureStats(u, h, epsilon),
                 t = featureStats(u, op.getTeacher(), epsilon);
    Value grad = op.getGrad();
    auto times = [&](double c, Value x) { return u.mul(u.mul(x, grad), u.scalar(floatType, c)); };
    Value dh;
    auto addTerm = [&](Value term) { dh = dh ? u.add(dh, term) : term; };
    if (double alpha = op.getAlpha().convertToDouble(); alpha != 0.0) {
      // d MSE / d LN(h), then LayerNorm's backward:
      // dh = r (dy - mean(dy) - y mean(dy y)).
      Value dy = times(2.0 * alpha / elements, u.sub(s.normalized, t.normalized));
      Value meanDy = u.reduceMean(dy, {-1}, true);
      Value meanDyY = u.reduceMean(u.mul(dy, s.normalized), {-1}, true);
      addTerm(u.mul(s.inverseStd, u.sub(u.sub(dy, meanDy), u.mul(s.normalized, meanDyY))));
    }
    if (double beta = op.getBeta().convertToDouble(); beta != 0.0) {
      // d/dμ_h of β·mean((μ_t − μ_h)²), spread evenly over the token's features.
      Value dMean = times(-2.0 * beta / tokens, u.sub(t.mean, s.mean));
      addTerm(BroadcastToOp::create(u.b, type, u.mul(dMean, u.scalar(floatType, 1.0 / width))));
    }
    if (double gamma = op.getGamma().convertToDouble(); gamma != 0.0) {
      // d/dσ²_h of γ·mean(|σ²_t − σ²_h|), and dσ²/dh = 2 (h − μ) / D.
      Value dVariance = times(-gamma / tokens, u.sign(u.sub(t.variance, s.variance)));
      addTerm(u.mul(u.mul(dVariance, s.centered), u.scalar(floatType, 2.0 / width)));
    }
    if (!dh) // every weight 0
      dh = ConstantOp::create(u.b, type, DenseElementsAttr::get(type, u.b.getFloatAttr(floatType, 0.0)));
    if (!projection) {
      rewriter.replaceOp(op, dh);
      return success();
    }
    // h = h_s · W: d h_s = dh · Wᵀ, d W = h_sᵀ · dh over all tokens.
    auto studentType = UbeBuilder::typeOf(op.getStudent());
    int64_t studentWidth = studentType.getShape().back();
    int64_t rows = int64_t(tokens);
    Value dStudent = u.matmul(dh, projection, /*transposeRhs=*/true);
    Value dProjection =
        u.matmul(u.reshape(op.getStudent(), {rows, studentWidth}),
                 u.reshape(dh, {rows, int64_t(width)}), /*transposeRhs=*/false,
                 /*transposeLhs=*/true);
    rewriter.replaceOp(op, {dStudent, dProjection});
    return success();
  }
};

/// 1/√d for queries [..., d].
double attentionScale(Value query) {
  return 1.0 / std::sqrt(double(UbeBuilder::typeOf(query).getShape().back()));
}

/// q·kᵀ/√d, with keys outside `keyMask` ([batch, 1, 1, tokens], or null) at
/// the lowest float so the softmax gives them nothing.
Value attentionScores(UbeBuilder &u, Value query, Value key, Value keyMask) {
  Type floatType = UbeBuilder::elementTypeOf(query);
  Value scores = u.mul(u.matmul(query, key, /*transposeRhs=*/true),
                       u.scalar(floatType, attentionScale(query)));
  return keyMask ? u.where(keyMask, scores, u.lowest(floatType)) : scores;
}

/// The mask [batch, tokens] as a key mask for the scores [batch, 1, 1, tokens];
/// null without a mask.
Value attentionKeyMask(UbeBuilder &u, Value query, Value mask) {
  auto type = UbeBuilder::typeOf(query);
  return mask ? u.reshape(mask, {type.getDimSize(0), 1, 1, type.getDimSize(2)}) : Value();
}

/// The query mask as floats [batch, 1, tokens] (null without a mask) and the
/// number of counted query rows over batch and heads (at least 1).
struct CountedRows {
  Value queryMask, count;
};
CountedRows attentionCountedRows(UbeBuilder &u, Value query, Value mask) {
  auto type = UbeBuilder::typeOf(query);
  Type floatType = type.getElementType();
  int64_t batch = type.getDimSize(0), heads = type.getDimSize(1), tokens = type.getDimSize(2);
  if (!mask)
    return {Value(), u.scalar(floatType, double(batch * heads * tokens))};
  Value queryMask = u.castTo(u.reshape(mask, {batch, 1, tokens}), floatType);
  Value rows = u.mul(u.reduceSum(queryMask), u.scalar(floatType, double(heads)));
  return {queryMask, u.maximum(rows, u.scalar(floatType, 1.0))};
}

struct DecomposeAttentionTransferLoss : OpRewritePattern<AttentionTransferLossOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AttentionTransferLossOp op,
                                PatternRewriter &rewriter) const override {
    UbeBuilder u(rewriter, op.getLoc());
    Value keyMask = attentionKeyMask(u, op.getStudentQuery(), op.getMask());
    auto logProbs = [&](Value q, Value k) {
      return u.logSoftmax(attentionScores(u, q, k, keyMask), -1);
    };
    Value kl = klRows(u, logProbs(op.getTeacherQuery(), op.getTeacherKey()),
                      logProbs(op.getStudentQuery(), op.getStudentKey()));
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
/// the product q kᵀ / √d.
struct DecomposeAttentionTransferLossGrad : OpRewritePattern<AttentionTransferLossGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AttentionTransferLossGradOp op,
                                PatternRewriter &rewriter) const override {
    UbeBuilder u(rewriter, op.getLoc());
    Type floatType = UbeBuilder::elementTypeOf(op.getStudentQuery());
    Value keyMask = attentionKeyMask(u, op.getStudentQuery(), op.getMask());
    auto attention = [&](Value q, Value k) {
      return u.softmax(attentionScores(u, q, k, keyMask), -1);
    };
    Value diff = u.sub(attention(op.getStudentQuery(), op.getStudentKey()),
                       attention(op.getTeacherQuery(), op.getTeacherKey()));
    CountedRows rows = attentionCountedRows(u, op.getStudentQuery(), op.getMask());
    // Per query row: grad / (counted rows), 0 for a padded query.
    Value weight = u.div(op.getGrad(), rows.count);
    if (rows.queryMask) {
      SmallVector<int64_t> column(UbeBuilder::typeOf(rows.queryMask).getShape());
      column.push_back(1);
      weight = u.mul(u.reshape(rows.queryMask, column), weight);
    }
    Value dScores = u.mul(u.mul(diff, weight),
                          u.scalar(floatType, attentionScale(op.getStudentQuery())));
    Value dQuery = u.matmul(dScores, op.getStudentKey());
    Value dKey = u.matmul(dScores, op.getStudentQuery(), /*transposeRhs=*/false,
                          /*transposeLhs=*/true);
    rewriter.replaceOp(op, {dQuery, dKey});
    return success();
  }
};

struct UbeDecomposePass : ube::impl::UbeDecomposeBase<UbeDecomposePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateDecomposePatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void ube::populateDecomposePatterns(RewritePatternSet &patterns) {
  patterns.add<DecomposeLinear, DecomposeVectorMatmul, DecomposeSoftmax, DecomposeLogSoftmax,
               DecomposeLayerNorm, DecomposeCrossEntropy, DecomposeMseLoss, DecomposeKdLoss, DecomposeKdLossGrad,
               DecomposeFeatureMapLoss, DecomposeFeatureMapLossGrad,
               DecomposeAttentionTransferLoss, DecomposeAttentionTransferLossGrad,
               DecomposeSgdUpdate, DecomposeAdamwUpdate>(
      patterns.getContext());
}
