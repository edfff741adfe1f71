// RUN: ube-opt %s --ube-decompose --split-input-file | FileCheck %s
// RUN: ube-opt %s --ube-decompose=keep-normalizations --split-input-file | FileCheck %s --check-prefix=KEEP

// With keep-normalizations (the cpu target, whose row kernels take them),
// softmax, log_softmax, layer_norm and rms_norm stay whole; linear and
// attention still decompose.
// KEEP-LABEL: func.func @linear
// KEEP: ube.matmul
// KEEP-LABEL: func.func @softmax
// KEEP-NEXT: ube.softmax
// KEEP-LABEL: func.func @log_softmax
// KEEP-NEXT: ube.log_softmax
// KEEP-LABEL: func.func @layer_norm
// KEEP-NEXT: ube.layer_norm
// KEEP-LABEL: func.func @rms_norm
// KEEP-NEXT: ube.rms_norm
// KEEP-LABEL: func.func @attention_grouped
// KEEP-NOT: ube.scaled_dot_product_attention
// KEEP: ube.softmax

// CHECK-LABEL: func.func @linear
// CHECK-SAME: (%[[X:.*]]: tensor<2x8xf32>, %[[W:.*]]: tensor<4x8xf32>, %[[B:.*]]: tensor<4xf32>)
// CHECK: %[[M:.*]] = ube.matmul %[[X]], %[[W]] {transpose_rhs = true}
// CHECK: %[[R:.*]] = ube.add %[[M]], %[[B]] : tensor<2x4xf32>, tensor<4xf32>
// CHECK: return %[[R]]
func.func @linear(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>, %b: tensor<4xf32>) -> tensor<2x4xf32> {
  %0 = ube.linear %x, %w, %b : tensor<2x8xf32>, tensor<4x8xf32>, tensor<4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

// CHECK-LABEL: func.func @vector_matmul
// CHECK: %[[L:.*]] = ube.reshape %{{.*}} : tensor<8xf32> to tensor<1x8xf32>
// CHECK: %[[P:.*]] = ube.matmul %[[L]], %{{.*}} : tensor<1x8xf32>, tensor<8x3xf32>
// CHECK: ube.reshape %[[P]] : tensor<1x3xf32> to tensor<3xf32>
func.func @vector_matmul(%v: tensor<8xf32>, %m: tensor<8x3xf32>) -> tensor<3xf32> {
  %0 = ube.matmul %v, %m : tensor<8xf32>, tensor<8x3xf32>
  return %0 : tensor<3xf32>
}

// -----

// Softmax subtracts the row maximum before exponentiating.
// CHECK-LABEL: func.func @softmax
// CHECK-SAME: (%[[X:.*]]: tensor<2x5xf32>)
// CHECK: %[[MAX:.*]] = ube.reduce_max %[[X]] {axes = array<i64: 1>, keepdims = true}
// CHECK: %[[SUB:.*]] = ube.sub %[[X]], %[[MAX]]
// CHECK: %[[EXP:.*]] = ube.exp %[[SUB]]
// CHECK: %[[SUM:.*]] = ube.reduce_sum %[[EXP]] {axes = array<i64: 1>, keepdims = true}
// CHECK: ube.div %[[EXP]], %[[SUM]]
func.func @softmax(%x: tensor<2x5xf32>) -> tensor<2x5xf32> {
  %0 = ube.softmax %x {axis = 1} : tensor<2x5xf32>
  return %0 : tensor<2x5xf32>
}

// -----

// CHECK-LABEL: func.func @log_softmax
// CHECK: %[[MAX:.*]] = ube.reduce_max
// CHECK: %[[SHIFTED:.*]] = ube.sub %{{.*}}, %[[MAX]]
// CHECK: %[[SUM:.*]] = ube.reduce_sum
// CHECK: %[[LOG:.*]] = ube.log %[[SUM]]
// CHECK: ube.sub %[[SHIFTED]], %[[LOG]]
func.func @log_softmax(%x: tensor<2x5xf32>) -> tensor<2x5xf32> {
  %0 = ube.log_softmax %x : tensor<2x5xf32>
  return %0 : tensor<2x5xf32>
}

// -----

// CHECK-LABEL: func.func @layer_norm
// CHECK: %[[EPS:.*]] = ube.constant dense<9.99999974E-6> : tensor<f32>
// CHECK: %[[MEAN:.*]] = ube.reduce_mean %{{.*}} {axes = array<i64: 1, 2>, keepdims = true}
// CHECK: %[[C:.*]] = ube.sub %{{.*}}, %[[MEAN]]
// CHECK: %[[SQ:.*]] = ube.mul %[[C]], %[[C]]
// CHECK: %[[VAR:.*]] = ube.reduce_mean %[[SQ]] {axes = array<i64: 1, 2>, keepdims = true}
// CHECK: %[[VE:.*]] = ube.add %[[VAR]], %[[EPS]]
// CHECK: %[[R:.*]] = ube.rsqrt %[[VE]]
// CHECK: %[[N:.*]] = ube.mul %[[C]], %[[R]]
// CHECK: %[[S:.*]] = ube.mul %[[N]], %{{.*}} : tensor<2x3x4xf32>, tensor<3x4xf32>
// CHECK: ube.add %[[S]], %{{.*}} : tensor<2x3x4xf32>, tensor<3x4xf32>
func.func @layer_norm(%x: tensor<2x3x4xf32>, %w: tensor<3x4xf32>, %b: tensor<3x4xf32>) -> tensor<2x3x4xf32> {
  %0 = ube.layer_norm %x, %w, %b {axis = 1} : tensor<2x3x4xf32>, tensor<3x4xf32>, tensor<3x4xf32>
  return %0 : tensor<2x3x4xf32>
}

// -----

// CHECK-LABEL: func.func @rms_norm
// CHECK: %[[EPS:.*]] = ube.constant dense<9.99999997E-7> : tensor<f32>
// CHECK: %[[SQ:.*]] = ube.mul %[[X:.*]], %[[X]] : tensor<2x3x4xf32>
// CHECK: %[[MS:.*]] = ube.reduce_mean %[[SQ]] {axes = array<i64: 2>, keepdims = true}
// CHECK: %[[R:.*]] = ube.rsqrt
// CHECK: %[[N:.*]] = ube.mul %[[X]], %[[R]]
// CHECK: ube.mul %[[N]], %{{.*}} : tensor<2x3x4xf32>, tensor<4xf32>
func.func @rms_norm(%x: tensor<2x3x4xf32>, %w: tensor<4xf32>) -> tensor<2x3x4xf32> {
  %0 = ube.rms_norm %x, %w : tensor<2x3x4xf32>, tensor<4xf32>
  return %0 : tensor<2x3x4xf32>
}

// -----

// Grouped-query attention: the scaled query viewed as [B, Hk, G, L, E], keys
// and values as [B, Hk, 1, S, *], so the products broadcast over a group's
// heads; the mask and the causal triangle become biases (0, or the lowest
// float where a key is dropped) added to the scores, kept finite; a row
// with no key left (under a causal mask: its largest score the lowest
// float) is zeroed in the output.
// CHECK-LABEL: func.func @attention_grouped
// CHECK-SAME: (%[[Q:.*]]: tensor<2x4x5x8xf32>, %[[K:.*]]: tensor<2x2x6x8xf32>, %[[V:.*]]: tensor<2x2x6x3xf32>, %[[M:.*]]: tensor<5x6xi1>)
// CHECK-DAG: %[[ZERO:.*]] = ube.constant dense<0.000000e+00> : tensor<f32>
// CHECK-DAG: %[[LOWEST:.*]] = ube.constant dense<-3.40282347E+38> : tensor<f32>
// CHECK-DAG: %[[TRIL:.*]] = ube.constant dense<{{\[\[}}0.000000e+00, -3.40282347E+38, {{.*}}], [0.000000e+00, 0.000000e+00, -3.40282347E+38
// CHECK-DAG: %[[SCALE:.*]] = ube.constant dense<5.000000e-01> : tensor<f32>
// CHECK: %[[QS:.*]] = ube.mul %[[Q]], %[[SCALE]]
// CHECK: %[[QG:.*]] = ube.reshape %[[QS]] : tensor<2x4x5x8xf32> to tensor<2x2x2x5x8xf32>
// CHECK: %[[KG:.*]] = ube.reshape %[[K]] : tensor<2x2x6x8xf32> to tensor<2x2x1x6x8xf32>
// CHECK: %[[VG:.*]] = ube.reshape %[[V]] : tensor<2x2x6x3xf32> to tensor<2x2x1x6x3xf32>
// CHECK: %[[MG:.*]] = ube.reshape %[[M]] : tensor<5x6xi1> to tensor<1x1x1x5x6xi1>
// CHECK: %[[BIAS:.*]] = ube.where %[[MG]], %[[ZERO]], %[[LOWEST]]
// CHECK: %[[S:.*]] = ube.matmul %[[QG]], %[[KG]] {transpose_rhs = true}
// CHECK: %[[MASKED:.*]] = ube.add %[[S]], %[[BIAS]]
// CHECK: %[[CAUSAL:.*]] = ube.add %[[MASKED]], %[[TRIL]]
// CHECK: %[[FINITE:.*]] = ube.maximum %[[CAUSAL]], %[[LOWEST]]
// CHECK: %[[P:.*]] = ube.div
// CHECK: %[[O:.*]] = ube.matmul %[[P]], %[[VG]] : tensor<2x2x2x5x6xf32>, tensor<2x2x1x6x3xf32>
// CHECK: %[[TOP:.*]] = ube.reduce_max %[[FINITE]] {axes = array<i64: -1>, keepdims = true}
// CHECK: %[[HAS:.*]] = ube.compare "gt", %[[TOP]], %[[LOWEST]]
// CHECK: %[[OZ:.*]] = ube.where %[[HAS]], %[[O]], %[[ZERO]]
// CHECK: ube.reshape %[[OZ]] : tensor<2x2x2x5x3xf32> to tensor<2x4x5x3xf32>
func.func @attention_grouped(%q: tensor<2x4x5x8xf32>, %k: tensor<2x2x6x8xf32>, %v: tensor<2x2x6x3xf32>, %keep: tensor<5x6xi1>) -> tensor<2x4x5x3xf32> {
  %0 = ube.scaled_dot_product_attention %q, %k, %v, %keep {is_causal = true, scale = 0.5 : f64} : tensor<2x4x5x8xf32>, tensor<2x2x6x8xf32>, tensor<2x2x6x3xf32>, tensor<5x6xi1>
  return %0 : tensor<2x4x5x3xf32>
}

// -----

// Without groups: the default scale 1/sqrt(E), two matmuls and a softmax;
// a float mask is added to the scores. Without a causal mask, the rows
// without keys are those whose mask is the lowest float or -inf throughout.
// CHECK-LABEL: func.func @attention_float_mask
// CHECK-SAME: %[[M:[^:]*]]: tensor<3x5x7xf32>
// CHECK: ube.constant dense<0.353553{{[0-9]*}}> : tensor<f32>
// CHECK: %[[S:.*]] = ube.matmul %{{.*}}, %{{.*}} {transpose_rhs = true} : tensor<3x5x8xf32>, tensor<3x7x8xf32>
// CHECK: %[[B:.*]] = ube.add %[[S]], %[[M]] : tensor<3x5x7xf32>, tensor<3x5x7xf32>
// CHECK: %[[F:.*]] = ube.maximum %[[B]]
// CHECK: ube.reduce_max %[[F]]
// CHECK: ube.exp
// CHECK: %[[O:.*]] = ube.matmul
// CHECK: %[[TOP:.*]] = ube.reduce_max %[[M]]
// CHECK: %[[HAS:.*]] = ube.compare "gt", %[[TOP]]
// CHECK: ube.where %[[HAS]], %[[O]]
// CHECK-NOT: ube.reshape
func.func @attention_float_mask(%q: tensor<3x5x8xf32>, %k: tensor<3x7x8xf32>, %m: tensor<3x5x7xf32>) -> tensor<3x5x8xf32> {
  %0 = ube.scaled_dot_product_attention %q, %k, %k, %m : tensor<3x5x8xf32>, tensor<3x7x8xf32>, tensor<3x7x8xf32>, tensor<3x5x7xf32>
  return %0 : tensor<3x5x8xf32>
}
// -----

// Cross-entropy: log-softmax, a one-hot pick of the label, ignored rows
// masked out of both the sum and the count.
// CHECK-LABEL: func.func @cross_entropy
// CHECK-DAG: %[[IOTA:.*]] = ube.constant dense<[0, 1, 2, 3, 4]> : tensor<5xi64>
// CHECK-DAG: ube.reduce_max
// CHECK: %[[ONEHOT:.*]] = ube.compare "eq", %{{.*}}, %[[IOTA]] : tensor<3x1xi64>, tensor<5xi64>
// CHECK: %[[VALID:.*]] = ube.compare "ne", %{{.*}}, %{{.*}} : tensor<3xi64>, tensor<i64>
// CHECK: ube.cast %[[VALID]] : tensor<3xi1> to tensor<3xf32>
// CHECK: ube.maximum
// CHECK: ube.div
func.func @cross_entropy(%l: tensor<3x5xf32>, %y: tensor<3xi64>) -> tensor<f32> {
  %0 = ube.cross_entropy %l, %y : tensor<3x5xf32>, tensor<3xi64>
  return %0 : tensor<f32>
}

// -----

// CHECK-LABEL: func.func @mse
// CHECK: %[[D:.*]] = ube.sub
// CHECK: %[[SQ:.*]] = ube.mul %[[D]], %[[D]]
// CHECK: ube.reduce_sum %[[SQ]] : tensor<4xf32>
func.func @mse(%a: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<f32> {
  %0 = ube.mse_loss %a, %b {reduction = "sum"} : tensor<4xf32>, tensor<4xf32>
  return %0 : tensor<f32>
}

// -----

// kd_loss: rows flattened, logits divided by T; per row the maxima, the two
// normalizers and the teacher-weighted difference, each one streaming sum,
// so neither distribution is materialized; KL = W / Z_t - lse_t + lse_s;
// the row mean scaled by T^2.
// CHECK-LABEL: func.func @kd_loss
// CHECK-DAG: %[[INVT:.*]] = ube.constant dense<5.000000e-01> : tensor<f32>
// CHECK-DAG: %[[T2:.*]] = ube.constant dense<4.000000e+00> : tensor<f32>
// CHECK-DAG: %[[S:.*]] = ube.reshape %arg0 : tensor<2x3x10xf32> to tensor<6x10xf32>
// CHECK-DAG: %[[T:.*]] = ube.reshape %arg1 : tensor<2x3x10xf32> to tensor<6x10xf32>
// CHECK-DAG: %[[SS:.*]] = ube.mul %[[S]], %[[INVT]]
// CHECK-DAG: %[[TT:.*]] = ube.mul %[[T]], %[[INVT]]
// CHECK-DAG: %[[MT:.*]] = ube.reduce_max %[[TT]] {axes = array<i64: -1>, keepdims = true}
// CHECK-DAG: %[[ET:.*]] = ube.exp
// CHECK-DAG: %[[DIFF:.*]] = ube.sub %[[TT]], %[[SS]] : tensor<6x10xf32>, tensor<6x10xf32>
// CHECK-DAG: %[[TERMS:.*]] = ube.mul %[[ET]], %[[DIFF]] : tensor<6x10xf32>, tensor<6x10xf32>
// CHECK-DAG: %[[W:.*]] = ube.reduce_sum %[[TERMS]] {axes = array<i64: -1>} : tensor<6x10xf32>
// CHECK-DAG: %[[ZT:.*]] = ube.reduce_sum %[[ET]] {axes = array<i64: -1>} : tensor<6x10xf32>
// CHECK: %[[RATIO:.*]] = ube.div %[[W]], %[[ZT]]
// CHECK: %[[KL0:.*]] = ube.sub %[[RATIO]], %{{.*}}
// CHECK: %[[KL:.*]] = ube.add %[[KL0]], %{{.*}}
// CHECK: %[[MEAN:.*]] = ube.reduce_mean %[[KL]] : tensor<6xf32>
// CHECK: ube.mul %[[MEAN]], %[[T2]]
// CHECK-NOT: ube.log_softmax
func.func @kd_loss(%s: tensor<2x3x10xf32>, %t: tensor<2x3x10xf32>) -> tensor<f32> {
  %0 = ube.kd_loss %s, %t {temperature = 2.0} : tensor<2x3x10xf32>, tensor<2x3x10xf32>
  return %0 : tensor<f32>
}

// -----

// Without T^2 scaling and at T = 1 no scaling ops appear.
// CHECK-LABEL: func.func @kd_loss_plain
// CHECK-NOT: ube.mul %{{.*}}, %{{.*}} : tensor<f32>, tensor<f32>
// CHECK: return
func.func @kd_loss_plain(%s: tensor<4x10xf32>, %t: tensor<4x10xf32>) -> tensor<f32> {
  %0 = ube.kd_loss %s, %t {scale_by_temperature_squared = false} : tensor<4x10xf32>, tensor<4x10xf32>
  return %0 : tensor<f32>
}

// -----

// Feature maps: projection, per-token statistics, and only the terms with a
// non-zero weight.
// CHECK-LABEL: func.func @feature_map
// CHECK: ube.matmul %{{.*}}, %{{.*}} : tensor<5x4xf32>, tensor<4x8xf32>
// CHECK-COUNT-2: ube.rsqrt
// CHECK: ube.reduce_mean %{{.*}} : tensor<5x8xf32>
// CHECK-NOT: ube.abs
// CHECK: return
func.func @feature_map(%hs: tensor<5x4xf32>, %ht: tensor<5x8xf32>, %w: tensor<4x8xf32>) -> tensor<f32> {
  %0 = ube.feature_map_loss %hs, %ht projection %w {beta = 0.5} : tensor<5x4xf32>, tensor<5x8xf32>, tensor<4x8xf32>
  return %0 : tensor<f32>
}

// -----

// Attention transfer, flash-style: 40 keys in blocks of 32 and 8; each
// block's scores are scaled, masked keys set to the lowest finite value
// (never -inf), and the running max per row merges the blocks' maxima; the
// final KL needs no [40 x 40] scores and padded queries leave the mean.
// CHECK-LABEL: func.func @attention
// CHECK-DAG: ube.constant dense<2.500000e-01> : tensor<f32>
// CHECK-DAG: ube.constant dense<-3.40282347E+38> : tensor<f32>
// CHECK: %[[K0:.*]] = ube.slice %arg0 {limit = array<i64: 2, 3, 32, 16>, start = array<i64: 0, 0, 0, 0>
// CHECK: ube.matmul %arg0, %[[K0]] {transpose_rhs = true} : tensor<2x3x40x16xf32>, tensor<2x3x32x16xf32>
// CHECK: ube.where %{{.*}}, %{{.*}}, %{{.*}} : tensor<2x1x1x32xi1>, tensor<2x3x40x32xf32>, tensor<f32>
// CHECK: %[[M0:.*]] = ube.reduce_max %{{.*}} {axes = array<i64: -1>, keepdims = true} : tensor<2x3x40x32xf32>
// CHECK: %[[K1:.*]] = ube.slice %arg0 {limit = array<i64: 2, 3, 40, 16>, start = array<i64: 0, 0, 32, 0>
// CHECK: ube.matmul %arg0, %[[K1]] {transpose_rhs = true} : tensor<2x3x40x16xf32>, tensor<2x3x8x16xf32>
// CHECK: %[[B1:.*]] = ube.reduce_max %{{.*}} : tensor<2x3x40x8xf32>
// CHECK: ube.maximum %[[M0]], %[[B1]] : tensor<2x3x40x1xf32>, tensor<2x3x40x1xf32>
// CHECK-NOT: tensor<2x3x40x40xf32>
// CHECK: ube.cast %{{.*}} : tensor<2x1x40xi1> to tensor<2x1x40xf32>
func.func @attention(%qs: tensor<2x3x40x16xf32>, %qt: tensor<2x3x40x8xf32>, %m: tensor<2x40xi1>) -> tensor<f32> {
  %0 = ube.attention_transfer_loss %qs, %qs, %qt, %qt mask %m : tensor<2x3x40x16xf32>, tensor<2x3x40x16xf32>, tensor<2x3x40x8xf32>, tensor<2x3x40x8xf32>, tensor<2x40xi1>
  return %0 : tensor<f32>
}

// -----

// kd_loss_grad: (softmax(s/T) - softmax(t/T)) scaled per row by grad/N on
// counted rows and by T (T²/T), plus alpha·(softmax(s) - onehot(y)) the same way.
// CHECK-LABEL: func.func @kd_loss_grad
// CHECK-DAG: %[[IOTA:.*]] = ube.constant dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]> : tensor<10xi64>
// CHECK-DAG: %[[T:.*]] = ube.constant dense<2.000000e+00> : tensor<f32>
// CHECK-DAG: %[[IGNORE:.*]] = ube.constant dense<-100> : tensor<i64>
// CHECK: %[[DIFF:.*]] = ube.sub %{{.*}}, %{{.*}} : tensor<4x10xf32>, tensor<4x10xf32>
// CHECK: %[[COUNTED:.*]] = ube.compare "ne", %arg3, %[[IGNORE]]
// CHECK: %[[PERROW:.*]] = ube.reshape %{{.*}} : tensor<4xf32> to tensor<4x1xf32>
// CHECK: %[[KLW:.*]] = ube.mul %[[PERROW]], %[[T]]
// CHECK: ube.mul %[[DIFF]], %[[KLW]]
// CHECK: ube.compare "eq", %{{.*}}, %[[IOTA]] : tensor<4x1xi64>, tensor<10xi64>
// CHECK: return
func.func @kd_loss_grad(%s: tensor<4x10xf32>, %t: tensor<4x10xf32>, %g: tensor<f32>, %y: tensor<4xi64>) -> tensor<4x10xf32> {
  %0 = ube.kd_loss_grad %s, %t, %g labels %y {temperature = 2.0, alpha = 0.5} : tensor<4x10xf32>, tensor<4x10xf32>, tensor<f32>, tensor<4xi64>
  return %0 : tensor<4x10xf32>
}

// -----

// attention_transfer_loss_grad: the forward's statistics (same ops), then
// dq a block of queries at a time on transposed scores [keys, queries]
// (keys·q_blockᵀ, G_blockᵀ·k) and dk a block of keys at a time on scores
// recomputed with the keys transposed first (so CSE keeps them apart from
// the statistics' blocks); the blocks' results are concatenated, never
// summed.
// CHECK-LABEL: func.func @attention_grad
// CHECK: %[[Q0:.*]] = ube.slice %arg0 {limit = array<i64: 2, 3, 32, 16>, start = array<i64: 0, 0, 0, 0>
// CHECK: ube.matmul %arg1, %[[Q0]] {transpose_rhs = true} : tensor<2x3x40x16xf32>, tensor<2x3x32x16xf32>
// CHECK: %[[DQ0:.*]] = ube.matmul %{{.*}}, %arg1 {transpose_lhs = true} : tensor<2x3x40x32xf32>, tensor<2x3x40x16xf32>
// CHECK: %[[DQ1:.*]] = ube.matmul %{{.*}}, %arg1 {transpose_lhs = true} : tensor<2x3x40x8xf32>, tensor<2x3x40x16xf32>
// CHECK: %[[K0:.*]] = ube.slice %arg1 {limit = array<i64: 2, 3, 32, 16>, start = array<i64: 0, 0, 0, 0>
// CHECK: %[[K0T:.*]] = ube.transpose %[[K0]], [0, 1, 3, 2]
// CHECK: ube.matmul %arg0, %[[K0T]] : tensor<2x3x40x16xf32>, tensor<2x3x16x32xf32>
// CHECK: %[[DK0:.*]] = ube.matmul %{{.*}}, %arg0 {transpose_lhs = true} : tensor<2x3x40x32xf32>, tensor<2x3x40x16xf32>
// CHECK: %[[DK1:.*]] = ube.matmul %{{.*}}, %arg0 {transpose_lhs = true} : tensor<2x3x40x8xf32>, tensor<2x3x40x16xf32>
// CHECK: %[[DQ:.*]] = ube.concat %[[DQ0]], %[[DQ1]] {axis = 2 : i64}
// CHECK: %[[DK:.*]] = ube.concat %[[DK0]], %[[DK1]] {axis = 2 : i64}
// CHECK: return %[[DQ]], %[[DK]]
func.func @attention_grad(%qs: tensor<2x3x40x16xf32>, %ks: tensor<2x3x40x16xf32>, %qt: tensor<2x3x40x8xf32>, %g: tensor<f32>) -> (tensor<2x3x40x16xf32>, tensor<2x3x40x16xf32>) {
  %0:2 = ube.attention_transfer_loss_grad %qs, %ks, %qt, %qt, %g : tensor<2x3x40x16xf32>, tensor<2x3x40x16xf32>, tensor<2x3x40x8xf32>, tensor<2x3x40x8xf32>, tensor<f32>
  return %0#0, %0#1 : tensor<2x3x40x16xf32>, tensor<2x3x40x16xf32>
}

// -----

// feature_map_loss_grad with a projection: dh for h = h_s·W, then dh·Wᵀ and
// h_sᵀ·dh over the flattened tokens.
// CHECK-LABEL: func.func @feature_map_grad
// CHECK: %[[H:.*]] = ube.matmul %arg0, %arg3 : tensor<2x5x6xf32>, tensor<6x12xf32>
// CHECK: %[[DS:.*]] = ube.matmul %[[DH:.*]], %arg3 {transpose_rhs = true} : tensor<2x5x12xf32>, tensor<6x12xf32>
// CHECK: %[[FLAT:.*]] = ube.reshape %arg0 : tensor<2x5x6xf32> to tensor<10x6xf32>
// CHECK: %[[DW:.*]] = ube.matmul %[[FLAT]], %{{.*}} {transpose_lhs = true} : tensor<10x6xf32>, tensor<10x12xf32>
// CHECK: return %[[DS]], %[[DW]]
func.func @feature_map_grad(%hs: tensor<2x5x6xf32>, %ht: tensor<2x5x12xf32>, %g: tensor<f32>, %w: tensor<6x12xf32>) -> (tensor<2x5x6xf32>, tensor<6x12xf32>) {
  %0:2 = ube.feature_map_loss_grad %hs, %ht, %g projection %w {beta = 0.5, gamma = 0.25} : tensor<2x5x6xf32>, tensor<2x5x12xf32>, tensor<f32>, tensor<6x12xf32>
  return %0#0, %0#1 : tensor<2x5x6xf32>, tensor<6x12xf32>
}

// -----

// SGD: d = g + wd·p, b = momentum·buffer + d, p - lr·b (lr cast to the
// parameter's type; here already f32, so the cast folds away later).
// CHECK-LABEL: func.func @sgd
// CHECK-DAG: %[[WD:.*]] = ube.constant dense<0.0099{{.*}}> : tensor<f32>
// CHECK-DAG: %[[M:.*]] = ube.constant dense<0.899{{.*}}> : tensor<f32>
// CHECK: %[[PW:.*]] = ube.mul %arg0, %[[WD]]
// CHECK: %[[D:.*]] = ube.add %arg1, %[[PW]]
// CHECK: %[[BM:.*]] = ube.mul %arg2, %[[M]]
// CHECK: %[[B:.*]] = ube.add %[[BM]], %[[D]]
// CHECK: %[[STEP:.*]] = ube.mul %[[B]]
// CHECK: %[[P:.*]] = ube.sub %arg0, %[[STEP]]
// CHECK: return %[[P]], %[[B]]
func.func @sgd(%p: tensor<4xf32>, %g: tensor<4xf32>, %buf: tensor<4xf32>, %lr: tensor<f32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %0:2 = ube.sgd_update %p, %g, %buf, %lr {momentum = 0.9, weight_decay = 0.01} : tensor<4xf32>
  return %0#0, %0#1 : tensor<4xf32>, tensor<4xf32>
}

// -----

// AdamW: decoupled decay, both moments, bias corrections from the step.
// CHECK-LABEL: func.func @adamw
// CHECK: ube.cast %arg5 : tensor<i64> to tensor<f32>
// CHECK: ube.pow
// CHECK: ube.pow
// CHECK: ube.sqrt
// CHECK: ube.sqrt
// CHECK: return %{{.*}}, %{{.*}}, %{{.*}} : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
// CHECK-NOT: ube.adamw_update
func.func @adamw(%p: tensor<4xf32>, %g: tensor<4xf32>, %m: tensor<4xf32>, %v: tensor<4xf32>, %lr: tensor<f32>, %step: tensor<i64>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
  %0:3 = ube.adamw_update %p, %g, %m, %v, %lr, %step : tensor<4xf32>
  return %0#0, %0#1, %0#2 : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
}

// -----

// On symbolic sizes: the attention loss takes all keys as one block (no
// slices) and reshapes its rows with sizes read from the queries.
// CHECK-LABEL: func.func @attention_symbolic
// CHECK-NOT: ube.slice
// CHECK: %[[B:.*]] = tensor.dim %arg0, %c0
// CHECK: %[[N:.*]] = tensor.dim %arg0, %c2
// CHECK: %[[KL:.*]] = ube.reshape %{{.*}} [%[[B]], %[[N]]] : tensor<?x3x?x1xf32> to tensor<?x3x?xf32>
// CHECK: ube.reduce_mean %[[KL]]
func.func @attention_symbolic(%qs: tensor<?x3x?x16xf32>, %ks: tensor<?x3x?x16xf32>, %qt: tensor<?x3x?x8xf32>, %kt: tensor<?x3x?x8xf32>) -> tensor<f32> {
  %0 = ube.attention_transfer_loss %qs, %ks, %qt, %kt : tensor<?x3x?x16xf32>, tensor<?x3x?x16xf32>, tensor<?x3x?x8xf32>, tensor<?x3x?x8xf32>
  return %0 : tensor<f32>
}

// -----

// The masked gradient on symbolic sizes: one block each way, no concat.
// CHECK-LABEL: func.func @attention_grad_symbolic
// CHECK-NOT: ube.slice
// CHECK-NOT: ube.concat
// CHECK: return
func.func @attention_grad_symbolic(%qs: tensor<?x3x?x16xf32>, %ks: tensor<?x3x?x16xf32>, %qt: tensor<?x3x?x8xf32>, %kt: tensor<?x3x?x8xf32>, %g: tensor<f32>, %m: tensor<?x?xi1>) -> (tensor<?x3x?x16xf32>, tensor<?x3x?x16xf32>) {
  %0:2 = ube.attention_transfer_loss_grad %qs, %ks, %qt, %kt, %g mask %m : tensor<?x3x?x16xf32>, tensor<?x3x?x16xf32>, tensor<?x3x?x8xf32>, tensor<?x3x?x8xf32>, tensor<f32>, tensor<?x?xi1>
  return %0#0, %0#1 : tensor<?x3x?x16xf32>, tensor<?x3x?x16xf32>
}

// -----

// feature_map_loss_grad on a symbolic token count: the count is summed at
// run time from ones of the tokens' shape; d W over the rows collapsed
// with their product of sizes.
// CHECK-LABEL: func.func @feature_map_grad_symbolic
// CHECK: %[[ONES:.*]] = ube.broadcast_to %{{.*}} [%{{.*}}, %{{.*}}] : tensor<f32> to tensor<?x?xf32>
// CHECK: %[[TOKENS:.*]] = ube.reduce_sum %[[ONES]] : tensor<?x?xf32>
// CHECK: ube.div %arg2, %[[TOKENS]]
// CHECK: %[[ROWS:.*]] = arith.muli
// CHECK: ube.reshape %arg0 [%[[ROWS]]] : tensor<?x?x6xf32> to tensor<?x6xf32>
// CHECK: ube.matmul {{.*}}transpose_lhs = true
func.func @feature_map_grad_symbolic(%hs: tensor<?x?x6xf32>, %ht: tensor<?x?x12xf32>, %g: tensor<f32>, %w: tensor<6x12xf32>) -> (tensor<?x?x6xf32>, tensor<6x12xf32>) {
  %0:2 = ube.feature_map_loss_grad %hs, %ht, %g projection %w {beta = 0.5, gamma = 0.25} : tensor<?x?x6xf32>, tensor<?x?x12xf32>, tensor<f32>, tensor<6x12xf32>
  return %0#0, %0#1 : tensor<?x?x6xf32>, tensor<6x12xf32>
}

// -----

// kd_loss_grad on symbolic rows: the per-row weights reshaped with the
// row count read from the logits.
// CHECK-LABEL: func.func @kd_grad_symbolic
// CHECK: %[[R:.*]] = tensor.dim %arg0, %c0
// CHECK: ube.reshape %{{.*}} [%[[R]]] : tensor<?xf32> to tensor<?x1xf32>
func.func @kd_grad_symbolic(%s: tensor<?x10xf32>, %t: tensor<?x10xf32>, %l: tensor<?xi64>, %g: tensor<f32>) -> tensor<?x10xf32> {
  %0 = ube.kd_loss_grad %s, %t, %g labels %l {alpha = 0.5} : tensor<?x10xf32>, tensor<?x10xf32>, tensor<f32>, tensor<?xi64>
  return %0 : tensor<?x10xf32>
}

// -----

// Past 256 keys, flash-style: query and key blocks of 128 (and a ragged 44),
// running max, sum and output per query block, no [300 x 300] scores; with
// is_causal the blocks above the diagonal are skipped (6 of 9 computed).
// CHECK-LABEL: func.func @attention_flash_causal
// CHECK-NOT: 300x300
// CHECK-COUNT-6: ube.matmul {{.*}} {transpose_rhs = true} : tensor<1x2x{{128|44}}x8xf32>, tensor<1x2x{{128|44}}x8xf32>
// CHECK-NOT: transpose_rhs
// CHECK: ube.concat {{.*}} {axis = 2 : i64} : tensor<1x2x128x8xf32>, tensor<1x2x128x8xf32>, tensor<1x2x44x8xf32>
func.func @attention_flash_causal(%q: tensor<1x2x300x8xf32>, %k: tensor<1x2x300x8xf32>, %v: tensor<1x2x300x8xf32>) -> tensor<1x2x300x8xf32> {
  %0 = ube.scaled_dot_product_attention %q, %k, %v {is_causal = true} : tensor<1x2x300x8xf32>, tensor<1x2x300x8xf32>, tensor<1x2x300x8xf32>
  return %0 : tensor<1x2x300x8xf32>
}

// -----

// The gradient op as the composition's gradients: the scores and
// probabilities recomputed as one matrix (64 keys),
// dS = P ⊙ (dP − rowsum(dP ⊙ P)), then dQ, dK and dV as products.
// CHECK-LABEL: func.func @attention_grad
// CHECK: ube.matmul %{{.*}}, %arg1 {transpose_rhs = true} : tensor<2x5x8xf32>, tensor<2x64x8xf32>
// CHECK: %[[P:.*]] = ube.div
// CHECK: %[[DP:.*]] = ube.matmul %arg2, %arg1 {transpose_rhs = true}
// CHECK: %[[DS:.*]] = ube.mul %[[P]], %{{.*}} : tensor<2x5x64xf32>, tensor<2x5x64xf32>
// CHECK: ube.matmul %[[DS]], %arg1 : tensor<2x5x64xf32>, tensor<2x64x8xf32>
// CHECK: ube.matmul %[[DS]], %{{.*}} {transpose_lhs = true}
// CHECK: ube.matmul %[[P]], %arg2 {transpose_lhs = true}
// CHECK-NOT: ube.scaled_dot_product_attention_grad
func.func @attention_grad(%q: tensor<2x5x8xf32>, %k: tensor<2x64x8xf32>, %o: tensor<2x5x8xf32>) -> (tensor<2x5x8xf32>, tensor<2x64x8xf32>, tensor<2x64x8xf32>) {
  %0:3 = ube.scaled_dot_product_attention_grad %q, %k, %k output %o grad %o : tensor<2x5x8xf32>, tensor<2x64x8xf32>, tensor<2x64x8xf32>, tensor<2x5x8xf32>
  return %0#0, %0#1, %0#2 : tensor<2x5x8xf32>, tensor<2x64x8xf32>, tensor<2x64x8xf32>
}

// -----

// Under dropout the gradient draws the forward's mask again (the same seed
// and step): dP = Z ⊙ g·Vᵀ, and dV from P ⊙ Z.
// CHECK-LABEL: func.func @attention_grad_dropout
// CHECK: %[[P:.*]] = ube.div
// CHECK: %[[GV:.*]] = ube.matmul %arg2, %arg1 {transpose_rhs = true}
// CHECK: %[[DP:.*]] = ube.dropout %[[GV]] step %arg3 {rate = 2.000000e-01 : f64, seed = 5 : i64}
// CHECK: ube.mul %[[DP]], %[[P]]
// CHECK: %[[PZ:.*]] = ube.dropout %[[P]] step %arg3 {rate = 2.000000e-01 : f64, seed = 5 : i64}
// CHECK: ube.matmul %[[PZ]], %arg2 {transpose_lhs = true}
// CHECK-NOT: ube.scaled_dot_product_attention_grad
func.func @attention_grad_dropout(%q: tensor<2x5x8xf32>, %k: tensor<2x64x8xf32>, %o: tensor<2x5x8xf32>, %s: tensor<i64>) -> (tensor<2x5x8xf32>, tensor<2x64x8xf32>, tensor<2x64x8xf32>) {
  %0:3 = ube.scaled_dot_product_attention_grad %q, %k, %k output %o grad %o step %s {dropout_p = 0.2 : f64, seed = 5 : i64} : tensor<2x5x8xf32>, tensor<2x64x8xf32>, tensor<2x64x8xf32>, tensor<2x5x8xf32>
  return %0#0, %0#1, %0#2 : tensor<2x5x8xf32>, tensor<2x64x8xf32>, tensor<2x64x8xf32>
}
