//===- FuseAttention.cpp - attention spelled out -> one op ----------------===//
//
// Models written before scaled_dot_product_attention (BERT's and GPT-2's
// "eager" attention, hand-written encoders) spell it out:
//   softmax(q · kᵀ · c + mask, -1) · v      (or q · kᵀ / c)
// which exports as matmul, mul or div, add, softmax, matmul. As one
// ube.scaled_dot_product_attention it runs flash-style past a few hundred
// keys (no [L, S] scores in the forward or the backward) and
// differentiates by the op's rule.
//
// What must hold: the softmax over the last axis, used only by the product
// with v, and each step between q · kᵀ and it used only by the next; c a
// scalar constant; the mask a float tensor that broadcasts to the scores.
// A dropout of the probabilities (training) becomes the op's dropout_p.
// Anything else (the probabilities read by a distillation loss) is left
// alone.
//
//===----------------------------------------------------------------------===//

#include "passes/Graph/Passes.h"

#include "dialects/ube/UbeOps.h"
#include "passes/Graph/GraphMatchers.h"

#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace ube {
#define GEN_PASS_DEF_UBEFUSEATTENTION
#include "passes/Graph/Passes.h.inc"
} // namespace ube

using namespace mlir;
using namespace ube;

namespace {

struct FuseAttention : OpRewritePattern<MatmulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MatmulOp op, PatternRewriter &rewriter) const override {
    if (op.getTransposeLhs() || op.getTransposeRhs())
      return failure();
    Value probabilities = op.getLhs();
    auto dropout = probabilities.getDefiningOp<DropoutOp>();
    if (dropout && (!dropout->hasOneUse() || dropout.getCounterShape()))
      return failure();
    if (dropout)
      probabilities = dropout.getInput();
    auto softmax = probabilities.getDefiningOp<SoftmaxOp>();
    if (!softmax || !softmax->hasOneUse())
      return failure();
    auto type = cast<RankedTensorType>(softmax.getType());
    if (softmax.getAxis() != -1 && softmax.getAxis() != type.getRank() - 1)
      return failure();
    Value scores = softmax.getInput(), mask;
    // + mask (either operand), when it broadcasts to the scores.
    if (auto add = scores.getDefiningOp<AddOp>(); add && add->hasOneUse()) {
      for (auto [lhs, rhs] : bothOrders(add)) {
        if (lhs.getType() == add.getType() && matchScaledScores(lhs)) {
          scores = lhs, mask = rhs;
          break;
        }
      }
      if (!mask)
        return failure();
    }
    auto scaled = matchScaledScores(scores);
    if (!scaled)
      return failure();
    auto [query, key, scale] = *scaled;
    Value value = op.getRhs();
    // What the op needs beyond what the products already guarantee: keys and
    // values of the same rows, key heads dividing the query heads.
    auto queryType = cast<RankedTensorType>(query.getType());
    auto keyType = cast<RankedTensorType>(key.getType());
    auto valueType = cast<RankedTensorType>(value.getType());
    int64_t rank = queryType.getRank();
    if (rank < 2 || keyType.getRank() != rank || valueType.getRank() != rank ||
        valueType.getShape().drop_back() != keyType.getShape().drop_back() ||
        keyType.getElementType() != queryType.getElementType() ||
        valueType.getElementType() != queryType.getElementType() ||
        (mask && getElementTypeOrSelf(mask.getType()) != queryType.getElementType()))
      return failure();
    if (rank >= 3) {
      int64_t queryHeads = queryType.getDimSize(rank - 3), keyHeads = keyType.getDimSize(rank - 3);
      if (ShapedType::isDynamic(keyHeads) || ShapedType::isDynamic(queryHeads)
              ? queryHeads != keyHeads
              : queryHeads % keyHeads != 0)
        return failure();
    }
    auto fused = ScaledDotProductAttentionOp::create(
        rewriter, op.getLoc(), op.getType(), query, key, value, mask,
        dropout ? dropout.getStep() : Value(), rewriter.getBoolAttr(false),
        rewriter.getF64FloatAttr(scale), rewriter.getF64FloatAttr(dropout ? dropout.getRate().convertToDouble() : 0.0),
        rewriter.getI64IntegerAttr(dropout ? dropout.getSeed() : 0));
    rewriter.replaceOp(op, fused.getResult());
    return success();
  }

  /// (q, k, c) of `q · kᵀ · c` or `q · kᵀ / c` (c = 1 without either), each
  /// intermediate used once.
  static std::optional<std::tuple<Value, Value, double>> matchScaledScores(Value v) {
    double scale = 1.0;
    if (auto mul = v.getDefiningOp<MulOp>(); mul && mul->hasOneUse()) {
      for (auto [lhs, rhs] : bothOrders(mul))
        if (auto c = scalarConstant(rhs); c && lhs.getType() == mul.getType()) {
          scale = *c, v = lhs;
          break;
        }
    } else if (auto div = v.getDefiningOp<DivOp>(); div && div->hasOneUse()) {
      if (auto c = scalarConstant(div.getRhs()); c && *c != 0.0)
        scale = 1.0 / *c, v = div.getLhs();
    }
    if (!v.hasOneUse())
      return std::nullopt;
    auto product = matchQueryKeyProduct(v);
    if (!product)
      return std::nullopt;
    return std::make_tuple(product->first, product->second, scale);
  }
};

struct UbeFuseAttentionPass : ube::impl::UbeFuseAttentionBase<UbeFuseAttentionPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseAttention>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
