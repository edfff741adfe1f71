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

    Symbolic (`?`) dimensions: each `tensor.empty` takes a dynamic size
    from `tensor.dim` of the operand that has it (a broadcast's from the
    operand whose aligned dimension is dynamic, a concatenation's from the
    sum along the axis); a mean divides by the reduced sizes at run time; a
    reshape between symbolic shapes must be one collapse or one expansion.
    The distillation losses, attention, MSE, slices and the optimizer
    updates are refused on symbolic dimensions, naming the op.
  }];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect", "::mlir::tensor::TensorDialect",
    "::mlir::arith::ArithDialect", "::mlir::math::MathDialect", "::mlir::scf::SCFDialect"
  ];
}

#endif // UBE_PASSES_LINALG_PASSES_TD
