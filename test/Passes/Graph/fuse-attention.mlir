// RUN: ube-opt %s --ube-fuse-attention --split-input-file | FileCheck %s

// BERT's eager attention: q · kᵀ (a transpose op) / √d + the padding mask,
// softmax, · v.
// CHECK-LABEL: func.func @bert
// CHECK-SAME: (%[[Q:.*]]: tensor<2x4x9x16xf32>, %[[K:.*]]: tensor<2x4x9x16xf32>, %[[V:.*]]: tensor<2x4x9x8xf32>, %[[M:.*]]: tensor<2x1x1x9xf32>)
// CHECK-NEXT: %[[O:.*]] = ube.scaled_dot_product_attention %[[Q]], %[[K]], %[[V]], %[[M]] {scale = 2.500000e-01 : f64}
// CHECK-NEXT: return %[[O]]
func.func @bert(%q: tensor<2x4x9x16xf32>, %k: tensor<2x4x9x16xf32>, %v: tensor<2x4x9x8xf32>,
                %m: tensor<2x1x1x9xf32>) -> tensor<2x4x9x8xf32> {
  %kt = ube.transpose %k, [0, 1, 3, 2] : tensor<2x4x9x16xf32>
  %s = ube.matmul %q, %kt : tensor<2x4x9x16xf32>, tensor<2x4x16x9xf32>
  %c = ube.constant dense<4.0> : tensor<f32>
  %sc = ube.div %s, %c : tensor<2x4x9x9xf32>, tensor<f32>
  %sm = ube.add %m, %sc : tensor<2x1x1x9xf32>, tensor<2x4x9x9xf32>
  %p = ube.softmax %sm {axis = -1} : tensor<2x4x9x9xf32>
  %o = ube.matmul %p, %v : tensor<2x4x9x9xf32>, tensor<2x4x9x8xf32>
  return %o : tensor<2x4x9x8xf32>
}

// -----

// A scaling factor (Llama's eager attention), the transpose as the
// matmul's attribute, no mask.
// CHECK-LABEL: func.func @scaled
// CHECK-NEXT: ube.scaled_dot_product_attention %{{.*}}, %{{.*}}, %{{.*}} {scale = 1.250000e-01 : f64}
// CHECK-NEXT: return
func.func @scaled(%q: tensor<3x5x8xf32>, %k: tensor<3x7x8xf32>, %v: tensor<3x7x8xf32>)
    -> tensor<3x5x8xf32> {
  %s = ube.matmul %q, %k {transpose_rhs = true} : tensor<3x5x8xf32>, tensor<3x7x8xf32>
  %c = ube.constant dense<0.125> : tensor<f32>
  %sc = ube.mul %c, %s : tensor<f32>, tensor<3x5x7xf32>
  %p = ube.softmax %sc {axis = 2} : tensor<3x5x7xf32>
  %o = ube.matmul %p, %v : tensor<3x5x7xf32>, tensor<3x7x8xf32>
  return %o : tensor<3x5x8xf32>
}

// -----

// The probabilities read by something else: left alone.
// CHECK-LABEL: func.func @probabilities_used
// CHECK-NOT: scaled_dot_product_attention
// CHECK: ube.softmax
func.func @probabilities_used(%q: tensor<3x5x8xf32>, %k: tensor<3x7x8xf32>,
                              %v: tensor<3x7x8xf32>) -> (tensor<3x5x8xf32>, tensor<3x5x7xf32>) {
  %s = ube.matmul %q, %k {transpose_rhs = true} : tensor<3x5x8xf32>, tensor<3x7x8xf32>
  %p = ube.softmax %s {axis = -1} : tensor<3x5x7xf32>
  %o = ube.matmul %p, %v : tensor<3x5x7xf32>, tensor<3x7x8xf32>
  return %o, %p : tensor<3x5x8xf32>, tensor<3x5x7xf32>
}

// -----

// A softmax over another axis, and a scale that is not a constant: left alone.
// CHECK-LABEL: func.func @not_attention
// CHECK-NOT: scaled_dot_product_attention
func.func @not_attention(%q: tensor<3x5x8xf32>, %k: tensor<3x5x8xf32>, %v: tensor<3x5x8xf32>,
                         %c: tensor<f32>) -> (tensor<3x5x8xf32>, tensor<3x5x8xf32>) {
  %s = ube.matmul %q, %k {transpose_rhs = true} : tensor<3x5x8xf32>, tensor<3x5x8xf32>
  %p = ube.softmax %s {axis = 1} : tensor<3x5x5xf32>
  %o = ube.matmul %p, %v : tensor<3x5x5xf32>, tensor<3x5x8xf32>
  %s2 = ube.matmul %q, %k {transpose_rhs = true} : tensor<3x5x8xf32>, tensor<3x5x8xf32>
  %sc = ube.mul %s2, %c : tensor<3x5x5xf32>, tensor<f32>
  %p2 = ube.softmax %sc {axis = -1} : tensor<3x5x5xf32>
  %o2 = ube.matmul %p2, %v : tensor<3x5x5xf32>, tensor<3x5x8xf32>
  return %o, %o2 : tensor<3x5x8xf32>, tensor<3x5x8xf32>
}

// -----

// Dropout of the probabilities (training): the op's dropout, same seed and step.
// CHECK-LABEL: func.func @dropout
// CHECK-SAME: %[[STEP:[a-z0-9]+]]: tensor<i64>)
// CHECK-NEXT: ube.scaled_dot_product_attention %{{.*}}, %{{.*}}, %{{.*}} step %[[STEP]] {dropout_p = 1.000000e-01 : f64, scale = 1.000000e+00 : f64, seed = 7 : i64}
// CHECK-NEXT: return
func.func @dropout(%q: tensor<3x5x8xf32>, %k: tensor<3x7x8xf32>, %v: tensor<3x7x8xf32>,
                   %step: tensor<i64>) -> tensor<3x5x8xf32> {
  %s = ube.matmul %q, %k {transpose_rhs = true} : tensor<3x5x8xf32>, tensor<3x7x8xf32>
  %p = ube.softmax %s {axis = -1} : tensor<3x5x7xf32>
  %d = ube.dropout %p step %step {rate = 0.1 : f64, seed = 7 : i64} : tensor<3x5x7xf32>
  %o = ube.matmul %d, %v : tensor<3x5x7xf32>, tensor<3x7x8xf32>
  return %o : tensor<3x5x8xf32>
}
