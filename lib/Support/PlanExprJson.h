//===- PlanExprJson.h - expression lists in the manifest's JSON -*- C++ -*-===//
//
// Private to lib/Support: the launch plan and the manifest read and write
// expression lists (PlanExpr.h) in one form, a list of nodes each
// ["op", operands...]: ["const", v], ["symbol", k], ["muli", a, b] with a
// and b earlier nodes.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_LIB_SUPPORT_PLANEXPRJSON_H
#define UBE_LIB_SUPPORT_PLANEXPRJSON_H

#include "ube/Support/PlanExpr.h"

#include <nlohmann/json.hpp>

namespace ube {

nlohmann::ordered_json planExprsToJson(const std::vector<PlanExpr> &exprs);

/// Reads a list written by planExprsToJson: every operand an earlier node,
/// every symbol index below `symbolCount`. False with `error` otherwise.
bool planExprsFromJson(const nlohmann::ordered_json &list, size_t symbolCount,
                       std::vector<PlanExpr> &exprs, std::string &error);

} // namespace ube

#endif // UBE_LIB_SUPPORT_PLANEXPRJSON_H
