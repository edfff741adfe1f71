//===- Passes.h - target-independent codegen passes --------------*- C++ -*-===//

#ifndef UBE_PASSES_COMMON_PASSES_H
#define UBE_PASSES_COMMON_PASSES_H

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Pass/Pass.h"

namespace ube {

#define GEN_PASS_DECL
#include "passes/Common/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Common/Passes.h.inc"

} // namespace ube

#endif // UBE_PASSES_COMMON_PASSES_H
