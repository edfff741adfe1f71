//===- UbeWindowGrad.cpp - gradients of convolution and pooling -----------===//

#include "dialects/ube/UbeWindowGrad.h"

#include "dialects/ube/UbeOps.h"

#include "mlir/Dialect/Utils/StaticValueUtils.h"

#include <numeric>

using namespace mlir;

namespace ube {
namespace {

using Shape = SmallVector<int64_t>;

Shape shapeOf(Value v) { return Shape(UbeBuilder::typeOf(v).getShape()); }

// Sizes known at compile time or computed at run time (an index): on
// symbolic planes the phases' positions and the crops follow the input's
// size at each call.

OpFoldResult fixed(UbeBuilder &u, int64_t v) { return u.b.getIndexAttr(v); }

Value asIndex(UbeBuilder &u, OpFoldResult size) {
  if (auto v = dyn_cast<Value>(size))
    return v;
  return arith::ConstantIndexOp::create(u.b, *getConstantIntValue(size));
}

/// `a op b` in index arithmetic, folded (`fold`) where both are static.
template <typename OpTy>
OpFoldResult combine(UbeBuilder &u, OpFoldResult a, OpFoldResult b,
                     function_ref<int64_t(int64_t, int64_t)> fold) {
  std::optional<int64_t> x = getConstantIntValue(a), y = getConstantIntValue(b);
  if (x && y)
    return fixed(u, fold(*x, *y));
  return OpTy::create(u.b, asIndex(u, a), asIndex(u, b)).getResult();
}
OpFoldResult addConst(UbeBuilder &u, OpFoldResult a, int64_t c) {
  return combine<arith::AddIOp>(u, a, fixed(u, c), [](int64_t x, int64_t y) { return x + y; });
}
OpFoldResult mul(UbeBuilder &u, OpFoldResult a, OpFoldResult b) {
  return combine<arith::MulIOp>(u, a, b, [](int64_t x, int64_t y) { return x * y; });
}
OpFoldResult mulConst(UbeBuilder &u, OpFoldResult a, int64_t c) { return mul(u, a, fixed(u, c)); }
OpFoldResult product(UbeBuilder &u, ArrayRef<OpFoldResult> sizes) {
  OpFoldResult total = fixed(u, 1);
  for (OpFoldResult size : sizes)
    total = mul(u, total, size);
  return total;
}
OpFoldResult ceilDivConst(UbeBuilder &u, OpFoldResult a, int64_t c) {
  return combine<arith::CeilDivSIOp>(u, a, fixed(u, c), [](int64_t x, int64_t y) {
    return llvm::divideCeil(x, y);
  });
}

/// Each size of `x`: its static size or, symbolic, read at run time.
SizeList sizesOf(UbeBuilder &u, Value x) {
  SizeList sizes;
  for (int64_t d = 0; d < UbeBuilder::typeOf(x).getRank(); ++d)
    sizes.push_back(UbeBuilder::typeOf(x).isDynamicDim(d) ? OpFoldResult(u.dimSize(x, d))
                                                          : fixed(u, shapeOf(x)[d]));
  return sizes;
}

/// The type's shape of `sizes` (`?` where computed at run time) and the
/// runtime ones, in order: a reshape's or broadcast's operands.
Shape staticShape(ArrayRef<OpFoldResult> sizes) {
  return llvm::map_to_vector(sizes, [](OpFoldResult s) {
    return getConstantIntValue(s).value_or(ShapedType::kDynamic);
  });
}
SmallVector<Value> runtimeSizes(ArrayRef<OpFoldResult> sizes) {
  SmallVector<Value> values;
  for (OpFoldResult s : sizes)
    if (!getConstantIntValue(s))
      values.push_back(cast<Value>(s));
  return values;
}

Value reshapeTo(UbeBuilder &u, Value x, ArrayRef<OpFoldResult> sizes) {
  return u.reshape(x, staticShape(sizes), runtimeSizes(sizes));
}

/// A block of `value` of `sizes`.
Value filledTo(UbeBuilder &u, Type element, double value, ArrayRef<OpFoldResult> sizes) {
  auto type = RankedTensorType::get(staticShape(sizes), element);
  if (type.hasStaticShape())
    return u.broadcastTo(u.scalar(element, value), type.getShape());
  return BroadcastToOp::create(u.b, type, u.scalar(element, value), runtimeSizes(sizes))
      .getResult();
}

/// Elements [begin, end) of `x` along `axis`.
Value sliceAxis(UbeBuilder &u, Value x, int64_t axis, int64_t begin, OpFoldResult end) {
  Shape shape = shapeOf(x);
  std::optional<int64_t> fixedEnd = getConstantIntValue(end);
  if (fixedEnd && !ShapedType::isDynamic(shape[axis]))
    return u.slice(x, axis, begin, *fixedEnd);
  Shape start(shape.size(), 0), limit(shape), stride(shape.size(), 1);
  SmallVector<Value> limits(shape.size());
  start[axis] = begin;
  limit[axis] = ShapedType::kDynamic;
  limits[axis] = asIndex(u, end);
  return u.slice(x, start, limit, stride, limits);
}

/// A kernel [A, B, *K] reversed along every spatial axis: one gather over
/// its taps flattened (reversing the flat order reverses each axis).
Value flipTaps(UbeBuilder &u, Value kernel) {
  Shape shape = shapeOf(kernel);
  int64_t taps = 1;
  for (int64_t size : ArrayRef<int64_t>(shape).drop_front(2))
    taps *= size;
  if (taps == 1)
    return kernel;
  SmallVector<APInt> order;
  for (int64_t i = taps - 1; i >= 0; --i)
    order.push_back(APInt(64, i));
  auto type = RankedTensorType::get({taps}, u.b.getI64Type());
  Value indices = ConstantOp::create(u.b, type, DenseElementsAttr::get(type, order));
  Value flat = u.reshape(kernel, {shape[0], shape[1], taps});
  return u.reshape(GatherOp::create(u.b, flat, indices, u.b.getI64IntegerAttr(2)), shape);
}

} // namespace

/// Whether every size of the op's operands and results but the first (the
/// batch) is static.
bool staticButBatch(Operation *op) {
  return llvm::all_of(llvm::concat<Type>(op->getOperandTypes(), op->getResultTypes()),
                      [](Type type) {
                        auto shape = cast<RankedTensorType>(type).getShape();
                        return shape.empty() ||
                               llvm::none_of(shape.drop_front(), ShapedType::isDynamic);
                      });
}

Value padAxis(UbeBuilder &u, Value x, int64_t axis, int64_t before, int64_t after,
              double value) {
  if (before < 0 || after < 0) {
    x = sliceAxis(u, x, axis, std::max<int64_t>(-before, 0),
                  addConst(u, sizesOf(u, x)[axis], -std::max<int64_t>(-after, 0)));
    return padAxis(u, x, axis, std::max<int64_t>(before, 0), std::max<int64_t>(after, 0),
                   value);
  }
  Type element = UbeBuilder::elementTypeOf(x);
  auto block = [&](int64_t count) {
    SizeList sizes = sizesOf(u, x);
    sizes[axis] = fixed(u, count);
    return filledTo(u, element, value, sizes);
  };
  SmallVector<Value> parts;
  if (before)
    parts.push_back(block(before));
  parts.push_back(x);
  if (after)
    parts.push_back(block(after));
  return parts.size() == 1 ? x : u.concat(parts, axis);
}

/// The gradient of the input [N, C, *S] (`input`'s sizes) from one [N, C,
/// *Q] per phase of the padded input (positions q · s + φ, `phases`
/// row-major over (φ_0, ..., φ_{r-1})): interleaved as [N, C, Q_0, s_0,
/// ..., Q_{r-1}, s_{r-1}], the innermost dimension's phases first, then
/// cropped by the padding.
static Value interleavePhases(UbeBuilder &u, SmallVector<Value> phases,
                              ArrayRef<OpFoldResult> positions, const Window &window,
                              ArrayRef<OpFoldResult> input) {
  int64_t r = window.rank();
  SizeList unit = {input[0], input[1]};
  for (int64_t d = 0; d < r; ++d)
    unit.append({positions[d], fixed(u, 1)});
  for (Value &v : phases)
    v = reshapeTo(u, v, unit);
  for (int64_t d = r - 1; d >= 0; --d) {
    int64_t s = window.stride[d];
    SmallVector<Value> joined;
    for (size_t i = 0; i < phases.size(); i += s)
      joined.push_back(u.concat(ArrayRef<Value>(phases).slice(i, s), 3 + 2 * d));
    phases = joined;
  }
  SizeList merged = {input[0], input[1]};
  for (int64_t d = 0; d < r; ++d)
    merged.push_back(mulConst(u, positions[d], window.stride[d]));
  Value full = reshapeTo(u, phases.front(), merged);
  for (int64_t d = 0; d < r; ++d)
    full = sliceAxis(u, full, 2 + d, window.padBegin[d],
                     addConst(u, input[2 + d], window.padBegin[d]));
  return full;
}

/// The input gradient of a strided convolution as stride-1 convolutions,
/// one per phase: input positions p = q·s + φ (padded coordinates) receive
/// g[o] through the taps k with k·dilation ≡ φ (mod s), at o = q − m_k with
/// m_k = (k·dilation − φ)/s. Per phase that is a correlation of g with those
/// taps (evenly spaced: a dilated sub-kernel, flipped); the phases are then
/// interleaved and the padding cropped. No zeros are multiplied, unlike
/// convolving g spread to the input's grid.
static Value phasedInputGradient(UbeBuilder &u, Value g, Value kernel, const Window &window,
                                 int64_t groups, ArrayRef<OpFoldResult> input) {
  int64_t r = window.rank();
  Shape gShape = shapeOf(g), kShape = shapeOf(kernel);
  int64_t channels = kShape[0];
  // Per dimension: Q positions per phase, and per phase the taps
  // (first, step, count) and the correlation's offsets.
  struct Phase {
    int64_t first = 0, count = 0, step = 1, dilation = 1, lastOffset = 0, firstOffset = 0;
  };
  SizeList positions(r);
  SmallVector<SmallVector<Phase>> phases(r);
  for (int64_t d = 0; d < r; ++d) {
    int64_t s = window.stride[d], dil = window.dilation[d], size = kShape[2 + d];
    positions[d] =
        ceilDivConst(u, addConst(u, input[2 + d], window.padBegin[d] + window.padEnd[d]), s);
    int64_t common = std::gcd(dil, s);
    for (int64_t phase = 0; phase < s; ++phase) {
      Phase ph;
      ph.step = s / common;
      ph.dilation = dil / common;
      ph.first = -1;
      for (int64_t k = 0; k < size && ph.first < 0; ++k)
        if ((k * dil - phase) % s == 0 && k * dil >= phase)
          ph.first = k;
      if (ph.first >= 0) {
        ph.count = (size - 1 - ph.first) / ph.step + 1;
        ph.firstOffset = (ph.first * dil - phase) / s;
        ph.lastOffset = ph.firstOffset + (ph.count - 1) * ph.dilation;
      }
      phases[d].push_back(ph);
    }
  }
  SizeList phaseSizes = {sizesOf(u, g)[0], fixed(u, channels)};
  phaseSizes.append(positions.begin(), positions.end());
  // Each combination of phases, in row-major order of (φ_0, ..., φ_{r-1}).
  SmallVector<Value> results;
  Shape phase(r, 0);
  while (true) {
    bool empty = false;
    Value sub = kernel;
    Shape padding(2 * r), dilation(r);
    for (int64_t d = 0; d < r; ++d) {
      const Phase &ph = phases[d][phase[d]];
      if (!ph.count) {
        empty = true;
        break;
      }
      Shape start(2 + r, 0), limit(shapeOf(sub)), stride(2 + r, 1);
      start[2 + d] = ph.first;
      limit[2 + d] = ph.first + (ph.count - 1) * ph.step + 1;
      stride[2 + d] = ph.step;
      sub = SliceOp::create(u.b, sub, u.b.getDenseI64ArrayAttr(start),
                            u.b.getDenseI64ArrayAttr(limit), u.b.getDenseI64ArrayAttr(stride));
      dilation[d] = ph.dilation;
      padding[d] = ph.lastOffset;
      // Q outputs: the far padding, cropped afterwards when negative. On a
      // symbolic plane Q − Y is at most ⌈span / s⌉ (Y windows of the span
      // at stride s cover all but the last span of the padded input).
      std::optional<int64_t> q = getConstantIntValue(positions[d]);
      int64_t high = q && !ShapedType::isDynamic(gShape[2 + d])
                         ? *q - gShape[2 + d] - ph.firstOffset
                         : llvm::divideCeil(window.span(d), window.stride[d]) - ph.firstOffset;
      padding[r + d] = std::max<int64_t>(high, 0);
    }
    if (empty) {
      results.push_back(filledTo(u, UbeBuilder::elementTypeOf(g), 0.0, phaseSizes));
    } else {
      sub = flipTaps(u, sub);
      Value y = ConvOp::create(u.b, g, sub, Value(), DenseI64ArrayAttr(),
                               u.b.getDenseI64ArrayAttr(padding),
                               u.b.getDenseI64ArrayAttr(dilation), groups);
      for (int64_t d = 0; d < r; ++d)
        y = sliceAxis(u, y, 2 + d, 0, positions[d]);
      results.push_back(y);
    }
    int64_t d = r - 1;
    while (d >= 0 && ++phase[d] == window.stride[d])
      phase[d--] = 0;
    if (d < 0)
      break;
  }
  return interleavePhases(u, results, positions, window, input);
}

/// The gradient of a convolution's input [N, C, *S] from `g` [N, O, *Y]
/// and its weight [O, C/G, *K]: `g` convolved with the flipped weight with
/// input and output channels exchanged per group (strided: per phase).
Value convInputGradient(UbeBuilder &u, Value g, Value weight, const Window &window,
                        int64_t groups, ArrayRef<OpFoldResult> input) {
  int64_t r = window.rank();
  Shape w = shapeOf(weight);
  int64_t out = w[0], perGroupIn = w[1], perGroupOut = out / groups;
  // The taps flattened: the exchange copies runs of KH·KW floats.
  int64_t taps = 1;
  Shape exchanged = {groups * perGroupIn, perGroupOut};
  for (int64_t d = 0; d < r; ++d) {
    taps *= w[2 + d];
    exchanged.push_back(w[2 + d]);
  }
  Value kernel = u.reshape(
      u.transpose(u.reshape(weight, {groups, perGroupOut, perGroupIn, taps}), {0, 2, 1, 3}),
      exchanged);
  if (llvm::any_of(window.stride, [](int64_t s) { return s > 1; }))
    return phasedInputGradient(u, g, kernel, window, groups, input);
  // The correlation over the input's own positions: g padded by span − 1
  // less the forward padding (the padded positions' gradients, which the
  // input does not have, are never computed; at stride 1 the windows
  // cover the padded input exactly). Where the forward padding exceeds
  // span − 1 that is negative: then over the whole padded input, cropped.
  Shape padding(2 * r);
  bool direct = true;
  kernel = flipTaps(u, kernel);
  for (int64_t d = 0; d < r; ++d) {
    padding[d] = window.span(d) - 1 - window.padBegin[d];
    padding[r + d] = window.span(d) - 1 - window.padEnd[d];
    direct = direct && padding[d] >= 0 && padding[r + d] >= 0;
  }
  if (!direct)
    for (int64_t d = 0; d < r; ++d) {
      padding[d] += window.padBegin[d];
      padding[r + d] += window.padEnd[d];
    }
  Value full = ConvOp::create(u.b, g, kernel, Value(), DenseI64ArrayAttr(),
                              u.b.getDenseI64ArrayAttr(padding),
                              u.b.getDenseI64ArrayAttr(window.dilation), groups);
  if (!direct)
    for (int64_t d = 0; d < r; ++d)
      full = sliceAxis(u, full, 2 + d, window.padBegin[d],
                       addConst(u, input[2 + d], window.padBegin[d]));
  return full;
}

/// The gradient of a convolution's weight: with the input's channels as the
/// batch and its batch as the channels (per group), `g` is the kernel, the
/// dilation the stride and the stride the dilation.
SmallVector<Value> convTaps(UbeBuilder &u, Value x, const Window &window,
                            ArrayRef<int64_t> outSpatial) {
  int64_t r = window.rank();
  Shape in = shapeOf(x);
  int64_t n = in[0], channels = in[1];
  // Symbolic planes: each output size computed from the input's at run
  // time (negative where the window does not fit, which the call refuses).
  SmallVector<Value> outSizes(r);
  for (int64_t d = 0; d < r; ++d)
    if (ShapedType::isDynamic(outSpatial[d]))
      outSizes[d] = window.outputSize(u.b, u.b.getLoc(), d, u.dimSize(x, 2 + d));
  for (int64_t d = 0; d < r; ++d)
    x = padAxis(u, x, 2 + d, window.padBegin[d], window.padEnd[d]);
  Shape padded = shapeOf(x);
  // Tap t is the strided slice of the padded input at its offset.
  SmallVector<Value> taps;
  Shape offset(r, 0);
  while (true) {
    Shape start = {0, 0}, limit = {n, channels}, stride = {1, 1};
    SmallVector<Value> limits = {Value(), Value()};
    for (int64_t d = 0; d < r; ++d) {
      start.push_back(offset[d] * window.dilation[d]);
      stride.push_back(window.stride[d]);
      if (!outSizes[d]) {
        limit.push_back(start.back() + (outSpatial[d] - 1) * window.stride[d] + 1);
        limits.push_back(Value());
        continue;
      }
      // start + (out − 1)·stride + 1.
      ImplicitLocOpBuilder &b = u.b;
      limit.push_back(ShapedType::kDynamic);
      limits.push_back(arith::AddIOp::create(
          b,
          arith::MulIOp::create(
              b, arith::SubIOp::create(b, outSizes[d], arith::ConstantIndexOp::create(b, 1)),
              arith::ConstantIndexOp::create(b, window.stride[d])),
          arith::ConstantIndexOp::create(b, start.back() + 1)));
    }
    Value tap = x;
    if (limit != padded || llvm::any_of(start, [](int64_t v) { return v != 0; }) ||
        llvm::any_of(stride, [](int64_t v) { return v != 1; }) ||
        llvm::any_of(limits, [](Value v) { return v; }))
      tap = u.slice(x, start, limit, stride, limits);
    taps.push_back(tap);
    int64_t d = r - 1;
    while (d >= 0 && ++offset[d] == window.kernel[d])
      offset[d--] = 0;
    if (d < 0)
      return taps;
  }
}

Value convPatches(UbeBuilder &u, Value x, const Window &window, ArrayRef<int64_t> outSpatial,
                  int64_t groups) {
  Shape in = shapeOf(x);
  int64_t n = in[0], channels = in[1], positions = 1;
  for (int64_t size : outSpatial)
    positions = ShapedType::isDynamic(size) || ShapedType::isDynamic(positions)
                    ? ShapedType::kDynamic
                    : positions * size;
  Shape tapShape = {n, groups, channels / groups, 1, positions};
  SmallVector<Value> taps =
      llvm::map_to_vector(convTaps(u, x, window, outSpatial), [&](Value tap) {
        // The batch read from x; symbolic positions from the tap's planes.
        SmallVector<Value> sizes = u.sizesFrom(x, {n});
        if (ShapedType::isDynamic(positions)) {
          Value count = u.dimSize(tap, 2);
          for (int64_t d = 3; d < UbeBuilder::typeOf(tap).getRank(); ++d)
            count = arith::MulIOp::create(u.b, count, u.dimSize(tap, d));
          sizes.push_back(count);
        }
        return u.reshape(tap, tapShape, sizes);
      });
  return taps.size() == 1 ? taps[0] : u.concat(taps, 3);
}

Value convWeightGradient(UbeBuilder &u, Value x, Value g, const Window &window,
                         int64_t groups, ArrayRef<int64_t> weightShape) {
  // dW[g, o, c, t] = Σ_{n, p} G[n, g, o, p] · patches[n, g, c, t, p]: one
  // matmul per group over (n, p), with the taps the weight's own.
  Shape gs = shapeOf(g);
  int64_t n = gs[0], out = gs[1], perGroupOut = out / groups, perGroupIn = weightShape[1];
  int64_t taps = 1;
  for (int64_t d = 0; d < window.rank(); ++d)
    taps *= window.kernel[d];
  ArrayRef<int64_t> outSpatial = ArrayRef<int64_t>(gs).drop_front(2);
  int64_t positions = llvm::any_of(outSpatial, ShapedType::isDynamic)
                          ? ShapedType::kDynamic
                          : ShapedType::getNumElements(outSpatial);
  bool symbolic = ShapedType::isDynamic(n) || ShapedType::isDynamic(positions);
  SizeList gSizes = sizesOf(u, g);
  OpFoldResult count = product(u, ArrayRef<OpFoldResult>(gSizes).drop_front(2));
  // Per image and group G[n, g] · patches[n, g]ᵀ, summed over the images.
  auto summedOverImages = [&](Value patches) {
    patches = reshapeTo(u, patches,
                        {gSizes[0], fixed(u, groups), fixed(u, perGroupIn * taps), count});
    Value grad = reshapeTo(u, g, {gSizes[0], fixed(u, groups), fixed(u, perGroupOut), count});
    Value perImage = u.matmul(grad, patches, /*transposeRhs=*/true);
    return u.reshape(u.reduceSum(perImage, {0}), weightShape);
  };
  if ((symbolic && window.rank() < 3) || (window.rank() == 2 && groups == 1)) {
    // The patches as a ube.im2col of the padded input over the output's
    // positions (a 1-D input a plane of height 1), counted at run time on
    // symbolic planes. Without groups, every image's positions side by
    // side, [1, C·T, N·P], read transposed by one product G · patchesᵀ:
    // the cpu matmul kernels gather its panels straight from the input (no
    // patch matrix, no transpose of it). With groups (symbolic sizes), a
    // product per image and group, summed.
    Window plane = window;
    Value input = x;
    if (window.rank() == 1) {
      for (Shape *ones : {&plane.kernel, &plane.stride, &plane.dilation})
        ones->insert(ones->begin(), 1);
      for (Shape *zeros : {&plane.padBegin, &plane.padEnd})
        zeros->insert(zeros->begin(), 0);
      SizeList xs = sizesOf(u, x);
      xs.insert(xs.begin() + 2, fixed(u, 1));
      input = reshapeTo(u, x, xs);
    }
    Value padded = padAxis(u, padAxis(u, input, 2, plane.padBegin[0], plane.padEnd[0]), 3,
                           plane.padBegin[1], plane.padEnd[1]);
    if (groups > 1) {
      SizeList perGroup = sizesOf(u, padded);
      perGroup[0] = mulConst(u, perGroup[0], groups);
      perGroup[1] = fixed(u, shapeOf(padded)[1] / groups);
      padded = reshapeTo(u, padded, perGroup);
    }
    // Static planes: the output's positions as attributes; symbolic ones:
    // counted by the op from the padded input at run time.
    ImplicitLocOpBuilder &b = u.b;
    bool counted = ShapedType::isDynamic(positions), sideBySide = groups == 1;
    Value patches = Im2colOp::create(
        b, padded, b.getDenseI64ArrayAttr(plane.kernel), b.getDenseI64ArrayAttr(plane.dilation),
        b.getDenseI64ArrayAttr(plane.stride),
        counted ? IntegerAttr() : b.getI64IntegerAttr(outSpatial.back()),
        counted ? IntegerAttr() : b.getI64IntegerAttr(positions),
        sideBySide ? b.getUnitAttr() : UnitAttr());
    if (!sideBySide)
      return summedOverImages(patches);
    Shape channelsBeforeImages = {1, 0};
    for (int64_t d = 2; d < 2 + window.rank(); ++d)
      channelsBeforeImages.push_back(d);
    Value grad = reshapeTo(u, u.transpose(g, channelsBeforeImages),
                           {fixed(u, 1), fixed(u, out), mul(u, gSizes[0], count)});
    return u.reshape(u.matmul(grad, patches, /*transposeRhs=*/true), weightShape);
  }
  if (symbolic) // 3-D: K strided copies of the input.
    return summedOverImages(convPatches(u, x, window, outSpatial, groups));
  Value patches = convPatches(u, x, window, ArrayRef<int64_t>(gs).drop_front(2), groups);
  patches = u.reshape(u.transpose(patches, {1, 0, 4, 2, 3}),
                      {groups, n * positions, perGroupIn * taps});
  Value grad = u.reshape(u.transpose(u.reshape(g, {n, groups, perGroupOut, positions}),
                                     {1, 2, 0, 3}),
                         {groups, perGroupOut, n * positions});
  return u.reshape(u.matmul(grad, patches), weightShape);
}

namespace {
/// `x`'s spatial sizes as an input_spatial attribute (-1 where symbolic)
/// and the symbolic ones read at run time: the input sizes of
/// conv_input_grad and avg_pool_grad.
std::pair<DenseI64ArrayAttr, SmallVector<Value>> spatialSizes(UbeBuilder &u, Value x) {
  Shape spatial;
  SmallVector<Value> runtime;
  for (int64_t d = 2; d < UbeBuilder::typeOf(x).getRank(); ++d) {
    bool symbolic = UbeBuilder::typeOf(x).isDynamicDim(d);
    spatial.push_back(symbolic ? -1 : shapeOf(x)[d]);
    if (symbolic)
      runtime.push_back(u.dimSize(x, d));
  }
  return {u.b.getDenseI64ArrayAttr(spatial), runtime};
}
} // namespace

LogicalResult convGradients(ConvOp op, UbeBuilder &u, Value g, SmallVectorImpl<Value> &grads) {
  Window window = op.window();
  auto stride = op.getStrideAttr(), padding = op.getPaddingAttr(),
       dilation = op.getDilationAttr();
  auto groups = op.getGroupsAttr();
  auto [spatial, runtime] = spatialSizes(u, op.getInput());
  grads[0] = ConvInputGradOp::create(u.b, g, op.getWeight(), spatial, stride, padding, dilation,
                                     groups, runtime);
  auto kernel = UbeBuilder::typeOf(op.getWeight()).getShape().drop_front(2);
  grads[1] = ConvWeightGradOp::create(u.b, op.getInput(), g, u.b.getDenseI64ArrayAttr(kernel),
                                      stride, padding, dilation, groups);
  if (op.getBias()) {
    Shape axes = {0};
    for (int64_t d = 0; d < window.rank(); ++d)
      axes.push_back(2 + d);
    grads[2] = u.reduceSum(g, axes);
  }
  return success();
}

LogicalResult convInputGradGradients(ConvInputGradOp op, UbeBuilder &u, Value g,
                                     SmallVectorImpl<Value> &grads) {
  grads[0] = ConvOp::create(u.b, g, op.getWeight(), Value(), op.getStrideAttr(),
                            op.getPaddingAttr(), op.getDilationAttr(), op.getGroupsAttr());
  auto kernel = UbeBuilder::typeOf(op.getWeight()).getShape().drop_front(2);
  grads[1] = ConvWeightGradOp::create(u.b, g, op.getGrad(), u.b.getDenseI64ArrayAttr(kernel),
                                      op.getStrideAttr(), op.getPaddingAttr(),
                                      op.getDilationAttr(), op.getGroupsAttr());
  return success();
}

LogicalResult avgPoolGradient(AvgPoolOp op, UbeBuilder &u, Value g,
                              SmallVectorImpl<Value> &grads) {
  auto [spatial, runtime] = spatialSizes(u, op.getInput());
  grads[0] = AvgPoolGradOp::create(u.b, g, spatial, op.getKernelAttr(), op.getStrideAttr(),
                                   op.getPaddingAttr(), op.getDilationAttr(),
                                   op.getCeilModeAttr(), op.getCountIncludePadAttr(), runtime);
  return success();
}

namespace {
/// The number of a window's taps along `d` on the input (or, with
/// `includePad`, the input and its padding) at each of its `outSize`
/// positions over an input of `size`: [Y], avg_pool's divisor along `d`.
/// Static, a constant; symbolic, a convolution of ones with ones, counted
/// at each call.
Value tapCountsAlong(UbeBuilder &u, Type element, const Window &window, int64_t d,
                     OpFoldResult size, OpFoldResult outSize, bool includePad) {
  Window along;
  for (auto [to, from] : {std::pair(&along.kernel, &window.kernel),
                          std::pair(&along.stride, &window.stride),
                          std::pair(&along.dilation, &window.dilation),
                          std::pair(&along.padBegin, &window.padBegin),
                          std::pair(&along.padEnd, &window.padEnd)})
    to->assign({(*from)[d]});
  along.ceilMode = window.ceilMode;
  if (std::optional<int64_t> fixedSize = getConstantIntValue(size)) {
    SmallVector<Attribute> counts;
    for (double v : along.tapCounts({*fixedSize}, includePad))
      counts.push_back(u.b.getFloatAttr(element, v));
    auto type = RankedTensorType::get({int64_t(counts.size())}, element);
    return ConstantOp::create(u.b, type, DenseElementsAttr::get(type, counts));
  }
  // Ones over the input (with its padding: then none around it), zeros
  // around it and past it by up to s − 1 where ceil mode's last window
  // overhangs; the windows past the output's are cropped.
  int64_t pad = window.padBegin[d] + window.padEnd[d];
  OpFoldResult length = includePad ? addConst(u, size, pad) : size;
  Value ones = filledTo(u, element, 1.0, {fixed(u, 1), fixed(u, 1), length});
  int64_t lead = includePad ? 0 : window.padBegin[d];
  int64_t trail = (includePad ? 0 : window.padEnd[d]) + (window.ceilMode ? window.stride[d] - 1 : 0);
  Value kernel = filledTo(u, element, 1.0, {fixed(u, 1), fixed(u, 1), fixed(u, window.kernel[d])});
  Value counts = ConvOp::create(u.b, ones, kernel, Value(),
                                u.b.getDenseI64ArrayAttr({window.stride[d]}),
                                u.b.getDenseI64ArrayAttr({lead, trail}),
                                u.b.getDenseI64ArrayAttr({window.dilation[d]}), 1);
  return reshapeTo(u, sliceAxis(u, counts, 2, 0, outSize), {outSize});
}
} // namespace

Value avgPoolInputGradient(UbeBuilder &u, Value g, const Window &window, bool countIncludePad,
                           ArrayRef<OpFoldResult> input) {
  int64_t r = window.rank();
  Type element = UbeBuilder::elementTypeOf(g);
  SizeList out = sizesOf(u, g);
  // g / divisor, then the input gradient of a depthwise convolution with a
  // kernel of ones. The divisor is the product of each dimension's tap
  // counts; with the padding counted and no overhang, every window's taps.
  Value divisor;
  if (countIncludePad && !window.ceilMode) {
    divisor = u.scalar(element, double(ShapedType::getNumElements(window.kernel)));
  } else {
    for (int64_t d = 0; d < r; ++d) {
      SizeList along(r, fixed(u, 1));
      along[d] = out[2 + d];
      Value counts = reshapeTo(
          u, tapCountsAlong(u, element, window, d, input[2 + d], out[2 + d], countIncludePad),
          along);
      divisor = divisor ? u.mul(divisor, counts) : counts;
    }
  }
  int64_t channels = shapeOf(g)[1];
  SizeList ones = {fixed(u, channels), fixed(u, 1)};
  for (int64_t k : window.kernel)
    ones.push_back(fixed(u, k));
  return convInputGradient(u, u.div(g, divisor), filledTo(u, element, 1.0, ones), window,
                           channels, input);
}

LogicalResult maxPoolGradient(MaxPoolOp op, UbeBuilder &u, Value g,
                              SmallVectorImpl<Value> &grads) {
  grads[0] = MaxPoolGradOp::create(u.b, op.getInput(), g, op.getKernelAttr(), op.getStrideAttr(),
                                   op.getPaddingAttr(), op.getDilationAttr(),
                                   op.getCeilModeAttr());
  return success();
}

namespace {
/// Calls `visit(hit, start, along)` for each tap of the window in row-major
/// order with `hit` [N, C, *out], where that tap is its window's first
/// maximum `y`, `start` the tap's first element in the padded input, and
/// `along` the same tap of `alongside` ([1, 1, *S], padded with zeros; null
/// without it).
void forEachFirstMaximum(
    UbeBuilder &u, Value input, Value y, const Window &window, Value alongside,
    function_ref<void(Value hit, ArrayRef<int64_t> start, Value along)> visit) {
  int64_t r = window.rank();
  Shape in = shapeOf(input), out = shapeOf(y);
  double lowest = -std::numeric_limits<double>::infinity();
  Value x = input;
  // A symbolic plane is padded for the longest overhang (s − 1), which the
  // taps' slices leave out where it is shorter.
  for (int64_t d = 0; d < r; ++d) {
    int64_t after = window.padEnd[d] + (ShapedType::isDynamic(in[2 + d])
                                            ? (window.ceilMode ? window.stride[d] - 1 : 0)
                                            : window.overhang(d, in[2 + d]));
    x = padAxis(u, x, 2 + d, window.padBegin[d], after, lowest);
    if (alongside)
      alongside = padAxis(u, alongside, 2 + d, window.padBegin[d], after);
  }
  SizeList outSizes = sizesOf(u, y);
  // The elements a tap reads from every window at once: a strided slice.
  Value taken;
  Shape offset(r, 0);
  while (true) {
    Shape start(2, 0), limit = {in[0], in[1]}, stride = {1, 1};
    SmallVector<Value> limits(2);
    for (int64_t d = 0; d < r; ++d) {
      start.push_back(offset[d] * window.dilation[d]);
      stride.push_back(window.stride[d]);
      // start + (Y − 1)·s + 1.
      OpFoldResult end =
          addConst(u, mulConst(u, outSizes[2 + d], window.stride[d]),
                   start.back() + 1 - window.stride[d]);
      limit.push_back(getConstantIntValue(end).value_or(ShapedType::kDynamic));
      limits.push_back(ShapedType::isDynamic(limit.back()) ? asIndex(u, end) : Value());
    }
    Value tap = u.slice(x, start, limit, stride, limits);
    Value hit = u.compare("eq", tap, y);
    if (taken)
      hit = LogicalAndOp::create(u.b, hit, LogicalNotOp::create(u.b, taken));
    taken = taken ? Value(LogicalOrOp::create(u.b, taken, hit)) : hit;
    Value along;
    if (alongside) {
      Shape single = limit;
      single[0] = single[1] = 1;
      along = u.slice(alongside, start, single, stride, limits);
    }
    visit(hit, start, along);
    int64_t d = r - 1;
    while (d >= 0 && ++offset[d] == window.kernel[d])
      offset[d--] = 0;
    if (d < 0)
      break;
  }
}
} // namespace

Value maxPoolInputGradient(UbeBuilder &u, Value input, Value y, Value g, const Window &window) {
  // Per phase of the padded input (positions q · s + φ): the taps that land
  // on it, each its windows' gradient where it held the maximum, shifted on
  // the phase's grid of Q positions and summed; then the phases
  // interleaved. Nothing is spread with zeros to the full grid per tap.
  int64_t r = window.rank();
  Shape out = shapeOf(y);
  SizeList in = sizesOf(u, input), positions(r);
  int64_t phaseCount = 1;
  ImplicitLocOpBuilder &b = u.b;
  for (int64_t d = 0; d < r; ++d) {
    OpFoldResult padded = addConst(u, in[2 + d], window.padBegin[d] + window.padEnd[d]);
    if (auto size = getConstantIntValue(in[2 + d]))
      padded = addConst(u, padded, window.overhang(d, *size));
    else
      padded = combine<arith::AddIOp>(u, padded,
                                      window.overhang(b, b.getLoc(), d, asIndex(u, in[2 + d])),
                                      std::plus<int64_t>());
    positions[d] = ceilDivConst(u, padded, window.stride[d]);
    phaseCount *= window.stride[d];
  }
  Type element = UbeBuilder::elementTypeOf(g);
  Value zero = u.scalar(element, 0.0);
  SmallVector<Value> phases(phaseCount);
  forEachFirstMaximum(u, input, y, window, Value(), [&](Value hit, ArrayRef<int64_t> start,
                                                        Value) {
    Value placed = u.where(hit, g, zero);
    int64_t phase = 0;
    for (int64_t d = 0; d < r; ++d) {
      int64_t s = window.stride[d], first = start[2 + d] / s;
      phase = phase * s + start[2 + d] % s;
      // On a symbolic plane: padded for the most Q − Y can be (⌈span / s⌉),
      // then cropped to Q.
      std::optional<int64_t> q = getConstantIntValue(positions[d]);
      int64_t after = q && !ShapedType::isDynamic(out[2 + d])
                          ? *q - first - out[2 + d]
                          : std::max<int64_t>(
                                0, llvm::divideCeil(window.span(d), s) - first);
      placed = padAxis(u, placed, 2 + d, first, after);
      if (!q || ShapedType::isDynamic(out[2 + d]))
        placed = sliceAxis(u, placed, 2 + d, 0, positions[d]);
    }
    phases[phase] = phases[phase] ? u.add(phases[phase], placed) : placed;
  });
  SizeList phaseSizes = {in[0], in[1]};
  phaseSizes.append(positions.begin(), positions.end());
  for (Value &phase : phases)
    if (!phase)
      phase = filledTo(u, element, 0.0, phaseSizes);
  return interleavePhases(u, phases, positions, window, in);
}

Value maxPoolIndices(UbeBuilder &u, Value input, Value y, const Window &window) {
  // Each tap's flat index in the unpadded plane (h·W + w in 2-D) is the
  // same strided slice of the plane's positions [1, 1, *S] as its values
  // are of the input: counted by an arange, sized at run time on symbolic
  // planes.
  SizeList plane = {fixed(u, 1), fixed(u, 1)}, in = sizesOf(u, input);
  plane.append(in.begin() + 2, in.end());
  OpFoldResult count = product(u, ArrayRef<OpFoldResult>(in).drop_front(2));
  auto flatType = RankedTensorType::get(staticShape({count}), u.b.getI64Type());
  Value flat = ArangeOp::create(u.b, flatType, u.b.getF64FloatAttr(0.0),
                                u.b.getF64FloatAttr(1.0), runtimeSizes({count}));
  Value positions = reshapeTo(u, flat, plane);
  Value zero = u.scalar(u.b.getI64Type(), 0.0), sum;
  forEachFirstMaximum(u, input, y, window, positions,
                      [&](Value hit, ArrayRef<int64_t>, Value along) {
                        Value picked = u.where(hit, along, zero);
                        sum = sum ? u.add(sum, picked) : picked;
                      });
  return sum;
}

} // namespace ube
