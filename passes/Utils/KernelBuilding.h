//===- KernelBuilding.h - helpers of the CPU kernel passes -----*- C++ -*-===//
//
// What the kernel generators (--ube-cpu-distillation-kernels,
// --ube-cpu-matmul-kernels, and --ube-expand-projected-kd before them)
// share: loops that thread tensors and vectors through iter_args, reshapes
// that group leading dimensions, and where a loss can be built together
// with its gradient.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_PASSES_UTILS_KERNELBUILDING_H
#define UBE_PASSES_UTILS_KERNELBUILDING_H

#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace ube {

/// How the kernel generators apply their patterns: a kernel is hundreds of
/// new ops, which the canonicalizer cleans up later; simplifying the
/// function's regions after each round, as the default does, cost more than
/// building the kernels (BERT-base: 35k ops).
mlir::GreedyRewriteConfig kernelRewriteConfig();

using LoopBody =
    llvm::function_ref<llvm::SmallVector<mlir::Value>(mlir::Value iv, mlir::ValueRange state)>;

/// An scf.for over [begin, end) by `step` threading `state`; `body` builds
/// one iteration with `b` (positioned inside the loop) and returns the next
/// state. Returns the final state.
llvm::SmallVector<mlir::Value> buildLoop(mlir::ImplicitLocOpBuilder &b, mlir::Value begin,
                                         mlir::Value end, mlir::Value step,
                                         mlir::ValueRange state, LoopBody body);

/// Reshapes tensor `value` ([d0, ..., dn]) to `shape` by collapsing or
/// expanding with one reassociation group per result dimension, all leading
/// dimensions in the first group: [a, b, c, v] <-> [a*b*c, v].
mlir::Value reshapeTo(mlir::ImplicitLocOpBuilder &b, mlir::Value value,
                      llvm::ArrayRef<int64_t> shape);

/// `reshapeTo` for shapes that may be dynamic: `shape` holds each result
/// dimension's size (a constant, or a value available at `b`'s insertion
/// point), which an expansion of dynamic sizes needs.
mlir::Value reshapeTo(mlir::ImplicitLocOpBuilder &b, mlir::Value value,
                      llvm::ArrayRef<mlir::OpFoldResult> shape);

/// `x * y` of two index sizes: an attribute when both are constants, the
/// other operand when one is 1, else an arith.muli where `b` is.
mlir::OpFoldResult mulSizes(mlir::OpBuilder &b, mlir::Location loc, mlir::OpFoldResult x,
                            mlir::OpFoldResult y);

/// Index arithmetic for kernels whose sizes may be symbolic: each op folds
/// when its operands are constants, so one builder makes the same constants
/// for static shapes that it computes at run time for symbolic ones.
class IndexMath {
public:
  explicit IndexMath(mlir::ImplicitLocOpBuilder &b) : b(b) {}
  mlir::Value c(int64_t value);
  mlir::Value add(mlir::Value x, mlir::Value y);
  mlir::Value sub(mlir::Value x, mlir::Value y);
  mlir::Value mul(mlir::Value x, mlir::Value y);
  /// x / y and x % y of non-negative x, positive y.
  mlir::Value div(mlir::Value x, mlir::Value y);
  mlir::Value rem(mlir::Value x, mlir::Value y);
  mlir::Value ceilDiv(mlir::Value x, mlir::Value y);
  mlir::Value min(mlir::Value x, mlir::Value y);
  mlir::Value max(mlir::Value x, mlir::Value y);
  mlir::Value eq(mlir::Value x, mlir::Value y);
  mlir::Value lt(mlir::Value x, mlir::Value y);
  mlir::Value select(mlir::Value condition, mlir::Value x, mlir::Value y);
  mlir::Value andI(mlir::Value x, mlir::Value y);
  /// The size of dimension `d` of tensor `value`: a constant when static.
  mlir::Value dim(mlir::Value value, int64_t d);
  /// The coordinates of row-major linear index `linear` in a shape of
  /// `sizes`.
  llvm::SmallVector<mlir::Value> delinearize(mlir::Value linear, mlir::ValueRange sizes);
  /// `value`'s constant, if it folded to one.
  static std::optional<int64_t> constant(mlir::Value value);

private:
  mlir::ImplicitLocOpBuilder &b;
};

/// Whether `value` is defined before `op` (an earlier op of its block or an
/// argument of an enclosing block): a gradient's upstream value must be, for
/// the gradient to be built where its loss is.
bool isAvailableBefore(mlir::Value value, mlir::Operation *op);

/// The loss a gradient op can be built together with: a `LossOp` among
/// `operand`'s users, earlier in `grad`'s block, of the same operands
/// (`sameOperands`), before which `upstream` (the gradient's upstream value)
/// is available; or null.
template <typename LossOp>
LossOp findLossOfGradient(mlir::Operation *grad, mlir::Value operand, mlir::Value upstream,
                          llvm::function_ref<bool(LossOp)> sameOperands) {
  for (mlir::Operation *user : operand.getUsers()) {
    auto loss = llvm::dyn_cast<LossOp>(user);
    if (loss && loss->getBlock() == grad->getBlock() && loss->isBeforeInBlock(grad) &&
        sameOperands(loss) && isAvailableBefore(upstream, loss))
      return loss;
  }
  return nullptr;
}

} // namespace ube

#endif // UBE_PASSES_UTILS_KERNELBUILDING_H
