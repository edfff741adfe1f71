// RUN: ube-opt %s --pass-pipeline='builtin.module(func.func(ube-unshare-empty-tensors))' | FileCheck %s

// One empty tensor shared by three destinations (what CSE leaves) becomes
// one per use, each placed before the op of the function's body that holds
// the use, in program order: the first use keeps the original.
// CHECK-LABEL: func.func @shared
// CHECK: %[[E0:.*]] = tensor.empty() : tensor<4xf32>
// CHECK-NEXT: %[[A:.*]] = linalg.generic {{.*}} ins(%arg0 : tensor<4xf32>) outs(%[[E0]] : tensor<4xf32>)
// CHECK: %[[E1:.*]] = tensor.empty() : tensor<4xf32>
// CHECK-NEXT: %[[B:.*]] = linalg.generic {{.*}} ins(%[[A]] : tensor<4xf32>) outs(%[[E1]] : tensor<4xf32>)
// A use inside a loop gets its empty outside the loop, before it.
// CHECK: %[[E2:.*]] = tensor.empty() : tensor<4xf32>
// CHECK-NEXT: scf.for
// CHECK: linalg.generic {{.*}} outs(%[[E2]] : tensor<4xf32>)
#map = affine_map<(d0) -> (d0)>
func.func @shared(%x: tensor<4xf32>, %n: index) -> tensor<4xf32> {
  %e = tensor.empty() : tensor<4xf32>
  %a = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]}
      ins(%x : tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %s = arith.addf %in, %in : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  %b = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]}
      ins(%a : tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %s = arith.mulf %in, %in : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %r = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %b) -> tensor<4xf32> {
    %c = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]}
        ins(%acc : tensor<4xf32>) outs(%e : tensor<4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %s = arith.subf %in, %in : f32
      linalg.yield %s : f32
    } -> tensor<4xf32>
    scf.yield %c : tensor<4xf32>
  }
  return %r : tensor<4xf32>
}

// Dynamic sizes travel with the clone; an empty tensor used once stays.
// CHECK-LABEL: func.func @dynamic
// CHECK: %[[D0:.*]] = tensor.empty(%arg1) : tensor<?xf32>
// CHECK: linalg.fill {{.*}} outs(%[[D0]] : tensor<?xf32>)
// CHECK: %[[D1:.*]] = tensor.empty(%arg1) : tensor<?xf32>
// CHECK: linalg.fill {{.*}} outs(%[[D1]] : tensor<?xf32>)
// CHECK: %[[ONCE:.*]] = tensor.empty() : tensor<2xf32>
// CHECK: linalg.fill {{.*}} outs(%[[ONCE]] : tensor<2xf32>)
// CHECK-NOT: tensor.empty
func.func @dynamic(%x: f32, %n: index) -> (tensor<?xf32>, tensor<?xf32>, tensor<2xf32>) {
  %e = tensor.empty(%n) : tensor<?xf32>
  %a = linalg.fill ins(%x : f32) outs(%e : tensor<?xf32>) -> tensor<?xf32>
  %b = linalg.fill ins(%x : f32) outs(%e : tensor<?xf32>) -> tensor<?xf32>
  %once = tensor.empty() : tensor<2xf32>
  %c = linalg.fill ins(%x : f32) outs(%once : tensor<2xf32>) -> tensor<2xf32>
  return %a, %b, %c : tensor<?xf32>, tensor<?xf32>, tensor<2xf32>
}
