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
