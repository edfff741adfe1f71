//===- DepthwiseKernels.cpp - depthwise convolutions for CPUs -------------===//
//
// A depthwise convolution (one input and one output channel per group:
// MobileNet's and ConvNeXt's blocks) is K products per output with its own
// channel's weights: no matmul to speak of. The sum of shifted views that
// --ube-depthwise-convolutions-as-taps builds reads one view per tap from
// memory and strided lanes when the stride is not 1. Here each becomes, on
// tensors,
//
//   scf.forall over groups of planes (n, c) (tasks for the thread pool)
//     the task's padded plane: zeros once; each plane's rows copied in,
//     so that it is read from L1 and no tap needs a bounds check
//     for each tile of R consecutive output rows × G vectors of a row:
//       for each input row the tile reads, for each kernel column: its
//         lanes for each vector (stride s: s · lanes consecutive, every
//         s-th kept by a shuffle) loaded once, times the broadcast weight
//         of each kernel row that reads it there, accumulated
//       the tile written
//
// A row's last vector ends at the row's end, overlapping the one before it
// (same values written twice) rather than a masked ragged end, and so does
// the last tile of rows. Only a row shorter than a vector is masked; a
// plane of fewer rows than a tile repeats its last row, the kernel's rows
// in a loop. A row's ragged end is copied into the padded plane as a whole
// vector (read masked: zeros past the row), since masked stores are slow.
//
// The weight gradient of such a convolution (DepthwiseWeightGradBuilder)
// reads the same padded planes: per tap, the sum over every position of
// the output gradient times the tap's input lanes.
//
// The planes may be symbolic (an image of any size): their sizes, the
// padded plane's, the tile counts and the task split are then computed at
// run time by the same index arithmetic, which folds to constants on static
// shapes. The tile stays static, one vector wide on AVX2 (a row's vector
// count is unknown); the masked version of the tile loop for rows narrower
// than a vector and the one for planes shorter than a tile are chosen at
// run time.
//
//===----------------------------------------------------------------------===//

#include "passes/Cpu/Passes.h"

#include "dialects/ube/UbeOps.h"
#include "passes/Linalg/ElementwiseBody.h"
#include "passes/Utils/KernelBuilding.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace ube {
#define GEN_PASS_DEF_UBECPUDEPTHWISEKERNELS
#include "passes/Cpu/Passes.h.inc"
} // namespace ube

using namespace mlir;
using namespace ube;

namespace {

/// The most memory the tasks' padded planes take together (the arena holds
/// one per task): large planes make fewer, larger tasks.
constexpr int64_t kMaxScratchBytes = 32 << 20;

/// The largest window whose taps a tile takes unrolled (each input row
/// loaded once for the kernel rows that read it); larger ones loop over
/// the kernel's rows.
constexpr int64_t kMaxUnrolledTaps = 49;

/// Accumulators a tile keeps in registers: enough independent FMA chains to
/// hide their latency, few enough to leave registers for the loads.
int64_t tileAccumulators(int64_t lanes) { return lanes >= 16 ? 8 : 4; }

/// The sizes of a depthwise convolution as a plane per (n, c): a 1-D one
/// is a plane of one row. Plane sizes are index values, constants where the
/// shapes are static (IndexMath folds), computed at run time where the
/// planes are symbolic; the window and the tile are static.
struct DepthwiseGeometry {
  int64_t channels;
  Value height, width, outHeight, outWidth;
  int64_t kernelHeight = 1, kernelWidth, strideH = 1, strideW, dilationH = 1, dilationW;
  int64_t padTop = 0, padLeft;
  Value paddedHeight, paddedWidth;
  /// The tile: `tileRows` output rows × `tileVectors` vectors of each.
  int64_t tileRows, tileVectors;
  Value rowTiles, vectorGroups;

  /// `in` the convolution's input [N, C, *S]; `outSpatial` the spatial
  /// sizes of its result (or the result's gradient). `maskedEnds`: a row's
  /// last vector starts at a whole number of vectors (masked past the
  /// row), not at the row's last lanes.
  DepthwiseGeometry(IndexMath &ix, Value in, ArrayRef<Value> outSpatial, const Window &w,
                    int64_t lanes, bool maskedEnds) {
    bool flat = w.rank() == 1;
    int64_t rank = cast<RankedTensorType>(in.getType()).getRank();
    channels = cast<RankedTensorType>(in.getType()).getDimSize(1);
    height = flat ? ix.c(1) : ix.dim(in, 2);
    width = ix.dim(in, rank - 1);
    outHeight = flat ? ix.c(1) : outSpatial.front();
    outWidth = outSpatial.back();
    int64_t last = w.rank() - 1;
    if (!flat) {
      kernelHeight = w.kernel[0];
      strideH = w.stride[0];
      dilationH = w.dilation[0];
      padTop = w.padBegin[0];
    }
    kernelWidth = w.kernel[last];
    strideW = w.stride[last];
    dilationW = w.dilation[last];
    padLeft = w.padBegin[last];
    paddedHeight = ix.add(height, ix.c(padTop + (flat ? 0 : w.padEnd[0])));
    // Every vector reads strideW · lanes columns from its first: a row's
    // last vector reads that far past its start.
    Value vectors = ix.ceilDiv(outWidth, ix.c(lanes));
    Value lastStart = maskedEnds ? ix.mul(ix.sub(vectors, ix.c(1)), ix.c(lanes))
                                 : ix.sub(ix.max(outWidth, ix.c(lanes)), ix.c(lanes));
    paddedWidth = ix.max(ix.add(width, ix.c(padLeft + w.padEnd[last])),
                         ix.add(ix.mul(ix.add(lastStart, ix.c(lanes)), ix.c(strideW)),
                                ix.c((kernelWidth - 1) * dilationW)));
    // A row's ragged end is copied in as a whole vector (a masked read, its
    // lanes past the row zeros): masked stores are slow (microcoded on AMD).
    if (IndexMath::constant(ix.rem(width, ix.c(lanes))) != 0)
      paddedWidth = ix.max(paddedWidth, ix.add(width, ix.c(padLeft + lanes)));
    std::optional<int64_t> staticVectors = IndexMath::constant(vectors);
    std::optional<int64_t> staticHeight = IndexMath::constant(outHeight);
    if (staticVectors) {
      int64_t groups = llvm::divideCeil(*staticVectors, tileAccumulators(lanes) / 2);
      tileVectors = llvm::divideCeil(*staticVectors, groups);
    } else {
      // Rows of unknown width: one vector per tile row (a second one would
      // repeat the first on rows of one vector), its rows the accumulators.
      tileVectors = tileAccumulators(lanes) / 4;
    }
    tileRows = std::max<int64_t>(1, tileAccumulators(lanes) / tileVectors);
    if (staticHeight)
      tileRows = std::min(*staticHeight, tileRows);
    vectorGroups = ix.ceilDiv(vectors, ix.c(tileVectors));
    rowTiles = ix.ceilDiv(outHeight, ix.c(tileRows));
  }
};

/// What the depthwise kernels share: the planes of the input as rows
/// (`x`: [N · C, prod(S)]), each copied into a task's padded plane, and the
/// lanes one output vector reads there.
class DepthwisePlanes {
protected:
  DepthwisePlanes(ImplicitLocOpBuilder &b, Value input, ArrayRef<Value> outSpatial,
                  const Window &window, int64_t lanes, bool maskedEnds)
      : b(b), ix(b), g(ix, input, outSpatial, window, lanes, maskedEnds), lanes(lanes),
        f32(b.getF32Type()), vec(VectorType::get({lanes}, f32)) {
    // Planes as rows: [N, C, *S] -> [N · C, prod(S)] (a 1-D one is a plane
    // of one row).
    int64_t rank = cast<RankedTensorType>(input.getType()).getRank();
    planeGroups = {{0, 1}, {}};
    for (int64_t d = 2; d < rank; ++d)
      planeGroups[1].push_back(d);
    x = tensor::CollapseShapeOp::create(b, input, planeGroups);
  }

  /// How many tasks may each hold a padded plane: together at most
  /// kMaxScratchBytes.
  Value scratchTasks() {
    return ix.max(ix.c(1), ix.div(ix.c(kMaxScratchBytes),
                                  ix.mul(ix.mul(g.paddedHeight, g.paddedWidth),
                                         ix.c(int64_t(sizeof(float))))));
  }

  /// A tensor of `sizes` (static where they are constants).
  Value emptyTensor(ArrayRef<Value> sizes) {
    SmallVector<int64_t> shape;
    SmallVector<Value> dynamic;
    for (Value size : sizes) {
      std::optional<int64_t> known = IndexMath::constant(size);
      shape.push_back(known.value_or(ShapedType::kDynamic));
      if (!known)
        dynamic.push_back(size);
    }
    return tensor::EmptyOp::create(b, shape, f32, dynamic);
  }

  /// [rows, columns] computed by tasks of `perTask` rows (an scf.forall):
  /// `body(begin, count, slice)` returns rows [begin, begin + count)
  /// computed into `slice` ([count, columns]).
  Value buildRowTasks(Value rows, Value perTask, Value columns,
                      function_ref<Value(Value begin, Value count, Value slice)> body) {
    Value init = emptyTensor({rows, columns});
    auto forall = scf::ForallOp::create(
        b, ArrayRef<OpFoldResult>{getAsOpFoldResult(ix.ceilDiv(rows, perTask))},
        ValueRange{init}, std::nullopt);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(forall.getBody());
    Value begin = ix.mul(forall.getInductionVars()[0], perTask);
    Value count = ix.min(perTask, ix.sub(rows, begin));
    SmallVector<OpFoldResult> offsets = {begin, b.getIndexAttr(0)};
    SmallVector<OpFoldResult> sizes = {count, getAsOpFoldResult(columns)};
    SmallVector<OpFoldResult> strides(2, b.getIndexAttr(1));
    auto sliceType = RankedTensorType::get(
        {ShapedType::kDynamic, IndexMath::constant(columns).value_or(ShapedType::kDynamic)}, f32);
    Value slice = tensor::ExtractSliceOp::create(b, sliceType, forall.getRegionIterArgs()[0],
                                                 offsets, sizes, strides);
    slice = body(begin, count, slice);
    b.setInsertionPointToStart(forall.getTerminator().getBody());
    tensor::ParallelInsertSliceOp::create(b, slice, forall.getRegionIterArgs()[0], offsets,
                                          sizes, strides);
    return forall.getResult(0);
  }

  /// A zero-filled padded plane.
  Value zeroPlane() {
    Value padded = emptyTensor({g.paddedHeight, g.paddedWidth});
    return linalg::FillOp::create(b, ValueRange{scalar(0.0)}, ValueRange{padded}).getResult(0);
  }

  /// Input plane `plane` copied into the interior of `padded`, row by row,
  /// one vector at a time (the ragged end read masked); the border stays
  /// zero.
  Value copyPlane(Value plane, Value padded) {
    Value full = ix.div(g.width, ix.c(lanes)), ragged = ix.rem(g.width, ix.c(lanes));
    Value raggedMask = mask(ragged);
    return buildLoop(b, ix.c(0), g.height, ix.c(1), ValueRange{padded},
                     [&](Value y, ValueRange state) -> SmallVector<Value> {
                       Value row = ix.add(y, ix.c(g.padTop));
                       // A ragged end (`mask`) is read masked and written
                       // whole: zeros past the row, within the padded one.
                       auto copy = [&](Value at, Value out, Value mask) {
                         Value from = ix.add(ix.mul(y, g.width), at);
                         auto read = vector::TransferReadOp::create(
                             b, vec, x, ValueRange{plane, from}, scalar(0.0),
                             ArrayRef<bool>{true});
                         if (mask)
                           read.getMaskMutable().assign(mask);
                         return vector::TransferWriteOp::create(
                                    b, read, out, ValueRange{row, ix.add(at, ix.c(g.padLeft))},
                                    ArrayRef<bool>{true})
                             .getResult();
                       };
                       Value out = state[0];
                       Value fullEnd = ix.mul(full, ix.c(lanes));
                       if (IndexMath::constant(full) != 0)
                         out = buildLoop(b, ix.c(0), fullEnd, ix.c(lanes), ValueRange{out},
                                         [&](Value at, ValueRange s) -> SmallVector<Value> {
                                           return {copy(at, s[0], nullptr)};
                                         })[0];
                       // (An empty mask, where the width is a whole number
                       // of vectors at run time, writes zeros past the row.)
                       if (IndexMath::constant(ragged) != 0)
                         out = copy(fullEnd, out, raggedMask);
                       return {out};
                     })[0];
  }

  /// The input lanes of one output vector: `lanes` columns of `padded` from
  /// `at`, `g.strideW` apart.
  Value readLanes(Value padded, Value row, Value at) {
    int64_t s = g.strideW;
    auto wide = VectorType::get({s * lanes}, f32);
    Value read = vector::TransferReadOp::create(b, wide, padded, ValueRange{row, at},
                                                scalar(0.0), ArrayRef<bool>{true});
    if (s == 1)
      return read;
    SmallVector<int64_t> every;
    for (int64_t l = 0; l < lanes; ++l)
      every.push_back(l * s);
    return vector::ShuffleOp::create(b, read, read, every);
  }

  /// The first `length` lanes.
  Value mask(Value length) {
    return vector::CreateMaskOp::create(b, VectorType::get({lanes}, b.getI1Type()),
                                        ValueRange{length});
  }
  Value scalar(double v) { return arith::ConstantOp::create(b, b.getF32FloatAttr(float(v))); }
  Value splat(double v) {
    return arith::ConstantOp::create(b, DenseElementsAttr::get(vec, b.getF32FloatAttr(float(v))));
  }

  ImplicitLocOpBuilder &b;
  IndexMath ix;
  DepthwiseGeometry g;
  int64_t lanes;
  Type f32;
  VectorType vec;
  SmallVector<ReassociationIndices> planeGroups;
  Value x;
};

/// The spatial sizes of `value` ([N, C, *S]).
SmallVector<Value> spatialSizes(ImplicitLocOpBuilder &b, Value value) {
  IndexMath ix(b);
  SmallVector<Value> sizes;
  for (int64_t d = 2; d < cast<RankedTensorType>(value.getType()).getRank(); ++d)
    sizes.push_back(ix.dim(value, d));
  return sizes;
}

/// The spatial sizes of a convolution's result: constants where static,
/// else from the window over the input's sizes.
SmallVector<Value> convOutputSpatial(ImplicitLocOpBuilder &b, ConvOp op) {
  IndexMath ix(b);
  SmallVector<Value> sizes;
  RankedTensorType type = op.getType();
  Window window = op.window();
  for (int64_t d = 2; d < type.getRank(); ++d)
    sizes.push_back(type.isDynamicDim(d)
                        ? window.outputSize(b, b.getLoc(), d - 2, ix.dim(op.getInput(), d))
                        : ix.c(type.getDimSize(d)));
  return sizes;
}

class DepthwiseKernelBuilder : DepthwisePlanes {
public:
  /// `epilogue`: elementwise ops applied to the convolution's result
  /// (depthwiseEpilogue), whose last one's result the kernel computes.
  DepthwiseKernelBuilder(ImplicitLocOpBuilder &b, ConvOp op, int64_t lanes, int64_t taskElements,
                         ArrayRef<Operation *> epilogue)
      : DepthwisePlanes(b, op.getInput(), convOutputSpatial(b, op), op.window(), lanes,
                        /*maskedEnds=*/false),
        op(op), taskElements(taskElements), epilogue(epilogue) {}

  Value build() {
    Value input = op.getInput();
    Value planes = ix.mul(ix.dim(input, 0), ix.c(g.channels));
    // The weight [C, 1, *K] as [C, taps]: the same grouping.
    weights = tensor::CollapseShapeOp::create(b, op.getWeight(), planeGroups);
    Value outPlane = ix.mul(g.outHeight, g.outWidth);
    // Each task has a padded plane of its own (one arena slot per task).
    Value planesPerTask =
        ix.min(planes, ix.max(ix.max(ix.c(1), ix.div(ix.c(taskElements), outPlane)),
                              ix.ceilDiv(planes, scratchTasks())));
    Value result = buildRowTasks(
        planes, planesPerTask, outPlane,
        [&](Value begin, Value count, Value slice) {
          return buildLoop(b, ix.c(0), count, ix.c(1), ValueRange{zeroPlane(), slice},
                           [&](Value p, ValueRange state) -> SmallVector<Value> {
                             Value plane = ix.add(begin, p);
                             Value filled = copyPlane(plane, state[0]);
                             return {filled, convolvePlane(plane, p, filled, state[1])};
                           })[1];
        });
    SmallVector<OpFoldResult> shape = {getAsOpFoldResult(ix.dim(input, 0)),
                                       b.getIndexAttr(g.channels)};
    if (op.getType().getRank() == 4)
      shape.push_back(getAsOpFoldResult(g.outHeight));
    shape.push_back(getAsOpFoldResult(g.outWidth));
    return tensor::ExpandShapeOp::create(b, op.getType(), result, planeGroups, shape);
  }

private:
  /// Output plane `plane` (row `p` of the task's `out`) from `padded`. A
  /// row narrower than a vector is written masked, and a plane with fewer
  /// rows than a tile takes the tiles that repeat its last row; where the
  /// sizes are known only at run time, the versions are all built and the
  /// sizes pick one.
  Value convolvePlane(Value plane, Value p, Value padded, Value out) {
    Value narrow = ix.lt(g.outWidth, ix.c(lanes));
    Value shortPlane = ix.lt(g.outHeight, ix.c(g.tileRows));
    return branch(narrow, out.getType(), [&](bool masked) {
      return branch(shortPlane, out.getType(), [&](bool repeatRows) {
        return convolveTiles(plane, p, padded, out, masked ? mask(g.outWidth) : Value(),
                             !repeatRows);
      });
    });
  }

  /// `build(condition)` where `condition` is a constant, else an scf.if of
  /// both.
  Value branch(Value condition, Type type, function_ref<Value(bool)> build) {
    if (std::optional<int64_t> known = IndexMath::constant(condition))
      return build(*known != 0);
    auto choice = scf::IfOp::create(b, type, condition, /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(choice.thenBlock());
    scf::YieldOp::create(b, build(true));
    b.setInsertionPointToStart(choice.elseBlock());
    scf::YieldOp::create(b, build(false));
    return choice.getResult(0);
  }

  /// The tiles of convolvePlane, each written under `narrow` when not null.
  /// `wholeTiles`: the plane has at least a tile's rows, and the last tile
  /// of rows ends at the plane's last row (overlapping the one before it):
  /// its rows are consecutive, so each input row a tile reads is loaded
  /// once for all the kernel rows that read it (accumulateTile). Otherwise
  /// rows past the plane's are its last one again, and each kernel row
  /// loads its own (accumulateKernelRow).
  Value convolveTiles(Value plane, Value p, Value padded, Value out, Value narrow,
                      bool wholeTiles) {
    Value channel = ix.rem(plane, ix.c(g.channels));
    Value init = op.getBias()
                     ? Value(vector::BroadcastOp::create(
                           b, vec, tensor::ExtractOp::create(b, op.getBias(), channel)))
                     : splat(0.0);
    bool unrolled = wholeTiles && g.kernelHeight * g.kernelWidth <= kMaxUnrolledTaps;
    SmallVector<Value> tapWeights;
    if (unrolled)
      for (int64_t t = 0; t < g.kernelHeight * g.kernelWidth; ++t)
        tapWeights.push_back(vector::BroadcastOp::create(
            b, vec, tensor::ExtractOp::create(b, weights, ValueRange{channel, ix.c(t)})));
    Value lastRow = ix.sub(g.outHeight, ix.c(1));
    Value lastTileRow = ix.sub(g.outHeight, ix.c(g.tileRows));
    Value lastColumn = ix.sub(ix.max(g.outWidth, ix.c(lanes)), ix.c(lanes));
    // Tiles in a nest (a row of tiles, then its vector groups): a flat tile
    // index would divide by the group count, a run-time division per tile
    // on symbolic planes.
    return buildLoop(
        b, ix.c(0), g.rowTiles, ix.c(1), ValueRange{out},
        [&](Value rowTile, ValueRange rowState) -> SmallVector<Value> {
          Value first = ix.mul(rowTile, ix.c(g.tileRows));
          if (wholeTiles)
            first = ix.min(first, lastTileRow);
          SmallVector<Value> rows;
          for (int64_t r = 0; r < g.tileRows; ++r)
            rows.push_back(wholeTiles ? ix.add(first, ix.c(r))
                                      : ix.min(ix.add(first, ix.c(r)), lastRow));
          return buildLoop(
              b, ix.c(0), g.vectorGroups, ix.c(1), rowState,
              [&](Value group, ValueRange state) -> SmallVector<Value> {
                // Vectors past the row's are its last one again.
                SmallVector<Value> columns;
                for (int64_t v = 0; v < g.tileVectors; ++v)
                  columns.push_back(ix.min(
                      ix.mul(ix.add(ix.mul(group, ix.c(g.tileVectors)), ix.c(v)), ix.c(lanes)),
                      lastColumn));
                SmallVector<Value> acc(g.tileRows * g.tileVectors, init);
                if (unrolled)
                  acc = accumulateTile(tapWeights, padded, first, columns, acc);
                else
                  acc = buildLoop(b, ix.c(0), ix.c(g.kernelHeight), ix.c(1), acc,
                                  [&](Value kh, ValueRange sums) -> SmallVector<Value> {
                                    return accumulateKernelRow(channel, kh, padded, rows,
                                                               columns, sums);
                                  });
                for (Value &sum : acc)
                  sum = applyEpilogue(sum);
                Value result = state[0];
                for (int64_t r = 0; r < g.tileRows; ++r)
                  for (int64_t v = 0; v < g.tileVectors; ++v) {
                    auto write = vector::TransferWriteOp::create(
                        b, acc[r * g.tileVectors + v], result,
                        ValueRange{p, ix.add(ix.mul(rows[r], g.outWidth), columns[v])},
                        ArrayRef<bool>{true});
                    if (narrow)
                      write.getMaskMutable().assign(narrow);
                    result = write.getResult();
                  }
                return {result};
              });
        })[0];
  }

  /// The sums of a tile of consecutive rows from `first` plus all its taps
  /// (`tapWeights`, broadcast), the kernel unrolled: each input row the
  /// tile reads is loaded once per kernel column and vector, for every
  /// output row and kernel row that meet there. Each sum takes its taps in
  /// the kernel's order, as accumulateKernelRow adds them.
  SmallVector<Value> accumulateTile(ArrayRef<Value> tapWeights, Value padded, Value first,
                                    ArrayRef<Value> columns, ArrayRef<Value> sums) {
    SmallVector<Value> acc(sums);
    Value firstIn = ix.mul(first, ix.c(g.strideH));
    int64_t span = (g.tileRows - 1) * g.strideH + (g.kernelHeight - 1) * g.dilationH + 1;
    for (int64_t offset = 0; offset < span; ++offset) {
      // The (output row, kernel row) pairs that read input row `offset`.
      SmallVector<std::pair<int64_t, int64_t>> readers;
      for (int64_t r = 0; r < g.tileRows; ++r)
        for (int64_t kh = 0; kh < g.kernelHeight; ++kh)
          if (r * g.strideH + kh * g.dilationH == offset)
            readers.push_back({r, kh});
      if (readers.empty())
        continue;
      Value inRow = ix.add(firstIn, ix.c(offset));
      for (int64_t kw = 0; kw < g.kernelWidth; ++kw)
        for (auto [v, column] : llvm::enumerate(columns)) {
          Value at = ix.add(ix.mul(column, ix.c(g.strideW)), ix.c(kw * g.dilationW));
          Value lanesIn = readLanes(padded, inRow, at);
          for (auto [r, kh] : readers) {
            Value &sum = acc[r * g.tileVectors + v];
            sum = math::FmaOp::create(b, lanesIn, tapWeights[kh * g.kernelWidth + kw], sum);
          }
        }
    }
    return acc;
  }

  /// The tile's sums plus kernel row `kh`'s taps.
  SmallVector<Value> accumulateKernelRow(Value channel, Value kh, Value padded,
                                         ArrayRef<Value> rows, ArrayRef<Value> columns,
                                         ValueRange sums) {
    SmallVector<Value> acc(sums);
    SmallVector<Value> inRows;
    for (Value row : rows)
      inRows.push_back(
          ix.add(ix.mul(row, ix.c(g.strideH)), ix.mul(kh, ix.c(g.dilationH))));
    for (int64_t kw = 0; kw < g.kernelWidth; ++kw) {
      Value tap = ix.add(ix.mul(kh, ix.c(g.kernelWidth)), ix.c(kw));
      Value weight = vector::BroadcastOp::create(
          b, vec, tensor::ExtractOp::create(b, weights, ValueRange{channel, tap}));
      for (auto [r, inRow] : llvm::enumerate(inRows))
        for (auto [v, column] : llvm::enumerate(columns)) {
          Value at = ix.add(ix.mul(column, ix.c(g.strideW)), ix.c(kw * g.dilationW));
          Value &sum = acc[r * g.tileVectors + v];
          sum = math::FmaOp::create(b, readLanes(padded, inRow, at), weight, sum);
        }
    }
    return acc;
  }

  /// The epilogue's ops applied to a vector of outputs: their other
  /// operands are splat constants.
  Value applyEpilogue(Value value) {
    Value consumed = op.getResult();
    for (Operation *e : epilogue) {
      SmallVector<Value> args;
      for (Value operand : e->getOperands()) {
        DenseElementsAttr splat;
        if (operand == consumed)
          args.push_back(value);
        else if (matchPattern(operand, m_Constant(&splat)))
          args.push_back(arith::ConstantOp::create(
              b, DenseElementsAttr::get(vec, splat.getSplatValue<Attribute>())));
      }
      value = buildElementwiseBody(e, b, b.getLoc(), args, f32);
      consumed = e->getResult(0);
    }
    return value;
  }

  ConvOp op;
  int64_t taskElements;
  ArrayRef<Operation *> epilogue;
  Value weights;
};

/// Tap accumulators the weight gradient keeps in registers at once.
constexpr int64_t kMaxTapAccumulators = 16;

/// The weight gradient of a depthwise convolution, dW[c, t] = Σ_{n, p}
/// g[n, c, p] · x[n, c, p · s + offset(t)]. One task per group of
/// channels; per channel and image, the input plane copied into the task's
/// padded plane, then for each vector of g's row each tap's input lanes
/// times it, accumulated in one vector per tap (a row's ragged end masked
/// in g, so nothing counts twice), the lanes summed at the end. Taps go a
/// group of kernel rows at a time (at most kMaxTapAccumulators in
/// registers); between groups and images the sums wait in a [taps, lanes]
/// tensor. Each channel's order of summation is fixed: the same bits on
/// any thread count.
class DepthwiseWeightGradBuilder : DepthwisePlanes {
public:
  DepthwiseWeightGradBuilder(ImplicitLocOpBuilder &b, ConvWeightGradOp op, int64_t lanes)
      : DepthwisePlanes(b, op.getInput(), spatialSizes(b, op.getGrad()), op.window(), lanes,
                        /*maskedEnds=*/true),
        op(op), taps(g.kernelHeight * g.kernelWidth) {}

  Value build() {
    grad = tensor::CollapseShapeOp::create(b, op.getGrad(), planeGroups);
    Value images = ix.dim(op.getInput(), 0);
    Value channels = ix.c(g.channels);
    Value perTask = ix.ceilDiv(channels, ix.min(channels, scratchTasks()));
    Value result = buildRowTasks(
        channels, perTask, ix.c(taps),
        [&](Value begin, Value count, Value slice) {
          // The task's own accumulators between groups of taps and images.
          Value zeroSums = tensor::EmptyOp::create(b, {taps, lanes}, f32);
          zeroSums = linalg::FillOp::create(b, ValueRange{scalar(0.0)}, ValueRange{zeroSums})
                         .getResult(0);
          return buildLoop(
              b, ix.c(0), count, ix.c(1), ValueRange{zeroPlane(), slice},
              [&](Value c, ValueRange state) -> SmallVector<Value> {
                Value channel = ix.add(begin, c);
                SmallVector<Value> planeAndSums = buildLoop(
                    b, ix.c(0), images, ix.c(1), ValueRange{state[0], zeroSums},
                    [&](Value n, ValueRange s) -> SmallVector<Value> {
                      Value plane = ix.add(ix.mul(n, ix.c(g.channels)), channel);
                      Value padded = copyPlane(plane, s[0]);
                      return {padded, accumulatePlane(plane, padded, s[1])};
                    });
                Value out = state[1];
                for (int64_t t = 0; t < taps; ++t) {
                  Value sum = vector::TransferReadOp::create(
                      b, vec, planeAndSums[1], ValueRange{ix.c(t), ix.c(0)}, scalar(0.0),
                      ArrayRef<bool>{true});
                  Value total = vector::ReductionOp::create(b, vector::CombiningKind::ADD, sum);
                  out = tensor::InsertOp::create(b, total, out, ValueRange{c, ix.c(t)});
                }
                return {planeAndSums[0], out};
              })[1];
        });
    // [C, taps] as the weight [C, 1, *K].
    auto weightType = cast<RankedTensorType>(op.getType());
    SmallVector<ReassociationIndices> weightGroups = {{0}, {}};
    for (int64_t d = 1; d < weightType.getRank(); ++d)
      weightGroups[1].push_back(d);
    return tensor::ExpandShapeOp::create(b, weightType, result, weightGroups);
  }

private:
  /// `sums` plus plane `plane`'s products (g's plane `plane`, the input's
  /// copied into `padded`).
  Value accumulatePlane(Value plane, Value padded, Value sums) {
    int64_t rowsPerGroup =
        std::max<int64_t>(1, std::min(g.kernelHeight, kMaxTapAccumulators / g.kernelWidth));
    for (int64_t kh0 = 0; kh0 < g.kernelHeight; kh0 += rowsPerGroup) {
      int64_t kh1 = std::min(g.kernelHeight, kh0 + rowsPerGroup);
      int64_t first = kh0 * g.kernelWidth, count = (kh1 - kh0) * g.kernelWidth;
      SmallVector<Value> acc;
      for (int64_t t = first; t < first + count; ++t)
        acc.push_back(vector::TransferReadOp::create(b, vec, sums, ValueRange{ix.c(t), ix.c(0)},
                                                     scalar(0.0), ArrayRef<bool>{true}));
      Value full = ix.div(g.outWidth, ix.c(lanes)), ragged = ix.rem(g.outWidth, ix.c(lanes));
      Value fullEnd = ix.mul(full, ix.c(lanes));
      Value raggedMask = mask(ragged);
      acc = buildLoop(
          b, ix.c(0), g.outHeight, ix.c(1), acc,
          [&](Value oh, ValueRange sumsIn) -> SmallVector<Value> {
            SmallVector<Value> rowAcc(sumsIn);
            if (IndexMath::constant(full) != 0)
              rowAcc = buildLoop(b, ix.c(0), full, ix.c(1), rowAcc,
                                 [&](Value v, ValueRange inner) -> SmallVector<Value> {
                                   return accumulateVector(plane, padded, oh,
                                                           ix.mul(v, ix.c(lanes)), Value(),
                                                           kh0, kh1, inner);
                                 });
            std::optional<int64_t> knownRagged = IndexMath::constant(ragged);
            if (knownRagged == 0)
              return rowAcc;
            if (knownRagged)
              return accumulateVector(plane, padded, oh, fullEnd, raggedMask, kh0, kh1, rowAcc);
            // A width known at run time: the ragged vector where there is one.
            auto ifRagged = scf::IfOp::create(b, ValueRange(rowAcc).getTypes(),
                                              ix.lt(ix.c(0), ragged), /*withElseRegion=*/true);
            OpBuilder::InsertionGuard guard(b);
            b.setInsertionPointToStart(ifRagged.thenBlock());
            scf::YieldOp::create(b, accumulateVector(plane, padded, oh, fullEnd, raggedMask,
                                                     kh0, kh1, rowAcc));
            b.setInsertionPointToStart(ifRagged.elseBlock());
            scf::YieldOp::create(b, rowAcc);
            return SmallVector<Value>(ifRagged.getResults());
          });
      for (auto [i, sum] : llvm::enumerate(acc))
        sums = vector::TransferWriteOp::create(b, sum, sums,
                                               ValueRange{ix.c(first + int64_t(i)), ix.c(0)},
                                               ArrayRef<bool>{true})
                   .getResult();
    }
    return sums;
  }

  /// The accumulators of kernel rows [kh0, kh1) plus the products of the
  /// output-gradient vector at row `oh`, column `column` with each tap's
  /// input lanes. Past a ragged row's end (`lanesMask`) both are zeros: the
  /// input lanes there may be columns no output reads, which must not
  /// count even when they are infinite.
  SmallVector<Value> accumulateVector(Value plane, Value padded, Value oh, Value column,
                                      Value lanesMask, int64_t kh0, int64_t kh1,
                                      ValueRange sums) {
    auto read = vector::TransferReadOp::create(
        b, vec, grad, ValueRange{plane, ix.add(ix.mul(oh, g.outWidth), column)},
        scalar(0.0), ArrayRef<bool>{true});
    if (lanesMask)
      read.getMaskMutable().assign(lanesMask);
    Value gradient = read;
    SmallVector<Value> acc(sums);
    int64_t i = 0;
    for (int64_t kh = kh0; kh < kh1; ++kh) {
      Value row = ix.add(ix.mul(oh, ix.c(g.strideH)), ix.c(kh * g.dilationH));
      for (int64_t kw = 0; kw < g.kernelWidth; ++kw, ++i) {
        Value at = ix.add(ix.mul(column, ix.c(g.strideW)), ix.c(kw * g.dilationW));
        Value input = readLanes(padded, row, at);
        if (lanesMask)
          input = arith::SelectOp::create(b, lanesMask, input, splat(0.0));
        acc[i] = math::FmaOp::create(b, input, gradient, acc[i]);
      }
    }
    return acc;
  }

  ConvWeightGradOp op;
  int64_t taps;
  Value grad;
};

/// The elementwise ops that can run on the convolution's outputs in
/// registers: a chain of float ops, each the only user of the previous
/// value (the first: of the convolution), of its type, whose other operands
/// are splat constants (MobileNet's ReLU6 after each depthwise layer).
SmallVector<Operation *> depthwiseEpilogue(ConvOp op) {
  SmallVector<Operation *> chain;
  Value current = op.getResult();
  while (current.hasOneUse()) {
    Operation *user = *current.user_begin();
    if (!isFloatEpilogueOp(user) || user->getResult(0).getType() != current.getType())
      break;
    if (!llvm::all_of(user->getOperands(), [&](Value operand) {
          DenseElementsAttr splat;
          return operand == current ||
                 (matchPattern(operand, m_Constant(&splat)) && splat.isSplat() &&
                  splat.getElementType().isF32());
        }))
      break;
    chain.push_back(user);
    current = user->getResult(0);
  }
  return chain;
}

/// The widest stride a vector's lanes are gathered at by one shuffle.
constexpr int64_t kMaxStride = 4;

struct DepthwiseConvKernel : OpRewritePattern<ConvOp> {
  DepthwiseConvKernel(MLIRContext *context, int64_t lanes, int64_t taskElements)
      : OpRewritePattern(context), lanes(lanes), taskElements(taskElements) {}

  LogicalResult matchAndRewrite(ConvOp op, PatternRewriter &rewriter) const override {
    auto inputType = op.getInput().getType();
    auto resultType = op.getType();
    if (!inputType.getElementType().isF32())
      return rewriter.notifyMatchFailure(op, "not f32");
    if (inputType.getRank() != 3 && inputType.getRank() != 4)
      return rewriter.notifyMatchFailure(op, "not 1-D or 2-D");
    // The batch and the planes may be symbolic (then at least 1: the entry
    // point's checks), the channels are static (the op's verifier).
    if (llvm::is_contained(inputType.getShape(), 0) ||
        llvm::is_contained(resultType.getShape(), 0))
      return rewriter.notifyMatchFailure(op, "empty planes");
    int64_t channels = inputType.getDimSize(1);
    if (op.getGroups() != channels || resultType.getDimSize(1) != channels)
      return rewriter.notifyMatchFailure(op, "not one input and output channel per group");
    if (op.window().stride.back() > kMaxStride)
      return rewriter.notifyMatchFailure(op, "stride wider than a shuffle gathers");
    SmallVector<Operation *> epilogue = depthwiseEpilogue(op);
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    DepthwiseKernelBuilder kernel(b, op, lanes, taskElements, epilogue);
    Value result = kernel.build();
    if (epilogue.empty()) {
      rewriter.replaceOp(op, result);
      return success();
    }
    rewriter.replaceOp(epilogue.back(), result);
    for (Operation *dead : llvm::reverse(ArrayRef(epilogue).drop_back()))
      rewriter.eraseOp(dead);
    rewriter.eraseOp(op);
    return success();
  }
  int64_t lanes, taskElements;
};

struct DepthwiseWeightGradKernel : OpRewritePattern<ConvWeightGradOp> {
  DepthwiseWeightGradKernel(MLIRContext *context, int64_t lanes)
      : OpRewritePattern(context), lanes(lanes) {}

  LogicalResult matchAndRewrite(ConvWeightGradOp op, PatternRewriter &rewriter) const override {
    auto inputType = op.getInput().getType();
    auto gradType = op.getGrad().getType();
    if (!inputType.getElementType().isF32() || !op.isDepthwise())
      return rewriter.notifyMatchFailure(op, "not an f32 depthwise convolution's");
    if (inputType.getRank() != 3 && inputType.getRank() != 4)
      return rewriter.notifyMatchFailure(op, "not 1-D or 2-D");
    if (llvm::is_contained(inputType.getShape(), 0) || llvm::is_contained(gradType.getShape(), 0))
      return rewriter.notifyMatchFailure(op, "empty planes");
    if (op.window().stride.back() > kMaxStride)
      return rewriter.notifyMatchFailure(op, "stride wider than a shuffle gathers");
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    rewriter.replaceOp(op, DepthwiseWeightGradBuilder(b, op, lanes).build());
    return success();
  }
  int64_t lanes;
};

struct UbeCpuDepthwiseKernelsPass
    : ube::impl::UbeCpuDepthwiseKernelsBase<UbeCpuDepthwiseKernelsPass> {
  using Base::Base;
  void runOnOperation() override {
    if (vectorWidth < 1 || taskElements < 1) {
      getOperation().emitError("ube-cpu-depthwise-kernels: vector-width and task-elements "
                               "must be positive");
      return signalPassFailure();
    }
    RewritePatternSet patterns(&getContext());
    patterns.add<DepthwiseConvKernel>(&getContext(), vectorWidth, taskElements);
    patterns.add<DepthwiseWeightGradKernel>(&getContext(), vectorWidth);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns), kernelRewriteConfig())))
      signalPassFailure();
  }
};

} // namespace
