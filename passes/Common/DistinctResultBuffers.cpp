//===- DistinctResultBuffers.cpp - one buffer per returned result ---------===//
//
// After bufferization a function can return the same buffer twice (two
// outputs whose values folded to one, such as a loss term and a total equal
// to it) or one of its arguments. buffer-results-to-out-params needs each
// result to be a buffer of its own, so such results get a fresh copy.
//
//===----------------------------------------------------------------------===//

#include "passes/Common/Passes.h"

namespace ube {
#define GEN_PASS_DEF_UBEDISTINCTRESULTBUFFERS
#include "passes/Common/Passes.h.inc"
} // namespace ube

using namespace mlir;

namespace {
struct UbeDistinctResultBuffersPass
    : ube::impl::UbeDistinctResultBuffersBase<UbeDistinctResultBuffersPass> {
  void runOnOperation() override {
    getOperation().walk([](func::ReturnOp ret) {
      llvm::SmallDenseSet<Value> seen;
      OpBuilder b(ret);
      for (OpOperand &operand : ret->getOpOperands()) {
        Value v = operand.get();
        auto type = dyn_cast<MemRefType>(v.getType());
        if (!type)
          continue;
        bool shared = !seen.insert(v).second || isa<BlockArgument>(v);
        if (!shared)
          continue;
        SmallVector<Value> sizes;
        for (int64_t d = 0; d < type.getRank(); ++d)
          if (type.isDynamicDim(d))
            sizes.push_back(memref::DimOp::create(b, ret.getLoc(), v, d));
        auto fresh = memref::AllocOp::create(
            b, ret.getLoc(), MemRefType::get(type.getShape(), type.getElementType()), sizes);
        memref::CopyOp::create(b, ret.getLoc(), v, fresh);
        operand.set(fresh);
      }
    });
  }
};
} // namespace
