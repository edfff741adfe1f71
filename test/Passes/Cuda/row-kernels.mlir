// RUN: ube-opt %s --ube-cuda-row-kernels --split-input-file | FileCheck %s
// The target's kernel pipeline (decomposition keeping the norms, then these):
// RUN: ube-opt %s --ube-cuda-kernel-pipeline --split-input-file | FileCheck %s --check-prefix=PIPELINE
// PIPELINE-LABEL: func.func @softmax
// PIPELINE: scf.forall
// PIPELINE-LABEL: func.func @layer_norm
// PIPELINE: scf.forall

// softmax over the last axis: one scf.forall over the 8 x 4 rows; per row a
// maximum, a sum of exp(x - max) and a loop writing exp(x - max) / sum.
// CHECK-LABEL: func.func @softmax
// CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0, 1], [2]] : tensor<8x4x100xf32> into tensor<32x100xf32>
// CHECK: scf.forall (%[[ROW:.*]]) in (32)
// CHECK: %[[MAX:.*]] = scf.for {{.*}} iter_args(%[[M:.*]] = %{{.*}}) -> (f32)
// CHECK: tensor.extract %{{.*}}[%[[ROW]], %{{.*}}]
// CHECK: arith.maximumf %[[M]]
// CHECK: %[[SUM:.*]] = scf.for {{.*}} -> (f32)
// CHECK: arith.subf %{{.*}}, %[[MAX]]
// CHECK: math.exp
// CHECK: arith.addf
// CHECK: %[[INV:.*]] = arith.divf %{{.*}}, %[[SUM]]
// CHECK: scf.for {{.*}} -> (tensor<1x100xf32>)
// CHECK: arith.mulf %{{.*}}, %[[INV]]
// CHECK: tensor.insert
// CHECK: tensor.parallel_insert_slice
// CHECK: tensor.expand_shape
// CHECK-NOT: ube.softmax
func.func @softmax(%x: tensor<8x4x100xf32>) -> tensor<8x4x100xf32> {
  %y = ube.softmax %x : tensor<8x4x100xf32>
  return %y : tensor<8x4x100xf32>
}

// -----

// layer_norm with weight and bias: the mean, the centered sum of squares,
// rsqrt(var + eps), then (x - mean) * rstd * w + b.
// CHECK-LABEL: func.func @layer_norm
// CHECK: scf.forall
// CHECK: %[[MEAN:.*]] = arith.divf
// CHECK: scf.for {{.*}} -> (f32)
// CHECK: arith.subf %{{.*}}, %[[MEAN]]
// CHECK: arith.mulf
// CHECK: math.rsqrt
// CHECK: scf.for {{.*}} -> (tensor<1x64xf32>)
// CHECK: tensor.extract %{{.*}}[%{{.*}}] : tensor<64xf32>
// CHECK: arith.addf
// CHECK: tensor.insert
func.func @layer_norm(%x: tensor<16x64xf32>, %w: tensor<64xf32>, %b: tensor<64xf32>)
    -> tensor<16x64xf32> {
  %y = ube.layer_norm %x, %w, %b : tensor<16x64xf32>, tensor<64xf32>, tensor<64xf32>
  return %y : tensor<16x64xf32>
}

// -----

// Another axis stays for the linalg lowering.
// CHECK-LABEL: func.func @left_alone
// CHECK: ube.softmax %{{.*}} {axis = 0 : i64}
func.func @left_alone(%x: tensor<8x100xf32>) -> tensor<8x100xf32> {
  %y = ube.softmax %x {axis = 0} : tensor<8x100xf32>
  return %y : tensor<8x100xf32>
}

// -----

// Symbolic sizes: rows counted at run time (batch x seq), and a row of
// symbolic length (softmax over seq) runs to its size; layer_norm's mean
// divides by the length converted at run time.
// CHECK-LABEL: func.func @symbolic
// CHECK-SAME: (%[[X:.*]]: tensor<?x?x100xf32>, %[[S:.*]]: tensor<4x?xf32>)
// CHECK-DAG: %[[B:.*]] = tensor.dim %[[X]], %c0
// CHECK-DAG: %[[T:.*]] = tensor.dim %[[X]], %c1
// CHECK: %[[ROWS:.*]] = arith.muli %[[B]], %[[T]] : index
// CHECK: tensor.collapse_shape %[[X]] {{\[}}[0, 1], [2]] : tensor<?x?x100xf32> into tensor<?x100xf32>
// CHECK: scf.forall (%{{.*}}) in (%[[ROWS]])
// CHECK: tensor.expand_shape %{{.*}} {{\[}}[0, 1], [2]] output_shape [%[[B]], %[[T]], 100]
// CHECK: %[[LEN:.*]] = tensor.dim %[[S]], %c1
// CHECK: scf.forall (%{{.*}}) in (4)
// CHECK: %[[N:.*]] = arith.index_cast %[[LEN]] : index to i64
// CHECK: arith.sitofp %[[N]] : i64 to f32
// CHECK: scf.for %{{.*}} = %c0 to %[[LEN]]
// CHECK-NOT: ube.layer_norm
func.func @symbolic(%x: tensor<?x?x100xf32>, %s: tensor<4x?xf32>)
    -> (tensor<?x?x100xf32>, tensor<4x?xf32>) {
  %y = ube.log_softmax %x : tensor<?x?x100xf32>
  %z = ube.layer_norm %s : tensor<4x?xf32>
  return %y, %z : tensor<?x?x100xf32>, tensor<4x?xf32>
}
