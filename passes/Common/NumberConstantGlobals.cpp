//===- NumberConstantGlobals.cpp - constant globals named by first use ----===//

#include "passes/Common/Passes.h"

#include "mlir/IR/SymbolTable.h"

namespace ube {
#define GEN_PASS_DEF_UBENUMBERCONSTANTGLOBALS
#include "passes/Common/Passes.h.inc"
} // namespace ube

using namespace mlir;

namespace {

struct UbeNumberConstantGlobalsPass
    : ube::impl::UbeNumberConstantGlobalsBase<UbeNumberConstantGlobalsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    SmallVector<memref::GlobalOp> order;
    llvm::SmallPtrSet<Operation *, 16> seen;
    module.walk([&](memref::GetGlobalOp use) {
      auto global = symbols.lookup<memref::GlobalOp>(use.getName());
      if (global && global.getConstant() && global.isPrivate() && seen.insert(global).second)
        order.push_back(global);
    });
    // First out of the way, so no new name meets an old one.
    for (memref::GlobalOp global : order)
      if (failed(symbols.rename(global, "__ube_numbering_" + global.getSymName().str())))
        return signalPassFailure();
    Operation *after = nullptr;
    for (auto [i, global] : llvm::enumerate(order)) {
      if (failed(symbols.rename(global, "__ube_constant_" + std::to_string(i))))
        return signalPassFailure();
      if (after)
        global->moveAfter(after);
      else
        global->moveBefore(&module.getBody()->front());
      after = global;
    }
  }
};

} // namespace
