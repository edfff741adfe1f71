// RUN: ube-opt %s --ube-lower-to-linalg --split-input-file | FileCheck %s
// Symbolic (`?`) dimensions lower to tensor.empty ops sized by tensor.dim of
// the operand that has each one; nothing of ube is left.
// RUN: ube-opt %s --ube-lower-to-linalg --split-input-file | FileCheck %s --check-prefix=ALL --implicit-check-not="= ube."
// ALL-LABEL: func.func @add
// ALL-LABEL: func.func @encoder
// ALL-LABEL: func.func @adamw

// A broadcast result takes its dynamic size from the operand that has it.
// CHECK-LABEL: func.func @add
// CHECK-SAME: (%[[A:.*]]: tensor<?x16xf32>, %[[B:.*]]: tensor<16xf32>)
// CHECK: %[[D:.*]] = tensor.dim %[[A]], %c0
// CHECK: tensor.empty(%[[D]]) : tensor<?x16xf32>
func.func @add(%a: tensor<?x16xf32>, %b: tensor<16xf32>) -> tensor<?x16xf32> {
  %0 = ube.add %a, %b : tensor<?x16xf32>, tensor<16xf32>
  return %0 : tensor<?x16xf32>
}

// -----

// Rows from the lhs, columns from a transposed rhs.
// CHECK-LABEL: func.func @matmul
// CHECK-SAME: (%[[L:.*]]: tensor<?x16xf32>, %[[R:.*]]: tensor<?x16xf32>)
// CHECK-DAG: %[[M:.*]] = tensor.dim %[[L]], %c0
// CHECK-DAG: %[[N:.*]] = tensor.dim %[[R]], %c0
// CHECK: tensor.empty(%[[M]], %[[N]]) : tensor<?x?xf32>
func.func @matmul(%l: tensor<?x16xf32>, %r: tensor<?x16xf32>) -> tensor<?x?xf32> {
  %0 = ube.matmul %l, %r {transpose_rhs = true} : tensor<?x16xf32>, tensor<?x16xf32>
  return %0 : tensor<?x?xf32>
}

// -----

// A mean over a dynamic dimension divides by its size at run time.
// CHECK-LABEL: func.func @mean
// CHECK-SAME: (%[[X:.*]]: tensor<4x?xf32>)
// CHECK: %[[N:.*]] = tensor.dim %[[X]], %c1
// CHECK: %[[I:.*]] = arith.index_castui %[[N]] : index to i64
// CHECK: %[[F:.*]] = arith.uitofp %[[I]] : i64 to f32
// CHECK: %[[S:.*]] = arith.divf %cst{{.*}}, %[[F]] : f32
// CHECK: linalg.generic
// CHECK: arith.mulf %{{.*}}, %[[S]]
func.func @mean(%x: tensor<4x?xf32>) -> tensor<4xf32> {
  %0 = ube.reduce_mean %x {axes = array<i64: 1>} : tensor<4x?xf32>
  return %0 : tensor<4xf32>
}

// -----

// CHECK-LABEL: func.func @transpose
// CHECK-SAME: (%[[X:.*]]: tensor<?x8x?xf32>)
// CHECK-DAG: %[[D2:.*]] = tensor.dim %[[X]], %c2
// CHECK-DAG: %[[D0:.*]] = tensor.dim %[[X]], %c0
// CHECK: tensor.empty(%[[D2]], %[[D0]]) : tensor<?x8x?xf32>
// CHECK: linalg.transpose
func.func @transpose(%x: tensor<?x8x?xf32>) -> tensor<?x8x?xf32> {
  %0 = ube.transpose %x, [2, 1, 0] : tensor<?x8x?xf32>
  return %0 : tensor<?x8x?xf32>
}

// -----

// Embedding rows for ids of any shape; ids are clamped to the table.
// CHECK-LABEL: func.func @gather
// CHECK-SAME: (%[[T:.*]]: tensor<100x16xf32>, %[[IDS:.*]]: tensor<?x?xi64>)
// CHECK-DAG: %[[B:.*]] = tensor.dim %[[IDS]], %c0
// CHECK-DAG: %[[S:.*]] = tensor.dim %[[IDS]], %c1
// CHECK: tensor.empty(%[[B]], %[[S]]) : tensor<?x?x16xf32>
// CHECK: arith.minsi
func.func @gather(%t: tensor<100x16xf32>, %ids: tensor<?x?xi64>) -> tensor<?x?x16xf32> {
  %0 = ube.gather %t, %ids {axis = 0 : i64} : tensor<100x16xf32>, tensor<?x?xi64>
  return %0 : tensor<?x?x16xf32>
}

// -----

// Along the axis the sizes add up; the second input goes at the first's size.
// Each input is copied into its slot by a linalg.copy (which the cpu
// target's parallelization splits into tasks).
// CHECK-LABEL: func.func @concat
// CHECK-SAME: (%[[A:.*]]: tensor<?x4xf32>, %[[B:.*]]: tensor<?x4xf32>)
// CHECK: %[[DA:.*]] = tensor.dim %[[A]], %c0
// CHECK: %[[DB:.*]] = tensor.dim %[[B]], %c0
// CHECK: %[[SUM:.*]] = arith.addi %[[DA]], %[[DB]]
// CHECK: %[[E:.*]] = tensor.empty(%[[SUM]]) : tensor<?x4xf32>
// CHECK: %[[SLOT_A:.*]] = tensor.extract_slice %[[E]][0, 0] [%{{.*}}, 4] [1, 1]
// CHECK: %[[COPY_A:.*]] = linalg.copy ins(%[[A]] : tensor<?x4xf32>) outs(%[[SLOT_A]] : tensor<?x4xf32>)
// CHECK: %[[FIRST:.*]] = tensor.insert_slice %[[COPY_A]] into %[[E]][0, 0] [%{{.*}}, 4] [1, 1]
// CHECK: %[[SLOT_B:.*]] = tensor.extract_slice %[[FIRST]][%{{.*}}, 0] [%{{.*}}, 4] [1, 1]
// CHECK: %[[COPY_B:.*]] = linalg.copy ins(%[[B]] : tensor<?x4xf32>) outs(%[[SLOT_B]] : tensor<?x4xf32>)
// CHECK: tensor.insert_slice %[[COPY_B]] into %[[FIRST]][%{{.*}}, 0] [%{{.*}}, 4] [1, 1]
func.func @concat(%a: tensor<?x4xf32>, %b: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %0 = ube.concat %a, %b {axis = 0 : i64} : tensor<?x4xf32>, tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

// A reshape that is one collapse (or one expansion) is that op.
// CHECK-LABEL: func.func @reshape
// CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0, 1], [2]] : tensor<?x?x16xf32> into tensor<?x16xf32>
func.func @reshape(%x: tensor<?x?x16xf32>) -> tensor<?x16xf32> {
  %0 = ube.reshape %x : tensor<?x?x16xf32> to tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}

// -----

// Symbolic sizes given: an expansion group by group, to them.
// CHECK-LABEL: func.func @reshape_sizes
// CHECK-SAME: (%[[X:.*]]: tensor<?x?x8xf32>, %[[B:.*]]: index, %[[S:.*]]: index)
// CHECK: tensor.expand_shape %[[X]] {{\[}}[0], [1], [2, 3]] output_shape [%[[B]], %[[S]], 2, 4] : tensor<?x?x8xf32> into tensor<?x?x2x4xf32>
func.func @reshape_sizes(%x: tensor<?x?x8xf32>, %b: index, %s: index) -> tensor<?x?x2x4xf32> {
  %0 = ube.reshape %x [%b, %s] : tensor<?x?x8xf32> to tensor<?x?x2x4xf32>
  return %0 : tensor<?x?x2x4xf32>
}

// -----

// Otherwise all of the input in one row, expanded to the one symbolic size.
// CHECK-LABEL: func.func @reshape_flat
// CHECK: %[[FLAT:.*]] = tensor.collapse_shape %{{.*}} {{\[}}[0, 1]] : tensor<4x6xf32> into tensor<24xf32>
// CHECK: %[[ROW:.*]] = tensor.cast %[[FLAT]] : tensor<24xf32> to tensor<?xf32>
// CHECK: tensor.expand_shape %[[ROW]] {{\[}}[0, 1]] output_shape [%{{.*}}, 3] : tensor<?xf32> into tensor<?x3xf32>
func.func @reshape_flat(%x: tensor<4x6xf32>, %n: index) -> tensor<?x3xf32> {
  %0 = ube.reshape %x [%n] : tensor<4x6xf32> to tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}

// -----

// A broadcast to a symbolic size given as an operand.
// CHECK-LABEL: func.func @broadcast_sizes
// CHECK-SAME: (%[[X:.*]]: tensor<1x16xf32>, %[[B:.*]]: index)
// CHECK: %[[E:.*]] = tensor.empty(%[[B]]) : tensor<?x16xf32>
// CHECK: linalg.generic {{.*}} ins(%[[X]] : tensor<1x16xf32>) outs(%[[E]] : tensor<?x16xf32>)
func.func @broadcast_sizes(%x: tensor<1x16xf32>, %b: index) -> tensor<?x16xf32> {
  %0 = ube.broadcast_to %x [%b] : tensor<1x16xf32> to tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}

// -----

// A small encoder on [batch, seq] ids: every op lowers.
func.func @encoder(%ids: tensor<?x?xi64>, %labels: tensor<?xi64>, %emb: tensor<100x16xf32>,
                   %w: tensor<8x16xf32>, %b: tensor<8xf32>, %g: tensor<16xf32>,
                   %beta: tensor<16xf32>) -> (tensor<?x8xf32>, tensor<f32>) {
  %x = ube.gather %emb, %ids {axis = 0 : i64} : tensor<100x16xf32>, tensor<?x?xi64>
  %n = ube.layer_norm %x, %g, %beta : tensor<?x?x16xf32>, tensor<16xf32>, tensor<16xf32>
  %t = ube.transpose %n, [0, 2, 1] : tensor<?x?x16xf32>
  %a = ube.matmul %n, %t : tensor<?x?x16xf32>, tensor<?x16x?xf32>
  %s = ube.softmax %a : tensor<?x?x?xf32>
  %c = ube.matmul %s, %n : tensor<?x?x?xf32>, tensor<?x?x16xf32>
  %h = ube.linear %c, %w, %b : tensor<?x?x16xf32>, tensor<8x16xf32>, tensor<8xf32>
  %ge = ube.gelu %h : tensor<?x?x8xf32>
  %d = ube.dropout %ge {rate = 1.000000e-01 : f64} : tensor<?x?x8xf32>
  %p = ube.reduce_mean %d {axes = array<i64: 1>} : tensor<?x?x8xf32>
  %l = ube.cross_entropy %p, %labels : tensor<?x8xf32>, tensor<?xi64>
  return %p, %l : tensor<?x8xf32>, tensor<f32>
}

// -----

// [b·s, 8] to [b, s, 2, 4]: one expansion, whose first group holds two
// symbolic sizes (bufferized, --ube-flatten-dynamic-expand-shapes views it).
// CHECK-LABEL: func.func @reshape_merged
// CHECK: tensor.expand_shape %arg0 {{\[\[}}0, 1], [2, 3]] output_shape [%arg1, %arg2, 2, 4] : tensor<?x8xf32> into tensor<?x?x2x4xf32>
func.func @reshape_merged(%x: tensor<?x8xf32>, %b: index, %s: index) -> tensor<?x?x2x4xf32> {
  %0 = ube.reshape %x [%b, %s] : tensor<?x8xf32> to tensor<?x?x2x4xf32>
  return %0 : tensor<?x?x2x4xf32>
}

// -----

// A pad fills the result with its value and copies the input's kept part
// into place: the amounts known at run time give the result's size and,
// through max(low, 0) and max(-low, 0), where the part comes from and goes.
// CHECK-LABEL: func.func @pad
// CHECK-SAME: (%[[X:.*]]: tensor<?x4xf32>, %[[LOW:.*]]: index)
// CHECK: %[[CROP:.*]] = arith.subi %{{.*}}, %[[LOW]] : index
// CHECK: %[[FROM:.*]] = arith.maxsi %[[CROP]], %{{.*}} : index
// CHECK: %[[INTO:.*]] = arith.maxsi %[[LOW]], %{{.*}} : index
// CHECK: %[[SIZE:.*]] = arith.addi %{{.*}}, %[[LOW]] : index
// CHECK: %[[E:.*]] = tensor.empty(%[[SIZE]]) : tensor<?x5xf32>
// CHECK: %[[HALF:.*]] = arith.constant 5.000000e-01 : f32
// CHECK: %[[FILLED:.*]] = linalg.fill ins(%[[HALF]] : f32) outs(%[[E]] : tensor<?x5xf32>)
// CHECK: %[[PART:.*]] = tensor.extract_slice %[[X]][%[[FROM]], 1] [%{{.*}}, 3] [1, 1]
// CHECK: %[[SLOT:.*]] = tensor.extract_slice %[[FILLED]][%[[INTO]], 0] [%{{.*}}, 3] [1, 1]
// CHECK: %[[COPY:.*]] = linalg.copy ins(%[[PART]] : tensor<?x3xf32>) outs(%[[SLOT]] : tensor<?x3xf32>)
// CHECK: tensor.insert_slice %[[COPY]] into %[[FILLED]][%[[INTO]], 0] [%{{.*}}, 3] [1, 1]
func.func @pad(%x: tensor<?x4xf32>, %low: index) -> tensor<?x5xf32> {
  %0 = ube.pad %x low[%low, -1] high[0, 2] {value = 0.5} : tensor<?x4xf32>
  return %0 : tensor<?x5xf32>
}

// -----

// An optimizer's update of a parameter of symbolic shape (a prompt as long
// as the sequence): elementwise on the parameter's sizes, the step's
// scalars (bias corrections) computed once.
// CHECK-LABEL: func.func @adamw
// CHECK-SAME: (%[[P:[a-z0-9]+]]: tensor<?x8xf32>,
// CHECK: %[[N:.*]] = tensor.dim %[[P]], %c0
// CHECK: tensor.empty(%[[N]]) : tensor<?x8xf32>
// CHECK: math.powf
// CHECK: math.sqrt {{.*}} : f32
// CHECK: return {{.*}} : tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>
func.func @adamw(%p: tensor<?x8xf32>, %g: tensor<?x8xf32>, %m: tensor<?x8xf32>, %v: tensor<?x8xf32>,
                 %lr: tensor<f32>, %step: tensor<i64>)
    -> (tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>) {
  %0:3 = ube.adamw_update %p, %g, %m, %v, %lr, %step {weight_decay = 0.01} : tensor<?x8xf32>
  return %0#0, %0#1, %0#2 : tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>
}
