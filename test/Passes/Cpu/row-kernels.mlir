// RUN: ube-opt %s --ube-cpu-row-kernels="vector-width=8 task-elements=40" --canonicalize --cse --split-input-file | FileCheck %s
// RUN: not ube-opt %s --ube-cpu-row-kernels="task-elements=0" 2>&1 | FileCheck %s --check-prefix=BAD

// softmax over rows of 20: tasks of 2 rows (task-elements 40), each row a
// statistics pass (lane maxima, then sums of exp) and an output pass; two
// full vectors then a masked one for the ragged end.
// CHECK-LABEL: func.func @softmax
// CHECK: scf.forall (%{{.*}}) in (3) shared_outs(%{{.*}} = %{{.*}}) -> (tensor<6x20xf32>)
// CHECK: %[[MASK:.*]] = vector.constant_mask [4] : vector<8xi1>
// CHECK: arith.maximumf %{{.*}} : vector<8xf32>
// CHECK: vector.reduction <maximumf>
// CHECK: math.exp %{{.*}} : vector<8xf32>
// CHECK: vector.reduction <add>
// CHECK: arith.divf %cst{{.*}}, %{{.*}} : f32
// CHECK: vector.transfer_write %{{.*}}, %{{.*}}[%{{.*}}, %c16], %[[MASK]]
// CHECK: tensor.parallel_insert_slice
// CHECK-NOT: ube.softmax
func.func @softmax(%x: tensor<2x3x20xf32>) -> tensor<2x3x20xf32> {
  %0 = ube.softmax %x : tensor<2x3x20xf32>
  return %0 : tensor<2x3x20xf32>
}

// -----

// log_softmax writes x - (max + log sum).
// CHECK-LABEL: func.func @log_softmax
// CHECK: math.log %{{.*}} : f32
// CHECK: arith.subf %{{.*}} : vector<8xf32>
// CHECK-NOT: ube.log_softmax
func.func @log_softmax(%x: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %0 = ube.log_softmax %x {axis = 1} : tensor<4x16xf32>
  return %0 : tensor<4x16xf32>
}

// -----

// layer_norm: the mean, then the centered sum of squares, then
// (x - mean) · rstd · weight + bias.
// CHECK-LABEL: func.func @layer_norm
// CHECK-SAME: %{{.*}}: tensor<4x16xf32>, %[[W:.*]]: tensor<16xf32>, %[[B:.*]]: tensor<16xf32>
// CHECK: vector.reduction <add>
// CHECK: math.fma %{{.*}} : vector<8xf32>
// CHECK: vector.reduction <add>
// CHECK: math.sqrt
// CHECK: vector.transfer_read %[[W]]
// CHECK: vector.transfer_read %[[B]]
// CHECK-NOT: ube.layer_norm
func.func @layer_norm(%x: tensor<4x16xf32>, %w: tensor<16xf32>, %b: tensor<16xf32>) -> tensor<4x16xf32> {
  %0 = ube.layer_norm %x, %w, %b : tensor<4x16xf32>, tensor<16xf32>, tensor<16xf32>
  return %0 : tensor<4x16xf32>
}

// -----

// rms_norm: the sum of squares, then x · rstd · weight.
// CHECK-LABEL: func.func @rms_norm
// CHECK-SAME: %{{.*}}: tensor<4x20xf32>, %[[W:.*]]: tensor<20xf32>
// CHECK: math.fma %{{.*}} : vector<8xf32>
// CHECK: vector.reduction <add>
// CHECK: math.sqrt
// CHECK: vector.transfer_read %[[W]]
// CHECK-NOT: ube.rms_norm
func.func @rms_norm(%x: tensor<4x20xf32>, %w: tensor<20xf32>) -> tensor<4x20xf32> {
  %0 = ube.rms_norm %x, %w : tensor<4x20xf32>, tensor<20xf32>
  return %0 : tensor<4x20xf32>
}

// -----

// Left for the linalg lowering: another axis, f16, a normalization over two
// axes, and an empty tensor.
// CHECK-LABEL: func.func @kept
// CHECK: ube.softmax %{{.*}} {axis = 0 : i64}
// CHECK: ube.softmax %{{.*}} : tensor<4x16xf16>
// CHECK: ube.layer_norm %{{.*}} {axis = -2 : i64}
// CHECK: ube.softmax %{{.*}} : tensor<0x16xf32>
func.func @kept(%x: tensor<4x16xf32>, %y: tensor<4x16xf16>, %z: tensor<0x16xf32>) -> (tensor<4x16xf32>, tensor<4x16xf16>, tensor<4x16xf32>, tensor<0x16xf32>) {
  %0 = ube.softmax %x {axis = 0} : tensor<4x16xf32>
  %1 = ube.softmax %y : tensor<4x16xf16>
  %2 = ube.layer_norm %x {axis = -2} : tensor<4x16xf32>
  %3 = ube.softmax %z : tensor<0x16xf32>
  return %0, %1, %2, %3 : tensor<4x16xf32>, tensor<4x16xf16>, tensor<4x16xf32>, tensor<0x16xf32>
}

// BAD: ube-cpu-row-kernels: vector-width and task-elements must be positive

// -----

// Symbolic rows and length: the task split (rows per task: 40 elements'
// worth, at least one row) and the row walk are computed at run time; the
// ragged end is the masked step where the length leaves one.
// CHECK-LABEL: func.func @symbolic
// CHECK-DAG: %[[LENGTH:.*]] = tensor.dim %arg0, %c1 : tensor<?x?xf32>
// CHECK-DAG: %[[ROWS:.*]] = tensor.dim %arg0, %c0 : tensor<?x?xf32>
// CHECK: %[[PER_ROW:.*]] = arith.ceildivui %c40, %[[LENGTH]]
// CHECK: %[[INIT:.*]] = tensor.empty(%[[ROWS]], %[[LENGTH]]) : tensor<?x?xf32>
// CHECK: scf.forall (%{{.*}}) in (%{{.*}}) shared_outs(%{{.*}} = %[[INIT]]) -> (tensor<?x?xf32>)
// CHECK: %[[FULL:.*]] = arith.muli %{{.*}}, %c8 : index
// CHECK: %[[RAGGED:.*]] = arith.cmpi ult, %[[FULL]], %[[LENGTH]] : index
// CHECK: scf.if %[[RAGGED]] -> (vector<8xf32>)
// CHECK: %[[LEFT:.*]] = arith.subi %[[LENGTH]], %[[FULL]] : index
// CHECK: vector.create_mask %[[LEFT]] : vector<8xi1>
func.func @symbolic(%x: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %y = ube.softmax %x {axis = -1 : i64} : tensor<?x?xf32>
  return %y : tensor<?x?xf32>
}
