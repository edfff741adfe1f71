//===- LowerStridedCopies.cpp - memref.copy -> linalg.copy when strided ---===//

#include "passes/Common/Passes.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"

namespace ube {
#define GEN_PASS_DEF_UBELOWERSTRIDEDCOPIES
#include "passes/Common/Passes.h.inc"
} // namespace ube

using namespace mlir;

namespace {
struct UbeLowerStridedCopiesPass
    : ube::impl::UbeLowerStridedCopiesBase<UbeLowerStridedCopiesPass> {
  void runOnOperation() override {
    // What finalize-memref-to-llvm copies with memcpy: the identity layout,
    // or a static shape whose strides are row-major (a dynamic one's are
    // not known to be).
    auto contiguous = [](Type type) {
      auto memref = cast<MemRefType>(type);
      return memref.getLayout().isIdentity() ||
             (memref.hasStaticShape() && memref.areTrailingDimsContiguous(memref.getRank()));
    };
    getOperation().walk([&](memref::CopyOp copy) {
      if (contiguous(copy.getSource().getType()) && contiguous(copy.getTarget().getType()))
        return;
      OpBuilder b(copy);
      linalg::CopyOp::create(b, copy.getLoc(), copy.getSource(), copy.getTarget());
      copy.erase();
    });
  }
};
} // namespace
