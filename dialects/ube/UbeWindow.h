//===- UbeWindow.h - the sliding window of convolutions and pooling -*- C++ -*-===//
//
// The geometry shared by ube.conv, ube.max_pool and ube.avg_pool: per
// spatial dimension a kernel size, stride, padding at each end and
// dilation, and the output size they give. Type inference, the lowering and
// the gradient rules read it from here, so they cannot disagree.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_DIALECTS_UBE_UBEWINDOW_H
#define UBE_DIALECTS_UBE_UBEWINDOW_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"
#include "llvm/ADT/SmallVector.h"

#include <optional>

namespace ube {

struct Window {
  llvm::SmallVector<int64_t> kernel, stride, padBegin, padEnd, dilation;
  /// Pooling's ceil_mode: a last, partial window where floor mode has none
  /// (it must start inside the input or its leading padding).
  bool ceilMode = false;

  /// The window of `spatial` dimensions from an op's attributes: `stride`
  /// and `dilation` one per dimension (all 1 when absent), `padding` as
  /// [begin..., end...] (all 0 when absent). Checks every value is in range
  /// and that the window fits the padded input at least once (at run time
  /// where the input's size is symbolic).
  static mlir::FailureOr<Window>
  get(std::optional<mlir::Location> loc, llvm::ArrayRef<int64_t> inputSpatial,
      llvm::ArrayRef<int64_t> kernel, std::optional<llvm::ArrayRef<int64_t>> stride,
      std::optional<llvm::ArrayRef<int64_t>> padding,
      std::optional<llvm::ArrayRef<int64_t>> dilation, bool ceilMode = false);

  int64_t rank() const { return kernel.size(); }
  /// The extent of the dilated kernel: dilation·(kernel − 1) + 1.
  int64_t span(int64_t d) const { return dilation[d] * (kernel[d] - 1) + 1; }
  /// The number of window positions along `d` over an input of `size`
  /// (symbolic when `size` is).
  int64_t outputSize(int64_t d, int64_t size) const;
  /// The same computed at run time from `size` (an index): negative where
  /// the window does not fit the padded input.
  mlir::Value outputSize(mlir::OpBuilder &b, mlir::Location loc, int64_t d,
                         mlir::Value size) const;
  /// Padding past the end the last window reads beyond `padEnd` (ceil mode).
  int64_t overhang(int64_t d, int64_t size) const;
  mlir::Value overhang(mlir::OpBuilder &b, mlir::Location loc, int64_t d, mlir::Value size) const;
  /// For each output position (row-major over the spatial dimensions of an
  /// input of `sizes`), the number of the window's taps on the input, or
  /// with `includePad` on the input and its padding: avg_pool's divisors.
  llvm::SmallVector<double> tapCounts(llvm::ArrayRef<int64_t> sizes, bool includePad) const;
};

} // namespace ube

#endif // UBE_DIALECTS_UBE_UBEWINDOW_H
