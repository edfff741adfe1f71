//===- PlanExpr.h - sizes computed from an entry point's symbols -*- C++ -*-===//
//
// An entry point with symbolic dimensions has sizes that only its call
// fixes: a cuda launch plan's grids and temporaries (LaunchPlan.h), a cpu
// entry point's scratch arena (ExecutableFormat.h). The manifest carries them
// as a list of expression nodes over the symbols, which the compiler writes
// and the runtime evaluates once per invocation with the same definitions.
// LLVM-free: the runtime links this.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_SUPPORT_PLANEXPR_H
#define UBE_SUPPORT_PLANEXPR_H

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ube {

/// A size computed at invocation from the entry point's symbols: a node of
/// an expression list, whose operands are earlier nodes. Integer
/// operations are the arith dialect's on i64 (signed unless named `U`);
/// evaluation fails on overflow and division by zero.
struct PlanExpr {
  enum Op {
    Constant, ///< `value`
    Symbol,   ///< the size of the entry's symbol number `value`
    AddI, SubI, MulI, DivSI, DivUI, FloorDivSI, CeilDivSI, CeilDivUI, RemSI, RemUI,
    MaxSI, MinSI, MaxUI, MinUI,
  } op = Constant;
  int64_t value = 0;
  uint32_t lhs = 0, rhs = 0; ///< Binary operations: operand nodes.
};

/// A field that an expression may give: the node's index (-1: static).
using ExprRef = int32_t;
inline constexpr ExprRef kStatic = -1;

/// The operation's name in the manifest (the arith op's: "addi", ...;
/// "const" and "symbol" for the leaves), and back.
const char *planExprName(PlanExpr::Op op);
std::optional<PlanExpr::Op> planExprOp(std::string_view name);

/// `a op b` for the binary operations (what the compiler folds and the
/// runtime evaluates alike); nullopt on overflow or division by zero.
std::optional<int64_t> evaluatePlanOp(PlanExpr::Op op, int64_t a, int64_t b);

/// Every node's value with the symbols' sizes (in the entry point's
/// `symbols` order). False with `error` on a symbol out of range, an
/// overflow or a division by zero.
bool evaluatePlanExprs(const std::vector<PlanExpr> &exprs, const std::vector<int64_t> &symbols,
                       std::vector<int64_t> &values, std::string &error);

/// The last node of `exprs` as people read it, the symbols by their names
/// (`symbols`, in order): "(len - 3) // 2 + 1".
std::string planExprString(const std::vector<PlanExpr> &exprs,
                           const std::vector<std::string> &symbols);

/// Parses a size as planExprString writes it ("(len - 3) // 2 + 1"):
/// integers, names, `+ - * // %`, unary minus, parentheses and `min(a, b)`,
/// `max(a, b)`, `ceildiv(a, b)`. Each name is the symbol `symbolIndex`
/// gives (nullopt: not a symbol it may name). Appends the nodes to `exprs`,
/// the last the whole size; false with `error` saying what is wrong where.
bool parsePlanExprString(std::string_view text,
                         const std::function<std::optional<int64_t>(std::string_view)> &symbolIndex,
                         std::vector<PlanExpr> &exprs, std::string &error);

/// Appends `other`'s nodes to `exprs` (operands renumbered); returns the
/// index of `other`'s last node among them.
uint32_t appendPlanExprs(std::vector<PlanExpr> &exprs, const std::vector<PlanExpr> &other);

} // namespace ube

#endif // UBE_SUPPORT_PLANEXPR_H
