// RUN: ube-opt %s --ube-cpu-matmul-kernels="vector-width=8 panel-width=16 tile-rows=6 k-block=8 tiles-per-task=1" --canonicalize --cse --split-input-file | FileCheck %s
// RUN: not ube-opt %s --ube-cpu-matmul-kernels="vector-width=8 panel-width=12" 2>&1 | FileCheck %s --check-prefix=BAD-WIDTH

// BAD-WIDTH: panel-width must be a multiple of vector-width

// A batch of 2 (rhs broadcast), M = 13 = 2 tiles of 6 + 1 ragged row,
// N = 21 = one full panel + 5 columns, K = 20 = blocks of 8, 8 and 4.
// rhs is packed into k-major panels of 16 (reads past N pad with 0).
// CHECK-LABEL: func.func @batched
// CHECK: %[[RHS:.*]] = tensor.expand_shape %arg1 {{\[\[}}0, 1], [2]] output_shape [1, 20, 21]
// CHECK: %[[PACKED:.*]] = scf.for {{.*}} -> (tensor<1x2x20x16xf32>)
// CHECK: scf.for
// CHECK: vector.transfer_read %[[RHS]][%c0, %{{.*}}, %{{.*}}], %{{.*}} : tensor<1x20x21xf32>, vector<16xf32>
// CHECK: vector.transfer_write {{.*}} {in_bounds = [true]} : vector<16xf32>, tensor<1x2x20x16xf32>
// Tasks: (batch, row group); each owns rows of one matrix.
// CHECK: scf.forall (%[[B:.*]], %[[G:.*]]) in (2, 2) shared_outs(%[[OUT:.*]] = %{{.*}}) -> (tensor<2x13x21xf32>)
// CHECK: %[[LAST:.*]] = arith.cmpi eq, %[[G]], %c1
// CHECK: %[[ROWS:.*]] = arith.select %[[LAST]], %{{.*}}, %c6 : index
// CHECK: %[[SLICE:.*]] = tensor.extract_slice %[[OUT]][%{{.*}}, %{{.*}}, 0] [1, %[[ROWS]], 21] [1, 1, 1] : tensor<2x13x21xf32> to tensor<?x21xf32>
// The first K block of a full panel: 6 × 2 accumulators from zero, 2 panel
// loads, 6 broadcasts of lhs and 12 FMAs per k.
// CHECK: scf.for %[[K:.*]] = %c0 to %c8 step %c1 iter_args({{.*}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK: vector.transfer_read %[[PACKED]][%c0, %c0, %[[K]], %c0], %{{.*}} {in_bounds = [true]}
// CHECK: vector.transfer_read %[[PACKED]][%c0, %c0, %[[K]], %c8], %{{.*}} {in_bounds = [true]}
// CHECK: tensor.extract %arg0[%{{.*}}, %{{.*}}, %[[K]]] : tensor<2x13x20xf32>
// CHECK: vector.broadcast %{{.*}} : f32 to vector<8xf32>
// CHECK-COUNT-2: vector.fma
// CHECK: vector.transfer_write %{{.*}}#0, %[[SLICE]][%c0, %c0] {in_bounds = [true]}
// The ragged row, in the last group only.
// CHECK: scf.if %[[LAST]] -> (tensor<?x21xf32>)
// CHECK: scf.for {{.*}} -> (vector<8xf32>, vector<8xf32>)
// The ragged panel: one vector per row, 5 lanes stored; the lanes past it never exist.
// CHECK: scf.for {{.*}} -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK: %[[MASK:.*]] = vector.constant_mask [5] : vector<8xi1>
// CHECK: vector.transfer_write %{{.*}}, %{{.*}}[%c0, %c16], %[[MASK]]
// Later K blocks start from the partial sums.
// CHECK: scf.for %{{.*}} = %c8 to %c20 step %c8
// CHECK: arith.minui %{{.*}}, %c20
// CHECK: vector.transfer_read %{{.*}}[%c0, %c0], %{{.*}} {in_bounds = [true]} : tensor<?x21xf32>, vector<8xf32>
// CHECK: scf.forall.in_parallel
// CHECK: tensor.parallel_insert_slice %{{.*}} into %[[OUT]][%{{.*}}, %{{.*}}, 0] [1, %[[ROWS]], 21] [1, 1, 1]
func.func @batched(%a: tensor<2x13x20xf32>, %b: tensor<20x21xf32>) -> tensor<2x13x21xf32> {
  %r = ube.matmul %a, %b : tensor<2x13x20xf32>, tensor<20x21xf32>
  return %r : tensor<2x13x21xf32>
}

// -----

// Transposed operands: lhs [K, M] is read down its columns, rhs [N, K] is
// gathered along its rows into the same k-major panels.
// CHECK-LABEL: func.func @transposed
// (A single task: canonicalization folds the one-iteration forall away.)
// CHECK: vector.transfer_read %{{.*}}[%c0, %c0, %{{.*}}], %{{.*}} {in_bounds = [true], permutation_map = #{{.*}}} : tensor<1x16x4xf32>, vector<16xf32>
// CHECK: scf.for %[[K:.*]] = %c0 to %c4 step %c1
// CHECK: tensor.extract %arg0[%[[K]], %c0] : tensor<4x6xf32>
// CHECK: tensor.extract %arg0[%[[K]], %c1] : tensor<4x6xf32>
func.func @transposed(%a: tensor<4x6xf32>, %b: tensor<16x4xf32>) -> tensor<6x16xf32> {
  %r = ube.matmul %a, %b {transpose_lhs = true, transpose_rhs = true} : tensor<4x6xf32>, tensor<16x4xf32>
  return %r : tensor<6x16xf32>
}

// -----

// Other element types are left to --ube-lower-to-linalg.
// CHECK-LABEL: func.func @integer
// CHECK: ube.matmul
func.func @integer(%a: tensor<4x4xi32>, %b: tensor<4x4xi32>) -> tensor<4x4xi32> {
  %r = ube.matmul %a, %b : tensor<4x4xi32>, tensor<4x4xi32>
  return %r : tensor<4x4xi32>
}
