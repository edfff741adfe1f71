//===- LaunchPlanBuilder.h - a cuda entry point's host side as a plan -*- C++ -*-===//
//
// After ube-cuda-codegen-pipeline, what is left of an entry point outside
// its kernels is allocations, views, copies, launches and the index
// arithmetic that sizes them. The cuda target has no host code: this turns
// that into the entry's LaunchPlan (include/ube/Support/LaunchPlan.h).
// Sizes that depend on symbolic dimensions become the plan's expressions
// of the symbols, which the runtime evaluates once per invocation.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_LIB_TARGET_CUDA_LAUNCHPLANBUILDER_H
#define UBE_LIB_TARGET_CUDA_LAUNCHPLANBUILDER_H

#include "ube/Support/LaunchPlan.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

#include <vector>

namespace ube {

/// `fn`'s launch plan; its constants are appended to `constants` (the
/// executable's constants section), each 256-byte aligned. Fails with a
/// diagnostic at the first host operation the plan cannot express.
mlir::FailureOr<LaunchPlan> buildLaunchPlan(mlir::func::FuncOp fn,
                                            std::vector<uint8_t> &constants);

} // namespace ube

#endif // UBE_LIB_TARGET_CUDA_LAUNCHPLANBUILDER_H
