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
    On symbolic dimensions `projected_kd_loss` (expanded before this pass,
    on static shapes) and attention whose keys are shared by a symbolic
    number of query heads are refused, naming the op.
  }];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect", "::mlir::tensor::TensorDialect",
    "::mlir::arith::ArithDialect", "::mlir::math::MathDialect", "::mlir::scf::SCFDialect"
  ];
}

def UbeDeriveSymbolSizes : Pass<"ube-derive-symbol-sizes", "::mlir::func::FuncOp"> {
  let summary = "Computes derived symbols' sizes and the sizes a call must check";
  let description = [{
    On linalg on tensors. The importer names a result's size that the
    symbols fix without naming it (a convolution's output length over a
    symbolic input length) by a derived `#ube.dim` with an empty `size`.
    Here every size is index arithmetic on the arguments' dimensions: each
    such size is followed back through the ops that give it (their
    `ReifyRankedShapedTypeOpInterface`, a loop's result to its init, an
    `scf.if`'s to what its first branch yields) and
    arithmetic to the arguments' symbols, and written as the symbol's
    expression list, which the runtime evaluates at each call to size the
    result.

    Sizes of the function's tensors that may be below 1 (a window's output,
    negative where the window does not fit; a size computed from it) become
    derived symbols too, named after the op that makes the tensor, which no
    shape names. Every derived symbol must be at least 1 at a call (zero
    sizes neither cross the calling convention nor reach the kernels): the
    runtime refuses a call that makes one smaller (an input too small for
    the graph) before anything runs. A derived result's size the pass
    cannot follow is an error naming the result.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::tensor::TensorDialect"];
}

#endif // UBE_PASSES_LINALG_PASSES_TD
