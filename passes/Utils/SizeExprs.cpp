//===- SizeExprs.cpp - host index arithmetic as expressions of symbols -----===//

#include "passes/Utils/SizeExprs.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;

namespace ube {

std::optional<PlanExpr::Op> planExprOpOf(Operation *op) {
  return llvm::TypeSwitch<Operation *, std::optional<PlanExpr::Op>>(op)
      .Case([](arith::AddIOp) { return PlanExpr::AddI; })
      .Case([](arith::SubIOp) { return PlanExpr::SubI; })
      .Case([](arith::MulIOp) { return PlanExpr::MulI; })
      .Case([](arith::DivSIOp) { return PlanExpr::DivSI; })
      .Case([](arith::DivUIOp) { return PlanExpr::DivUI; })
      .Case([](arith::FloorDivSIOp) { return PlanExpr::FloorDivSI; })
      .Case([](arith::CeilDivSIOp) { return PlanExpr::CeilDivSI; })
      .Case([](arith::CeilDivUIOp) { return PlanExpr::CeilDivUI; })
      .Case([](arith::RemSIOp) { return PlanExpr::RemSI; })
      .Case([](arith::RemUIOp) { return PlanExpr::RemUI; })
      .Case([](arith::MaxSIOp) { return PlanExpr::MaxSI; })
      .Case([](arith::MinSIOp) { return PlanExpr::MinSI; })
      .Case([](arith::MaxUIOp) { return PlanExpr::MaxUI; })
      .Case([](arith::MinUIOp) { return PlanExpr::MinUI; })
      .Default([](Operation *) { return std::nullopt; });
}

SizeExpr SizeExprBuilder::node(const PlanExpr &expr) {
  auto key = std::make_tuple(int(expr.op), expr.value, expr.lhs, expr.rhs);
  auto [it, inserted] = nodes_.try_emplace(key, ExprRef(exprs_.size()));
  if (inserted)
    exprs_.push_back(expr);
  return SizeExpr{0, it->second};
}

FailureOr<SizeExpr> SizeExprBuilder::apply(PlanExpr::Op op, SizeExpr a, SizeExpr b,
                                           Operation *at) {
  if (a.isConstant() && b.isConstant()) {
    if (std::optional<int64_t> v = evaluatePlanOp(op, a.constant, b.constant))
      return SizeExpr{*v};
    return at->emitOpError("computes a size that overflows or divides by zero");
  }
  // The identities that keep lists short.
  auto is = [](SizeExpr s, int64_t v) { return s.isConstant() && s.constant == v; };
  if (((op == PlanExpr::AddI || op == PlanExpr::MaxUI) && is(a, 0)) ||
      (op == PlanExpr::MulI && is(a, 1)))
    return b;
  if (((op == PlanExpr::AddI || op == PlanExpr::SubI || op == PlanExpr::MaxUI) && is(b, 0)) ||
      ((op == PlanExpr::MulI || op == PlanExpr::DivSI || op == PlanExpr::DivUI ||
        op == PlanExpr::FloorDivSI || op == PlanExpr::CeilDivSI || op == PlanExpr::CeilDivUI) &&
       is(b, 1)))
    return a;
  auto operand = [&](SizeExpr s) {
    return uint32_t(s.isConstant() ? node({PlanExpr::Constant, s.constant}).expr : s.expr);
  };
  uint32_t lhs = operand(a), rhs = operand(b);
  // Commutative operations in one operand order, so equal sizes share a node.
  bool commutative = op == PlanExpr::AddI || op == PlanExpr::MulI || op == PlanExpr::MaxSI ||
                     op == PlanExpr::MinSI || op == PlanExpr::MaxUI || op == PlanExpr::MinUI;
  if (commutative && rhs < lhs)
    std::swap(lhs, rhs);
  return node({op, 0, lhs, rhs});
}

FailureOr<SizeExpr> SizeExprBuilder::product(ArrayRef<SizeExpr> sizes, Operation *at) {
  SizeExpr total{1};
  for (SizeExpr s : sizes) {
    auto next = apply(PlanExpr::MulI, total, s, at);
    if (failed(next))
      return failure();
    total = *next;
  }
  return total;
}

FailureOr<SizeExpr> SizeExprBuilder::affineValue(AffineExpr e, ValueRange operands,
                                                 unsigned dims, Operation *user) {
  if (auto c = dyn_cast<AffineConstantExpr>(e))
    return SizeExpr{c.getValue()};
  if (auto d = dyn_cast<AffineDimExpr>(e))
    return valueOf(operands[d.getPosition()], user);
  if (auto s = dyn_cast<AffineSymbolExpr>(e))
    return valueOf(operands[dims + s.getPosition()], user);
  auto binary = cast<AffineBinaryOpExpr>(e);
  auto a = affineValue(binary.getLHS(), operands, dims, user);
  auto b = affineValue(binary.getRHS(), operands, dims, user);
  if (failed(a) || failed(b))
    return failure();
  switch (binary.getKind()) {
  case AffineExprKind::Add:
    return apply(PlanExpr::AddI, *a, *b, user);
  case AffineExprKind::Mul:
    return apply(PlanExpr::MulI, *a, *b, user);
  case AffineExprKind::FloorDiv:
    return apply(PlanExpr::FloorDivSI, *a, *b, user);
  case AffineExprKind::CeilDiv:
    return apply(PlanExpr::CeilDivSI, *a, *b, user);
  default: { // Mod: a - floordiv(a, b) * b, never negative for b > 0.
    auto q = apply(PlanExpr::FloorDivSI, *a, *b, user);
    if (failed(q))
      return failure();
    auto qb = apply(PlanExpr::MulI, *q, *b, user);
    if (failed(qb))
      return failure();
    return apply(PlanExpr::SubI, *a, *qb, user);
  }
  }
}

FailureOr<SizeExpr> SizeExprBuilder::conditionOf(arith::CmpIOp compare) {
  auto p = valueOf(compare.getLhs(), compare), q = valueOf(compare.getRhs(), compare);
  if (failed(p) || failed(q))
    return failure();
  // Sizes are not negative, so the unsigned predicates are the signed ones.
  // [p < q] = min(1, max(0, q − p)); [p ≠ q] = min(1, max(p − q, q − p)).
  auto chain = [&](SizeExpr x, std::initializer_list<std::pair<PlanExpr::Op, SizeExpr>> ops)
      -> FailureOr<SizeExpr> {
    for (auto [op, operand] : ops) {
      auto next = apply(op, x, operand, compare);
      if (failed(next))
        return failure();
      x = *next;
    }
    return x;
  };
  auto less = [&](SizeExpr a, SizeExpr b) -> FailureOr<SizeExpr> {
    auto d = apply(PlanExpr::SubI, b, a, compare);
    if (failed(d))
      return failure();
    return chain(*d, {{PlanExpr::MaxSI, SizeExpr{0}}, {PlanExpr::MinSI, SizeExpr{1}}});
  };
  auto negated = [&](FailureOr<SizeExpr> c) -> FailureOr<SizeExpr> {
    if (failed(c))
      return failure();
    return apply(PlanExpr::SubI, SizeExpr{1}, *c, compare);
  };
  auto differs = [&]() -> FailureOr<SizeExpr> {
    auto d = apply(PlanExpr::SubI, *p, *q, compare), e = apply(PlanExpr::SubI, *q, *p, compare);
    if (failed(d) || failed(e))
      return failure();
    return chain(*d, {{PlanExpr::MaxSI, *e}, {PlanExpr::MinSI, SizeExpr{1}}});
  };
  switch (compare.getPredicate()) {
  case arith::CmpIPredicate::slt:
  case arith::CmpIPredicate::ult:
    return less(*p, *q);
  case arith::CmpIPredicate::sgt:
  case arith::CmpIPredicate::ugt:
    return less(*q, *p);
  case arith::CmpIPredicate::sle:
  case arith::CmpIPredicate::ule:
    return negated(less(*q, *p));
  case arith::CmpIPredicate::sge:
  case arith::CmpIPredicate::uge:
    return negated(less(*p, *q));
  case arith::CmpIPredicate::ne:
    return differs();
  case arith::CmpIPredicate::eq:
    return negated(differs());
  }
  llvm_unreachable("every predicate");
}

FailureOr<SizeExpr> SizeExprBuilder::valueOf(OpFoldResult v, Operation *user) {
  if (auto c = getConstantIntValue(v))
    return SizeExpr{*c};
  return valueOf(cast<Value>(v), user);
}

FailureOr<SizeExpr> SizeExprBuilder::valueOf(Value v, Operation *user) {
  if (auto c = getConstantIntValue(v))
    return SizeExpr{v.getType().isInteger(1) ? int64_t(*c != 0) : *c};
  if (auto it = values_.find(v); it != values_.end())
    return it->second;
  Operation *def = v.getDefiningOp();
  if (!def)
    return user->emitOpError("takes a value computed on the host, which ")
           << plan_ << " cannot follow (a block argument)";
  auto binary = [&](PlanExpr::Op op) -> FailureOr<SizeExpr> {
    auto a = valueOf(def->getOperand(0), def), b = valueOf(def->getOperand(1), def);
    if (failed(a) || failed(b))
      return failure();
    return apply(op, *a, *b, def);
  };
  FailureOr<SizeExpr> result =
      llvm::TypeSwitch<Operation *, FailureOr<SizeExpr>>(def)
          .Case([&](ShapedDimOpInterface dim) { return dimOf_(dim); })
          .Case([&](affine::AffineApplyOp op) {
            return affineValue(op.getAffineMap().getResult(0), op.getMapOperands(),
                               op.getAffineMap().getNumDims(), op);
          })
          // Sizes fit any integer type they are cast to.
          .Case<arith::IndexCastOp, arith::IndexCastUIOp>(
              [&](Operation *cast) { return valueOf(cast->getOperand(0), cast); })
          // A choice between sizes (a kernel's task split): b + c·(a − b)
          // with c the condition as 0 or 1.
          .Case([&](arith::SelectOp select) -> FailureOr<SizeExpr> {
            auto c = valueOf(select.getCondition(), select),
                 a = valueOf(select.getTrueValue(), select),
                 b = valueOf(select.getFalseValue(), select);
            if (failed(c) || failed(a) || failed(b))
              return failure();
            auto difference = apply(PlanExpr::SubI, *a, *b, select);
            if (failed(difference))
              return failure();
            auto chosen = apply(PlanExpr::MulI, *c, *difference, select);
            if (failed(chosen))
              return failure();
            return apply(PlanExpr::AddI, *b, *chosen, select);
          })
          .Case([&](arith::CmpIOp compare) { return conditionOf(compare); })
          .Case<arith::AndIOp, arith::OrIOp>([&](Operation *op) -> FailureOr<SizeExpr> {
            // Of conditions (i1): both is the minimum, either the maximum.
            if (!op->getResult(0).getType().isInteger(1))
              return op->emitOpError("takes a value computed on the host, which ")
                     << plan_ << " cannot follow (bitwise arithmetic on integers)";
            return binary(isa<arith::AndIOp>(op) ? PlanExpr::MinSI : PlanExpr::MaxSI);
          })
          .Default([&](Operation *) -> FailureOr<SizeExpr> {
            if (std::optional<PlanExpr::Op> op = planExprOpOf(def))
              return binary(*op);
            InFlightDiagnostic diag = user->emitOpError("takes a value computed on the host, "
                                                        "which ")
                                      << plan_ << " cannot follow";
            if (def)
              diag.attachNote(def->getLoc()) << "computed by " << def->getName();
            return diag;
          });
  if (succeeded(result))
    values_[v] = *result;
  return result;
}

} // namespace ube
