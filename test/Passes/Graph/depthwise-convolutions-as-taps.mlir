// RUN: ube-opt %s --ube-depthwise-convolutions-as-taps --split-input-file | FileCheck %s

// A padded, strided depthwise 3x3 convolution: nine strided slices of the
// padded input, each times its column of the weight [C, 9] viewed as
// [C, 1, 1], summed; the bias added per channel.
// CHECK-LABEL: func.func @depthwise
// CHECK: %[[W:.*]] = ube.reshape %arg1 : tensor<4x1x3x3xf32> to tensor<4x9xf32>
// CHECK: %[[T0:.*]] = ube.slice %{{.*}} {limit = array<i64: 2, 4, 5, 5>, start = array<i64: 0, 0, 0, 0>, stride = array<i64: 1, 1, 2, 2>}
// CHECK: %[[W0:.*]] = ube.slice %[[W]] {limit = array<i64: 4, 1>, start = array<i64: 0, 0>, stride = array<i64: 1, 1>}
// CHECK: %[[C0:.*]] = ube.reshape %[[W0]] : tensor<4x1xf32> to tensor<4x1x1xf32>
// CHECK: ube.mul %[[T0]], %[[C0]] : tensor<2x4x3x3xf32>, tensor<4x1x1xf32>
// CHECK-COUNT-8: ube.add %{{.*}}, %{{.*}} : tensor<2x4x3x3xf32>, tensor<2x4x3x3xf32>
// CHECK: ube.reshape %arg2 : tensor<4xf32> to tensor<4x1x1xf32>
// CHECK: ube.add
// CHECK-NOT: ube.conv
func.func @depthwise(%x: tensor<2x4x6x6xf32>, %w: tensor<4x1x3x3xf32>, %b: tensor<4xf32>)
    -> tensor<2x4x3x3xf32> {
  %0 = ube.conv %x, %w, %b {stride = array<i64: 2, 2>, padding = array<i64: 1, 1, 1, 1>,
                            groups = 4 : i64}
      : tensor<2x4x6x6xf32>, tensor<4x1x3x3xf32>, tensor<4xf32>
  return %0 : tensor<2x4x3x3xf32>
}

// -----

// Two output channels per group (a depthwise multiplier) and grouped
// convolutions are not depthwise: left for the matmul rewrite.
// CHECK-LABEL: func.func @multiplier
// CHECK: ube.conv
func.func @multiplier(%x: tensor<1x4x6x6xf32>, %w: tensor<8x1x3x3xf32>) -> tensor<1x8x4x4xf32> {
  %0 = ube.conv %x, %w {groups = 4 : i64} : tensor<1x4x6x6xf32>, tensor<8x1x3x3xf32>
  return %0 : tensor<1x8x4x4xf32>
}

// -----

// f16: the taps summed in f32, rounded once.
// CHECK-LABEL: func.func @half
// CHECK: ube.cast %arg1 : tensor<3x1x2xf16> to tensor<3x1x2xf32>
// CHECK: ube.cast %arg0 : tensor<1x3x8xf16> to tensor<1x3x8xf32>
// CHECK: ube.mul {{.*}} : tensor<1x3x7xf32>, tensor<3x1xf32>
// CHECK: ube.add {{.*}} : tensor<1x3x7xf32>, tensor<1x3x7xf32>
// CHECK: ube.cast %{{.*}} : tensor<1x3x7xf32> to tensor<1x3x7xf16>
func.func @half(%x: tensor<1x3x8xf16>, %w: tensor<3x1x2xf16>) -> tensor<1x3x7xf16> {
  %0 = ube.conv %x, %w {groups = 3 : i64} : tensor<1x3x8xf16>, tensor<3x1x2xf16>
  return %0 : tensor<1x3x7xf16>
}
