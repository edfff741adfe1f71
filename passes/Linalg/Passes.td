//===- Passes.td - ube -> linalg on tensors --------------------*- tablegen -*-===//

#ifndef UBE_PASSES_LINALG_PASSES_TD
#define UBE_PASSES_LINALG_PASSES_TD

include "mlir/Pass/PassBase.td"

def UbeLowerToLinalg : Pass<"ube-lower-to-linalg", "::mlir::func::FuncOp"> {
  let summary = "Lowers ube ops to linalg, tensor, arith and math on tensors";
  let description = [{
    Elementwise ops (with broadcasting) and matmul become `linalg.generic`,
    reductions `linalg.generic` with reduction iterators (f16 and bf16
    products and sums accumulate in f32 and round once), transposes
    `linalg.transpose`, reshapes `tensor.collapse_shape`/`expand_shape`,
    slices and concatenations `tensor` slice ops, gathers a `linalg.generic`
    reading with `tensor.extract`, and the counter-based random ops
    (`dropout`, `bernoulli_select`) Philox-4x32-10 in `arith`. Composite ops
    are decomposed first (`--ube-decompose` patterns run here too).
  }];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect", "::mlir::tensor::TensorDialect",
    "::mlir::arith::ArithDialect", "::mlir::math::MathDialect", "::mlir::scf::SCFDialect"
  ];
}

#endif // UBE_PASSES_LINALG_PASSES_TD
