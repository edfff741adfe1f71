// RUN: ube-opt %s --ube-cpu-matmul-kernels="vector-width=8 panel-width=16 tile-rows=6 k-block=64 tiles-per-task=8 min-tasks=8" --canonicalize --cse --split-input-file | FileCheck %s
// RUN: ube-opt %s --ube-cpu-matmul-kernels="vector-width=8 panel-width=16 tile-rows=6 k-block=64 tiles-per-task=8 min-tasks=8 panel-group-bytes=16384" --canonicalize --cse --split-input-file | FileCheck %s --check-prefix=GROUPS

// How products are split into tasks.

// 128 rows = 21 tiles of 6 + 2 ragged rows: 3 row groups of 7 tiles (not
// 8, 8 and 5). 3 < min-tasks = 8, so the 7 panels of N = 100 are split too:
// 3 column groups of 3, 3 and 1 panels (the last one ragged). Row groups
// are the inner dimension: the tasks of a column group come one after
// another and find its panels in L2.
// CHECK-LABEL: func.func @few_rows
// CHECK: scf.forall (%[[C:.*]], %[[G:.*]]) in (3, 3)
// CHECK: arith.select %{{.*}}, %{{.*}}, %c42 : index
// CHECK: arith.muli %[[C]], %c3
// CHECK: tensor.extract_slice %{{.*}} : tensor<128x100xf32> to tensor<?x?xf32>
func.func @few_rows(%a: tensor<128x64xf32>, %b: tensor<64x100xf32>) -> tensor<128x100xf32> {
  %r = ube.matmul %a, %b : tensor<128x64xf32>, tensor<64x100xf32>
  return %r : tensor<128x100xf32>
}

// -----

// A batch of 4 × 3 row groups is enough tasks: columns stay whole, unless
// their packed panels (K = 64 × 16 floats: 4 KiB each) take more than
// panel-group-bytes: 16 KiB, 4 panels, splits the 7 into 2 column groups
// of 4 and 3 (with room for fewer than 4 panels, none would be split).
// CHECK-LABEL: func.func @batched
// CHECK: scf.forall (%{{.*}}, %{{.*}}) in (4, 3)
// CHECK: tensor.extract_slice %{{.*}} : tensor<4x128x100xf32> to tensor<?x100xf32>
// GROUPS-LABEL: func.func @batched
// GROUPS: scf.forall (%{{.*}}, %{{.*}}, %{{.*}}) in (4, 2, 3)
// GROUPS: tensor.extract_slice %{{.*}} : tensor<4x128x100xf32> to tensor<?x?xf32>
func.func @batched(%a: tensor<4x128x64xf32>, %b: tensor<64x100xf32>) -> tensor<4x128x100xf32> {
  %r = ube.matmul %a, %b : tensor<4x128x64xf32>, tensor<64x100xf32>
  return %r : tensor<4x128x100xf32>
}

// -----

// K = 256 in 4 blocks of 64: whole panels (16 KiB each) do not fit 4 at a
// time in panel-group-bytes = 16 KiB, one K block of them (4 KiB) does.
// Each K block is then one set of tasks, its column groups of 4 panels'
// rows of the block, which the tasks of the group's 3 row groups find in
// L2. With room for 4 whole panels, the tasks pass every K block.
// CHECK-LABEL: func.func @deep_k
// CHECK-NOT: scf.for %{{.*}} = %c0 to %c256 step %c64
// CHECK: scf.forall (%{{.*}}, %{{.*}}) in (4, 3)
// GROUPS-LABEL: func.func @deep_k
// GROUPS: %[[R:.*]] = scf.for %[[K:.*]] = %c0 to %c256 step %c64 iter_args(%[[ACC:.*]] = %{{.*}})
// GROUPS: scf.forall (%{{.*}}, %{{.*}}, %{{.*}}) in (4, 2, 3) shared_outs(%{{.*}} = %[[ACC]])
// GROUPS: arith.cmpi eq, %[[K]], %c0
// GROUPS: return %[[R]]
func.func @deep_k(%a: tensor<4x128x256xf32>, %b: tensor<256x100xf32>) -> tensor<4x128x100xf32> {
  %r = ube.matmul %a, %b : tensor<4x128x256xf32>, tensor<256x100xf32>
  return %r : tensor<4x128x100xf32>
}
