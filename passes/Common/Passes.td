//===- Passes.td - target-independent codegen passes -----------*- tablegen -*-===//

#ifndef UBE_PASSES_COMMON_PASSES_TD
#define UBE_PASSES_COMMON_PASSES_TD

include "mlir/Pass/PassBase.td"

def UbeFuseReturnedProducers : Pass<"ube-fuse-returned-producers", "::mlir::func::FuncOp"> {
  let summary = "Fuses elementwise producers whose other uses are the function's results";
  let description = [{
    After `linalg-fuse-elementwise-ops`, which fuses a producer into its
    consumer only when the consumer is its one use: a producer whose other
    uses are the function's `return` (an optimizer step's new moments,
    returned and read again by the parameter's update) is fused too, the
    fused op yielding its values for the return. Each is then computed in
    the same pass over memory as its consumer, not written out and read
    back (AdamW over a 30522 × 384 embedding: three passes become one).
    Nothing is computed twice.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def UbeMarkInPlaceUpdates : Pass<"ube-mark-in-place-updates", "::mlir::func::FuncOp"> {
  let summary = "Proves which results may be written over the argument of the same name";
  let description = [{
    On linalg on tensors, after elementwise fusion. A training step returns
    each parameter and optimizer state under its input's name (`ube.name`).
    When the op computing such a result is an elementwise `linalg.generic`
    of the function's body that reads the argument only at the element it
    writes (the same indexing map), and no later op reads the argument or a
    view of it, the caller may pass the argument's buffer as the result's:
    every element is read before it is overwritten and never read again.
    The proven pairs go into `ube.in_place` on the function (result index,
    argument index, ...), which the executable's manifest carries; the
    runtime accepts exactly these aliases. With `scalar-reads=false`, an
    argument also read by `tensor.extract` stays out of place: the cuda
    target recomputes such scalar reads inside the kernels that use them,
    which may run after the update.
  }];
  let options = [
    Option<"scalarReads", "scalar-reads", "bool", "true",
           "Update in place arguments that tensor.extract reads too (before the update)">
  ];
}

def UbeReadOnlyArguments : Pass<"ube-read-only-arguments", "::mlir::func::FuncOp"> {
  let summary = "Marks tensor arguments read-only for one-shot bufferization";
  let description = [{
    Before `one-shot-bufferize{bufferize-function-boundaries}`: every tensor
    argument gets `bufferization.writable = false`, so an op whose
    destination is an argument (a matmul summed into the tensor it is added
    to) works on a copy, never on the caller's input buffer. Updates in
    place are the caller's choice, through out-params
    (`--ube-mark-in-place-updates`).
  }];
  let dependentDialects = ["::mlir::bufferization::BufferizationDialect"];
}

def UbeUnshareEmptyTensors : Pass<"ube-unshare-empty-tensors", "::mlir::func::FuncOp"> {
  let summary = "Gives every use of a tensor.empty an empty tensor of its own";
  let description = [{
    Before one-shot bufferization. CSE merges the identical `tensor.empty`
    destinations of a model's many ops into one; one-shot analysis then puts
    every op writing into it in a single alias set, and checks each in-place
    write against every read of the set. For a model of N layers that set
    grows with N, and the analysis took time quadratic in N (BERT-large:
    13 s). An empty tensor per use, placed in the original's block before
    the op that holds the use, keeps the sets per op. An op's destination
    holds no data, so nothing changes but the analysis's work, and the
    buffers it chooses (BERT-base's planned arena at batch 8: 57 -> 25 MB,
    results bit for bit the same).
  }];
}

def UbeOutlineKernels : Pass<"ube-outline-kernels", "::mlir::ModuleOp"> {
  let summary = "Makes each op with regions of a public function a call of a shared kernel";
  let description = [{
    On linalg on tensors, before bufferization. Each op with regions at the
    top level of a public function (a fused kernel's `scf.forall`, a loop, a
    `linalg.generic`) becomes a call of a private function, its kernel, that
    takes what the op reads and writes as arguments. Layers of one shape
    give equal kernels over other weights and activations, and all their
    calls share one function, so bufferization, the later passes and LLVM
    handle each kernel once rather than once per layer (BERT-base: 12
    times).

    What goes into the kernel with the op: scalar and vector constants, the
    views (`tensor.extract_slice`, `expand_shape`, `collapse_shape`, `cast`)
    it reads through, empty tensors used only inside its regions, and, when
    it writes into `tensor.extract_slice %t[...]` and its result is only
    inserted back by `tensor.insert_slice ... into %t[...]` at the same
    place, that slice and insertion: the kernel takes `%t` and returns it,
    so writes stay in place. Weights, empty destinations (which later become
    the caller's planned buffers) and everything else are arguments. An op
    that writes into any other view of a larger tensor stays where it is: as
    an argument, the view would be copied at the call. So does an op with a
    result of symbolic shape that no destination holds (`tensor.pad` of a
    symbolic batch): the caller allocates it by its sizes.

    Buffers of symbolic shape are arguments too, and the sizes the op
    reads (loop bounds, task counts) are `index` arguments, so the layers of
    a model compiled for any batch and length share their kernels as well.
    (The cpu target passes such buffers as pointers followed by their sizes:
    `--ube-cpu-symbolic-entry-points`.)

    Kernels are named `__ube_<function>_kernel<N>` after the first function
    and op that needed them, and get internal linkage.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect", "::mlir::LLVM::LLVMDialect"];
}

def UbeNumberConstantGlobals : Pass<"ube-number-constant-globals", "::mlir::ModuleOp"> {
  let summary = "Names and orders bufferization's constant globals by their first use";
  let description = [{
    After one-shot bufferization. It creates a `memref.global` per distinct
    constant tensor, named `__constant_<shape>` with a counter, in the order
    it meets the functions, which depends on pointer order once a module has
    several (kernels). Each private constant global is renamed
    `__ube_constant_<N>` and moved, both in the order of its first
    `memref.get_global` in the module, so the same input gives the same
    executable, byte for byte.
  }];
}

def UbeAllocateReturnedReshapes
    : Pass<"ube-allocate-returned-reshapes", "::mlir::func::FuncOp"> {
  let summary = "Allocates buffers in the shape the function returns them in";
  let description = [{
    After bufferization, before `buffer-results-to-out-params`: a returned
    `memref.expand_shape` or `memref.collapse_shape` of a `memref.alloc`
    (a kernel's [rows, length] output returned as [batch, tokens, length])
    would be copied into the caller's output buffer. The allocation is made
    in the returned shape instead, its users reading and writing the inverse
    reshape of it, so that the returned value is the allocation itself and
    becomes the output buffer: the output is written once. Symbolic sizes
    are an expand_shape's output sizes (where they are known at the
    allocation) or products of the allocation's. Allocations returned
    directly or reshaped for two results are left alone.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::memref::MemRefDialect"];
}

def UbeDistinctResultBuffers : Pass<"ube-distinct-result-buffers", "::mlir::func::FuncOp"> {
  let summary = "Copies returned buffers that are returned twice or are arguments";
  let description = [{
    After bufferization, before `buffer-results-to-out-params`: a buffer a
    function returns more than once (outputs whose values folded to the same
    one) or an argument it returns gets a fresh buffer and a copy, so every
    result has a buffer of its own.
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect"];
}

def UbeLowerStridedCopies : Pass<"ube-lower-strided-copies", "::mlir::func::FuncOp"> {
  let summary = "Turns memref.copy between non-contiguous buffers into linalg.copy";
  let description = [{
    `finalize-memref-to-llvm` lowers a copy between contiguous buffers (the
    identity layout, or row-major strides of a static shape) to
    `llvm.memcpy` but any other (strided, or a view of symbolic shape) to a
    call of `memrefCopy` from MLIR's C runner library, which executables do
    not link. As `linalg.copy`, such a
    copy becomes loops like any other structured op.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def UbeFlattenDynamicExpandShapes : Pass<"ube-flatten-dynamic-expand-shapes"> {
  let summary = "Turns expand_shapes into groups of several symbolic sizes into reinterpret_casts";
  let description = [{
    An expansion of a contiguous buffer into a reassociation group of more
    than one dynamic size (`[batch·seq, 8]` to `[batch, seq, 8]`, as
    symbolic shapes make) becomes a `memref.reinterpret_cast` of the buffer
    at the expanded sizes and their row-major strides, which upstream
    `expand-strided-metadata` cannot derive. Other expansions are left to
    it. A non-contiguous source is an error.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::memref::MemRefDialect"];
}

def UbeMathToLibm : Pass<"ube-math-to-libm", "::mlir::ModuleOp"> {
  let summary = "Calls libm for the math ops that LLVM has no intrinsic for";
  let description = [{
    `math.erf` and `math.erfc` left after `--ube-approximate-math` (f64:
    the approximations are f32's) become calls to libm's `erf`/`erfc`,
    declared in the module; vectors are unrolled into scalar calls. Every
    other math op keeps its LLVM intrinsic.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect", "::mlir::arith::ArithDialect",
                           "::mlir::vector::VectorDialect"];
}

def UbeApproximateMath : Pass<"ube-approximate-math"> {
  let summary = "Replaces transcendental math ops with polynomial approximations";
  let description = [{
    `math.exp`, `log`, `log1p`, `tanh` and `erf` on f32 (and vectors of f32) become
    arithmetic polynomial approximations (MLIR's, accurate to a few ulp),
    which vectorize and give the same bits on every machine. `sin`, `cos`
    and `pow` stay libm calls: rotary embeddings take sin and cos of angles
    in the thousands, where only an exact range reduction stays accurate.
    Run `math-extend-to-supported-types` first for f16/bf16.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
                           "::mlir::vector::VectorDialect"];
}

#endif // UBE_PASSES_COMMON_PASSES_TD
