//===- ReadOnlyArguments.cpp - the caller's inputs are never written -----===//
//
// One-shot bufferization across function boundaries treats arguments as
// writable: an op whose destination is an argument (a matmul summed into the
// tensor it adds to, say) would then write the caller's input buffer. The
// runtime contract is that inputs are read-only (updates in place go through
// out-params the caller chooses to alias, see --ube-mark-in-place-updates),
// so arguments are marked `bufferization.writable = false`: bufferization
// copies such a destination first.
//
//===----------------------------------------------------------------------===//

#include "passes/Common/Passes.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"

namespace ube {
#define GEN_PASS_DEF_UBEREADONLYARGUMENTS
#include "passes/Common/Passes.h.inc"
} // namespace ube

using namespace mlir;

namespace {
struct UbeReadOnlyArgumentsPass
    : ube::impl::UbeReadOnlyArgumentsBase<UbeReadOnlyArgumentsPass> {
  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    if (fn.isExternal())
      return;
    BoolAttr readOnly = BoolAttr::get(&getContext(), false);
    for (unsigned i = 0, e = fn.getNumArguments(); i < e; ++i)
      if (isa<TensorType>(fn.getArgument(i).getType()))
        fn.setArgAttr(i, bufferization::BufferizationDialect::kWritableAttrName, readOnly);
  }
};
} // namespace
