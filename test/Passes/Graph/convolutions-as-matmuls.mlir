// RUN: ube-opt %s --ube-convolutions-as-matmuls --split-input-file | FileCheck %s

// A grouped, strided, padded 3x3 convolution: the input padded with zero
// blocks, one ube.im2col over the output's 3 × 3 positions (rows of 3,
// stride 2) per image and group, the weight viewed as [G, O/G, C/G · 9],
// one matmul, the bias added per channel.
// CHECK-LABEL: func.func @conv
// CHECK: ube.concat %{{.*}}, %arg0, %{{.*}} {axis = 2 : i64}
// CHECK: %[[X:.*]] = ube.reshape %{{.*}} : tensor<2x4x8x8xf32> to tensor<4x2x8x8xf32>
// CHECK: %[[I:.*]] = ube.im2col %[[X]] {columns = 3 : i64, dilation = array<i64: 1, 1>, kernel = array<i64: 3, 3>, length = 9 : i64, stride = array<i64: 2, 2>} : tensor<4x2x8x8xf32>
// CHECK: %[[PATCHES:.*]] = ube.reshape %[[I]] : tensor<4x18x9xf32> to tensor<2x2x18x9xf32>
// CHECK: %[[W:.*]] = ube.reshape %arg1 : tensor<6x2x3x3xf32> to tensor<2x3x18xf32>
// CHECK: %[[P:.*]] = ube.matmul %[[W]], %[[PATCHES]] : tensor<2x3x18xf32>, tensor<2x2x18x9xf32>
// CHECK: ube.reshape %[[P]] : tensor<2x2x3x9xf32> to tensor<2x6x3x3xf32>
// CHECK: ube.reshape %arg2 : tensor<6xf32> to tensor<6x1x1xf32>
// CHECK: ube.add
// CHECK-NOT: ube.conv
// CHECK-NOT: ube.slice
func.func @conv(%x: tensor<2x4x6x6xf32>, %w: tensor<6x2x3x3xf32>, %b: tensor<6xf32>)
    -> tensor<2x6x3x3xf32> {
  %0 = ube.conv %x, %w, %b {stride = array<i64: 2, 2>, padding = array<i64: 1, 1, 1, 1>,
                            groups = 2 : i64}
      : tensor<2x4x6x6xf32>, tensor<6x2x3x3xf32>, tensor<6xf32>
  return %0 : tensor<2x6x3x3xf32>
}

// -----

// A 1-D convolution is a 2-D one over a plane of height 1: its
// ube.im2col takes the window [1, 3] with stride [1, 2] over the 3 output
// positions, times the weight [O, C · 3].
// CHECK-LABEL: func.func @conv1d
// CHECK: %[[X:.*]] = ube.reshape %arg0 : tensor<1x4x7xf32> to tensor<1x4x1x7xf32>
// CHECK: %[[I:.*]] = ube.im2col %[[X]] {columns = 3 : i64, dilation = array<i64: 1, 1>, kernel = array<i64: 1, 3>, length = 3 : i64, stride = array<i64: 1, 2>} : tensor<1x4x1x7xf32>
// CHECK: %[[W:.*]] = ube.reshape %arg1 : tensor<6x4x3xf32> to tensor<6x12xf32>
// CHECK: ube.matmul %[[W]], %[[I]] : tensor<6x12xf32>, tensor<1x12x3xf32>
// CHECK-NOT: ube.slice
func.func @conv1d(%x: tensor<1x4x7xf32>, %w: tensor<6x4x3xf32>) -> tensor<1x6x3xf32> {
  %0 = ube.conv %x, %w {stride = array<i64: 2>} : tensor<1x4x7xf32>, tensor<6x4x3xf32>
  return %0 : tensor<1x6x3xf32>
}

// -----

// A 3-D convolution gathers its patches as strided slices, one per tap.
// CHECK-LABEL: func.func @conv3d
// CHECK-COUNT-8: ube.slice
// CHECK: ube.concat
// CHECK: ube.matmul
func.func @conv3d(%x: tensor<1x2x4x4x4xf32>, %w: tensor<3x2x2x2x2xf32>) -> tensor<1x3x2x2x2xf32> {
  %0 = ube.conv %x, %w {stride = array<i64: 2, 2, 2>}
      : tensor<1x2x4x4x4xf32>, tensor<3x2x2x2x2xf32>
  return %0 : tensor<1x3x2x2x2xf32>
}

// -----

// A pointwise convolution is a matmul of the input as it is.
// CHECK-LABEL: func.func @pointwise
// CHECK-NOT: ube.slice
// CHECK: %[[X:.*]] = ube.reshape %arg0 : tensor<2x8x5x5xf32> to tensor<2x8x25xf32>
// CHECK: %[[W:.*]] = ube.reshape %arg1 : tensor<4x8x1x1xf32> to tensor<4x8xf32>
// CHECK: ube.matmul %[[W]], %[[X]] : tensor<4x8xf32>, tensor<2x8x25xf32>
func.func @pointwise(%x: tensor<2x8x5x5xf32>, %w: tensor<4x8x1x1xf32>) -> tensor<2x4x5x5xf32> {
  %0 = ube.conv %x, %w : tensor<2x8x5x5xf32>, tensor<4x8x1x1xf32>
  return %0 : tensor<2x4x5x5xf32>
}

// -----

// A symbolic batch is the matmul's batch: a pointwise 1-D convolution
// reads the input as it is.
// CHECK-LABEL: func.func @symbolic
// CHECK: %[[W:.*]] = ube.reshape %arg1 : tensor<4x8x1xf32> to tensor<4x8xf32>
// CHECK: ube.matmul %[[W]], %arg0 : tensor<4x8xf32>, tensor<?x8x5xf32>
// CHECK-NOT: ube.conv
func.func @symbolic(%x: tensor<?x8x5xf32>, %w: tensor<4x8x1xf32>) -> tensor<?x4x5xf32> {
  %0 = ube.conv %x, %w : tensor<?x8x5xf32>, tensor<4x8x1xf32>
  return %0 : tensor<?x4x5xf32>
}

// -----

// The grouped, strided, padded convolution of @conv on a symbolic batch:
// the zero blocks and every view sized from the batch read at run time
// (times the groups for the im2col's images).
// CHECK-LABEL: func.func @symbolic_batch
// CHECK: %[[N:.*]] = tensor.dim %arg0, %c0
// CHECK: ube.broadcast_to %{{.*}} [%{{.*}}] : tensor<f32> to tensor<?x4x1x6xf32>
// CHECK: %[[NG:.*]] = arith.muli %[[N]], %c2
// CHECK: %[[X:.*]] = ube.reshape %{{.*}} [%[[NG]]] : tensor<?x4x8x8xf32> to tensor<?x2x8x8xf32>
// CHECK: %[[I:.*]] = ube.im2col %[[X]] {{.*}} : tensor<?x2x8x8xf32>
// CHECK: %[[PATCHES:.*]] = ube.reshape %[[I]] [%[[N]]] : tensor<?x18x9xf32> to tensor<?x2x18x9xf32>
// CHECK: %[[P:.*]] = ube.matmul %{{.*}}, %[[PATCHES]] : tensor<2x3x18xf32>, tensor<?x2x18x9xf32>
// CHECK: ube.reshape %[[P]] [%[[N]]] : tensor<?x2x3x9xf32> to tensor<?x6x3x3xf32>
// CHECK-NOT: ube.conv
func.func @symbolic_batch(%x: tensor<?x4x6x6xf32>, %w: tensor<6x2x3x3xf32>, %b: tensor<6xf32>)
    -> tensor<?x6x3x3xf32> {
  %0 = ube.conv %x, %w, %b {stride = array<i64: 2, 2>, padding = array<i64: 1, 1, 1, 1>,
                            groups = 2 : i64}
      : tensor<?x4x6x6xf32>, tensor<6x2x3x3xf32>, tensor<6xf32>
  return %0 : tensor<?x6x3x3xf32>
}

// -----

// Small planes of a symbolic batch keep a matrix per image (batch_columns
// needs the batch's size), over the padded width, the columns cropped.
// CHECK-LABEL: func.func @symbolic_small_planes
// CHECK: %[[I:.*]] = ube.im2col %{{.*}} {dilation = array<i64: 1, 1>, kernel = array<i64: 3, 3>, length = 24 : i64} : tensor<?x4x7x6xf32>
// CHECK: ube.matmul %{{.*}}, %[[I]] : tensor<6x36xf32>, tensor<?x36x24xf32>
// CHECK: ube.slice %{{.*}} [%{{.*}}] {limit = array<i64: -1, 6, 4, 4>
func.func @symbolic_small_planes(%x: tensor<?x4x4x4xf32>, %w: tensor<6x4x3x3xf32>)
    -> tensor<?x6x4x4xf32> {
  %0 = ube.conv %x, %w {padding = array<i64: 1, 1, 1, 1>}
      : tensor<?x4x4x4xf32>, tensor<6x4x3x3xf32>
  return %0 : tensor<?x6x4x4xf32>
}

// -----

// Depthwise convolutions stay whole: a one-row matmul per channel gains
// nothing over the loop nest.
// CHECK-LABEL: func.func @depthwise
// CHECK: ube.conv
// CHECK-NOT: ube.matmul
func.func @depthwise(%x: tensor<1x8x5x5xf32>, %w: tensor<8x1x3x3xf32>) -> tensor<1x8x3x3xf32> {
  %0 = ube.conv %x, %w {groups = 8 : i64} : tensor<1x8x5x5xf32>, tensor<8x1x3x3xf32>
  return %0 : tensor<1x8x3x3xf32>
}

// -----

// A 2-D stride-1 convolution: the padded input (plus one row its last taps
// run into), its ube.im2col over the full padded width 7, the weight
// [O, C·9] times it, the wrapped-around columns cropped.
// CHECK-LABEL: func.func @stride_one
// CHECK: %[[P:.*]] = ube.im2col %{{.*}} {dilation = array<i64: 1, 1>, kernel = array<i64: 3, 3>, length = 35 : i64} : tensor<1x4x8x7xf32>
// CHECK: %[[W:.*]] = ube.reshape %arg1 : tensor<6x4x3x3xf32> to tensor<6x36xf32>
// CHECK: %[[Y:.*]] = ube.matmul %[[W]], %[[P]] : tensor<6x36xf32>, tensor<1x36x35xf32>
// CHECK: %[[R:.*]] = ube.reshape %[[Y]] : tensor<1x6x35xf32> to tensor<1x6x5x7xf32>
// CHECK: ube.slice %[[R]] {limit = array<i64: 1, 6, 5, 5>, start = array<i64: 0, 0, 0, 0>, stride = array<i64: 1, 1, 1, 1>}
// CHECK-NOT: ube.conv
func.func @stride_one(%x: tensor<1x4x5x5xf32>, %w: tensor<6x4x3x3xf32>) -> tensor<1x6x5x5xf32> {
  %0 = ube.conv %x, %w {padding = array<i64: 1, 1, 1, 1>}
      : tensor<1x4x5x5xf32>, tensor<6x4x3x3xf32>
  return %0 : tensor<1x6x5x5xf32>
}

// -----

// Small planes: 3 images of 4 × 4 outputs would each fill 24 columns of
// a panel (4 rows of the padded width 6); side by side (batch_columns)
// they are one matrix of 48 columns over the output's positions, the
// product [O, 3 · 16] viewed as [O, 3, 4, 4] and transposed to the batch
// first.
// CHECK-LABEL: func.func @small_planes
// CHECK: %[[P:.*]] = ube.im2col %{{.*}} {batch_columns, columns = 4 : i64, dilation = array<i64: 1, 1>, kernel = array<i64: 3, 3>, length = 16 : i64, stride = array<i64: 1, 1>} : tensor<3x4x6x6xf32>
// CHECK: %[[Y:.*]] = ube.matmul %{{.*}}, %[[P]] : tensor<6x36xf32>, tensor<1x36x48xf32>
// CHECK: %[[R:.*]] = ube.reshape %[[Y]] : tensor<1x6x48xf32> to tensor<6x3x4x4xf32>
// CHECK: ube.transpose %[[R]], [1, 0, 2, 3] : tensor<6x3x4x4xf32>
// CHECK-NOT: ube.slice
func.func @small_planes(%x: tensor<3x4x4x4xf32>, %w: tensor<6x4x3x3xf32>) -> tensor<3x6x4x4xf32> {
  %0 = ube.conv %x, %w {padding = array<i64: 1, 1, 1, 1>}
      : tensor<3x4x4x4xf32>, tensor<6x4x3x3xf32>
  return %0 : tensor<3x6x4x4xf32>
}

// -----

// Grouped convolutions keep one matrix per image and group.
// CHECK-LABEL: func.func @small_planes_grouped
// CHECK: ube.im2col %{{.*}} {dilation = array<i64: 1, 1>, kernel = array<i64: 3, 3>, length = 24 : i64} : tensor<6x2x7x6xf32>
func.func @small_planes_grouped(%x: tensor<3x4x4x4xf32>, %w: tensor<6x2x3x3xf32>)
    -> tensor<3x6x4x4xf32> {
  %0 = ube.conv %x, %w {padding = array<i64: 1, 1, 1, 1>, groups = 2 : i64}
      : tensor<3x4x4x4xf32>, tensor<6x2x3x3xf32>
  return %0 : tensor<3x6x4x4xf32>
}

// -----

// Symbolic planes: the padded input's patches as a ube.im2col over the
// window's output positions (no length: counted from its height and width
// at run time), which the cpu matmul kernels gather into their panels; the
// groups as views of the batch; the product viewed as [N, O, OH, OW] with
// OH = (H + 2 − 3) // 2 + 1 and OW = W − 2 computed from the padded input.
// CHECK-LABEL: func.func @symbolic_planes
// CHECK: %[[X:.*]] = ube.concat %{{.*}}, %arg0, %{{.*}} {axis = 2 : i64}
// CHECK: %[[N:.*]] = tensor.dim %[[X]], %c0
// CHECK: %[[NG:.*]] = arith.muli %[[N]], %c2
// CHECK: %[[G:.*]] = ube.reshape %[[X]] [%[[NG]], %{{.*}}, %{{.*}}] : tensor<?x4x?x?xf32> to tensor<?x2x?x?xf32>
// CHECK: tensor.dim %[[G]], %c2
// CHECK: arith.floordivsi %{{.*}}, %c2
// CHECK: tensor.dim %[[G]], %c3
// CHECK: %[[L:.*]] = arith.muli %[[OH:.*]], %[[OW:.*]] : index
// CHECK: %[[P:.*]] = ube.im2col %[[G]] {dilation = array<i64: 1, 1>, kernel = array<i64: 3, 3>, stride = array<i64: 2, 1>} : tensor<?x2x?x?xf32>
// CHECK: %[[PG:.*]] = ube.reshape %[[P]] [%[[N]], %[[L]]] : tensor<?x18x?xf32> to tensor<?x2x18x?xf32>
// CHECK: %[[Y:.*]] = ube.matmul %{{.*}}, %[[PG]] : tensor<2x3x18xf32>, tensor<?x2x18x?xf32>
// CHECK: ube.reshape %[[Y]] [%[[N]], %[[OH]], %[[OW]]] : tensor<?x2x3x?xf32> to tensor<?x6x?x?xf32>
func.func @symbolic_planes(%x: tensor<?x4x?x?xf32>, %w: tensor<6x2x3x3xf32>, %b: tensor<6xf32>)
    -> tensor<?x6x?x?xf32> {
  %0 = ube.conv %x, %w, %b {groups = 2 : i64, stride = array<i64: 2, 1>,
                            padding = array<i64: 1, 0, 1, 0>}
      : tensor<?x4x?x?xf32>, tensor<6x2x3x3xf32>, tensor<6xf32>
  return %0 : tensor<?x6x?x?xf32>
}

// -----

// A symbolic length: a plane of height 1, the window [1, 5].
// CHECK-LABEL: func.func @symbolic_length
// CHECK: %[[X:.*]] = ube.reshape %arg0 [%{{.*}}] : tensor<2x4x?xf32> to tensor<2x4x1x?xf32>
// CHECK: %[[P:.*]] = ube.im2col %[[X]] {dilation = array<i64: 1, 1>, kernel = array<i64: 1, 5>, stride = array<i64: 1, 2>} : tensor<2x4x1x?xf32>
// CHECK: ube.matmul %{{.*}}, %[[P]] : tensor<8x20xf32>, tensor<2x20x?xf32>
func.func @symbolic_length(%x: tensor<2x4x?xf32>, %w: tensor<8x4x5xf32>) -> tensor<2x8x?xf32> {
  %0 = ube.conv %x, %w {stride = array<i64: 2>} : tensor<2x4x?xf32>, tensor<8x4x5xf32>
  return %0 : tensor<2x8x?xf32>
}

// -----

// A pointwise window on symbolic planes: the planes themselves, viewed as
// [N, C, H·W], are the patches.
// CHECK-LABEL: func.func @symbolic_pointwise
// CHECK-NOT: ube.im2col
// CHECK: %[[L:.*]] = arith.muli %{{.*}}, %{{.*}} : index
// CHECK: %[[P:.*]] = ube.reshape %arg0 [%{{.*}}, %[[L]]] : tensor<?x8x?x?xf32> to tensor<?x8x?xf32>
// CHECK: ube.matmul %{{.*}}, %[[P]] : tensor<4x8xf32>, tensor<?x8x?xf32>
func.func @symbolic_pointwise(%x: tensor<?x8x?x?xf32>, %w: tensor<4x8x1x1xf32>)
    -> tensor<?x4x?x?xf32> {
  %0 = ube.conv %x, %w : tensor<?x8x?x?xf32>, tensor<4x8x1x1xf32>
  return %0 : tensor<?x4x?x?xf32>
}
