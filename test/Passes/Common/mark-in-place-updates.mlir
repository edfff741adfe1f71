// RUN: ube-opt %s --pass-pipeline='builtin.module(func.func(ube-mark-in-place-updates))' | FileCheck %s
// RUN: ube-opt %s --pass-pipeline='builtin.module(func.func(ube-mark-in-place-updates{scalar-reads=false}))' | FileCheck %s --check-prefix=NO-SCALAR

#id = affine_map<(d0, d1) -> (d0, d1)>
#t = affine_map<(d0, d1) -> (d1, d0)>
#id1 = affine_map<(d0) -> (d0)>

// An SGD-style update: `w` is read at the element written, the gradient's
// buffer (a shared tensor.empty) is not the update's any more, and `m` is
// read by nothing after its update: both results (1 and 2) may overwrite
// their arguments (1 and 2). The loss (result 0) has no such argument.
// CHECK-LABEL: func.func @update
// CHECK-SAME: ube.in_place = array<i64: 1, 1, 2, 2>
// CHECK: %[[E:.*]] = tensor.empty() : tensor<2x3xf32>
// CHECK: %[[G:.*]] = linalg.generic {{.*}} outs(%[[E]] :
// CHECK: %[[F1:.*]] = tensor.empty() : tensor<2x3xf32>
// CHECK: %[[F2:.*]] = tensor.empty() : tensor<2x3xf32>
// CHECK: linalg.generic {{.*}} ins(%arg1, %[[G]], %arg2 : {{.*}} outs(%[[F1]], %[[F2]] :
func.func @update(%x: tensor<2x3xf32> {ube.name = "x"}, %w: tensor<2x3xf32> {ube.name = "w"},
                  %m: tensor<2x3xf32> {ube.name = "m"})
    -> (tensor<2x3xf32> {ube.name = "loss"}, tensor<2x3xf32> {ube.name = "w"},
        tensor<2x3xf32> {ube.name = "m"}) {
  %e = tensor.empty() : tensor<2x3xf32>
  %grad = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %w : tensor<2x3xf32>, tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    linalg.yield %p : f32
  } -> tensor<2x3xf32>
  %new:2 = linalg.generic {indexing_maps = [#id, #id, #id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%w, %grad, %m : tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>) outs(%e, %e : tensor<2x3xf32>, tensor<2x3xf32>) {
  ^bb0(%a: f32, %g: f32, %b: f32, %o: f32, %o2: f32):
    %mm = arith.addf %b, %g : f32
    %s = arith.subf %a, %mm : f32
    linalg.yield %s, %mm : f32, f32
  } -> (tensor<2x3xf32>, tensor<2x3xf32>)
  return %grad, %new#0, %new#1 : tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>
}

// The argument is read after the update (here by a later op): not in place.
// CHECK-LABEL: func.func @read_after
// CHECK-NOT: ube.in_place
func.func @read_after(%w: tensor<4xf32> {ube.name = "w"})
    -> (tensor<4xf32> {ube.name = "w"}, tensor<4xf32> {ube.name = "old"}) {
  %e = tensor.empty() : tensor<4xf32>
  %new = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
      ins(%w : tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.addf %a, %a : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  %old = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
      ins(%w : tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  } -> tensor<4xf32>
  return %new, %old : tensor<4xf32>, tensor<4xf32>
}

// Read through a view after the update: not in place either.
// CHECK-LABEL: func.func @view_after
// CHECK-NOT: ube.in_place
func.func @view_after(%w: tensor<2x2xf32> {ube.name = "w"})
    -> (tensor<2x2xf32> {ube.name = "w"}, tensor<4xf32> {ube.name = "flat"}) {
  %e = tensor.empty() : tensor<2x2xf32>
  %new = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%w : tensor<2x2xf32>) outs(%e : tensor<2x2xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.addf %a, %a : f32
    linalg.yield %s : f32
  } -> tensor<2x2xf32>
  %flat = tensor.collapse_shape %w [[0, 1]] : tensor<2x2xf32> into tensor<4xf32>
  return %new, %flat : tensor<2x2xf32>, tensor<4xf32>
}

// A select between the argument and another tensor (bernoulli_select) is
// the argument's buffer when it picks it: read after the update, it would
// see the new values. Not in place.
// CHECK-LABEL: func.func @select_after
// CHECK-NOT: ube.in_place
func.func @select_after(%c: i1, %w: tensor<4xf32> {ube.name = "w"}, %other: tensor<4xf32>)
    -> (tensor<4xf32> {ube.name = "w"}, tensor<4xf32> {ube.name = "picked"}) {
  %picked = arith.select %c, %w, %other : tensor<4xf32>
  %e = tensor.empty() : tensor<4xf32>
  %new = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
      ins(%w : tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.addf %a, %a : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  %e2 = tensor.empty() : tensor<4xf32>
  %twice = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
      ins(%picked : tensor<4xf32>) outs(%e2 : tensor<4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.mulf %a, %a : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  return %new, %twice : tensor<4xf32>, tensor<4xf32>
}

// The update reads another element than it writes (a transpose): an earlier
// element would already be overwritten.
// CHECK-LABEL: func.func @transposed
// CHECK-NOT: ube.in_place
func.func @transposed(%w: tensor<3x3xf32> {ube.name = "w"}) -> (tensor<3x3xf32> {ube.name = "w"}) {
  %e = tensor.empty() : tensor<3x3xf32>
  %new = linalg.generic {indexing_maps = [#t, #id], iterator_types = ["parallel", "parallel"]}
      ins(%w : tensor<3x3xf32>) outs(%e : tensor<3x3xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  } -> tensor<3x3xf32>
  return %new : tensor<3x3xf32>
}

// A result computed by a reduction (a matmul) is not an elementwise update.
// CHECK-LABEL: func.func @matmul
// CHECK-NOT: ube.in_place
func.func @matmul(%w: tensor<2x2xf32> {ube.name = "w"}, %x: tensor<2x2xf32> {ube.name = "x"})
    -> (tensor<2x2xf32> {ube.name = "w"}) {
  %e = tensor.empty() : tensor<2x2xf32>
  %zero = arith.constant 0.0 : f32
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32>
  %new = linalg.matmul ins(%w, %x : tensor<2x2xf32>, tensor<2x2xf32>) outs(%z : tensor<2x2xf32>) -> tensor<2x2xf32>
  return %new : tensor<2x2xf32>
}

// A scalar read of the argument (tensor.extract) before the update: in place
// by default, out of place with scalar-reads=false (the cuda target
// recomputes such reads inside the kernels that use them, which may run
// after the update).
// CHECK-LABEL: func.func @scalar_read
// CHECK-SAME: ube.in_place = array<i64: 0, 0>
// NO-SCALAR-LABEL: func.func @scalar_read
// NO-SCALAR-NOT: ube.in_place
func.func @scalar_read(%w: tensor<4xf32> {ube.name = "w"}) -> (tensor<4xf32> {ube.name = "w"}, f32) {
  %c0 = arith.constant 0 : index
  %first = tensor.extract %w[%c0] : tensor<4xf32>
  %e = tensor.empty() : tensor<4xf32>
  %new = linalg.generic {indexing_maps = [#id1, #id1], iterator_types = ["parallel"]}
      ins(%w : tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.mulf %a, %a : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  return %new, %first : tensor<4xf32>, f32
}

// A parameter of symbolic shape: the update's own initial value takes the
// shared one's sizes.
// CHECK-LABEL: func.func @symbolic
// CHECK-SAME: ube.in_place = array<i64: 0, 0>
// NO-SCALAR-LABEL: func.func @symbolic
// NO-SCALAR-SAME: ube.in_place = array<i64: 0, 0>
// CHECK: %[[N:.*]] = tensor.dim %arg0, %c0
// CHECK: %[[E:.*]] = tensor.empty(%[[N]]) : tensor<?x4xf32>
// CHECK: %[[F:.*]] = tensor.empty(%[[N]]) : tensor<?x4xf32>
// CHECK: linalg.generic {{.*}} ins(%arg0 : tensor<?x4xf32>) outs(%[[F]] :
func.func @symbolic(%w: tensor<?x4xf32> {ube.name = "w", ube.dims = ["n"]})
    -> (tensor<?x4xf32> {ube.name = "w", ube.dims = ["n"]}) attributes {ube.symbols = [#ube.dim<"n">]} {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %w, %c0 : tensor<?x4xf32>
  %e = tensor.empty(%n) : tensor<?x4xf32>
  %new = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%w : tensor<?x4xf32>) outs(%e : tensor<?x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.addf %a, %a : f32
    linalg.yield %s : f32
  } -> tensor<?x4xf32>
  return %new : tensor<?x4xf32>
}
