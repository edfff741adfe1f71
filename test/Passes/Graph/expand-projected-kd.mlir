// RUN: ube-opt %s --ube-expand-projected-kd --split-input-file | FileCheck %s

// 130 rows × 33000 words is more than 4M logits: two chunks of 65 rows, each
// with its own projections, kd_loss and kd_loss_grad on the same logits;
// each chunk's loss weighted by its counted rows over all counted rows,
// d h_s by chunks concatenated, d W_s summed over the chunks.
// CHECK-LABEL: func.func @together
// CHECK: %[[H0:.*]] = ube.slice %{{.*}} {limit = array<i64: 65, 4>, start = array<i64: 0, 0>
// CHECK: %[[S0:.*]] = ube.matmul %[[H0]], %arg1 {transpose_rhs = true} : tensor<65x4xf32>, tensor<33000x4xf32>
// CHECK: %[[T0:.*]] = ube.matmul %{{.*}}, %arg3 {transpose_rhs = true} : tensor<65x8xf32>, tensor<33000x8xf32>
// CHECK: ube.kd_loss %[[S0]], %[[T0]] labels %{{.*}} {temperature = 2.000000e+00 : f64} : tensor<65x33000xf32>
// CHECK: %[[G0:.*]] = ube.kd_loss_grad %[[S0]], %[[T0]], %{{.*}} labels
// CHECK: ube.matmul %[[G0]], %arg1 : tensor<65x33000xf32>, tensor<33000x4xf32>
// CHECK: %[[W0:.*]] = ube.matmul %[[G0]], %[[H0]] {transpose_lhs = true}
// CHECK: %[[H1:.*]] = ube.slice %{{.*}} {limit = array<i64: 130, 4>, start = array<i64: 65, 0>
// CHECK: ube.kd_loss
// CHECK: %[[W1:.*]] = ube.matmul %{{.*}}, %[[H1]] {transpose_lhs = true}
// CHECK: ube.add %[[W0]], %[[W1]] : tensor<33000x4xf32>, tensor<33000x4xf32>
// CHECK: ube.concat %{{.*}}, %{{.*}} : tensor<65x4xf32>, tensor<65x4xf32>
// CHECK-NOT: ube.projected_kd_loss
// CHECK-NOT: tensor<130x33000xf32>
func.func @together(%hs: tensor<130x4xf32>, %ws: tensor<33000x4xf32>, %ht: tensor<130x8xf32>, %wt: tensor<33000x8xf32>, %y: tensor<130xi64>) -> (tensor<f32>, tensor<130x4xf32>, tensor<33000x4xf32>) {
  %g = ube.constant dense<1.0> : tensor<f32>
  %l = ube.projected_kd_loss %hs, %ws, %ht, %wt labels %y {temperature = 2.0} : tensor<130x4xf32>, tensor<33000x4xf32>, tensor<130x8xf32>, tensor<33000x8xf32>, tensor<130xi64>
  %d:2 = ube.projected_kd_loss_grad %hs, %ws, %ht, %wt, %g labels %y {temperature = 2.0} : tensor<130x4xf32>, tensor<33000x4xf32>, tensor<130x8xf32>, tensor<33000x8xf32>, tensor<f32>, tensor<130xi64>
  return %l, %d#0, %d#1 : tensor<f32>, tensor<130x4xf32>, tensor<33000x4xf32>
}

// -----

// Small enough for one chunk: the loss alone is one kd_loss of the two
// projections, divided back by the row count it was weighted with.
// CHECK-LABEL: func.func @one_chunk
// CHECK: %[[S:.*]] = ube.matmul %{{.*}}, %arg1 {transpose_rhs = true} : tensor<6x4xf32>, tensor<10x4xf32>
// CHECK: ube.kd_loss %[[S]], %{{.*}} : tensor<6x10xf32>, tensor<6x10xf32>
// CHECK-NOT: ube.kd_loss_grad
func.func @one_chunk(%hs: tensor<2x3x4xf32>, %ws: tensor<10x4xf32>, %ht: tensor<2x3x4xf32>, %wt: tensor<10x4xf32>) -> tensor<f32> {
  %l = ube.projected_kd_loss %hs, %ws, %ht, %wt : tensor<2x3x4xf32>, tensor<10x4xf32>, tensor<2x3x4xf32>, tensor<10x4xf32>
  return %l : tensor<f32>
}


// -----

// A symbolic row count is one chunk of all rows: no slices, the labels'
// rows read from the hidden states', the counted rows summed at run time.
// CHECK-LABEL: func.func @symbolic_rows
// CHECK-NOT: ube.slice
// CHECK: %[[ROWS:.*]] = ube.reshape %arg0 [%{{.*}}] : tensor<?x?x8xf32> to tensor<?x8xf32>
// CHECK: %[[R:.*]] = tensor.dim %[[ROWS]], %{{.*}} : tensor<?x8xf32>
// CHECK: ube.reshape %arg4 [%[[R]]] : tensor<?x?xi64> to tensor<?xi64>
// CHECK: ube.kd_loss_grad
// CHECK-NOT: ube.projected_kd_loss
func.func @symbolic_rows(%hs: tensor<?x?x8xf32>, %ws: tensor<30x8xf32>, %ht: tensor<?x?x8xf32>, %wt: tensor<30x8xf32>, %labels: tensor<?x?xi64>, %g: tensor<f32>) -> (tensor<?x?x8xf32>, tensor<30x8xf32>) {
  %d:2 = ube.projected_kd_loss_grad %hs, %ws, %ht, %wt, %g labels %labels {temperature = 2.0, alpha = 0.5} : tensor<?x?x8xf32>, tensor<30x8xf32>, tensor<?x?x8xf32>, tensor<30x8xf32>, tensor<f32>, tensor<?x?xi64>
  return %d#0, %d#1 : tensor<?x?x8xf32>, tensor<30x8xf32>
}
