// RUN: ube-opt %s --ube-fuse-normalizations --split-input-file | FileCheck %s

// Llama's RMSNorm as torch.export writes it: pow, mean, add, rsqrt, mul, then
// the weight.
// CHECK-LABEL: func.func @llama
// CHECK-SAME: (%[[X:.*]]: tensor<2x7x16xf32>, %[[W:.*]]: tensor<16xf32>)
// CHECK-NEXT: %[[N:.*]] = ube.rms_norm %[[X]], %[[W]] {epsilon = 9.99999997{{[0-9]*}}E-7 : f64} : tensor<2x7x16xf32>, tensor<16xf32>
// CHECK-NEXT: return %[[N]]
func.func @llama(%x: tensor<2x7x16xf32>, %w: tensor<16xf32>) -> tensor<2x7x16xf32> {
  %two = ube.constant dense<2.0> : tensor<f32>
  %eps = ube.constant dense<1.0e-6> : tensor<f32>
  %sq = ube.pow %x, %two : tensor<2x7x16xf32>, tensor<f32>
  %mean = ube.reduce_mean %sq {axes = array<i64: 2>, keepdims = true} : tensor<2x7x16xf32>
  %var = ube.add %mean, %eps : tensor<2x7x1xf32>, tensor<f32>
  %r = ube.rsqrt %var : tensor<2x7x1xf32>
  %n = ube.mul %x, %r : tensor<2x7x16xf32>, tensor<2x7x1xf32>
  %y = ube.mul %w, %n : tensor<16xf32>, tensor<2x7x16xf32>
  return %y : tensor<2x7x16xf32>
}

// -----

// T5's spelling (x·x, the scale first, eps first), over the two trailing axes.
// CHECK-LABEL: func.func @two_axes
// CHECK: %[[N:.*]] = ube.rms_norm %arg0 {axis = -2 : i64, epsilon = 0.0010000000{{[0-9]*}} : f64} : tensor<3x4x5xf32>
// CHECK-NEXT: return %[[N]]
func.func @two_axes(%x: tensor<3x4x5xf32>) -> tensor<3x4x5xf32> {
  %eps = ube.constant dense<1.0e-3> : tensor<f32>
  %sq = ube.mul %x, %x : tensor<3x4x5xf32>, tensor<3x4x5xf32>
  %mean = ube.reduce_mean %sq {axes = array<i64: -1, 1>, keepdims = true} : tensor<3x4x5xf32>
  %var = ube.add %eps, %mean : tensor<f32>, tensor<3x1x1xf32>
  %r = ube.rsqrt %var : tensor<3x1x1xf32>
  %n = ube.mul %r, %x : tensor<3x1x1xf32>, tensor<3x4x5xf32>
  return %n : tensor<3x4x5xf32>
}

// -----

// Left alone: the mean of another tensor's square, a leading axis, no
// keepdims (then the shapes do not line up either), a weight that is not of
// the normalized shape, and a norm with a second user keeps its weight apart.
// CHECK-LABEL: func.func @not_rms_norms
// CHECK-COUNT-2: ube.rsqrt
// CHECK: %[[N:.*]] = ube.rms_norm %arg0 {{.*}} : tensor<2x8xf32>
// CHECK: ube.mul %[[N]], %arg2 : tensor<2x8xf32>, tensor<2x8xf32>
// CHECK: %[[M:.*]] = ube.rms_norm %arg0 {{.*}} : tensor<2x8xf32>
// CHECK: ube.mul %[[M]], %arg3 : tensor<2x8xf32>, tensor<8xf32>
func.func @not_rms_norms(%x: tensor<2x8xf32>, %z: tensor<2x8xf32>, %big: tensor<2x8xf32>, %w: tensor<8xf32>)
    -> (tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) {
  %eps = ube.constant dense<1.0e-6> : tensor<f32>
  %zz = ube.mul %z, %z : tensor<2x8xf32>, tensor<2x8xf32>
  %m0 = ube.reduce_mean %zz {axes = array<i64: 1>, keepdims = true} : tensor<2x8xf32>
  %v0 = ube.add %m0, %eps : tensor<2x1xf32>, tensor<f32>
  %r0 = ube.rsqrt %v0 : tensor<2x1xf32>
  %y0 = ube.mul %x, %r0 : tensor<2x8xf32>, tensor<2x1xf32>
  %xx = ube.mul %x, %x : tensor<2x8xf32>, tensor<2x8xf32>
  %m1 = ube.reduce_mean %xx {axes = array<i64: 0>, keepdims = true} : tensor<2x8xf32>
  %v1 = ube.add %m1, %eps : tensor<1x8xf32>, tensor<f32>
  %r1 = ube.rsqrt %v1 : tensor<1x8xf32>
  %y1 = ube.mul %x, %r1 : tensor<2x8xf32>, tensor<1x8xf32>
  %m2 = ube.reduce_mean %xx {axes = array<i64: 1>, keepdims = true} : tensor<2x8xf32>
  %v2 = ube.add %m2, %eps : tensor<2x1xf32>, tensor<f32>
  %r2 = ube.rsqrt %v2 : tensor<2x1xf32>
  %n2 = ube.mul %x, %r2 : tensor<2x8xf32>, tensor<2x1xf32>
  %y2 = ube.mul %n2, %big : tensor<2x8xf32>, tensor<2x8xf32>
  %n3 = ube.mul %r2, %x : tensor<2x1xf32>, tensor<2x8xf32>
  %y3 = ube.mul %n3, %w : tensor<2x8xf32>, tensor<8xf32>
  return %y0, %y1, %y2, %y3, %n3 : tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>
}
