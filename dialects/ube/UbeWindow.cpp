//===- UbeWindow.cpp - the sliding window of convolutions and pooling -----===//

#include "dialects/ube/UbeWindow.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinTypeInterfaces.h"
#include "mlir/IR/Diagnostics.h"

using namespace mlir;

namespace ube {

FailureOr<Window> Window::get(std::optional<Location> loc, ArrayRef<int64_t> inputSpatial,
                              ArrayRef<int64_t> kernel, std::optional<ArrayRef<int64_t>> stride,
                              std::optional<ArrayRef<int64_t>> padding,
                              std::optional<ArrayRef<int64_t>> dilation, bool ceilMode) {
  size_t rank = kernel.size();
  Window w;
  w.ceilMode = ceilMode;
  w.kernel.assign(kernel.begin(), kernel.end());
  auto read = [&](std::optional<ArrayRef<int64_t>> values, size_t count, int64_t fallback,
                  int64_t minimum, StringRef name,
                  SmallVector<int64_t> &out) -> LogicalResult {
    if (!values) {
      out.assign(count, fallback);
      return success();
    }
    if (values->size() != count)
      return emitOptionalError(loc, name, " has ", values->size(), " values, expected ", count,
                               " (", rank, " spatial dimensions)");
    for (int64_t v : *values)
      if (v < minimum)
        return emitOptionalError(loc, name, " values must be at least ", minimum, ", got ", v);
    out.assign(values->begin(), values->end());
    return success();
  };
  SmallVector<int64_t> pads;
  if (failed(read(ArrayRef<int64_t>(kernel), rank, 1, 1, "kernel", w.kernel)) ||
      failed(read(stride, rank, 1, 1, "stride", w.stride)) ||
      failed(read(dilation, rank, 1, 1, "dilation", w.dilation)) ||
      failed(read(padding, 2 * rank, 0, 0, "padding", pads)))
    return failure();
  w.padBegin.assign(pads.begin(), pads.begin() + rank);
  w.padEnd.assign(pads.begin() + rank, pads.end());
  for (size_t d = 0; d < rank; ++d) {
    int64_t size = inputSpatial[d];
    // A symbolic size is checked at each call instead: the output size
    // computed at run time is then negative (outputSize below).
    if (ShapedType::isDynamic(size))
      continue;
    if (size + w.padBegin[d] + w.padEnd[d] < w.span(d))
      return emitOptionalError(loc, "the window (", w.span(d), " wide with dilation) is larger than "
                               "spatial dimension ", d, " of size ", size, " padded by ",
                               w.padBegin[d], " and ", w.padEnd[d]);
  }
  return w;
}

int64_t Window::outputSize(int64_t d, int64_t size) const {
  if (ShapedType::isDynamic(size))
    return ShapedType::kDynamic;
  int64_t room = size + padBegin[d] + padEnd[d] - span(d);
  int64_t out = (ceilMode ? (room + stride[d] - 1) / stride[d] : room / stride[d]) + 1;
  // A ceil-mode window that would start in the trailing padding is dropped.
  if (ceilMode && (out - 1) * stride[d] >= size + padBegin[d])
    --out;
  return out;
}

Value Window::outputSize(OpBuilder &b, Location loc, int64_t d, Value size) const {
  auto constant = [&](int64_t v) -> Value { return arith::ConstantIndexOp::create(b, loc, v); };
  Value room = arith::AddIOp::create(b, loc, size,
                                     constant(padBegin[d] + padEnd[d] - span(d)));
  Value stride = constant(this->stride[d]);
  Value steps = ceilMode ? arith::CeilDivSIOp::create(b, loc, room, stride).getResult()
                         : arith::FloorDivSIOp::create(b, loc, room, stride).getResult();
  Value out = arith::AddIOp::create(b, loc, steps, constant(1));
  if (ceilMode) // Windows start inside the input or its leading padding.
    out = arith::MinSIOp::create(
        b, loc, out,
        arith::CeilDivSIOp::create(
            b, loc, arith::AddIOp::create(b, loc, size, constant(padBegin[d])), stride));
  // Where the window does not fit, the size is negative rather than 0 or
  // 1: the entry point's checks of its sizes refuse such a call (an input
  // too small for the graph) before anything runs.
  return arith::AddIOp::create(b, loc, out,
                               arith::MinSIOp::create(b, loc, room, constant(0)));
}

Value Window::overhang(OpBuilder &b, Location loc, int64_t d, Value size) const {
  auto constant = [&](int64_t v) -> Value { return arith::ConstantIndexOp::create(b, loc, v); };
  if (!ceilMode)
    return constant(0);
  // (out − 1)·stride + span − (size + padding), at least 0.
  Value last = arith::MulIOp::create(
      b, loc, arith::SubIOp::create(b, loc, outputSize(b, loc, d, size), constant(1)),
      constant(stride[d]));
  Value reach = arith::SubIOp::create(
      b, loc, arith::AddIOp::create(b, loc, last, constant(span(d) - padBegin[d] - padEnd[d])),
      size);
  return arith::MaxSIOp::create(b, loc, reach, constant(0));
}

int64_t Window::overhang(int64_t d, int64_t size) const {
  int64_t reach = (outputSize(d, size) - 1) * stride[d] + span(d);
  return std::max<int64_t>(0, reach - (size + padBegin[d] + padEnd[d]));
}

SmallVector<double> Window::tapCounts(ArrayRef<int64_t> sizes, bool includePad) const {
  SmallVector<double> counts = {1.0};
  for (int64_t d = 0; d < rank(); ++d) {
    int64_t low = includePad ? -padBegin[d] : 0;
    int64_t high = includePad ? sizes[d] + padEnd[d] : sizes[d];
    SmallVector<double> next;
    for (double prefix : counts)
      for (int64_t i = 0, n = outputSize(d, sizes[d]); i < n; ++i) {
        int64_t count = 0;
        for (int64_t k = 0; k < kernel[d]; ++k) {
          int64_t at = i * stride[d] - padBegin[d] + k * dilation[d];
          count += at >= low && at < high;
        }
        next.push_back(prefix * double(count));
      }
    counts = std::move(next);
  }
  return counts;
}

} // namespace ube
