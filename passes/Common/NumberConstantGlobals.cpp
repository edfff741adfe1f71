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
    llvm::DenseMap<StringAttr, FlatSymbolRefAttr> renamed;
    module.walk([&](memref::GetGlobalOp use) {
      auto global = symbols.lookup<memref::GlobalOp>(use.getName());
      if (!global || !global.getConstant() || !global.isPrivate() ||
          renamed.count(global.getSymNameAttr()))
        return;
      // Unique: bufferization's names have no such prefix.
      renamed[global.getSymNameAttr()] = FlatSymbolRefAttr::get(
          &getContext(), "__ube_constant_" + std::to_string(order.size()));
      order.push_back(global);
    });
    // One walk for every reference (SymbolTable::rename walks the module
    // once per symbol).
    module.walk([&](Operation *op) {
      for (NamedAttribute attribute : op->getAttrs())
        if (auto ref = dyn_cast<FlatSymbolRefAttr>(attribute.getValue()))
          if (FlatSymbolRefAttr to = renamed.lookup(ref.getAttr()))
            op->setAttr(attribute.getName(), to);
    });
    Operation *after = nullptr;
    for (memref::GlobalOp global : order) {
      global.setSymName(renamed.lookup(global.getSymNameAttr()).getValue());
      if (after)
        global->moveAfter(after);
      else
        global->moveBefore(&module.getBody()->front());
      after = global;
    }
  }
};

} // namespace
