//===- AlignWorkgroupMemory.cpp - alignment of shared-memory buffers ------===//
//
// convert-gpu-to-nvvm gives a workgroup buffer its element type's alignment
// (4 bytes for f32) unless the attribution carries `llvm.align`; kernels that
// read shared memory with 16-byte vector loads need the buffer 16-aligned.
// gpu.launch cannot carry the attribute, so it is set after outlining.
//
//===----------------------------------------------------------------------===//

#include "passes/Cuda/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

namespace ube {
#define GEN_PASS_DEF_UBECUDAALIGNWORKGROUPMEMORY
#include "passes/Cuda/Passes.h.inc"
} // namespace ube

using namespace mlir;

namespace {
struct UbeCudaAlignWorkgroupMemoryPass
    : ube::impl::UbeCudaAlignWorkgroupMemoryBase<UbeCudaAlignWorkgroupMemoryPass> {
  using Base::Base;
  void runOnOperation() override {
    if (alignment <= 0 || (alignment & (alignment - 1)) != 0) {
      getOperation().emitError("ube-cuda-align-workgroup-memory: alignment must be a power of two");
      return signalPassFailure();
    }
    StringRef name = LLVM::LLVMDialect::getAlignAttrName();
    getOperation().walk([&](gpu::GPUFuncOp fn) {
      Builder b(fn.getContext());
      for (unsigned i = 0, e = fn.getNumWorkgroupAttributions(); i < e; ++i) {
        auto current = dyn_cast_or_null<IntegerAttr>(fn.getWorkgroupAttributionAttr(i, name));
        if (!current || current.getInt() < alignment)
          fn.setWorkgroupAttributionAttr(i, name, b.getI64IntegerAttr(alignment));
      }
    });
  }
};
} // namespace
