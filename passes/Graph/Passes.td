//===- Passes.td - graph-level rewrites on the ube dialect -----*- tablegen -*-===//

#ifndef UBE_PASSES_GRAPH_PASSES_TD
#define UBE_PASSES_GRAPH_PASSES_TD

include "mlir/Pass/PassBase.td"

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

def UbeFuseAttention : Pass<"ube-fuse-attention", "::mlir::func::FuncOp"> {
  let summary = "Rewrites attention spelled out in primitives into ube.scaled_dot_product_attention";
  let description = [{
    Recognizes `softmax(q · kᵀ · c + mask, -1) · v` (the transpose as the
    matmul's attribute or a transpose of the last two axes; `· c` or `/ c`
    with c a scalar constant, or neither; the float mask optional), as
    models written before `scaled_dot_product_attention` spell it, and
    rewrites it to `ube.scaled_dot_product_attention` with `scale = c`. The
    softmax must be over the last axis and used only by the product with
    v, and each step before it used only by the next: probabilities that
    something else reads (a distillation loss) stay as they are. A
    `ube.dropout` between the softmax and the product (training) becomes
    the op's `dropout_p`, with the dropout's seed and step: the same masks.
  }];
}

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
  let dependentDialects = ["::ube::UbeDialect", "::mlir::tensor::TensorDialect"];
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
    sweep as `--ube-autodiff`, or, with `gradients = array<i64: ...>` in
    place of `loss`, from those inputs (one per parameter, its type): an
    update step of gradients computed elsewhere, e.g. all-reduced across
    data-parallel workers. The updates are `ube.sgd_update` /
    `ube.adamw_update`, one elementwise kernel each.
  }];
  let dependentDialects = ["::ube::UbeDialect", "::mlir::tensor::TensorDialect"];
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
    `attention_transfer_loss` (unfused), and on static shapes the gradients
    of the window ops: `conv_input_grad` as stride-1 convolutions of the
    output gradient with the flipped, channel-exchanged weight (over the
    input's own positions; strided, one per phase, interleaved),
    `conv_weight_grad` as one matmul of the output gradient with the
    input's patches (2-D ungrouped: a `ube.im2col` with the batch's
    positions side by side, read transposed, which the cpu matmul kernels
    gather straight from the input; otherwise strided slices per tap), and
    the pooling gradients. What remains is lowered by
    `--ube-lower-to-linalg`. Numerically stable forms throughout: softmax
    subtracts the row maximum; masked scores use the most negative finite
    value, never -inf, so a fully masked row gives finite numbers. On
    symbolic (`?`) sizes, counts are taken at run time and the attention
    losses take all tokens as one block.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::tensor::TensorDialect"];
  let options = [
    Option<"keepNormalizations", "keep-normalizations", "bool", "false",
           "Leave softmax, log_softmax, layer_norm and rms_norm whole, for a target's row "
           "kernels (--ube-cpu-row-kernels); --ube-lower-to-linalg decomposes "
           "what they leave">,
    Option<"keepDepthwiseWeightGrads", "keep-depthwise-weight-grads", "bool", "false",
           "Leave conv_weight_grad of depthwise convolutions (one input and one output "
           "channel per group) whole, for a target's kernels "
           "(--ube-cpu-depthwise-kernels); --ube-lower-to-linalg decomposes what they leave">
  ];
}

def UbeLowerUnsigned : Pass<"ube-lower-unsigned", "::mlir::func::FuncOp"> {
  let summary = "Rewrites ops on unsigned integers (u8 ... u64) into ops on signless ones";
  let description = [{
    Every unsigned value becomes the signless integer of its width with the
    same bits, and what reads it keeps its unsigned meaning: ops whose bits do
    not depend on the sign (`add`, `sub`, `mul`, `neg`, sums, products,
    `matmul`, data movement, `where`, equality) change type only; order
    (`compare`, `maximum`, `minimum`, `reduce_max`, `reduce_min`, `argmax`,
    `argmin`, `topk`) is the signed op on values whose top bit is flipped,
    flipped back where a value comes out; `div`, `fmod` and `clamp` run on
    the values zero-extended to twice the width (u64 division is long
    division by halves in signed 64-bit ops; u64 `clamp` is refused); `cast`
    zero-extends (u64 to float through f64); `abs` and `relu` are the
    identity, `sign` is `x != 0`. Any other op on unsigned values is an
    error naming it. The function's signature becomes signless too; the
    compiler has described the entry points (u8 ... in the manifest) before
    this pass runs.
  }];
  let dependentDialects = ["::ube::UbeDialect"];
}

def UbeDepthwiseConvolutionsAsTaps : Pass<"ube-depthwise-convolutions-as-taps",
                                           "::mlir::func::FuncOp"> {
  let summary = "Rewrites depthwise convolutions into a sum over their window taps";
  let description = [{
    A `ube.conv` over static shapes with one input and one output channel
    per group (depthwise) and at most 64 taps becomes
    `Σ_t slice_t(padded input) · weight[:, t]` (each weight column viewed as
    `[C, 1, ...]`), plus the bias: elementwise ops that fuse into one loop
    over the output, vectorized along its last axis, each tap a strided
    view of the padded input. f16 and bf16 are summed in f32 and rounded
    once.
  }];
  let dependentDialects = ["::ube::UbeDialect"];
}

def UbeConvolutionsAsMatmuls : Pass<"ube-convolutions-as-matmuls", "::mlir::func::FuncOp"> {
  let summary = "Rewrites convolutions into patch gathering and a matmul (im2col)";
  let description = [{
    A `ube.conv` becomes a `ube.matmul` of its weight
    viewed as `[groups, O / groups, C / groups · K]` with the input's
    patches, then the bias added: the target's matmul kernels then do the
    arithmetic. A 1×1 convolution with stride 1 and no padding needs no
    patches: the input is the matmul's operand as it is. 2-D convolutions
    (and 1-D ones, as planes of height 1) take their patches as one
    `ube.im2col` of the padded input, which the cpu matmul kernels pack
    straight from the input (implicit im2col; no patch matrix is written):
    at stride 1 over the padded plane's full width (plus the rows the last
    taps run into), the product `[N, O, OH, Wp]` cropped to `OW` columns;
    strided, over the output's positions, the panels gathering their
    columns. Small planes (where one image's positions would leave a fifth
    or more of the 32-column panels empty, as a 4 × 4 output does) put the
    batch's positions side by side in one matrix (`batch_columns`), the
    product `[O, N · OH · OW]` transposed to `[N, O, OH, OW]`. 3-D
    convolutions gather their patches as K strided `ube.slice`s of the
    zero-padded input, concatenated. A symbolic batch is the matmul's (or
    the `ube.im2col`'s) batch, read at run time, and keeps each image's
    positions in a matrix of their own. On symbolic planes, 2-D (and 1-D)
    convolutions take a `ube.im2col` without a length, over the window's
    output positions counted at run time, whose panels the cpu kernels
    gather from the padded input; a pointwise one views the planes as
    `[N, C, H · W]`; 3-D ones and negative padding take strided slices
    sized at run time. Convolutions of more than 256 taps (each a copy of
    the input) and those with one output channel per group (depthwise: a
    one-row matmul) stay for the generic lowering.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::tensor::TensorDialect"];
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
    weight's gradient in place. A symbolic row count is one chunk.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::tensor::TensorDialect"];
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

#endif // UBE_PASSES_GRAPH_PASSES_TD
