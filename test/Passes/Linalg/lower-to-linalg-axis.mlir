// RUN: ube-opt %s --ube-lower-to-linalg --split-input-file | FileCheck %s

// argmax: one reduction with two results, the running maximum and its
// position (linalg.index); NaN wins over numbers, the first one kept.
// CHECK-DAG: #[[ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[ROW:.*]] = affine_map<(d0, d1) -> (d0)>
// CHECK-LABEL: func.func @argmax
// CHECK: %[[EMPTY:.*]] = tensor.empty(%{{.*}}) : tensor<?xf32>
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%[[EMPTY]]
// CHECK: %[[R:.*]]:2 = linalg.generic {indexing_maps = [#[[ID]], #[[ROW]], #[[ROW]]], iterator_types = ["parallel", "reduction"]}
// CHECK: arith.cmpf ogt
// CHECK: arith.cmpf uno
// CHECK: arith.cmpf ord
// CHECK: linalg.index 1
// CHECK: tensor.expand_shape %[[R]]#1 {{\[}}[0, 1]] {{.*}} : tensor<?xi64> into tensor<?x1xi64>
func.func @argmax(%x: tensor<?x5xf32>) -> tensor<?x1xi64> {
  %0 = ube.argmax %x {axis = 1, keepdims = true} : tensor<?x5xf32>
  return %0 : tensor<?x1xi64>
}

// -----

// argmin of integers with the last position on ties: a non-strict compare.
// CHECK-LABEL: func.func @argmin_last
// CHECK: arith.constant 2147483647 : i32
// CHECK: linalg.generic {{.*}} iterator_types = ["reduction", "parallel"]
// CHECK: arith.cmpi sle
// CHECK-NOT: tensor.expand_shape
func.func @argmin_last(%x: tensor<4x3xi32>) -> tensor<3xi64> {
  %0 = ube.argmin %x {axis = 0, select_last_index = true} : tensor<4x3xi32>
  return %0 : tensor<3xi64>
}

// -----

// cumsum: a reduction over a second loop on the axis, adding the elements
// on the chosen side of each position; f16 accumulates in f32.
// CHECK-DAG: #[[READ:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[OUT:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func.func @cumsum_reverse_exclusive
// CHECK: linalg.generic {indexing_maps = [#[[READ]], #[[OUT]]], iterator_types = ["parallel", "parallel", "reduction"]}
// CHECK: %[[J:.*]] = linalg.index 2
// CHECK: %[[I:.*]] = linalg.index 1
// CHECK: arith.cmpi ugt, %[[J]], %[[I]]
// CHECK: arith.extf %{{.*}} : f16 to f32
// CHECK: arith.truncf %{{.*}} : f32 to f16
func.func @cumsum_reverse_exclusive(%x: tensor<2x7xf16>) -> tensor<2x7xf16> {
  %0 = ube.cumsum %x {axis = 1, exclusive = true, reverse = true} : tensor<2x7xf16>
  return %0 : tensor<2x7xf16>
}

// -----

// Rounding and sign in the elementwise body.
// CHECK-LABEL: func.func @rounding
// CHECK: math.floor
// CHECK: math.ceil
// CHECK: math.roundeven
// CHECK: math.trunc
// CHECK: math.copysign
// CHECK: arith.remf
// CHECK: arith.remsi
// CHECK: arith.minsi
func.func @rounding(%x: tensor<4xf32>, %i: tensor<4xi32>)
    -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>,
        tensor<4xf32>, tensor<4xi32>, tensor<i32>) {
  %0 = ube.floor %x : tensor<4xf32>
  %1 = ube.ceil %x : tensor<4xf32>
  %2 = ube.round %x : tensor<4xf32>
  %3 = ube.trunc %x : tensor<4xf32>
  %4 = ube.sign %x : tensor<4xf32>
  %5 = ube.fmod %x, %x : tensor<4xf32>, tensor<4xf32>
  %6 = ube.fmod %i, %i : tensor<4xi32>, tensor<4xi32>
  %7 = ube.reduce_min %i : tensor<4xi32>
  return %0, %1, %2, %3, %4, %5, %6, %7 : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>,
      tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xi32>, tensor<i32>
}

// -----

// topk: each element's rank (j before i: more extreme, or equal and
// earlier), then for each of the k outputs the position of that rank.
// CHECK-DAG: #[[I:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-DAG: #[[J:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-LABEL: func.func @topk
// CHECK: %[[RANKS:.*]] = linalg.generic {indexing_maps = [#[[I]], #[[J]], #[[I]]], iterator_types = ["parallel", "parallel", "reduction"]}
// CHECK: arith.cmpf ogt
// CHECK: arith.cmpi ult
// CHECK: arith.extui
// CHECK: tensor.empty() : tensor<4x3xi64>
// CHECK: linalg.generic {indexing_maps = [#[[J]], #[[I]]], iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[RANKS]]
// CHECK: arith.select
func.func @topk(%x: tensor<4x9xf32>) -> tensor<4x3xi64> {
  %0 = ube.topk %x {k = 3} : tensor<4x9xf32>
  return %0 : tensor<4x3xi64>
}
