// RUN: ube-opt %s --ube-cpu-distillation-kernels="vector-width=8 chunk-size=16" --split-input-file | FileCheck %s
// RUN: not ube-opt %s --ube-cpu-distillation-kernels="vector-width=8 chunk-size=12" 2>&1 | FileCheck %s --check-prefix=BAD-CHUNK

// BAD-CHUNK: chunk-size must be a positive multiple of vector-width

// kd_loss: rows flattened; per row one streaming pass in chunks: the chunk's
// lane maxima (unmasked full vectors), one rescaling of the running sums, the
// sums of exp and the teacher-weighted difference; the ragged end (10 = 8 + 2)
// one masked step; lanes combined into log-sum-exps; rows summed in f64.
// CHECK-LABEL: func.func @kd_loss
// CHECK: %[[S:.*]] = tensor.collapse_shape %arg0 {{\[\[}}0, 1], [2]] : tensor<2x3x10xf32> into tensor<6x10xf32>
// CHECK: scf.for %[[ROW:.*]] = %c0 to %c6 step %c1 iter_args({{.*}}) -> (f64, f64, f64)
// CHECK: scf.for {{.*}} -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK: scf.for {{.*}} -> (vector<8xf32>, vector<8xf32>)
// CHECK: vector.transfer_read %[[S]][%[[ROW]], %{{.*}}], %{{.*}} {in_bounds = [true]}
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: scf.for {{.*}} -> (vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK: math.exp
// CHECK: math.fma
// CHECK: %[[MASK:.*]] = vector.create_mask %c2 : vector<8xi1>
// CHECK: vector.transfer_read %[[S]][%[[ROW]], %c8], %{{.*}} : tensor<6x10xf32>, vector<8xf32>
// CHECK: arith.select %[[MASK]]
// CHECK: vector.reduction <maximumf>
// CHECK: vector.reduction <add>
// CHECK: math.log
// CHECK: arith.extf {{.*}} : f32 to f64
// CHECK: arith.mulf %{{.*}}, %cst{{.*}} : f64
// CHECK: arith.truncf
// CHECK: tensor.from_elements {{.*}} : tensor<f32>
// CHECK-NOT: ube.kd_loss
func.func @kd_loss(%s: tensor<2x3x10xf32>, %t: tensor<2x3x10xf32>) -> tensor<f32> {
  %0 = ube.kd_loss %s, %t {temperature = 2.0} : tensor<2x3x10xf32>, tensor<2x3x10xf32>
  return %0 : tensor<f32>
}

// -----

// A hard-label term at T != 1 keeps statistics at T = 1 too (7 running
// vectors), reads the label's logit and counts only rows not ignored.
// CHECK-LABEL: func.func @kd_loss_hard_labels
// CHECK: scf.for {{.*}} -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK: tensor.extract %arg2
// CHECK: arith.cmpi ne, %{{.*}}, %c-1
// CHECK: tensor.extract %arg0
func.func @kd_loss_hard_labels(%s: tensor<4x16xf32>, %t: tensor<4x16xf32>, %y: tensor<4xi64>) -> tensor<f32> {
  %0 = ube.kd_loss %s, %t labels %y {temperature = 2.0, alpha = 0.5, ignore_index = -1} : tensor<4x16xf32>, tensor<4x16xf32>, tensor<4xi64>
  return %0 : tensor<f32>
}

// -----

// The gradient: the same statistics, then a second pass over the row writing
// softmax(s/T) - softmax(t/T) scaled by grad·T/N into the result row.
// CHECK-LABEL: func.func @kd_loss_grad
// CHECK: %[[G:.*]] = tensor.extract %arg2[] : tensor<f32>
// CHECK: %[[INIT:.*]] = tensor.empty() : tensor<6x10xf32>
// CHECK: %[[OUT:.*]] = scf.for %[[ROW:.*]] = %c0 to %c6 step %c1 iter_args(%[[ACC:.*]] = %[[INIT]]) -> (tensor<6x10xf32>)
// CHECK: vector.reduction <add>
// CHECK: %[[FULL:.*]] = scf.for {{.*}} iter_args(%[[ROWACC:.*]] = %[[ACC]]) -> (tensor<6x10xf32>)
// CHECK: math.exp
// CHECK: math.exp
// CHECK: vector.transfer_write %{{.*}}, %[[ROWACC]][%[[ROW]], %{{.*}}] {in_bounds = [true]}
// CHECK: vector.transfer_write %{{.*}}, %[[FULL]][%[[ROW]], %c8] : vector<8xf32>, tensor<6x10xf32>
// CHECK: tensor.expand_shape %[[OUT]] {{\[\[}}0, 1], [2]] output_shape [2, 3, 10]
func.func @kd_loss_grad(%s: tensor<2x3x10xf32>, %t: tensor<2x3x10xf32>, %g: tensor<f32>) -> tensor<2x3x10xf32> {
  %0 = ube.kd_loss_grad %s, %t, %g {temperature = 2.0} : tensor<2x3x10xf32>, tensor<2x3x10xf32>, tensor<f32>
  return %0 : tensor<2x3x10xf32>
}

// -----

// Only f32 is fused; other element types keep the op for --ube-lower-to-linalg.
// CHECK-LABEL: func.func @kd_loss_f16
// CHECK: ube.kd_loss %arg0, %arg1
// CHECK-NOT: scf.for
func.func @kd_loss_f16(%s: tensor<4x16xf16>, %t: tensor<4x16xf16>) -> tensor<f16> {
  %0 = ube.kd_loss %s, %t : tensor<4x16xf16>, tensor<4x16xf16>
  return %0 : tensor<f16>
}

// -----

// The loss and its gradient of the same operands: one kernel, one statistics
// pass per row feeding both the row sums and the gradient row.
// CHECK-LABEL: func.func @kd_loss_and_grad
// CHECK: %[[BOTH:.*]]:4 = scf.for {{.*}} -> (f64, f64, f64, tensor<6x10xf32>)
// CHECK-NOT: scf.for %{{.*}} = %c0 to %c6
// CHECK: tensor.from_elements
// CHECK: return
func.func @kd_loss_and_grad(%s: tensor<6x10xf32>, %t: tensor<6x10xf32>, %g: tensor<f32>) -> (tensor<f32>, tensor<6x10xf32>) {
  %0 = ube.kd_loss %s, %t {temperature = 2.0} : tensor<6x10xf32>, tensor<6x10xf32>
  %1 = ube.kd_loss_grad %s, %t, %g {temperature = 2.0} : tensor<6x10xf32>, tensor<6x10xf32>, tensor<f32>
  return %0, %1 : tensor<f32>, tensor<6x10xf32>
}

// -----

// An upstream gradient computed from the loss itself is not available
// before the loss: two kernels.
// CHECK-LABEL: func.func @grad_depends_on_loss
// CHECK: scf.for {{.*}} -> (f64, f64, f64)
// CHECK: scf.for {{.*}} -> (tensor<6x10xf32>)
func.func @grad_depends_on_loss(%s: tensor<6x10xf32>, %t: tensor<6x10xf32>) -> tensor<6x10xf32> {
  %0 = ube.kd_loss %s, %t : tensor<6x10xf32>, tensor<6x10xf32>
  %1 = ube.kd_loss_grad %s, %t, %0 : tensor<6x10xf32>, tensor<6x10xf32>, tensor<f32>
  return %1 : tensor<6x10xf32>
}

// -----

// One row: rank-1 logits, a scalar label expanded to one row.
// CHECK-LABEL: func.func @kd_loss_one_row
// CHECK: tensor.expand_shape %arg2 [] output_shape [1] : tensor<i64> into tensor<1xi64>
func.func @kd_loss_one_row(%s: tensor<10xf32>, %t: tensor<10xf32>, %y: tensor<i64>) -> tensor<f32> {
  %0 = ube.kd_loss %s, %t labels %y {alpha = 0.5} : tensor<10xf32>, tensor<10xf32>, tensor<i64>
  return %0 : tensor<f32>
}

// -----

// Symbolic rows (a batch of any length; the vocabulary static): the same
// kernel, its row loop to the runtime count batch·seq.
// CHECK-LABEL: func.func @symbolic
// CHECK-DAG: %[[B:.*]] = tensor.dim %arg0, %c0{{.*}} : tensor<?x?x40xf32>
// CHECK-DAG: %[[S:.*]] = tensor.dim %arg0, %c1{{.*}} : tensor<?x?x40xf32>
// CHECK: %[[ROWS:.*]] = arith.muli
// CHECK: tensor.collapse_shape %arg0 {{\[\[}}0, 1], [2]] : tensor<?x?x40xf32> into tensor<?x40xf32>
// CHECK: scf.for %{{.*}} = %c0{{.*}} to %[[ROWS]]
func.func @symbolic(%s: tensor<?x?x40xf32>, %t: tensor<?x?x40xf32>) -> tensor<f32> {
  %l = ube.kd_loss %s, %t {temperature = 2.0 : f64} : tensor<?x?x40xf32>, tensor<?x?x40xf32>
  return %l : tensor<f32>
}
