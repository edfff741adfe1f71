//===- Passes.td - ube passes ------------------------------*- tablegen -*-===//

#ifndef UBE_PASSES_TD
#define UBE_PASSES_TD

include "mlir/Pass/PassBase.td"

def UbeAutodiff : Pass<"ube-autodiff", "::mlir::ModuleOp"> {
  let summary = "Appends reverse-mode gradients to functions marked ube.gradient";
  let description = [{
    A function with `ube.gradient = {loss = L, wrt = array<i64: i, ...>}`
    gets, after its results, the gradient of its float scalar result `L`
    with respect to each listed float argument (named `d_<argument>`). Every
    op between the arguments and the loss must implement
    `DifferentiableOpInterface` (all ube ops with float operands do; the
    distillation losses treat the teacher as a constant). Forward values are
    kept for the backward sweep; gradients of values used several times are
    summed. The attribute is removed. Runs in the graph pipeline before
    `--ube-decompose`, so composite ops use their own rules (a fused loss
    gets its fused `*_grad` op).
  }];
  let dependentDialects = ["::ube::UbeDialect"];
}

def UbeBuildTrainStep : Pass<"ube-build-train-step", "::mlir::ModuleOp"> {
  let summary = "Turns a function marked ube.train into one optimizer step";
  let description = [{
    A function with `ube.train = {loss = L, params = array<i64: ...>,
    optimizer = "sgd" | "adamw", lr = ..., ...}` (optional: `momentum`,
    `weight_decay`, `nesterov` for SGD; `beta1`, `beta2`, `epsilon`,
    `weight_decay` for AdamW, PyTorch's defaults otherwise) gets the
    optimizer state of each listed parameter as extra inputs
    (`<param>.momentum_buffer`, or `<param>.exp_avg` and `<param>.exp_avg_sq`,
    zeros before the first step) and, for AdamW, the step number (`step`,
    counted from 1; an existing i64 scalar input named `step` is reused). It
    returns its own results, then the updated parameters and state under the
    names of the inputs they replace. Gradients come from the same reverse
    sweep as `--ube-autodiff`; the updates are `ube.sgd_update` /
    `ube.adamw_update`, one elementwise kernel each.
  }];
  let dependentDialects = ["::ube::UbeDialect"];
}

def UbeDecompose : Pass<"ube-decompose", "::mlir::func::FuncOp"> {
  let summary = "Rewrites composite ube ops into primitive ube ops";
  let description = [{
    Expresses ops that have a short definition in terms of other ube ops by
    that definition: `linear`, `softmax`, `log_softmax` (max-subtracted),
    `layer_norm`, `rms_norm`, `scaled_dot_product_attention` (matmuls and a
    softmax over whole score matrices, grouped-query heads by broadcasting),
    `cross_entropy`, `mse_loss`, rank-1 `matmul`, and the
    distillation losses `kd_loss`, `feature_map_loss` and
    `attention_transfer_loss` (unfused). What remains is lowered by
    `--ube-lower-to-linalg`. Numerically stable forms throughout: softmax
    subtracts the row maximum; masked scores use the most negative finite
    value, never -inf, so a fully masked row gives finite numbers.
  }];
  let options = [
    Option<"keepNormalizations", "keep-normalizations", "bool", "false",
           "Leave softmax, log_softmax, layer_norm and rms_norm whole, for a target's row "
           "kernels (--ube-cpu-row-kernels); --ube-lower-to-linalg decomposes "
           "what they leave">
  ];
}

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

def UbeApproximateMath : Pass<"ube-approximate-math"> {
  let summary = "Replaces transcendental math ops with polynomial approximations";
  let description = [{
    `math.exp`, `log`, `tanh` and `erf` on f32 (and vectors of f32) become
    arithmetic polynomial approximations (MLIR's, accurate to a few ulp),
    which vectorize and give the same bits on every machine. `sin`, `cos`
    and `pow` stay libm calls: rotary embeddings take sin and cos of angles
    in the thousands, where only an exact range reduction stays accurate.
    Run `math-extend-to-supported-types` first for f16/bf16.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
                           "::mlir::vector::VectorDialect"];
}

def UbeEmitEntryPoints : Pass<"ube-emit-entry-points", "::mlir::ModuleOp"> {
  let summary = "Adds `void ube_entry_NAME(void **buffers)` for each public LLVM function";
  let description = [{
    Runs on the LLVM dialect after the bare-pointer calling convention: each
    public `llvm.func @NAME(ptr, ...)` (inputs, then outputs) gets a wrapper
    `@ube_entry_NAME(ptr buffers)` that loads the i-th pointer from
    `buffers` for the i-th argument and calls it; NAME itself becomes
    internal. The runtime calls every entry point the same way.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def UbeFuseNormalizations : Pass<"ube-fuse-normalizations", "::mlir::func::FuncOp"> {
  let summary = "Rewrites RMS norms spelled out in primitives into ube.rms_norm";
  let description = [{
    Recognizes `x * rsqrt(mean(x², trailing axes, keepdims) + eps)` (the
    square as `x·x` or `x ** 2`, eps a positive scalar constant), as Llama's
    and T5's RMSNorm modules write it, and rewrites it to `ube.rms_norm`;
    a following multiplication by a weight of the normalized shape becomes
    the op's weight when the norm has no other user. Anything else is left
    alone.
  }];
}

def UbeFuseDistillation : Pass<"ube-fuse-distillation", "::mlir::func::FuncOp"> {
  let summary = "Rewrites distillation losses spelled out in primitives into the fused ops";
  let description = [{
    Recognizes a soft-logit KD loss as frontends produce it: KL(p_t ‖ p_s)
    terms with `p_t = softmax(t/T)` and `log p_s = log_softmax(s/T)` over the
    last axis (PyTorch's `kl_div` guard `where(p > 0, ...)`, a `log` or
    `log_softmax` of the teacher, or `exp` of its `log_softmax`), reduced to a
    scalar by sums, means and constant factors. When both sides' logits are
    attention scores `q · kᵀ` ([batch, heads, tokens, d], each side divided by
    a constant) it becomes `ube.attention_transfer_loss` (a divisor other than
    √d scales the queries); otherwise, with one temperature on both sides,
    `ube.kd_loss` (with `scale_by_temperature_squared` when the factor is T²,
    else times the factor). Another axis, any other guard, distributions of
    different inputs or a non-scalar result are left alone. Also
    `mse_loss(layer_norm(h_s · W), layer_norm(h_t))` (mean; non-affine, last
    axis, one epsilon) becomes `ube.feature_map_loss` with projection W.
  }];
}

def UbeExpandProjectedKd : Pass<"ube-expand-projected-kd", "::mlir::func::FuncOp"> {
  let summary = "Takes projected_kd_loss and its gradient a chunk of rows at a time";
  let description = [{
    The Liger-Kernel design: `projected_kd_loss` (and `_grad`) become, per
    chunk of rows, the two projections of the chunk (`ube.matmul`),
    `kd_loss` / `kd_loss_grad` on them, the chunk's rows of the hidden
    states' gradient and a sum of the weight's gradient over the chunks;
    the chunks' losses are summed with their counted rows as weights. At
    most 16 chunks, each with about 4M logits, so the `[rows, V]` logits
    never exist. A loss and its gradient with the same operands (a
    training step) are expanded together where the loss is, so each chunk's
    logits serve both. Runs before the target's kernels, which then fuse
    each chunk's kd_loss and gradient into one row kernel and sum the
    weight's gradient in place.
  }];
}

def UbeExpandFeatureMap : Pass<"ube-expand-feature-map", "::mlir::func::FuncOp"> {
  let summary = "Takes projected feature_map_loss and its gradient a chunk of tokens at a time";
  let description = [{
    `feature_map_loss` with a projection (and `_grad`) whose projected
    features `[tokens, Dt]` exceed 256K elements become, per chunk of tokens
    (at most 16), the chunk's `feature_map_loss` / `feature_map_loss_grad`
    (which project only the chunk's tokens), weighted by the chunk's share
    of the tokens; the chunks' rows of the student's gradient are
    concatenated and the projection's gradient summed. So the projected
    features of all tokens never exist, only a chunk's. A loss and its
    gradient with the same operands (a training step) are expanded together
    where the loss is. The compile path runs it after the target's kernels,
    on what they did not take (the cpu target's fused kernel,
    `--ube-cpu-feature-map-kernels`, takes every static f32 feature map).
  }];
}

def UbeCpuDistillationKernels : Pass<"ube-cpu-distillation-kernels",
                                     "::mlir::func::FuncOp"> {
  let summary = "Lowers the distillation losses to fused, vectorized row kernels for CPUs";
  let description = [{
    Replaces `ube.kd_loss` and `ube.kd_loss_grad` on f32 logits with loops
    over rows whose inner loops walk the vocabulary in vectors: one streaming
    pass per row computes the running (online) maxima and sums of exp for
    student and teacher together (per vector lane, rescaled once per chunk of
    the row, so the exps stay one per element and vectorize), the weighted
    sum for the KL term and, with a hard-label term at T != 1, the statistics
    at T = 1. The loss is then a per-row combination; the gradient a second
    pass over the row writing `softmax(s/T) - softmax(t/T)` (and the
    cross-entropy gradient) directly. A kd_loss and a kd_loss_grad of the
    same operands (a training step) become one kernel sharing the statistics
    pass. Nothing of the size of the logits is allocated:
    `docs/distillation.md` has the math. Ops it does not handle
    (other element types) are left for `--ube-lower-to-linalg`.
  }];
  let options = [
    Option<"vectorWidth", "vector-width", "int64_t", "8",
           "f32 lanes per vector (8: AVX2, 16: AVX-512)">,
    Option<"chunkSize", "chunk-size", "int64_t", "512",
           "Elements per chunk of a row between two rescalings (a multiple of the width)">
  ];
  let dependentDialects = ["::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect",
                           "::mlir::tensor::TensorDialect", "::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect"];
}

def UbeCpuFeatureMapKernels : Pass<"ube-cpu-feature-map-kernels", "::mlir::func::FuncOp"> {
  let summary = "Lowers feature_map_loss and its gradient to one fused kernel over blocks of tokens for CPUs";
  let description = [{
    Replaces `ube.feature_map_loss` and `ube.feature_map_loss_grad` on
    static f32 operands (with or without a projection) with an `scf.forall`
    over groups of tokens (at most `max-tasks` tasks) that walks its tokens
    a block of R rows at a time, R·Dt at most `block-elements` (at least
    `tile-rows` rows). Per block: the projection `P = h_s·W` into the
    task's tile by register tiles (`tile-rows` × `panel-width`) over W's
    packed panels; per row, the means and centered variances of P and h_t
    and the sums of `d = LN(P) − LN(h_t)`, `d²` and `d·LN(P)` (sweeps over
    the row while it is in L1), the row's loss terms and, with a gradient,
    `dP` written over P; then `d h_s = dP·Wᵀ` straight into the result and
    the task's share of `d W += h_sᵀ·dP`. The projected features of all
    tokens never exist, only a tile's per task. A loss and its gradient of
    the same operands (a training step) become one kernel. The tasks' loss
    sums and shares of `d W` are added in task order, so results do not
    depend on the thread count. Ops it does not handle (other element
    types, dynamic shapes) are left for the chunked expansion and the
    linalg lowering.
  }];
  let options = [
    Option<"vectorWidth", "vector-width", "int64_t", "8",
           "f32 lanes per vector (8: AVX2, 16: AVX-512)">,
    Option<"tileRows", "tile-rows", "int64_t", "6", "Rows of a register tile (MR)">,
    Option<"panelWidth", "panel-width", "int64_t", "16",
           "Columns of a register tile and a packed panel (NR, a multiple of the width)">,
    Option<"blockElements", "block-elements", "int64_t", "65536",
           "Elements of a task's tile of projected features at most (R·Dt)">,
    Option<"maxTasks", "max-tasks", "int64_t", "4",
           "Parallel tasks at most (each holds a tile and, with a gradient, a share of d W)">
  ];
  let dependentDialects = ["::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect",
                           "::mlir::tensor::TensorDialect", "::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect"];
}

def UbeCpuRowKernels : Pass<"ube-cpu-row-kernels", "::mlir::func::FuncOp"> {
  let summary = "Lowers softmax, log_softmax, layer_norm and rms_norm over the last axis to vectorized row kernels for CPUs";
  let description = [{
    Replaces `ube.softmax`, `ube.log_softmax`, `ube.layer_norm` and
    `ube.rms_norm` over the last axis of static f32 tensors with an
    `scf.forall` over groups of rows (tasks for the thread pool, each at
    least `task-elements` elements) whose rows take two passes, one vector of
    `vector-width` lanes at a time: a statistics pass (softmax: the lane
    maxima, then the sum of exp(x − max); layer_norm: the mean, then the
    centered sum of squares, both exact two-step formulas on the row while it
    is in L1; rms_norm: the sum of squares) and an output pass that writes
    the result (times the weight, plus the bias) directly. The ragged
    end of a row is one masked step. Ops it does not handle (other element
    types, other axes) are left for `--ube-lower-to-linalg`.
  }];
  let options = [
    Option<"vectorWidth", "vector-width", "int64_t", "8",
           "f32 lanes per vector (8: AVX2, 16: AVX-512)">,
    Option<"taskElements", "task-elements", "int64_t", "8192",
           "Elements a parallel task covers at least (whole rows)">,
    Option<"layerNorm", "layer-norm", "bool", "true",
           "Also take layer_norm and rms_norm (false: leave them to the linalg lowering)">
  ];
  let dependentDialects = ["::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect",
                           "::mlir::tensor::TensorDialect", "::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect"];
}

def UbeCpuMatmulKernels : Pass<"ube-cpu-matmul-kernels", "::mlir::func::FuncOp"> {
  let summary = "Lowers f32 matmuls to packed, register-tiled, vectorized loop nests for CPUs";
  let description = [{
    Replaces `ube.matmul` on static f32 operands (any batch broadcasting and
    transposes) with Goto's algorithm on tensors: the right-hand side is
    packed into k-major panels `panel-width` columns wide (at compile time
    when it is a constant, as weights are; else by parallel tasks), then an
    `scf.forall` over (batch, row group) runs, per task, K blocks of
    `k-block`, panels, and micro-tiles of `tile-rows` × `panel-width` whose
    accumulators stay in vector registers (broadcast lhs × panel vector
    FMAs). Tasks own disjoint rows and sum every element in the same order,
    so results do not depend on how tasks are spread over threads. Other
    matmuls are left for `--ube-lower-to-linalg`.
  }];
  let options = [
    Option<"vectorWidth", "vector-width", "int64_t", "8",
           "f32 lanes per vector (8: AVX2, 16: AVX-512)">,
    Option<"tileRows", "tile-rows", "int64_t", "6", "Rows of a micro-tile (MR)">,
    Option<"panelWidth", "panel-width", "int64_t", "16",
           "Columns of a micro-tile and a packed panel (NR, a multiple of the width)">,
    Option<"kBlock", "k-block", "int64_t", "256", "k extent of one pass over a panel (KC)">,
    Option<"tilesPerTask", "tiles-per-task", "int64_t", "8",
           "Micro-tiles per parallel task (rows per task = tiles × tile-rows)">
  ];
  let dependentDialects = ["::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect",
                           "::mlir::tensor::TensorDialect", "::mlir::arith::ArithDialect"];
}

def UbeParallelizeLinalg : Pass<"ube-parallelize-linalg", "::mlir::func::FuncOp"> {
  let summary = "Tiles top-level linalg ops on tensors into scf.forall tasks";
  let description = [{
    Each linalg op at the top level of a function, on tensors, with static
    loop ranges and at least `min-work` iterations, is tiled along its
    leading parallel loops into an `scf.forall`: tile size 1 while the task
    count stays within `max-tasks`, then one split of the next parallel loop,
    until there are `min-tasks` tasks. Reduction loops are never split, so
    results do not depend on how the tasks are spread over threads.
  }];
  let options = [
    Option<"minWork", "min-work", "int64_t", "16384",
           "Iterations below which an op stays whole">,
    Option<"minTasks", "min-tasks", "int64_t", "16", "Tasks to reach before stopping">,
    Option<"maxTasks", "max-tasks", "int64_t", "256", "Most tasks of one op">
  ];
  let dependentDialects = ["::mlir::scf::SCFDialect", "::mlir::tensor::TensorDialect",
                           "::mlir::arith::ArithDialect", "::mlir::affine::AffineDialect"];
}

def UbeOutlineParallelLoops : Pass<"ube-outline-parallel-loops", "::mlir::ModuleOp"> {
  let summary = "Outlines outermost bufferized scf.forall loops into tasks for a thread pool";
  let description = [{
    Each outermost `scf.forall` without results and with static bounds
    becomes a private task function `(begin, end, captures...)` running
    iterations [begin, end) of the flattened (row-major) iteration space,
    and a call of a dispatch function declared with
    `ube.parallel_task = "<task>"`, which `--ube-emit-parallel-dispatch`
    defines. Captured values must be memrefs with a static shape and the
    identity layout, strided views of a static shape (passed as their base
    buffer, dynamic offset and strides, and rebuilt in the task with
    `memref.reinterpret_cast`), or scalars of at most 64 bits; constants are
    cloned. Loops that capture anything else are left as they are.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect", "::mlir::scf::SCFDialect",
                           "::mlir::arith::ArithDialect", "::mlir::LLVM::LLVMDialect",
                           "::mlir::memref::MemRefDialect"];
}

def UbeEmitParallelDispatch : Pass<"ube-emit-parallel-dispatch", "::mlir::ModuleOp"> {
  let summary = "Defines the dispatch functions of outlined parallel loops in the LLVM dialect";
  let description = [{
    For each external `llvm.func` marked `ube.parallel_task = "T"`: defines
    it to store its captures in 8-byte stack slots and call the runtime's
    thread pool through the exported pointer `ube_host_parallel_for` as
    `pool(T_slots, slots, count)` (or `T_slots(slots, 0, count)` when the
    pointer is null), where `T_slots(slots, begin, end)` loads the captures
    and calls `T(begin, end, captures...)`. Adds the pointer, null-initialized.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def UbePlanMemory : Pass<"ube-plan-memory", "::mlir::ModuleOp"> {
  let summary = "Places a public function's temporary buffers in one arena by liveness";
  let description = [{
    After bufferization: each top-level `memref.alloc` of a public function
    (static shape, identity layout) lives from its allocation to the last
    top-level op using it or a view of it; one at the top level of a task
    (a top-level `scf.forall` with static bounds) is a buffer of one
    64-byte-aligned slot per iteration, live while the forall runs, each
    iteration viewing its own slot. Buffers are placed largest first
    at the lowest 64-byte-aligned offset clear of placed buffers that are
    live at the same time, so buffers with disjoint lifetimes share bytes.
    The function gains a trailing `memref<Nxi8>` argument (the arena, which
    the runtime allocates once and reuses) and the attribute
    `ube.arena_bytes = N`; allocations become `memref.view`s of the arena
    and their deallocations are removed. With `print`, the plan (offset,
    size, live range, type (`xN tasks` for per-task slots) and location of
    every buffer; arena size against the sum of the buffers) is written to
    standard output.
  }];
  let options = [
    Option<"print", "print", "bool", "false", "Print the plan to standard output">
  ];
  let dependentDialects = ["::mlir::memref::MemRefDialect", "::mlir::arith::ArithDialect"];
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
    runtime accepts exactly these aliases.
  }];
}

def UbeLowerStridedCopies : Pass<"ube-lower-strided-copies", "::mlir::func::FuncOp"> {
  let summary = "Turns memref.copy between non-contiguous buffers into linalg.copy";
  let description = [{
    `finalize-memref-to-llvm` lowers a copy between contiguous buffers to
    `llvm.memcpy` but a strided one to a call of `memrefCopy` from MLIR's C
    runner library, which executables do not link. As `linalg.copy`, such a
    copy becomes loops like any other structured op.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def UbeGpuMatmulKernels : Pass<"ube-gpu-matmul-kernels", "::mlir::func::FuncOp"> {
  let summary = "Lowers bufferized f32 contractions to shared-memory tiled GPU kernels";
  let description = [{
    Every bufferized `linalg.generic` that is an f32 contraction (loops that
    are batch, m, n or one reduction k, operands indexed by loop dimensions
    or constants, body `out + f(lhs) * g(rhs)` with `f` and `g` computed from
    one operand each) becomes a `gpu.launch`: blocks of `tile` x `tile`
    outputs (grid x over n, y over m, z over the batch), one thread per 8 x 8
    micro-tile of register accumulators, 8-deep k slices of both operands
    staged in two k-major workgroup buffers (coalesced global reads along the
    operand's contiguous dimension, 16-byte vector reads from shared memory),
    `f` and `g` applied as the slices are staged, `gpu.barrier` around each
    slice. Edges read zeros and skip their stores. The large tile is used
    when it still gives `min-large-tile-blocks` blocks, else the small one.
  }];
  let options = [
    Option<"largeTile", "large-tile", "int64_t", "128",
           "Output tile of a block for large contractions (a multiple of 32)">,
    Option<"smallTile", "small-tile", "int64_t", "64",
           "Output tile of a block for small contractions (a multiple of 32)">,
    Option<"minLargeTileBlocks", "min-large-tile-blocks", "int64_t", "128",
           "Fewest blocks for which the large tile is used">
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect", "::mlir::scf::SCFDialect",
                           "::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
                           "::mlir::vector::VectorDialect", "::mlir::memref::MemRefDialect"];
}

def UbeDuplicateElementwiseProducers : Pass<"ube-duplicate-elementwise-producers",
                                             "::mlir::func::FuncOp"> {
  let summary = "Gives each user of a multi-use elementwise linalg.generic its own copy";
  let description = [{
    For bandwidth-bound targets (cuda), before `linalg-fuse-elementwise-ops`:
    an elementwise `linalg.generic` on tensors (parallel loops, projected
    permutation maps, one result, at most `max-ops` ops in its body) whose
    result several `linalg.generic` ops read, each through a permutation map,
    is cloned once per further user, so the fusion folds the computation into
    every user (recomputed there) instead of writing it out and reading it
    back. Producers read through broadcasting maps are left alone: fusing
    those would recompute an element many times.
  }];
  let options = [
    Option<"maxOps", "max-ops", "int64_t", "16", "Largest producer body duplicated">
  ];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def UbeMapToGpuLaunches : Pass<"ube-map-to-gpu-launches", "::mlir::func::FuncOp"> {
  let summary = "Wraps each top-level loop nest of a bufferized function in a gpu.launch";
  let description = [{
    After `convert-linalg-to-parallel-loops`: each top-level `scf.parallel`
    becomes a `gpu.launch` with one thread per iteration (the iteration
    space linearized, 256 threads per block, guarded when not a multiple),
    and any other top-level op that touches memory (a sequential `scf.for`
    reduction, a scalar store) a single-thread launch. A row reduction (a
    parallel loop around one sequential loop accumulating with addf or
    maximumf) over rows of at least block-size elements gets one block per
    row: threads stride over the row and combine with `gpu.all_reduce`. Scalar values the
    kernels use (loads and arithmetic on them) are recomputed inside, so the
    host side is left with allocations, views, copies and launches only.
  }];
  let options = [
    Option<"blockSize", "block-size", "int64_t", "256", "Threads per block">
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect", "::mlir::scf::SCFDialect",
                           "::mlir::arith::ArithDialect"];
}

def UbeReductionLoopsInnermost : Pass<"ube-reduction-loops-innermost",
                                       "::mlir::func::FuncOp"> {
  let summary = "Orders each linalg.generic's loops parallel first, reductions last";
  let description = [{
    For targets that map the outer parallel loops to threads (cuda): a
    contraction lowered with its reduction between parallel loops (the CPU
    order, innermost loop walking the rhs contiguously) would otherwise leave
    most of its iteration space serial inside each thread.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def UbeAlignWorkgroupMemory : Pass<"ube-align-workgroup-memory", "::mlir::gpu::GPUModuleOp"> {
  let summary = "Aligns every workgroup (shared-memory) buffer of outlined kernels";
  let description = [{
    Sets `llvm.align` on each workgroup attribution of a `gpu.func` whose
    alignment is below `alignment`, so 16-byte vector loads from shared
    memory (the tiled contractions) are legal; `convert-gpu-to-nvvm` puts it
    on the buffer's global.
  }];
  let options = [
    Option<"alignment", "alignment", "int64_t", "16", "Byte alignment (a power of two)">
  ];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def UbeLowerGpuAllReduce : Pass<"ube-lower-gpu-all-reduce", "::mlir::gpu::GPUModuleOp"> {
  let summary = "Lowers gpu.all_reduce to warp shuffles and shared memory";
  let description = [{
    Runs MLIR's all-reduce rewrite on outlined kernels (it needs the
    kernel's static block size), before `convert-gpu-to-nvvm`.
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect", "::mlir::cf::ControlFlowDialect",
                           "::mlir::memref::MemRefDialect"];
}

#endif // UBE_PASSES_TD
