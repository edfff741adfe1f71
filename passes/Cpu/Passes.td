//===- Passes.td - the cpu target's codegen passes -------------*- tablegen -*-===//

#ifndef UBE_PASSES_CPU_PASSES_TD
#define UBE_PASSES_CPU_PASSES_TD

include "mlir/Pass/PassBase.td"

def UbeCpuAttentionKernels : Pass<"ube-cpu-attention-kernels", "::mlir::func::FuncOp"> {
  let summary = "Flash-style CPU kernels for scaled_dot_product_attention and its gradient";
  let description = [{
    Replaces `ube.scaled_dot_product_attention` on f32 operands without
    dropout with an `scf.forall` over (batch matrix, group of query rows)
    whose task walks its rows `tile-rows` at a time and, per tile, the keys
    `key-block` at a time (a runtime count: any number of queries and keys,
    symbolic ones included; under `is_causal` only up to the tile's last
    row): the block's scores in vector registers (E broadcast-FMAs per
    vector, from the matrix's keys transposed once per task), the mask's
    bias added, then the running maximum, the lane-wise sums of
    exponentials and the output rows rescaled and accumulated as
    `p·V`. No tensor of scores exists. Rows with no key (every score masked)
    give zeros, as in the decomposition. Grouped heads, batch broadcasting
    of keys and values, boolean and float masks that broadcast dimension by
    dimension are taken; other ops (16-bit floats, symbolic head sizes)
    are left to `--ube-decompose`. Dropout draws each probability's keep
    factor in the kernel, Philox of its index in `[..., L, S]` as
    `ube.dropout` would, a vector at a time: it weighs the values, not the
    normalizing sums. Tasks write disjoint rows and sum in one order, so
    results do not depend on the thread count.

    `ube.scaled_dot_product_attention_grad` on the same operands becomes
    the backward kernel (FlashAttention-2's order): one task per query
    matrix, which transposes the keys and the values into panels, takes
    each row's log-sum-exp (from the forward kernel, which then writes them
    beside its output, or recomputed) and rowsum(g ⊙ O), then walks the
    keys a block at a time and, per block, the query rows a tile at a time
    from the first that sees it: P (and the dropout's factors Z)
    recomputed, dP = Z ⊙ g·Vᵀ and dS in vector registers, the block's dK
    and dV rows accumulated in scratch and the tile's dQ rows in
    registers. No tensor of scores exists. dK and dV are
    computed per query matrix and summed over grouped or broadcast heads
    and batch dimensions after it.

    `ube.attention_transfer_loss` becomes a kernel of one task per (batch,
    head) that walks both sides' scores in the same tiles and blocks and
    sums its rows' KL(teacher ‖ student); the sums are added in order. Its
    gradient is the backward kernel with the teacher's probabilities in
    place of the values (dS = w·(P_student − P_teacher)); with the loss in
    the same function, the loss kernel writes both sides' log-sum-exps for
    it.
  }];
  let options = [
    Option<"vectorWidth", "vector-width", "int64_t", "8",
           "f32 lanes per vector (8: AVX2, 16: AVX-512)">,
    Option<"tileRows", "tile-rows", "int64_t", "4", "Query rows of a tile (R)">,
    Option<"keyBlock", "key-block", "int64_t", "16",
           "Keys of a block (C, a multiple of the width)">,
    Option<"minTasks", "min-tasks", "int64_t", "16",
           "Tasks to reach by splitting a matrix's rows when there are fewer matrices">
  ];
  let dependentDialects = ["::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect",
                           "::mlir::tensor::TensorDialect", "::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect"];
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
    `docs/distillation.md` has the math. The row count may be symbolic (the
    tokens of a batch of any length; the vocabulary static): the row loop
    then runs to it at run time. Ops it does not handle (other element
    types, a symbolic vocabulary) are left for `--ube-lower-to-linalg`.
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

def UbeCpuDepthwiseKernels : Pass<"ube-cpu-depthwise-kernels", "::mlir::func::FuncOp"> {
  let summary = "Lowers depthwise convolutions to vectorized plane kernels for CPUs";
  let description = [{
    Replaces `ube.conv` of f32 with one input and one output channel per
    group (1-D or 2-D, any kernel, padding and dilation, strides up to 4)
    with an `scf.forall` over groups of planes, one plane per (batch,
    channel), each task at least `task-elements` output elements (and
    fewer, larger tasks for large planes: the tasks' padded planes take at
    most 32 MiB together). A task
    zero-fills a padded plane once and copies each input plane into its
    interior, one vector at a time, so that every tap reads it from L1
    without a bounds check. The output is computed in tiles of rows ×
    vectors of `vector-width` lanes held in registers: for each kernel row
    and column, the tap's weight broadcast times the lanes each output
    vector reads (at stride s, s · lanes consecutive columns of which a
    shuffle keeps every s-th), plus the bias. A row's last vector ends at
    the row's end, overlapping the one before it, and a tile's rows past
    the plane's repeat its last, so only rows narrower than a vector are
    masked. A chain of float ops after the convolution whose other operands
    are splat constants (MobileNet's ReLU6) runs on the output vectors
    before they are stored. The batch may be symbolic.

    Also replaces the `ube.conv_weight_grad` of such convolutions (which
    `--ube-decompose=keep-depthwise-weight-grads` leaves): one task per
    group of channels; per channel and image the input plane in the task's
    padded plane, each output-gradient vector times every tap's input
    lanes accumulated in one vector per tap (a group of kernel rows at a
    time, at most 16 accumulators; a row's ragged end masked), the lanes
    summed at the end: dW[c, tap] without patches or per-channel matmuls.
    Other convolutions, and other element types, are left to the later
    passes.
  }];
  let options = [
    Option<"vectorWidth", "vector-width", "int64_t", "8",
           "f32 lanes per vector (8: AVX2, 16: AVX-512)">,
    Option<"taskElements", "task-elements", "int64_t", "8192",
           "Output elements a parallel task covers at least (whole planes)">
  ];
  let dependentDialects = ["::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect",
                           "::mlir::tensor::TensorDialect", "::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect", "::mlir::linalg::LinalgDialect"];
}

def UbeCpuRowKernels : Pass<"ube-cpu-row-kernels", "::mlir::func::FuncOp"> {
  let summary = "Lowers softmax, log_softmax, layer_norm and rms_norm over the last axis to vectorized row kernels for CPUs";
  let description = [{
    Replaces `ube.softmax`, `ube.log_softmax`, `ube.layer_norm` and
    `ube.rms_norm` over the last axis of f32 tensors with an
    `scf.forall` over groups of rows (tasks for the thread pool, each at
    least `task-elements` elements) whose rows take two passes, one vector of
    `vector-width` lanes at a time: a statistics pass (softmax: the lane
    maxima, then the sum of exp(x − max); layer_norm: the mean, then the
    centered sum of squares, both exact two-step formulas on the row while it
    is in L1; rms_norm: the sum of squares) and an output pass that writes
    the result (times the weight, plus the bias) directly. The ragged
    end of a row is one masked step. Symbolic row counts and lengths take
    the same code, with the task split and the row walk computed at run
    time (the masked step where the length leaves one). Ops it does not
    handle (other element types, other axes) are left for
    `--ube-lower-to-linalg`.
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
    Replaces `ube.matmul` on f32 operands (any batch broadcasting and
    transposes) with Goto's algorithm on tensors: the right-hand side is
    packed into k-major panels `panel-width` columns wide (at compile time
    when it is a constant, as weights are; else by parallel tasks; an
    `ube.im2col`'s straight from its input, and at stride 1 with at most
    two row groups by each task into an L1 scratch panel as it uses it),
    then an
    `scf.forall` over (batch, column group, row group) runs, per task, K
    blocks of at most `k-block` (split evenly), panels, and micro-tiles of
    `tile-rows` × `panel-width` whose accumulators stay in vector registers
    (broadcast lhs × panel vector FMAs; each k prefetches a packed panel's
    row about 3 KiB ahead, which the hardware prefetchers of Intel cores
    bring too late; each micro-tile first prefetches for writing the lines
    its result goes to). Row groups are about
    `tiles-per-task` micro-tiles; columns are split into groups whose packed
    panels take at most `panel-group-bytes` where at least 4 panels fit in
    it (the consecutive tasks of a column group find them in L2), when a
    product has fewer
    than `min-tasks` (batch × row groups), or few row groups and many panels.
    Where 4 whole panels do not fit in `panel-group-bytes` but 4 of one K
    block's rows of them do (a static K of several blocks: 3072, 4096 with
    a 2 MiB L2), each K block is an `scf.forall` of its own inside an
    `scf.for` over the blocks, its column groups sized by the block.
    When lhs is deep (a static K of 512 or more, 256 or more static rows),
    transposed, or its rows
    would outnumber the ways of one L1 set (more than `l1-ways` rows whose
    stride is a multiple of `l1-way-span`, the L1's size over its ways),
    and the product has at least 256 columns, lhs is first packed too, into
    k-major panels of `tile-rows` rows. Tasks own
    disjoint blocks and sum every element in the same order, so results do
    not depend on how tasks are spread over threads. Symbolic sizes take
    the same code with the sizes as index values: the task split is
    computed at run time, the ragged last panel masks its vectors by the
    columns left, and the rows left past the full micro-tiles are one
    micro-tile of exactly their count, chosen at run time
    (`scf.index_switch`). A product [N, O, P] of a weight shared by the
    images and a symbolic P (a convolution's over symbolic planes: its
    patches, or a pointwise one's planes) puts G = max(1, min(N, ⌈T /
    P⌉)) images side by side (T = 128 for patches, 256 for planes), chosen
    at run time: where P < T one set of tasks runs over groups of G images
    (their rows split further, down to 4 micro-tiles, where that leaves
    fewer than `min-tasks`), each computing its rows of the group's
    [O, G·P] product in a scratch matrix, its panels read across the images
    (two masked runs where a panel of planes spans two, else gathered), and
    copying each image's columns to its place; otherwise the per-image set.
    Such a product is not split into K-block task sets, takes no
    accumulator, and its epilogue may only read operands by row. A chain
    of elementwise float ops that alone
    consume the product (a bias, an activation, a residual: operands that
    broadcast to it) runs on the accumulators after the last K block, also
    past a reshape that splits the product's last dimension (a 1×1
    convolution's [N, C, H·W] as [N, C, H, W]), its operands then read in
    the product's shape; a product added to a tensor of its type starts
    from it. Other matmuls (other element types, a static size 0) are left
    for `--ube-lower-to-linalg`.
  }];
  let options = [
    Option<"vectorWidth", "vector-width", "int64_t", "8",
           "f32 lanes per vector (8: AVX2, 16: AVX-512)">,
    Option<"tileRows", "tile-rows", "int64_t", "6", "Rows of a micro-tile (MR)">,
    Option<"panelWidth", "panel-width", "int64_t", "16",
           "Columns of a micro-tile and a packed panel (NR, a multiple of the width)">,
    Option<"kBlock", "k-block", "int64_t", "256", "k extent of one pass over a panel (KC)">,
    Option<"l1WaySpan", "l1-way-span", "int64_t", "4096",
           "Bytes of one way of the L1 data cache (its size over its ways)">,
    Option<"l1Ways", "l1-ways", "int64_t", "8", "Ways of the L1 data cache">,
    Option<"tilesPerTask", "tiles-per-task", "int64_t", "8",
           "Micro-tiles per parallel task (rows per task = tiles × tile-rows)">,
    Option<"minTasks", "min-tasks", "int64_t", "32",
           "Tasks a product is split into at least where its columns allow (fewer "
           "batch × row groups split the columns too)">,
    Option<"panelGroupBytes", "panel-group-bytes", "int64_t", "1048576",
           "Bytes of packed panels (over all of K, or over one K block when each is a "
           "set of tasks) one column group of tasks reads at most: half the L2, where "
           "its tasks, consecutive, find them">
  ];
  let dependentDialects = ["::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect",
                           "::mlir::tensor::TensorDialect", "::mlir::arith::ArithDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::bufferization::BufferizationDialect"];
}

def UbeCpuParallelizeLinalg : Pass<"ube-cpu-parallelize-linalg", "::mlir::func::FuncOp"> {
  let summary = "Tiles top-level linalg ops on tensors into scf.forall tasks";
  let description = [{
    Each linalg op at the top level of a function, on tensors, with at
    least `min-work` iterations, is tiled along its parallel loops,
    outermost first, into an `scf.forall`: tile size 1 while the task count
    stays within `max-tasks`, then one split of the next parallel loop,
    until there are `min-tasks` tasks. Reduction loops are never split (a
    parallel loop inside one is tiled past it: per-channel sums over
    `[N, C, H, W]` become tasks of channels), so results do not depend on
    how the tasks are spread over threads. With symbolic loop
    ranges the same decisions are made at run time: the tile sizes are
    index values computed before the op. An elementwise `linalg.generic`
    with symbolic ranges first has its trailing loops collapsed into one
    where every operand reads them contiguously or not at all (`[N, C, H,
    W]` with per-channel operands: `[N, C, H·W]`, the operands' unit
    dimensions read at 0 dropped), so that the loop LLVM vectorizes is a
    whole plane rather than a row of a width known only at run time. A
    result the function returns keeps its loops (the reshape back would be
    copied into the output buffer).
  }];
  let options = [
    Option<"minWork", "min-work", "int64_t", "16384",
           "Iterations below which an op stays whole">,
    Option<"minTasks", "min-tasks", "int64_t", "32", "Tasks to reach before stopping">,
    Option<"maxTasks", "max-tasks", "int64_t", "256", "Most tasks of one op">
  ];
  let dependentDialects = ["::mlir::scf::SCFDialect", "::mlir::tensor::TensorDialect",
                           "::mlir::arith::ArithDialect", "::mlir::affine::AffineDialect"];
}

def UbeCpuPlanMemory : Pass<"ube-cpu-plan-memory", "::mlir::ModuleOp"> {
  let summary = "Places each function's temporary buffers in one arena by liveness";
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
    and their deallocations are removed. Private functions (kernels,
    `--ube-outline-kernels`) are planned first, the same way; each call of
    one then allocates its arena, live during the call, which the caller's
    plan places among its own buffers: a kernel's scratch lives in the arena
    of the entry point calling it; a kernel's buffers of symbolic size
    (sizes computed from its arguments) become arguments, allocated at each
    call with their sizes computed there. A task's buffer of symbolic size
    (or any buffer of a task whose count is symbolic) becomes one
    allocation before the task, a slot per iteration. A public function
    with `ube.symbols` also places its top-level allocations of symbolic
    shape whose sizes grow with the symbols, above the static buffers, with
    the sizes and offsets computed at the function's start from the
    symbols' sizes (a `memref.dim` of an allocation or a reshape of one is
    read as the size it is). Their order is a static plan at the symbols'
    maxima (largest first, each at the lowest offset clear of those live
    with it; a symbol without a `max` counts as 512 there); at a call each
    one sits at the highest end among the buffers below it in that plan
    live at the same time (less those another of them lies on), so the
    plan keeps its order at every size, as tight as a static plan where the
    sizes scale together. Its arena then comes as a rank-0 `memref<i8>` (a
    pointer), viewed at the size computed there; `ube.arena_exprs` gives
    that size as expressions of
    the symbols (the manifest's `arena_exprs`, which the runtime evaluates
    at each call), and `ube.arena_bytes`, only when every symbol has a
    `max`, a bound on the plan's size over the symbols' ranges (each size
    bounded by interval arithmetic from the symbols' `min` and `max`, so a
    size that does not grow with them, a "same" padding's `n + max(0, 3 -
    ((n - 1) % 2 + 1))`, is planned too). With `print`, the plan (offset,
    size, live range, type (`xN tasks` for per-task slots) and location of
    every buffer; arena size against the sum of the buffers) is written to
    standard output.
  }];
  let options = [
    Option<"print", "print", "bool", "false", "Print the plan to standard output">
  ];
  let dependentDialects = ["::mlir::memref::MemRefDialect", "::mlir::arith::ArithDialect"];
}

def UbeCpuSpecializeInPlaceKernels
    : Pass<"ube-cpu-specialize-in-place-kernels", "::mlir::ModuleOp"> {
  let summary = "Kernels of updates in place read and write one argument when the caller "
                "passes one buffer";
  let description = [{
    After `--ube-cpu-plan-memory`: in a public function with
    `ube.in_place` pairs (`--ube-mark-in-place-updates`), a call that passes
    both the output buffer of a pair and its input (the arguments named
    alike, the output after the input) becomes `scf.if` on whether the two
    are the same buffer (their aligned pointers equal): then a copy of the
    callee, `<callee>_in_place`, in which the input's argument is dropped
    and read from the output's; else the call as it was. One copy is made
    per callee and set of merged arguments. Why: with two pointer
    arguments that may overlap, LLVM's loop vectorizer checks at run time
    that they do not and runs the scalar loop when they are the same, as an
    update in place's are.
  }];
  let dependentDialects = ["::mlir::scf::SCFDialect", "::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect"];
}

def UbeCpuOutlineParallelLoops : Pass<"ube-cpu-outline-parallel-loops", "::mlir::ModuleOp"> {
  let summary = "Outlines outermost bufferized scf.forall loops into tasks for a thread pool";
  let description = [{
    Each outermost `scf.forall` without results (of two or more iterations
    when its bounds are static) becomes a private task function `(begin, end, captures...)` running
    iterations [begin, end) of the flattened (row-major) iteration space,
    and a call of a dispatch function declared with
    `ube.parallel_task = "<task>"`, which `--ube-cpu-emit-parallel-dispatch`
    defines; dynamic bounds are captured, and the call computes the
    iteration count. Captured values must be memrefs with a static shape and
    the identity layout, other strided or identity memrefs (strided views,
    buffers of symbolic shape: passed as their base buffer and dynamic
    offset, sizes and strides, and rebuilt in the task with
    `memref.reinterpret_cast`), or scalars of at most 64 bits; constants are
    cloned. Loops that capture anything else are left as they are.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect", "::mlir::scf::SCFDialect",
                           "::mlir::arith::ArithDialect", "::mlir::LLVM::LLVMDialect",
                           "::mlir::memref::MemRefDialect"];
}

def UbeCpuEmitParallelDispatch : Pass<"ube-cpu-emit-parallel-dispatch", "::mlir::ModuleOp"> {
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

def UbeCpuSymbolicEntryPoints : Pass<"ube-cpu-symbolic-entry-points", "::mlir::ModuleOp"> {
  let summary = "Entry points and kernels with symbolic dimensions take bare buffers and sizes";
  let description = [{
    Runs on memrefs, before the bare-pointer calling convention, which
    needs static shapes. Each public function with `ube.symbols` takes each
    buffer of a symbolic shape as a rank-0 `memref<T>` (a bare pointer) and
    gains a last argument `memref<Kxi64>`: the sizes of its K symbols, in
    the order of `ube.symbols`. The body views each buffer with
    `memref.reinterpret_cast` as its dense row-major shape, its `?` sizes
    those of the symbols its `ube.dims` names. The runtime binds the
    symbols from the inputs' shapes, checks them, and passes their sizes.

    Each private function (a kernel of `--ube-outline-kernels`) takes each
    dense buffer of a symbolic shape as a rank-0 `memref<T>` followed by its
    `?` sizes as `index` arguments, and views it the same way; its calls
    pass the buffer's base (`memref.extract_strided_metadata`: a dense
    buffer starts at offset 0) and sizes. A kernel that returns such a
    buffer, or takes one with another layout, is an error.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::memref::MemRefDialect"];
}

def UbeCpuExpandBf16 : Pass<"ube-cpu-expand-bf16"> {
  let summary = "Converts f32 to and from bf16 with integer ops, for CPUs without bf16 instructions";
  let description = [{
    Arithmetic on bf16 computed in f32 (`arith.extf`, the op, `arith.truncf`),
    then `arith.truncf` to bf16 (round to nearest even, NaNs kept quiet) and
    `arith.extf` from bf16 (a shift) as bitcasts, shifts and adds on the
    f32 bits, scalars and vectors alike. LLVM would otherwise lower a
    truncation on a CPU without AVX512-BF16 or AVX-NE-CONVERT to a call of
    `__truncsfbf2`, a compiler-rt routine the executable's host code does
    not link. The cpu target runs it unless the target CPU has one of those.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def UbeCpuEmitEntryPoints : Pass<"ube-cpu-emit-entry-points", "::mlir::ModuleOp"> {
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

#endif // UBE_PASSES_CPU_PASSES_TD
