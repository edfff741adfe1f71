//===- CpuMatmulTiles.cpp - packed panels and register tiles --------------===//

#include "passes/Cpu/MatmulTiles.h"

#include "dialects/ube/UbeOps.h"
#include "passes/Utils/KernelBuilding.h"
#include "ube/Support/FileIO.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Interfaces/FunctionInterfaces.h"

using namespace mlir;

namespace ube {

namespace {

/// The sizes of a stack of right-hand sides and of its panels.
struct StackShape {
  int64_t stack, k, n, panels;
  StackShape(Value stackValue, bool transposed, int64_t panelWidth) {
    auto type = cast<RankedTensorType>(stackValue.getType());
    stack = type.getDimSize(0);
    k = type.getDimSize(transposed ? 2 : 1);
    n = type.getDimSize(transposed ? 1 : 2);
    panels = llvm::divideCeil(n, panelWidth);
  }
};

} // namespace

Value packConstantPanels(ImplicitLocOpBuilder &b, Value stack, bool transposed,
                         int64_t panelWidth) {
  // Through the reshape that made the stack of a constant.
  Value source = stack;
  if (auto collapse = source.getDefiningOp<tensor::CollapseShapeOp>())
    source = collapse.getSrc();
  else if (auto expand = source.getDefiningOp<tensor::ExpandShapeOp>())
    source = expand.getSrc();
  auto constant = source.getDefiningOp<ConstantOp>();
  if (!constant || !cast<RankedTensorType>(stack.getType()).hasStaticShape())
    return nullptr;
  // A weight's own bytes (a resource blob, often the weights file mapped),
  // else its elements copied out of a dense attribute.
  ArrayRef<float> values;
  std::vector<float> copied;
  auto resource = dyn_cast<DenseResourceElementsAttr>(constant.getValue());
  if (auto floats = dyn_cast<DenseF32ResourceElementsAttr>(constant.getValue())) {
    std::optional<ArrayRef<float>> data = floats.tryGetAsArrayRef();
    if (!data)
      return nullptr;
    values = *data;
  } else if (auto dense = dyn_cast<DenseElementsAttr>(constant.getValue())) {
    auto range = dense.tryGetValues<float>();
    if (failed(range))
      return nullptr;
    copied.assign(range->begin(), range->end());
    values = copied;
  } else {
    return nullptr;
  }
  StackShape s(stack, transposed, panelWidth);
  // Straight into the blob: a vocabulary projection's panels are 250 MB.
  AsmResourceBlob blob = HeapAsmResourceBlob::allocate(
      s.stack * s.panels * s.k * panelWidth * sizeof(float), alignof(float));
  MutableArrayRef<float> packedValues(reinterpret_cast<float *>(blob.getMutableData().data()),
                                      s.stack * s.panels * s.k * panelWidth);
  std::fill(packedValues.begin(), packedValues.end(), 0.0f);
  for (int64_t r = 0; r < s.stack; ++r)
    for (int64_t p = 0; p < s.panels; ++p)
      for (int64_t kk = 0; kk < s.k; ++kk)
        for (int64_t j = 0; j < panelWidth && p * panelWidth + j < s.n; ++j) {
          int64_t column = p * panelWidth + j;
          int64_t from = r * s.k * s.n + (transposed ? column * s.k + kk : kk * s.n + column);
          packedValues[((r * s.panels + p) * s.k + kk) * panelWidth + j] = values[from];
        }
  // The weight is usually read for the last time here (its panels replace
  // it): let a mapped file's pages go now rather than with the compile, or
  // a large model's compile holds its weights twice.
  if (resource)
    adviseReclaim(values.data(), values.size() * sizeof(float));
  auto type = RankedTensorType::get({s.stack, s.panels, s.k, panelWidth}, b.getF32Type());
  // Named after the function and the weight, not by a module-wide counter:
  // functions are compiled in parallel, and the printed IR must not depend
  // on which got there first.
  std::string key = "ube.packed_rhs";
  if (auto fn = b.getInsertionBlock()->getParentOp()->getParentOfType<FunctionOpInterface>())
    key += "." + fn.getName().str();
  else if (auto fn = dyn_cast<FunctionOpInterface>(b.getInsertionBlock()->getParentOp()))
    key += "." + fn.getName().str();
  if (resource)
    key += "." + resource.getRawHandle().getKey().str();
  auto attr = DenseResourceElementsAttr::get(type, key, std::move(blob));
  return ConstantOp::create(b, type, attr);
}

/// Packed panels [count, panels, k, NR] of a [count, k, n] product operand
/// by one parallel task per (matrix, panel): `fill(r, column, width, panel)`
/// returns the panel [k, NR] of matrix r from `column`, its first `width`
/// columns inside the matrix.
using PanelFill = llvm::function_ref<Value(Value r, Value column, Value width, Value panel)>;
static Value buildPanelTasks(ImplicitLocOpBuilder &b, Value count, Value k, Value n,
                             int64_t panelWidth, PanelFill fill) {
  // Sizes may be symbolic: they fold to constants when static.
  IndexMath x(b);
  Value panels = x.ceilDiv(n, x.c(panelWidth));
  Type f32 = b.getF32Type();
  auto staticOf = [&](Value size) {
    return x.constant(size).value_or(ShapedType::kDynamic);
  };
  auto packedType = RankedTensorType::get(
      {staticOf(count), staticOf(panels), staticOf(k), panelWidth}, f32);
  auto panelType = RankedTensorType::get({staticOf(k), panelWidth}, f32);
  SmallVector<Value> dynamicSizes;
  for (Value size : {count, panels, k})
    if (!x.constant(size))
      dynamicSizes.push_back(size);
  Value init = tensor::EmptyOp::create(b, packedType.getShape(), f32, dynamicSizes);
  auto forall = scf::ForallOp::create(
      b, ArrayRef<OpFoldResult>{getAsOpFoldResult(count), getAsOpFoldResult(panels)},
      ValueRange{init}, std::nullopt);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(forall.getBody());
  Value r = forall.getInductionVars()[0], p = forall.getInductionVars()[1];
  Value column = arith::MulIOp::create(b, p, x.c(panelWidth));
  // Columns of this panel inside the matrix.
  Value width = arith::MinUIOp::create(b, x.c(panelWidth), arith::SubIOp::create(b, n, column));
  // The task's panel of the packed tensor, written in place.
  SmallVector<OpFoldResult> offsets = {r, p, b.getIndexAttr(0), b.getIndexAttr(0)};
  SmallVector<OpFoldResult> sizes = {b.getIndexAttr(1), b.getIndexAttr(1), getAsOpFoldResult(k),
                                     b.getIndexAttr(panelWidth)};
  SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
  Value panel = tensor::ExtractSliceOp::create(b, panelType, forall.getRegionIterArgs()[0],
                                               offsets, sizes, strides);
  panel = fill(r, column, width, panel);
  b.setInsertionPointToStart(forall.getTerminator().getBody());
  tensor::ParallelInsertSliceOp::create(b, panel, forall.getRegionIterArgs()[0], offsets, sizes,
                                        strides);
  return forall.getResult(0);
}

/// The panel's rows k in [0, k) as masked vector reads of `width` floats
/// at `source[rowIndices(kk)]` (the last index the row's first column).
/// Rows [kBegin, kEnd) of a panel (`rowIndices(kk)`: where row kk starts
/// in `source`) written at rows [0, kEnd − kBegin) of `panel`.
static Value fillPanelRows(ImplicitLocOpBuilder &b, Value source, Value kBegin, Value kEnd,
                           Value width, Value panel, int64_t panelWidth,
                           llvm::function_ref<SmallVector<Value>(Value kk)> rowIndices) {
  Type f32 = b.getF32Type();
  Value zero = arith::ConstantOp::create(b, b.getF32FloatAttr(0.0f));
  Value first = arith::ConstantIndexOp::create(b, 0), one = arith::ConstantIndexOp::create(b, 1);
  auto panelVector = VectorType::get({panelWidth}, f32);
  Value mask = vector::CreateMaskOp::create(b, VectorType::get({panelWidth}, b.getI1Type()),
                                            ValueRange{width});
  return buildLoop(b, kBegin, kEnd, one, panel,
                   [&](Value kk, ValueRange out) -> SmallVector<Value> {
                     auto read = vector::TransferReadOp::create(
                         b, panelVector, source, rowIndices(kk), zero, ArrayRef<bool>{true});
                     read.getMaskMutable().assign(mask);
                     Value row = b.createOrFold<arith::SubIOp>(kk, kBegin);
                     return {vector::TransferWriteOp::create(b, read, out[0],
                                                             ValueRange{row, first},
                                                             ArrayRef<bool>{true})
                                 .getResult()};
                   })[0];
}
static Value fillPanelRows(ImplicitLocOpBuilder &b, Value source, Value k, Value width,
                           Value panel, int64_t panelWidth,
                           llvm::function_ref<SmallVector<Value>(Value kk)> rowIndices) {
  return fillPanelRows(b, source, arith::ConstantIndexOp::create(b, 0), k, width, panel,
                       panelWidth, rowIndices);
}

/// Rows [kBegin, kEnd) of a panel whose lanes are two runs of `source`:
/// lanes [0, head) from `runs(kk).first`, lanes [head, width) from
/// `runs(kk).second` (where lane head's value is: the read starts head lanes
/// before it, and its mask drops them), each one masked read, merged by a
/// select; written at rows [0, kEnd − kBegin) of `panel`.
static Value fillPanelRowPairs(
    ImplicitLocOpBuilder &b, Value source, Value kBegin, Value kEnd, Value head, Value width,
    Value panel, int64_t panelWidth,
    llvm::function_ref<std::pair<SmallVector<Value>, SmallVector<Value>>(Value kk)> runs) {
  IndexMath x(b);
  auto panelVector = VectorType::get({panelWidth}, b.getF32Type());
  auto maskType = VectorType::get({panelWidth}, b.getI1Type());
  Value zero = arith::ConstantOp::create(b, b.getF32FloatAttr(0.0f));
  Value headMask = vector::CreateMaskOp::create(b, maskType, ValueRange{head});
  Value all = arith::ConstantOp::create(b, DenseElementsAttr::get(maskType, true));
  Value tailMask =
      arith::AndIOp::create(b, vector::CreateMaskOp::create(b, maskType, ValueRange{width}),
                            arith::XOrIOp::create(b, headMask, all));
  auto read = [&](ValueRange indices, Value mask) -> Value {
    auto op = vector::TransferReadOp::create(b, panelVector, source, indices, zero,
                                             ArrayRef<bool>{true});
    op.getMaskMutable().assign(mask);
    return op;
  };
  return buildLoop(b, kBegin, kEnd, x.c(1), panel,
                   [&](Value kk, ValueRange out) -> SmallVector<Value> {
                     auto [first, second] = runs(kk);
                     Value lanes = arith::SelectOp::create(b, headMask, read(first, headMask),
                                                           read(second, tailMask));
                     return {vector::TransferWriteOp::create(
                                 b, lanes, out[0], ValueRange{x.sub(kk, kBegin), x.c(0)},
                                 ArrayRef<bool>{true})
                                 .getResult()};
                   })[0];
}

/// Whether `value` may be a view with gaps between its elements: a strided
/// slice (a convolution's phase taps), through reshapes.
static bool mayBeStridedView(Value value) {
  while (Operation *op = value.getDefiningOp()) {
    if (isa<ReshapeOp, tensor::CollapseShapeOp, tensor::ExpandShapeOp>(op)) {
      value = op->getOperand(0);
      continue;
    }
    if (auto slice = dyn_cast<SliceOp>(op))
      return llvm::any_of(slice.getStride(), [](int64_t s) { return s != 1; });
    if (auto slice = dyn_cast<tensor::ExtractSliceOp>(op))
      return llvm::any_of(slice.getStaticStrides(), [](int64_t s) { return s != 1; });
    return false;
  }
  return false;
}

Value buildPackedPanels(ImplicitLocOpBuilder &b, Value stack, bool transposed,
                        int64_t panelWidth) {
  if (Value packed = packConstantPanels(b, stack, transposed, panelWidth))
    return packed;
  IndexMath x(b);
  // Read transposed, a matrix is gathered from one flat run of its
  // elements, which a strided view does not have: it is copied first.
  if (transposed && mayBeStridedView(stack)) {
    auto type = cast<RankedTensorType>(stack.getType());
    SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, b.getLoc(), stack);
    Value empty = tensor::EmptyOp::create(b, sizes, type.getElementType());
    stack = linalg::CopyOp::create(b, stack, empty).getResult(0);
  }
  Value count = x.dim(stack, 0), k = x.dim(stack, transposed ? 2 : 1),
        n = x.dim(stack, transposed ? 1 : 2);
  auto index = [&](int64_t v) -> Value { return x.c(v); };
  // Read transposed, each matrix [n, k] as one row [n·k] for the gathers.
  Value flat;
  if (transposed)
    flat = tensor::CollapseShapeOp::create(b, stack,
                                           SmallVector<ReassociationIndices>{{0}, {1, 2}});
  return buildPanelTasks(b, count, k, n, panelWidth, [&](Value r, Value column, Value width,
                                                         Value panel) -> Value {
    if (!transposed)
      return fillPanelRows(b, stack, k, width, panel, panelWidth, [&](Value kk) {
        return SmallVector<Value>{r, kk, column};
      });
    // Panel row kk is column kk of the panel's rows of [n, k]: one gather
    // of a lane per row (offsets j·k from the row of column, lanes past n
    // masked to zeros). The rows' lines (often 4 KiB apart, aliasing in L1)
    // serve 16 consecutive gathers. Copying scalars a line of k at a time
    // took 5.5% of 1024³ and 7.5% of 1024×3072×768 at 2 threads on Emerald
    // Rapids (lhs, 12 lanes), and a training step copied its weights, read
    // transposed, that way on every step. Offsets are 32-bit (one AVX-512
    // gather per 16 lanes) where the last row's fits.
    std::optional<int64_t> depth = x.constant(k);
    bool narrow = depth && (panelWidth - 1) * *depth <= INT32_MAX;
    Type offsetType = narrow ? Type(b.getI32Type()) : Type(b.getI64Type());
    Type f32 = b.getF32Type();
    auto lanes = VectorType::get({panelWidth}, f32);
    auto indices = VectorType::get({panelWidth}, b.getIndexType());
    Value rowOffsets = arith::IndexCastOp::create(
        b, VectorType::get({panelWidth}, offsetType),
        arith::MulIOp::create(b, vector::StepOp::create(b, indices),
                              vector::BroadcastOp::create(b, indices, k)));
    Value mask = vector::CreateMaskOp::create(b, VectorType::get({panelWidth}, b.getI1Type()),
                                              ValueRange{width});
    Value zeros = arith::ConstantOp::create(b, DenseElementsAttr::get(lanes, 0.0f));
    Value first = x.mul(column, k);
    return buildLoop(b, index(0), k, index(1), panel,
                     [&](Value kk, ValueRange out) -> SmallVector<Value> {
                       Value gathered = vector::GatherOp::create(
                           b, lanes, flat, ValueRange{r, x.add(first, kk)}, rowOffsets, mask,
                           zeros, IntegerAttr());
                       return {vector::TransferWriteOp::create(b, gathered, out[0],
                                                               ValueRange{kk, index(0)},
                                                               ArrayRef<bool>{true})
                                   .getResult()};
                     })[0];
  });
}

/// `width`, the columns from `column` of a panel of group `r` of
/// `imagesPerGroup` images of `length` columns (out of `images`), clipped
/// to the group's: the last group may have fewer images.
static Value groupPanelWidth(IndexMath &x, Value r, Value column, Value width,
                             Value imagesPerGroup, Value images, Value length) {
  Value first = x.mul(r, imagesPerGroup);
  Value columns = x.mul(x.min(imagesPerGroup, x.sub(images, first)), length);
  return x.select(x.lt(column, columns), x.min(width, x.sub(columns, column)), x.c(0));
}

Value buildGroupedPanels(ImplicitLocOpBuilder &b, Value stack, Value imagesPerGroup,
                         Value groupColumns, int64_t panelWidth) {
  IndexMath x(b);
  // A group's panel is gathered from one flat run of the images, which a
  // strided view does not have: it is copied first.
  if (mayBeStridedView(stack)) {
    auto type = cast<RankedTensorType>(stack.getType());
    SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, b.getLoc(), stack);
    Value empty = tensor::EmptyOp::create(b, sizes, type.getElementType());
    stack = linalg::CopyOp::create(b, stack, empty).getResult(0);
  }
  Value images = x.dim(stack, 0), k = x.dim(stack, 1), length = x.dim(stack, 2);
  Value flat = tensor::CollapseShapeOp::create(b, stack,
                                               SmallVector<ReassociationIndices>{{0, 1, 2}});
  Value count = x.ceilDiv(images, imagesPerGroup), n = groupColumns;
  Type f32 = b.getF32Type(), i64 = b.getI64Type();
  auto indexLanes = VectorType::get({panelWidth}, b.getIndexType());
  auto offsetLanes = VectorType::get({panelWidth}, i64);
  auto panelVector = VectorType::get({panelWidth}, f32);
  auto lanesOf = [&](Value v) { return vector::BroadcastOp::create(b, indexLanes, v); };
  return buildPanelTasks(b, count, k, n, panelWidth, [&](Value r, Value column, Value width,
                                                         Value panel) -> Value {
    width = groupPanelWidth(x, r, column, width, imagesPerGroup, images, length);
    Value firstImage = x.mul(r, imagesPerGroup);
    auto ifOp = scf::IfOp::create(b, panel.getType(), x.lt(x.c(1), imagesPerGroup),
                                  /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(b);
    // One image: rows of matrix r, as buildPackedPanels reads them.
    b.setInsertionPointToStart(ifOp.elseBlock());
    scf::YieldOp::create(b, fillPanelRows(b, stack, k, width, panel, panelWidth, [&](Value kk) {
                           return SmallVector<Value>{r, kk, column};
                         }));
    // Several, the panel within two images (an image's rows at least as
    // long as the panel's part past the first): row kk is a run of the
    // first image's row kk and one of the next's, each one masked read of
    // the images as one run (the second shifted back by the first's lanes,
    // whose reads its mask drops), merged by a select.
    b.setInsertionPointToStart(ifOp.thenBlock());
    Value image = x.add(firstImage, x.div(column, length)), start = x.rem(column, length);
    Value head = x.min(width, x.sub(length, start));
    Value imageElements = x.mul(k, length);
    auto twoImages = scf::IfOp::create(b, panel.getType(),
                                       x.lt(x.sub(width, head), x.add(length, x.c(1))),
                                       /*withElseRegion=*/true);
    scf::YieldOp::create(b, twoImages.getResults());
    b.setInsertionPointToStart(twoImages.thenBlock());
    Value firstRun = x.add(x.mul(image, imageElements), start);
    Value secondRun = x.sub(x.mul(x.add(image, x.c(1)), imageElements), head);
    scf::YieldOp::create(
        b, fillPanelRowPairs(b, flat, x.c(0), k, head, width, panel, panelWidth, [&](Value kk) {
          Value row = x.mul(kk, length);
          return std::make_pair(SmallVector<Value>{x.add(firstRun, row)},
                                SmallVector<Value>{x.add(secondRun, row)});
        }));
    // More: lane j is column + j of the images side by side, image
    // (column + j) / length's position (column + j) mod length, gathered;
    // row kk of it is kk·length further.
    b.setInsertionPointToStart(twoImages.elseBlock());
    Value lanes = arith::AddIOp::create(b, vector::StepOp::create(b, indexLanes), lanesOf(column));
    Value laneImages = arith::AddIOp::create(
        b, arith::DivUIOp::create(b, lanes, lanesOf(length)), lanesOf(firstImage));
    Value offsets = arith::AddIOp::create(
        b, arith::MulIOp::create(b, laneImages, lanesOf(imageElements)),
        arith::RemUIOp::create(b, lanes, lanesOf(length)));
    offsets = arith::IndexCastOp::create(b, offsetLanes, offsets);
    Value mask = vector::CreateMaskOp::create(b, VectorType::get({panelWidth}, b.getI1Type()),
                                              ValueRange{width});
    Value zeros = arith::ConstantOp::create(b, DenseElementsAttr::get(panelVector, 0.0f));
    Value first = x.c(0);
    scf::YieldOp::create(
        b, buildLoop(b, first, k, x.c(1), panel,
                     [&](Value kk, ValueRange out) -> SmallVector<Value> {
                       Value gathered = vector::GatherOp::create(
                           b, panelVector, flat, ValueRange{x.mul(kk, length)}, offsets, mask,
                           zeros, IntegerAttr());
                       return {vector::TransferWriteOp::create(b, gathered, out[0],
                                                               ValueRange{kk, first},
                                                               ArrayRef<bool>{true})
                                   .getResult()};
                     }));
    return ifOp.getResult(0);
  });
}

Im2colPanelRows::Im2colPanelRows(ImplicitLocOpBuilder &b, Im2colOp im2col,
                                 Value imagesPerGroup)
    : im2col(im2col), contiguous(im2col.isContiguous()), batched(im2col.getBatchColumns()),
      stride(im2col.strides()), imagesPerGroup(imagesPerGroup) {
  assert(!(batched && imagesPerGroup) && "groups of images without batch_columns");
  IndexMath x(b);
  Value input = im2col.getInput();
  RankedTensorType inputType = im2col.getInput().getType();
  ArrayRef<int64_t> kernel = im2col.getKernel(), in = inputType.getShape();
  taps = kernel[0] * kernel[1];
  rowLength = im2col.rowLength(b, b.getLoc());
  planeWidth = x.dim(input, 3);
  // The gathers' offsets span one plane, or the whole input with the images
  // side by side: 32-bit where that provably fits.
  auto fits = [](int64_t span) { return !ShapedType::isDynamic(span) && span <= INT32_MAX; };
  narrowImages = inputType.hasStaticShape() && fits(inputType.getNumElements());
  narrow = batched ? narrowImages
                   : !ShapedType::isDynamic(in[2]) && !ShapedType::isDynamic(in[3]) &&
                         fits(in[2] * in[3]);
  if (batched || imagesPerGroup) {
    planeSize = x.mul(x.dim(input, 2), planeWidth);
    imageSize = x.mul(x.c(in[1]), planeSize);
    imageLength = im2col.positions(b, b.getLoc());
  }
  // A static plane's tap offsets are a constant table.
  if (std::optional<int64_t> width = IndexMath::constant(planeWidth)) {
    SmallVector<Attribute> offsets;
    for (int64_t t = 0; t < taps; ++t)
      offsets.push_back(b.getIndexAttr(t / kernel[1] * im2col.dilations()[0] * *width +
                                       t % kernel[1] * im2col.dilations()[1]));
    table = arith::ConstantOp::create(
        b, DenseElementsAttr::get(RankedTensorType::get({taps}, b.getIndexType()), offsets));
  }
  flat = tensor::CollapseShapeOp::create(
      b, input,
      batched ? SmallVector<ReassociationIndices>{{0, 1, 2, 3}}
              : SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}});
  flatImages = batched ? flat : Value();
  if (imagesPerGroup)
    flatImages = tensor::CollapseShapeOp::create(
        b, input, SmallVector<ReassociationIndices>{{0, 1, 2, 3}});
}

bool Im2colPanelRows::readsRuns(Im2colOp im2col) {
  return im2col.isContiguous() || (im2col.strides()[1] == 1 && !im2col.getBatchColumns());
}

std::pair<Value, Value> Im2colPanelRows::channelAndOffset(ImplicitLocOpBuilder &b,
                                                          Value kk) const {
  IndexMath x(b);
  Value channel = x.div(kk, x.c(taps)), tap = x.rem(kk, x.c(taps));
  return {channel, table ? tensor::ExtractOp::create(b, table, ValueRange{tap}).getResult()
                         : Im2colOp(im2col).tapOffset(b, b.getLoc(), tap, planeWidth)};
}

Value Im2colPanelRows::fill(ImplicitLocOpBuilder &b, Value r, Value column, Value width,
                            Value kBegin, Value kEnd, Value panel, int64_t panelWidth,
                            std::optional<bool> grouped) const {
  if (!imagesPerGroup)
    return fillGroup(b, r, column, width, kBegin, kEnd, panel, panelWidth, false);
  if (grouped)
    return fillGroup(b, r, column, width, kBegin, kEnd, panel, panelWidth, *grouped);
  IndexMath x(b);
  auto ifOp = scf::IfOp::create(b, panel.getType(), x.lt(x.c(1), imagesPerGroup),
                                /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  for (bool isGrouped : {true, false}) {
    b.setInsertionPointToStart(isGrouped ? ifOp.thenBlock() : ifOp.elseBlock());
    scf::YieldOp::create(
        b, fillGroup(b, r, column, width, kBegin, kEnd, panel, panelWidth, isGrouped));
  }
  return ifOp.getResult(0);
}

Value Im2colPanelRows::fillGroup(ImplicitLocOpBuilder &b, Value r, Value column, Value width,
                                 Value kBegin, Value kEnd, Value panel, int64_t panelWidth,
                                 bool grouped) const {
  IndexMath x(b);
  // A group's column is a column of every image side by side from its
  // first image's.
  if (grouped)
    return gather(b, r, x.add(x.mul(x.mul(r, imagesPerGroup), imageLength), column), width,
                  kBegin, kEnd, panel, panelWidth, /*sideBySide=*/true);
  if (contiguous)
    return fillPanelRows(b, flat, kBegin, kEnd, width, panel, panelWidth, [&](Value kk) {
      auto [channel, offset] = channelAndOffset(b, kk);
      return SmallVector<Value>{r, channel, x.add(offset, column)};
    });
  if (readsRuns(im2col))
    return fillRowRuns(b, r, column, width, kBegin, kEnd, panel, panelWidth);
  return gather(b, r, column, width, kBegin, kEnd, panel, panelWidth, batched);
}

Value Im2colPanelRows::fillRowRuns(ImplicitLocOpBuilder &b, Value r, Value column, Value width,
                                   Value kBegin, Value kEnd, Value panel,
                                   int64_t panelWidth) const {
  IndexMath x(b);
  // The panel's positions from output row `row`'s column `start`: the
  // first `head` lanes are a run of that row, the rest (if any) a run of
  // the next, each one masked read (the second shifted back by `head`
  // lanes, whose reads its mask drops). A panel that spans more rows (rows
  // shorter than the panel's tail) is gathered.
  Value row = x.div(column, rowLength), start = x.rem(column, rowLength);
  Value rowStep = x.mul(planeWidth, x.c(stride[0]));
  Value firstRun = x.add(x.mul(row, rowStep), start);
  Value head = x.min(width, x.sub(rowLength, start));
  Value secondRun = x.sub(x.add(firstRun, x.sub(rowStep, start)), head);
  auto ifOp = scf::IfOp::create(b, panel.getType(), x.eq(head, width), /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    scf::YieldOp::create(
        b, fillPanelRows(b, flat, kBegin, kEnd, width, panel, panelWidth, [&](Value kk) {
          auto [channel, offset] = channelAndOffset(b, kk);
          return SmallVector<Value>{r, channel, x.add(offset, firstRun)};
        }));
    b.setInsertionPointToStart(ifOp.elseBlock());
    Value tail = x.sub(width, head);
    auto twoRows = scf::IfOp::create(b, panel.getType(), x.lt(tail, x.add(rowLength, x.c(1))),
                                     /*withElseRegion=*/true);
    scf::YieldOp::create(b, twoRows.getResults());
    b.setInsertionPointToStart(twoRows.elseBlock());
    scf::YieldOp::create(
        b, gather(b, r, column, width, kBegin, kEnd, panel, panelWidth, /*sideBySide=*/false));
    b.setInsertionPointToStart(twoRows.thenBlock());
    scf::YieldOp::create(
        b, fillPanelRowPairs(b, flat, kBegin, kEnd, head, width, panel, panelWidth, [&](Value kk) {
          auto [channel, offset] = channelAndOffset(b, kk);
          return std::make_pair(SmallVector<Value>{r, channel, x.add(offset, firstRun)},
                                SmallVector<Value>{r, channel, x.add(offset, secondRun)});
        }));
  }
  return ifOp.getResult(0);
}

Value Im2colPanelRows::gather(ImplicitLocOpBuilder &b, Value r, Value column, Value width,
                              Value kBegin, Value kEnd, Value panel, int64_t panelWidth,
                              bool sideBySide) const {
  IndexMath x(b);
  // Each panel column's position in the plane, computed once per panel,
  // plus the row's tap offset, gathered (32-bit indices where they fit:
  // one AVX-512 gather per 16 floats).
  bool narrowOffsets = sideBySide ? narrowImages : narrow;
  Type offsetType = narrowOffsets ? Type(b.getI32Type()) : Type(b.getI64Type()),
       f32 = b.getF32Type();
  auto indexLanes = VectorType::get({panelWidth}, b.getIndexType());
  auto offsetLanes = VectorType::get({panelWidth}, offsetType);
  auto lanes = [&](Value v) { return vector::BroadcastOp::create(b, indexLanes, v); };
  Value positions =
      arith::AddIOp::create(b, vector::StepOp::create(b, indexLanes), lanes(column));
  // With the batch's images side by side, column j is image j / length's
  // position j mod length, its plane imageSize elements after the last's.
  Value imageBase;
  if (sideBySide) {
    imageBase = arith::MulIOp::create(
        b, arith::DivUIOp::create(b, positions, lanes(imageLength)), lanes(imageSize));
    positions = arith::RemUIOp::create(b, positions, lanes(imageLength));
  }
  Value rows = arith::DivUIOp::create(b, positions, lanes(rowLength));
  Value cols = arith::RemUIOp::create(b, positions, lanes(rowLength));
  Value base = arith::AddIOp::create(
      b, arith::MulIOp::create(b, rows, lanes(x.mul(planeWidth, x.c(stride[0])))),
      arith::MulIOp::create(b, cols, lanes(x.c(stride[1]))));
  if (imageBase)
    base = arith::AddIOp::create(b, base, imageBase);
  base = arith::IndexCastOp::create(b, offsetLanes, base);
  Value mask = vector::CreateMaskOp::create(b, VectorType::get({panelWidth}, b.getI1Type()),
                                            ValueRange{width});
  auto panelVector = VectorType::get({panelWidth}, f32);
  Value zeros =
      arith::ConstantOp::create(b, DenseElementsAttr::get(panelVector, b.getF32FloatAttr(0.0f)));
  Value first = x.c(0);
  return buildLoop(b, kBegin, kEnd, x.c(1), panel,
                   [&](Value kk, ValueRange out) -> SmallVector<Value> {
                     auto [channel, offset] = channelAndOffset(b, kk);
                     // One flat vector of every image: the channel's plane
                     // is part of the row's offset.
                     SmallVector<Value> origin = {r, channel, first};
                     if (sideBySide) {
                       offset = x.add(offset, x.mul(channel, planeSize));
                       origin = {first};
                     }
                     Value indices = arith::AddIOp::create(
                         b, base,
                         vector::BroadcastOp::create(
                             b, offsetLanes, arith::IndexCastOp::create(b, offsetType, offset)));
                     Value gathered = vector::GatherOp::create(
                         b, panelVector, sideBySide ? flatImages : flat, origin, indices, mask,
                         zeros, IntegerAttr());
                     return {vector::TransferWriteOp::create(b, gathered, out[0],
                                                             ValueRange{x.sub(kk, kBegin), first},
                                                             ArrayRef<bool>{true})
                                 .getResult()};
                   })[0];
}

/// Panel `column` / NR of matrix `r` of an im2col's result read transposed
/// (its [C·T, L] as the [N, K] layout of a product's rhs [K = L, N = C·T],
/// as a convolution's weight gradient reads its patches): lane j is patch
/// row column + j, channel c and tap t at c·H·W + t's offset in an image,
/// computed once per panel; panel row kk is a position of an image, whose
/// offset in `flat` (the input as one vector) is each gather's origin. The
/// positions are walked image by image, row by row, so no offset needs a
/// division.
static Value fillTransposedIm2colPanel(ImplicitLocOpBuilder &b, Im2colOp im2col, Value flat,
                                       Value r, Value column, Value width, Value panel,
                                       int64_t panelWidth) {
  IndexMath x(b);
  Value input = im2col.getInput();
  RankedTensorType inputType = im2col.getInput().getType();
  ArrayRef<int64_t> kernel = im2col.getKernel();
  int64_t channels = inputType.getDimSize(1), taps = kernel[0] * kernel[1];
  std::array<int64_t, 2> stride = im2col.strides(), dilation = im2col.dilations();
  Value planeWidth = x.dim(input, 3), plane = x.mul(x.dim(input, 2), planeWidth),
        image = x.mul(x.c(channels), plane);
  Value images = im2col.imagesPerMatrix(b, b.getLoc()),
        length = im2col.positions(b, b.getLoc()), columns = im2col.rowLength(b, b.getLoc());
  // The lanes' offsets span one image: 32-bit where that provably fits.
  ArrayRef<int64_t> in = inputType.getShape();
  bool narrow = llvm::none_of(in.drop_front(), ShapedType::isDynamic) &&
                channels * in[2] * in[3] <= INT32_MAX;
  Type offsetType = narrow ? Type(b.getI32Type()) : Type(b.getI64Type());
  auto indexLanes = VectorType::get({panelWidth}, b.getIndexType());
  auto offsetLanes = VectorType::get({panelWidth}, offsetType);
  auto panelVector = VectorType::get({panelWidth}, b.getF32Type());
  auto lanesOf = [&](Value v) { return vector::BroadcastOp::create(b, indexLanes, v); };
  auto mul = [&](Value v, Value c) { return arith::MulIOp::create(b, v, lanesOf(c)); };
  Value rows = arith::AddIOp::create(b, vector::StepOp::create(b, indexLanes), lanesOf(column));
  Value channel = arith::DivUIOp::create(b, rows, lanesOf(x.c(taps)));
  Value tap = arith::RemUIOp::create(b, rows, lanesOf(x.c(taps)));
  Value lanes = arith::AddIOp::create(
      b, mul(channel, plane),
      arith::AddIOp::create(
          b,
          mul(arith::DivUIOp::create(b, tap, lanesOf(x.c(kernel[1]))),
              x.mul(x.c(dilation[0]), planeWidth)),
          mul(arith::RemUIOp::create(b, tap, lanesOf(x.c(kernel[1]))), x.c(dilation[1]))));
  lanes = arith::IndexCastOp::create(b, offsetLanes, lanes);
  Value mask = vector::CreateMaskOp::create(b, VectorType::get({panelWidth}, b.getI1Type()),
                                            ValueRange{width});
  Value zeros =
      arith::ConstantOp::create(b, DenseElementsAttr::get(panelVector, b.getF32FloatAttr(0.0f)));
  Value first = x.c(0), one = x.c(1);
  Value rowStride = x.mul(planeWidth, x.c(stride[0])), columnStride = x.c(stride[1]);
  Value outputRows = x.ceilDiv(length, columns);
  // Image `i` of matrix r, its output row `row` (the last may be partial
  // with a given length), its column `q`: panel row i·length + row·Q + q.
  return buildLoop(b, first, images, one, panel, [&](Value i, ValueRange imageOut) {
    Value imageOffset = x.mul(x.add(x.mul(r, images), i), image);
    Value imageRow = x.mul(i, length);
    return buildLoop(b, first, outputRows, one, imageOut, [&](Value row, ValueRange rowOut) {
      Value rowOffset = x.add(imageOffset, x.mul(row, rowStride));
      Value rowBegin = x.mul(row, columns);
      Value count = x.min(columns, x.sub(length, rowBegin));
      Value panelRow = x.add(imageRow, rowBegin);
      return buildLoop(
          b, first, count, one, rowOut, [&](Value q, ValueRange out) -> SmallVector<Value> {
            Value offset = x.add(rowOffset, x.mul(q, columnStride));
            Value gathered = vector::GatherOp::create(b, panelVector, flat, ValueRange{offset},
                                                      lanes, mask, zeros, IntegerAttr());
            return {vector::TransferWriteOp::create(b, gathered, out[0],
                                                    ValueRange{x.add(panelRow, q), first},
                                                    ArrayRef<bool>{true})
                        .getResult()};
          });
    });
  })[0];
}

Value im2colColumns(ImplicitLocOpBuilder &b, Im2colOp im2col) {
  int64_t columns = im2col.getType().getDimSize(2);
  if (!ShapedType::isDynamic(columns))
    return IndexMath(b).c(columns);
  return IndexMath(b).mul(im2col.imagesPerMatrix(b, b.getLoc()),
                          im2col.positions(b, b.getLoc()));
}

Value buildIm2colPanels(ImplicitLocOpBuilder &b, Im2colOp im2col, int64_t panelWidth,
                        bool transposed, Value imagesPerGroup, Value groupColumns) {
  IndexMath x(b);
  auto type = cast<RankedTensorType>(im2col.getType());
  Value count = im2col.getBatchColumns() ? x.c(1) : x.dim(im2col.getInput(), 0),
        k = transposed ? im2colColumns(b, im2col) : x.c(type.getDimSize(1)),
        n = transposed ? x.c(type.getDimSize(1)) : im2colColumns(b, im2col);
  if (transposed) {
    Value flat = tensor::CollapseShapeOp::create(
        b, im2col.getInput(), SmallVector<ReassociationIndices>{{0, 1, 2, 3}});
    return buildPanelTasks(b, count, k, n, panelWidth,
                           [&](Value r, Value column, Value width, Value panel) -> Value {
                             return fillTransposedIm2colPanel(b, im2col, flat, r, column, width,
                                                              panel, panelWidth);
                           });
  }
  Im2colPanelRows rows(b, im2col, imagesPerGroup);
  Value images = count, length;
  if (imagesPerGroup) {
    length = im2col.positions(b, b.getLoc());
    count = x.ceilDiv(images, imagesPerGroup);
    n = groupColumns;
  }
  return buildPanelTasks(b, count, k, n, panelWidth, [&](Value r, Value column, Value width,
                                                         Value panel) -> Value {
    if (imagesPerGroup)
      width = groupPanelWidth(x, r, column, width, imagesPerGroup, images, length);
    return rows.fill(b, r, column, width, x.c(0), k, panel, panelWidth);
  });
}

SmallVector<Value> buildTileProducts(ImplicitLocOpBuilder &b, Value kBegin, Value kEnd,
                                     ValueRange acc, int64_t rows, ArrayRef<bool> live,
                                     TileLhs lhs, TileRhs rhs) {
  Value one = arith::ConstantIndexOp::create(b, 1);
  return buildLoop(b, kBegin, kEnd, one, acc, [&](Value kk, ValueRange sums) {
    SmallVector<Value> panelVectors;
    for (auto [v, isLive] : llvm::enumerate(live))
      panelVectors.push_back(isLive ? rhs(v, kk) : Value());
    Type vectorType = (*llvm::find_if(panelVectors, [](Value v) { return bool(v); })).getType();
    SmallVector<Value> next;
    for (int64_t i = 0; i < rows; ++i) {
      Value a = vector::BroadcastOp::create(b, vectorType, lhs(i, kk));
      for (Value panelVector : panelVectors)
        if (panelVector)
          next.push_back(vector::FMAOp::create(b, a, panelVector, sums[next.size()]));
    }
    return next;
  });
}

} // namespace ube
