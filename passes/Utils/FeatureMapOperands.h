//===- FeatureMapOperands.h - a feature map and its gradient ---*- C++ -*-===//
//
// What --ube-cpu-feature-map-kernels and --ube-expand-feature-map share: the
// operands and attributes of a feature_map_loss or its gradient, and the
// loss a gradient is built together with (a training step).
//
//===----------------------------------------------------------------------===//

#ifndef UBE_PASSES_UTILS_FEATUREMAPOPERANDS_H
#define UBE_PASSES_UTILS_FEATUREMAPOPERANDS_H

#include "dialects/ube/UbeOps.h"
#include "passes/Utils/KernelBuilding.h"

namespace ube {

/// The operands and attributes a feature_map_loss and its gradient share.
struct FeatureMapOperands {
  mlir::Value student, teacher, projection;
  mlir::FloatAttr alpha, beta, gamma, epsilon;

  template <typename Op>
  static FeatureMapOperands of(Op op) {
    return {op.getStudent(),  op.getTeacher(),  op.getProjection(), op.getAlphaAttr(),
            op.getBetaAttr(), op.getGammaAttr(), op.getEpsilonAttr()};
  }
  bool operator==(const FeatureMapOperands &o) const {
    return student == o.student && teacher == o.teacher && projection == o.projection &&
           alpha == o.alpha && beta == o.beta && gamma == o.gamma && epsilon == o.epsilon;
  }
};

/// The feature_map_loss of the same operands that `grad` can be built
/// together with, or null.
inline FeatureMapLossOp featureMapLossOf(FeatureMapLossGradOp grad) {
  FeatureMapOperands operands = FeatureMapOperands::of(grad);
  return findLossOfGradient<FeatureMapLossOp>(
      grad, grad.getStudent(), grad.getGrad(),
      [&](FeatureMapLossOp loss) { return FeatureMapOperands::of(loss) == operands; });
}

} // namespace ube

#endif // UBE_PASSES_UTILS_FEATUREMAPOPERANDS_H
