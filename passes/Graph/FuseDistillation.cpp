//===- FuseDistillation.cpp - unfused distillation losses -> fused ops ----===//
//
// Frontends spell a soft-logit KD loss out of primitives: PyTorch's
//   F.kl_div(F.log_softmax(s/T), F.softmax(t/T), reduction="batchmean") * T**2
// exports as where(p > 0, p·(log p − log q), 0) summed and divided, and
// hand-written losses use p·(log_softmax(t/T) − log_softmax(s/T)) or
// exp(lp)·(lp − lq). Each of these, reduced to a scalar by sums, means and
// constant factors, is c · Σ_rows KL_r for some constant c; the pattern
// rewrites it to `ube.kd_loss` (mean over rows, so c·R folds into
// `scale_by_temperature_squared` when it is T², or stays a multiplication),
// whose kernels never materialize p.
//
// What must hold, or nothing is rewritten: both softmaxes over the last axis
// of same-shaped logits, both divided by the same constant temperature, the
// teacher's distribution weighting the difference (KL(p_t ‖ p_s), not the
// reverse), the guard (if any) exactly p > 0, and every reduction leading to
// one scalar.
//
//===----------------------------------------------------------------------===//

#include "passes/Graph/Passes.h"

#include "dialects/ube/UbeBuilder.h"
#include "dialects/ube/UbeOps.h"
#include "passes/Graph/GraphMatchers.h"

#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <array>
#include <cmath>
#include <optional>

namespace ube {
#define GEN_PASS_DEF_UBEFUSEDISTILLATION
#include "passes/Graph/Passes.h.inc"
} // namespace ube

using namespace mlir;
using namespace ube;

namespace {

/// `x` as the logits divided by a constant temperature: `z / T`, `z * (1/T)`
/// or `z` itself (T = 1).
std::pair<Value, double> unscale(Value x) {
  if (auto div = x.getDefiningOp<DivOp>())
    if (auto t = scalarConstant(div.getRhs()); t && *t > 0)
      return {div.getLhs(), *t};
  if (auto mul = x.getDefiningOp<MulOp>()) {
    for (auto [z, c] : bothOrders(mul))
      if (auto inverse = scalarConstant(c); inverse && *inverse > 0)
        return {z, 1.0 / *inverse};
  }
  return {x, 1.0};
}

bool overLastAxis(int64_t axis, Value input) {
  int64_t rank = cast<RankedTensorType>(input.getType()).getRank();
  return axis == -1 || axis == rank - 1;
}

/// The input of a softmax-like op over the last axis, or null.
template <typename OpTy>
Value lastAxisInput(Value v) {
  auto op = v.getDefiningOp<OpTy>();
  return op && overLastAxis(op.getAxis(), op.getInput()) ? op.getInput() : Value();
}

/// The pieces of one KL(p_t ‖ p_s) term tensor.
struct KlTerms {
  Value studentLogits, teacherLogits;
  /// What each side's logits are divided by before the softmax.
  double studentTemperature, teacherTemperature;
  Value teacherDistribution; ///< p_t as the terms use it.
};

/// Matches `p_t · (log p_t − log p_s)` in one of its spellings, with or
/// without the `p > 0` guard kl_div puts around it.
std::optional<KlTerms> matchKlTerms(Value terms) {
  if (auto where = terms.getDefiningOp<WhereOp>()) {
    auto guard = where.getCondition().getDefiningOp<CompareOp>();
    auto zero = scalarConstant(where.getRhs());
    if (!guard || guard.getPredicate() != "gt" || !zero || *zero != 0.0 ||
        scalarConstant(guard.getRhs()) != std::optional<double>(0.0))
      return std::nullopt;
    std::optional<KlTerms> inner = matchKlTerms(where.getLhs());
    // The guard must test the teacher distribution the terms are weighted by.
    if (!inner || guard.getLhs() != inner->teacherDistribution)
      return std::nullopt;
    return inner;
  }
  auto mul = terms.getDefiningOp<MulOp>();
  if (!mul)
    return std::nullopt;
  for (auto [weight, difference] : bothOrders(mul)) {
    auto sub = difference.getDefiningOp<SubOp>();
    if (!sub)
      continue;
    Value studentScaled = lastAxisInput<LogSoftmaxOp>(sub.getRhs());
    if (!studentScaled)
      continue;
    // The teacher's distribution and its log: softmax + log, softmax +
    // log_softmax, or exp(log_softmax) + log_softmax, of the same input.
    Value teacherScaled = lastAxisInput<SoftmaxOp>(weight);
    Value logTeacher = sub.getLhs();
    if (teacherScaled) {
      auto log = logTeacher.getDefiningOp<LogOp>();
      bool sameDistribution = (log && log.getInput() == weight) ||
                              lastAxisInput<LogSoftmaxOp>(logTeacher) == teacherScaled;
      if (!sameDistribution)
        continue;
    } else if (auto exp = weight.getDefiningOp<ExpOp>()) {
      // exp(log_softmax) weighting log_softmax, or its own log (kl_div of
      // a target written as log_softmax(t).exp()).
      auto log = logTeacher.getDefiningOp<LogOp>();
      if (exp.getInput() == logTeacher || (log && log.getInput() == weight))
        teacherScaled = lastAxisInput<LogSoftmaxOp>(exp.getInput());
    }
    if (!teacherScaled)
      continue;
    auto [student, studentT] = unscale(studentScaled);
    auto [teacher, teacherT] = unscale(teacherScaled);
    if (student.getType() != teacher.getType())
      continue;
    return KlTerms{student, teacher, studentT, teacherT, weight};
  }
  return std::nullopt;
}

/// A scalar loss `c · Σ_rows KL_r`: the KL terms and c.
struct KdMatch {
  KlTerms kl;
  double factor; ///< Multiplies Σ over every element of the terms.
};

std::optional<KdMatch> matchKd(Value root) {
  if (cast<RankedTensorType>(root.getType()).getRank() != 0)
    return std::nullopt;
  // Constant factors and reductions (sums and means over any axes) down to
  // the terms: a chain of them ending in a scalar sums every element once.
  double factor = 1.0;
  bool reduced = false;
  Value v = root;
  while (true) {
    if (auto mul = v.getDefiningOp<MulOp>()) {
      if (auto c = scalarConstant(mul.getRhs())) {
        factor *= *c, v = mul.getLhs();
        continue;
      }
      if (auto c = scalarConstant(mul.getLhs())) {
        factor *= *c, v = mul.getRhs();
        continue;
      }
    }
    if (auto div = v.getDefiningOp<DivOp>())
      if (auto c = scalarConstant(div.getRhs()); c && *c != 0.0) {
        factor /= *c, v = div.getLhs();
        continue;
      }
    if (auto sum = v.getDefiningOp<ReduceSumOp>()) {
      reduced = true, v = sum.getInput();
      continue;
    }
    if (auto mean = v.getDefiningOp<ReduceMeanOp>()) {
      // A mean over symbolic sizes divides by a count known at run time only.
      if (!cast<RankedTensorType>(mean.getInput().getType()).hasStaticShape())
        return std::nullopt;
      factor *= double(cast<RankedTensorType>(mean.getType()).getNumElements()) /
                double(cast<RankedTensorType>(mean.getInput().getType()).getNumElements());
      reduced = true, v = mean.getInput();
      continue;
    }
    break;
  }
  if (!reduced)
    return std::nullopt;
  std::optional<KlTerms> kl = matchKlTerms(v);
  // The terms must be elementwise over the logits (no broadcast hiding a
  // different count of elements).
  if (!kl || kl->studentLogits.getType() != v.getType())
    return std::nullopt;
  return KdMatch{*kl, factor};
}

/// `scores` as attention scores `q · kᵀ` of [batch, heads, tokens, d]
/// queries and keys.
std::optional<std::pair<Value, Value>> matchAttentionScores(Value scores) {
  auto product = matchQueryKeyProduct(scores);
  if (!product)
    return std::nullopt;
  auto queryType = cast<RankedTensorType>(product->first.getType());
  if (queryType.getRank() != 4 || product->second.getType() != queryType)
    return std::nullopt;
  return product;
}

Value scalarLike(PatternRewriter &rewriter, Location loc, Value like, double value) {
  auto type = RankedTensorType::get({}, cast<RankedTensorType>(like.getType()).getElementType());
  return ConstantOp::create(rewriter, loc, type,
                            DenseElementsAttr::get(type, rewriter.getFloatAttr(
                                                             type.getElementType(), value)));
}

/// `loss · scale`, or `loss` when the scale is 1 (to float precision: the
/// constants it comes from are f32).
Value scaled(PatternRewriter &rewriter, Location loc, Value loss, double scale) {
  if (std::abs(scale - 1.0) <= 1e-6)
    return loss;
  return MulOp::create(rewriter, loc, loss, scalarLike(rewriter, loc, loss, scale));
}

/// attention_transfer_loss for KL terms over attention scores; null when the
/// terms are not that.
Value buildAttentionTransfer(PatternRewriter &rewriter, Location loc, const KdMatch &match) {
  auto student = matchAttentionScores(match.kl.studentLogits);
  auto teacher = matchAttentionScores(match.kl.teacherLogits);
  if (!student || !teacher)
    return nullptr;
  auto queryType = cast<RankedTensorType>(student->first.getType());
  auto teacherType = cast<RankedTensorType>(teacher->first.getType());
  if (!queryType.hasStaticShape() ||
      queryType.getShape().take_front(3) != teacherType.getShape().take_front(3) ||
      queryType.getElementType() != teacherType.getElementType())
    return nullptr;
  // The op scales each side's scores by 1/√d; another divisor T is the same
  // as queries multiplied by √d / T.
  auto query = [&](Value q, double temperature) {
    double d = double(cast<RankedTensorType>(q.getType()).getShape().back());
    return scaled(rewriter, loc, q, std::sqrt(d) / temperature);
  };
  Value loss = AttentionTransferLossOp::create(
      rewriter, loc, query(student->first, match.kl.studentTemperature), student->second,
      query(teacher->first, match.kl.teacherTemperature), teacher->second, /*mask=*/Value());
  // factor · Σ_rows KL_r = (factor · B·H·N) · mean_rows KL_r.
  double rows = double(queryType.getNumElements() / queryType.getShape().back());
  return scaled(rewriter, loc, loss, match.factor * rows);
}

/// kd_loss for KL terms between two tempered softmaxes of the same
/// temperature; null otherwise.
Value buildKdLoss(PatternRewriter &rewriter, Location loc, const KdMatch &match) {
  double t = match.kl.teacherTemperature;
  if (std::abs(match.kl.studentTemperature - t) > 1e-9 * t)
    return nullptr;
  auto logits = cast<RankedTensorType>(match.kl.studentLogits.getType());
  if (!logits.hasStaticShape())
    return nullptr;
  double rows = double(logits.getNumElements() / std::max<int64_t>(1, logits.getShape().back()));
  // factor · Σ_rows KL_r = (factor · R) · mean_rows KL_r.
  double scale = match.factor * rows;
  bool byTemperatureSquared = std::abs(scale - t * t) <= 1e-6 * t * t;
  Value loss = KdLossOp::create(rewriter, loc, match.kl.studentLogits, match.kl.teacherLogits,
                                /*labels=*/Value(), rewriter.getF64FloatAttr(t),
                                rewriter.getBoolAttr(byTemperatureSquared),
                                rewriter.getF64FloatAttr(0.0), rewriter.getI64IntegerAttr(-100));
  return byTemperatureSquared ? loss : scaled(rewriter, loc, loss, scale);
}

/// Rewrites the root of a matched loss (the last mul/div/reduction) to
/// attention_transfer_loss when the logits are attention scores, else to
/// kd_loss.
template <typename RootOp>
struct FuseKlLossAt : OpRewritePattern<RootOp> {
  using OpRewritePattern<RootOp>::OpRewritePattern;
  LogicalResult matchAndRewrite(RootOp op, PatternRewriter &rewriter) const override {
    // Only the outermost op of a loss: a root whose single user would also
    // match is left for that user.
    if (op->hasOneUse())
      if (Operation *user = *op->getUsers().begin();
          isa<MulOp, DivOp, ReduceSumOp, ReduceMeanOp>(user) &&
          user->getNumResults() == 1 && matchKd(user->getResult(0)))
        return failure();
    std::optional<KdMatch> match = matchKd(op.getResult());
    // The fused ops return a scalar of the logits' element type.
    if (!match || cast<RankedTensorType>(match->kl.studentLogits.getType()).getElementType() !=
                      cast<RankedTensorType>(op.getType()).getElementType())
      return failure();
    Value loss = buildAttentionTransfer(rewriter, op.getLoc(), *match);
    if (!loss)
      loss = buildKdLoss(rewriter, op.getLoc(), *match);
    if (!loss)
      return failure();
    rewriter.replaceOp(op, loss);
    return success();
  }
};

/// The boolean [batch, tokens] mask that `v` spreads to [batch, 1..., tokens]
/// (a reshape inserting unit axes between batch and tokens, casts to a
/// float before or after it, broadcasts), or null.
Value spreadMask(Value v) {
  while (true) {
    if (auto cast = v.getDefiningOp<CastOp>()) {
      v = cast.getInput();
      continue;
    }
    if (auto broadcast = v.getDefiningOp<BroadcastToOp>()) {
      v = broadcast.getInput();
      continue;
    }
    break;
  }
  auto reshape = v.getDefiningOp<ReshapeOp>();
  if (!reshape)
    return nullptr;
  Value mask = reshape.getInput();
  // The cast may come first (`mask.float()[:, None, :]`).
  if (auto cast = mask.getDefiningOp<CastOp>())
    mask = cast.getInput();
  auto maskType = cast<RankedTensorType>(mask.getType());
  ArrayRef<int64_t> spread = cast<RankedTensorType>(reshape.getType()).getShape();
  if (!maskType.getElementType().isInteger(1) || maskType.getRank() != 2 || spread.size() < 3 ||
      spread.front() != maskType.getDimSize(0) || spread.back() != maskType.getDimSize(1) ||
      llvm::any_of(spread.drop_front().drop_back(), [](int64_t d) { return d != 1; }))
    return nullptr;
  return mask;
}

/// `scores` = s plus BERT's additive mask, `(1 − m)·c` (c ≤ −1e4) or
/// `(m − 1)·c` (c ≥ 1e4), m the boolean mask as a float spread as [batch,
/// 1, 1, tokens]. Returns (s, mask).
std::optional<std::pair<Value, Value>> matchKeyBias(Value scores) {
  auto add = scores.getDefiningOp<AddOp>();
  if (!add)
    return std::nullopt;
  for (auto [kept, bias] : bothOrders(add)) {
    auto mul = bias.getDefiningOp<MulOp>();
    if (kept.getType() != add.getType() || !mul)
      continue;
    for (auto [difference, factor] : bothOrders(mul)) {
      std::optional<double> c = scalarConstant(factor);
      auto sub = difference.getDefiningOp<SubOp>();
      if (!c || !sub)
        continue;
      Value spread;
      if (scalarConstant(sub.getLhs()) == std::optional<double>(1.0) && *c <= -1e4)
        spread = sub.getRhs();
      else if (scalarConstant(sub.getRhs()) == std::optional<double>(1.0) && *c >= 1e4)
        spread = sub.getLhs();
      // m must be the boolean mask as 0/1 (a cast), over [batch, 1, 1, tokens].
      if (!spread || !spread.getDefiningOp<CastOp>() ||
          cast<RankedTensorType>(spread.getType()).getRank() != 4)
        continue;
      if (Value mask = spreadMask(spread))
        return std::make_pair(kept, mask);
    }
  }
  return std::nullopt;
}

/// `scores` with the keys a [batch, tokens] mask drops filled with a large
/// negative constant (at most −1e4, as BERT's attention masks: exp of it
/// is 0 in f32): `where(!mask, fill, s)` (masked_fill) or `where(mask, s,
/// fill)`, the mask spread as [batch, 1, 1, tokens]; or the additive mask
/// of matchKeyBias. Returns (s, mask).
std::optional<std::pair<Value, Value>> matchKeyMasked(Value scores) {
  auto where = scores.getDefiningOp<WhereOp>();
  if (!where)
    return matchKeyBias(scores);
  auto isFill = [](Value v) {
    std::optional<double> fill = scalarConstant(v);
    return fill && *fill <= -1e4;
  };
  Value condition = where.getCondition(), kept;
  if (auto negated = condition.getDefiningOp<LogicalNotOp>();
      negated && isFill(where.getLhs())) {
    condition = negated.getInput(), kept = where.getRhs();
  } else if (isFill(where.getRhs())) {
    kept = where.getLhs();
  }
  if (!kept || kept.getType() != where.getType() ||
      cast<RankedTensorType>(condition.getType()).getRank() != 4)
    return std::nullopt;
  Value mask = spreadMask(condition);
  if (!mask)
    return std::nullopt;
  return std::make_pair(kept, mask);
}

/// A sum over every axis, or null.
ReduceSumOp totalSum(Value v) {
  auto sum = v.getDefiningOp<ReduceSumOp>();
  if (!sum)
    return {};
  int64_t rank = cast<RankedTensorType>(sum.getInput().getType()).getRank();
  return sum.getAxes().empty() || int64_t(sum.getAxes().size()) == rank ? sum : ReduceSumOp();
}

/// MiniLM's attention transfer with padding, as frontends write it: KL over
/// keys of two attention distributions whose masked keys are filled with a
/// large negative score, summed per query row, weighted by the same mask
/// over queries, and divided by the weights' sum:
///
///   Σ KL_rows · m_q / Σ m_q     (m_q: mask [B, 1, N] or broadcast [B, H, N])
///
/// is attention_transfer_loss with that mask (a mean over heads and valid
/// queries) times H / (the weights' copies of the mask: H or 1).
struct FuseMaskedAttentionKl : OpRewritePattern<DivOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(DivOp op, PatternRewriter &rewriter) const override {
    ReduceSumOp total = totalSum(op.getLhs()), count = totalSum(op.getRhs());
    auto weighted = total ? total.getInput().getDefiningOp<MulOp>() : MulOp();
    if (cast<RankedTensorType>(op.getType()).getRank() != 0 || !count || !weighted)
      return rewriter.notifyMatchFailure(op, "not a weighted sum over a sum of weights");
    for (auto [rows, weight] : bothOrders(weighted)) {
      auto rowSums = rows.getDefiningOp<ReduceSumOp>();
      if (!rowSums || rowSums.getKeepdims() || rowSums.getAxes().size() != 1 ||
          !overLastAxis(rowSums.getAxes()[0], rowSums.getInput()))
        continue;
      // The weights [B, 1, N] or [B, H, N] line up with the rows [B, H, N].
      if (weighted.getType() != rows.getType() ||
          cast<RankedTensorType>(weight.getType()).getRank() != 3)
        continue;
      std::optional<KlTerms> kl = matchKlTerms(rowSums.getInput());
      Value mask = spreadMask(weight);
      if (!kl || !mask || spreadMask(count.getInput()) != mask ||
          kl->studentTemperature != 1.0 || kl->teacherTemperature != 1.0)
        continue;
      auto student = matchKeyMasked(kl->studentLogits);
      auto teacher = matchKeyMasked(kl->teacherLogits);
      if (!student || !teacher || student->second != mask || teacher->second != mask)
        continue;
      // The scores' own scaling (1/√d, or another temperature).
      auto [studentScores, studentT] = unscale(student->first);
      auto [teacherScores, teacherT] = unscale(teacher->first);
      auto studentQk = matchAttentionScores(studentScores);
      auto teacherQk = matchAttentionScores(teacherScores);
      if (!studentQk || !teacherQk)
        continue;
      auto queryType = cast<RankedTensorType>(studentQk->first.getType());
      auto teacherType = cast<RankedTensorType>(teacherQk->first.getType());
      auto maskType = cast<RankedTensorType>(mask.getType());
      // Rows [B, H, N] over the mask's batch and tokens.
      if (!queryType.hasStaticShape() || !maskType.hasStaticShape() ||
          !cast<RankedTensorType>(count.getInput().getType()).hasStaticShape() ||
          queryType.getShape().take_front(3) != teacherType.getShape().take_front(3) ||
          queryType.getElementType() != teacherType.getElementType() ||
          queryType.getDimSize(0) != maskType.getDimSize(0) ||
          queryType.getDimSize(2) != maskType.getDimSize(1) ||
          queryType.getElementType() != cast<RankedTensorType>(op.getType()).getElementType())
        continue;
      Location loc = op.getLoc();
      auto query = [&](Value q, double temperature) {
        double d = double(cast<RankedTensorType>(q.getType()).getShape().back());
        return scaled(rewriter, loc, q, std::sqrt(d) / temperature);
      };
      Value loss = AttentionTransferLossOp::create(
          rewriter, loc, query(studentQk->first, studentT), studentQk->second,
          query(teacherQk->first, teacherT), teacherQk->second, mask);
      double copies = double(cast<RankedTensorType>(count.getInput().getType()).getNumElements()) /
                      double(maskType.getNumElements());
      rewriter.replaceOp(op, scaled(rewriter, loc, loss, double(queryType.getDimSize(1)) / copies));
      return success();
    }
    return rewriter.notifyMatchFailure(op, "not masked attention transfer");
  }
};

/// `mse_loss(layer_norm(h), layer_norm(h_t))` (mean, both normalizations
/// over the last axis without affine parameters, one epsilon) is
/// feature_map_loss's first term; `h = h_s · W` with a [Ds, Dt] matrix W
/// becomes its projection.
struct FuseFeatureMapMse : OpRewritePattern<MseLossOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MseLossOp op, PatternRewriter &rewriter) const override {
    auto plainNorm = [](Value v) -> LayerNormOp {
      auto norm = v.getDefiningOp<LayerNormOp>();
      return norm && norm.getAffine().empty() && overLastAxis(norm.getAxis(), norm.getInput())
                 ? norm
                 : LayerNormOp();
    };
    LayerNormOp student = plainNorm(op.getInput()), teacher = plainNorm(op.getTarget());
    if (op.getReduction() != "mean" || !student || !teacher ||
        student.getEpsilon() != teacher.getEpsilon() ||
        student.getInput().getType() != teacher.getInput().getType())
      return failure();
    Value features = student.getInput(), projection;
    if (auto matmul = features.getDefiningOp<MatmulOp>();
        matmul && !matmul.getTransposeLhs() && !matmul.getTransposeRhs() &&
        cast<RankedTensorType>(matmul.getRhs().getType()).getRank() == 2 &&
        cast<RankedTensorType>(matmul.getLhs().getType()).getRank() >= 2) {
      features = matmul.getLhs();
      projection = matmul.getRhs();
    }
    rewriter.replaceOpWithNewOp<FeatureMapLossOp>(
        op, features, teacher.getInput(), projection, rewriter.getF64FloatAttr(1.0),
        rewriter.getF64FloatAttr(0.0), rewriter.getF64FloatAttr(0.0), student.getEpsilonAttr());
    return success();
  }
};

/// Whether `mean` reduces over exactly the last axis of its input.
bool reducesLastAxis(ReduceMeanOp mean) {
  int64_t rank = cast<RankedTensorType>(mean.getInput().getType()).getRank();
  ArrayRef<int64_t> axes = mean.getAxes();
  return rank > 0 && axes.size() == 1 && (axes[0] == -1 || axes[0] == rank - 1);
}

/// h of `reduce_mean(h)` over the last axis (per-token means), or null.
Value tokenMeanOf(Value v) {
  auto mean = v.getDefiningOp<ReduceMeanOp>();
  return mean && reducesLastAxis(mean) ? mean.getInput() : Value();
}

/// x of `x · x` or `x ^ 2`, or null.
Value squareOf(Value v) {
  if (auto mul = v.getDefiningOp<MulOp>(); mul && mul.getLhs() == mul.getRhs())
    return mul.getLhs();
  if (auto pow = v.getDefiningOp<PowOp>())
    if (auto exponent = scalarConstant(pow.getRhs()); exponent && *exponent == 2.0)
      return pow.getLhs();
  return nullptr;
}

/// h of its biased per-token variance `mean((h − mean(h, keepdims))²)`
/// over the last axis, or null.
Value tokenVarianceOf(Value v) {
  auto mean = v.getDefiningOp<ReduceMeanOp>();
  if (!mean || !reducesLastAxis(mean))
    return nullptr;
  auto deviation = squareOf(mean.getInput()).getDefiningOp<SubOp>();
  if (!deviation)
    return nullptr;
  auto center = deviation.getRhs().getDefiningOp<ReduceMeanOp>();
  if (!center || !center.getKeepdims() || !reducesLastAxis(center) ||
      center.getInput() != deviation.getLhs())
    return nullptr;
  return deviation.getLhs();
}

/// A scalar term of a hidden-state loss, weighted.
struct FeatureTerm {
  enum Kind { Loss, Mean, Variance } kind;
  Value leaf; ///< The term's value in the sum.
  double weight;
  /// Loss: the fused loss; Mean/Variance: the two features compared.
  FeatureMapLossOp loss;
  Value a, b;
};

/// Classifies `v` (already stripped of its weight): a feature_map_loss, a
/// mean term (`mse_loss` or mean of squared differences of per-token
/// means), or a variance term (mean absolute difference of biased per-token
/// variances).
std::optional<FeatureTerm> classifyFeatureTerm(Value v, double weight) {
  if (auto loss = v.getDefiningOp<FeatureMapLossOp>())
    return FeatureTerm{FeatureTerm::Loss, v, weight, loss, {}, {}};
  auto pairOf = [](Value x, Value y, auto of) -> std::optional<std::pair<Value, Value>> {
    Value hx = of(x), hy = of(y);
    if (!hx || !hy || x.getType() != y.getType())
      return std::nullopt;
    return std::make_pair(hx, hy);
  };
  if (auto mse = v.getDefiningOp<MseLossOp>(); mse && mse.getReduction() == "mean")
    if (auto pair = pairOf(mse.getInput(), mse.getTarget(), tokenMeanOf))
      return FeatureTerm{FeatureTerm::Mean, v, weight, {}, pair->first, pair->second};
  auto mean = v.getDefiningOp<ReduceMeanOp>();
  if (!mean || !mean.getAxes().empty() || cast<RankedTensorType>(v.getType()).getRank() != 0)
    return std::nullopt;
  Value terms = mean.getInput();
  if (auto difference = squareOf(terms).getDefiningOp<SubOp>())
    if (auto pair = pairOf(difference.getLhs(), difference.getRhs(), tokenMeanOf))
      return FeatureTerm{FeatureTerm::Mean, v, weight, {}, pair->first, pair->second};
  if (auto abs = terms.getDefiningOp<AbsOp>())
    if (auto difference = abs.getInput().getDefiningOp<SubOp>())
      if (auto pair = pairOf(difference.getLhs(), difference.getRhs(), tokenVarianceOf))
        return FeatureTerm{FeatureTerm::Variance, v, weight, {}, pair->first, pair->second};
  return std::nullopt;
}

/// The (weighted) leaves of a sum: adds descended, constant factors
/// (`c · x`, `x · c`, `x / c`) folded into the weights.
void collectSumLeaves(Value v, double weight, SmallVectorImpl<std::pair<Value, double>> &out) {
  if (auto add = v.getDefiningOp<AddOp>(); add && add.getType() == add.getLhs().getType() &&
                                           add.getType() == add.getRhs().getType()) {
    collectSumLeaves(add.getLhs(), weight, out);
    collectSumLeaves(add.getRhs(), weight, out);
    return;
  }
  if (auto mul = v.getDefiningOp<MulOp>()) {
    for (auto [x, c] : bothOrders(mul))
      if (auto factor = scalarConstant(c); factor && x.getType() == v.getType()) {
        collectSumLeaves(x, weight * *factor, out);
        return;
      }
  }
  if (auto div = v.getDefiningOp<DivOp>())
    if (auto c = scalarConstant(div.getRhs());
        c && *c != 0.0 && div.getLhs().getType() == v.getType()) {
      collectSumLeaves(div.getLhs(), weight / *c, out);
      return;
    }
  out.emplace_back(v, weight);
}

/// The features a feature_map_loss's terms are about: the student's
/// (projected, when it has a projection) and the teacher's.
bool comparesFeaturesOf(const FeatureTerm &term, FeatureMapLossOp loss) {
  auto isStudent = [&](Value h) {
    if (!loss.getProjection())
      return h == loss.getStudent();
    auto matmul = h.getDefiningOp<MatmulOp>();
    return matmul && matmul.getLhs() == loss.getStudent() &&
           matmul.getRhs() == loss.getProjection() && !matmul.getTransposeLhs() &&
           !matmul.getTransposeRhs();
  };
  Value teacher = loss.getTeacher();
  return (isStudent(term.a) && term.b == teacher) || (isStudent(term.b) && term.a == teacher);
}

/// A sum of weighted terms over the same hidden states, `α·feature_map_loss
/// + β·mse_loss(mean(h), mean(h_t)) + γ·mean(|var(h_t) − var(h)|)` (per-token
/// means and biased variances over the hidden axis; the first term as
/// --ube-fuse-distillation makes it of `mse_loss(LN(h), LN(h_t))`), is one
/// feature_map_loss with those α, β, γ. Other terms of the sum stay, added.
struct FuseFeatureMapTerms : OpRewritePattern<AddOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AddOp op, PatternRewriter &rewriter) const override {
    auto type = cast<RankedTensorType>(op.getType());
    if (type.getRank() != 0)
      return failure();
    // The outermost add of a sum only.
    if (op->hasOneUse() && isa<AddOp, MulOp, DivOp>(*op->user_begin()) &&
        (*op->user_begin())->getResult(0).getType() == type)
      return failure();
    SmallVector<std::pair<Value, double>> leaves;
    collectSumLeaves(op, 1.0, leaves);
    SmallVector<FeatureTerm> terms;
    SmallVector<std::pair<Value, double>> others;
    for (auto [leaf, weight] : leaves) {
      if (auto term = classifyFeatureTerm(leaf, weight))
        terms.push_back(*term);
      else
        others.emplace_back(leaf, weight);
    }
    // The loss the mean and variance terms join: the first whose features
    // they compare.
    FeatureMapLossOp loss;
    for (const FeatureTerm &term : terms)
      if (term.kind == FeatureTerm::Loss) {
        loss = term.loss;
        break;
      }
    if (!loss)
      return rewriter.notifyMatchFailure(op, "no feature_map_loss in the sum");
    double alpha = 0, beta = 0, gamma = 0;
    int joined = 0;
    for (FeatureTerm &term : terms) {
      bool same = term.kind == FeatureTerm::Loss
                      ? term.loss.getStudent() == loss.getStudent() &&
                            term.loss.getTeacher() == loss.getTeacher() &&
                            term.loss.getProjection() == loss.getProjection() &&
                            term.loss.getEpsilon() == loss.getEpsilon()
                      : comparesFeaturesOf(term, loss);
      if (!same) {
        others.emplace_back(term.leaf, term.weight);
        continue;
      }
      ++joined;
      if (term.kind == FeatureTerm::Loss) {
        alpha += term.weight * term.loss.getAlpha().convertToDouble();
        beta += term.weight * term.loss.getBeta().convertToDouble();
        gamma += term.weight * term.loss.getGamma().convertToDouble();
      } else {
        (term.kind == FeatureTerm::Mean ? beta : gamma) += term.weight;
      }
    }
    if (joined < 2)
      return rewriter.notifyMatchFailure(op, "no term to join the feature_map_loss");
    Value result = FeatureMapLossOp::create(
        rewriter, op.getLoc(), loss.getStudent(), loss.getTeacher(), loss.getProjection(),
        rewriter.getF64FloatAttr(alpha), rewriter.getF64FloatAttr(beta),
        rewriter.getF64FloatAttr(gamma), loss.getEpsilonAttr());
    for (auto [leaf, weight] : others)
      result = AddOp::create(rewriter, op.getLoc(), result,
                             scaled(rewriter, op.getLoc(), leaf, weight));
    rewriter.replaceOp(op, result);
    return success();
  }

};

/// `kd_loss` of two output projections without bias (`linear(h, W)` with W
/// [V, D], or `matmul(h, W)` transposing W), each used only by this loss,
/// is `projected_kd_loss`: its lowering never builds the logits.
struct FuseProjectedKd : OpRewritePattern<KdLossOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(KdLossOp op, PatternRewriter &rewriter) const override {
    auto projection = [&](Value logits) -> std::pair<Value, Value> {
      if (!logits.hasOneUse())
        return {};
      if (auto linear = logits.getDefiningOp<LinearOp>(); linear && !linear.getBias())
        return {linear.getInput(), linear.getWeight()};
      if (auto matmul = logits.getDefiningOp<MatmulOp>();
          matmul && !matmul.getTransposeLhs() && matmul.getTransposeRhs() &&
          cast<RankedTensorType>(matmul.getRhs().getType()).getRank() == 2)
        return {matmul.getLhs(), matmul.getRhs()};
      return {};
    };
    auto [studentHidden, studentWeight] = projection(op.getStudentLogits());
    auto [teacherHidden, teacherWeight] = projection(op.getTeacherLogits());
    if (!studentHidden || !teacherHidden ||
        UbeBuilder::typeOf(studentHidden).getRank() < 2 ||
        UbeBuilder::typeOf(teacherHidden).getRank() < 2)
      return rewriter.notifyMatchFailure(op, "the logits are not two bias-free projections");
    rewriter.replaceOpWithNewOp<ProjectedKdLossOp>(
        op, studentHidden, studentWeight, teacherHidden, teacherWeight, op.getLabels(),
        op.getTemperatureAttr(), op.getScaleByTemperatureSquaredAttr(), op.getAlphaAttr(),
        op.getIgnoreIndexAttr());
    return success();
  }
};

struct UbeFuseDistillationPass : ube::impl::UbeFuseDistillationBase<UbeFuseDistillationPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseKlLossAt<MulOp>, FuseKlLossAt<DivOp>, FuseKlLossAt<ReduceSumOp>,
                 FuseKlLossAt<ReduceMeanOp>, FuseMaskedAttentionKl, FuseFeatureMapMse,
                 FuseFeatureMapTerms, FuseProjectedKd>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
