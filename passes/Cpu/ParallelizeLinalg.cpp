//===- ParallelizeLinalg.cpp - linalg ops as parallel tasks ---------------===//
//
// Each top-level linalg op on tensors with enough work is tiled along its
// leading parallel loops into an scf.forall (upstream tileUsingSCF): tile
// size 1 while the task count stays at most `max-tasks`, then one split of
// the next parallel loop up to it, stopping once there are `min-tasks`.
// Reduction loops are never split, so every output element is computed the
// same way whichever thread runs its task. --ube-cpu-outline-parallel-loops then
// hands the foralls to the runtime's thread pool; being separate functions,
// they also keep the entry point small for LLVM.
//
//===----------------------------------------------------------------------===//

#include "passes/Cpu/Passes.h"

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
      if (iterators[d] != utils::IteratorType::parallel)
        break;
      if (ranges[d] <= 1)
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

  void runOnOperation() override {
    SmallVector<linalg::LinalgOp> ops;
    for (Operation &op : getOperation().getBody().front())
      if (auto linalgOp = dyn_cast<linalg::LinalgOp>(op))
        if (linalgOp.hasPureTensorSemantics())
          ops.push_back(linalgOp);
    IRRewriter rewriter(&getContext());
    for (linalg::LinalgOp op : ops) {
      SmallVector<int64_t> sizes = tileSizes(op);
      if (sizes.empty())
        continue;
      scf::SCFTilingOptions options;
      options.setLoopType(scf::SCFTilingOptions::LoopType::ForallOp);
      options.setTileSizes(getAsIndexOpFoldResult(&getContext(), sizes));
      rewriter.setInsertionPoint(op);
      FailureOr<scf::SCFTilingResult> tiled =
          scf::tileUsingSCF(rewriter, cast<TilingInterface>(op.getOperation()), options);
      if (failed(tiled))
        continue; // Left whole: still correct, only serial.
      rewriter.replaceOp(op, tiled->replacements);
    }
  }
};

} // namespace
