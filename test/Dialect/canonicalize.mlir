// Folders of the ube dialect.
// RUN: ube-opt %s --canonicalize --split-input-file | FileCheck %s

// CHECK-LABEL: func.func @neg_neg
// CHECK-SAME: (%[[X:.*]]: tensor<4xf32>)
// CHECK-NEXT: return %[[X]]
func.func @neg_neg(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = ube.neg %x : tensor<4xf32>
  %1 = ube.neg %0 : tensor<4xf32>
  return %1 : tensor<4xf32>
}

// -----

// CHECK-LABEL: func.func @identities
// CHECK-SAME: (%[[X:.*]]: tensor<2x3xf32>)
// CHECK-NEXT: return %[[X]], %[[X]], %[[X]], %[[X]], %[[X]], %[[X]], %[[X]]
func.func @identities(%x: tensor<2x3xf32>)
    -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>,
        tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>) {
  %0 = ube.cast %x : tensor<2x3xf32> to tensor<2x3xf32>
  %1 = ube.transpose %x, [0, 1] : tensor<2x3xf32>
  %2 = ube.reshape %x : tensor<2x3xf32> to tensor<2x3xf32>
  %3 = ube.broadcast_to %x : tensor<2x3xf32> to tensor<2x3xf32>
  %4 = ube.concat %x : tensor<2x3xf32>
  %5 = ube.slice %x {start = array<i64: 0, 0>, limit = array<i64: 2, 3>, stride = array<i64: 1, 1>} : tensor<2x3xf32>
  %6 = ube.dropout %x {rate = 0.0 : f64} : tensor<2x3xf32>
  return %0, %1, %2, %3, %4, %5, %6 : tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>
}

// -----

// Non-identities stay.
// CHECK-LABEL: func.func @not_identities
// CHECK: ube.transpose
// CHECK: ube.slice
// CHECK: ube.dropout
func.func @not_identities(%x: tensor<2x2xf32>) -> (tensor<2x2xf32>, tensor<2x1xf32>, tensor<2x2xf32>) {
  %0 = ube.transpose %x, [1, 0] : tensor<2x2xf32>
  %1 = ube.slice %x {start = array<i64: 0, 1>, limit = array<i64: 2, 2>, stride = array<i64: 1, 1>} : tensor<2x2xf32>
  %2 = ube.dropout %x {rate = 0.1 : f64} : tensor<2x2xf32>
  return %0, %1, %2 : tensor<2x2xf32>, tensor<2x1xf32>, tensor<2x2xf32>
}

// -----

// CHECK-LABEL: func.func @reshape_chain
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x4xf32>)
// CHECK-NEXT: %[[R:.*]] = ube.reshape %[[X]] : tensor<2x3x4xf32> to tensor<24xf32>
// CHECK-NEXT: return %[[R]]
func.func @reshape_chain(%x: tensor<2x3x4xf32>) -> tensor<24xf32> {
  %0 = ube.reshape %x : tensor<2x3x4xf32> to tensor<6x4xf32>
  %1 = ube.reshape %0 : tensor<6x4xf32> to tensor<24xf32>
  return %1 : tensor<24xf32>
}

// -----

// CHECK-LABEL: func.func @constant_reshape
// CHECK-NEXT: %[[C:.*]] = ube.constant dense<{{\[}}[1.000000e+00, 2.000000e+00], [3.000000e+00, 4.000000e+00]]> : tensor<2x2xf32>
// CHECK-NEXT: return %[[C]]
func.func @constant_reshape() -> tensor<2x2xf32> {
  %0 = ube.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %1 = ube.reshape %0 : tensor<4xf32> to tensor<2x2xf32>
  return %1 : tensor<2x2xf32>
}

// -----

// CHECK-LABEL: func.func @splat_broadcast
// CHECK-NEXT: %[[C:.*]] = ube.constant dense<5.000000e-01> : tensor<3x4xf32>
// CHECK-NEXT: return %[[C]]
func.func @splat_broadcast() -> tensor<3x4xf32> {
  %0 = ube.constant dense<0.5> : tensor<4xf32>
  %1 = ube.broadcast_to %0 : tensor<4xf32> to tensor<3x4xf32>
  return %1 : tensor<3x4xf32>
}

// -----

// Choosing between a value and itself needs no draw.
// CHECK-LABEL: func.func @bernoulli_same
// CHECK-SAME: %[[X:[^:]*]]: tensor<4xf32>)
// CHECK-NEXT: return %[[X]]
func.func @bernoulli_same(%p: tensor<f32>, %step: tensor<i64>, %x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = ube.bernoulli_select %p, %step, %x, %x {module_id = 1} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// Unused pure ops are removed.
// CHECK-LABEL: func.func @dead
// CHECK-NEXT: return
func.func @dead(%x: tensor<4xf32>) {
  %0 = ube.exp %x : tensor<4xf32>
  %1 = ube.kd_loss %x, %0 : tensor<4xf32>, tensor<4xf32>
  return
}

// -----

// Zero blocks concatenated before and after the input along spatial axes
// (an explicit zero pad, as transformers' MobileNetV2 writes TensorFlow's
// "same" padding) fold into the convolution's padding, added to its own:
// rows 0 before and 1 after, columns 2 before and 1 + 1 after.
// CHECK-LABEL: func.func @zero_pad_into_conv
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x9x9xf32>, %[[W:.*]]: tensor<4x3x3x3xf32>)
// CHECK-NEXT: %[[Y:.*]] = ube.conv %[[X]], %[[W]] {padding = array<i64: 0, 2, 1, 2>, stride = array<i64: 2, 2>}
// CHECK-NEXT: return %[[Y]]
func.func @zero_pad_into_conv(%x: tensor<2x3x9x9xf32>, %w: tensor<4x3x3x3xf32>) -> tensor<2x4x4x6xf32> {
  %zero = ube.constant dense<0.0> : tensor<f32>
  %rows = ube.broadcast_to %zero : tensor<f32> to tensor<2x3x1x9xf32>
  %0 = ube.concat %x, %rows {axis = 2 : i64} : tensor<2x3x9x9xf32>, tensor<2x3x1x9xf32>
  %left = ube.broadcast_to %zero : tensor<f32> to tensor<2x3x10x2xf32>
  %right = ube.broadcast_to %zero : tensor<f32> to tensor<2x3x10x1xf32>
  %1 = ube.concat %left, %0, %right {axis = 3 : i64} : tensor<2x3x10x2xf32>, tensor<2x3x10x9xf32>, tensor<2x3x10x1xf32>
  %2 = ube.conv %1, %w {stride = array<i64: 2, 2>, padding = array<i64: 0, 0, 0, 1>} : tensor<2x3x10x12xf32>, tensor<4x3x3x3xf32>
  return %2 : tensor<2x4x4x6xf32>
}

// -----

// Not folded: a pad of ones, a concat along channels, and two inputs
// between the zeros.
// CHECK-LABEL: func.func @not_zero_pad
// CHECK-COUNT-3: ube.conv %{{.*}}, %{{.*}} : tensor<1x
func.func @not_zero_pad(%x: tensor<1x2x4x4xf32>, %w: tensor<2x2x1x1xf32>, %w4: tensor<2x4x1x1xf32>)
    -> (tensor<1x2x5x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4x9xf32>) {
  %one = ube.constant dense<1.0> : tensor<f32>
  %zero = ube.constant dense<0.0> : tensor<f32>
  %ones = ube.broadcast_to %one : tensor<f32> to tensor<1x2x1x4xf32>
  %0 = ube.concat %ones, %x {axis = 2 : i64} : tensor<1x2x1x4xf32>, tensor<1x2x4x4xf32>
  %1 = ube.conv %0, %w : tensor<1x2x5x4xf32>, tensor<2x2x1x1xf32>
  %channels = ube.broadcast_to %zero : tensor<f32> to tensor<1x2x4x4xf32>
  %2 = ube.concat %channels, %x {axis = 1 : i64} : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>
  %3 = ube.conv %2, %w4 : tensor<1x4x4x4xf32>, tensor<2x4x1x1xf32>
  %col = ube.broadcast_to %zero : tensor<f32> to tensor<1x2x4x1xf32>
  %4 = ube.concat %col, %x, %x {axis = 3 : i64} : tensor<1x2x4x1xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>
  %5 = ube.conv %4, %w : tensor<1x2x4x9xf32>, tensor<2x2x1x1xf32>
  return %1, %3, %5 : tensor<1x2x5x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4x9xf32>
}
