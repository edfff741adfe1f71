//===- FlattenDynamicExpandShapes.cpp - expand_shape of symbolic groups ---===//
//
// `memref.expand_shape` of a contiguous buffer into a group of several
// dynamic sizes ([batch·seq, 8] -> [batch, seq, 8]) becomes a
// `memref.reinterpret_cast` of the buffer at the expanded sizes and their
// row-major strides. Upstream `expand-strided-metadata` cannot take such a
// group (it crashes on it), and the view is the same.
//
//===----------------------------------------------------------------------===//

#include "passes/Common/Passes.h"

#include "passes/Utils/RowMajorStrides.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"

namespace ube {
#define GEN_PASS_DEF_UBEFLATTENDYNAMICEXPANDSHAPES
#include "passes/Common/Passes.h.inc"
} // namespace ube

using namespace mlir;

namespace {

/// Whether a group of `expand` holds more than one dynamic size.
bool hasDynamicGroup(memref::ExpandShapeOp expand) {
  ArrayRef<int64_t> shape = expand.getResultType().getShape();
  return llvm::any_of(expand.getReassociationIndices(), [&](const ReassociationIndices &group) {
    return llvm::count_if(group, [&](int64_t d) { return ShapedType::isDynamic(shape[d]); }) > 1;
  });
}

struct UbeFlattenDynamicExpandShapesPass
    : ube::impl::UbeFlattenDynamicExpandShapesBase<UbeFlattenDynamicExpandShapesPass> {
  void runOnOperation() override {
    SmallVector<memref::ExpandShapeOp> expands;
    getOperation()->walk([&](memref::ExpandShapeOp expand) {
      if (hasDynamicGroup(expand))
        expands.push_back(expand);
    });
    for (memref::ExpandShapeOp expand : expands) {
      MemRefType source = expand.getSrcType(), result = expand.getResultType();
      if (!source.getLayout().isIdentity() || !result.getLayout().isIdentity()) {
        expand.emitOpError("cannot lower an expansion of a non-contiguous buffer into a group "
                           "of several symbolic sizes");
        return signalPassFailure();
      }
      OpBuilder b(expand);
      Location loc = expand.getLoc();
      SmallVector<OpFoldResult> sizes = expand.getMixedOutputShape();
      SmallVector<OpFoldResult> strides = ube::rowMajorStrides(b, loc, sizes);
      Value view = memref::ReinterpretCastOp::create(b, loc, result, expand.getSrc(),
                                                     b.getIndexAttr(0), sizes, strides);
      expand.replaceAllUsesWith(view);
      expand.erase();
    }
  }
};

} // namespace
