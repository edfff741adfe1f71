// RUN: ube-opt %s --ube-decompose --split-input-file | FileCheck %s
// RUN: ube-opt %s --ube-decompose=keep-depthwise-weight-grads --split-input-file | FileCheck %s --check-prefix=KEEP

// A strided convolution's input gradient: one stride-1 convolution of the
// output gradient per phase (2 x 2 phases), each with the flipped taps
// that reach that phase (2 x 2, 2 x 1, 1 x 2, 1 x 1 of the 3 x 3 weight,
// channels exchanged), interleaved (reshape, concat, reshape) and cropped
// by the padding: no zeros multiplied.
// CHECK-LABEL: func.func @conv_input_grad
// CHECK: ube.transpose
// CHECK: ube.conv %{{.*}}, %{{.*}} {dilation = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>} : tensor<2x8x5x5xf32>, tensor<3x8x2x2xf32>
// CHECK: ube.conv %{{.*}}, %{{.*}} {dilation = array<i64: 1, 1>, padding = array<i64: 1, 0, 1, 1>} : tensor<2x8x5x5xf32>, tensor<3x8x2x1xf32>
// CHECK: ube.conv %{{.*}}, %{{.*}} {dilation = array<i64: 1, 1>, padding = array<i64: 0, 1, 1, 1>} : tensor<2x8x5x5xf32>, tensor<3x8x1x2xf32>
// CHECK: ube.conv %{{.*}}, %{{.*}} {dilation = array<i64: 1, 1>, padding = array<i64: 0, 0, 1, 1>} : tensor<2x8x5x5xf32>, tensor<3x8x1x1xf32>
// CHECK: ube.concat {{.*}} {axis = 5 : i64}
// CHECK: ube.concat {{.*}} {axis = 3 : i64}
// CHECK: ube.reshape %{{.*}} : tensor<2x3x6x2x6x2xf32> to tensor<2x3x12x12xf32>
// CHECK: ube.slice %{{.*}} {limit = array<i64: 2, 3, 10, 12>, start = array<i64: 0, 0, 1, 0>
// CHECK: ube.slice %{{.*}} {limit = array<i64: 2, 3, 9, 10>, start = array<i64: 0, 0, 0, 1>
// CHECK-NOT: ube.conv_input_grad
func.func @conv_input_grad(%g: tensor<2x8x5x5xf32>, %w: tensor<8x3x3x3xf32>)
    -> tensor<2x3x9x9xf32> {
  %0 = ube.conv_input_grad %g, %w {input_spatial = array<i64: 9, 9>,
                                   stride = array<i64: 2, 2>, padding = array<i64: 1, 1, 1, 1>}
      : tensor<2x8x5x5xf32>, tensor<8x3x3x3xf32>
  return %0 : tensor<2x3x9x9xf32>
}

// -----

// At stride 1, the correlation over the input's own positions: the output
// gradient padded by span - 1 less the forward padding (3 - 1 - 1 on the
// left and top, 3 - 1 - 0 on the right and bottom), nothing cropped.
// CHECK-LABEL: func.func @conv_input_grad_stride_one
// CHECK: ube.conv %{{.*}}, %{{.*}} {dilation = array<i64: 1, 1>, padding = array<i64: 1, 1, 2, 2>} : tensor<2x8x5x5xf32>, tensor<3x8x3x3xf32>
// CHECK-NOT: ube.slice
func.func @conv_input_grad_stride_one(%g: tensor<2x8x5x5xf32>, %w: tensor<8x3x3x3xf32>)
    -> tensor<2x3x6x6xf32> {
  %0 = ube.conv_input_grad %g, %w {input_spatial = array<i64: 6, 6>,
                                   padding = array<i64: 1, 1, 0, 0>}
      : tensor<2x8x5x5xf32>, tensor<8x3x3x3xf32>
  return %0 : tensor<2x3x6x6xf32>
}

// -----

// Forward padding past span - 1 (a 1 x 1 kernel padded by 1): over the
// whole padded input, cropped to the input.
// CHECK-LABEL: func.func @conv_input_grad_padding_past_span
// CHECK: ube.conv %{{.*}}, %{{.*}} {dilation = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>} : tensor<1x4x6x6xf32>, tensor<2x4x1x1xf32>
// CHECK: ube.slice %{{.*}} {limit = array<i64: 1, 2, 5, 6>, start = array<i64: 0, 0, 1, 0>
// CHECK: ube.slice %{{.*}} {limit = array<i64: 1, 2, 4, 5>, start = array<i64: 0, 0, 0, 1>
func.func @conv_input_grad_padding_past_span(%g: tensor<1x4x6x6xf32>, %w: tensor<4x2x1x1xf32>)
    -> tensor<1x2x4x4xf32> {
  %0 = ube.conv_input_grad %g, %w {input_spatial = array<i64: 4, 4>,
                                   padding = array<i64: 1, 1, 1, 1>}
      : tensor<1x4x6x6xf32>, tensor<4x2x1x1xf32>
  return %0 : tensor<1x2x4x4xf32>
}

// -----

// The weight gradient of a 2-D convolution: the padded input's patches as
// a ube.im2col with every image's positions side by side [1, C · taps,
// N · positions], and the output gradient [1, O, N · positions], in one
// matmul reading the patches transposed.
// CHECK-LABEL: func.func @conv_weight_grad
// CHECK: %[[X:.*]] = ube.concat %{{.*}} {axis = 3 : i64} : tensor<2x3x11x1xf32>, tensor<2x3x11x9xf32>, tensor<2x3x11x1xf32>
// CHECK: %[[P:.*]] = ube.im2col %[[X]] {batch_columns, columns = 5 : i64, dilation = array<i64: 1, 1>, kernel = array<i64: 3, 3>, length = 25 : i64, stride = array<i64: 2, 2>} : tensor<2x3x11x11xf32>
// CHECK: %[[T:.*]] = ube.transpose %arg1, [1, 0, 2, 3] : tensor<2x8x5x5xf32>
// CHECK: %[[G:.*]] = ube.reshape %[[T]] : tensor<8x2x5x5xf32> to tensor<1x8x50xf32>
// CHECK: %[[W:.*]] = ube.matmul %[[G]], %[[P]] {transpose_rhs = true} : tensor<1x8x50xf32>, tensor<1x27x50xf32>
// CHECK: ube.reshape %[[W]] : tensor<1x8x27xf32> to tensor<8x3x3x3xf32>
// CHECK-NOT: ube.conv
func.func @conv_weight_grad(%x: tensor<2x3x9x9xf32>, %g: tensor<2x8x5x5xf32>)
    -> tensor<8x3x3x3xf32> {
  %0 = ube.conv_weight_grad %x, %g {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>,
                                    padding = array<i64: 1, 1, 1, 1>}
      : tensor<2x3x9x9xf32>, tensor<2x8x5x5xf32>
  return %0 : tensor<8x3x3x3xf32>
}

// -----

// Grouped (and 1-D, 3-D) weight gradients gather the patches as strided
// slices, one per tap: [groups, N · positions, C/G · taps] against the
// output gradient [groups, O/G, N · positions], one matmul per group.
// CHECK-LABEL: func.func @conv_weight_grad_grouped
// CHECK-COUNT-9: ube.slice %{{.*}} stride = array<i64: 1, 1, 2, 2>
// CHECK: %[[TAPS:.*]] = ube.concat
// CHECK: %[[T:.*]] = ube.transpose %[[TAPS]], [1, 0, 4, 2, 3] : tensor<2x2x2x9x25xf32>
// CHECK: %[[PATCHES:.*]] = ube.reshape %[[T]] : tensor<2x2x25x2x9xf32> to tensor<2x50x18xf32>
// CHECK: %[[G:.*]] = ube.reshape %{{.*}} : tensor<2x4x2x25xf32> to tensor<2x4x50xf32>
// CHECK: %[[W:.*]] = ube.matmul %[[G]], %[[PATCHES]]
// CHECK: ube.reshape %[[W]] : tensor<2x4x18xf32> to tensor<8x2x3x3xf32>
func.func @conv_weight_grad_grouped(%x: tensor<2x4x9x9xf32>, %g: tensor<2x8x5x5xf32>)
    -> tensor<8x2x3x3xf32> {
  %0 = ube.conv_weight_grad %x, %g {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>,
                                    padding = array<i64: 1, 1, 1, 1>, groups = 2 : i64}
      : tensor<2x4x9x9xf32>, tensor<2x8x5x5xf32>
  return %0 : tensor<8x2x3x3xf32>
}

// -----

// Grouped, on a symbolic batch: per image and group, the output gradient
// [N, G, O/G, positions] times the im2col patches [N, G, C/G · taps,
// positions] read transposed, summed over the images (side by side, the
// images would mix the groups' columns).
// CHECK-LABEL: func.func @conv_weight_grad_symbolic
// CHECK: %[[NG:.*]] = arith.muli %{{.*}}, %c2
// CHECK: %[[X:.*]] = ube.reshape %{{.*}} [%[[NG]]] : tensor<?x4x11x11xf32> to tensor<?x2x11x11xf32>
// CHECK: %[[I:.*]] = ube.im2col %[[X]] {columns = 5 : i64, dilation = array<i64: 1, 1>, kernel = array<i64: 3, 3>, length = 25 : i64, stride = array<i64: 2, 2>} : tensor<?x2x11x11xf32>
// CHECK: %[[P:.*]] = ube.reshape %[[I]] [%{{.*}}] : tensor<?x18x25xf32> to tensor<?x2x18x25xf32>
// CHECK: %[[G:.*]] = ube.reshape %arg1 [%{{.*}}] : tensor<?x8x5x5xf32> to tensor<?x2x4x25xf32>
// CHECK: %[[W:.*]] = ube.matmul %[[G]], %[[P]] {transpose_rhs = true}
// CHECK: %[[S:.*]] = ube.reduce_sum %[[W]] {axes = array<i64: 0>} : tensor<?x2x4x18xf32>
// CHECK: ube.reshape %[[S]] : tensor<2x4x18xf32> to tensor<8x2x3x3xf32>
func.func @conv_weight_grad_symbolic(%x: tensor<?x4x9x9xf32>, %g: tensor<?x8x5x5xf32>)
    -> tensor<8x2x3x3xf32> {
  %0 = ube.conv_weight_grad %x, %g {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>,
                                    padding = array<i64: 1, 1, 1, 1>, groups = 2 : i64}
      : tensor<?x4x9x9xf32>, tensor<?x8x5x5xf32>
  return %0 : tensor<8x2x3x3xf32>
}

// -----

// Without groups, on a symbolic batch and planes: every image's positions
// side by side (an im2col with batch_columns whose length it counts at run
// time), one product with the output gradient as [1, O, N · positions], as
// on static planes: no product per image, no sum over the images.
// CHECK-LABEL: func.func @conv_weight_grad_symbolic_side_by_side
// CHECK: %[[N:.*]] = tensor.dim %arg1, %c0
// CHECK: %[[POSITIONS:.*]] = arith.muli %{{.*}}, %{{.*}} : index
// CHECK: %[[P:.*]] = ube.im2col %{{.*}} {batch_columns, dilation = array<i64: 1, 1>, kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>} : tensor<?x3x?x?xf32>
// CHECK: %[[T:.*]] = ube.transpose %arg1, [1, 0, 2, 3] : tensor<?x8x?x?xf32>
// CHECK: %[[COLUMNS:.*]] = arith.muli %[[N]], %[[POSITIONS]] : index
// CHECK: %[[G:.*]] = ube.reshape %[[T]] [%[[COLUMNS]]] : tensor<8x?x?x?xf32> to tensor<1x8x?xf32>
// CHECK: %[[W:.*]] = ube.matmul %[[G]], %[[P]] {transpose_rhs = true} : tensor<1x8x?xf32>, tensor<1x27x?xf32>
// CHECK-NOT: ube.reduce_sum
// CHECK: ube.reshape %[[W]] : tensor<1x8x27xf32> to tensor<8x3x3x3xf32>
func.func @conv_weight_grad_symbolic_side_by_side(%x: tensor<?x3x?x?xf32>,
                                                  %g: tensor<?x8x?x?xf32>)
    -> tensor<8x3x3x3xf32> {
  %0 = ube.conv_weight_grad %x, %g {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>,
                                    padding = array<i64: 1, 1, 1, 1>}
      : tensor<?x3x?x?xf32>, tensor<?x8x?x?xf32>
  return %0 : tensor<8x3x3x3xf32>
}

// -----

// Max pooling's gradient and indices: the pooling recomputed, each of the
// two taps compared with the maxima (the second only where the first did
// not match). In the gradient each tap lands on a phase of its own (even
// and odd input positions): the two are interleaved, never spread with
// zeros to the input's grid.
// CHECK-LABEL: func.func @max_pool_grad
// CHECK: %[[Y:.*]] = ube.max_pool
// CHECK: %[[FIRST:.*]] = ube.compare "eq", %{{.*}}, %[[Y]]
// CHECK: %[[EVEN:.*]] = ube.where %[[FIRST]], %arg1
// CHECK: %[[SECOND:.*]] = ube.compare "eq", %{{.*}}, %[[Y]]
// CHECK: %[[NOT:.*]] = ube.logical_not %[[FIRST]]
// CHECK: %[[HIT:.*]] = ube.logical_and %[[SECOND]], %[[NOT]]
// CHECK: %[[ODD:.*]] = ube.where %[[HIT]], %arg1
// CHECK: %[[E:.*]] = ube.reshape %[[EVEN]] : tensor<1x1x2xf32> to tensor<1x1x2x1xf32>
// CHECK: %[[O:.*]] = ube.reshape %[[ODD]] : tensor<1x1x2xf32> to tensor<1x1x2x1xf32>
// CHECK: %[[J:.*]] = ube.concat %[[E]], %[[O]] {axis = 3 : i64}
// CHECK: ube.reshape %[[J]] : tensor<1x1x2x2xf32> to tensor<1x1x4xf32>
// The indices of the taps' elements in the input: the plane's positions
// (an arange, sized at run time on symbolic planes) sliced as the taps'
// values are, 0, 2 and 1, 3.
// CHECK-LABEL: func.func @max_pool_indices
// CHECK: %[[POSITIONS:.*]] = ube.arange : tensor<4xi64>
// CHECK: %[[PLANE:.*]] = ube.reshape %[[POSITIONS]] : tensor<4xi64> to tensor<1x1x4xi64>
// CHECK: %[[EVEN:.*]] = ube.slice %[[PLANE]] {limit = array<i64: 1, 1, 3>, start = array<i64: 0, 0, 0>, stride = array<i64: 1, 1, 2>}
// CHECK: ube.where %{{.*}}, %[[EVEN]]
// CHECK: %[[ODD:.*]] = ube.slice %[[PLANE]] {limit = array<i64: 1, 1, 4>, start = array<i64: 0, 0, 1>, stride = array<i64: 1, 1, 2>}
// CHECK: ube.where %{{.*}}, %[[ODD]]
func.func @max_pool_grad(%x: tensor<1x1x4xf32>, %g: tensor<1x1x2xf32>) -> tensor<1x1x4xf32> {
  %0 = ube.max_pool_grad %x, %g {kernel = array<i64: 2>, stride = array<i64: 2>}
      : tensor<1x1x4xf32>, tensor<1x1x2xf32>
  return %0 : tensor<1x1x4xf32>
}
func.func @max_pool_indices(%x: tensor<1x1x4xf32>) -> tensor<1x1x2xi64> {
  %0 = ube.max_pool_indices %x {kernel = array<i64: 2>, stride = array<i64: 2>}
      : tensor<1x1x4xf32>
  return %0 : tensor<1x1x2xi64>
}

// -----

// keep-depthwise-weight-grads leaves a depthwise convolution's weight
// gradient whole (for --ube-cpu-depthwise-kernels), on static or symbolic
// planes, not a grouped one's.
// KEEP-LABEL: func.func @depthwise_weight_grad
// KEEP: ube.conv_weight_grad
// KEEP-LABEL: func.func @depthwise_weight_grad_symbolic
// KEEP: ube.conv_weight_grad
// KEEP-LABEL: func.func @grouped_weight_grad
// KEEP-NOT: ube.conv_weight_grad
// KEEP: ube.matmul
// CHECK-LABEL: func.func @depthwise_weight_grad
// CHECK-NOT: ube.conv_weight_grad
func.func @depthwise_weight_grad(%x: tensor<2x4x8x8xf32>, %g: tensor<2x4x8x8xf32>)
    -> tensor<4x1x3x3xf32> {
  %0 = ube.conv_weight_grad %x, %g {kernel = array<i64: 3, 3>, padding = array<i64: 1, 1, 1, 1>,
                                    groups = 4 : i64}
      : tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>
  return %0 : tensor<4x1x3x3xf32>
}
func.func @depthwise_weight_grad_symbolic(%x: tensor<?x4x?x?xf32>, %g: tensor<?x4x?x?xf32>)
    -> tensor<4x1x3x3xf32> {
  %0 = ube.conv_weight_grad %x, %g {kernel = array<i64: 3, 3>, padding = array<i64: 1, 1, 1, 1>,
                                    groups = 4 : i64}
      : tensor<?x4x?x?xf32>, tensor<?x4x?x?xf32>
  return %0 : tensor<4x1x3x3xf32>
}
func.func @grouped_weight_grad(%x: tensor<2x4x8x8xf32>, %g: tensor<2x2x8x8xf32>)
    -> tensor<2x2x3x3xf32> {
  %0 = ube.conv_weight_grad %x, %g {kernel = array<i64: 3, 3>, padding = array<i64: 1, 1, 1, 1>,
                                    groups = 2 : i64}
      : tensor<2x4x8x8xf32>, tensor<2x2x8x8xf32>
  return %0 : tensor<2x2x3x3xf32>
}

// -----

// On a symbolic plane the input's length comes at run time (input_sizes):
// each phase's Q = ⌈(len + 2) / 2⌉ positions are computed from it, the phase
// convolutions padded for the most Q can exceed the gradient's length
// (⌈span / stride⌉) and cropped to Q, and the interleaved phases cropped
// to the input's own length after its padding.
// CHECK-LABEL: func.func @conv_input_grad_symbolic
// CHECK-SAME: (%[[G:.*]]: tensor<?x2x?xf32>, %{{.*}}: tensor<2x3x3xf32>, %[[LEN:.*]]: index)
// CHECK: %[[PADDED:.*]] = arith.addi %[[LEN]], %c2
// CHECK: %[[Q:.*]] = arith.ceildivsi %[[PADDED]], %c2
// CHECK: %[[EVEN:.*]] = ube.conv %[[G]], %{{.*}} {dilation = array<i64: 1>, padding = array<i64: 1, 2>}
// CHECK: ube.slice %[[EVEN]] [%{{.*}}, %[[Q]]] {limit = array<i64: -1, 3, -1>
// CHECK: %[[ODD:.*]] = ube.conv %[[G]], %{{.*}} {dilation = array<i64: 1>, padding = array<i64: 0, 2>}
// CHECK: ube.slice %[[ODD]] [%{{.*}}, %[[Q]]] {limit = array<i64: -1, 3, -1>
// CHECK: ube.concat %{{.*}}, %{{.*}} {axis = 3 : i64} : tensor<?x3x?x1xf32>, tensor<?x3x?x1xf32>
// CHECK: %[[END:.*]] = arith.addi %[[LEN]], %c1
// CHECK: ube.slice %{{.*}} [%{{.*}}, %[[END]]] {limit = array<i64: -1, 3, -1>, start = array<i64: 0, 0, 1>
func.func @conv_input_grad_symbolic(%g: tensor<?x2x?xf32>, %w: tensor<2x3x3xf32>, %len: index) -> tensor<?x3x?xf32> {
  %0 = ube.conv_input_grad %g, %w [%len] {input_spatial = array<i64: -1>, stride = array<i64: 2>, padding = array<i64: 1, 1>} : tensor<?x2x?xf32>, tensor<2x3x3xf32>
  return %0 : tensor<?x3x?xf32>
}

// -----

// Average pooling's divisors on a symbolic plane that does not count its
// padding: each window's taps on the input counted at run time, as a
// convolution of ones with ones over the input's length, cropped to the
// gradient's.
// CHECK-LABEL: func.func @avg_pool_grad_symbolic
// CHECK-SAME: (%[[G:.*]]: tensor<1x2x?xf32>, %[[LEN:.*]]: index)
// CHECK: %[[FRAMES:.*]] = tensor.dim %[[G]], %c2
// CHECK: %[[ONES:.*]] = ube.broadcast_to %{{.*}} [%[[LEN]]] : tensor<f32> to tensor<1x1x?xf32>
// CHECK: %[[TAPS:.*]] = ube.conv %[[ONES]], %{{.*}} {dilation = array<i64: 1>, padding = array<i64: 1, 1>, stride = array<i64: 2>}
// CHECK: %[[COUNTS:.*]] = ube.slice %[[TAPS]] [%[[FRAMES]]]
// CHECK: %[[DIVISORS:.*]] = ube.reshape %[[COUNTS]] [%[[FRAMES]]] : tensor<1x1x?xf32> to tensor<?xf32>
// CHECK: ube.div %[[G]], %[[DIVISORS]]
func.func @avg_pool_grad_symbolic(%g: tensor<1x2x?xf32>, %len: index) -> tensor<1x2x?xf32> {
  %0 = ube.avg_pool_grad %g [%len] {input_spatial = array<i64: -1>, kernel = array<i64: 3>, stride = array<i64: 2>, padding = array<i64: 1, 1>, count_include_pad = false} : tensor<1x2x?xf32>
  return %0 : tensor<1x2x?xf32>
}
