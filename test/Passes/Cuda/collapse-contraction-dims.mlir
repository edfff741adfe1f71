// RUN: ube-opt %s --ube-cuda-collapse-contraction-dims --split-input-file | FileCheck %s

// A projection over heads x head size (reduction 12 x 32) of batch x tokens
// (32 x 24): one m, one n and one k loop over collapsed operands.
// CHECK-LABEL: func.func @projection
// CHECK-DAG: tensor.collapse_shape %{{.*}} {{\[}}[0, 1], [2, 3]] : tensor<32x24x12x32xf32> into tensor<768x384xf32>
// CHECK-DAG: tensor.collapse_shape %{{.*}} {{\[}}[0], [1, 2]] : tensor<384x12x32xf32> into tensor<384x384xf32>
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: tensor.expand_shape %{{.*}} {{\[}}[0, 1], [2]] output_shape [32, 24, 384]
#ctx = affine_map<(b, s, n, h, d) -> (b, s, h, d)>
#w = affine_map<(b, s, n, h, d) -> (n, h, d)>
#out = affine_map<(b, s, n, h, d) -> (b, s, n)>
func.func @projection(%x: tensor<32x24x12x32xf32>, %w: tensor<384x12x32xf32>,
                      %init: tensor<32x24x384xf32>) -> tensor<32x24x384xf32> {
  %r = linalg.generic {indexing_maps = [#ctx, #w, #out],
      iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction"]}
      ins(%x, %w : tensor<32x24x12x32xf32>, tensor<384x12x32xf32>)
      outs(%init : tensor<32x24x384xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<32x24x384xf32>
  return %r : tensor<32x24x384xf32>
}

// -----

// A weight gradient summed over batch x tokens: k = 768.
// CHECK-LABEL: func.func @weight_gradient
// CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0, 1], [2]] : tensor<32x24x384xf32> into tensor<768x384xf32>
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-NOT: tensor.expand_shape
#a = affine_map<(n, m, b, s) -> (b, s, n)>
#g = affine_map<(n, m, b, s) -> (b, s, m)>
#o = affine_map<(n, m, b, s) -> (n, m)>
func.func @weight_gradient(%x: tensor<32x24x384xf32>, %dy: tensor<32x24x1536xf32>,
                           %init: tensor<384x1536xf32>) -> tensor<384x1536xf32> {
  %r = linalg.generic {indexing_maps = [#a, #g, #o],
      iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
      ins(%x, %dy : tensor<32x24x384xf32>, tensor<32x24x1536xf32>)
      outs(%init : tensor<384x1536xf32>) {
  ^bb0(%p: f32, %q: f32, %acc: f32):
    %m = arith.mulf %p, %q : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<384x1536xf32>
  return %r : tensor<384x1536xf32>
}

// -----

// Loops an operand reads out of order stay apart; an elementwise op is left
// alone.
// CHECK-LABEL: func.func @not_contiguous
// CHECK-NOT: tensor.collapse_shape
// CHECK: iterator_types = ["parallel", "parallel", "reduction", "reduction"]
// CHECK: iterator_types = ["parallel", "parallel"]
#l = affine_map<(i, j, k, l) -> (i, k, l)>
#r = affine_map<(i, j, k, l) -> (j, l, k)>
#res = affine_map<(i, j, k, l) -> (i, j)>
#id = affine_map<(i, j) -> (i, j)>
func.func @not_contiguous(%x: tensor<4x5x6xf32>, %y: tensor<3x6x5xf32>, %init: tensor<4x3xf32>)
    -> tensor<4x3xf32> {
  %r = linalg.generic {indexing_maps = [#l, #r, #res],
      iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
      ins(%x, %y : tensor<4x5x6xf32>, tensor<3x6x5xf32>) outs(%init : tensor<4x3xf32>) {
  ^bb0(%p: f32, %q: f32, %acc: f32):
    %m = arith.mulf %p, %q : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<4x3xf32>
  %e = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%r : tensor<4x3xf32>) outs(%init : tensor<4x3xf32>) {
  ^bb0(%p: f32, %acc: f32):
    %n = arith.negf %p : f32
    linalg.yield %n : f32
  } -> tensor<4x3xf32>
  return %e : tensor<4x3xf32>
}

// -----

// An operand indexed by a constant (a size-1 dimension) is left alone.
// CHECK-LABEL: func.func @constant_index
// CHECK-NOT: tensor.collapse_shape
#x3 = affine_map<(i, j, k, l) -> (i, j, k, l)>
#c3 = affine_map<(i, j, k, l) -> (i, j, 0)>
#o3 = affine_map<(i, j, k, l) -> (i, j)>
func.func @constant_index(%x: tensor<32x8x4x4xf32>, %y: tensor<32x8x1xf32>,
                          %init: tensor<32x8xf32>) -> tensor<32x8xf32> {
  %r = linalg.generic {indexing_maps = [#x3, #c3, #o3],
      iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
      ins(%x, %y : tensor<32x8x4x4xf32>, tensor<32x8x1xf32>) outs(%init : tensor<32x8xf32>) {
  ^bb0(%p: f32, %q: f32, %acc: f32):
    %m = arith.mulf %p, %q : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<32x8xf32>
  return %r : tensor<32x8xf32>
}
