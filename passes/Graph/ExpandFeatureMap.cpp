//===- ExpandFeatureMap.cpp - projected feature-map losses by chunks of tokens ===//
//
// feature_map_loss(h_s, h_t, W) compares LN(h_s·W) with LN(h_t): the
// projected student features (and, in the composition, both normalizations
// and their difference) are [tokens, Dt] tensors, each as large as the
// teacher's hidden states. Every term of the loss is a mean over tokens
// (the MSE over tokens × Dt elements, the mean and variance terms over
// tokens), so the loss is the token-weighted mean of the losses of chunks
// of tokens. Per chunk: the projection of the chunk's tokens, the chunk's
// feature_map_loss and, for the gradient, feature_map_loss_grad with the
// upstream gradient scaled by the chunk's share of the tokens, giving the
// chunk's rows of d h_s and its share of d W (summed over the chunks). Only
// one chunk's projected features exist at a time. The chunks are unrolled
// (static slices).
//
//===----------------------------------------------------------------------===//

#include "passes/Graph/Passes.h"

#include "dialects/ube/UbeBuilder.h"
#include "passes/Utils/FeatureMapOperands.h"
#include "passes/Utils/KernelBuilding.h"

namespace ube {
#define GEN_PASS_DEF_UBEEXPANDFEATUREMAP
#include "passes/Graph/Passes.h.inc"
} // namespace ube

using namespace mlir;
using namespace ube;

namespace {

constexpr int64_t kMaxChunks = 16, kChunkElements = int64_t(1) << 18;

/// The number of chunks `fm`'s tokens are taken in: 1 (no expansion) when
/// there is no projection, the projected features are small or the token
/// count is symbolic.
int64_t chunkCount(const FeatureMapOperands &fm, int64_t &tokens) {
  auto type = UbeBuilder::typeOf(fm.student);
  if (!type.hasStaticShape())
    return 1;
  tokens = type.getNumElements() / std::max<int64_t>(1, type.getShape().back());
  if (!fm.projection || type.getNumElements() == 0 ||
      UbeBuilder::typeOf(fm.teacher).getNumElements() == 0)
    return 1;
  int64_t width = UbeBuilder::typeOf(fm.teacher).getShape().back();
  return std::clamp<int64_t>(llvm::divideCeil(tokens * width, kChunkElements), 1,
                             std::min(kMaxChunks, tokens));
}

struct Expansion {
  Value loss, dStudent, dProjection;
};

/// Builds the chunked loss (when `wantLoss`) and gradient (when `grad`).
Expansion expand(UbeBuilder &u, const FeatureMapOperands &fm, int64_t tokens, int64_t chunks,
                 bool wantLoss, Value grad) {
  auto studentType = UbeBuilder::typeOf(fm.student);
  Type floatType = studentType.getElementType();
  auto rowsOf = [&](Value hidden) {
    return u.reshape(hidden, {tokens, UbeBuilder::typeOf(hidden).getShape().back()});
  };
  Value studentRows = rowsOf(fm.student), teacherRows = rowsOf(fm.teacher);
  int64_t chunkRows = llvm::divideCeil(tokens, chunks);
  Value lossSum, dProjection;
  SmallVector<Value> dStudent;
  for (int64_t begin = 0; begin < tokens; begin += chunkRows) {
    int64_t end = std::min(tokens, begin + chunkRows);
    Value student = u.slice(studentRows, 0, begin, end);
    Value teacher = u.slice(teacherRows, 0, begin, end);
    Value share = u.scalar(floatType, double(end - begin) / double(tokens));
    if (wantLoss) {
      Value loss = FeatureMapLossOp::create(u.b, student, teacher, fm.projection, fm.alpha,
                                            fm.beta, fm.gamma, fm.epsilon);
      Value weighted = u.mul(loss, share);
      lossSum = lossSum ? u.add(lossSum, weighted) : weighted;
    }
    if (grad) {
      auto chunkGrad = FeatureMapLossGradOp::create(u.b, student, teacher, u.mul(grad, share),
                                                    fm.projection, fm.alpha, fm.beta, fm.gamma,
                                                    fm.epsilon);
      dStudent.push_back(chunkGrad.getDStudent());
      Value part = chunkGrad.getDProjection();
      dProjection = dProjection ? u.add(dProjection, part) : part;
    }
  }
  Expansion result{lossSum, {}, dProjection};
  if (grad)
    result.dStudent = u.reshape(u.concat(dStudent, 0), studentType.getShape());
  return result;
}

struct UbeExpandFeatureMapPass : ube::impl::UbeExpandFeatureMapBase<UbeExpandFeatureMapPass> {
  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    // Collected first: the chunks' own ops are not expanded again.
    SmallVector<FeatureMapLossGradOp> grads;
    SmallVector<FeatureMapLossOp> losses;
    getOperation().walk([&](Operation *op) {
      if (auto grad = dyn_cast<FeatureMapLossGradOp>(op))
        grads.push_back(grad);
      else if (auto loss = dyn_cast<FeatureMapLossOp>(op))
        losses.push_back(loss);
    });
    llvm::DenseSet<Operation *> expanded;
    for (FeatureMapLossGradOp grad : grads) {
      FeatureMapOperands fm = FeatureMapOperands::of(grad);
      int64_t tokens;
      int64_t chunks = chunkCount(fm, tokens);
      if (chunks < 2)
        continue;
      FeatureMapLossOp loss = featureMapLossOf(grad);
      rewriter.setInsertionPoint(loss ? loss.getOperation() : grad.getOperation());
      UbeBuilder u(rewriter, grad.getLoc());
      Expansion e = expand(u, fm, tokens, chunks, bool(loss), grad.getGrad());
      rewriter.replaceOp(grad, {e.dStudent, e.dProjection});
      if (loss) {
        expanded.insert(loss);
        rewriter.replaceOp(loss, e.loss);
      }
    }
    for (FeatureMapLossOp loss : losses) {
      if (expanded.contains(loss))
        continue;
      FeatureMapOperands fm = FeatureMapOperands::of(loss);
      int64_t tokens;
      int64_t chunks = chunkCount(fm, tokens);
      if (chunks < 2)
        continue;
      rewriter.setInsertionPoint(loss);
      UbeBuilder u(rewriter, loss.getLoc());
      rewriter.replaceOp(loss, expand(u, fm, tokens, chunks, true, Value()).loss);
    }
  }
};

} // namespace
