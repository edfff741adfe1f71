// RUN: ube-opt %s --ube-cpu-matmul-kernels="vector-width=16 panel-width=32 tile-rows=12 k-block=512 tiles-per-task=2 min-tasks=1" --canonicalize --cse --split-input-file | FileCheck %s

// K = 1024: lhs rows 4 KiB apart, so a micro-tile's 12 rows read in place
// would fall into one L1 set. Each task packs its rows' K block (two blocks
// of 512) into [tile, k, row] (2 full tiles, and in the last group the 6
// ragged rows' tile), and the micro-tiles broadcast from the pack.
// CHECK-LABEL: func.func @aliasing_rows
// CHECK: scf.forall (%{{.*}}) in (2)
// CHECK: %[[EMPTY:.*]] = tensor.empty() : tensor<3x512x12xf32>
// CHECK: scf.for %[[KB:.*]] = %c0 to %c1024 step %c512 iter_args(%{{.*}} = %{{.*}}, %[[PACK_IN:.*]] = %[[EMPTY]])
// The full tiles' rows, then (last group) the ragged rows', element by
// element: row i of tile t at [t, k - KB, i].
// CHECK: scf.for %[[T:.*]] = %c0 to %{{.*}} step %c1 iter_args(%{{.*}} = %[[PACK_IN]])
// CHECK: scf.for %[[K:.*]] = %[[KB]] to %{{.*}} step %c1
// CHECK: %[[AT:.*]] = arith.subi %[[K]], %[[KB]]
// CHECK: %[[V:.*]] = tensor.extract %arg0[%{{.*}}, %[[K]]] : tensor<54x1024xf32>
// CHECK: tensor.insert %[[V]] into %{{.*}}[%[[T]], %[[AT]], %c0] : tensor<3x512x12xf32>
// CHECK-COUNT-11: tensor.insert
// CHECK: %[[PACK:.*]] = scf.if
// CHECK-COUNT-6: tensor.insert
// The micro-tile reads lhs from the pack only.
// CHECK: scf.for %[[KK:.*]] = %[[KB]] to %{{.*}} step %c1 iter_args
// CHECK: %[[PK:.*]] = arith.subi %[[KK]], %[[KB]]
// CHECK: tensor.extract %[[PACK]][%{{.*}}, %[[PK]], %c0] : tensor<3x512x12xf32>
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
// CHECK-NOT: tensor<3x500x12xf32>
// CHECK: scf.for %{{.*}} = %c0 to %c1000 step %c500
// CHECK: tensor.extract %arg0
// CHECK-NOT: tensor<3x500x12xf32>
func.func @spread_rows(%a: tensor<54x1000xf32>, %b: tensor<1000x256xf32>) -> tensor<54x256xf32> {
  %r = ube.matmul %a, %b : tensor<54x1000xf32>, tensor<1000x256xf32>
  return %r : tensor<54x256xf32>
}

// -----

// A narrow product (N = 64: 2 panels per task) reuses a packed row too
// little to repay the copy, aliasing or not.
// CHECK-LABEL: func.func @narrow
// CHECK-NOT: tensor<3x512x12xf32>
// CHECK: tensor.extract %arg0
func.func @narrow(%a: tensor<54x1024xf32>, %b: tensor<1024x64xf32>) -> tensor<54x64xf32> {
  %r = ube.matmul %a, %b : tensor<54x1024xf32>, tensor<1024x64xf32>
  return %r : tensor<54x64xf32>
}
