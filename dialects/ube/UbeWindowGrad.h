//===- UbeWindowGrad.h - gradients of convolution and pooling ---*- C++ -*-===//
//
// The reverse-mode rules of ube.conv, ube.avg_pool and ube.max_pool in ube
// ops (UbeVjp.cpp attaches them): input gradients as convolutions of the
// output gradient spread by the stride, the weight gradient as a
// convolution of the input with the output gradient as its kernel. Static
// shapes only.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_DIALECTS_UBE_UBEWINDOWGRAD_H
#define UBE_DIALECTS_UBE_UBEWINDOWGRAD_H

#include "dialects/ube/UbeBuilder.h"

namespace ube {

/// The gradients of `op`'s input, weight and bias given `g` (null when an
/// operand has none). Fails, naming the op, on symbolic shapes.
mlir::LogicalResult convGradients(ConvOp op, UbeBuilder &u, mlir::Value g,
                                  mlir::SmallVectorImpl<mlir::Value> &grads);
mlir::LogicalResult avgPoolGradient(AvgPoolOp op, UbeBuilder &u, mlir::Value g,
                                    mlir::SmallVectorImpl<mlir::Value> &grads);
/// Each window's gradient goes to its first maximum, as PyTorch's does.
mlir::LogicalResult maxPoolGradient(MaxPoolOp op, UbeBuilder &u, mlir::Value g,
                                    mlir::SmallVectorImpl<mlir::Value> &grads);

} // namespace ube

#endif // UBE_DIALECTS_UBE_UBEWINDOWGRAD_H
