// RUN: ube-opt %s --ube-fuse-distillation --canonicalize --split-input-file | FileCheck %s

// PyTorch's F.kl_div(F.log_softmax(s/T), F.softmax(t/T), reduction="batchmean") * T**2
// as ube.export writes it: the guarded terms summed, divided by the batch,
// times T². All of it is kd_loss with the default T² scaling.
// CHECK-LABEL: func.func @kl_div_batchmean
// CHECK-NEXT: %[[L:.*]] = ube.kd_loss %arg0, %arg1 {temperature = 2.000000e+00 : f64} : tensor<4x10xf32>, tensor<4x10xf32>
// CHECK-NEXT: return %[[L]]
func.func @kl_div_batchmean(%s: tensor<4x10xf32>, %t: tensor<4x10xf32>) -> tensor<f32> {
  %T = ube.constant dense<2.0> : tensor<f32>
  %xs = ube.div %s, %T : tensor<4x10xf32>, tensor<f32>
  %xt = ube.div %t, %T : tensor<4x10xf32>, tensor<f32>
  %lq = ube.log_softmax %xs {axis = -1} : tensor<4x10xf32>
  %p = ube.softmax %xt {axis = -1} : tensor<4x10xf32>
  %zero = ube.constant dense<0.0> : tensor<f32>
  %pos = ube.compare "gt", %p, %zero : tensor<4x10xf32>, tensor<f32>
  %logp = ube.log %p : tensor<4x10xf32>
  %d = ube.sub %logp, %lq : tensor<4x10xf32>, tensor<4x10xf32>
  %raw = ube.mul %p, %d : tensor<4x10xf32>, tensor<4x10xf32>
  %terms = ube.where %pos, %raw, %zero : tensor<4x10xi1>, tensor<4x10xf32>, tensor<f32>
  %sum = ube.reduce_sum %terms : tensor<4x10xf32>
  %n = ube.constant dense<4.0> : tensor<f32>
  %mean = ube.div %sum, %n : tensor<f32>, tensor<f32>
  %t2 = ube.constant dense<4.0> : tensor<f32>
  %loss = ube.mul %mean, %t2 : tensor<f32>, tensor<f32>
  return %loss : tensor<f32>
}

// -----

// Hand-written: (lt.exp() * (lt - ls)).sum(-1).mean() with s * (1/T) and no
// T² factor: kd_loss without the scaling.
// CHECK-LABEL: func.func @log_target_mean_of_row_sums
// CHECK-NEXT: %[[L:.*]] = ube.kd_loss %arg0, %arg1 {scale_by_temperature_squared = false, temperature = 4.000000e+00 : f64}
// CHECK-NEXT: return %[[L]]
func.func @log_target_mean_of_row_sums(%s: tensor<2x3x10xf32>, %t: tensor<2x3x10xf32>) -> tensor<f32> {
  %inv = ube.constant dense<0.25> : tensor<f32>
  %xs = ube.mul %s, %inv : tensor<2x3x10xf32>, tensor<f32>
  %xt = ube.mul %inv, %t : tensor<f32>, tensor<2x3x10xf32>
  %ls = ube.log_softmax %xs {axis = 2} : tensor<2x3x10xf32>
  %lt = ube.log_softmax %xt {axis = -1} : tensor<2x3x10xf32>
  %pt = ube.exp %lt : tensor<2x3x10xf32>
  %d = ube.sub %lt, %ls : tensor<2x3x10xf32>, tensor<2x3x10xf32>
  %terms = ube.mul %d, %pt : tensor<2x3x10xf32>, tensor<2x3x10xf32>
  %rows = ube.reduce_sum %terms {axes = array<i64: -1>} : tensor<2x3x10xf32>
  %loss = ube.reduce_mean %rows : tensor<2x3xf32>
  return %loss : tensor<f32>
}

// -----

// The same over symbolic rows stays as written: its mean divides by a count
// known at run time, which the fused op's scale cannot hold.
// CHECK-LABEL: func.func @mean_of_symbolic_rows
// CHECK-NOT: ube.kd_loss
// CHECK: ube.reduce_mean
func.func @mean_of_symbolic_rows(%s: tensor<?x10xf32>, %t: tensor<?x10xf32>) -> tensor<f32> {
  %ls = ube.log_softmax %s {axis = -1} : tensor<?x10xf32>
  %lt = ube.log_softmax %t {axis = -1} : tensor<?x10xf32>
  %pt = ube.exp %lt : tensor<?x10xf32>
  %d = ube.sub %lt, %ls : tensor<?x10xf32>, tensor<?x10xf32>
  %terms = ube.mul %d, %pt : tensor<?x10xf32>, tensor<?x10xf32>
  %rows = ube.reduce_sum %terms {axes = array<i64: -1>} : tensor<?x10xf32>
  %loss = ube.reduce_mean %rows : tensor<?xf32>
  return %loss : tensor<f32>
}

// -----

// batchmean over 3-D logits divides by the batch (2), not the rows (6): the
// mean over rows times 3, and T = 1 (no scaling of the logits).
// CHECK-LABEL: func.func @batchmean_of_sequences
// CHECK-DAG: %[[THREE:.*]] = ube.constant dense<3.000000e+00> : tensor<f32>
// CHECK-DAG: %[[L:.*]] = ube.kd_loss %arg0, %arg1 {scale_by_temperature_squared = false} : tensor<2x3x10xf32>, tensor<2x3x10xf32>
// CHECK: %[[R:.*]] = ube.mul %[[L]], %[[THREE]]
// CHECK: return %[[R]]
func.func @batchmean_of_sequences(%s: tensor<2x3x10xf32>, %t: tensor<2x3x10xf32>) -> tensor<f32> {
  %lq = ube.log_softmax %s {axis = -1} : tensor<2x3x10xf32>
  %p = ube.softmax %t {axis = -1} : tensor<2x3x10xf32>
  %lp = ube.log_softmax %t {axis = -1} : tensor<2x3x10xf32>
  %d = ube.sub %lp, %lq : tensor<2x3x10xf32>, tensor<2x3x10xf32>
  %terms = ube.mul %p, %d : tensor<2x3x10xf32>, tensor<2x3x10xf32>
  %sum = ube.reduce_sum %terms : tensor<2x3x10xf32>
  %n = ube.constant dense<2.0> : tensor<f32>
  %loss = ube.div %sum, %n : tensor<f32>, tensor<f32>
  return %loss : tensor<f32>
}

// -----

// MiniLM's attention transfer as a frontend spells it: scores q·kᵀ/√d per
// side (student d = 16, teacher d = 8; the transpose as an attribute or an
// op), log_softmax/softmax over keys, kl_div batchmean over the 2·3·4 rows.
// CHECK-LABEL: func.func @attention_transfer
// CHECK-NEXT: %[[L:.*]] = ube.attention_transfer_loss %arg0, %arg1, %arg2, %arg3 : tensor<2x3x4x16xf32>, tensor<2x3x4x16xf32>, tensor<2x3x4x8xf32>, tensor<2x3x4x8xf32>
// CHECK-NEXT: return %[[L]]
func.func @attention_transfer(%qs: tensor<2x3x4x16xf32>, %ks: tensor<2x3x4x16xf32>, %qt: tensor<2x3x4x8xf32>, %kt: tensor<2x3x4x8xf32>) -> tensor<f32> {
  %rs = ube.constant dense<4.0> : tensor<f32>
  %rt = ube.constant dense<2.82842712474619> : tensor<f32>
  %ss = ube.matmul %qs, %ks {transpose_rhs = true} : tensor<2x3x4x16xf32>, tensor<2x3x4x16xf32>
  %xs = ube.div %ss, %rs : tensor<2x3x4x4xf32>, tensor<f32>
  %ktt = ube.transpose %kt, [0, 1, 3, 2] : tensor<2x3x4x8xf32>
  %st = ube.matmul %qt, %ktt : tensor<2x3x4x8xf32>, tensor<2x3x8x4xf32>
  %xt = ube.div %st, %rt : tensor<2x3x4x4xf32>, tensor<f32>
  %lq = ube.log_softmax %xs : tensor<2x3x4x4xf32>
  %p = ube.softmax %xt : tensor<2x3x4x4xf32>
  %lp = ube.log_softmax %xt : tensor<2x3x4x4xf32>
  %d = ube.sub %lp, %lq : tensor<2x3x4x4xf32>, tensor<2x3x4x4xf32>
  %terms = ube.mul %p, %d : tensor<2x3x4x4xf32>, tensor<2x3x4x4xf32>
  %sum = ube.reduce_sum %terms : tensor<2x3x4x4xf32>
  %n = ube.constant dense<24.0> : tensor<f32>
  %loss = ube.div %sum, %n : tensor<f32>, tensor<f32>
  return %loss : tensor<f32>
}

// -----

// Unscaled scores: the op's 1/√d is undone on the queries (·√16 = 4, ·√8).
// CHECK-LABEL: func.func @attention_transfer_unscaled
// CHECK-DAG: %[[FOUR:.*]] = ube.constant dense<4.000000e+00> : tensor<f32>
// CHECK-DAG: %[[QS:.*]] = ube.mul %arg0, %[[FOUR]]
// CHECK-DAG: %[[QT:.*]] = ube.mul %arg2, %{{.*}} : tensor<2x3x4x8xf32>, tensor<f32>
// CHECK: ube.attention_transfer_loss %[[QS]], %arg1, %[[QT]], %arg3
func.func @attention_transfer_unscaled(%qs: tensor<2x3x4x16xf32>, %ks: tensor<2x3x4x16xf32>, %qt: tensor<2x3x4x8xf32>, %kt: tensor<2x3x4x8xf32>) -> tensor<f32> {
  %xs = ube.matmul %qs, %ks {transpose_rhs = true} : tensor<2x3x4x16xf32>, tensor<2x3x4x16xf32>
  %xt = ube.matmul %qt, %kt {transpose_rhs = true} : tensor<2x3x4x8xf32>, tensor<2x3x4x8xf32>
  %lq = ube.log_softmax %xs : tensor<2x3x4x4xf32>
  %p = ube.softmax %xt : tensor<2x3x4x4xf32>
  %lp = ube.log_softmax %xt : tensor<2x3x4x4xf32>
  %d = ube.sub %lp, %lq : tensor<2x3x4x4xf32>, tensor<2x3x4x4xf32>
  %terms = ube.mul %p, %d : tensor<2x3x4x4xf32>, tensor<2x3x4x4xf32>
  %rows = ube.reduce_sum %terms {axes = array<i64: -1>} : tensor<2x3x4x4xf32>
  %loss = ube.reduce_mean %rows : tensor<2x3x4xf32>
  return %loss : tensor<f32>
}

// -----

// Scores whose key is not transposed over the last two axes are not
// attention; the terms are still a KL of two softmaxes of equal temperature,
// so they become kd_loss over the score tensors (the same value).
// CHECK-LABEL: func.func @not_attention_scores
// CHECK-NOT: ube.attention_transfer_loss
// CHECK: ube.kd_loss
func.func @not_attention_scores(%qs: tensor<2x3x4x4xf32>, %ks: tensor<2x3x4x4xf32>, %qt: tensor<2x3x4x4xf32>, %kt: tensor<2x3x4x4xf32>) -> tensor<f32> {
  %xs = ube.matmul %qs, %ks : tensor<2x3x4x4xf32>, tensor<2x3x4x4xf32>
  %xt = ube.matmul %qt, %kt : tensor<2x3x4x4xf32>, tensor<2x3x4x4xf32>
  %lq = ube.log_softmax %xs : tensor<2x3x4x4xf32>
  %p = ube.softmax %xt : tensor<2x3x4x4xf32>
  %lp = ube.log_softmax %xt : tensor<2x3x4x4xf32>
  %d = ube.sub %lp, %lq : tensor<2x3x4x4xf32>, tensor<2x3x4x4xf32>
  %terms = ube.mul %p, %d : tensor<2x3x4x4xf32>, tensor<2x3x4x4xf32>
  %sum = ube.reduce_sum %terms : tensor<2x3x4x4xf32>
  return %sum : tensor<f32>
}

// -----

// Near misses, each left as it is.

// The softmaxes run over the batch axis, not the vocabulary.
// CHECK-LABEL: func.func @other_axis
// CHECK-NOT: ube.kd_loss
func.func @other_axis(%s: tensor<4x10xf32>, %t: tensor<4x10xf32>) -> tensor<f32> {
  %lq = ube.log_softmax %s {axis = 0} : tensor<4x10xf32>
  %p = ube.softmax %t {axis = 0} : tensor<4x10xf32>
  %lp = ube.log_softmax %t {axis = 0} : tensor<4x10xf32>
  %d = ube.sub %lp, %lq : tensor<4x10xf32>, tensor<4x10xf32>
  %terms = ube.mul %p, %d : tensor<4x10xf32>, tensor<4x10xf32>
  %sum = ube.reduce_sum %terms : tensor<4x10xf32>
  return %sum : tensor<f32>
}

// -----

// Student and teacher are divided by different temperatures.
// CHECK-LABEL: func.func @different_temperatures
// CHECK-NOT: ube.kd_loss
func.func @different_temperatures(%s: tensor<4x10xf32>, %t: tensor<4x10xf32>) -> tensor<f32> {
  %T1 = ube.constant dense<2.0> : tensor<f32>
  %T2 = ube.constant dense<3.0> : tensor<f32>
  %xs = ube.div %s, %T1 : tensor<4x10xf32>, tensor<f32>
  %xt = ube.div %t, %T2 : tensor<4x10xf32>, tensor<f32>
  %lq = ube.log_softmax %xs : tensor<4x10xf32>
  %p = ube.softmax %xt : tensor<4x10xf32>
  %lp = ube.log_softmax %xt : tensor<4x10xf32>
  %d = ube.sub %lp, %lq : tensor<4x10xf32>, tensor<4x10xf32>
  %terms = ube.mul %p, %d : tensor<4x10xf32>, tensor<4x10xf32>
  %sum = ube.reduce_sum %terms : tensor<4x10xf32>
  return %sum : tensor<f32>
}

// -----

// The weights are one distribution, the log another: not a KL divergence.
// CHECK-LABEL: func.func @mismatched_distributions
// CHECK-NOT: ube.kd_loss
func.func @mismatched_distributions(%s: tensor<4x10xf32>, %t: tensor<4x10xf32>, %u: tensor<4x10xf32>) -> tensor<f32> {
  %lq = ube.log_softmax %s : tensor<4x10xf32>
  %p = ube.softmax %t : tensor<4x10xf32>
  %lp = ube.log_softmax %u : tensor<4x10xf32>
  %d = ube.sub %lp, %lq : tensor<4x10xf32>, tensor<4x10xf32>
  %terms = ube.mul %p, %d : tensor<4x10xf32>, tensor<4x10xf32>
  %sum = ube.reduce_sum %terms : tensor<4x10xf32>
  return %sum : tensor<f32>
}

// -----

// A guard other than p > 0.
// CHECK-LABEL: func.func @other_guard
// CHECK-NOT: ube.kd_loss
func.func @other_guard(%s: tensor<4x10xf32>, %t: tensor<4x10xf32>) -> tensor<f32> {
  %lq = ube.log_softmax %s : tensor<4x10xf32>
  %p = ube.softmax %t : tensor<4x10xf32>
  %half = ube.constant dense<0.5> : tensor<f32>
  %zero = ube.constant dense<0.0> : tensor<f32>
  %big = ube.compare "gt", %p, %half : tensor<4x10xf32>, tensor<f32>
  %logp = ube.log %p : tensor<4x10xf32>
  %d = ube.sub %logp, %lq : tensor<4x10xf32>, tensor<4x10xf32>
  %raw = ube.mul %p, %d : tensor<4x10xf32>, tensor<4x10xf32>
  %terms = ube.where %big, %raw, %zero : tensor<4x10xi1>, tensor<4x10xf32>, tensor<f32>
  %sum = ube.reduce_sum %terms : tensor<4x10xf32>
  return %sum : tensor<f32>
}

// -----

// Per-row KL: no scalar at the end.
// CHECK-LABEL: func.func @per_row
// CHECK-NOT: ube.kd_loss
func.func @per_row(%s: tensor<4x10xf32>, %t: tensor<4x10xf32>) -> tensor<4xf32> {
  %lq = ube.log_softmax %s : tensor<4x10xf32>
  %p = ube.softmax %t : tensor<4x10xf32>
  %lp = ube.log_softmax %t : tensor<4x10xf32>
  %d = ube.sub %lp, %lq : tensor<4x10xf32>, tensor<4x10xf32>
  %terms = ube.mul %p, %d : tensor<4x10xf32>, tensor<4x10xf32>
  %rows = ube.reduce_sum %terms {axes = array<i64: -1>} : tensor<4x10xf32>
  return %rows : tensor<4xf32>
}

// -----

// A temperature known only at run time is not folded into the op: the
// scaled logits become its operands at T = 1 (the same loss). The plain sum
// over 4 rows is 4 times the row mean.
// CHECK-LABEL: func.func @runtime_temperature
// CHECK-DAG: %[[XS:.*]] = ube.div %arg0, %arg2
// CHECK-DAG: %[[XT:.*]] = ube.div %arg1, %arg2
// CHECK-DAG: %[[FOUR:.*]] = ube.constant dense<4.000000e+00> : tensor<f32>
// CHECK: %[[L:.*]] = ube.kd_loss %[[XS]], %[[XT]] {scale_by_temperature_squared = false}
// CHECK: ube.mul %[[L]], %[[FOUR]]
func.func @runtime_temperature(%s: tensor<4x10xf32>, %t: tensor<4x10xf32>, %T: tensor<f32>) -> tensor<f32> {
  %xs = ube.div %s, %T : tensor<4x10xf32>, tensor<f32>
  %xt = ube.div %t, %T : tensor<4x10xf32>, tensor<f32>
  %lq = ube.log_softmax %xs : tensor<4x10xf32>
  %p = ube.softmax %xt : tensor<4x10xf32>
  %lp = ube.log_softmax %xt : tensor<4x10xf32>
  %d = ube.sub %lp, %lq : tensor<4x10xf32>, tensor<4x10xf32>
  %terms = ube.mul %p, %d : tensor<4x10xf32>, tensor<4x10xf32>
  %sum = ube.reduce_sum %terms : tensor<4x10xf32>
  return %sum : tensor<f32>
}

// -----

// TinyBERT/MobileBERT's hidden-state loss: MSE of the non-affine
// LayerNorms of the projected student and of the teacher.
// CHECK-LABEL: func.func @feature_map_mse
// CHECK-NEXT: %[[L:.*]] = ube.feature_map_loss %arg0, %arg1 projection %arg2 {epsilon = 9.9999999999999995E-7 : f64} : tensor<2x5x6xf32>, tensor<2x5x12xf32>, tensor<6x12xf32>
// CHECK-NEXT: return %[[L]]
func.func @feature_map_mse(%hs: tensor<2x5x6xf32>, %ht: tensor<2x5x12xf32>, %w: tensor<6x12xf32>) -> tensor<f32> {
  %h = ube.matmul %hs, %w : tensor<2x5x6xf32>, tensor<6x12xf32>
  %ns = ube.layer_norm %h {epsilon = 1.0e-6} : tensor<2x5x12xf32>
  %nt = ube.layer_norm %ht {epsilon = 1.0e-6} : tensor<2x5x12xf32>
  %loss = ube.mse_loss %ns, %nt : tensor<2x5x12xf32>, tensor<2x5x12xf32>
  return %loss : tensor<f32>
}

// -----

// Without a projection; and near misses: an affine LayerNorm, a sum instead
// of a mean, different epsilons.
// CHECK-LABEL: func.func @feature_map_variants
// CHECK: %[[A:.*]] = ube.feature_map_loss %arg0, %arg1 : tensor<4x8xf32>, tensor<4x8xf32>
// CHECK: ube.layer_norm %arg0, %arg2
// CHECK: ube.mse_loss
// CHECK: ube.mse_loss {{.*}} {reduction = "sum"}
// CHECK: ube.mse_loss
// CHECK-NOT: ube.feature_map_loss
// CHECK: return %[[A]]
func.func @feature_map_variants(%hs: tensor<4x8xf32>, %ht: tensor<4x8xf32>, %g: tensor<8xf32>) -> (tensor<f32>, tensor<f32>, tensor<f32>, tensor<f32>) {
  %ns = ube.layer_norm %hs : tensor<4x8xf32>
  %nt = ube.layer_norm %ht : tensor<4x8xf32>
  %plain = ube.mse_loss %ns, %nt : tensor<4x8xf32>, tensor<4x8xf32>
  %affine = ube.layer_norm %hs, %g : tensor<4x8xf32>, tensor<8xf32>
  %a = ube.mse_loss %affine, %nt : tensor<4x8xf32>, tensor<4x8xf32>
  %s = ube.mse_loss %ns, %nt {reduction = "sum"} : tensor<4x8xf32>, tensor<4x8xf32>
  %other = ube.layer_norm %ht {epsilon = 1.0e-3} : tensor<4x8xf32>
  %e = ube.mse_loss %ns, %other : tensor<4x8xf32>, tensor<4x8xf32>
  return %plain, %a, %s, %e : tensor<f32>, tensor<f32>, tensor<f32>, tensor<f32>
}

// -----

// MobileBERT's hidden-state loss: 2·MSE(LN(h W), LN(h_t)) + mse of the
// per-token means + 0.5·mean |variance difference| (biased variances, as
// torch.var(unbiased=False) exports), plus a KD term that is not about these
// features: one feature_map_loss with alpha 2, beta 1, gamma 0.5, the other
// term added to it.
// CHECK-LABEL: func.func @feature_map_terms
// CHECK-DAG: %[[F:.*]] = ube.feature_map_loss %arg0, %arg1 projection %arg2 {alpha = 2.000000e+00 : f64, beta = 1.000000e+00 : f64, gamma = 5.000000e-01 : f64} : tensor<2x5x6xf32>, tensor<2x5x12xf32>, tensor<6x12xf32>
// CHECK-DAG: %[[K:.*]] = ube.kd_loss
// CHECK: %[[SUM:.*]] = ube.add %[[F]], %[[K]]
// CHECK: return %[[SUM]]
func.func @feature_map_terms(%hs: tensor<2x5x6xf32>, %ht: tensor<2x5x12xf32>, %w: tensor<6x12xf32>, %s: tensor<3x7xf32>, %t: tensor<3x7xf32>) -> tensor<f32> {
  %h = ube.matmul %hs, %w : tensor<2x5x6xf32>, tensor<6x12xf32>
  %ns = ube.layer_norm %h : tensor<2x5x12xf32>
  %nt = ube.layer_norm %ht : tensor<2x5x12xf32>
  %mse = ube.mse_loss %ns, %nt : tensor<2x5x12xf32>, tensor<2x5x12xf32>
  %two = ube.constant dense<2.0> : tensor<f32>
  %a = ube.mul %two, %mse : tensor<f32>, tensor<f32>
  %ms = ube.reduce_mean %h {axes = array<i64: -1>} : tensor<2x5x12xf32>
  %mt = ube.reduce_mean %ht {axes = array<i64: 2>} : tensor<2x5x12xf32>
  %b = ube.mse_loss %ms, %mt : tensor<2x5xf32>, tensor<2x5xf32>
  %cs = ube.reduce_mean %h {axes = array<i64: -1>, keepdims = true} : tensor<2x5x12xf32>
  %ds = ube.sub %h, %cs : tensor<2x5x12xf32>, tensor<2x5x1xf32>
  %qs = ube.mul %ds, %ds : tensor<2x5x12xf32>, tensor<2x5x12xf32>
  %vs = ube.reduce_mean %qs {axes = array<i64: -1>} : tensor<2x5x12xf32>
  %ct = ube.reduce_mean %ht {axes = array<i64: -1>, keepdims = true} : tensor<2x5x12xf32>
  %dt = ube.sub %ht, %ct : tensor<2x5x12xf32>, tensor<2x5x1xf32>
  %qt = ube.mul %dt, %dt : tensor<2x5x12xf32>, tensor<2x5x12xf32>
  %vt = ube.reduce_mean %qt {axes = array<i64: -1>} : tensor<2x5x12xf32>
  %dv = ube.sub %vs, %vt : tensor<2x5xf32>, tensor<2x5xf32>
  %av = ube.abs %dv : tensor<2x5xf32>
  %c = ube.reduce_mean %av : tensor<2x5xf32>
  %half = ube.constant dense<2.0> : tensor<f32>
  %c2 = ube.div %c, %half : tensor<f32>, tensor<f32>
  %kd = ube.kd_loss %s, %t {temperature = 1.0} : tensor<3x7xf32>, tensor<3x7xf32>
  %ab = ube.add %a, %b : tensor<f32>, tensor<f32>
  %abc = ube.add %ab, %c2 : tensor<f32>, tensor<f32>
  %all = ube.add %abc, %kd : tensor<f32>, tensor<f32>
  return %all : tensor<f32>
}

// -----

// Near misses: the unbiased variance (a correction factor), means over
// another axis, and mean terms about other features stay outside the loss.
// CHECK-LABEL: func.func @feature_map_terms_kept
// CHECK: %[[F:.*]] = ube.feature_map_loss %arg0, %arg1 : tensor<4x8xf32>, tensor<4x8xf32>
// CHECK-NOT: ube.feature_map_loss
// CHECK: ube.abs
// CHECK: ube.mse_loss
// CHECK: ube.mse_loss
func.func @feature_map_terms_kept(%hs: tensor<4x8xf32>, %ht: tensor<4x8xf32>, %other: tensor<4x8xf32>) -> tensor<f32> {
  %ns = ube.layer_norm %hs : tensor<4x8xf32>
  %nt = ube.layer_norm %ht : tensor<4x8xf32>
  %mse = ube.mse_loss %ns, %nt : tensor<4x8xf32>, tensor<4x8xf32>
  %cs = ube.reduce_mean %hs {axes = array<i64: -1>, keepdims = true} : tensor<4x8xf32>
  %ds = ube.sub %hs, %cs : tensor<4x8xf32>, tensor<4x1xf32>
  %qs = ube.mul %ds, %ds : tensor<4x8xf32>, tensor<4x8xf32>
  %bs = ube.reduce_mean %qs {axes = array<i64: -1>} : tensor<4x8xf32>
  %k = ube.constant dense<1.14285719> : tensor<f32>
  %vs = ube.mul %bs, %k : tensor<4xf32>, tensor<f32>
  %ct = ube.reduce_mean %ht {axes = array<i64: -1>, keepdims = true} : tensor<4x8xf32>
  %dt = ube.sub %ht, %ct : tensor<4x8xf32>, tensor<4x1xf32>
  %qt = ube.mul %dt, %dt : tensor<4x8xf32>, tensor<4x8xf32>
  %bt = ube.reduce_mean %qt {axes = array<i64: -1>} : tensor<4x8xf32>
  %vt = ube.mul %bt, %k : tensor<4xf32>, tensor<f32>
  %dv = ube.sub %vs, %vt : tensor<4xf32>, tensor<4xf32>
  %av = ube.abs %dv : tensor<4xf32>
  %c = ube.reduce_mean %av : tensor<4xf32>
  %ms = ube.reduce_mean %hs {axes = array<i64: 0>} : tensor<4x8xf32>
  %mt = ube.reduce_mean %ht {axes = array<i64: 0>} : tensor<4x8xf32>
  %b = ube.mse_loss %ms, %mt : tensor<8xf32>, tensor<8xf32>
  %mo = ube.reduce_mean %other {axes = array<i64: -1>} : tensor<4x8xf32>
  %mt2 = ube.reduce_mean %ht {axes = array<i64: -1>} : tensor<4x8xf32>
  %o = ube.mse_loss %mo, %mt2 : tensor<4xf32>, tensor<4xf32>
  %x = ube.add %mse, %c : tensor<f32>, tensor<f32>
  %y = ube.add %x, %b : tensor<f32>, tensor<f32>
  %z = ube.add %y, %o : tensor<f32>, tensor<f32>
  return %z : tensor<f32>
}

// -----

// KD between two bias-free output projections (an LM head): the logits are
// only the loss's, so the loss becomes projected_kd_loss.
// CHECK-LABEL: func.func @projected
// CHECK-NEXT: %[[L:.*]] = ube.projected_kd_loss %arg0, %arg1, %arg2, %arg3 labels %arg4 {alpha = 5.000000e-01 : f64, temperature = 2.000000e+00 : f64}
// CHECK-NEXT: return %[[L]]
func.func @projected(%hs: tensor<4x6xf32>, %ws: tensor<50x6xf32>, %ht: tensor<4x8xf32>, %wt: tensor<50x8xf32>, %y: tensor<4xi64>) -> tensor<f32> {
  %s = ube.linear %hs, %ws : tensor<4x6xf32>, tensor<50x6xf32>
  %t = ube.matmul %ht, %wt {transpose_rhs = true} : tensor<4x8xf32>, tensor<50x8xf32>
  %l = ube.kd_loss %s, %t labels %y {temperature = 2.0, alpha = 0.5} : tensor<4x50xf32>, tensor<4x50xf32>, tensor<4xi64>
  return %l : tensor<f32>
}

// -----

// Near misses: a head with a bias, and logits the caller also returns (they
// must exist anyway) stay kd_loss.
// CHECK-LABEL: func.func @projected_near_misses
// CHECK-NOT: projected_kd_loss
// CHECK: ube.kd_loss
// CHECK-NOT: projected_kd_loss
// CHECK: ube.kd_loss
func.func @projected_near_misses(%hs: tensor<4x6xf32>, %ws: tensor<50x6xf32>, %b: tensor<50xf32>, %ht: tensor<4x8xf32>, %wt: tensor<50x8xf32>) -> (tensor<f32>, tensor<f32>, tensor<4x50xf32>) {
  %s = ube.linear %hs, %ws, %b : tensor<4x6xf32>, tensor<50x6xf32>, tensor<50xf32>
  %t = ube.linear %ht, %wt : tensor<4x8xf32>, tensor<50x8xf32>
  %l = ube.kd_loss %s, %t : tensor<4x50xf32>, tensor<4x50xf32>
  %s2 = ube.linear %hs, %ws : tensor<4x6xf32>, tensor<50x6xf32>
  %t2 = ube.linear %ht, %wt : tensor<4x8xf32>, tensor<50x8xf32>
  %l2 = ube.kd_loss %s2, %t2 : tensor<4x50xf32>, tensor<4x50xf32>
  return %l, %l2, %s2 : tensor<f32>, tensor<f32>, tensor<4x50xf32>
}

// -----

// Padded attention transfer as frontends write it (MiniLM with a padding
// mask): masked keys filled with a large negative score (masked_fill on the
// student, where(mask, s, -inf) on the teacher), KL per query row, rows
// weighted by the mask over queries ([B, 1, N]) and divided by its sum.
// That is attention_transfer_loss with the mask (a mean over heads and
// valid queries) times the 3 heads the weights' sum does not count.
// CHECK-LABEL: func.func @masked_attention_transfer
// CHECK: %[[THREE:.*]] = ube.constant dense<3.000000e+00>
// CHECK: %[[L:.*]] = ube.attention_transfer_loss %arg0, %arg1, %arg2, %arg3 mask %arg4
// CHECK: %[[S:.*]] = ube.mul %[[L]], %[[THREE]] : tensor<f32>, tensor<f32>
// CHECK-NEXT: return %[[S]]
func.func @masked_attention_transfer(%qs: tensor<2x3x4x16xf32>, %ks: tensor<2x3x4x16xf32>, %qt: tensor<2x3x4x8xf32>, %kt: tensor<2x3x4x8xf32>, %m: tensor<2x4xi1>) -> tensor<f32> {
  %rs = ube.constant dense<4.0> : tensor<f32>
  %rt = ube.constant dense<2.82842712474619> : tensor<f32>
  %fs = ube.constant dense<-1.0e+04> : tensor<f32>
  %ft = ube.constant dense<0xFF800000> : tensor<f32>
  %zero = ube.constant dense<0.0> : tensor<f32>
  %keys = ube.reshape %m : tensor<2x4xi1> to tensor<2x1x1x4xi1>
  %dropped = ube.logical_not %keys : tensor<2x1x1x4xi1>
  %ss = ube.matmul %qs, %ks {transpose_rhs = true} : tensor<2x3x4x16xf32>, tensor<2x3x4x16xf32>
  %xs = ube.div %ss, %rs : tensor<2x3x4x4xf32>, tensor<f32>
  %ms = ube.where %dropped, %fs, %xs : tensor<2x1x1x4xi1>, tensor<f32>, tensor<2x3x4x4xf32>
  %st = ube.matmul %qt, %kt {transpose_rhs = true} : tensor<2x3x4x8xf32>, tensor<2x3x4x8xf32>
  %xt = ube.div %st, %rt : tensor<2x3x4x4xf32>, tensor<f32>
  %mt = ube.where %keys, %xt, %ft : tensor<2x1x1x4xi1>, tensor<2x3x4x4xf32>, tensor<f32>
  %lq = ube.log_softmax %ms : tensor<2x3x4x4xf32>
  %p = ube.softmax %mt : tensor<2x3x4x4xf32>
  %pos = ube.compare "gt", %p, %zero : tensor<2x3x4x4xf32>, tensor<f32>
  %lp = ube.log %p : tensor<2x3x4x4xf32>
  %d = ube.sub %lp, %lq : tensor<2x3x4x4xf32>, tensor<2x3x4x4xf32>
  %raw = ube.mul %p, %d : tensor<2x3x4x4xf32>, tensor<2x3x4x4xf32>
  %terms = ube.where %pos, %raw, %zero : tensor<2x3x4x4xi1>, tensor<2x3x4x4xf32>, tensor<f32>
  %rows = ube.reduce_sum %terms {axes = array<i64: -1>} : tensor<2x3x4x4xf32>
  %queries = ube.reshape %m : tensor<2x4xi1> to tensor<2x1x4xi1>
  %w = ube.cast %queries : tensor<2x1x4xi1> to tensor<2x1x4xf32>
  %weighted = ube.mul %rows, %w : tensor<2x3x4xf32>, tensor<2x1x4xf32>
  %total = ube.reduce_sum %weighted : tensor<2x3x4xf32>
  %count = ube.reduce_sum %w : tensor<2x1x4xf32>
  %loss = ube.div %total, %count : tensor<f32>, tensor<f32>
  return %loss : tensor<f32>
}

// -----

// Near misses, left alone: a fill that does not vanish under exp (-1), query
// weights from another mask, a mask spread over queries instead of keys.
// CHECK-LABEL: func.func @masked_fill_too_small
// CHECK-NOT: ube.attention_transfer_loss
// CHECK-LABEL: func.func @masked_other_query_mask
// CHECK-NOT: ube.attention_transfer_loss
// CHECK-LABEL: func.func @masked_queries_not_keys
// CHECK-NOT: ube.attention_transfer_loss
func.func @masked_fill_too_small(%qs: tensor<2x3x4x16xf32>, %ks: tensor<2x3x4x16xf32>, %qt: tensor<2x3x4x8xf32>, %kt: tensor<2x3x4x8xf32>, %m: tensor<2x4xi1>) -> tensor<f32> {
  %rs = ube.constant dense<4.0> : tensor<f32>
  %rt = ube.constant dense<2.82842712474619> : tensor<f32>
  %fs = ube.constant dense<-1.0> : tensor<f32>
  %ft = ube.constant dense<0xFF800000> : tensor<f32>
  %zero = ube.constant dense<0.0> : tensor<f32>
  %keys = ube.reshape %m : tensor<2x4xi1> to tensor<2x1x1x4xi1>
  %dropped = ube.logical_not %keys : tensor<2x1x1x4xi1>
  %ss = ube.matmul %qs, %ks {transpose_rhs = true} : tensor<2x3x4x16xf32>, tensor<2x3x4x16xf32>
  %xs = ube.div %ss, %rs : tensor<2x3x4x4xf32>, tensor<f32>
  %ms = ube.where %dropped, %fs, %xs : tensor<2x1x1x4xi1>, tensor<f32>, tensor<2x3x4x4xf32>
  %st = ube.matmul %qt, %kt {transpose_rhs = true} : tensor<2x3x4x8xf32>, tensor<2x3x4x8xf32>
  %xt = ube.div %st, %rt : tensor<2x3x4x4xf32>, tensor<f32>
  %mt = ube.where %keys, %xt, %ft : tensor<2x1x1x4xi1>, tensor<2x3x4x4xf32>, tensor<f32>
  %lq = ube.log_softmax %ms : tensor<2x3x4x4xf32>
  %p = ube.softmax %mt : tensor<2x3x4x4xf32>
  %pos = ube.compare "gt", %p, %zero : tensor<2x3x4x4xf32>, tensor<f32>
  %lp = ube.log %p : tensor<2x3x4x4xf32>
  %d = ube.sub %lp, %lq : tensor<2x3x4x4xf32>, tensor<2x3x4x4xf32>
  %raw = ube.mul %p, %d : tensor<2x3x4x4xf32>, tensor<2x3x4x4xf32>
  %terms = ube.where %pos, %raw, %zero : tensor<2x3x4x4xi1>, tensor<2x3x4x4xf32>, tensor<f32>
  %rows = ube.reduce_sum %terms {axes = array<i64: -1>} : tensor<2x3x4x4xf32>
  %queries = ube.reshape %m : tensor<2x4xi1> to tensor<2x1x4xi1>
  %w = ube.cast %queries : tensor<2x1x4xi1> to tensor<2x1x4xf32>
  %weighted = ube.mul %rows, %w : tensor<2x3x4xf32>, tensor<2x1x4xf32>
  %total = ube.reduce_sum %weighted : tensor<2x3x4xf32>
  %count = ube.reduce_sum %w : tensor<2x1x4xf32>
  %loss = ube.div %total, %count : tensor<f32>, tensor<f32>
  return %loss : tensor<f32>
}
func.func @masked_other_query_mask(%qs: tensor<2x3x4x16xf32>, %ks: tensor<2x3x4x16xf32>, %qt: tensor<2x3x4x8xf32>, %kt: tensor<2x3x4x8xf32>, %m: tensor<2x4xi1>, %m2: tensor<2x4xi1>) -> tensor<f32> {
  %rs = ube.constant dense<4.0> : tensor<f32>
  %rt = ube.constant dense<2.82842712474619> : tensor<f32>
  %fs = ube.constant dense<-1.0e+04> : tensor<f32>
  %ft = ube.constant dense<0xFF800000> : tensor<f32>
  %zero = ube.constant dense<0.0> : tensor<f32>
  %keys = ube.reshape %m : tensor<2x4xi1> to tensor<2x1x1x4xi1>
  %dropped = ube.logical_not %keys : tensor<2x1x1x4xi1>
  %ss = ube.matmul %qs, %ks {transpose_rhs = true} : tensor<2x3x4x16xf32>, tensor<2x3x4x16xf32>
  %xs = ube.div %ss, %rs : tensor<2x3x4x4xf32>, tensor<f32>
  %ms = ube.where %dropped, %fs, %xs : tensor<2x1x1x4xi1>, tensor<f32>, tensor<2x3x4x4xf32>
  %st = ube.matmul %qt, %kt {transpose_rhs = true} : tensor<2x3x4x8xf32>, tensor<2x3x4x8xf32>
  %xt = ube.div %st, %rt : tensor<2x3x4x4xf32>, tensor<f32>
  %mt = ube.where %keys, %xt, %ft : tensor<2x1x1x4xi1>, tensor<2x3x4x4xf32>, tensor<f32>
  %lq = ube.log_softmax %ms : tensor<2x3x4x4xf32>
  %p = ube.softmax %mt : tensor<2x3x4x4xf32>
  %pos = ube.compare "gt", %p, %zero : tensor<2x3x4x4xf32>, tensor<f32>
  %lp = ube.log %p : tensor<2x3x4x4xf32>
  %d = ube.sub %lp, %lq : tensor<2x3x4x4xf32>, tensor<2x3x4x4xf32>
  %raw = ube.mul %p, %d : tensor<2x3x4x4xf32>, tensor<2x3x4x4xf32>
  %terms = ube.where %pos, %raw, %zero : tensor<2x3x4x4xi1>, tensor<2x3x4x4xf32>, tensor<f32>
  %rows = ube.reduce_sum %terms {axes = array<i64: -1>} : tensor<2x3x4x4xf32>
  %queries = ube.reshape %m2 : tensor<2x4xi1> to tensor<2x1x4xi1>
  %w = ube.cast %queries : tensor<2x1x4xi1> to tensor<2x1x4xf32>
  %weighted = ube.mul %rows, %w : tensor<2x3x4xf32>, tensor<2x1x4xf32>
  %total = ube.reduce_sum %weighted : tensor<2x3x4xf32>
  %count = ube.reduce_sum %w : tensor<2x1x4xf32>
  %loss = ube.div %total, %count : tensor<f32>, tensor<f32>
  return %loss : tensor<f32>
}
func.func @masked_queries_not_keys(%qs: tensor<2x3x4x16xf32>, %ks: tensor<2x3x4x16xf32>, %qt: tensor<2x3x4x8xf32>, %kt: tensor<2x3x4x8xf32>, %m: tensor<2x4xi1>) -> tensor<f32> {
  %rs = ube.constant dense<4.0> : tensor<f32>
  %rt = ube.constant dense<2.82842712474619> : tensor<f32>
  %fs = ube.constant dense<-1.0e+04> : tensor<f32>
  %ft = ube.constant dense<0xFF800000> : tensor<f32>
  %zero = ube.constant dense<0.0> : tensor<f32>
  %keys = ube.reshape %m : tensor<2x4xi1> to tensor<2x1x4x1xi1>
  %dropped = ube.logical_not %keys : tensor<2x1x4x1xi1>
  %ss = ube.matmul %qs, %ks {transpose_rhs = true} : tensor<2x3x4x16xf32>, tensor<2x3x4x16xf32>
  %xs = ube.div %ss, %rs : tensor<2x3x4x4xf32>, tensor<f32>
  %ms = ube.where %dropped, %fs, %xs : tensor<2x1x4x1xi1>, tensor<f32>, tensor<2x3x4x4xf32>
  %st = ube.matmul %qt, %kt {transpose_rhs = true} : tensor<2x3x4x8xf32>, tensor<2x3x4x8xf32>
  %xt = ube.div %st, %rt : tensor<2x3x4x4xf32>, tensor<f32>
  %mt = ube.where %keys, %xt, %ft : tensor<2x1x4x1xi1>, tensor<2x3x4x4xf32>, tensor<f32>
  %lq = ube.log_softmax %ms : tensor<2x3x4x4xf32>
  %p = ube.softmax %mt : tensor<2x3x4x4xf32>
  %pos = ube.compare "gt", %p, %zero : tensor<2x3x4x4xf32>, tensor<f32>
  %lp = ube.log %p : tensor<2x3x4x4xf32>
  %d = ube.sub %lp, %lq : tensor<2x3x4x4xf32>, tensor<2x3x4x4xf32>
  %raw = ube.mul %p, %d : tensor<2x3x4x4xf32>, tensor<2x3x4x4xf32>
  %terms = ube.where %pos, %raw, %zero : tensor<2x3x4x4xi1>, tensor<2x3x4x4xf32>, tensor<f32>
  %rows = ube.reduce_sum %terms {axes = array<i64: -1>} : tensor<2x3x4x4xf32>
  %queries = ube.reshape %m : tensor<2x4xi1> to tensor<2x1x4xi1>
  %w = ube.cast %queries : tensor<2x1x4xi1> to tensor<2x1x4xf32>
  %weighted = ube.mul %rows, %w : tensor<2x3x4xf32>, tensor<2x1x4xf32>
  %total = ube.reduce_sum %weighted : tensor<2x3x4xf32>
  %count = ube.reduce_sum %w : tensor<2x1x4xf32>
  %loss = ube.div %total, %count : tensor<f32>, tensor<f32>
  return %loss : tensor<f32>
}

// -----

// BERT's additive mask, (1 - m)·-1e4 added to both sides' scores, and
// weights broadcast to the heads: the mean over heads and valid queries is
// the op itself (no scale).
// CHECK-LABEL: func.func @additive_mask_attention_transfer
// CHECK-NEXT: %[[L:.*]] = ube.attention_transfer_loss %arg0, %arg1, %arg2, %arg3 mask %arg4
// CHECK-NEXT: return %[[L]]
func.func @additive_mask_attention_transfer(%qs: tensor<2x3x4x16xf32>, %ks: tensor<2x3x4x16xf32>, %qt: tensor<2x3x4x8xf32>, %kt: tensor<2x3x4x8xf32>, %m: tensor<2x4xi1>) -> tensor<f32> {
  %rs = ube.constant dense<4.0> : tensor<f32>
  %rt = ube.constant dense<2.82842712474619> : tensor<f32>
  %one = ube.constant dense<1.0> : tensor<f32>
  %c = ube.constant dense<-1.0e+04> : tensor<f32>
  %keys = ube.reshape %m : tensor<2x4xi1> to tensor<2x1x1x4xi1>
  %mf = ube.cast %keys : tensor<2x1x1x4xi1> to tensor<2x1x1x4xf32>
  %dropped = ube.sub %one, %mf : tensor<f32>, tensor<2x1x1x4xf32>
  %bias = ube.mul %dropped, %c : tensor<2x1x1x4xf32>, tensor<f32>
  %ss = ube.matmul %qs, %ks {transpose_rhs = true} : tensor<2x3x4x16xf32>, tensor<2x3x4x16xf32>
  %xs = ube.div %ss, %rs : tensor<2x3x4x4xf32>, tensor<f32>
  %ms = ube.add %xs, %bias : tensor<2x3x4x4xf32>, tensor<2x1x1x4xf32>
  %st = ube.matmul %qt, %kt {transpose_rhs = true} : tensor<2x3x4x8xf32>, tensor<2x3x4x8xf32>
  %xt = ube.div %st, %rt : tensor<2x3x4x4xf32>, tensor<f32>
  %mt = ube.add %bias, %xt : tensor<2x1x1x4xf32>, tensor<2x3x4x4xf32>
  %lq = ube.log_softmax %ms : tensor<2x3x4x4xf32>
  %p = ube.softmax %mt : tensor<2x3x4x4xf32>
  %lp = ube.log %p : tensor<2x3x4x4xf32>
  %d = ube.sub %lp, %lq : tensor<2x3x4x4xf32>, tensor<2x3x4x4xf32>
  %terms = ube.mul %p, %d : tensor<2x3x4x4xf32>, tensor<2x3x4x4xf32>
  %rows = ube.reduce_sum %terms {axes = array<i64: -1>} : tensor<2x3x4x4xf32>
  %queries = ube.reshape %m : tensor<2x4xi1> to tensor<2x1x4xi1>
  %w = ube.cast %queries : tensor<2x1x4xi1> to tensor<2x1x4xf32>
  %wide = ube.broadcast_to %w : tensor<2x1x4xf32> to tensor<2x3x4xf32>
  %weighted = ube.mul %wide, %rows : tensor<2x3x4xf32>, tensor<2x3x4xf32>
  %total = ube.reduce_sum %weighted : tensor<2x3x4xf32>
  %count = ube.reduce_sum %wide : tensor<2x3x4xf32>
  %loss = ube.div %total, %count : tensor<f32>, tensor<f32>
  return %loss : tensor<f32>
}

// -----

// Near misses: an additive mask too small to vanish under exp, and a float
// mask (not known to be 0 or 1).
// CHECK-LABEL: func.func @additive_mask_too_small
// CHECK-NOT: ube.attention_transfer_loss
// CHECK-LABEL: func.func @additive_float_mask
// CHECK-NOT: ube.attention_transfer_loss
func.func @additive_mask_too_small(%qs: tensor<2x3x4x16xf32>, %ks: tensor<2x3x4x16xf32>, %qt: tensor<2x3x4x8xf32>, %kt: tensor<2x3x4x8xf32>, %m: tensor<2x4xi1>) -> tensor<f32> {
  %rs = ube.constant dense<4.0> : tensor<f32>
  %rt = ube.constant dense<2.82842712474619> : tensor<f32>
  %one = ube.constant dense<1.0> : tensor<f32>
  %c = ube.constant dense<-1.0> : tensor<f32>
  %keys = ube.reshape %m : tensor<2x4xi1> to tensor<2x1x1x4xi1>
  %mf = ube.cast %keys : tensor<2x1x1x4xi1> to tensor<2x1x1x4xf32>
  %dropped = ube.sub %one, %mf : tensor<f32>, tensor<2x1x1x4xf32>
  %bias = ube.mul %dropped, %c : tensor<2x1x1x4xf32>, tensor<f32>
  %ss = ube.matmul %qs, %ks {transpose_rhs = true} : tensor<2x3x4x16xf32>, tensor<2x3x4x16xf32>
  %xs = ube.div %ss, %rs : tensor<2x3x4x4xf32>, tensor<f32>
  %ms = ube.add %xs, %bias : tensor<2x3x4x4xf32>, tensor<2x1x1x4xf32>
  %st = ube.matmul %qt, %kt {transpose_rhs = true} : tensor<2x3x4x8xf32>, tensor<2x3x4x8xf32>
  %xt = ube.div %st, %rt : tensor<2x3x4x4xf32>, tensor<f32>
  %mt = ube.add %bias, %xt : tensor<2x1x1x4xf32>, tensor<2x3x4x4xf32>
  %lq = ube.log_softmax %ms : tensor<2x3x4x4xf32>
  %p = ube.softmax %mt : tensor<2x3x4x4xf32>
  %lp = ube.log %p : tensor<2x3x4x4xf32>
  %d = ube.sub %lp, %lq : tensor<2x3x4x4xf32>, tensor<2x3x4x4xf32>
  %terms = ube.mul %p, %d : tensor<2x3x4x4xf32>, tensor<2x3x4x4xf32>
  %rows = ube.reduce_sum %terms {axes = array<i64: -1>} : tensor<2x3x4x4xf32>
  %queries = ube.reshape %m : tensor<2x4xi1> to tensor<2x1x4xi1>
  %w = ube.cast %queries : tensor<2x1x4xi1> to tensor<2x1x4xf32>
  %wide = ube.broadcast_to %w : tensor<2x1x4xf32> to tensor<2x3x4xf32>
  %weighted = ube.mul %wide, %rows : tensor<2x3x4xf32>, tensor<2x3x4xf32>
  %total = ube.reduce_sum %weighted : tensor<2x3x4xf32>
  %count = ube.reduce_sum %wide : tensor<2x3x4xf32>
  %loss = ube.div %total, %count : tensor<f32>, tensor<f32>
  return %loss : tensor<f32>
}
func.func @additive_float_mask(%qs: tensor<2x3x4x16xf32>, %ks: tensor<2x3x4x16xf32>, %qt: tensor<2x3x4x8xf32>, %kt: tensor<2x3x4x8xf32>, %m: tensor<2x4xf32>) -> tensor<f32> {
  %rs = ube.constant dense<4.0> : tensor<f32>
  %rt = ube.constant dense<2.82842712474619> : tensor<f32>
  %one = ube.constant dense<1.0> : tensor<f32>
  %c = ube.constant dense<-1.0e+04> : tensor<f32>
  %mf = ube.reshape %m : tensor<2x4xf32> to tensor<2x1x1x4xf32>
  %dropped = ube.sub %one, %mf : tensor<f32>, tensor<2x1x1x4xf32>
  %bias = ube.mul %dropped, %c : tensor<2x1x1x4xf32>, tensor<f32>
  %ss = ube.matmul %qs, %ks {transpose_rhs = true} : tensor<2x3x4x16xf32>, tensor<2x3x4x16xf32>
  %xs = ube.div %ss, %rs : tensor<2x3x4x4xf32>, tensor<f32>
  %ms = ube.add %xs, %bias : tensor<2x3x4x4xf32>, tensor<2x1x1x4xf32>
  %st = ube.matmul %qt, %kt {transpose_rhs = true} : tensor<2x3x4x8xf32>, tensor<2x3x4x8xf32>
  %xt = ube.div %st, %rt : tensor<2x3x4x4xf32>, tensor<f32>
  %mt = ube.add %bias, %xt : tensor<2x1x1x4xf32>, tensor<2x3x4x4xf32>
  %lq = ube.log_softmax %ms : tensor<2x3x4x4xf32>
  %p = ube.softmax %mt : tensor<2x3x4x4xf32>
  %lp = ube.log %p : tensor<2x3x4x4xf32>
  %d = ube.sub %lp, %lq : tensor<2x3x4x4xf32>, tensor<2x3x4x4xf32>
  %terms = ube.mul %p, %d : tensor<2x3x4x4xf32>, tensor<2x3x4x4xf32>
  %rows = ube.reduce_sum %terms {axes = array<i64: -1>} : tensor<2x3x4x4xf32>
  %w = ube.reshape %m : tensor<2x4xf32> to tensor<2x1x4xf32>
  %wide = ube.broadcast_to %w : tensor<2x1x4xf32> to tensor<2x3x4xf32>
  %weighted = ube.mul %wide, %rows : tensor<2x3x4xf32>, tensor<2x3x4xf32>
  %total = ube.reduce_sum %weighted : tensor<2x3x4xf32>
  %count = ube.reduce_sum %wide : tensor<2x3x4xf32>
  %loss = ube.div %total, %count : tensor<f32>, tensor<f32>
  return %loss : tensor<f32>
}
