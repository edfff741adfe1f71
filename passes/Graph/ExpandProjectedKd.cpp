//===- ExpandProjectedKd.cpp - projected KD losses a chunk of rows at a time -===//
//
// projected_kd_loss(h_s, W_s, h_t, W_t) = kd_loss(h_s·W_sᵀ, h_t·W_tᵀ): the
// logits are [rows, V], which for a language model's vocabulary is the
// largest tensor of a training step. As in Liger-Kernel, the rows are taken
// in chunks: per chunk the two projections, the chunk's kd_loss (a mean
// over its counted rows, so it is weighted by that count and the sum
// divided by all counted rows) and, for the gradient, kd_loss_grad (with
// the upstream gradient scaled the same way), the chunk's rows of d h_s =
// G·W_s and its share of d W_s = Gᵀ·h_s. The chunks are unrolled (static
// slices).
//
//===----------------------------------------------------------------------===//

#include "passes/Graph/Passes.h"

#include "dialects/ube/UbeBuilder.h"
#include "passes/Utils/KernelBuilding.h"

namespace ube {
#define GEN_PASS_DEF_UBEEXPANDPROJECTEDKD
#include "passes/Graph/Passes.h.inc"
} // namespace ube

using namespace mlir;
using namespace ube;

namespace {

constexpr int64_t kMaxChunks = 16, kChunkLogits = int64_t(1) << 22;

/// The operands and attributes a projected_kd_loss and its gradient share.
struct ProjectedKd {
  Value studentHidden, studentWeight, teacherHidden, teacherWeight, labels;
  FloatAttr temperature, alpha;
  BoolAttr scaleByTemperatureSquared;
  IntegerAttr ignoreIndex;

  template <typename Op>
  static ProjectedKd of(Op op) {
    return {op.getStudentHidden(), op.getStudentWeight(), op.getTeacherHidden(),
            op.getTeacherWeight(), op.getLabels(), op.getTemperatureAttr(), op.getAlphaAttr(),
            op.getScaleByTemperatureSquaredAttr(), op.getIgnoreIndexAttr()};
  }
  bool operator==(const ProjectedKd &o) const {
    return studentHidden == o.studentHidden && studentWeight == o.studentWeight &&
           teacherHidden == o.teacherHidden && teacherWeight == o.teacherWeight &&
           labels == o.labels && temperature == o.temperature && alpha == o.alpha &&
           scaleByTemperatureSquared == o.scaleByTemperatureSquared &&
           ignoreIndex == o.ignoreIndex;
  }
};

struct Expansion {
  Value loss, dHidden, dWeight;
};

/// Builds the chunked loss (when `wantLoss`) and gradient (when `grad`).
Expansion expand(UbeBuilder &u, const ProjectedKd &kd, bool wantLoss, Value grad) {
  auto hiddenType = UbeBuilder::typeOf(kd.studentHidden);
  Type floatType = hiddenType.getElementType();
  int64_t vocab = UbeBuilder::typeOf(kd.studentWeight).getDimSize(0);
  Value studentRows = u.rows(kd.studentHidden), teacherRows = u.rows(kd.teacherHidden);
  // A symbolic row count is one chunk of all rows.
  int64_t rows = UbeBuilder::typeOf(studentRows).getDimSize(0);
  Value labels =
      kd.labels ? u.reshape(kd.labels, {rows}, u.sizesFrom(studentRows, {rows})) : Value();
  SmallVector<std::pair<int64_t, int64_t>> chunks = {{0, rows}};
  if (!ShapedType::isDynamic(rows)) {
    int64_t count = std::clamp<int64_t>(llvm::divideCeil(rows * vocab, kChunkLogits), 1,
                                        std::min(kMaxChunks, rows));
    int64_t chunkRows = llvm::divideCeil(rows, count);
    chunks.clear();
    for (int64_t begin = 0; begin < rows; begin += chunkRows)
      chunks.push_back({begin, std::min(rows, begin + chunkRows)});
  }

  // The counted rows of a chunk (at least 1: a chunk without any has loss
  // and gradient 0, which any weight keeps 0).
  auto counted = [&](Value chunkLabels, int64_t size) -> Value {
    if (!chunkLabels)
      return ShapedType::isDynamic(size) ? u.countOf(studentRows, {0})
                                         : u.scalar(floatType, double(size));
    Value ignore = u.scalar(UbeBuilder::elementTypeOf(chunkLabels), kd.ignoreIndex.getInt());
    Value count = u.reduceSum(u.castTo(u.compare("ne", chunkLabels, ignore), floatType));
    return u.maximum(count, u.scalar(floatType, 1.0));
  };
  Value total = counted(labels, rows);
  Value lossSum, dWeight;
  SmallVector<Value> dHidden;
  for (auto [begin, end] : chunks) {
    Value student = u.slice(studentRows, 0, begin, end);
    Value studentLogits = u.matmul(student, kd.studentWeight, /*transposeRhs=*/true);
    Value teacherLogits =
        u.matmul(u.slice(teacherRows, 0, begin, end), kd.teacherWeight, /*transposeRhs=*/true);
    Value chunkLabels = labels ? u.slice(labels, 0, begin, end) : Value();
    Value count = counted(chunkLabels, ShapedType::isDynamic(rows) ? rows : end - begin);
    if (wantLoss) {
      Value loss = KdLossOp::create(u.b, studentLogits, teacherLogits, chunkLabels,
                                    kd.temperature, kd.scaleByTemperatureSquared, kd.alpha,
                                    kd.ignoreIndex);
      Value weighted = u.mul(loss, count);
      lossSum = lossSum ? u.add(lossSum, weighted) : weighted;
    }
    if (grad) {
      Value chunkGrad = u.div(u.mul(grad, count), total);
      Value dLogits = KdLossGradOp::create(u.b, studentLogits, teacherLogits, chunkGrad,
                                           chunkLabels, kd.temperature,
                                           kd.scaleByTemperatureSquared, kd.alpha,
                                           kd.ignoreIndex);
      dHidden.push_back(u.matmul(dLogits, kd.studentWeight));
      Value share = u.matmul(dLogits, student, /*transposeRhs=*/false, /*transposeLhs=*/true);
      dWeight = dWeight ? u.add(dWeight, share) : share;
    }
  }
  Expansion result;
  if (wantLoss)
    result.loss = u.div(lossSum, total);
  if (grad) {
    result.dHidden = u.reshapeLike(u.concat(dHidden, 0), kd.studentHidden);
    result.dWeight = dWeight;
  }
  return result;
}

/// The projected_kd_loss `grad` can be expanded together with, or null.
ProjectedKdLossOp partnerLoss(ProjectedKdLossGradOp grad) {
  ProjectedKd operands = ProjectedKd::of(grad);
  return findLossOfGradient<ProjectedKdLossOp>(
      grad, grad.getStudentHidden(), grad.getGrad(),
      [&](ProjectedKdLossOp loss) { return ProjectedKd::of(loss) == operands; });
}

struct UbeExpandProjectedKdPass
    : ube::impl::UbeExpandProjectedKdBase<UbeExpandProjectedKdPass> {
  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    // Every row and word is a chunk's: empty operands have no chunks.
    WalkResult empty = getOperation().walk([](Operation *op) {
      if (!isa<ProjectedKdLossOp, ProjectedKdLossGradOp>(op))
        return WalkResult::advance();
      for (Value operand : op->getOperands().take_front(4))
        if (llvm::is_contained(UbeBuilder::typeOf(operand).getShape(), 0)) {
          op->emitOpError("cannot take an empty tensor in chunks of rows");
          return WalkResult::interrupt();
        }
      return WalkResult::advance();
    });
    if (empty.wasInterrupted())
      return signalPassFailure();
    SmallVector<ProjectedKdLossGradOp> grads;
    getOperation().walk([&](ProjectedKdLossGradOp op) { grads.push_back(op); });
    for (ProjectedKdLossGradOp grad : grads) {
      ProjectedKdLossOp loss = partnerLoss(grad);
      rewriter.setInsertionPoint(loss ? loss.getOperation() : grad.getOperation());
      UbeBuilder u(rewriter, grad.getLoc());
      Expansion e = expand(u, ProjectedKd::of(grad), bool(loss), grad.getGrad());
      rewriter.replaceOp(grad, {e.dHidden, e.dWeight});
      if (loss)
        rewriter.replaceOp(loss, e.loss);
    }
    SmallVector<ProjectedKdLossOp> losses;
    getOperation().walk([&](ProjectedKdLossOp op) { losses.push_back(op); });
    for (ProjectedKdLossOp loss : losses) {
      rewriter.setInsertionPoint(loss);
      UbeBuilder u(rewriter, loss.getLoc());
      rewriter.replaceOp(loss, expand(u, ProjectedKd::of(loss), true, Value()).loss);
    }
  }
};

} // namespace
