//===- EmitParallelDispatch.cpp - hand tasks to the runtime's thread pool -===//
//
// Defines, in the LLVM dialect, each dispatch function that
// --ube-cpu-outline-parallel-loops declared (`ube.parallel_task = "T"`):
//
//   D(count, captures...)   stores the captures in 8-byte slots on the
//                           stack, then calls the runtime's pool through the
//                           exported pointer `ube_host_parallel_for` as
//                           pool(T_slots, slots, count), or, when no runtime
//                           set it, T_slots(slots, 0, count) itself;
//   T_slots(slots, b, e)    loads the captures and calls T(b, e, captures...).
//
// The pointer's type is `void (*)(void (*task)(void *, int64_t, int64_t),
// void *slots, int64_t count)` (docs/runtime-abi.md).
//
//===----------------------------------------------------------------------===//

#include "passes/Cpu/Passes.h"

#include "dialects/ube/UbeDialect.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

namespace ube {
#define GEN_PASS_DEF_UBECPUEMITPARALLELDISPATCH
#include "passes/Cpu/Passes.h.inc"
} // namespace ube

using namespace mlir;

namespace {

constexpr llvm::StringLiteral kHookName = "ube_host_parallel_for";

struct UbeCpuEmitParallelDispatchPass
    : ube::impl::UbeCpuEmitParallelDispatchBase<UbeCpuEmitParallelDispatchPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<LLVM::LLVMFuncOp> dispatches;
    for (auto fn : module.getOps<LLVM::LLVMFuncOp>())
      if (fn.isExternal() && fn->hasAttr(ube::UbeDialect::ParallelTaskAttrHelper::getNameStr()))
        dispatches.push_back(fn);
    if (dispatches.empty())
      return;

    MLIRContext *context = &getContext();
    auto ptr = LLVM::LLVMPointerType::get(context);
    auto i64 = IntegerType::get(context, 64);
    auto voidType = LLVM::LLVMVoidType::get(context);
    auto slotsTaskType = LLVM::LLVMFunctionType::get(voidType, {ptr, i64, i64});
    auto hookType = LLVM::LLVMFunctionType::get(voidType, {ptr, ptr, i64});
    Location loc = module.getLoc();

    OpBuilder b = OpBuilder::atBlockBegin(module.getBody());
    auto hook = LLVM::GlobalOp::create(b, loc, ptr, /*isConstant=*/false,
                                       LLVM::Linkage::External, kHookName, Attribute());
    {
      Block *init = b.createBlock(&hook.getInitializerRegion());
      b.setInsertionPointToStart(init);
      LLVM::ReturnOp::create(b, loc, LLVM::ZeroOp::create(b, loc, ptr).getResult());
    }

    for (LLVM::LLVMFuncOp dispatch : dispatches) {
      auto taskName = dispatch->getAttrOfType<StringAttr>(ube::UbeDialect::ParallelTaskAttrHelper::getNameStr());
      auto task = module.lookupSymbol<LLVM::LLVMFuncOp>(taskName);
      if (!task) {
        dispatch.emitOpError("names a parallel task that does not exist: ") << taskName;
        return signalPassFailure();
      }
      ArrayRef<Type> captureTypes = dispatch.getFunctionType().getParams().drop_front();
      Location taskLoc = task.getLoc();

      // T_slots(slots, begin, end).
      b.setInsertionPointAfter(task);
      auto slotsTask = LLVM::LLVMFuncOp::create(b, taskLoc, (taskName.str() + "_slots"),
                                                slotsTaskType, LLVM::Linkage::Internal);
      // One copy of the task's code: inlined into the dispatch's serial path
      // it would be compiled (and optimized) twice.
      slotsTask.setNoInline(true);
      {
        Block *entry = slotsTask.addEntryBlock(b);
        b.setInsertionPointToStart(entry);
        SmallVector<Value> args = {entry->getArgument(1), entry->getArgument(2)};
        for (auto [i, type] : llvm::enumerate(captureTypes)) {
          Value slot = LLVM::GEPOp::create(b, taskLoc, ptr, i64, entry->getArgument(0),
                                           ArrayRef<LLVM::GEPArg>{int32_t(i)});
          args.push_back(LLVM::LoadOp::create(b, taskLoc, type, slot));
        }
        LLVM::CallOp::create(b, taskLoc, task, args);
        LLVM::ReturnOp::create(b, taskLoc, ValueRange{});
      }

      // D(count, captures...).
      dispatch.setLinkage(LLVM::Linkage::Internal);
      dispatch->removeAttr(ube::UbeDialect::ParallelTaskAttrHelper::getNameStr());
      Location at = dispatch.getLoc();
      Block *entry = dispatch.addEntryBlock(b);
      b.setInsertionPointToStart(entry);
      Value slotCount = LLVM::ConstantOp::create(
          b, at, i64, b.getI64IntegerAttr(std::max<int64_t>(1, captureTypes.size())));
      Value slots = LLVM::AllocaOp::create(b, at, ptr, i64, slotCount, /*alignment=*/8);
      for (auto [i, capture] : llvm::enumerate(entry->getArguments().drop_front())) {
        Value slot = LLVM::GEPOp::create(b, at, ptr, i64, slots,
                                         ArrayRef<LLVM::GEPArg>{int32_t(i)});
        LLVM::StoreOp::create(b, at, capture, slot);
      }
      Value count = entry->getArgument(0);
      Value taskAddress = LLVM::AddressOfOp::create(b, at, slotsTask);
      Value pool = LLVM::LoadOp::create(b, at, ptr, LLVM::AddressOfOp::create(b, at, hook));
      Value absent = LLVM::ICmpOp::create(b, at, LLVM::ICmpPredicate::eq, pool,
                                          LLVM::ZeroOp::create(b, at, ptr));
      Block *serial = b.createBlock(&dispatch.getBody());
      Block *parallel = b.createBlock(&dispatch.getBody());
      b.setInsertionPointToEnd(entry);
      LLVM::CondBrOp::create(b, at, absent, serial, parallel);
      b.setInsertionPointToStart(serial);
      Value zero = LLVM::ConstantOp::create(b, at, i64, b.getI64IntegerAttr(0));
      LLVM::CallOp::create(b, at, slotsTask, ValueRange{slots, zero, count});
      LLVM::ReturnOp::create(b, at, ValueRange{});
      b.setInsertionPointToStart(parallel);
      LLVM::CallOp::create(b, at, hookType, ValueRange{pool, taskAddress, slots, count});
      LLVM::ReturnOp::create(b, at, ValueRange{});
    }
  }
};

} // namespace
