//===- UbeDialect.cpp - the ube dialect ----------------------------------===//

#include "dialects/ube/UbeDialect.h"
#include "dialects/ube/UbeOps.h"

#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/StringSet.h"

using namespace mlir;
using namespace ube;

#include "dialects/ube/UbeOpsDialect.cpp.inc"
#include "dialects/ube/UbeInterfaces.cpp.inc"

#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

#define GET_ATTRDEF_CLASSES
#include "dialects/ube/UbeAttrs.cpp.inc"

void UbeDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/ube/UbeOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialects/ube/UbeAttrs.cpp.inc"
      >();
  attachVjpRules(*getContext());
}

LogicalResult DimSymbolAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                    StringRef name, int64_t min, int64_t max,
                                    int64_t multipleOf, ArrayAttr size) {
  if (size && !size.empty() && failed(sizeExprsFromAttr(size)))
    return emitError() << "symbol '" << name << "': malformed size expression list";
  if (name.empty())
    return emitError() << "a symbolic dimension needs a name";
  if (min < 0 || max < 0 || multipleOf < 1 || (max && max < min))
    return emitError() << "symbol '" << name << "': bounds must satisfy 0 <= min <= max "
                       << "(max 0: none) and multiple_of >= 1, got min " << min << ", max "
                       << max << ", multiple_of " << multipleOf;
  return success();
}

Operation *UbeDialect::materializeConstant(OpBuilder &builder, Attribute value,
                                           Type type, Location loc) {
  auto elements = dyn_cast<ElementsAttr>(value);
  if (!elements || elements.getType() != type)
    return nullptr;
  return ConstantOp::create(builder, loc, type, elements);
}

//===----------------------------------------------------------------------===//
// Discardable attributes (declared in UbeBase.td)
//===----------------------------------------------------------------------===//

LogicalResult UbeDialect::verifyOperationAttribute(Operation *op, NamedAttribute attribute) {
  StringRef name = attribute.getName().getValue();
  Attribute value = attribute.getValue();
  auto expect = [&](bool ok, StringRef what) -> LogicalResult {
    if (ok)
      return success();
    return op->emitOpError() << "attribute '" << name << "' must be " << what;
  };
  if (name == GradientAttrHelper::getNameStr() || name == TrainAttrHelper::getNameStr())
    return expect(isa<DictionaryAttr>(value), "a dictionary");
  if (name == InPlaceAttrHelper::getNameStr()) {
    auto pairs = dyn_cast<DenseI64ArrayAttr>(value);
    return expect(pairs && pairs.size() % 2 == 0,
                  "(output, input) index pairs: an array<i64> of even length");
  }
  if (name == ArenaBytesAttrHelper::getNameStr()) {
    auto bytes = dyn_cast<IntegerAttr>(value);
    return expect(bytes && !bytes.getValue().isNegative(), "a non-negative integer");
  }
  if (name == ArenaExprsAttrHelper::getNameStr()) {
    auto exprs = dyn_cast<ArrayAttr>(value);
    return expect(exprs && !exprs.empty() && succeeded(sizeExprsFromAttr(exprs)),
                  "a list of expression nodes ([\"symbol\", 0], [\"muli\", 0, 1], ...)");
  }
  if (name == ParallelTaskAttrHelper::getNameStr())
    return expect(isa<StringAttr>(value), "a string (the task's function)");
  if (name == SymbolsAttrHelper::getNameStr()) {
    auto symbols = dyn_cast<ArrayAttr>(value);
    if (!symbols || !llvm::all_of(symbols, llvm::IsaPred<DimSymbolAttr>))
      return expect(false, "an array of #ube.dim symbols");
    llvm::StringSet<> seen;
    for (auto symbol : symbols.getAsRange<DimSymbolAttr>())
      if (!seen.insert(symbol.getName()).second)
        return op->emitOpError() << "declares symbol '" << symbol.getName() << "' twice";
    return success();
  }
  if (name == NameAttrHelper::getNameStr() || name == DimsAttrHelper::getNameStr())
    return op->emitOpError() << "attribute '" << name
                             << "' describes function arguments and results, not operations";
  return op->emitOpError() << "has an unknown ube attribute '" << name << "'";
}

/// Arguments and results carry `ube.name` and, with dynamic dimensions,
/// `ube.dims`: one symbol of the function's `ube.symbols` per `?`.
static LogicalResult verifyValueAttribute(Operation *op, StringRef what, unsigned index,
                                          Type type, NamedAttribute attribute) {
  StringRef name = attribute.getName().getValue();
  if (name == UbeDialect::NameAttrHelper::getNameStr()) {
    if (!isa<StringAttr>(attribute.getValue()))
      return op->emitOpError() << what << " " << index << ": '" << name
                               << "' must be a string";
    return success();
  }
  if (name != UbeDialect::DimsAttrHelper::getNameStr())
    return op->emitOpError() << what << " " << index << " has an unknown ube attribute '"
                             << name << "'";
  auto dims = dyn_cast<ArrayAttr>(attribute.getValue());
  if (!dims || !llvm::all_of(dims, llvm::IsaPred<StringAttr>))
    return op->emitOpError() << what << " " << index << ": '" << name
                             << "' must be an array of symbol names";
  // Once lowered to pointers the type no longer shows the dimensions.
  auto shaped = dyn_cast<ShapedType>(type);
  if (shaped && shaped.hasRank() &&
      static_cast<size_t>(shaped.getNumDynamicDims()) != dims.size())
    return op->emitOpError() << what << " " << index << ": '" << name << "' names "
                             << dims.size() << " dimensions but its type " << type << " has "
                             << shaped.getNumDynamicDims() << " dynamic ones";
  auto symbols = op->getAttrOfType<ArrayAttr>(UbeDialect::SymbolsAttrHelper::getNameStr());
  for (auto dim : dims.getAsRange<StringAttr>())
    if (!symbols || llvm::none_of(symbols.getAsRange<DimSymbolAttr>(),
                                  [&](DimSymbolAttr s) { return s.getName() == dim; }))
      return op->emitOpError() << what << " " << index << ": symbol '" << dim.getValue()
                               << "' is not among the function's 'ube.symbols'";
  return success();
}

/// The type of a function-like op's argument or result, if it has one.
static Type valueType(Operation *op, unsigned index, bool result) {
  auto fn = dyn_cast<FunctionOpInterface>(op);
  if (!fn)
    return {};
  ArrayRef<Type> types = result ? fn.getResultTypes() : fn.getArgumentTypes();
  return index < types.size() ? types[index] : Type();
}

LogicalResult UbeDialect::verifyRegionArgAttribute(Operation *op, unsigned, unsigned argIndex,
                                                   NamedAttribute attribute) {
  return verifyValueAttribute(op, "argument", argIndex, valueType(op, argIndex, false),
                              attribute);
}

LogicalResult UbeDialect::verifyRegionResultAttribute(Operation *op, unsigned,
                                                      unsigned resultIndex,
                                                      NamedAttribute attribute) {
  return verifyValueAttribute(op, "result", resultIndex, valueType(op, resultIndex, true),
                              attribute);
}

namespace ube {

ArrayAttr sizeExprsToAttr(MLIRContext *context, ArrayRef<PlanExpr> exprs) {
  mlir::Builder b(context);
  SmallVector<Attribute> nodes;
  for (const PlanExpr &e : exprs) {
    SmallVector<Attribute> node{b.getStringAttr(planExprName(e.op))};
    if (e.op == PlanExpr::Constant || e.op == PlanExpr::Symbol) {
      node.push_back(b.getI64IntegerAttr(e.value));
    } else {
      node.push_back(b.getI64IntegerAttr(e.lhs));
      node.push_back(b.getI64IntegerAttr(e.rhs));
    }
    nodes.push_back(b.getArrayAttr(node));
  }
  return b.getArrayAttr(nodes);
}

FailureOr<std::vector<PlanExpr>> sizeExprsFromAttr(ArrayAttr attr) {
  std::vector<PlanExpr> exprs;
  for (Attribute a : attr) {
    auto node = dyn_cast<ArrayAttr>(a);
    if (!node || node.empty() || node.size() > 3)
      return failure();
    auto name = dyn_cast<StringAttr>(node[0]);
    std::optional<PlanExpr::Op> op = name ? planExprOp(name.getValue().str()) : std::nullopt;
    if (!op)
      return failure();
    SmallVector<int64_t> operands;
    for (Attribute operand : node.getValue().drop_front()) {
      auto integer = dyn_cast<IntegerAttr>(operand);
      if (!integer)
        return failure();
      operands.push_back(integer.getInt());
    }
    PlanExpr expr;
    expr.op = *op;
    bool leaf = *op == PlanExpr::Constant || *op == PlanExpr::Symbol;
    if (operands.size() != (leaf ? 1u : 2u))
      return failure();
    if (leaf) {
      expr.value = operands[0];
    } else {
      for (int64_t operand : operands)
        if (operand < 0 || operand >= int64_t(exprs.size()))
          return failure();
      expr.lhs = uint32_t(operands[0]);
      expr.rhs = uint32_t(operands[1]);
    }
    exprs.push_back(expr);
  }
  return exprs;
}

} // namespace ube
