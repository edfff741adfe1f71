//===- Pipelines.h - steps every target's codegen pipeline takes -*- C++ -*-===//

#ifndef UBE_PASSES_COMMON_PIPELINES_H
#define UBE_PASSES_COMMON_PIPELINES_H

#include "mlir/Pass/PassManager.h"

namespace ube {

/// Tensors to buffers across function boundaries (identity layouts), each
/// result a buffer of its own, results as out-parameters the caller passes.
/// With `canonicalize`, loop-carried buffers that a loop only passes through
/// (a fused kernel writing its result row by row) are folded first, so that
/// the result is the allocation itself and becomes the caller's buffer.
/// With `outlineKernels`, each op with regions becomes a call of a kernel
/// function shared by equal layers first (--ube-outline-kernels), so each
/// is bufferized and compiled once.
void buildFunctionBoundaryBufferization(mlir::OpPassManager &pm, bool canonicalize = false,
                                        bool outlineKernels = false);

/// Before the conversion to LLVM (host) or NVVM (kernels): 16-bit math
/// widened, transcendentals approximated, strided views and affine maps
/// expanded, structured control flow to branches.
void buildMathAndControlFlowLowering(mlir::OpPassManager &pm);

} // namespace ube

#endif // UBE_PASSES_COMMON_PIPELINES_H
