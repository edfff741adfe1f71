//===- UbeAttention.h - attention in primitive ube ops ----------*- C++ -*-===//
//
// ube.scaled_dot_product_attention spelled in primitive ube ops: what its
// decomposition (passes/Decompose.cpp) computes and what its gradient
// (ube.scaled_dot_product_attention_grad's decomposition) recomputes, so
// the two cannot drift apart.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_DIALECTS_UBE_UBEATTENTION_H
#define UBE_DIALECTS_UBE_UBEATTENTION_H

#include "dialects/ube/UbeBuilder.h"

#include <string>

namespace ube {

/// The operands and attributes of attention, from the forward op or from
/// its gradient.
struct AttentionOperands {
  AttentionOperands(ScaledDotProductAttentionOp op);
  AttentionOperands(ScaledDotProductAttentionGradOp op);
  /// Attention without a causal mask or dropout (one side of an attention
  /// loss); the result [..., L, Ev] has the query's element type.
  AttentionOperands(Value query, Value key, Value value, Value mask, double scale);
  double dropoutRate() const { return dropoutP ? dropoutP.getValueAsDouble() : 0.0; }

  Value query, key, value, mask, step; // mask, step: null when absent
  bool isCausal = false;
  double scale = 1.0;
  mlir::FloatAttr dropoutP; // null: no dropout
  mlir::IntegerAttr seed;
  mlir::RankedTensorType resultType;
};

/// The attention of one op. Grouped-query heads are handled by viewing the
/// query as [..., Hk, G, L, E] and the key and value as [..., Hk, 1, S, *]:
/// the products broadcast over the G query heads of a group, so keys and
/// values are never copied. Without groups the views are the operands.
///
/// Past kFlashKeys keys (static sizes), flash-style: queries and keys in
/// blocks, the forward keeping per query row the running maximum, the sum
/// of exponentials and the unnormalized output, rescaled as each key block
/// arrives; the backward recomputing each block's probabilities from the
/// row's log-sum-exp. No [L, S] tensor exists, only [query block, key
/// block] ones, and a causal mask skips the blocks above the diagonal. Up
/// to kFlashKeys keys the scores are one matrix and one softmax.
class AttentionComposition {
public:
  AttentionComposition(UbeBuilder &u, const AttentionOperands &att);

  /// What of `op` the composition cannot take on its symbolic sizes (a
  /// causal mask of a symbolic length, a symbolic number of heads); empty
  /// when it can.
  static std::string unsupported(const AttentionOperands &att);

  /// The op's result: the probabilities times the values.
  Value output();
  /// The gradients of query, key, value and a float mask (null for a
  /// boolean mask) given `g`, the gradient of the result. Each is built
  /// only where it is used: the others are dead ops.
  void gradients(Value g, mlir::SmallVectorImpl<Value> &grads);

  static constexpr int64_t kFlashKeys = 256, kMinBlock = 128, kMaxBlocks = 8;

private:
  /// [begin, end) of a block of query rows or of keys.
  using Block = std::pair<int64_t, int64_t>;
  /// Whether the keys are walked in blocks (flash-style).
  bool blocked() const;
  /// Blocks of `size` (kMinBlock, larger so there are at most kMaxBlocks);
  /// one block of all when symbolic.
  static SmallVector<Block> blocks(int64_t size);
  /// The key blocks query block `rows` sees (a causal mask hides the
  /// ones wholly after its last row).
  SmallVector<Block> visibleKeys(Block rows);
  /// The scores of query rows `rows` against keys `cols`: scaled, masked
  /// (-inf where a boolean or causal mask drops a key), clamped to the
  /// lowest finite float where there is a mask, so a row without keys
  /// stays finite. `recomputed` builds the product differently (keys
  /// transposed first) so that CSE does not keep the forward's blocks
  /// alive until the backward.
  Value scores(Block rows, Block cols, bool recomputed = false);
  /// `p`, the probabilities of `rows` x `cols` or (without blocks) all of
  /// them, through the op's dropout: each element keyed by its index in the
  /// whole [..., L, S]. `p` itself when there is no dropout.
  Value dropped(Value p, std::optional<std::pair<Block, Block>> block = std::nullopt);
  /// The float mask's part for `rows` x `cols` (what broadcasts stays).
  Value maskBlock(Block rows, Block cols);
  /// Under a causal mask: whether no query of `rows` sees a key of `cols`,
  /// and whether every query sees every key (neither is known of a block
  /// that ends at a symbolic size, which is then biased element by element).
  bool hidden(Block rows, Block cols) const;
  bool visible(Block rows, Block cols) const;
  /// The causal bias of `rows` x `cols`: 0 where query i sees key j (j <= i),
  /// else the lowest float. A constant, or computed from the positions at
  /// run time where a block ends at a symbolic size.
  Value causalBias(Block rows, Block cols);
  /// The flash forward's statistics of query block `rows`: running max
  /// and sum of exponentials, and the unnormalized output, all f32.
  struct Statistics {
    Value max, sum, output;
  };
  Statistics statistics(Block rows);
  /// Rows that attend to no key (every score masked) get zeros, as in
  /// PyTorch: where `max` (each row's largest score) says so under a mask,
  /// else `x` unchanged.
  Value zeroedWithoutKeys(Value x, Value max);
  /// The same for rows of all queries, from the mask alone unless a causal
  /// mask hides keys too (then from `scores()`, all of them).
  Value zeroedWithoutKeys(Value x, mlir::function_ref<Value()> scores);
  /// The rows of `x` (a grouped [..., L, *] view) in `rows`.
  Value rowsOf(Value x, Block rows);

  /// `x` (shaped like an operand whose heads sit at dimension rank-3) in
  /// the grouped view: heads split into [heads / groupSize, groupSize].
  Value grouped(Value x, int64_t groupSize);
  /// A gradient in the grouped view of `operand`'s shape, summed over what
  /// was broadcast and reshaped to the operand's shape.
  Value ungrouped(Value grad, Value operand, Value groupedOperand);
  /// `x` (computed in f32) in `elementType`.
  Value narrowed(Value x, Type elementType);

  UbeBuilder &u;
  AttentionOperands att;
  int64_t groups = 1;
  Value query, key, value, mask; // grouped f32 views; `query` scaled
  bool boolMask = false;         // `mask` is a boolean keep-mask (not added)
  int64_t queries = 0, keys = 0; // L and S
};

} // namespace ube

#endif // UBE_DIALECTS_UBE_UBEATTENTION_H
