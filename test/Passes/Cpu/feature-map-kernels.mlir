// RUN: ube-opt %s --ube-cpu-feature-map-kernels="vector-width=8 tile-rows=2 panel-width=16 block-elements=80 max-tasks=4" --split-input-file | FileCheck %s
// RUN: not ube-opt %s --ube-cpu-feature-map-kernels="vector-width=8 panel-width=12" 2>&1 | FileCheck %s --check-prefix=BAD

// BAD: panel-width must be a multiple of vector-width

// A training step's loss and gradients with a projection, one kernel: 14
// tokens in blocks of 4 rows (80 / 20 elements), one block per task, 4
// tasks, the last block 2 rows (the last task's). W is packed in 16-wide
// panels for P = h_s·W (Dt = 20: a full and a ragged panel) and transposed
// for d h_s = dP·Wᵀ. Per task: the tile of P, then per row the means,
// centered squares and d sums, the loss in f64 and dP over the tile; d h_s
// into the task's rows; the task's share of d W, which its first block
// starts from zero. After: the loss sums and shares in task order.
// CHECK-LABEL: func.func @projected
// CHECK: %[[S:.*]] = tensor.collapse_shape %arg0 {{\[\[}}0, 1], [2]] : tensor<2x7x5xf32> into tensor<14x5xf32>
// CHECK: %[[T:.*]] = tensor.collapse_shape %arg1 {{\[\[}}0, 1], [2]] : tensor<2x7x20xf32> into tensor<14x20xf32>
// CHECK: %[[G:.*]] = tensor.extract %arg3[] : tensor<f32>
// CHECK: arith.divf %[[G]], %{{.*}} : f32
// CHECK: scf.forall {{.*}} -> (tensor<1x2x5x16xf32>)
// CHECK: scf.forall {{.*}} -> (tensor<1x1x20x16xf32>)
// CHECK: %[[R:.*]]:4 = scf.forall (%[[TASK:.*]]) in (4) shared_outs({{.*}}) -> (tensor<14x5xf32>, tensor<4x4x20xf32>, tensor<4x5x20xf32>, tensor<4xf64>)
// CHECK: scf.for {{.*}} -> (tensor<?x5xf32>, tensor<4x20xf32>, tensor<5x20xf32>, f64)
// CHECK: tensor.extract %[[S]]
// CHECK: vector.fma
// CHECK: vector.transfer_read %[[T]]
// CHECK: math.sqrt
// CHECK: arith.extf {{.*}} : f32 to f64
// CHECK: vector.transfer_write {{.*}} : vector<8xf32>, tensor<4x20xf32>
// CHECK: -> (tensor<?x5xf32>)
// CHECK: scf.if %{{.*}} -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK: arith.cmpi eq, %[[TASK]], %c3
// CHECK: scf.forall.in_parallel
// CHECK-COUNT-4: tensor.parallel_insert_slice
// CHECK: arith.divf %{{.*}}, %{{.*}} : f64
// CHECK: arith.truncf
// CHECK: ube.slice %[[R]]#2 {limit = array<i64: 1, 5, 20>, start = array<i64: 0, 0, 0>
// CHECK-COUNT-3: ube.add
// CHECK-NOT: ube.feature_map_loss
func.func @projected(%hs: tensor<2x7x5xf32>, %ht: tensor<2x7x20xf32>, %w: tensor<5x20xf32>, %g: tensor<f32>) -> (tensor<f32>, tensor<2x7x5xf32>, tensor<5x20xf32>) {
  %l = ube.feature_map_loss %hs, %ht projection %w {alpha = 1.0, beta = 0.5, gamma = 0.25} : tensor<2x7x5xf32>, tensor<2x7x20xf32>, tensor<5x20xf32>
  %d:2 = ube.feature_map_loss_grad %hs, %ht, %g projection %w {alpha = 1.0, beta = 0.5, gamma = 0.25} : tensor<2x7x5xf32>, tensor<2x7x20xf32>, tensor<f32>, tensor<5x20xf32>
  return %l, %d#0, %d#1 : tensor<f32>, tensor<2x7x5xf32>, tensor<5x20xf32>
}

// -----

// The gradient alone without a projection: no tile, no packing, no loss
// sums; dP is written straight into the task's rows of d h_s. Only the MSE
// term (alpha): no variance-gap sign, no mean shift.
// CHECK-LABEL: func.func @plain_gradient
// CHECK-NOT: tensor<1x
// CHECK: scf.forall (%{{.*}}) in (2) shared_outs(%{{.*}} = %{{.*}}) -> (tensor<8x20xf32>)
// CHECK-NOT: arith.cmpf
// CHECK-NOT: f64
// CHECK: vector.transfer_write {{.*}} : vector<8xf32>, tensor<?x20xf32>
// CHECK: tensor.parallel_insert_slice
// CHECK-NOT: ube.feature_map_loss_grad
func.func @plain_gradient(%hs: tensor<8x20xf32>, %ht: tensor<8x20xf32>, %g: tensor<f32>) -> tensor<8x20xf32> {
  %d = ube.feature_map_loss_grad %hs, %ht, %g {alpha = 1.0} : tensor<8x20xf32>, tensor<8x20xf32>, tensor<f32>
  return %d : tensor<8x20xf32>
}

// -----

// The loss alone (evaluation) with a projection: W packed, not Wᵀ; the
// tile and the loss sums are the only outputs.
// CHECK-LABEL: func.func @projected_loss
// CHECK: scf.forall {{.*}} -> (tensor<1x1x5x16xf32>)
// CHECK-NOT: tensor<1x{{.*}}x20x16xf32>
// CHECK: scf.forall (%{{.*}}) in (2) shared_outs({{.*}}) -> (tensor<2x4x16xf32>, tensor<2xf64>)
// CHECK: tensor.from_elements {{.*}} : tensor<f32>
// CHECK-NOT: ube.feature_map_loss
func.func @projected_loss(%hs: tensor<8x5xf32>, %ht: tensor<8x16xf32>, %w: tensor<5x16xf32>) -> tensor<f32> {
  %l = ube.feature_map_loss %hs, %ht projection %w {alpha = 1.0, beta = 1.0, gamma = 1.0} : tensor<8x5xf32>, tensor<8x16xf32>, tensor<5x16xf32>
  return %l : tensor<f32>
}

// -----

// Left alone: a symbolic width and f16 features (the generic lowering
// takes them).
// CHECK-LABEL: func.func @unsupported
// CHECK: ube.feature_map_loss %arg0
// CHECK: ube.feature_map_loss %arg2
func.func @unsupported(%a: tensor<4x?xf32>, %b: tensor<4x?xf32>, %c: tensor<4x8xf16>, %d: tensor<4x8xf16>) -> (tensor<f32>, tensor<f16>) {
  %0 = ube.feature_map_loss %a, %b {alpha = 1.0} : tensor<4x?xf32>, tensor<4x?xf32>
  %1 = ube.feature_map_loss %c, %d {alpha = 1.0} : tensor<4x8xf16>, tensor<4x8xf16>
  return %0, %1 : tensor<f32>, tensor<f16>
}

// -----

// A symbolic token count (a batch of any length): the task split from it
// at run time (a forall over a computed count, per-task tiles and shares of
// that count), the rows past the full register tiles of the ragged block
// as one tile of exactly their count (1 on this tile of 2 rows), the
// tasks' loss sums and shares of d W added in task order.
// CHECK-LABEL: func.func @symbolic_tokens
// CHECK: %[[N:.*]] = arith.muli
// CHECK: arith.ceildivui
// CHECK: arith.ceildivui
// CHECK: %[[TASKS:.*]] = arith.ceildivui %{{.*}}, %{{.*}} : index
// CHECK: tensor.collapse_shape %arg0 {{\[}}[0, 1], [2]] : tensor<?x?x5xf32> into tensor<?x5xf32>
// CHECK: tensor.empty(%[[N]]) : tensor<?x5xf32>
// CHECK: tensor.empty(%[[TASKS]]) : tensor<?x4x16xf32>
// CHECK: scf.forall (%{{.*}}) in (%[[TASKS]])
// CHECK: scf.index_switch
// CHECK: case 1 {
// CHECK-NOT: case 2 {
// CHECK: scf.for
// CHECK: ube.reduce_sum %{{.*}} {axes = array<i64: 0>} : tensor<?x5x16xf32>
// CHECK-NOT: ube.feature_map_loss
func.func @symbolic_tokens(%hs: tensor<?x?x5xf32>, %ht: tensor<?x?x16xf32>, %g: tensor<f32>, %w: tensor<5x16xf32>) -> (tensor<f32>, tensor<?x?x5xf32>, tensor<5x16xf32>) {
  %l = ube.feature_map_loss %hs, %ht projection %w {alpha = 1.0, beta = 1.0, gamma = 1.0} : tensor<?x?x5xf32>, tensor<?x?x16xf32>, tensor<5x16xf32>
  %d:2 = ube.feature_map_loss_grad %hs, %ht, %g projection %w {alpha = 1.0, beta = 1.0, gamma = 1.0} : tensor<?x?x5xf32>, tensor<?x?x16xf32>, tensor<f32>, tensor<5x16xf32>
  return %l, %d#0, %d#1 : tensor<f32>, tensor<?x?x5xf32>, tensor<5x16xf32>
}
