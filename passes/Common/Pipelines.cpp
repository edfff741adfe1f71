//===- Pipelines.cpp - steps every target's codegen pipeline takes --------===//

#include "passes/Common/Pipelines.h"

#include "passes/Common/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

namespace ube {

void buildFunctionBoundaryBufferization(OpPassManager &pm, bool canonicalize,
                                        bool outlineKernels) {
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion = bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addNestedPass<func::FuncOp>(createUbeUnshareEmptyTensors());
  if (outlineKernels)
    pm.addPass(createUbeOutlineKernels());
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  pm.addPass(createUbeNumberConstantGlobals());
  // Loops that yield the buffer they were given fold to it first.
  if (canonicalize)
    pm.addPass(createCanonicalizerPass());
  // A kernel's results are its destinations (--ube-outline-kernels): the
  // calls' operands are the buffers.
  pm.addPass(bufferization::createDropEquivalentBufferResultsPass());
  pm.addNestedPass<func::FuncOp>(createUbeAllocateReturnedReshapes());
  pm.addNestedPass<func::FuncOp>(createUbeDistinctResultBuffers());
  bufferization::BufferResultsToOutParamsPassOptions outParams;
  outParams.hoistStaticAllocs = true;
  // A result of symbolic shape is written in the buffer the runtime sized
  // from the derived symbols, as static ones are, not copied there (each
  // result its own allocation: ube-distinct-result-buffers).
  outParams.hoistDynamicAllocs = true;
  outParams.modifyPublicFunctions = true;
  pm.addPass(bufferization::createBufferResultsToOutParamsPass(outParams));
}

void buildMathAndControlFlowLowering(OpPassManager &pm) {
  pm.addPass(math::createMathExtendToSupportedTypes());
  pm.addPass(createUbeApproximateMath());
  pm.addPass(createUbeFlattenDynamicExpandShapes());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
}

} // namespace ube
