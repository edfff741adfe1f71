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
// index values before the op; an elementwise one first has its trailing
// loops collapsed where its operands allow (a plane's rows into one loop).
// --ube-cpu-outline-parallel-loops then hands the foralls to the runtime's
// thread pool; being separate functions, they also keep the entry point
// small for LLVM.
//
//===----------------------------------------------------------------------===//

#include "passes/Cpu/Passes.h"

#include "passes/Utils/KernelBuilding.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
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

  /// `generic` with its inputs' unit dimensions read at index 0 (a
  /// per-channel [1, C, 1, 1] operand of map (0, d1, 0, 0)) collapsed away
  /// ([C], map (d1)), as collapseOpIterationDims takes maps of loop
  /// dimensions only. Fails where some map has other constants.
  LogicalResult dropBroadcastUnitDims(IRRewriter &rewriter, linalg::GenericOp &generic) {
    SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
    // The inputs to collapse, with their groups; nothing is built until all
    // are known to allow it.
    SmallVector<std::pair<unsigned, SmallVector<ReassociationIndices>>> collapses;
    for (OpOperand &operand : generic->getOpOperands()) {
      unsigned index = operand.getOperandNumber();
      AffineMap map = maps[index];
      if (map.isProjectedPermutation())
        continue;
      auto type = dyn_cast<RankedTensorType>(operand.get().getType());
      if (!type || generic.isDpsInit(&operand))
        return failure();
      // Each kept dimension takes the unit ones before it into its group;
      // unit ones after the last kept one join that last group (all unit
      // dimensions: a scalar, no groups).
      SmallVector<AffineExpr> kept;
      SmallVector<ReassociationIndices> groups;
      ReassociationIndices pending;
      for (auto [d, expr] : llvm::enumerate(map.getResults())) {
        auto constant = dyn_cast<AffineConstantExpr>(expr);
        pending.push_back(d);
        if (constant && constant.getValue() == 0 && type.getDimSize(d) == 1)
          continue;
        if (!isa<AffineDimExpr>(expr))
          return failure();
        groups.push_back(pending);
        pending.clear();
        kept.push_back(expr);
      }
      if (!groups.empty())
        llvm::append_range(groups.back(), pending);
      maps[index] = AffineMap::get(map.getNumDims(), 0, kept, generic.getContext());
      collapses.push_back({index, groups});
    }
    if (collapses.empty())
      return success();
    SmallVector<Value> inputs(generic.getInputs());
    for (auto &[index, groups] : collapses)
      inputs[index] = tensor::CollapseShapeOp::create(rewriter, generic.getLoc(),
                                                      inputs[index], groups);
    auto rebuilt = linalg::GenericOp::create(
        rewriter, generic.getLoc(), generic.getResultTypes(), inputs, generic.getOutputs(),
        maps, generic.getIteratorTypesArray());
    rewriter.inlineRegionBefore(generic.getRegion(), rebuilt.getRegion(),
                                rebuilt.getRegion().begin());
    rewriter.replaceOp(generic, rebuilt.getResults());
    generic = rebuilt;
    return success();
  }

  /// An elementwise generic op of symbolic loop ranges with its trailing
  /// loops collapsed into one where every operand reads them contiguously
  /// or not at all ([N, C, H, W] with per-channel operands: [N, C, H·W]):
  /// the inner loop that LLVM vectorizes is then the whole run of a plane,
  /// not a row of a width known only at run time (a 7-wide row is all
  /// remainder). Static ranges keep their loops: their trip counts are
  /// known, and the rows unrolled.
  linalg::LinalgOp collapseTrailingLoops(IRRewriter &rewriter, linalg::LinalgOp op) {
    auto generic = dyn_cast<linalg::GenericOp>(op.getOperation());
    if (!generic || generic.getNumLoops() < 2 ||
        generic.getNumParallelLoops() != generic.getNumLoops() ||
        !ShapedType::isDynamicShape(op.getStaticLoopRanges()) ||
        !generic.getBody()->getOps<linalg::IndexOp>().empty())
      return op;
    // A returned result stays in its shape: the reshape back would be copied
    // into the output buffer where the result was written in place.
    for (Operation *user : generic->getUsers())
      if (isa<func::ReturnOp>(user))
        return op;
    if (failed(dropBroadcastUnitDims(rewriter, generic)))
      return op;
    op = generic;
    SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
    int64_t last = generic.getNumLoops() - 1, first = last;
    while (first > 0) {
      ReassociationIndices run;
      for (int64_t d = first - 1; d <= last; ++d)
        run.push_back(d);
      if (!linalg::areDimSequencesPreserved(maps, {run}))
        break;
      --first;
    }
    if (first == last)
      return op;
    SmallVector<ReassociationIndices> folded(1);
    for (int64_t d = first; d <= last; ++d)
      folded[0].push_back(d);
    FailureOr<linalg::CollapseResult> collapsed =
        linalg::collapseOpIterationDims(op, folded, rewriter);
    if (failed(collapsed))
      return op;
    rewriter.replaceOp(op, collapsed->results);
    return collapsed->collapsedOp;
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
      op = collapseTrailingLoops(rewriter, op);
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
