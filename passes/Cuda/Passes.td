//===- Passes.td - the cuda target's codegen passes ------------*- tablegen -*-===//

#ifndef UBE_PASSES_CUDA_PASSES_TD
#define UBE_PASSES_CUDA_PASSES_TD

include "mlir/Pass/PassBase.td"

def UbeCudaDuplicateElementwiseProducers : Pass<"ube-cuda-duplicate-elementwise-producers",
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

def UbeCudaReductionLoopsInnermost : Pass<"ube-cuda-reduction-loops-innermost",
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

def UbeCudaCollapseContractionDims : Pass<"ube-cuda-collapse-contraction-dims",
                                          "::mlir::func::FuncOp"> {
  let summary = "Folds adjacent loops of a contraction into one, so it has one k loop";
  let description = [{
    On tensors, after `ube-cuda-reduction-loops-innermost`: in a
    `linalg.generic` with two inputs and a reduction loop, each run of
    adjacent loops of one iterator type that every indexing map keeps
    together (the dimensions appear consecutively, in order, or not at all)
    becomes one loop, the operands collapsed and the result expanded back
    (views once bufferized). A projection over heads x head size or a weight
    gradient summed over batch x tokens then has one k loop, which
    `ube-cuda-matmul-kernels` takes.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect", "::mlir::tensor::TensorDialect"];
}

def UbeCudaRowKernels : Pass<"ube-cuda-row-kernels", "::mlir::func::FuncOp"> {
  let summary = "Lowers softmax, log_softmax, layer_norm and rms_norm over the last axis to one-pass row programs for GPUs";
  let description = [{
    Replaces `ube.softmax`, `ube.log_softmax`, `ube.layer_norm` and
    `ube.rms_norm` over the last axis of f32 tensors with an
    `scf.forall` over rows whose body is a short program of scalar loops
    over the row: the statistics (maximum and sum of exp(x − max); mean and
    centered sum of squares; sum of squares), each a loop carrying one sum
    or maximum, then a loop writing the outputs (times the weight, plus the
    bias). `--ube-cuda-map-to-launches` runs such a row as one block: each
    loop strided over the threads, each statistic combined across the block,
    so the row is read from memory once rather than by three kernels. The
    number of rows and their length may be symbolic sizes (read with
    `tensor.dim`). Ops it does not handle (other element types, other axes)
    are left for `--ube-lower-to-linalg`.
  }];
  let dependentDialects = ["::mlir::scf::SCFDialect", "::mlir::tensor::TensorDialect",
                           "::mlir::math::MathDialect", "::mlir::arith::ArithDialect"];
}

def UbeCudaMatmulKernels : Pass<"ube-cuda-matmul-kernels", "::mlir::func::FuncOp"> {
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
    Loop sizes may be symbolic: the grid is then computed on the host from
    the operands' sizes, the small tile is used, and every edge is guarded
    against the sizes the kernel reads from its operands.
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

def UbeCudaMapToLaunches : Pass<"ube-cuda-map-to-launches", "::mlir::func::FuncOp"> {
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
    Loop ends may be symbolic sizes (starts and steps must be constants):
    trip counts and grids are then computed on the host (`memref.dim` and
    index arithmetic, which the launch plan turns into expressions of the
    symbols), blocks are `block-size` threads, every thread checks its id
    against the count, and rows of symbolic length run to it.
  }];
  let options = [
    Option<"blockSize", "block-size", "int64_t", "256", "Threads per block">
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect", "::mlir::scf::SCFDialect",
                           "::mlir::arith::ArithDialect"];
}

def UbeCudaAlignWorkgroupMemory : Pass<"ube-cuda-align-workgroup-memory", "::mlir::gpu::GPUModuleOp"> {
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

def UbeCudaLowerAllReduce : Pass<"ube-cuda-lower-all-reduce", "::mlir::gpu::GPUModuleOp"> {
  let summary = "Lowers gpu.all_reduce to warp shuffles and shared memory";
  let description = [{
    Runs MLIR's all-reduce rewrite on outlined kernels (it needs the
    kernel's static block size), before `convert-gpu-to-nvvm`.
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect", "::mlir::cf::ControlFlowDialect",
                           "::mlir::memref::MemRefDialect"];
}

#endif // UBE_PASSES_CUDA_PASSES_TD
