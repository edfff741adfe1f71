//===- UbeDialect.cpp - the ube dialect ----------------------------------===//

#include "dialects/ube/UbeDialect.h"
#include "dialects/ube/UbeOps.h"

using namespace mlir;
using namespace ube;

#include "dialects/ube/UbeOpsDialect.cpp.inc"
#include "dialects/ube/UbeInterfaces.cpp.inc"

void UbeDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/ube/UbeOps.cpp.inc"
      >();
  attachVjpRules(*getContext());
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
  if (name == ParallelTaskAttrHelper::getNameStr())
    return expect(isa<StringAttr>(value), "a string (the task's function)");
  if (name == NameAttrHelper::getNameStr())
    return op->emitOpError() << "attribute '" << name
                             << "' names function arguments and results, not operations";
  return op->emitOpError() << "has an unknown ube attribute '" << name << "'";
}

/// `ube.name` is the one ube attribute of arguments and results.
static LogicalResult verifyValueAttribute(Operation *op, StringRef what, unsigned index,
                                          NamedAttribute attribute) {
  StringRef name = attribute.getName().getValue();
  if (name != UbeDialect::NameAttrHelper::getNameStr())
    return op->emitOpError() << what << " " << index << " has an unknown ube attribute '"
                             << name << "'";
  if (!isa<StringAttr>(attribute.getValue()))
    return op->emitOpError() << what << " " << index << ": '" << name << "' must be a string";
  return success();
}

LogicalResult UbeDialect::verifyRegionArgAttribute(Operation *op, unsigned, unsigned argIndex,
                                                   NamedAttribute attribute) {
  return verifyValueAttribute(op, "argument", argIndex, attribute);
}

LogicalResult UbeDialect::verifyRegionResultAttribute(Operation *op, unsigned,
                                                      unsigned resultIndex,
                                                      NamedAttribute attribute) {
  return verifyValueAttribute(op, "result", resultIndex, attribute);
}
