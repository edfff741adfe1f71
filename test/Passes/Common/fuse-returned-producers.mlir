// RUN: ube-opt %s --linalg-fuse-elementwise-ops --ube-fuse-returned-producers --split-input-file | FileCheck %s

// An optimizer-like step: the new moment %m is returned and read by the
// update. Upstream's fusion leaves it (two uses); this pass fuses it into
// the update, which then yields both, and the return reads the fused op.
#map = affine_map<(d0) -> (d0)>
// CHECK-LABEL: func.func @moment_and_update
// CHECK: %[[FUSED:.*]]:2 = linalg.generic
// CHECK-SAME: ins(%arg2, %arg0, %arg1 : tensor<64xf32>, tensor<64xf32>, tensor<64xf32>)
// CHECK: %[[X:.*]] = arith.mulf
// CHECK: %[[M:.*]] = arith.addf %[[X]]
// CHECK: %[[P:.*]] = arith.subf %{{.*}}, %[[M]]
// CHECK: linalg.yield %[[M]], %[[P]]
// CHECK-NOT: linalg.generic
// CHECK: return %[[FUSED]]#1, %[[FUSED]]#0
func.func @moment_and_update(%m0: tensor<64xf32>, %g: tensor<64xf32>, %p: tensor<64xf32>)
    -> (tensor<64xf32>, tensor<64xf32>) {
  %e = tensor.empty() : tensor<64xf32>
  %c = arith.constant 0.9 : f32
  %m = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel"]}
      ins(%m0, %g : tensor<64xf32>, tensor<64xf32>) outs(%e : tensor<64xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %x = arith.mulf %a, %c : f32
    %y = arith.addf %x, %b : f32
    linalg.yield %y : f32
  } -> tensor<64xf32>
  %p1 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel"]}
      ins(%p, %m : tensor<64xf32>, tensor<64xf32>) outs(%e : tensor<64xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %y = arith.subf %a, %b : f32
    linalg.yield %y : f32
  } -> tensor<64xf32>
  return %p1, %m : tensor<64xf32>, tensor<64xf32>
}

// -----

// A producer also read by another op (not the return) is left to
// upstream's rules: fusing it would compute it twice.
#map = affine_map<(d0) -> (d0)>
// CHECK-LABEL: func.func @read_elsewhere
// CHECK-COUNT-2: linalg.generic
// CHECK: tensor.extract
func.func @read_elsewhere(%m0: tensor<64xf32>, %p: tensor<64xf32>) -> (tensor<64xf32>, f32) {
  %e = tensor.empty() : tensor<64xf32>
  %m = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]}
      ins(%m0 : tensor<64xf32>) outs(%e : tensor<64xf32>) {
  ^bb0(%a: f32, %o: f32):
    %y = arith.mulf %a, %a : f32
    linalg.yield %y : f32
  } -> tensor<64xf32>
  %p1 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel"]}
      ins(%p, %m : tensor<64xf32>, tensor<64xf32>) outs(%e : tensor<64xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %y = arith.subf %a, %b : f32
    linalg.yield %y : f32
  } -> tensor<64xf32>
  %c0 = arith.constant 0 : index
  %first = tensor.extract %m[%c0] : tensor<64xf32>
  return %p1, %first : tensor<64xf32>, f32
}
