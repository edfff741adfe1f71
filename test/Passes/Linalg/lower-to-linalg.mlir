// RUN: ube-opt %s --ube-lower-to-linalg --split-input-file | FileCheck %s
// Every op of the dialect lowers: nothing of ube is left in the round-trip file.
// RUN: ube-opt %S/../../Dialect/ops.mlir --ube-lower-to-linalg | FileCheck %s --check-prefix=ALL --implicit-check-not="= ube."

// ALL-LABEL: func.func @unary
// ALL-LABEL: func.func @binary
// ALL-LABEL: func.func @contractions
// ALL-LABEL: func.func @normalization
// ALL-LABEL: func.func @data_movement
// ALL-LABEL: func.func @losses
// ALL-LABEL: func.func @distillation

// Broadcast operands are read through maps that pin size-1 dimensions to 0
// and drop missing leading ones.
// CHECK-DAG: #[[ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[ROW:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-DAG: #[[COL:.*]] = affine_map<(d0, d1) -> (d0, 0)>
// CHECK-LABEL: func.func @add_broadcast
// CHECK: linalg.generic {indexing_maps = [#[[ROW]], #[[COL]], #[[ID]]], iterator_types = ["parallel", "parallel"]}
// CHECK-SAME: ins(%{{.*}}, %{{.*}} : tensor<3xf32>, tensor<2x1xf32>)
// CHECK: arith.addf
func.func @add_broadcast(%a: tensor<3xf32>, %b: tensor<2x1xf32>) -> tensor<2x3xf32> {
  %0 = ube.add %a, %b : tensor<3xf32>, tensor<2x1xf32>
  return %0 : tensor<2x3xf32>
}

// -----

// CHECK-LABEL: func.func @integer_ops
// CHECK: arith.divsi
// CHECK: arith.maxsi
// CHECK: arith.cmpi slt
func.func @integer_ops(%a: tensor<4xi32>, %b: tensor<4xi32>) -> tensor<4xi1> {
  %0 = ube.div %a, %b : tensor<4xi32>, tensor<4xi32>
  %1 = ube.maximum %0, %b : tensor<4xi32>, tensor<4xi32>
  %2 = ube.compare "lt", %1, %a : tensor<4xi32>, tensor<4xi32>
  return %2 : tensor<4xi1>
}

// -----

// CHECK-LABEL: func.func @unary_bodies
// CHECK: math.erf
// CHECK: math.tanh
// CHECK: math.exp
// CHECK: arith.divf
// CHECK: arith.maximumf
// CHECK: math.rsqrt
func.func @unary_bodies(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = ube.gelu %x : tensor<4xf32>
  %1 = ube.gelu %0 {approximate = "tanh"} : tensor<4xf32>
  %2 = ube.sigmoid %1 : tensor<4xf32>
  %3 = ube.relu %2 : tensor<4xf32>
  %4 = ube.rsqrt %3 : tensor<4xf32>
  return %4 : tensor<4xf32>
}

// -----

// CHECK-LABEL: func.func @casts
// CHECK: arith.fptosi %{{.*}} : f32 to i32
// CHECK: arith.cmpf une
// CHECK: arith.uitofp %{{.*}} : i1 to f16
func.func @casts(%x: tensor<4xf32>) -> (tensor<4xi32>, tensor<4xf16>) {
  %0 = ube.cast %x : tensor<4xf32> to tensor<4xi32>
  %1 = ube.cast %x : tensor<4xf32> to tensor<4xi1>
  %2 = ube.cast %1 : tensor<4xi1> to tensor<4xf16>
  return %0, %2 : tensor<4xi32>, tensor<4xf16>
}

// -----

// CHECK-LABEL: func.func @where
// CHECK: linalg.generic
// CHECK: arith.select
func.func @where(%c: tensor<2x1xi1>, %a: tensor<2x3xf32>, %b: tensor<f32>) -> tensor<2x3xf32> {
  %0 = ube.where %c, %a, %b : tensor<2x1xi1>, tensor<2x3xf32>, tensor<f32>
  return %0 : tensor<2x3xf32>
}

// -----

// A batched matmul with a broadcast batch dimension and a transposed rhs.
// CHECK-DAG: #[[LHS:.*]] = affine_map<(d0, d1, d2, d3) -> (0, d1, d3)>
// CHECK-DAG: #[[RHS:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>
// CHECK-DAG: #[[OUT:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @matmul
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[INIT:.*]] = linalg.fill ins(%[[ZERO]] : f32)
// CHECK: linalg.generic {indexing_maps = [#[[LHS]], #[[RHS]], #[[OUT]]], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
// CHECK-SAME: outs(%[[INIT]] : tensor<4x2x5xf32>)
// CHECK: arith.mulf
// CHECK: arith.addf
func.func @matmul(%a: tensor<1x2x3xf32>, %b: tensor<4x5x3xf32>) -> tensor<4x2x5xf32> {
  %0 = ube.matmul %a, %b {transpose_rhs = true} : tensor<1x2x3xf32>, tensor<4x5x3xf32>
  return %0 : tensor<4x2x5xf32>
}

// -----

// 16-bit floats accumulate in f32 and round once: products and sums.
// CHECK-LABEL: func.func @accumulate_in_f32
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<2x4xf32>)
// CHECK: ^bb0(%[[A:.*]]: f16, %[[B:.*]]: f16, %[[ACC:.*]]: f32):
// CHECK: %[[AW:.*]] = arith.extf %[[A]] : f16 to f32
// CHECK: %[[BW:.*]] = arith.extf %[[B]] : f16 to f32
// CHECK: %[[P:.*]] = arith.mulf %[[AW]], %[[BW]]
// CHECK: arith.addf %[[ACC]], %[[P]]
// CHECK: arith.truncf %{{.*}} : f32 to f16
// CHECK: ^bb0(%[[X:.*]]: bf16, %[[S:.*]]: f32):
// CHECK: arith.extf %[[X]] : bf16 to f32
// CHECK: arith.truncf %{{.*}} : f32 to bf16
func.func @accumulate_in_f32(%a: tensor<2x3xf16>, %b: tensor<3x4xf16>, %c: tensor<2x3xbf16>) -> (tensor<2x4xf16>, tensor<2xbf16>) {
  %0 = ube.matmul %a, %b : tensor<2x3xf16>, tensor<3x4xf16>
  %1 = ube.reduce_sum %c {axes = array<i64: 1>} : tensor<2x3xbf16>
  return %0, %1 : tensor<2x4xf16>, tensor<2xbf16>
}

// -----

// keepdims reductions reduce, then expand the reduced dimensions back as 1.
// CHECK-LABEL: func.func @reduce_max_keepdims
// CHECK: %[[NEG_INF:.*]] = arith.constant 0xFF800000 : f32
// CHECK: linalg.fill ins(%[[NEG_INF]] : f32)
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "reduction", "parallel"]
// CHECK: arith.maximumf
// CHECK: tensor.expand_shape %{{.*}} {{\[\[}}0], [1, 2]] output_shape [2, 1, 4] : tensor<2x4xf32> into tensor<2x1x4xf32>
func.func @reduce_max_keepdims(%x: tensor<2x3x4xf32>) -> tensor<2x1x4xf32> {
  %0 = ube.reduce_max %x {axes = array<i64: 1>, keepdims = true} : tensor<2x3x4xf32>
  return %0 : tensor<2x1x4xf32>
}

// -----

// reduce_mean is a sum scaled by 1/count.
// CHECK-LABEL: func.func @reduce_mean_all
// CHECK: iterator_types = ["reduction", "reduction"]
// CHECK: arith.addf
// CHECK: arith.constant 0.0833333358 : f32
// CHECK: arith.mulf
func.func @reduce_mean_all(%x: tensor<3x4xf32>) -> tensor<f32> {
  %0 = ube.reduce_mean %x : tensor<3x4xf32>
  return %0 : tensor<f32>
}

// -----

// CHECK-LABEL: func.func @data_movement
// CHECK: linalg.transpose ins(%{{.*}} : tensor<2x3xf32>) outs(%{{.*}} : tensor<3x2xf32>) permutation = [1, 0]
// CHECK: tensor.collapse_shape %{{.*}} {{\[\[}}0, 1]] : tensor<2x3xf32> into tensor<6xf32>
// CHECK: tensor.expand_shape %{{.*}} {{\[\[}}0, 1, 2]] output_shape [1, 3, 2] : tensor<6xf32> into tensor<1x3x2xf32>
// CHECK: tensor.extract_slice %{{.*}}[0, 1] [2, 1] [1, 2] : tensor<2x3xf32> to tensor<2x1xf32>
// CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[0, 0] [2, 3] [1, 1]
// CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[0, 3] [2, 1] [1, 1]
func.func @data_movement(%x: tensor<2x3xf32>) -> (tensor<3x2xf32>, tensor<1x3x2xf32>, tensor<2x4xf32>) {
  %0 = ube.transpose %x, [1, 0] : tensor<2x3xf32>
  %1 = ube.reshape %x : tensor<2x3xf32> to tensor<1x3x2xf32>
  %2 = ube.slice %x {start = array<i64: 0, 1>, limit = array<i64: 2, 3>, stride = array<i64: 1, 2>} : tensor<2x3xf32>
  %3 = ube.concat %x, %2 {axis = 1} : tensor<2x3xf32>, tensor<2x1xf32>
  return %0, %1, %3 : tensor<3x2xf32>, tensor<1x3x2xf32>, tensor<2x4xf32>
}

// -----

// Gathered ids are clamped into range before the read.
// CHECK-LABEL: func.func @gather
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<2x5x8xf32>)
// CHECK: %[[ID:.*]] = tensor.extract %{{.*}}[%{{.*}}, %{{.*}}] : tensor<2x5xi64>
// CHECK: %[[INDEX:.*]] = arith.index_cast %[[ID]] : i64 to index
// CHECK: arith.maxsi %[[INDEX]]
// CHECK: arith.minsi
// CHECK: tensor.extract %{{.*}}[%{{.*}}, %{{.*}}] : tensor<100x8xf32>
func.func @gather(%table: tensor<100x8xf32>, %ids: tensor<2x5xi64>) -> tensor<2x5x8xf32> {
  %0 = ube.gather %table, %ids : tensor<100x8xf32>, tensor<2x5xi64>
  return %0 : tensor<2x5x8xf32>
}

// -----

// Dropout draws Philox per element from (linear index, step) with the seed
// as key: 10 rounds of two 32x32->64 multiplications.
// CHECK-LABEL: func.func @dropout
// CHECK: %[[STEP:.*]] = tensor.extract %{{.*}}[] : tensor<i64>
// CHECK: linalg.generic
// CHECK: linalg.index 0
// CHECK-COUNT-20: arith.mului_extended
// CHECK: arith.cmpf oge
// CHECK: arith.select
func.func @dropout(%x: tensor<4x8xf32>, %step: tensor<i64>) -> tensor<4x8xf32> {
  %0 = ube.dropout %x step %step {rate = 0.25 : f64, seed = 3} : tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// A block of a larger tensor's mask: the index counts in the counter shape
// (rows of 16) from the block's offset.
// CHECK-LABEL: func.func @dropout_block
// CHECK: %[[C16:.*]] = arith.constant 16 : i64
// CHECK: linalg.generic
// CHECK: linalg.index 1
// CHECK-NEXT: %[[J:.*]] = arith.index_cast %{{.*}} : index to i64
// CHECK-NEXT: %[[C5:.*]] = arith.constant 5 : i64
// CHECK-NEXT: %[[AT:.*]] = arith.addi %[[J]], %[[C5]] : i64
// CHECK: %[[ROW:.*]] = arith.muli %{{.*}}, %[[C16]] : i64
// CHECK: arith.addi %[[ROW]], %[[AT]] : i64
func.func @dropout_block(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %0 = ube.dropout %x {rate = 0.25 : f64, counter_shape = array<i64: 4, 16>, counter_offset = array<i64: 0, 5>} : tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// CHECK-LABEL: func.func @transfer
// CHECK: arith.sitofp %{{.*}} : i64 to f64
// CHECK: arith.minimumf
// CHECK: arith.truncf %{{.*}} : f64 to f32
// CHECK: tensor.from_elements %{{.*}} : tensor<f32>
// CHECK: arith.mului_extended
// CHECK: %[[USE:.*]] = arith.cmpf olt
// CHECK: arith.select %[[USE]], %{{.*}}, %{{.*}} : tensor<4xf32>
func.func @transfer(%step: tensor<i64>, %s: tensor<4xf32>, %t: tensor<4xf32>) -> tensor<4xf32> {
  %p = ube.transfer_probability %step {slope = 1.0e-3, offset = 0.2}
  %0 = ube.bernoulli_select %p, %step, %s, %t {module_id = 2, seed = 9} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// Composites are decomposed first: no ube op is left.
// CHECK-LABEL: func.func @composite
// CHECK-NOT: ube.
// CHECK: return
func.func @composite(%s: tensor<4x10xf32>, %t: tensor<4x10xf32>, %y: tensor<4xi32>) -> tensor<f32> {
  %0 = ube.kd_loss %s, %t labels %y {alpha = 0.5, temperature = 3.0} : tensor<4x10xf32>, tensor<4x10xf32>, tensor<4xi32>
  return %0 : tensor<f32>
}

// -----

// scatter_add: zeros, then one clamped row update per index, in order.
// CHECK-LABEL: func.func @scatter_add
// CHECK: %[[ZERO:.*]] = linalg.fill
// CHECK: scf.for %[[P:.*]] = %{{.*}} to %c5 step %{{.*}} iter_args(%[[ACC:.*]] = %[[ZERO]])
// CHECK: %[[ID:.*]] = tensor.extract %arg1[%[[P]]]
// CHECK: arith.index_cast %[[ID]]
// CHECK: arith.maxsi
// CHECK: %[[ROW:.*]] = arith.minsi
// CHECK: %[[UPD:.*]] = tensor.extract_slice %arg0[%[[P]], 0] [1, 4] [1, 1]
// CHECK: %[[CUR:.*]] = tensor.extract_slice %[[ACC]][%[[ROW]], 0] [1, 4] [1, 1]
// CHECK: %[[SUM:.*]] = linalg.add ins(%[[CUR]], %[[UPD]]
// CHECK: tensor.insert_slice %[[SUM]] into %[[ACC]][%[[ROW]], 0] [1, 4] [1, 1]
func.func @scatter_add(%u: tensor<5x4xf32>, %i: tensor<5xi64>) -> tensor<3x4xf32> {
  %0 = ube.scatter_add %u, %i : tensor<5x4xf32>, tensor<5xi64> to tensor<3x4xf32>
  return %0 : tensor<3x4xf32>
}
