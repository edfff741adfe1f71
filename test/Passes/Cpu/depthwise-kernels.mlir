// RUN: ube-opt %s --ube-cpu-depthwise-kernels="vector-width=16 task-elements=1000" --canonicalize --cse --split-input-file | FileCheck %s
// RUN: not ube-opt %s --ube-cpu-depthwise-kernels="vector-width=0" 2>&1 | FileCheck %s --check-prefix=BAD
// BAD: ube-cpu-depthwise-kernels: vector-width and task-elements must be positive

// MobileNet's 3×3 at stride 2 over planes of 28 × 40 (output 14 × 20), padded
// at the top and left only: 1000 / 280 = 3 planes per task, 16 planes in 6
// tasks. The padded plane, 29 rows × 57 (the ragged end of a row is
// written as a whole vector from column 1 + 32), is zeroed once per task and
// each plane's rows copied in (two full vectors and a ragged end of 8, read
// masked, written whole: zeros past the row). Tiles of
// 4 rows × 2 vectors (the second from column 4, overlapping the first);
// each tap reads 32 consecutive columns and a shuffle keeps the even ones.
// CHECK-LABEL: func.func @stride2
// CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0, 1], [2, 3]] : tensor<2x8x28x40xf32> into tensor<16x1120xf32>
// CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0, 1], [2, 3]] : tensor<8x1x3x3xf32> into tensor<8x9xf32>
// CHECK: scf.forall (%{{.*}}) in (6) shared_outs(%{{.*}} = %{{.*}}) -> (tensor<16x280xf32>)
// CHECK: tensor.empty() : tensor<29x57xf32>
// CHECK: linalg.fill
// CHECK: vector.constant_mask [8] : vector<16xi1>
// CHECK: vector.transfer_read %{{.*}} : tensor<16x1120xf32>, vector<16xf32>
// CHECK: vector.transfer_write %{{.*}} : vector<16xf32>, tensor<29x57xf32>
// CHECK: tensor.extract %{{.*}} : tensor<8xf32>
// CHECK: vector.transfer_read %{{.*}} : tensor<29x57xf32>, vector<32xf32>
// CHECK: vector.shuffle %{{.*}} [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30]
// CHECK: math.fma
// CHECK: vector.transfer_write %{{.*}} : vector<16xf32>, tensor<?x280xf32>
// CHECK: tensor.parallel_insert_slice
// CHECK: tensor.expand_shape %{{.*}} {{\[}}[0, 1], [2, 3]] output_shape [2, 8, 14, 20]
// CHECK-NOT: ube.conv
func.func @stride2(%x: tensor<2x8x28x40xf32>, %w: tensor<8x1x3x3xf32>, %b: tensor<8xf32>) -> tensor<2x8x14x20xf32> {
  %0 = ube.conv %x, %w, %b {groups = 8 : i64, stride = array<i64: 2, 2>, padding = array<i64: 1, 1, 0, 0>}
      : tensor<2x8x28x40xf32>, tensor<8x1x3x3xf32>, tensor<8xf32>
  return %0 : tensor<2x8x14x20xf32>
}

// -----

// A symbolic batch: the plane count and the task split at run time. A row
// narrower than a vector (5 outputs) is written masked.
// CHECK-LABEL: func.func @symbolic_batch
// CHECK: tensor.dim %{{.*}}, %c0 : tensor<?x4x5x5xf32>
// CHECK: scf.forall (%{{.*}}) in (%{{.*}}) shared_outs(%{{.*}} = %{{.*}}) -> (tensor<?x25xf32>)
// CHECK: vector.constant_mask [5] : vector<16xi1>
// CHECK: vector.transfer_write %{{.*}}, %{{.*}} : vector<16xf32>, tensor<?x25xf32>
// CHECK-NOT: ube.conv
func.func @symbolic_batch(%x: tensor<?x4x5x5xf32>, %w: tensor<4x1x3x3xf32>) -> tensor<?x4x5x5xf32> {
  %0 = ube.conv %x, %w {groups = 4 : i64, padding = array<i64: 1, 1, 1, 1>}
      : tensor<?x4x5x5xf32>, tensor<4x1x3x3xf32>
  return %0 : tensor<?x4x5x5xf32>
}

// -----

// Left alone: channels per group (a grouped convolution), f16, and a stride
// wider than a shuffle gathers.
// CHECK-LABEL: func.func @left_alone
// CHECK-COUNT-3: ube.conv
func.func @left_alone(%x: tensor<1x4x9x9xf32>, %w: tensor<4x2x3x3xf32>, %h: tensor<1x4x9x9xf16>,
                      %wh: tensor<4x1x3x3xf16>, %wd: tensor<4x1x3x3xf32>)
    -> (tensor<1x4x7x7xf32>, tensor<1x4x7x7xf16>, tensor<1x4x2x2xf32>) {
  %0 = ube.conv %x, %w {groups = 2 : i64} : tensor<1x4x9x9xf32>, tensor<4x2x3x3xf32>
  %1 = ube.conv %h, %wh {groups = 4 : i64} : tensor<1x4x9x9xf16>, tensor<4x1x3x3xf16>
  %2 = ube.conv %x, %wd {groups = 4 : i64, stride = array<i64: 5, 5>} : tensor<1x4x9x9xf32>, tensor<4x1x3x3xf32>
  return %0, %1, %2 : tensor<1x4x7x7xf32>, tensor<1x4x7x7xf16>, tensor<1x4x2x2xf32>
}

// -----

// An epilogue: ReLU6 (a clamp) and a scale by a splat constant run on the
// output vectors before they are stored; nothing of them is left outside.
// A second use of the convolution's result ends the chain.
// CHECK-LABEL: func.func @epilogue
// CHECK: scf.forall
// CHECK: math.fma
// CHECK: arith.select
// CHECK: arith.mulf %{{.*}}, %{{.*}} : vector<16xf32>
// CHECK: vector.transfer_write
// CHECK-NOT: ube.
// CHECK: return
func.func @epilogue(%x: tensor<1x4x9x40xf32>, %w: tensor<4x1x3x3xf32>) -> tensor<1x4x7x38xf32> {
  %0 = ube.conv %x, %w {groups = 4 : i64} : tensor<1x4x9x40xf32>, tensor<4x1x3x3xf32>
  %1 = ube.clamp %0 {min = 0.0 : f64, max = 6.0 : f64} : tensor<1x4x7x38xf32>
  %half = ube.constant dense<0.5> : tensor<f32>
  %2 = ube.mul %1, %half : tensor<1x4x7x38xf32>, tensor<f32>
  return %2 : tensor<1x4x7x38xf32>
}

// CHECK-LABEL: func.func @shared_result
// CHECK: %[[Y:.*]] = tensor.expand_shape
// CHECK: ube.relu %[[Y]]
func.func @shared_result(%x: tensor<1x4x9x40xf32>, %w: tensor<4x1x3x3xf32>) -> (tensor<1x4x7x38xf32>, tensor<1x4x7x38xf32>) {
  %0 = ube.conv %x, %w {groups = 4 : i64} : tensor<1x4x9x40xf32>, tensor<4x1x3x3xf32>
  %1 = ube.relu %0 : tensor<1x4x7x38xf32>
  return %0, %1 : tensor<1x4x7x38xf32>, tensor<1x4x7x38xf32>
}

// -----

// Large planes: each task's padded plane (1402 × 1417 floats, 7.6 MiB) is an
// arena slot of its own, so the 8 planes go in 4 tasks of 2, keeping the
// scratch within 32 MiB, not 8 tasks of 1.
// CHECK-LABEL: func.func @large_planes
// CHECK: scf.forall (%{{.*}}) in (4)
// CHECK: tensor.empty() : tensor<1402x1417xf32>
func.func @large_planes(%x: tensor<1x8x1400x1400xf32>, %w: tensor<8x1x3x3xf32>) -> tensor<1x8x1400x1400xf32> {
  %0 = ube.conv %x, %w {groups = 8 : i64, padding = array<i64: 1, 1, 1, 1>}
      : tensor<1x8x1400x1400xf32>, tensor<8x1x3x3xf32>
  return %0 : tensor<1x8x1400x1400xf32>
}

// -----

// A depthwise convolution's weight gradient: one task per channel (3); per
// image (2) the input plane copied into the task's padded plane (9 + 6
// rows; 3 vectors of 16 read from column 32 + 6 at most, a row's ragged
// end written as a whole vector from column 3 + 32: 59 columns),
// then the 49 taps' accumulators in groups of two kernel rows (14 vectors
// in registers), carried over the output's 9 rows, two whole vectors and
// a ragged one of 8 lanes (masked in the output gradient, and the input
// lanes past it zeroed: columns no output reads); the 49 sums
// reduced across lanes into [3, 49], viewed as the weight.
// CHECK-LABEL: func.func @weight_grad
// CHECK-DAG: %[[X:.*]] = tensor.collapse_shape %arg0 {{\[\[}}0, 1], [2, 3]] : tensor<2x3x9x40xf32> into tensor<6x360xf32>
// CHECK-DAG: %[[G:.*]] = tensor.collapse_shape %arg1 {{\[\[}}0, 1], [2, 3]] : tensor<2x3x9x40xf32> into tensor<6x360xf32>
// CHECK: scf.forall (%{{.*}}) in (3) shared_outs(%{{.*}}) -> (tensor<3x49xf32>)
// CHECK: linalg.fill {{.*}} -> tensor<49x16xf32>
// CHECK: linalg.fill {{.*}} -> tensor<15x59xf32>
// CHECK: scf.for %{{.*}} = %c0 to %c2 step %c1
// CHECK: %[[RAGGED:.*]] = vector.constant_mask [8] : vector<16xi1>
// CHECK: vector.transfer_read %[[X]]
// CHECK: scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK: vector.transfer_read %[[G]]
// CHECK: math.fma
// CHECK: vector.transfer_read %[[G]][%{{.*}}, %{{.*}}], %{{.*}}, %[[RAGGED]]
// CHECK: arith.select %[[RAGGED]]
// CHECK-COUNT-49: vector.reduction <add>
// CHECK: tensor.expand_shape %{{.*}} {{\[\[}}0], [1, 2, 3]] output_shape [3, 1, 7, 7] : tensor<3x49xf32> into tensor<3x1x7x7xf32>
func.func @weight_grad(%x: tensor<2x3x9x40xf32>, %g: tensor<2x3x9x40xf32>) -> tensor<3x1x7x7xf32> {
  %0 = ube.conv_weight_grad %x, %g {kernel = array<i64: 7, 7>, padding = array<i64: 3, 3, 3, 3>,
                                    groups = 3 : i64}
      : tensor<2x3x9x40xf32>, tensor<2x3x9x40xf32>
  return %0 : tensor<3x1x7x7xf32>
}

// -----

// Grouped convolutions with more than one channel per group keep their
// weight gradient for the decomposition.
// CHECK-LABEL: func.func @grouped_weight_grad
// CHECK: ube.conv_weight_grad
func.func @grouped_weight_grad(%x: tensor<2x4x8x8xf32>, %g: tensor<2x2x8x8xf32>)
    -> tensor<2x2x3x3xf32> {
  %0 = ube.conv_weight_grad %x, %g {kernel = array<i64: 3, 3>, padding = array<i64: 1, 1, 1, 1>,
                                    groups = 2 : i64}
      : tensor<2x4x8x8xf32>, tensor<2x2x8x8xf32>
  return %0 : tensor<2x2x3x3xf32>
}

// -----

// Symbolic planes: the plane sizes, the padded plane's, the tile counts and
// the task split at run time, the tile static (4 rows × 2 vectors at 16
// lanes). A row narrower than a vector is written masked, and a plane of
// fewer rows than a tile repeats its last row, so each version is built
// and the output's sizes pick one: planes of 4 rows or more take tiles of
// consecutive rows (the last one overlapping the one before), the kernel
// unrolled, each input row loaded once for the kernel rows that read it;
// shorter ones loop over the kernel's rows. The input row's ragged end is
// read under a mask of its run-time length.
// CHECK-LABEL: func.func @symbolic_planes
// CHECK: %[[H:.*]] = tensor.dim %arg0, %c2 : tensor<?x8x?x?xf32>
// CHECK: %[[W:.*]] = tensor.dim %arg0, %c3 : tensor<?x8x?x?xf32>
// CHECK: scf.forall (%{{.*}}) in (%{{.*}}) shared_outs(%{{.*}} = %{{.*}}) -> (tensor<?x?xf32>)
// CHECK: tensor.empty(%{{.*}}, %{{.*}}) : tensor<?x?xf32>
// CHECK: vector.create_mask %{{.*}} : vector<16xi1>
// CHECK: %[[NARROW:.*]] = arith.cmpi ult, %{{.*}}, %c16 : index
// CHECK: %[[SHORT:.*]] = arith.cmpi ult, %{{.*}}, %c4 : index
// CHECK: scf.if %[[NARROW]]
// CHECK: scf.if %[[SHORT]]
// CHECK: scf.for %{{.*}} = %c0 to %c3 step %c1 iter_args({{.*}}) -> (vector<16xf32>,
// CHECK: } else {
// CHECK-NOT: scf.for %{{.*}} = %c0 to %c3
// CHECK: math.fma %{{.*}}, %{{.*}}, %cst : vector<16xf32>
// CHECK: vector.shuffle
// CHECK-COUNT-4: vector.transfer_write %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}], %{{.*}} {in_bounds = [true]} : vector<16xf32>, tensor<?x?xf32>
// CHECK: } else {
// CHECK-COUNT-4: vector.transfer_write %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}] {in_bounds = [true]} : vector<16xf32>, tensor<?x?xf32>
// CHECK: tensor.expand_shape %{{.*}} {{\[\[}}0, 1], [2, 3]] output_shape [%{{.*}}, 8, %{{.*}}, %{{.*}}] : tensor<?x?xf32> into tensor<?x8x?x?xf32>
// CHECK-NOT: ube.conv
func.func @symbolic_planes(%x: tensor<?x8x?x?xf32>, %w: tensor<8x1x3x3xf32>) -> tensor<?x8x?x?xf32> {
  %0 = ube.conv %x, %w {groups = 8 : i64, stride = array<i64: 2, 2>, padding = array<i64: 1, 1, 1, 1>}
      : tensor<?x8x?x?xf32>, tensor<8x1x3x3xf32>
  return %0 : tensor<?x8x?x?xf32>
}

// -----

// The weight gradient on symbolic planes: a row's whole vectors counted at
// run time, the ragged one taken only where the width leaves one.
// CHECK-LABEL: func.func @symbolic_weight_grad
// CHECK: scf.forall (%{{.*}}) in (%{{.*}}) shared_outs(%{{.*}}) -> (tensor<8x9xf32>)
// CHECK: tensor.empty(%{{.*}}, %{{.*}}) : tensor<?x?xf32>
// CHECK: %[[RAGGED:.*]] = arith.cmpi ugt, %{{.*}}, %c0 : index
// CHECK: scf.if %[[RAGGED]] -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK: arith.select
// CHECK-COUNT-9: vector.reduction <add>
// CHECK-NOT: ube.conv_weight_grad
func.func @symbolic_weight_grad(%x: tensor<?x8x?x?xf32>, %g: tensor<?x8x?x?xf32>) -> tensor<8x1x3x3xf32> {
  %0 = ube.conv_weight_grad %x, %g {kernel = array<i64: 3, 3>, padding = array<i64: 1, 1, 1, 1>,
                                    groups = 8 : i64}
      : tensor<?x8x?x?xf32>, tensor<?x8x?x?xf32>
  return %0 : tensor<8x1x3x3xf32>
}
