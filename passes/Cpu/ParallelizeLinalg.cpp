//===- ParallelizeLinalg.cpp - linalg ops as parallel tasks ---------------===//
//
// Each top-level linalg op on tensors with enough work is tiled along its
// parallel loops, outermost first, into an scf.forall (upstream
// tileUsingSCF): tile size 1 while the task count stays at most
// `max-tasks`, then one split of the next parallel loop up to it, stopping
// once there are `min-tasks`. Reduction loops are never split (a parallel
// loop inside one is tiled past it: batch norm's per-channel sums over
// [N, C, H, W] are tasks of channels), so every output element is computed
// the same way whichever thread runs its task. An op with symbolic loop ranges
// gets the same split computed at run time from its ranges: tile sizes are
// index values before the op. --ube-cpu-outline-parallel-loops then
// hands the foralls to the runtime's thread pool; being separate functions,
// they also keep the entry point small for LLVM.
//
//===----------------------------------------------------------------------===//

#include "passes/Cpu/Passes.h"

#include "passes/Utils/KernelBuilding.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/IR/PatternMatch.h"

namespace ube {
#define GEN_PASS_DEF_UBECPUPARALLELIZELINALG
#include "passes/Cpu/Passes.h.inc"
} // namespace ube

using namespace mlir;

namespace {

struct UbeCpuParallelizeLinalgPass
    : ube::impl::UbeCpuParallelizeLinalgBase<UbeCpuParallelizeLinalgPass> {
  using Base::Base;

  /// Tile sizes (0: not tiled) for `op`, or empty when it stays whole.
  SmallVector<int64_t> tileSizes(linalg::LinalgOp op) {
    SmallVector<int64_t> ranges = op.getStaticLoopRanges();
    if (ranges.empty() || ShapedType::isDynamicShape(ranges))
      return {};
    int64_t work = 1;
    for (int64_t range : ranges)
      work *= range;
    if (work < minWork)
      return {};
    SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
    SmallVector<int64_t> sizes(ranges.size(), 0);
    int64_t tasks = 1;
    for (size_t d = 0; d < ranges.size() && tasks < minTasks; ++d) {
      if (iterators[d] != utils::IteratorType::parallel || ranges[d] <= 1)
        continue;
      if (tasks * ranges[d] <= maxTasks) {
        sizes[d] = 1;
        tasks *= ranges[d];
        continue;
      }
      int64_t parts = std::max<int64_t>(2, maxTasks / tasks);
      sizes[d] = llvm::divideCeil(ranges[d], parts);
      tasks *= llvm::divideCeil(ranges[d], sizes[d]);
      break;
    }
    if (tasks < 2)
      return {};
    return sizes;
  }

  /// tileSizes' split for loop ranges some of which are symbolic: the same
  /// decisions as selects on index values built before `op` (a split
  /// dimension's tile size is its range over its parts); a range of 1
  /// takes 1 part, and an op with fewer than `min-work` iterations at run
  /// time takes 1 part everywhere. Empty when nothing can be split.
  SmallVector<OpFoldResult> symbolicTileSizes(ImplicitLocOpBuilder &b, linalg::LinalgOp op) {
    ube::IndexMath x(b);
    SmallVector<OpFoldResult> sizes;
    SmallVector<Value> ranges;
    for (Range range : op.createLoopRanges(b, b.getLoc()))
      ranges.push_back(getValueOrCreateConstantIndexOp(b, b.getLoc(), range.size));
    Value work = x.c(1);
    for (Value range : ranges)
      work = x.mul(work, range);
    Value one = x.c(1);
    // Whether a dimension is still split: enough work, and no split of a
    // whole dimension into parts so far (after one, the rest stay whole).
    Value active = b.createOrFold<arith::CmpIOp>(arith::CmpIPredicate::uge, work, x.c(minWork));
    Value tasks = one;
    SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
    bool split = false;
    for (auto [d, range] : llvm::enumerate(ranges)) {
      if (iterators[d] != utils::IteratorType::parallel) {
        sizes.push_back(b.getIndexAttr(0));
        continue;
      }
      active = x.andI(active, x.lt(tasks, x.c(minTasks)));
      Value whole = x.lt(x.mul(tasks, range), x.c(maxTasks + 1));
      Value parts = x.select(whole, range, x.max(x.c(2), x.div(x.c(maxTasks), tasks)));
      parts = x.max(one, x.min(x.select(active, parts, one), range));
      Value size = x.ceilDiv(range, parts);
      sizes.push_back(getAsOpFoldResult(size));
      std::optional<int64_t> knownSize = x.constant(size);
      split |= !knownSize || knownSize != x.constant(range);
      tasks = x.mul(tasks, x.ceilDiv(range, size));
      active = x.andI(active, whole);
    }
    if (!split)
      return {};
    sizes.resize(ranges.size(), b.getIndexAttr(0));
    return sizes;
  }

  void runOnOperation() override {
    SmallVector<linalg::LinalgOp> ops;
    for (Operation &op : getOperation().getBody().front())
      if (auto linalgOp = dyn_cast<linalg::LinalgOp>(op))
        if (linalgOp.hasPureTensorSemantics())
          ops.push_back(linalgOp);
    IRRewriter rewriter(&getContext());
    for (linalg::LinalgOp op : ops) {
      rewriter.setInsertionPoint(op);
      SmallVector<OpFoldResult> sizes;
      if (ShapedType::isDynamicShape(op.getStaticLoopRanges())) {
        ImplicitLocOpBuilder b(op.getLoc(), rewriter);
        sizes = symbolicTileSizes(b, op);
      } else {
        sizes = getAsIndexOpFoldResult(&getContext(), tileSizes(op));
      }
      if (sizes.empty())
        continue;
      scf::SCFTilingOptions options;
      options.setLoopType(scf::SCFTilingOptions::LoopType::ForallOp);
      options.setTileSizes(sizes);
      FailureOr<scf::SCFTilingResult> tiled =
          scf::tileUsingSCF(rewriter, cast<TilingInterface>(op.getOperation()), options);
      if (failed(tiled))
        continue; // Left whole: still correct, only serial.
      rewriter.replaceOp(op, tiled->replacements);
    }
  }
};

} // namespace
