//===- UbeWindowGrad.h - gradients of convolution and pooling ---*- C++ -*-===//
//
// The reverse-mode rules of ube.conv, ube.avg_pool and ube.max_pool in ube
// ops (UbeVjp.cpp attaches them): input gradients as convolutions of the
// output gradient spread by the stride, the weight gradient as a
// convolution of the input with the output gradient as its kernel. The
// planes may be symbolic: sizes they fix are then computed at each call.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_DIALECTS_UBE_UBEWINDOWGRAD_H
#define UBE_DIALECTS_UBE_UBEWINDOWGRAD_H

#include "dialects/ube/UbeBuilder.h"

namespace ube {

/// The reverse-mode rules: the gradients of `op`'s operands given `g`, as
/// ube.conv_input_grad, conv_weight_grad, avg_pool_grad and max_pool_grad
/// (a bias: summed). Symbolic planes' sizes reach the input gradients as
/// their `input_sizes`.
mlir::LogicalResult convGradients(ConvOp op, UbeBuilder &u, mlir::Value g,
                                  mlir::SmallVectorImpl<mlir::Value> &grads);
/// The gradients of conv_input_grad (what a transposed convolution is): of
/// its `grad` operand the forward convolution of `g`, of its weight the
/// weight gradient with the roles of input and output exchanged.
mlir::LogicalResult convInputGradGradients(ConvInputGradOp op, UbeBuilder &u, mlir::Value g,
                                           llvm::SmallVectorImpl<mlir::Value> &grads);
mlir::LogicalResult avgPoolGradient(AvgPoolOp op, UbeBuilder &u, mlir::Value g,
                                    mlir::SmallVectorImpl<mlir::Value> &grads);
mlir::LogicalResult maxPoolGradient(MaxPoolOp op, UbeBuilder &u, mlir::Value g,
                                    mlir::SmallVectorImpl<mlir::Value> &grads);

/// Whether every size of `op`'s operands and results but the first (the
/// batch) is static.
bool staticButBatch(mlir::Operation *op);

/// Sizes known at compile time (attributes) or at run time (index values),
/// as upstream's mixed static and dynamic sizes.
using SizeList = llvm::SmallVector<mlir::OpFoldResult>;

/// `x` with `before` and `after` elements of `value` around it along `axis`
/// (negative counts crop): explicit padding in ube ops.
mlir::Value padAxis(UbeBuilder &u, mlir::Value x, int64_t axis, int64_t before, int64_t after,
                    double value = 0.0);

/// A convolution's window taps (row-major), each [N, C, *outSpatial]: the
/// strided slice of the zero-padded input that the tap meets at every
/// output position. A symbolic size of `outSpatial` is computed from the
/// input's at run time.
llvm::SmallVector<mlir::Value> convTaps(UbeBuilder &u, mlir::Value x, const Window &window,
                                        llvm::ArrayRef<int64_t> outSpatial);

/// A convolution's input patches [N, groups, C / groups, taps, positions]:
/// each window tap (row-major) a strided slice of the zero-padded input, at
/// every output position (`outSpatial`, symbolic sizes computed at run
/// time). im2col in ube ops.
mlir::Value convPatches(UbeBuilder &u, mlir::Value x, const Window &window,
                        llvm::ArrayRef<int64_t> outSpatial, int64_t groups);

/// The expansions of those gradient ops (--ube-decompose). A convolution's
/// input gradient [N, C, *S] (`input`, each size static or computed at run
/// time) from `g` [N, O, *Y] and the weight [O, C/G, *K].
mlir::Value convInputGradient(UbeBuilder &u, mlir::Value g, mlir::Value weight,
                              const Window &window, int64_t groups,
                              llvm::ArrayRef<mlir::OpFoldResult> input);
/// A convolution's weight gradient of `weightShape` from its input `x` and `g`.
mlir::Value convWeightGradient(UbeBuilder &u, mlir::Value x, mlir::Value g,
                               const Window &window, int64_t groups,
                               llvm::ArrayRef<int64_t> weightShape);
mlir::Value avgPoolInputGradient(UbeBuilder &u, mlir::Value g, const Window &window,
                                 bool countIncludePad, llvm::ArrayRef<mlir::OpFoldResult> input);
/// Each window's gradient goes to its first maximum `y` (the pooling's
/// result), as PyTorch's does.
mlir::Value maxPoolInputGradient(UbeBuilder &u, mlir::Value x, mlir::Value y, mlir::Value g,
                                 const Window &window);
/// The flat index (within each channel's unpadded spatial plane, as
/// PyTorch's max_pool indices) of each window's first maximum `y`.
mlir::Value maxPoolIndices(UbeBuilder &u, mlir::Value x, mlir::Value y, const Window &window);

} // namespace ube

#endif // UBE_DIALECTS_UBE_UBEWINDOWGRAD_H
