//===- EmitEntryPoints.cpp - uniform host entry points --------------------===//

#include "passes/Cpu/Passes.h"

#include "ube/Support/ExecutableFormat.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

namespace ube {
#define GEN_PASS_DEF_UBECPUEMITENTRYPOINTS
#include "passes/Cpu/Passes.h.inc"
} // namespace ube

using namespace mlir;

namespace {
struct UbeCpuEmitEntryPointsPass : ube::impl::UbeCpuEmitEntryPointsBase<UbeCpuEmitEntryPointsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    OpBuilder b(module.getContext());
    auto ptrType = LLVM::LLVMPointerType::get(module.getContext());
    SmallVector<LLVM::LLVMFuncOp> entries;
    for (auto fn : module.getOps<LLVM::LLVMFuncOp>())
      if (!fn.isExternal() && fn.getLinkage() == LLVM::Linkage::External &&
          !fn.getName().starts_with(ube::kEntrySymbolPrefix))
        entries.push_back(fn);
    for (LLVM::LLVMFuncOp fn : entries) {
      LLVM::LLVMFunctionType type = fn.getFunctionType();
      if (!isa<LLVM::LLVMVoidType>(type.getReturnType()) ||
          llvm::any_of(type.getParams(), [](Type t) { return !isa<LLVM::LLVMPointerType>(t); })) {
        fn.emitOpError("is not an entry point: expected (ptr...) -> void after the "
                       "bare-pointer calling convention");
        return signalPassFailure();
      }
      b.setInsertionPointAfter(fn);
      Location loc = fn.getLoc();
      auto wrapper = LLVM::LLVMFuncOp::create(
          b, loc, ube::entrySymbol(fn.getName().str()),
          LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(b.getContext()), {ptrType}));
      Block *body = wrapper.addEntryBlock(b);
      b.setInsertionPointToStart(body);
      SmallVector<Value> args;
      for (unsigned i = 0; i < type.getNumParams(); ++i) {
        Value slot = LLVM::GEPOp::create(b, loc, ptrType, ptrType, body->getArgument(0),
                                         ArrayRef<LLVM::GEPArg>{int32_t(i)});
        args.push_back(LLVM::LoadOp::create(b, loc, ptrType, slot));
      }
      LLVM::CallOp::create(b, loc, fn, args);
      LLVM::ReturnOp::create(b, loc, ValueRange{});
      fn.setLinkage(LLVM::Linkage::Internal);
      // Names live in the manifest; LLVM has no use for them.
      fn.removeArgAttrsAttr();
      fn.removeResAttrsAttr();
    }
  }
};
} // namespace
