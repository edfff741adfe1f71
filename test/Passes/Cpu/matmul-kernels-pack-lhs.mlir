// RUN: ube-opt %s --ube-cpu-matmul-kernels="vector-width=16 panel-width=32 tile-rows=12 k-block=512 tiles-per-task=2 min-tasks=1" --canonicalize --cse --split-input-file | FileCheck %s

// K = 1024: lhs rows 4 KiB apart, so a micro-tile's 12 rows read in place
// would fall into one L1 set. lhs is packed first into panels of 12 rows,
// k-major (54 rows: 5 panels, the last one 6 rows and zeros), one parallel
// task per panel copying a cache line (16 k) of each row at a time; the
// micro-tiles broadcast from the pack.
// CHECK-LABEL: func.func @aliasing_rows
// CHECK: %[[LHS:.*]] = tensor.expand_shape %arg0 {{\[\[}}0, 1], [2]] output_shape [1, 54, 1024]
// CHECK: %[[PACKED:.*]] = scf.forall (%[[P:.*]]) in (5) shared_outs(%{{.*}}) -> (tensor<1x5x1024x12xf32>)
// CHECK: scf.for %[[CHUNK:.*]] = %c0 to %c1024 step %c16
// CHECK: scf.for %[[J:.*]] = %c0 to %c12 step %c1
// CHECK: scf.for %[[K:.*]] = %[[CHUNK]] to %{{.*}} step %c1
// CHECK: tensor.extract %[[LHS]][%c0, %{{.*}}, %[[K]]] : tensor<1x54x1024xf32>
// CHECK: tensor.insert %{{.*}} into %{{.*}}[%[[K]], %[[J]]] : tensor<1024x12xf32>
// Two row groups; K blocks of 512; each micro-tile's 12 broadcasts per k
// from its panel of the pack.
// CHECK: scf.forall (%{{.*}}) in (2)
// CHECK: scf.for %[[KB:.*]] = %c0 to %c1024 step %c512
// CHECK: %[[TILE:.*]] = arith.divui %{{.*}}, %c12 : index
// CHECK: scf.for %[[KK:.*]] = %[[KB]] to %{{.*}} step %c1
// CHECK: tensor.extract %[[PACKED]][%c0, %[[TILE]], %[[KK]], %c0] : tensor<1x5x1024x12xf32>
// CHECK: tensor.extract %[[PACKED]][%c0, %[[TILE]], %[[KK]], %c11] : tensor<1x5x1024x12xf32>
// CHECK-NOT: tensor.extract %arg0
// CHECK: scf.forall.in_parallel
func.func @aliasing_rows(%a: tensor<54x1024xf32>, %b: tensor<1024x256xf32>) -> tensor<54x256xf32> {
  %r = ube.matmul %a, %b : tensor<54x1024xf32>, tensor<1024x256xf32>
  return %r : tensor<54x256xf32>
}

// -----

// K = 1000: rows 4000 bytes apart spread over L1's sets and stream well in
// place; no pack (K blocks of 500).
// CHECK-LABEL: func.func @spread_rows
// CHECK-NOT: x12xf32>
// CHECK: scf.for %{{.*}} = %c0 to %c1000 step %c500
// CHECK: tensor.extract %arg0
// CHECK-NOT: x12xf32>
func.func @spread_rows(%a: tensor<54x1000xf32>, %b: tensor<1000x256xf32>) -> tensor<54x256xf32> {
  %r = ube.matmul %a, %b : tensor<54x1000xf32>, tensor<1000x256xf32>
  return %r : tensor<54x256xf32>
}

// -----

// A narrow product (N = 64: 2 panels) reuses a packed row too
// little to repay the copy, aliasing or not.
// CHECK-LABEL: func.func @narrow
// CHECK-NOT: x12xf32>
// CHECK: tensor.extract %arg0
func.func @narrow(%a: tensor<54x1024xf32>, %b: tensor<1024x64xf32>) -> tensor<54x64xf32> {
  %r = ube.matmul %a, %b : tensor<54x1024xf32>, tensor<1024x64xf32>
  return %r : tensor<54x64xf32>
}
