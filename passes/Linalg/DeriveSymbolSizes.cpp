//===- DeriveSymbolSizes.cpp - derived symbols' sizes from the lowered code ===//
//
// A derived symbol (a result's size that the symbols fix without naming
// it) gets its expression here, where every size is index arithmetic on the
// arguments' dimensions; tensors' sizes that may be below 1 become
// derived symbols the call checks. See the pass description.
//
//===----------------------------------------------------------------------===//

#include "passes/Linalg/Passes.h"

#include "dialects/ube/UbeDialect.h"
#include "passes/Utils/SizeExprs.h"

#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "llvm/Support/Path.h"

#include <limits>
#include <map>
#include <set>

namespace ube {
#define GEN_PASS_DEF_UBEDERIVESYMBOLSIZES
#include "passes/Linalg/Passes.h.inc"
} // namespace ube

using namespace mlir;
using namespace ube;

namespace {

/// Follows sizes of `fn`'s tensors back to its arguments' symbols.
class SizeResolver {
public:
  SizeResolver(func::FuncOp fn, ArrayAttr symbols)
      : fn_(fn), symbols_(symbols),
        exprs_("the runtime's sizes of derived symbols",
               [this](ShapedDimOpInterface dim) -> FailureOr<SizeExpr> {
                 std::optional<int64_t> d = getConstantIntValue(dim.getDimension());
                 if (!d)
                   return dim->emitOpError("reads a dimension that is not a constant");
                 return dimOf(dim.getShapedValue(), *d, dim);
               }) {}

  /// Dimension `d` of `tensor`, used by `user`.
  FailureOr<SizeExpr> dimOf(Value tensor, int64_t d, Operation *user) {
    auto type = cast<RankedTensorType>(tensor.getType());
    if (!type.isDynamicDim(d))
      return SizeExpr{type.getDimSize(d)};
    auto key = std::make_pair(tensor, d);
    if (auto it = dims_.find(key); it != dims_.end())
      return it->second;
    FailureOr<SizeExpr> size = follow(tensor, d, user);
    if (succeeded(size))
      dims_[key] = *size;
    return size;
  }

  FailureOr<SizeExpr> valueOf(OpFoldResult v, Operation *user) {
    return exprs_.valueOf(v, user);
  }
  const std::vector<PlanExpr> &exprs() const { return exprs_.exprs(); }

private:
  FailureOr<SizeExpr> follow(Value tensor, int64_t d, Operation *user) {
    auto type = cast<RankedTensorType>(tensor.getType());
    if (auto arg = dyn_cast<BlockArgument>(tensor)) {
      auto dims = fn_.getArgAttrOfType<ArrayAttr>(arg.getArgNumber(),
                                                  UbeDialect::DimsAttrHelper::getNameStr());
      if (arg.getOwner() == &fn_.getBody().front() && dims) {
        auto name = cast<StringAttr>(dims[type.getDynamicDimIndex(d)]);
        for (auto [k, symbol] : llvm::enumerate(symbols_.getAsRange<DimSymbolAttr>())) {
          if (symbol.getName() != name.getValue())
            continue;
          if (!symbol.isDerived())
            return exprs_.symbol(unsigned(k));
          // An input naming a derived symbol has its size (the call checks it).
          if (!symbol.getSize().empty())
            return expressionOf(symbol, user);
        }
      }
      return user->emitOpError("reads a size of a block argument that names no symbol");
    }
    auto result = cast<OpResult>(tensor);
    Operation *op = result.getOwner();
    unsigned n = result.getResultNumber();
    // Results the size of an operand: a loop's of its init, a destination
    // style op's of its destination, an scf.if's of what it yields.
    if (auto loop = dyn_cast<scf::ForOp>(op))
      return dimOf(loop.getInitArgs()[n], d, op);
    if (auto loop = dyn_cast<scf::ForallOp>(op))
      return dimOf(loop.getOutputs()[n], d, op);
    // A choice between computations of one result (a kernel's run-time
    // variants): both branches yield it at the same size.
    if (auto choice = dyn_cast<scf::IfOp>(op))
      return dimOf(choice.thenYield().getOperand(n), d, op);
    if (auto dps = dyn_cast<DestinationStyleOpInterface>(op))
      return dimOf(dps.getDpsInitOperand(n)->get(), d, op);
    if (auto empty = dyn_cast<tensor::EmptyOp>(op))
      return valueOf(empty.getMixedSizes()[d], op);
    if (auto reify = dyn_cast<ReifyRankedShapedTypeOpInterface>(op)) {
      // The op spells its sizes in new ops before it (the pipeline's
      // canonicalization removes them).
      OpBuilder b(op);
      ReifiedRankedShapedTypeDims shapes;
      if (succeeded(reifyResultShapes(b, op, shapes)))
        return valueOf(shapes[n][d], op);
    }
    return op->emitOpError("gives a symbolic size that the runtime's derived sizes cannot "
                           "follow");
  }

  /// A derived symbol's size list as nodes of the expressions here.
  FailureOr<SizeExpr> expressionOf(DimSymbolAttr symbol, Operation *user) {
    FailureOr<std::vector<PlanExpr>> list = sizeExprsFromAttr(symbol.getSize());
    if (failed(list))
      return user->emitOpError("reads the malformed size of symbol '")
             << symbol.getName() << "'";
    SmallVector<SizeExpr> nodes;
    for (const PlanExpr &e : *list) {
      if (e.op == PlanExpr::Constant || e.op == PlanExpr::Symbol) {
        nodes.push_back(e.op == PlanExpr::Constant ? SizeExpr{e.value}
                                                   : exprs_.symbol(unsigned(e.value)));
        continue;
      }
      FailureOr<SizeExpr> node = exprs_.apply(e.op, nodes[e.lhs], nodes[e.rhs], user);
      if (failed(node))
        return failure();
      nodes.push_back(*node);
    }
    return nodes.back();
  }

  func::FuncOp fn_;
  ArrayAttr symbols_;
  SizeExprBuilder exprs_;
  llvm::DenseMap<std::pair<Value, int64_t>, SizeExpr> dims_;
};

/// The nodes of `all` that `root` reaches, renumbered; `root` is the last.
std::vector<PlanExpr> subtree(const std::vector<PlanExpr> &all, SizeExpr root) {
  if (root.isConstant())
    return {{PlanExpr::Constant, root.constant}};
  std::set<uint32_t> reached;
  SmallVector<uint32_t> stack = {uint32_t(root.expr)};
  while (!stack.empty()) {
    uint32_t i = stack.pop_back_val();
    if (!reached.insert(i).second)
      continue;
    const PlanExpr &e = all[i];
    if (e.op != PlanExpr::Constant && e.op != PlanExpr::Symbol)
      stack.append({e.lhs, e.rhs});
  }
  // Operands come before their users: ascending order keeps that.
  std::map<uint32_t, uint32_t> renumbered;
  std::vector<PlanExpr> list;
  for (uint32_t i : reached) {
    PlanExpr e = all[i];
    if (e.op != PlanExpr::Constant && e.op != PlanExpr::Symbol) {
      e.lhs = renumbered[e.lhs];
      e.rhs = renumbered[e.rhs];
    }
    renumbered[i] = uint32_t(list.size());
    list.push_back(e);
  }
  return list;
}

/// A lower bound of every node of `all` over every size of the symbols
/// (each at least 1), as far as the operations tell; INT64_MIN where they
/// do not. Operands come before their users: one pass in order.
std::vector<int64_t> lowerBounds(const std::vector<PlanExpr> &all) {
  constexpr int64_t kUnknown = std::numeric_limits<int64_t>::min();
  std::vector<int64_t> bound(all.size(), kUnknown);
  for (size_t i = 0; i < all.size(); ++i) {
    const PlanExpr &e = all[i];
    if (e.op == PlanExpr::Constant || e.op == PlanExpr::Symbol) {
      bound[i] = e.op == PlanExpr::Constant ? e.value : 1;
      continue;
    }
    int64_t a = bound[e.lhs], b = bound[e.rhs];
    bool constantDivisor = all[e.rhs].op == PlanExpr::Constant && all[e.rhs].value > 0;
    switch (e.op) {
    case PlanExpr::AddI:
      if (a != kUnknown && b != kUnknown)
        bound[i] = evaluatePlanOp(e.op, a, b).value_or(kUnknown);
      break;
    case PlanExpr::MulI:
      if (a >= 0 && b >= 0)
        bound[i] = evaluatePlanOp(e.op, a, b).value_or(kUnknown);
      break;
    case PlanExpr::MaxSI:
      bound[i] = std::max(a, b);
      break;
    case PlanExpr::MinSI:
      bound[i] = std::min(a, b);
      break;
    case PlanExpr::FloorDivSI:
    case PlanExpr::DivSI:
    case PlanExpr::CeilDivSI:
      if (constantDivisor && a != kUnknown)
        bound[i] = evaluatePlanOp(e.op, a, all[e.rhs].value).value_or(kUnknown);
      break;
    default:
      break;
    }
  }
  return bound;
}

/// "node 'c' (g.json:5:12)" from an op's location in a graph file.
std::string describe(Location loc) {
  std::string name, place;
  loc->walk([&](Location l) {
    if (auto named = dyn_cast<NameLoc>(l); named && name.empty())
      name = named.getName().str();
    if (auto file = dyn_cast<FileLineColLoc>(l); file && place.empty())
      place = (llvm::sys::path::filename(file.getFilename().getValue()) + ":" +
               Twine(file.getLine()) + ":" + Twine(file.getColumn()))
                  .str();
    return WalkResult::advance();
  });
  std::string out = name.empty() ? "a temporary" : "node '" + name + "'";
  return place.empty() ? out : out + " (" + place + ")";
}

struct UbeDeriveSymbolSizesPass
    : ube::impl::UbeDeriveSymbolSizesBase<UbeDeriveSymbolSizesPass> {
  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    StringRef symbolsName = UbeDialect::SymbolsAttrHelper::getNameStr();
    auto symbols = fn->getAttrOfType<ArrayAttr>(symbolsName);
    if (!symbols || fn.isExternal())
      return;
    // Run before: every derived symbol has its size (the pass is idempotent).
    auto derived = llvm::make_filter_range(symbols.getAsRange<DimSymbolAttr>(),
                                           [](DimSymbolAttr s) { return s.isDerived(); });
    if (!derived.empty() &&
        llvm::all_of(derived, [](DimSymbolAttr s) { return !s.getSize().empty(); }))
      return;
    SizeResolver sizes(fn, symbols);
    SmallVector<Attribute> updated(symbols.getValue());
    auto indexOf = [&](StringRef name) {
      for (auto [k, symbol] : llvm::enumerate(updated))
        if (cast<DimSymbolAttr>(symbol).getName() == name)
          return int64_t(k);
      return int64_t(-1);
    };

    // Each derived result size, from the value returned (checked as the
    // temporaries' below).
    std::set<ExprRef> checked;
    auto ret = cast<func::ReturnOp>(fn.getBody().front().getTerminator());
    for (auto [i, value] : llvm::enumerate(ret.getOperands())) {
      auto dims = fn.getResultAttrOfType<ArrayAttr>(i, UbeDialect::DimsAttrHelper::getNameStr());
      auto type = dyn_cast<RankedTensorType>(value.getType());
      if (!dims || !type)
        continue;
      for (int64_t d = 0, next = 0; d < type.getRank(); ++d) {
        if (!type.isDynamicDim(d))
          continue;
        int64_t k = indexOf(cast<StringAttr>(dims[next++]).getValue());
        auto symbol = k < 0 ? DimSymbolAttr() : cast<DimSymbolAttr>(updated[k]);
        if (!symbol || !symbol.isDerived() || !symbol.getSize().empty())
          continue;
        FailureOr<SizeExpr> size = sizes.dimOf(value, d, ret);
        if (failed(size)) {
          fn.emitOpError("cannot compute the size '")
              << symbol.getName() << "' of result " << i << " from the symbols";
          return signalPassFailure();
        }
        updated[k] = withSize(symbol, subtree(sizes.exprs(), *size));
        if (!size->isConstant())
          checked.insert(size->expr);
      }
    }

    // Sizes of the function's tensors that may be below 1: checked at
    // each call. One that cannot be followed stays unchecked (no window
    // made it).
    std::map<ExprRef, Location> checks;
    {
      ScopedDiagnosticHandler quiet(&getContext(), [](Diagnostic &) { return success(); });
      // (The function's own ops: tensors inside loops are tiles of these.)
      for (Operation &each : fn.getBody().front()) {
        Operation *op = &each;
        for (Value result : op->getResults()) {
          auto type = dyn_cast<RankedTensorType>(result.getType());
          for (int64_t d = 0; type && d < type.getRank(); ++d) {
            if (!type.isDynamicDim(d))
              continue;
            FailureOr<SizeExpr> size = sizes.dimOf(result, d, op);
            if (succeeded(size) && !size->isConstant() && !checked.count(size->expr))
              checks.try_emplace(size->expr, op->getLoc());
          }
        }
      }
    }
    // Those that may be below 1.
    std::vector<int64_t> bounds = lowerBounds(sizes.exprs());
    for (auto &[node, loc] : checks) {
      if (bounds[node] >= 1)
        continue;
      std::string name = describe(loc);
      for (int suffix = 2; indexOf(name) >= 0; ++suffix)
        name = describe(loc) + " #" + std::to_string(suffix);
      updated.push_back(withSize(
          DimSymbolAttr::get(&getContext(), name, 1, 0, 1, ArrayAttr()),
          subtree(sizes.exprs(), SizeExpr{0, node})));
    }
    fn->setAttr(symbolsName, ArrayAttr::get(&getContext(), updated));
  }

  /// `symbol` with its size, which every call must give at least 1 (zero
  /// sizes neither cross the calling convention nor reach the kernels).
  static DimSymbolAttr withSize(DimSymbolAttr symbol, ArrayRef<PlanExpr> size) {
    return DimSymbolAttr::get(symbol.getContext(), symbol.getName(), 1, 0, 1,
                              sizeExprsToAttr(symbol.getContext(), size));
  }
};

} // namespace
