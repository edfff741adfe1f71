// RUN: ube-opt %s --ube-cpu-attention-kernels="vector-width=8 key-block=16 tile-rows=2" --canonicalize --cse --split-input-file | FileCheck %s
// RUN: not ube-opt %s --ube-cpu-attention-kernels="vector-width=8 key-block=12" 2>&1 | FileCheck %s --check-prefix=BAD-BLOCK

// BAD-BLOCK: key-block a multiple of the width

// A boolean key-padding mask becomes a bias (0, or the lowest float) read
// once per tile; the 18 tasks are (batch, head, group of rows); each keeps
// the matrix's keys transposed in panels of a block ([S / C rounded up, E,
// C]) and a tile's probabilities ([R, C]). 20 keys: one block of 16, then one vector
// of 8 with its padding masked. No tensor of scores exists.
// CHECK-LABEL: func.func @masked
// CHECK-SAME: %[[Q:[^:]*]]: tensor<2x3x5x8xf32>, %[[K:[^:]*]]: tensor<2x3x20x8xf32>, %[[V:[^:]*]]: tensor<2x3x20x8xf32>, %[[M:[^:]*]]: tensor<2x1x1x20xi1>
// CHECK: %[[BIAS:.*]] = ube.where %[[M]]
// CHECK: scf.forall (%{{.*}}) in (18)
// CHECK: tensor.empty() : tensor<2x8x16xf32>
// CHECK: tensor.extract %[[K]]
// CHECK: tensor.empty() : tensor<2x16xf32>
// CHECK: vector.transfer_read %[[BIAS]][%{{.*}}, %c0, %c0, %c0]
// CHECK: vector.reduction <maximumf>
// CHECK: math.exp
// CHECK: %[[TAIL:.*]] = vector.constant_mask [4] : vector<8xi1>
// CHECK: vector.transfer_read %[[BIAS]][%{{.*}}, %c0, %c0, %c16], %{{.*}}, %[[TAIL]]
// CHECK: vector.reduction <add>
// CHECK: arith.cmpf ogt
// CHECK: scf.forall.in_parallel
// CHECK-NOT: tensor<2x3x5x20xf32>
// CHECK-NOT: ube.scaled_dot_product_attention
func.func @masked(%q: tensor<2x3x5x8xf32>, %k: tensor<2x3x20x8xf32>, %v: tensor<2x3x20x8xf32>, %m: tensor<2x1x1x20xi1>) -> tensor<2x3x5x8xf32> {
  %0 = ube.scaled_dot_product_attention %q, %k, %v, %m : tensor<2x3x5x8xf32>, tensor<2x3x20x8xf32>, tensor<2x3x20x8xf32>, tensor<2x1x1x20xi1>
  return %0 : tensor<2x3x5x8xf32>
}

// -----

// Symbolic batch and lengths: the task count and the key loops run to the
// sizes at run time (full blocks of 16 keys to S rounded down, then
// vectors of 8). Grouped heads: key and value head = query head / 2.
// is_causal: a tile sees keys up to its last row, each row a mask of the
// keys j <= i. Ev = 12: the values' second vector has 4 lanes.
// CHECK-LABEL: func.func @symbolic_causal_grouped
// CHECK: %[[S:.*]] = tensor.dim %arg1, %c2
// CHECK: scf.forall (%{{.*}}) in (%{{.*}})
// CHECK: arith.divui %{{.*}}, %c2
// CHECK: %[[END:.*]] = arith.minui %[[S]], %{{.*}}
// CHECK: %[[FULL:.*]] = arith.muli %{{.*}}, %c16
// CHECK: scf.for %{{.*}} = %c0 to %[[FULL]] step %c16
// CHECK: vector.create_mask
// CHECK: vector.constant_mask [4] : vector<8xi1>
// CHECK: scf.for %{{.*}} = %[[FULL]] to %[[END]] step %c8
func.func @symbolic_causal_grouped(%q: tensor<?x4x?x8xf32>, %k: tensor<?x2x?x8xf32>, %v: tensor<?x2x?x12xf32>) -> tensor<?x4x?x12xf32> {
  %0 = ube.scaled_dot_product_attention %q, %k, %v {is_causal = true, scale = 0.5 : f64} : tensor<?x4x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x12xf32>
  return %0 : tensor<?x4x?x12xf32>
}

// -----

// Left to the decomposition: 16-bit floats and a symbolic head size.
// CHECK-LABEL: func.func @not_taken
// CHECK-COUNT-2: ube.scaled_dot_product_attention
func.func @not_taken(%h: tensor<2x5x8xf16>, %hk: tensor<2x7x8xf16>, %d: tensor<2x5x?xf32>, %dk: tensor<2x7x?xf32>) -> (tensor<2x5x8xf16>, tensor<2x5x?xf32>) {
  %1 = ube.scaled_dot_product_attention %h, %hk, %hk : tensor<2x5x8xf16>, tensor<2x7x8xf16>, tensor<2x7x8xf16>
  %2 = ube.scaled_dot_product_attention %d, %dk, %dk : tensor<2x5x?xf32>, tensor<2x7x?xf32>, tensor<2x7x?xf32>
  return %1, %2 : tensor<2x5x8xf16>, tensor<2x5x?xf32>
}

// -----

// Dropout in the kernel: per key vector of a tile's row, the Philox draws
// of the probabilities' indices ((matrix·L + row)·S + key + lane) with the
// step and seed (each 32-bit word in a 64-bit lane), kept (× 1/(1 - 0.25)) where the draw is at least 0.25,
// and only then multiplied into p·V: the sums that normalize count every
// key.
// CHECK-LABEL: func.func @dropout
// CHECK-DAG: %[[KEEP:.*]] = arith.constant dense<1.33333337> : vector<8xf32>
// CHECK-DAG: %[[RATE:.*]] = arith.constant dense<2.500000e-01> : vector<8xf32>
// CHECK-DAG: %[[LANES:.*]] = arith.constant dense<[0, 1, 2, 3, 4, 5, 6, 7]> : vector<8xi64>
// CHECK: %[[STEP:.*]] = tensor.extract %arg2[] : tensor<i64>
// CHECK: scf.forall
// CHECK: math.exp
// CHECK: %[[AT:.*]] = arith.index_cast %{{.*}} : index to i64
// CHECK: %[[FIRST:.*]] = vector.broadcast %[[AT]] : i64 to vector<8xi64>
// CHECK: arith.addi %[[FIRST]], %[[LANES]] : vector<8xi64>
// CHECK: vector.broadcast %[[STEP]] : i64 to vector<8xi64>
// CHECK-COUNT-2: arith.muli %{{.*}} : vector<8xi64>
// CHECK: arith.trunci %{{.*}} : vector<8xi64> to vector<8xi32>
// CHECK: arith.uitofp %{{.*}} : vector<8xi32> to vector<8xf32>
// CHECK: %[[KEPT:.*]] = arith.cmpf oge, %{{.*}}, %[[RATE]] : vector<8xf32>
// CHECK: %[[Z:.*]] = arith.select %[[KEPT]], %[[KEEP]], %{{.*}} : vector<8xi1>, vector<8xf32>
// CHECK: arith.mulf %{{.*}}, %[[Z]] : vector<8xf32>
// CHECK-NOT: ube.scaled_dot_product_attention
// CHECK-NOT: ube.dropout
func.func @dropout(%q: tensor<2x5x8xf32>, %k: tensor<2x20x8xf32>, %s: tensor<i64>) -> tensor<2x5x8xf32> {
  %0 = ube.scaled_dot_product_attention %q, %k, %k step %s {dropout_p = 0.25 : f64, seed = 7 : i64} : tensor<2x5x8xf32>, tensor<2x20x8xf32>, tensor<2x20x8xf32>
  return %0 : tensor<2x5x8xf32>
}

// -----

// The gradient under dropout draws the same factors Z: dP = Z ⊙ g·Vᵀ, and
// dV's weights P ⊙ Z. Without a step, the draws take step 0 (folded with
// the seed into the rounds' constants).
// CHECK-LABEL: func.func @grad_dropout
// CHECK-DAG: %[[KEEP:.*]] = arith.constant dense<1.11111116> : vector<8xf32>
// CHECK: scf.forall
// CHECK: arith.muli %{{.*}} : vector<8xi64>
// CHECK: %[[Z:.*]] = arith.select %{{.*}}, %[[KEEP]], %{{.*}} : vector<8xi1>, vector<8xf32>
// CHECK: %[[DP:.*]] = arith.mulf %{{.*}}, %[[Z]] : vector<8xf32>
// CHECK: %[[PZ:.*]] = arith.mulf %{{.*}}, %[[Z]] : vector<8xf32>
// CHECK: vector.transfer_write %[[PZ]]
// CHECK: arith.subf %[[DP]], %{{.*}} : vector<8xf32>
// CHECK-NOT: ube.scaled_dot_product_attention_grad
func.func @grad_dropout(%q: tensor<2x5x8xf32>, %k: tensor<2x20x8xf32>, %o: tensor<2x5x8xf32>) -> (tensor<2x5x8xf32>, tensor<2x20x8xf32>, tensor<2x20x8xf32>) {
  %0:3 = ube.scaled_dot_product_attention_grad %q, %k, %k output %o grad %o {dropout_p = 0.1 : f64, seed = 3 : i64} : tensor<2x5x8xf32>, tensor<2x20x8xf32>, tensor<2x20x8xf32>, tensor<2x5x8xf32>
  return %0#0, %0#1, %0#2 : tensor<2x5x8xf32>, tensor<2x20x8xf32>, tensor<2x20x8xf32>
}

// -----

// One known query row (a decoding step): tiles of one row, not two with
// the last repeated.
// CHECK-LABEL: func.func @one_row
// CHECK: tensor.empty() : tensor<1x16xf32>
// CHECK-NOT: ube.scaled_dot_product_attention
func.func @one_row(%q: tensor<3x1x8xf32>, %k: tensor<3x40x8xf32>) -> tensor<3x1x8xf32> {
  %0 = ube.scaled_dot_product_attention %q, %k, %k : tensor<3x1x8xf32>, tensor<3x40x8xf32>, tensor<3x40x8xf32>
  return %0 : tensor<3x1x8xf32>
}

// -----

// The gradient: one task per query matrix. Each transposes the keys and
// the values into panels, recomputes every row's log-sum-exp (and
// rowsum(g ⊙ O)), then walks the key blocks (full blocks of 16, then
// vectors of 8) and, per block, the query tiles from the first that sees
// it (is_causal); dQ accumulates in rows padded to whole tiles, each
// block's dK and dV rows in scratch. dK and dV come out per query head
// and are summed over each group of 2.
// CHECK-LABEL: func.func @grad_symbolic_causal_grouped
// CHECK: %[[L:.*]] = tensor.dim %arg0, %c2
// CHECK: %[[S:.*]] = tensor.dim %arg1, %c2
// CHECK: scf.forall (%{{.*}}) in (%{{.*}}) shared_outs({{.*}}) -> (tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>, tensor<?x4x?x12xf32>)
// CHECK: tensor.empty(%{{.*}}) : tensor<?x8x16xf32>
// CHECK: tensor.empty(%{{.*}}) : tensor<?x12x16xf32>
// CHECK: scf.for %{{.*}} = %c0 to %[[L]] step %c2
// CHECK: math.log
// CHECK: tensor.empty() : tensor<2x16xf32>
// CHECK: tensor.empty() : tensor<16x8xf32>
// CHECK: tensor.empty() : tensor<16x12xf32>
// CHECK: %[[FULL:.*]] = arith.muli %{{.*}}, %c16
// CHECK: scf.for %[[BLOCK:.*]] = %c0 to %[[FULL]] step %c16
// CHECK: %[[FIRST:.*]] = arith.muli %{{.*}}, %c2
// CHECK: scf.for %{{.*}} = %[[FIRST]] to %[[L]] step %c2
// CHECK: math.exp
// CHECK: scf.for %{{.*}} = %[[FULL]] to %[[S]] step %c8
// CHECK: tensor.parallel_insert_slice
// CHECK: tensor.parallel_insert_slice
// CHECK: tensor.parallel_insert_slice
// CHECK: ube.reshape %{{.*}} : tensor<?x4x?x8xf32> to tensor<?x2x2x?x8xf32>
// CHECK: ube.reduce_sum %{{.*}} {axes = array<i64: 2>}
// CHECK: ube.reshape %{{.*}} : tensor<?x4x?x12xf32> to tensor<?x2x2x?x12xf32>
// CHECK-NOT: ube.scaled_dot_product_attention_grad
func.func @grad_symbolic_causal_grouped(%q: tensor<?x4x?x8xf32>, %k: tensor<?x2x?x8xf32>, %v: tensor<?x2x?x12xf32>, %o: tensor<?x4x?x12xf32>) -> (tensor<?x4x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x12xf32>) {
  %0:3 = ube.scaled_dot_product_attention_grad %q, %k, %v output %o grad %o {is_causal = true, scale = 0.5 : f64} : tensor<?x4x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x12xf32>, tensor<?x4x?x12xf32>
  return %0#0, %0#1, %0#2 : tensor<?x4x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x12xf32>
}

// -----

// A boolean mask becomes a bias, read per tile; the lanes of the last key
// vector past S (20 keys: a block of 16, then 4 of a vector of 8) get
// dS = 0. Keys broadcast over the batch: dK and dV summed over it.
// CHECK-LABEL: func.func @grad_masked_broadcast
// CHECK: ube.where
// CHECK: scf.forall (%{{.*}}) in (6)
// CHECK: vector.constant_mask [4] : vector<8xi1>
// CHECK: scf.forall.in_parallel
// CHECK: ube.reduce_sum %{{.*}} {axes = array<i64: 0>, keepdims = true} : tensor<2x3x20x8xf32>
// CHECK-NOT: ube.scaled_dot_product_attention_grad
func.func @grad_masked_broadcast(%q: tensor<2x3x5x8xf32>, %k: tensor<1x3x20x8xf32>, %o: tensor<2x3x5x8xf32>, %m: tensor<2x1x1x20xi1>) -> (tensor<2x3x5x8xf32>, tensor<1x3x20x8xf32>) {
  %0:3 = ube.scaled_dot_product_attention_grad %q, %k, %k mask %m output %o grad %o : tensor<2x3x5x8xf32>, tensor<1x3x20x8xf32>, tensor<1x3x20x8xf32>, tensor<2x3x5x8xf32>, tensor<2x1x1x20xi1>
  return %0#0, %0#1 : tensor<2x3x5x8xf32>, tensor<1x3x20x8xf32>
}

// -----

// A forward and its gradient: the forward kernel also writes each row's
// log-sum-exp ([B, H, L]), which the backward reads instead of walking the
// keys once more (one math.log, the forward's).
// CHECK-LABEL: func.func @forward_and_grad
// CHECK: %[[FWD:.*]]:2 = scf.forall (%{{.*}}) in (18) shared_outs({{.*}}) -> (tensor<2x3x5x8xf32>, tensor<2x3x5xf32>)
// CHECK: math.log
// CHECK: tensor.parallel_insert_slice %{{.*}} into %{{.*}}[%{{.*}}, %{{.*}}, %{{.*}}] [1, 1, %{{.*}}] [1, 1, 1] : tensor<?xf32> into tensor<2x3x5xf32>
// CHECK: scf.forall (%{{.*}}) in (6)
// CHECK-NOT: math.log
// CHECK: tensor.extract %[[FWD]]#1
// CHECK-NOT: math.log
// CHECK: return %[[FWD]]#0
func.func @forward_and_grad(%q: tensor<2x3x5x8xf32>, %k: tensor<2x3x20x8xf32>, %g: tensor<2x3x5x8xf32>) -> (tensor<2x3x5x8xf32>, tensor<2x3x5x8xf32>, tensor<2x3x20x8xf32>) {
  %o = ube.scaled_dot_product_attention %q, %k, %k : tensor<2x3x5x8xf32>, tensor<2x3x20x8xf32>, tensor<2x3x20x8xf32>
  %d:3 = ube.scaled_dot_product_attention_grad %q, %k, %k output %o grad %g : tensor<2x3x5x8xf32>, tensor<2x3x20x8xf32>, tensor<2x3x20x8xf32>, tensor<2x3x5x8xf32>
  return %o, %d#0, %d#1 : tensor<2x3x5x8xf32>, tensor<2x3x5x8xf32>, tensor<2x3x20x8xf32>
}

// -----

// attention_transfer_loss and its gradient on symbolic sizes: the key mask
// [B, N] becomes a bias [B, 1, 1, N]; per (batch, head) the loss kernel
// transposes both sides' keys (head sizes 16 and 8), sums its rows' KL (the
// mask weighing the query rows) and, for the gradient, writes both sides'
// log-sum-exps per row; the sums are added in order and divided by the
// counted rows (heads × the mask's sum, at least 1). The gradient is the
// backward kernel with the teacher's side and those log-sum-exps (no
// logarithm of its own): dQ and dK, no values, each row weighted by
// grad / rows · 1/√16.
// CHECK-LABEL: func.func @transfer
// CHECK-DAG: %[[QUARTER:.*]] = ube.constant dense<2.500000e-01> : tensor<f32>
// CHECK: %[[KEYS:.*]] = ube.reshape %arg4 [%{{.*}}, %{{.*}}] : tensor<?x?xi1> to tensor<?x1x1x?xi1>
// CHECK: ube.where %[[KEYS]]
// CHECK: %[[ROWS:.*]] = ube.maximum
// CHECK: %[[LOSSK:.*]]:3 = scf.forall (%{{.*}}) in (%{{.*}}) shared_outs({{.*}}) -> (tensor<?xf32>, tensor<?x2x?xf32>, tensor<?x2x?xf32>)
// CHECK: tensor.empty(%{{.*}}) : tensor<?x16x16xf32>
// CHECK: tensor.empty(%{{.*}}) : tensor<?x8x16xf32>
// CHECK: tensor.parallel_insert_slice
// CHECK: %[[TOTAL:.*]] = ube.reduce_sum %[[LOSSK]]#0 : tensor<?xf32>
// CHECK: %[[LOSS:.*]] = ube.div %[[TOTAL]], %[[ROWS]]
// CHECK: %[[W:.*]] = ube.div %arg5, %[[ROWS]]
// CHECK: ube.mul %[[W]], %[[QUARTER]]
// CHECK: %[[GRADS:.*]]:2 = scf.forall (%{{.*}}) in (%{{.*}}) shared_outs({{.*}}) -> (tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>)
// CHECK: tensor.empty(%{{.*}}) : tensor<?x16x16xf32>
// CHECK: tensor.empty(%{{.*}}) : tensor<?x8x16xf32>
// CHECK-NOT: math.log
// CHECK: tensor.extract %[[LOSSK]]#1
// CHECK: tensor.extract %[[LOSSK]]#2
// CHECK-NOT: math.log
// CHECK: return %[[LOSS]], %[[GRADS]]#0, %[[GRADS]]#1
func.func @transfer(%qs: tensor<?x2x?x16xf32>, %ks: tensor<?x2x?x16xf32>, %qt: tensor<?x2x?x8xf32>, %kt: tensor<?x2x?x8xf32>, %m: tensor<?x?xi1>, %g: tensor<f32>) -> (tensor<f32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>) {
  %l = ube.attention_transfer_loss %qs, %ks, %qt, %kt mask %m : tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x?xi1>
  %d:2 = ube.attention_transfer_loss_grad %qs, %ks, %qt, %kt, %g mask %m : tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>, tensor<f32>, tensor<?x?xi1>
  return %l, %d#0, %d#1 : tensor<f32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>
}
