//===- SizeExprs.h - host index arithmetic as expressions of symbols -*- C++ -*-===//
//
// Sizes an entry point's call fixes (a cuda launch plan's grids, a cpu
// arena's size) reach the runtime as expression lists over the symbols
// (ube/Support/PlanExpr.h). This builds such a list from the index
// arithmetic that computes them: constants, arith ops, index casts,
// affine.apply, and selects on comparisons of sizes. What a `memref.dim`
// or `tensor.dim` is, the caller says.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_PASSES_UTILS_SIZEEXPRS_H
#define UBE_PASSES_UTILS_SIZEEXPRS_H

#include "ube/Support/PlanExpr.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Interfaces/ShapedOpInterfaces.h"
#include "mlir/IR/OpDefinition.h"
#include "llvm/ADT/DenseMap.h"

#include <functional>
#include <map>
#include <tuple>

namespace ube {

/// A host integer: a constant, or the value of a node of the list.
struct SizeExpr {
  int64_t constant = 0;
  ExprRef expr = kStatic;
  bool isConstant() const { return expr == kStatic; }
};

/// The expression operation a binary arith op on sizes computes
/// (`arith.floordivsi` -> FloorDivSI); nullopt for any other op.
std::optional<PlanExpr::Op> planExprOpOf(mlir::Operation *op);

class SizeExprBuilder {
public:
  using DimFn = std::function<mlir::FailureOr<SizeExpr>(mlir::ShapedDimOpInterface)>;

  /// `plan` names what the list is for in errors ("the cuda launch plan").
  SizeExprBuilder(std::string plan, DimFn dimOf)
      : plan_(std::move(plan)), dimOf_(std::move(dimOf)) {}

  /// A node (equal nodes are shared).
  SizeExpr node(const PlanExpr &expr);
  SizeExpr symbol(unsigned index) { return node({PlanExpr::Symbol, int64_t(index)}); }
  /// `a op b`, folded when both are constants; fails, at `at`, on overflow.
  mlir::FailureOr<SizeExpr> apply(PlanExpr::Op op, SizeExpr a, SizeExpr b, mlir::Operation *at);
  mlir::FailureOr<SizeExpr> product(llvm::ArrayRef<SizeExpr> sizes, mlir::Operation *at);

  /// The value of `v` (an index or integer computed by the ops above), used
  /// by `user`; fails with a diagnostic at the first op it cannot follow.
  mlir::FailureOr<SizeExpr> valueOf(mlir::Value v, mlir::Operation *user);
  mlir::FailureOr<SizeExpr> valueOf(mlir::OpFoldResult v, mlir::Operation *user);

  const std::vector<PlanExpr> &exprs() const { return exprs_; }
  std::vector<PlanExpr> takeExprs() { return std::move(exprs_); }

private:
  /// A comparison of sizes as 1 or 0.
  mlir::FailureOr<SizeExpr> conditionOf(mlir::arith::CmpIOp compare);
  mlir::FailureOr<SizeExpr> affineValue(mlir::AffineExpr e, mlir::ValueRange operands,
                                        unsigned dims, mlir::Operation *user);

  std::string plan_;
  DimFn dimOf_;
  std::vector<PlanExpr> exprs_;
  llvm::DenseMap<mlir::Value, SizeExpr> values_;
  std::map<std::tuple<int, int64_t, uint32_t, uint32_t>, ExprRef> nodes_;
};

} // namespace ube

#endif // UBE_PASSES_UTILS_SIZEEXPRS_H
