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

#include "passes/Passes.h"

#include "dialects/ube/UbeOps.h"

#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>
#include <optional>

namespace ube {
#define GEN_PASS_DEF_UBEFUSEDISTILLATION
#include "passes/Passes.h.inc"
} // namespace ube

using namespace mlir;
using namespace ube;

namespace {

/// The value of a constant with a single element (any shape), as a double.
std::optional<double> scalarConstant(Value value) {
  DenseElementsAttr attr;
  if (!matchPattern(value, m_Constant(&attr)) || attr.getNumElements() != 1 ||
      !isa<FloatType>(attr.getElementType()))
    return std::nullopt;
  return (*attr.getValues<APFloat>().begin()).convertToDouble();
}

/// `x` as the logits divided by a constant temperature: `z / T`, `z * (1/T)`
/// or `z` itself (T = 1).
std::pair<Value, double> unscale(Value x) {
  if (auto div = x.getDefiningOp<DivOp>())
    if (auto t = scalarConstant(div.getRhs()); t && *t > 0)
      return {div.getLhs(), *t};
  if (auto mul = x.getDefiningOp<MulOp>()) {
    for (auto [z, c] : {std::pair(mul.getLhs(), mul.getRhs()), {mul.getRhs(), mul.getLhs()}})
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
  double temperature;
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
  for (auto [weight, difference] :
       {std::pair(mul.getLhs(), mul.getRhs()), {mul.getRhs(), mul.getLhs()}}) {
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
    } else if (auto exp = weight.getDefiningOp<ExpOp>();
               exp && exp.getInput() == logTeacher) {
      teacherScaled = lastAxisInput<LogSoftmaxOp>(logTeacher);
    }
    if (!teacherScaled)
      continue;
    auto [student, studentT] = unscale(studentScaled);
    auto [teacher, teacherT] = unscale(teacherScaled);
    if (student.getType() != teacher.getType() ||
        std::abs(studentT - teacherT) > 1e-9 * teacherT)
      continue;
    return KlTerms{student, teacher, teacherT, weight};
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

/// Rewrites the root of a matched loss (the last mul/div/reduction) to
/// kd_loss, times a constant where the factor is not 1 or T².
template <typename RootOp>
struct FuseKdLossAt : OpRewritePattern<RootOp> {
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
    if (!match)
      return failure();
    auto logits = cast<RankedTensorType>(match->kl.studentLogits.getType());
    double rows = double(logits.getNumElements() / std::max<int64_t>(1, logits.getShape().back()));
    // factor · Σ_rows KL_r = (factor · R) · mean_rows KL_r.
    double scale = match->factor * rows;
    double t = match->kl.temperature;
    bool byTemperatureSquared = std::abs(scale - t * t) <= 1e-6 * t * t;
    Location loc = op.getLoc();
    Value loss = KdLossOp::create(rewriter, loc, match->kl.studentLogits,
                                  match->kl.teacherLogits, /*labels=*/Value(),
                                  rewriter.getF64FloatAttr(t),
                                  rewriter.getBoolAttr(byTemperatureSquared),
                                  rewriter.getF64FloatAttr(0.0),
                                  rewriter.getI64IntegerAttr(-100));
    if (!byTemperatureSquared && std::abs(scale - 1.0) > 1e-12) {
      auto type = cast<RankedTensorType>(loss.getType());
      Value c = ConstantOp::create(
          rewriter, loc, type,
          DenseElementsAttr::get(type, rewriter.getFloatAttr(type.getElementType(), scale)));
      loss = MulOp::create(rewriter, loc, loss, c);
    }
    if (loss.getType() != op.getType())
      return failure();
    rewriter.replaceOp(op, loss);
    return success();
  }
};

struct UbeFuseDistillationPass : ube::impl::UbeFuseDistillationBase<UbeFuseDistillationPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseKdLossAt<MulOp>, FuseKdLossAt<DivOp>, FuseKdLossAt<ReduceSumOp>,
                 FuseKdLossAt<ReduceMeanOp>>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
