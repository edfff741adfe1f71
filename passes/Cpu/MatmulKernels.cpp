//===- CpuMatmulKernels.cpp - packed, register-tiled f32 matmuls for CPUs -===//
//
// ube.matmul on f32 becomes the loop nest of Goto's algorithm (BLIS, and
// IREE's data tiling), on tensors:
//
//   pack rhs     Bp[rb, p, k, 0..NR): column panel p of every rhs matrix, NR
//                columns wide, k-major and contiguous (zero past a ragged N),
//                whatever rhs's layout. The micro-kernel then streams one
//                panel sequentially from L1 instead of rows 4 KiB apart that
//                alias in the cache. One parallel task per panel; a constant
//                rhs (weights) is packed here, at compile time. A narrow
//                row-major rhs (at most 4 panels wide) is read in place.
//   pack lhs     when lhs is deep (K ≥ 512, M ≥ 256), its MR rows read in place
//                would alias in L1, or it is read transposed (each k's MR
//                values a line M floats past the last), lhs too: panels of
//                MR rows, k-major, Ap[lb, tile, k, 0..MR), so a
//                micro-tile's MR broadcasts per k come from one contiguous
//                run. Otherwise lhs is read in place.
//   tasks        scf.forall over (batch, column group, row group); a row
//                group is about TPB micro-tiles of MR rows, as equal as
//                possible (the last one also the M % MR ragged rows).
//                Columns are split into groups whose panels fit in half
//                the L2 (panel-group-bytes, where 4 or more fit), which the
//                tasks of one column group, consecutive, find there; when
//                there are too few tasks for the threads (batch × row
//                groups < min-tasks: a batch-1 layer); and for short, wide
//                products (fewer than 4 row groups, 32+ panels), where a
//                task takes every row and a range of panels, so each
//                packed panel is read once. Where only the rows of one K
//                block of 4+ panels fit in that half of the L2 (a deep K),
//                each K block is a forall of its own, in a loop over the
//                blocks, its column groups sized by the block. Tasks own
//                disjoint blocks of the result, and every element is summed
//                in the same k order whichever thread runs it, so results
//                do not depend on the thread count.
//   per task     for each K block of at most KC (sized to the target's L2
//                by the cpu pipeline; blocks split K evenly): for each
//                panel: for each micro-tile: MR × NR accumulators in vector
//                registers (MR·NR/lanes of them), over the block's k:
//                NR/lanes panel loads, MR broadcasts of lhs, MR·NR/lanes
//                FMAs, and a prefetch of the panel's row 3 KiB ahead; before
//                it, a prefetch for writing of the lines the tile's result
//                goes to. The first K block starts from zero, the others
//                from the partial sums.
//   groups       a product [N, O, P] of a weight shared by N images and a
//                symbolic P (a convolution over symbolic planes) puts
//                images of fewer than 128 positions side by side (256 for
//                a pointwise one's planes), G of them a group, chosen at
//                run time (32-column panels: a 6×6 image alone fills one
//                and 4 columns of another, 4 images fill 4.5).
//                A group's task computes its rows of [O, G·P] in a
//                scratch matrix and copies each image's columns out.
//   accumulate   `x + lhs·rhs` (ube.add of a same-shaped tensor and the
//                product, which autodiff writes when gradients meet) starts
//                from x instead of zero: the product is summed into x's
//                buffer, and no separate product or elementwise add exists.
//   epilogue     elementwise ops that consume the product alone (a linear
//                layer's bias add, then GELU, a residual add...) run on the
//                accumulators after the last K block, before the one store:
//                the product is never written out and read back.
//
//===----------------------------------------------------------------------===//

#include "passes/Cpu/Passes.h"

#include "dialects/ube/UbeOps.h"
#include "passes/Cpu/MatmulTiles.h"
#include "passes/Linalg/ElementwiseBody.h"
#include "passes/Utils/KernelBuilding.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace ube {
#define GEN_PASS_DEF_UBECPUMATMULKERNELS
#include "passes/Cpu/Passes.h.inc"
} // namespace ube

using namespace mlir;
using namespace ube;

namespace {

struct Tiling {
  int64_t lanes;        ///< f32 lanes per vector register.
  int64_t tileRows;     ///< MR: rows of a micro-tile.
  int64_t panelWidth;   ///< NR: columns of a micro-tile and a packed panel.
  int64_t kBlock;       ///< KC: k extent of one pass over a panel.
  int64_t tilesPerTask; ///< TPB: micro-tiles (of MR rows) per parallel task.
  int64_t minTasks;     ///< Fewer (batch × row groups) split the columns too.
  int64_t l1WaySpan;    ///< Bytes of one L1 way: addresses this far apart share a set.
  int64_t l1Ways;       ///< Lines one L1 set holds.
  int64_t panelGroupBytes; ///< Packed panels (over all of K) a column group holds at most.
};

/// Builds the kernel replacing one matmul: lhs [lb..., M, K] ([.., K, M]
/// transposed), rhs [rb..., K, N] ([.., N, K]), result [ob..., M, N], lb and
/// rb broadcasting to ob. Any size may be symbolic: sizes are index values
/// (IndexMath), constants when static, so the same code computes a static
/// product's task split at compile time and a symbolic one's at run time.
/// What a static size decides at compile time (whether a ragged panel or
/// ragged rows exist, how many rows they have) is decided at run time for
/// a symbolic one: its ragged panel masks each vector by the columns left,
/// and its ragged rows are micro-tiles of 8, 4, 2 and 1 rows as the count
/// left has those bits.
class MatmulKernelBuilder {
public:
  /// `accumulator` (or null): a tensor of the result's type the product is
  /// added to. `epilogue`: the ops applied to the product (epilogueChain),
  /// whose last one's result the kernel computes (in the product's shape).
  /// `collapsed`: for the operands of epilogue ops after a reshape in it,
  /// the same values in the product's shape.
  MatmulKernelBuilder(ImplicitLocOpBuilder &b, MatmulOp op, const Tiling &tiling,
                      Value accumulator = {}, ArrayRef<Operation *> epilogue = {},
                      llvm::DenseMap<Value, Value> collapsed = llvm::DenseMap<Value, Value>())
      : b(b), x(b), t(tiling), accumulator(accumulator), product(op.getResult()),
        epilogue(epilogue), collapsed(std::move(collapsed)), lhs(op.getLhs()), rhs(op.getRhs()),
        transposeLhs(op.getTransposeLhs()), transposeRhs(op.getTransposeRhs()) {
    auto lhsType = cast<RankedTensorType>(lhs.getType());
    auto rhsType = cast<RankedTensorType>(rhs.getType());
    resultType = cast<RankedTensorType>(op.getType());
    int64_t lhsRank = lhsType.getRank(), rhsRank = rhsType.getRank();
    m = x.dim(lhs, lhsRank - (transposeLhs ? 1 : 2));
    k = x.dim(lhs, lhsRank - (transposeLhs ? 2 : 1));
    n = x.dim(rhs, rhsRank - (transposeRhs ? 2 : 1));
    lhsBatch = lhsType.getShape().drop_back(2);
    rhsBatch = rhsType.getShape().drop_back(2);
    // Patches are never materialized: their columns and images are counted
    // from the im2col's input, not read off its result.
    Im2colOp patches = rhsIm2col();
    if (patches && !transposeRhs)
      n = im2colColumns(b, patches);
    int64_t batchRank = resultType.getRank() - 2;
    // A symbolic batch size comes from an operand with that dimension (not
    // broadcast: its size there is not 1).
    auto batchSize = [&](Value operand, ArrayRef<int64_t> shape, int64_t d) -> Value {
      int64_t at = d - (batchRank - int64_t(shape.size()));
      if (at < 0 || !ShapedType::isDynamic(shape[at]))
        return {};
      if (patches && operand == patches.getResult() && !patches.getBatchColumns())
        return x.dim(patches.getInput(), at);
      return x.dim(operand, at);
    };
    batch = x.c(1);
    for (int64_t d = 0; d < batchRank; ++d) {
      Value size = x.c(resultType.getDimSize(d));
      if (resultType.isDynamicDim(d)) {
        size = batchSize(lhs, lhsBatch, d);
        if (!size)
          size = batchSize(rhs, rhsBatch, d);
      }
      batchSizes.push_back(size);
      batch = x.mul(batch, size);
    }
    f32 = b.getF32Type();
    vec = VectorType::get({t.lanes}, f32);
    images = batch;
    if (canGroupImages()) {
      // Images of fewer than T positions side by side, about T columns a
      // group (a 6×6 plane, 16-column panels, T = 128: 4 images, 144
      // columns, 9 full panels, where each image alone is 2 panels and 4
      // columns). Without a select: ⌈T / P⌉ is 1 where P ≥ T.
      imageLength = n;
      groupColumns = rhsIm2col() ? kPatchGroupColumns : kPlaneGroupColumns;
      imagesPerGroup =
          x.max(x.c(1), x.min(images, x.ceilDiv(x.c(groupColumns), imageLength)));
      batch = x.ceilDiv(images, imagesPerGroup);
      batchSizes = {batch};
      // G·P, under 2·T where G > 1: written so that the packed
      // panels' size has that bound over the symbols' ranges (G·P's own
      // interval is the product of G's and P's).
      n = x.select(x.lt(x.c(1), imagesPerGroup),
                   x.min(x.mul(imagesPerGroup, imageLength), x.c(2 * groupColumns)),
                   imageLength);
    }
    panels = x.ceilDiv(n, x.c(t.panelWidth));
    fullTiles = x.div(m, x.c(t.tileRows));
    // Row groups of about TPB micro-tiles, as equal as possible (128 rows:
    // 5 + 5 tiles, not 8 + 2).
    Value one = x.c(1);
    Value rowGroups = x.max(one, x.ceilDiv(fullTiles, x.c(t.tilesPerTask)));
    tilesPerGroup = x.max(one, x.ceilDiv(fullTiles, rowGroups));
    groups = x.max(one, x.ceilDiv(fullTiles, tilesPerGroup));
    // A short, wide product (an output projection over a vocabulary: few
    // row groups, many panels) is split along its columns instead: each
    // task takes every row and a range of panels, so each packed panel is
    // read from memory once, while it sits in L1 for all the rows, not once
    // per row group.
    Value shortWide = b.createOrFold<arith::AndIOp>(
        x.lt(groups, x.c(kMinRowGroups)), x.lt(x.c(2 * kColumnGroups - 1), panels));
    // Too few tasks to keep every thread busy (a batch-1 layer's 128 rows
    // are 2 row groups): split the columns too.
    Value tasks = x.mul(batch, groups);
    Value split = x.max(one, x.min(panels, x.ceilDiv(x.c(t.minTasks), x.max(one, tasks))));
    panelsPerGroup = x.select(
        shortWide, x.ceilDiv(panels, x.c(kColumnGroups)),
        x.select(x.lt(tasks, x.c(t.minTasks)), x.ceilDiv(panels, split), panels));
    // Wide products: the consecutive tasks of a column group, one per row
    // group, read its panels from L2, not L3, when they fit in half of it
    // (with the result's prefetch, 2048 × 256 × 4096 on Emerald Rapids, 1
    // thread: 0.87 → 0.92× the speed of 2048 × 256 × 512, whose panels all
    // fit). Groups as equal as possible: 24 panels of which 10 fit are 3
    // groups of 8. Where fewer than kMinGroupPanels fit (a deep K, a small
    // L2), the panels cannot stay there anyway, and narrower groups would
    // only read lhs once more per group.
    Value panelBytes = x.mul(k, x.c(t.panelWidth * int64_t(sizeof(float))));
    Value fitting = x.div(x.c(t.panelGroupBytes), panelBytes);
    // A deep K whose whole panels do not fit kMinGroupPanels at a time
    // (K = 3072, 4096 in a 2 MiB L2) is passed block by block, each K block
    // one set of tasks (blocksOutside): the column groups then hold the
    // panels' rows of one K block, which the row groups' tasks of the
    // block find in L2. Otherwise each task took every panel, streaming
    // each block of them from L3 for its few rows.
    if (std::optional<int64_t> blocked = imagesPerGroup ? std::nullopt : blockPanelsOutside()) {
      blocksOutside = true;
      fitting = x.c(*blocked);
    }
    Value bounded =
        x.min(panelsPerGroup, x.ceilDiv(panels, x.ceilDiv(panels, x.max(one, fitting))));
    panelsPerGroup = x.select(x.lt(fitting, x.c(kMinGroupPanels)), panelsPerGroup, bounded);
    tilesPerGroup = x.select(shortWide, x.max(one, fullTiles), tilesPerGroup);
    rowSplitGroups = groups;
    groups = x.select(shortWide, one, groups);
    // A group of several images is one column group: a task's tile spans
    // whole images (its columns of every image). Too few tasks split its
    // rows instead (8 images of 3×3 positions, 256 channels: one group of
    // 72 columns).
    if (imagesPerGroup) {
      Value grouped = x.lt(one, imagesPerGroup);
      panelsPerGroup = x.select(grouped, panels, panelsPerGroup);
      Value rowTasks = x.min(x.max(one, x.ceilDiv(fullTiles, x.c(kMinGroupTiles))),
                             x.max(groups, x.ceilDiv(x.c(t.minTasks), batch)));
      Value splitTiles = x.max(one, x.ceilDiv(fullTiles, rowTasks));
      tilesPerGroup = x.select(grouped, splitTiles, tilesPerGroup);
      groups = x.select(grouped, x.max(one, x.ceilDiv(fullTiles, splitTiles)), groups);
    }
    columnGroups = x.max(one, x.ceilDiv(panels, x.max(one, panelsPerGroup)));
  }

  /// Whether lhs is packed (once, before the tasks), as BLAS libraries
  /// pack it, so that a micro-tile's MR broadcasts per k come from one
  /// contiguous run rather than MR rows, each its own stream:
  ///  - Deep rows (K ≥ 512), 256 or more of them: Emerald Rapids at 2
  ///    threads, against PyTorch turn by turn, each way twice in one
  ///    process (2026-12-07): 1024³ 0.80 → 0.88×, 2048³ 0.82–0.87 →
  ///    0.89–0.91×, 1024 × 768 × 768 0.84–0.88 → 0.92×, 1024 × 768 × 3072
  ///    0.87–0.95 → 0.98–1.01×, 512³ 0.88–0.99 → 0.99–1.0× (at 1 thread
  ///    within a few percent either way; a day earlier 1 thread measured in
  ///    place 4–8% faster at 1024³, 2048³ and 1024 × 3072 × 768); BERT-base
  ///    at batch 8 0.96× the time. Shallower
  ///    rows stream well in place (1024 × 312 × 1200 packed: 0.89–0.91 →
  ///    0.84×), and the copy of fewer rows costs more than it saves
  ///    (TinyBERT at batch 1, 128 rows: 1.03× the time).
  ///  - Rows that alias: MR rows a row stride of a multiple of the L1 way
  ///    span apart (4 KiB: K = 1024, 2048...) in one set outnumber its ways
  ///    and evict each other before each line's 16 floats are used (1024³
  ///    at 67–95 GFLOP/s against 102–105 packed on znver4's 8-way L1).
  ///  - A transposed lhs ([K, M], a weight gradient's activations): read in
  ///    place, each k's MR values are a new line M floats past the last, a
  ///    stride the hardware prefetchers do not follow across pages (1536 ×
  ///    768 × 384 on Emerald Rapids at 2 threads: 7.2–8.6 ms in place, 3.9
  ///    with lhs untransposed; its pack is a contiguous copy of MR floats
  ///    per k).
  /// Never for fewer than kPackLhsMinColumns columns, which reuse a packed
  /// row little; nor for deep rows times the patches of symbolic planes,
  /// whose columns are unknown but few where the channels are many (512
  /// channels at 4² or 7² an image: 8 × 4² at 2 threads on the AMD EPYC,
  /// 6.7 → 4.4 ms, static 4.1; 256 at 7², 6.1 → 4.1; no slower at 28² or
  /// 56²). A symbolic K's stride is unknown: read in place unless
  /// transposed.
  bool shouldPackLhs() {
    std::optional<int64_t> columns = x.constant(n), depth = x.constant(k);
    // The copy is made once, for every column group.
    if (columns && *columns < kPackLhsMinColumns)
      return false;
    if (transposeLhs)
      return true;
    if (!depth)
      return false;
    std::optional<int64_t> rows = x.constant(m);
    if (*depth >= kPackLhsMinDepth && rows && *rows >= kPackLhsMinRows && !symbolicPlanes())
      return true;
    constexpr int64_t kLine = 64;
    llvm::SmallDenseMap<int64_t, int64_t> rowsPerSet;
    for (int64_t i = 0; i < t.tileRows; ++i)
      if (++rowsPerSet[i * *depth * int64_t(sizeof(float)) % t.l1WaySpan / kLine] > t.l1Ways)
        return true;
    return false;
  }

  Value build() {
    // A constant rhs (weights) is packed at compile time. Otherwise a narrow
    // row-major rhs (N ≤ 4 panels: attention's [tokens, d] keys and values)
    // is read in place: its rows are at most 4 cache lines, so a panel's
    // k-walk is a short constant stride, and a packed copy would only cost
    // memory (one per matrix of a batch) and a pass over it.
    std::optional<int64_t> columns = x.constant(n);
    if (Im2colOp im2col = rhsIm2col()) {
      // Where each panel has one or two tasks (row groups), they pack it
      // where they use it, into a scratch panel that stays in L1: the
      // patches' panels are never written to memory and read back (a 3×3
      // convolution's are K = 9·C rows deep, 60 MB for 64 channels at 56²
      // × 8 images; that layer 13.7 → 10.6 ms, 128 channels at 28² 10.0 →
      // 9.4; with 3 or 5 groups, 256 at 14² and 512 at 7², packing once
      // was 2-3% faster). Where runs of rows are read (stride 1 along
      // them), not gathered lane by lane: gathering each panel per task
      // made the 3×3/2 layer of 128 channels at 56² 15.1 → 17.2 ms.
      // (On a symbolic N, whether the product is short and wide, its
      // tasks taking every row, is known at run time: at most the row
      // split's groups.)
      std::optional<int64_t> rowGroups = x.constant(groups);
      if (!rowGroups)
        rowGroups = x.constant(rowSplitGroups);
      if (!transposeRhs && Im2colPanelRows::readsRuns(im2col) && rowGroups &&
          *rowGroups <= kTaskPackedMaxGroups && x.constant(blockDepth()).has_value())
        taskRows.emplace(b, im2col, imagesPerGroup);
      else
        packed = buildIm2colPanels(b, im2col, t.panelWidth, transposeRhs, imagesPerGroup, n);
    } else if (imagesPerGroup) {
      packed = buildGroupedPanels(b, rhsAsStack(), imagesPerGroup, n, t.panelWidth);
    } else if (transposeRhs || !columns || *columns > kInPlaceRhsPanels * t.panelWidth)
      packed = buildPackedPanels(b, rhsAsStack(), transposeRhs, t.panelWidth);
    else
      packed = packConstantPanels(b, rhsAsStack(), transposeRhs, t.panelWidth);
    // lhs [LB, M, K] is the [N, K] layout of lhsᵀ (transposed, [LB, K, M]
    // the [K, N] layout): its panels MR wide are lhs's micro-tiles' rows,
    // k-major.
    if (shouldPackLhs())
      packedLhs =
          buildPackedPanels(b, stackOf(lhs, lhsBatch), /*transposed=*/!transposeLhs, t.tileRows);
    // Every element is written by the first K block of its task, so the
    // result needs no fill (or starts as the accumulator).
    Value init = accumulator;
    if (!init) {
      SmallVector<Value> dynamicSizes;
      SmallVector<Value> sizes(batchSizes);
      sizes.append({m, n});
      if (imagesPerGroup)
        sizes = {images, m, imageLength};
      for (auto [d, size] : llvm::enumerate(sizes))
        if (resultType.isDynamicDim(d))
          dynamicSizes.push_back(size);
      init = tensor::EmptyOp::create(b, resultType.getShape(), f32, dynamicSizes);
    }
    // Row groups innermost: the tasks that share a column group's panels
    // come one after another.
    auto tasks = [&](Value result, Value blockBegin) {
      auto forall = scf::ForallOp::create(
          b,
          ArrayRef<OpFoldResult>{getAsOpFoldResult(batch), getAsOpFoldResult(columnGroups),
                                 getAsOpFoldResult(groups)},
          ValueRange{result}, std::nullopt);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(forall.getBody());
      buildTask(forall.getInductionVars()[0], forall.getInductionVars()[2],
                forall.getInductionVars()[1], forall.getRegionIterArgs()[0],
                forall.getTerminator(), blockBegin);
      return forall.getResult(0);
    };
    // Groups of several images or of one, chosen at run time: two sets of
    // tasks, each writing the result in place.
    if (imagesPerGroup) {
      auto ifOp = scf::IfOp::create(b, init.getType(), x.lt(index(1), imagesPerGroup),
                                    /*withElseRegion=*/true);
      OpBuilder::InsertionGuard guard(b);
      for (bool grouped : {true, false}) {
        b.setInsertionPointToStart(grouped ? ifOp.thenBlock() : ifOp.elseBlock());
        groupedTile = grouped;
        scf::YieldOp::create(b, tasks(init, Value()));
      }
      return ifOp.getResult(0);
    }
    if (!blocksOutside)
      return tasks(init, Value());
    return loop(index(0), k, blockDepth(), init,
                [&](Value kBegin, ValueRange args) -> SmallVector<Value> {
                  return {tasks(args[0], kBegin)};
                })[0];
  }

private:
  Value index(int64_t v) { return x.c(v); }
  Value add(Value a, Value c) { return x.add(a, c); }
  Value mul(Value a, Value c) { return x.mul(a, c); }

  SmallVector<Value> loop(Value begin, Value end, Value step, ValueRange state,
                          LoopBody body) {
    return buildLoop(b, begin, end, step, state, body);
  }

  /// Whether rhs is the patches of a convolution over planes of symbolic
  /// size, whose positions per image are unknown.
  bool symbolicPlanes() {
    Im2colOp im2col = rhsIm2col();
    return im2col && !transposeRhs && !x.constant(n);
  }

  /// Where each K block is a set of tasks of its own (blocksOutside): the
  /// panels of one K block that fit a column group; otherwise nullopt.
  std::optional<int64_t> blockPanelsOutside() {
    std::optional<int64_t> depth = x.constant(k), block = x.constant(blockDepth());
    if (!depth || !block || *block >= *depth)
      return std::nullopt;
    int64_t bytesPerColumn = t.panelWidth * int64_t(sizeof(float));
    int64_t whole = t.panelGroupBytes / (*depth * bytesPerColumn),
            blocked = t.panelGroupBytes / (*block * bytesPerColumn);
    if (whole < kMinGroupPanels && blocked >= kMinGroupPanels)
      return blocked;
    return std::nullopt;
  }

  /// Whether the matrices of rhs may be grouped, their columns side by
  /// side (imagesPerGroup): a product [N, O, P] of symbolic P (a
  /// convolution's over symbolic planes: its patches, or the planes of a
  /// pointwise one) and a weight shared by the images, no accumulator,
  /// and an epilogue that reads its operands by row (a bias) or not at all
  /// (a tile of a group spans images and positions). Each task then sums
  /// every K block in its own tile: such a product's K blocks are not sets
  /// of tasks (blocksOutside), which a deep K of a few columns an image
  /// gains less from than from whole panels.
  bool canGroupImages() {
    Im2colOp im2col = rhsIm2col();
    if (x.constant(n) || transposeRhs || (im2col && im2col.getBatchColumns()) || accumulator ||
        rhsBatch.size() != 1 || resultType.getRank() != 3 || !lhsBatch.empty())
      return false;
    int64_t rank = resultType.getRank();
    Value consumed = product;
    for (Operation *op : epilogue) {
      Value produced = op->getResult(0);
      if (isa<ReshapeOp>(op)) {
        consumed = produced;
        continue;
      }
      for (Value operand : op->getOperands()) {
        DenseElementsAttr splat;
        if (operand == consumed || (matchPattern(operand, m_Constant(&splat)) && splat.isSplat()))
          continue;
        Value read = collapsed.lookup(operand);
        auto type = cast<RankedTensorType>((read ? read : operand).getType());
        int64_t offset = rank - type.getRank();
        for (auto [i, size] : llvm::enumerate(type.getShape()))
          if (int64_t(i) + offset != rank - 2 && size != 1)
            return false;
      }
      consumed = produced;
    }
    return true;
  }

  /// The depth of the K blocks: at most KC, as equal as possible (K = 1200,
  /// KC = 1024: two of 600, not 1024 and 176).
  Value blockDepth() { return x.ceilDiv(k, x.max(index(1), x.ceilDiv(k, index(t.kBlock)))); }

  /// rhs as one stack of matrices: [RB, K, N] ([RB, N, K] transposed).
  Value rhsAsStack() { return stackOf(rhs, rhsBatch); }

  /// The ube.im2col whose result rhs is as a stack (through reshapes that
  /// only split its batch): its panels are packed from its input.
  Im2colOp rhsIm2col() {
    Value source = rhs;
    while (auto reshape = source.getDefiningOp<ReshapeOp>())
      source = reshape.getInput();
    auto im2col = source.getDefiningOp<Im2colOp>();
    if (!im2col)
      return {};
    auto rhsType = cast<RankedTensorType>(rhs.getType());
    ArrayRef<int64_t> shape = im2col.getType().getShape();
    int64_t stack = 1;
    for (int64_t size : rhsBatch)
      stack = ShapedType::isDynamic(size) || ShapedType::isDynamic(stack) ? ShapedType::kDynamic
                                                                          : stack * size;
    bool sameMatrices = rhsType.getShape().take_back(2) == shape.drop_front() &&
                        (stack == shape[0] || (ShapedType::isDynamic(stack) &&
                                               rhsBatch.size() == 1));
    return sameMatrices ? im2col : Im2colOp();
  }

  /// `operand` (batch dimensions `batchDims`) as one stack of matrices.
  Value stackOf(Value operand, ArrayRef<int64_t> batchDims) {
    auto type = cast<RankedTensorType>(operand.getType());
    int64_t rank = type.getRank();
    Value stack = x.c(1);
    for (int64_t d = 0; d < int64_t(batchDims.size()); ++d)
      stack = x.mul(stack, x.dim(operand, d));
    return reshapeTo(b, operand,
                     ArrayRef<OpFoldResult>{getAsOpFoldResult(stack),
                                            getAsOpFoldResult(x.dim(operand, rank - 2)),
                                            getAsOpFoldResult(x.dim(operand, rank - 1))});
  }

  /// An operand's batch indices: its dimensions align with the result's
  /// trailing batch dimensions; size-1 dimensions broadcast (index 0).
  SmallVector<Value> operandBatch(ArrayRef<int64_t> shape, ArrayRef<Value> coords) {
    SmallVector<Value> indices;
    int64_t offset = coords.size() - shape.size();
    for (auto [i, size] : llvm::enumerate(shape))
      indices.push_back(size == 1 && resultType.getDimSize(offset + i) != 1 ? index(0)
                                                                             : coords[offset + i]);
    return indices;
  }

  /// The index of an operand's matrix (batch dimensions `batchDims`) in its
  /// packed stack.
  Value packedIndex(Value operand, ArrayRef<int64_t> batchDims, ArrayRef<Value> coords) {
    SmallVector<Value> indices = operandBatch(batchDims, coords);
    Value linear = index(0);
    for (auto [i, size] : llvm::enumerate(batchDims))
      linear = add(mul(linear, x.dim(operand, i)), indices[i]);
    return linear;
  }

  /// One task: rows [g·TPB·MR, ...) and panels [c·panelsPerGroup, ...) of
  /// batch matrix `linear` over every K block (or only the one from
  /// `blockBegin`, when each is a set of tasks), written into `result` by
  /// `terminator`'s parallel insert.
  void buildTask(Value linear, Value group, Value columnGroup, Value result,
                 scf::InParallelOp terminator, Value blockBegin) {
    SmallVector<Value> coords = x.delinearize(linear, batchSizes);
    resultCoords = coords;
    lhsIndices = operandBatch(lhsBatch, coords);
    packedAt = packedIndex(rhs, rhsBatch, coords);
    if (packedLhs)
      packedLhsAt = packedIndex(lhs, lhsBatch, coords);
    rhsIndices = operandBatch(rhsBatch, coords);

    Value groupRows = mul(tilesPerGroup, index(t.tileRows));
    Value isLast = x.eq(group, x.sub(groups, index(1)));
    Value rowBegin = mul(group, groupRows);
    Value rows = x.select(isLast, x.sub(m, rowBegin), groupRows);
    Value tiles = x.select(isLast, x.sub(fullTiles, mul(x.sub(groups, index(1)), tilesPerGroup)),
                           tilesPerGroup);
    // A group's columns: its images' (the last group may have fewer).
    Value firstImage, groupImages;
    if (imagesPerGroup) {
      firstImage = mul(coords[0], imagesPerGroup);
      groupImages = x.min(imagesPerGroup, x.sub(images, firstImage));
      n = mul(groupImages, imageLength);
      panels = x.ceilDiv(n, index(t.panelWidth));
    }
    // The task's panels and columns; the last column group ends at N.
    Value fullPanels = x.div(n, index(t.panelWidth));
    Value panelBegin = mul(columnGroup, panelsPerGroup);
    Value panelEnd = x.min(add(panelBegin, panelsPerGroup), panels);
    // (Every task's, when one column group has them all.)
    Value isLastColumns = x.constant(columnGroups) == 1
                              ? Value(arith::ConstantOp::create(b, b.getBoolAttr(true)))
                              : x.eq(columnGroup, x.sub(columnGroups, index(1)));
    columnBegin = mul(panelBegin, index(t.panelWidth));
    Value columns = x.sub(x.min(mul(panelEnd, index(t.panelWidth)), n), columnBegin);
    // Columns past N in the ragged panel (0 when N is a multiple of NR).
    columnsLeft = x.rem(n, index(t.panelWidth));

    Value blockK = blockDepth();

    // `body` on `state` where `condition` holds (a constant condition
    // decides at compile time), else `state` unchanged.
    using StateBody = function_ref<SmallVector<Value>(ValueRange)>;
    auto whenAll = [&](Value condition, ValueRange state,
                       StateBody body) -> SmallVector<Value> {
      if (std::optional<int64_t> known = x.constant(condition))
        return *known ? body(state) : SmallVector<Value>(state);
      auto ifOp = scf::IfOp::create(b, state.getTypes(), condition, true, true);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(ifOp.thenBlock());
      scf::YieldOp::create(b, body(state));
      b.setInsertionPointToStart(ifOp.elseBlock());
      scf::YieldOp::create(b, state);
      return ifOp.getResults();
    };
    auto when = [&](Value condition, Value tile, function_ref<Value(Value)> body) -> Value {
      return whenAll(condition, tile, [&](ValueRange state) -> SmallVector<Value> {
        return {body(state[0])};
      })[0];
    };
    // One K block over panel `panel`: the full micro-tiles, then (in the
    // last group) the ragged rows.
    auto panelPass = [&](Value tile, Value panel, bool raggedPanel, Value kBegin, Value kEnd,
                         Value fromZero) {
      tile = loop(index(0), tiles, index(1), tile,
                  [&](Value i, ValueRange args) -> SmallVector<Value> {
                    Value row = mul(i, index(t.tileRows));
                    return {microTile(args[0], row, add(rowBegin, row), t.tileRows, panel,
                                      raggedPanel, kBegin, kEnd, fromZero)};
                  })[0];
      Value first = mul(tiles, index(t.tileRows));
      if (std::optional<int64_t> rowCount = x.constant(m)) {
        int64_t raggedRows = *rowCount % t.tileRows;
        if (!raggedRows)
          return tile;
        return when(isLast, tile, [&](Value tile) {
          return microTile(tile, first, add(rowBegin, first), raggedRows, panel, raggedPanel,
                           kBegin, kEnd, fromZero);
        });
      }
      // Symbolic M: the rows left (fewer than MR; none but in the last
      // group) as one micro-tile of that many rows, chosen at run time: one
      // pass over the panel with exactly their FMAs, like a static ragged
      // tile. (One tile of MR rows that does not store the extra rows costs
      // MR/left times the FMAs, and tiles of 4, 2 and 1 rows three passes
      // bound by FMA latency: 1.7x the static time of a 7-row product.)
      Value left = x.sub(rows, first);
      SmallVector<int64_t> counts;
      for (int64_t r = 1; r < t.tileRows; ++r)
        counts.push_back(r);
      auto rowSwitch = scf::IndexSwitchOp::create(b, TypeRange{tile.getType()}, left, counts,
                                                  counts.size());
      OpBuilder::InsertionGuard guard(b);
      for (auto [r, region] : llvm::zip(counts, rowSwitch.getCaseRegions())) {
        b.setInsertionPointToStart(&region.emplaceBlock());
        scf::YieldOp::create(b, microTile(tile, first, add(rowBegin, first), r, panel,
                                          raggedPanel, kBegin, kEnd, fromZero));
      }
      b.setInsertionPointToStart(&rowSwitch.getDefaultRegion().emplaceBlock());
      scf::YieldOp::create(b, tile);
      return rowSwitch.getResult(0);
    };
    // Panels outermost within a K block: a panel (KC × NR) stays in L1 while
    // every micro-tile of the task passes over it. The ragged last panel
    // belongs to the last column group.
    // The task's own copy of a panel's K block, when it packs them: into
    // `scratch`, one buffer the task's loops pass along (returned).
    auto packInTask = [&](Value scratch, Value panel, Value kBegin, Value kEnd) {
      Value column = mul(panel, index(t.panelWidth));
      Value width = x.min(index(t.panelWidth), x.sub(n, column));
      taskPanel = taskRows->fill(b, packedAt, column, width, kBegin, kEnd, scratch, t.panelWidth,
                                 groupedTile);
      taskPanelK = kBegin;
      return taskPanel;
    };
    // One K block: `state` is the tile and, when the task packs panels,
    // its scratch panel.
    auto kBlock = [&](ValueRange state, Value kBegin, Value kEnd, Value fromZero) {
      auto pass = [&](ValueRange state, Value panel, bool ragged) -> SmallVector<Value> {
        SmallVector<Value> next(state);
        if (taskRows)
          next[1] = packInTask(state[1], panel, kBegin, kEnd);
        next[0] = panelPass(state[0], panel, ragged, kBegin, kEnd, fromZero);
        return next;
      };
      SmallVector<Value> current(state);
      if (x.constant(fullPanels) != 0)
        current = loop(panelBegin, x.min(panelEnd, fullPanels), index(1), current,
                       [&](Value panel, ValueRange args) { return pass(args, panel, false); });
      Value ragged = b.createOrFold<arith::AndIOp>(x.lt(fullPanels, panels), isLastColumns);
      return whenAll(ragged, current,
                     [&](ValueRange args) { return pass(args, fullPanels, true); });
    };
    auto block = [&](Value kBegin, ValueRange args) -> SmallVector<Value> {
      Value kEnd = x.min(add(kBegin, blockK), k);
      Value first = accumulator ? Value(arith::ConstantOp::create(b, b.getBoolAttr(false)))
                                : Value(arith::CmpIOp::create(b, arith::CmpIPredicate::eq,
                                                              kBegin, index(0)));
      return kBlock(args, kBegin, kEnd, first);
    };
    // The task's product, summed into `tile` (its columns from the task's
    // first).
    auto compute = [&](Value tile) -> Value {
      SmallVector<Value> state = {tile};
      // The task's panel scratch, when it packs its panels.
      if (taskRows)
        state.push_back(tensor::EmptyOp::create(b, {*x.constant(blockK), t.panelWidth}, f32));
      return (blockBegin ? block(blockBegin, state) : loop(index(0), k, blockK, state, block))[0];
    };

    int64_t rank = resultType.getRank();
    SmallVector<OpFoldResult> strides(rank, b.getIndexAttr(1));
    if (groupedTile == true) {
      // Several images: the task's rows of the group's product [O, G·P]
      // in a scratch matrix of its own (tens of KiB: 96 rows by 4 images
      // of 6×6), copied to [images of the group, rows, P].
      SmallVector<OpFoldResult> offsets = {firstImage, rowBegin, b.getIndexAttr(0)},
                                sizes = {groupImages, rows, imageLength};
      auto partType =
          RankedTensorType::get(SmallVector<int64_t>(rank, ShapedType::kDynamic), f32);
      Value part = tensor::ExtractSliceOp::create(b, partType, result, offsets, sizes, strides);
      Value scratch = tensor::EmptyOp::create(b, {ShapedType::kDynamic, ShapedType::kDynamic},
                                              f32, ValueRange{rows, n});
      part = copyImages(compute(scratch), part, groupImages, rows);
      b.setInsertionPointToStart(terminator.getBody());
      tensor::ParallelInsertSliceOp::create(b, part, result, offsets, sizes, strides);
      return;
    }

    // The task's rows of every batch dimension's matrix, as [rows, N].
    bool allColumns = x.constant(columnGroups) == 1;
    SmallVector<OpFoldResult> offsets(coords.begin(), coords.end()), sizes(rank, b.getIndexAttr(1));
    offsets.push_back(rowBegin);
    offsets.push_back(columnBegin);
    sizes[rank - 2] = rows;
    sizes[rank - 1] = allColumns ? getAsOpFoldResult(n) : OpFoldResult(columns);
    auto sliceType = RankedTensorType::get(
        {ShapedType::kDynamic,
         allColumns ? x.constant(n).value_or(ShapedType::kDynamic) : ShapedType::kDynamic},
        f32);
    Value slice = tensor::ExtractSliceOp::create(b, sliceType, result, offsets, sizes, strides);
    slice = compute(slice);
    b.setInsertionPointToStart(terminator.getBody());
    tensor::ParallelInsertSliceOp::create(b, slice, result, offsets, sizes, strides);
  }

  /// Copies a group's tile (`rows` × the images' columns side by side) to
  /// `part` ([images, rows, positions]), image by image, row by row.
  Value copyImages(Value tile, Value part, Value groupImages, Value rows) {
    Value zero = arith::ConstantOp::create(b, b.getF32FloatAttr(0.0f));
    auto maskType = VectorType::get({t.lanes}, b.getI1Type());
    return loop(index(0), groupImages, index(1), part, [&](Value image, ValueRange imageArgs) {
      Value imageColumn = mul(image, imageLength);
      return loop(index(0), rows, index(1), imageArgs, [&](Value row, ValueRange rowArgs) {
        return loop(
            index(0), imageLength, index(t.lanes), rowArgs,
            [&](Value position, ValueRange args) -> SmallVector<Value> {
              // create_mask clamps its size to [0, lanes].
              Value mask = vector::CreateMaskOp::create(
                  b, maskType, ValueRange{x.sub(imageLength, position)});
              auto read = vector::TransferReadOp::create(
                  b, vec, tile, ValueRange{row, add(imageColumn, position)}, zero,
                  ArrayRef<bool>{true});
              read.getMaskMutable().assign(mask);
              auto write = vector::TransferWriteOp::create(
                  b, read, args[0], ValueRange{image, row, position}, ArrayRef<bool>{true});
              write.getMaskMutable().assign(mask);
              return {write.getResult()};
            });
      });
    })[0];
  }

  /// lhs[batch, row, kk] (transposed: [batch, kk, row]).
  Value lhsAt(Value row, Value kk) {
    SmallVector<Value> at(lhsIndices);
    at.push_back(transposeLhs ? kk : row);
    at.push_back(transposeLhs ? row : kk);
    return tensor::ExtractOp::create(b, lhs, at);
  }

  /// Prefetches the cache line of vector `v` of row `row` of the packed
  /// panel. A micro-tile walks its panel at NR floats per k, faster than
  /// the hardware prefetchers of Intel cores bring it from L2: on Emerald
  /// Rapids, 2048³ spent 40% of its time waiting on the panel loads (1
  /// thread 83 → 100 GFLOP/s with the prefetches, 2 threads 155 → 204;
  /// distances of 16 to 48 rows measured alike).
  void prefetchPanelRow(Value panel, Value row, int64_t v) {
    if (v * t.lanes * int64_t(sizeof(float)) % kCacheLineBytes != 0)
      return;
    if (!packedBuffer) {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointAfterValue(packed);
      auto type = cast<RankedTensorType>(packed.getType());
      packedBuffer = bufferization::ToBufferOp::create(
          b, MemRefType::get(type.getShape(), type.getElementType()), packed,
          /*readOnly=*/true);
    }
    memref::PrefetchOp::create(b, packedBuffer,
                               ValueRange{packedAt, panel, row, index(v * t.lanes)},
                               /*isWrite=*/false, /*localityHint=*/3, /*isDataCache=*/true);
  }

  /// Prefetches for writing the lines of rows `rowsAt` × columns
  /// [`tileColumn`, + NR) of `tile`, the task's result: the micro-tile's
  /// stores at its end then find them in L1. Without it each store of a
  /// result too large for the caches waits on a read for ownership, and
  /// the misses hold the L1's fill buffers that the next micro-tile's panel
  /// loads need (2048 × 256 × 4096, a 32 MiB result, on Emerald Rapids: 0.87
  /// → 0.92× with column groups in L2; in a C micro-benchmark of the same
  /// loop, 0.83 → 0.97 of the FMA peak). `tile` is only read here: its
  /// buffer is the one the micro-tile writes.
  void prefetchTileForWrite(Value tile, ArrayRef<Value> rowsAt, Value tileColumn,
                            ArrayRef<int64_t> valid) {
    auto tileType = cast<RankedTensorType>(tile.getType());
    int64_t dynamic = ShapedType::kDynamic;
    auto layout = StridedLayoutAttr::get(b.getContext(), dynamic,
                                         SmallVector<int64_t>(tileType.getRank(), dynamic));
    Value buffer = bufferization::ToBufferOp::create(
        b, MemRefType::get(tileType.getShape(), f32, layout), tile, /*readOnly=*/true);
    for (Value row : rowsAt)
      for (auto [v, lanes] : llvm::enumerate(valid)) {
        // (A symbolic ragged panel's vectors past the first may lie past N.)
        bool inside = lanes > 0 || (ShapedType::isDynamic(lanes) && v == 0);
        if (!inside || int64_t(v) * t.lanes * int64_t(sizeof(float)) % kCacheLineBytes != 0)
          continue;
        memref::PrefetchOp::create(b, buffer,
                                   ValueRange{row, add(tileColumn, index(v * t.lanes))},
                                   /*isWrite=*/true, /*localityHint=*/3, /*isDataCache=*/true);
      }
  }

  /// Adds lhs[rows] × Bp[panel][kBegin..kEnd) to the `rowCount` × NR tile at
  /// (`row`, panel·NR) of `tile` (or writes it, in the first K block).
  Value microTile(Value tile, Value row, Value lhsRow, int64_t rowCount, Value panel,
                  bool raggedPanel, Value kBegin, Value kEnd, Value fromZero) {
    int64_t vectors = t.panelWidth / t.lanes;
    // The panel's first column in the result, and in the task's tile.
    Value column = mul(panel, index(t.panelWidth));
    Value tileColumn = x.sub(column, columnBegin);
    // The lanes of each vector that lie inside the matrix: all of them but in
    // the ragged last panel, whose vectors wholly past a static N are never
    // touched; past a symbolic N they are computed, masked.
    SmallVector<int64_t> valid;
    std::optional<int64_t> staticLeft = x.constant(columnsLeft);
    for (int64_t v = 0; v < vectors; ++v) {
      if (!raggedPanel)
        valid.push_back(t.lanes);
      else if (staticLeft)
        valid.push_back(std::clamp<int64_t>(*staticLeft - v * t.lanes, 0, t.lanes));
      else
        valid.push_back(ShapedType::kDynamic);
    }
    auto maskFor = [&](int64_t v) -> Value {
      if (valid[v] == t.lanes)
        return nullptr;
      // create_mask clamps its size to [0, lanes].
      Value size = ShapedType::isDynamic(valid[v])
                       ? arith::SubIOp::create(b, columnsLeft, index(v * t.lanes)).getResult()
                       : index(valid[v]);
      return vector::CreateMaskOp::create(b, VectorType::get({t.lanes}, b.getI1Type()),
                                          ValueRange{size});
    };
    Value zero = arith::ConstantOp::create(b, b.getF32FloatAttr(0.0f));
    Value zeros = arith::ConstantOp::create(b, DenseElementsAttr::get(vec, 0.0f));
    SmallVector<Value> rowsAt, lhsRowsAt;
    for (int64_t i = 0; i < rowCount; ++i) {
      rowsAt.push_back(add(row, index(i)));
      lhsRowsAt.push_back(add(lhsRow, index(i)));
    }

    // The accumulators: zeros in the first K block, else the partial sums.
    SmallVector<Type> accTypes;
    for (int64_t i = 0; i < rowCount; ++i)
      for (int64_t v = 0; v < vectors; ++v)
        if (valid[v] != 0)
          accTypes.push_back(vec);
    auto init = scf::IfOp::create(b, accTypes, fromZero, true, true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(init.thenBlock());
      scf::YieldOp::create(b, SmallVector<Value>(accTypes.size(), zeros));
      b.setInsertionPointToStart(init.elseBlock());
      SmallVector<Value> partial;
      for (int64_t i = 0; i < rowCount; ++i)
        for (int64_t v = 0; v < vectors; ++v) {
          if (valid[v] == 0)
            continue;
          Value at = add(tileColumn, index(v * t.lanes));
          Value mask = maskFor(v);
          // In bounds even when masked: the mask keeps to the matrix (and a
          // task's tile has a dynamic width, whose bounds check would
          // need the tile's size at run time).
          auto read = vector::TransferReadOp::create(b, vec, tile, ValueRange{rowsAt[i], at},
                                                     zero, ArrayRef<bool>{true});
          if (mask)
            read.getMaskMutable().assign(mask);
          partial.push_back(read);
        }
      scf::YieldOp::create(b, partial);
    }
    SmallVector<Value> acc(init.getResults());
    prefetchTileForWrite(tile, rowsAt, tileColumn, valid);

    SmallVector<bool> live;
    for (int64_t v = 0; v < vectors; ++v)
      live.push_back(valid[v] != 0);
    Value packedTile;
    if (packedLhs)
      packedTile = arith::DivUIOp::create(b, lhsRow, index(t.tileRows));
    auto lhsOf = [&](int64_t i, Value kk) -> Value {
      if (!packedLhs)
        return lhsAt(lhsRowsAt[i], kk);
      return tensor::ExtractOp::create(b, packedLhs,
                                       ValueRange{packedLhsAt, packedTile, kk, index(i)});
    };
    // The packed panel's row prefetched at k (set below).
    function_ref<Value(Value)> prefetchRow;
    auto rhsOf = [&](int64_t v, Value kk) -> Value {
      if (taskRows)
        return vector::TransferReadOp::create(
            b, vec, taskPanel, ValueRange{x.sub(kk, taskPanelK), index(v * t.lanes)}, zero,
            ArrayRef<bool>{true});
      if (packed) {
        prefetchPanelRow(panel, prefetchRow(kk), v);
        return vector::TransferReadOp::create(
            b, vec, packed, ValueRange{packedAt, panel, kk, index(v * t.lanes)}, zero,
            ArrayRef<bool>{true});
      }
      // In place: the vector at (kk, column) of rhs, masked past N.
      SmallVector<Value> at(rhsIndices);
      at.append({kk, add(column, index(v * t.lanes))});
      Value mask = maskFor(v);
      auto read = vector::TransferReadOp::create(b, vec, rhs, at, zero,
                                                 ArrayRef<bool>{true});
      if (mask)
        read.getMaskMutable().assign(mask);
      return read;
    };
    if (packed && !taskRows) {
      // The k loop in two, so that no k clamps the row it prefetches (its
      // compare, select and shift took issue slots of the FMAs' ports:
      // 768 × 384 × 1536, 1 thread, 0.85 → 0.88× PyTorch): rows a fixed
      // distance ahead while they lie in the block, then the block's first
      // rows, which the next micro-tile over this panel reads first.
      Value ahead = index(
          std::max<int64_t>(1, kPrefetchBytes / (t.panelWidth * int64_t(sizeof(float)))));
      Value depth = x.sub(kEnd, kBegin);
      Value split = x.sub(kEnd, x.min(ahead, depth));
      // kk + distance - depth (index arithmetic wraps): kBegin onwards.
      Value back = x.sub(ahead, depth), lastRow = x.sub(kEnd, index(1));
      auto aheadRow = [&](Value kk) { return add(kk, ahead); };
      auto wrappedRow = [&](Value kk) { return x.min(add(kk, back), lastRow); };
      prefetchRow = aheadRow;
      acc = buildTileProducts(b, kBegin, split, acc, rowCount, live, lhsOf, rhsOf);
      prefetchRow = wrappedRow;
      acc = buildTileProducts(b, split, kEnd, acc, rowCount, live, lhsOf, rhsOf);
    } else {
      acc = buildTileProducts(b, kBegin, kEnd, acc, rowCount, live, lhsOf, rhsOf);
    }

    if (!epilogue.empty()) {
      // The sums are final after the last K block.
      Value final = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, kEnd, k);
      auto ifOp = scf::IfOp::create(b, accTypes, final, true, true);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(ifOp.thenBlock());
      SmallVector<Value> finished;
      llvm::DenseMap<std::pair<Value, int64_t>, Value> rowOperands;
      for (int64_t i = 0; i < rowCount; ++i)
        for (int64_t v = 0; v < vectors; ++v)
          if (valid[v] != 0)
            finished.push_back(applyEpilogue(acc[finished.size()], lhsRowsAt[i],
                                             add(column, index(v * t.lanes)), maskFor(v), v,
                                             rowOperands));
      scf::YieldOp::create(b, finished);
      b.setInsertionPointToStart(ifOp.elseBlock());
      scf::YieldOp::create(b, acc);
      acc = ifOp.getResults();
    }

    int64_t at = 0;
    for (int64_t i = 0; i < rowCount; ++i)
      for (int64_t v = 0; v < vectors; ++v) {
        if (valid[v] == 0)
          continue;
        Value mask = maskFor(v);
        auto write = vector::TransferWriteOp::create(
            b, acc[at++], tile, ValueRange{rowsAt[i], add(tileColumn, index(v * t.lanes))},
            ArrayRef<bool>{true});
        if (mask)
          write.getMaskMutable().assign(mask);
        tile = write.getResult();
      }
    return tile;
  }

  /// The epilogue applied to `value`, the accumulators of vector `v` of a
  /// micro-tile row at (`row`, `column`) of the result. `rowOperands` keeps
  /// the reads of operands without a row dimension (a bias [N], a mask
  /// [B, 1, 1, N] broadcast over the rows), the same for every row of the
  /// tile.
  Value applyEpilogue(Value value, Value row, Value column, Value mask, int64_t v,
                      llvm::DenseMap<std::pair<Value, int64_t>, Value> &rowOperands) {
    Value zero = arith::ConstantOp::create(b, b.getF32FloatAttr(0.0f));
    int64_t resultRank = resultType.getRank();
    // The operand's vector for this accumulator: numpy broadcasting, a
    // size-1 dimension against a larger one read at index 0.
    auto read = [&](Value tensor) -> Value {
      auto type = cast<RankedTensorType>(tensor.getType());
      int64_t offset = resultRank - type.getRank();
      SmallVector<Value> at;
      bool perRow = false, perColumn = false;
      for (auto [i, size] : llvm::enumerate(type.getShape())) {
        int64_t d = offset + i;
        if (size == 1 && resultType.getDimSize(d) != 1) {
          at.push_back(index(0));
          continue;
        }
        perRow |= d == resultRank - 2;
        perColumn |= d == resultRank - 1;
        at.push_back(d == resultRank - 1   ? column
                     : d == resultRank - 2 ? row
                                           : resultCoords[d]);
      }
      Value *cached = perRow ? nullptr : &rowOperands[{tensor, v}];
      if (cached && *cached)
        return *cached;
      Value result;
      if (perColumn) {
        auto op = vector::TransferReadOp::create(b, vec, tensor, at, zero,
                                                 ArrayRef<bool>{true});
        if (mask)
          op.getMaskMutable().assign(mask);
        result = op;
      } else { // one value for the whole vector
        result = vector::BroadcastOp::create(b, vec, tensor::ExtractOp::create(b, tensor, at));
      }
      if (cached)
        *cached = result;
      return result;
    };
    Value consumed = product;
    for (Operation *op : epilogue) {
      if (isa<ReshapeOp>(op)) {
        consumed = op->getResult(0);
        continue;
      }
      SmallVector<Value> args;
      for (Value operand : op->getOperands()) {
        DenseElementsAttr splat;
        if (operand == consumed)
          args.push_back(value);
        else if (matchPattern(operand, m_Constant(&splat)) && splat.isSplat())
          args.push_back(arith::ConstantOp::create(
              b, DenseElementsAttr::get(vec, splat.getSplatValue<Attribute>())));
        else if (Value inProductShape = collapsed.lookup(operand))
          args.push_back(read(inProductShape));
        else
          args.push_back(read(operand));
      }
      value = buildElementwiseBody(op, b, b.getLoc(), args, f32);
      consumed = op->getResult(0);
    }
    return value;
  }

  ImplicitLocOpBuilder &b;
  IndexMath x;
  const Tiling &t;
  Value accumulator;
  Value product;
  ArrayRef<Operation *> epilogue;
  llvm::DenseMap<Value, Value> collapsed;
  SmallVector<Value> resultCoords;
  Value lhs, rhs;
  bool transposeLhs, transposeRhs;
  RankedTensorType resultType;
  ArrayRef<int64_t> lhsBatch, rhsBatch;
  /// The result's batch sizes, and their product.
  SmallVector<Value> batchSizes;
  Value batch;
  /// Tasks split rows into `groups` of `tilesPerGroup` micro-tiles and
  /// panels into `columnGroups` of `panelsPerGroup`.
  Value m, n, k, panels, fullTiles, groups, tilesPerGroup, panelsPerGroup, columnGroups;
  /// The row groups before a short, wide product's tasks take every row
  /// (constant where M is, whatever N).
  Value rowSplitGroups;
  /// Whether each K block is a set of tasks of its own (static K only).
  bool blocksOutside = false;
  /// The result's images (its batch), and on symbolic planes the images
  /// side by side in one matrix (null: one a matrix; canGroupImages) and
  /// each image's columns.
  Value images, imagesPerGroup, imageLength;
  /// Whether the tasks being built are groups' of several images (their
  /// panels' columns side by side) or of one; nullopt without groups.
  std::optional<bool> groupedTile;
  /// Where an image has fewer columns than T, images are grouped, about T
  /// columns a group (groupColumns): patches, whose per-image panels each
  /// task packs where it uses them, and planes read in place (a pointwise
  /// convolution's; 8 × 12² with 512 → 128 channels at 2 threads: 0.82 ms
  /// alone, 0.75 in pairs, static 0.70; a 3×3 one with 128 channels, 2.35
  /// against 2.52 ms in pairs).
  static constexpr int64_t kPatchGroupColumns = 128, kPlaneGroupColumns = 256;
  int64_t groupColumns = 0;
  /// The fewest micro-tiles a task of a group takes where the rows are split
  /// for more tasks: each task reads every panel of the group.
  static constexpr int64_t kMinGroupTiles = 4;
  static constexpr int64_t kMinRowGroups = 4, kColumnGroups = 16, kMinGroupPanels = 4;
  /// The task's first column, and N's columns in the ragged panel.
  Value columnBegin, columnsLeft;
  Type f32;
  VectorType vec;
  /// The packed rhs (null: read in place, or packed by each task) and
  /// rhs's matrix in it.
  Value packed, packedAt;
  /// The packed rhs as a buffer, for prefetching its rows.
  Value packedBuffer;
  static constexpr int64_t kCacheLineBytes = 64, kPrefetchBytes = 3072;
  /// An im2col's rows, which each task packs panel by panel (taskPanel:
  /// the current one, from row taskPanelK).
  std::optional<Im2colPanelRows> taskRows;
  Value taskPanel, taskPanelK;
  static constexpr int64_t kTaskPackedMaxGroups = 2;
  SmallVector<Value> lhsIndices, rhsIndices;
  static constexpr int64_t kInPlaceRhsPanels = 4;
  /// The packed lhs (null: read in place) and lhs's matrix in it.
  Value packedLhs, packedLhsAt;
  static constexpr int64_t kPackLhsMinColumns = 256, kPackLhsMinDepth = 512,
                           kPackLhsMinRows = 256;
};

bool isKernelMatmul(MatmulOp op) {
  // Symbolic sizes are at least 1 (their bounds' least minimum); operands
  // with a static size 0 are left to the generic lowering.
  auto isF32Matrix = [](Type type) {
    auto tensor = dyn_cast<RankedTensorType>(type);
    return tensor && tensor.getRank() >= 2 && tensor.getElementType().isF32() &&
           !llvm::is_contained(tensor.getShape(), 0);
  };
  return isF32Matrix(op.getLhs().getType()) && isF32Matrix(op.getRhs().getType()) &&
         isF32Matrix(op.getType());
}

/// The add that `op`'s product can be summed into: its only user, an
/// ube.add of a tensor of the product's own type (no broadcasting).
AddOp accumulatingAdd(MatmulOp op) {
  if (!op->hasOneUse())
    return {};
  auto add = dyn_cast<AddOp>(*op->user_begin());
  if (!add || add.getType() != op.getType() || add.getLhs().getType() != add.getRhs().getType())
    return {};
  return add;
}

/// Whether `operand` of an epilogue op can be read for a tile of `product`:
/// a splat constant, or an f32 tensor that broadcasts to the product (a
/// bias [N], a residual of the product's shape, an attention mask
/// [B, 1, 1, N]): each dimension 1 or the product's own (symbolic ones
/// symbolic in both). `shape`: the operand's, read through a reshape.
bool isEpilogueOperand(Value operand, RankedTensorType product,
                       std::optional<ArrayRef<int64_t>> shape = std::nullopt) {
  auto type = dyn_cast<RankedTensorType>(operand.getType());
  if (!type || !type.getElementType().isF32())
    return false;
  DenseElementsAttr splat;
  if (matchPattern(operand, m_Constant(&splat)) && splat.isSplat())
    return true;
  if (shape)
    type = RankedTensorType::get(*shape, type.getElementType());
  if (type.getRank() > product.getRank())
    return false;
  int64_t offset = product.getRank() - type.getRank();
  return llvm::all_of(llvm::enumerate(type.getShape()), [&](auto dim) {
    auto [i, size] = dim;
    return size == 1 || size == product.getDimSize(offset + i);
  });
}

/// The shape `operand` of an op after `reshape` in an epilogue has in the
/// product's shape, when there is one: `reshape` splits the product's last
/// dimension (a convolution's positions into rows and columns), and the
/// operand is 1 or the reshape's own size along all of the split
/// dimensions (a bias [C, 1, 1], a residual [N, C, H, W]).
std::optional<SmallVector<int64_t>> collapsedShape(Value operand, ReshapeOp reshape) {
  auto type = cast<RankedTensorType>(operand.getType());
  auto productType = cast<RankedTensorType>(reshape.getInput().getType());
  auto reshaped = cast<RankedTensorType>(reshape.getType());
  int64_t split = reshaped.getRank() - productType.getRank() + 1;
  int64_t offset = reshaped.getRank() - type.getRank();
  ArrayRef<int64_t> shape = type.getShape();
  int64_t firstSplit = std::max<int64_t>(0, type.getRank() - split);
  ArrayRef<int64_t> tail = shape.drop_front(firstSplit);
  SmallVector<int64_t> result(shape.take_front(firstSplit));
  if (llvm::all_of(tail, [](int64_t size) { return size == 1; }))
    result.push_back(1);
  else if (int64_t(tail.size()) == split &&
           tail == reshaped.getShape().drop_front(offset + firstSplit))
    result.push_back(productType.getShape().back());
  else
    return std::nullopt;
  return result;
}

/// Whether `reshape` (of `product`) only splits its last dimension into
/// static sizes.
bool splitsLastDimension(ReshapeOp reshape, RankedTensorType product) {
  auto reshaped = cast<RankedTensorType>(reshape.getType());
  int64_t rank = product.getRank();
  return reshaped.getRank() > rank && !product.isDynamicDim(rank - 1) &&
         reshaped.getShape().take_front(rank - 1) == product.getShape().drop_back() &&
         llvm::none_of(reshaped.getShape().drop_front(rank - 1), ShapedType::isDynamic) &&
         llvm::product_of(reshaped.getShape().drop_front(rank - 1)) ==
             product.getDimSize(rank - 1);
}

/// The elementwise ops that can run on `op`'s accumulators before they are
/// stored: a chain of float ops, each the only user of the previous value
/// (the first: of the product), of the product's type, whose other operands
/// are isEpilogueOperand. Once in the chain, a reshape that splits the
/// product's last dimension (a 1×1 convolution's [N, C, H·W] product as
/// [N, C, H, W]) may come: the ops after it are of its type, their other
/// operands read in the product's shape (collapsedShape).
SmallVector<Operation *> epilogueChain(MatmulOp op) {
  SmallVector<Operation *> chain;
  auto productType = cast<RankedTensorType>(op.getType());
  ReshapeOp reshape;
  Value current = op.getResult();
  while (current.hasOneUse()) {
    Operation *user = *current.user_begin();
    if (auto next = dyn_cast<ReshapeOp>(user)) {
      if (reshape || !splitsLastDimension(next, productType) || !next->hasOneUse())
        break;
      reshape = next;
      chain.push_back(user);
      current = next.getResult();
      continue;
    }
    if (!isFloatEpilogueOp(user) || user->getResult(0).getType() != current.getType())
      break;
    if (!llvm::all_of(user->getOperands(), [&](Value operand) {
          if (operand == current)
            return true;
          if (!reshape)
            return isEpilogueOperand(operand, productType);
          std::optional<SmallVector<int64_t>> shape = collapsedShape(operand, reshape);
          return shape && isEpilogueOperand(operand, productType, ArrayRef<int64_t>(*shape));
        }))
      break;
    chain.push_back(user);
    current = user->getResult(0);
  }
  // A reshape with nothing after it is the kernel's user, not its epilogue.
  while (!chain.empty() && isa<ReshapeOp>(chain.back()))
    chain.pop_back();
  return chain;
}

struct TileMatmul : OpRewritePattern<MatmulOp> {
  TileMatmul(MLIRContext *context, Tiling tiling)
      : OpRewritePattern(context), tiling(tiling) {}

  LogicalResult matchAndRewrite(MatmulOp op, PatternRewriter &rewriter) const override {
    if (!isKernelMatmul(op))
      return rewriter.notifyMatchFailure(op, "not a non-empty f32 matrix product");
    if (accumulatingAdd(op))
      return rewriter.notifyMatchFailure(op, "summed into its user (TileAccumulatingMatmul)");
    SmallVector<Operation *> epilogue = epilogueChain(op);
    // Where the epilogue's last op is, every operand it reads is defined.
    Operation *last = epilogue.empty() ? op.getOperation() : epilogue.back();
    rewriter.setInsertionPoint(last);
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    // The operands of the ops after a reshape, in the product's shape.
    // (Not the chain's own values, which go with it, nor splat constants,
    // which the epilogue splats.)
    llvm::DenseMap<Value, Value> collapsed;
    auto reshape = llvm::find_if(epilogue, [](Operation *e) { return isa<ReshapeOp>(e); });
    if (reshape != epilogue.end())
      for (Operation *e : ArrayRef(epilogue).drop_front(reshape - epilogue.begin() + 1))
        for (Value operand : e->getOperands()) {
          Operation *def = operand.getDefiningOp();
          DenseElementsAttr splat;
          if (def && (def == op || llvm::is_contained(epilogue, def) ||
                      (matchPattern(operand, m_Constant(&splat)) && splat.isSplat())))
            continue;
          std::optional<SmallVector<int64_t>> shape =
              collapsedShape(operand, cast<ReshapeOp>(*reshape));
          if (shape && !collapsed.count(operand))
            collapsed[operand] = ReshapeOp::create(
                b, RankedTensorType::get(*shape, cast<ShapedType>(operand.getType())
                                                     .getElementType()),
                operand);
        }
    Value result = MatmulKernelBuilder(b, op, tiling, {}, epilogue, collapsed).build();
    if (result.getType() != last->getResult(0).getType())
      result = ReshapeOp::create(b, last->getResult(0).getType(), result);
    rewriter.replaceOp(last, result);
    if (!epilogue.empty()) {
      for (Operation *dead : llvm::reverse(ArrayRef(epilogue).drop_back()))
        rewriter.eraseOp(dead);
      rewriter.eraseOp(op);
    }
    return success();
  }

  Tiling tiling;
};

/// x + lhs·rhs as one kernel that starts from x. When both operands are
/// such products, the second is summed into the first.
struct TileAccumulatingMatmul : OpRewritePattern<AddOp> {
  TileAccumulatingMatmul(MLIRContext *context, Tiling tiling)
      : OpRewritePattern(context), tiling(tiling) {}

  LogicalResult matchAndRewrite(AddOp add, PatternRewriter &rewriter) const override {
    for (OpOperand &operand : llvm::reverse(add->getOpOperands())) {
      auto product = operand.get().getDefiningOp<MatmulOp>();
      if (!product || !isKernelMatmul(product) || accumulatingAdd(product) != add)
        continue;
      Value accumulator = add->getOperand(1 - operand.getOperandNumber());
      ImplicitLocOpBuilder b(add.getLoc(), rewriter);
      rewriter.replaceOp(add, MatmulKernelBuilder(b, product, tiling, accumulator).build());
      rewriter.eraseOp(product);
      return success();
    }
    return rewriter.notifyMatchFailure(add, "no product to sum into the other operand");
  }

  Tiling tiling;
};

struct UbeCpuMatmulKernelsPass
    : ube::impl::UbeCpuMatmulKernelsBase<UbeCpuMatmulKernelsPass> {
  using Base::Base;
  void runOnOperation() override {
    if (vectorWidth < 1 || panelWidth % vectorWidth != 0 || tileRows < 1 || kBlock < 1 ||
        tilesPerTask < 1 || minTasks < 1 || l1WaySpan < 64 || l1Ways < 1 ||
        panelGroupBytes < 1) {
      getOperation().emitError("ube-cpu-matmul-kernels: panel-width must be a multiple of "
                               "vector-width, and every size positive");
      return signalPassFailure();
    }
    RewritePatternSet patterns(&getContext());
    patterns.add<TileMatmul, TileAccumulatingMatmul>(
        &getContext(), Tiling{vectorWidth, tileRows, panelWidth, kBlock, tilesPerTask, minTasks,
                             l1WaySpan, l1Ways, panelGroupBytes});
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns), kernelRewriteConfig())))
      signalPassFailure();
  }
};

} // namespace
