// RUN: ube-opt %s --ube-cpu-matmul-kernels="vector-width=16 panel-width=32 tile-rows=12 k-block=512 tiles-per-task=2 min-tasks=1" --canonicalize --cse --split-input-file | FileCheck %s
// L1 ways of 1 KiB: rows 1 KiB apart fall into one set, 8 or 12 ways.
// RUN: ube-opt %s --ube-cpu-matmul-kernels="vector-width=16 panel-width=32 tile-rows=12 k-block=512 tiles-per-task=2 min-tasks=1 l1-way-span=1024 l1-ways=8" --canonicalize --cse --split-input-file | FileCheck %s --check-prefix=SPAN1K
// RUN: ube-opt %s --ube-cpu-matmul-kernels="vector-width=16 panel-width=32 tile-rows=12 k-block=512 tiles-per-task=2 min-tasks=1 l1-way-span=1024 l1-ways=12" --canonicalize --cse --split-input-file | FileCheck %s --check-prefix=SPAN1K12

// K = 1024: lhs rows 4 KiB apart, so a micro-tile's 12 rows read in place
// would fall into one L1 set. lhs is packed first into panels of 12 rows,
// k-major (54 rows: 5 panels, the last one 6 rows and zeros), one parallel
// task per panel gathering each k's 12 lanes, one per row (offsets j·K,
// lanes past row 54 masked to zeros); the micro-tiles broadcast from the
// pack.
// CHECK-LABEL: func.func @aliasing_rows
// CHECK: %[[LHS:.*]] = tensor.expand_shape %arg0 {{\[\[}}0, 1], [2]] output_shape [1, 54, 1024]
// CHECK: %[[FLAT:.*]] = tensor.collapse_shape %[[LHS]] {{\[\[}}0], [1, 2]] : tensor<1x54x1024xf32> into tensor<1x55296xf32>
// CHECK: %[[PACKED:.*]] = scf.forall (%[[P:.*]]) in (5) shared_outs(%{{.*}}) -> (tensor<1x5x1024x12xf32>)
// CHECK: %[[FIRST_ROW:.*]] = arith.muli %[[P]], %c12 : index
// CHECK: %[[LEFT:.*]] = arith.subi %c54, %[[FIRST_ROW]] : index
// CHECK: %[[WIDTH:.*]] = arith.minui %[[LEFT]], %c12 : index
// CHECK: %[[STEP:.*]] = vector.step : vector<12xindex>
// CHECK: %[[OFFSETS:.*]] = arith.muli %[[STEP]], %{{.*}} : vector<12xindex>
// CHECK: %[[OFFSETS32:.*]] = arith.index_cast %[[OFFSETS]] : vector<12xindex> to vector<12xi32>
// CHECK: %[[MASK:.*]] = vector.create_mask %[[WIDTH]] : vector<12xi1>
// CHECK: %[[ORIGIN:.*]] = arith.muli %[[P]], %c12288 : index
// CHECK: scf.for %[[K:.*]] = %c0 to %c1024 step %c1
// CHECK: %[[AT:.*]] = arith.addi %[[ORIGIN]], %[[K]] : index
// CHECK: %[[LANES:.*]] = vector.gather %[[FLAT]][%c0, %[[AT]]] [%[[OFFSETS32]]], %[[MASK]], %{{.*}} : tensor<1x55296xf32>
// CHECK: vector.transfer_write %[[LANES]], %{{.*}}[%[[K]], %c0] {in_bounds = [true]} : vector<12xf32>, tensor<1024x12xf32>
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

// Deep rows (K >= 512) are packed where there are 256 rows or more, as
// BLAS libraries pack them, whether or not they alias: 300 rows, 25
// panels. Fewer rows are read in place.
// CHECK-LABEL: func.func @deep_rows
// CHECK: %[[PACKED:.*]] = scf.forall (%{{.*}}) in (25) shared_outs(%{{.*}}) -> (tensor<1x25x768x12xf32>)
// CHECK: tensor.extract %[[PACKED]]
// CHECK-LABEL: func.func @deep_few_rows
// CHECK-NOT: x12xf32>
// CHECK: tensor.extract %arg0
// CHECK-NOT: x12xf32>
func.func @deep_rows(%a: tensor<300x768xf32>, %b: tensor<768x256xf32>) -> tensor<300x256xf32> {
  %r = ube.matmul %a, %b : tensor<300x768xf32>, tensor<768x256xf32>
  return %r : tensor<300x256xf32>
}
func.func @deep_few_rows(%a: tensor<54x768xf32>, %b: tensor<768x256xf32>) -> tensor<54x256xf32> {
  %r = ube.matmul %a, %b : tensor<54x768xf32>, tensor<768x256xf32>
  return %r : tensor<54x256xf32>
}

// -----

// K = 300: shallow rows, 1200 bytes apart, spread over L1's sets and
// stream well in place: no pack.
// CHECK-LABEL: func.func @shallow_rows
// SPAN1K-LABEL: func.func @shallow_rows
// CHECK-NOT: x12xf32>
// CHECK: tensor.extract %arg0
// CHECK-NOT: x12xf32>
// SPAN1K-NOT: x12xf32>
// SPAN1K: tensor.extract %arg0
func.func @shallow_rows(%a: tensor<54x300xf32>, %b: tensor<300x256xf32>) -> tensor<54x256xf32> {
  %r = ube.matmul %a, %b : tensor<54x300xf32>, tensor<300x256xf32>
  return %r : tensor<54x256xf32>
}

// -----

// K = 256: rows 1 KiB apart. With ways of 4 KiB, 3 rows share a set: read
// in place. With ways of 1 KiB the 12 rows share one: packed where the set
// has 8 ways, read in place where it has 12.
// CHECK-LABEL: func.func @shallow_aliasing_rows
// CHECK-NOT: x12xf32>
// CHECK: tensor.extract %arg0
// SPAN1K-LABEL: func.func @shallow_aliasing_rows
// SPAN1K: %[[PACKED:.*]] = scf.forall (%{{.*}}) in (5) shared_outs(%{{.*}}) -> (tensor<1x5x256x12xf32>)
// SPAN1K-NOT: tensor.extract %arg0
// SPAN1K: tensor.extract %[[PACKED]][%c0, %{{.*}}, %{{.*}}, %c0] : tensor<1x5x256x12xf32>
// SPAN1K-NOT: tensor.extract %arg0
// SPAN1K: return
// SPAN1K12-LABEL: func.func @shallow_aliasing_rows
// SPAN1K12-NOT: x12xf32>
// SPAN1K12: tensor.extract %arg0
func.func @shallow_aliasing_rows(%a: tensor<54x256xf32>, %b: tensor<256x256xf32>) -> tensor<54x256xf32> {
  %r = ube.matmul %a, %b : tensor<54x256xf32>, tensor<256x256xf32>
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

// -----

// A transposed lhs ([K, M]: each k's 12 values a line M floats past the
// last) is packed whenever the product has 256+ columns, whatever its
// stride: one contiguous (masked) read of 12 floats per k into the panel.
// CHECK-LABEL: func.func @transposed_lhs
// CHECK: %[[LHS:.*]] = tensor.expand_shape %arg0 {{\[\[}}0, 1], [2]] output_shape [1, 300, 30]
// CHECK: %[[PACKED:.*]] = scf.forall (%[[P:.*]]) in (3) shared_outs(%{{.*}}) -> (tensor<1x3x300x12xf32>)
// CHECK: %[[MASK:.*]] = vector.create_mask %{{.*}} : vector<12xi1>
// CHECK: scf.for %[[K:.*]] = %c0 to %c300 step %c1
// CHECK: vector.transfer_read %[[LHS]][%c0, %[[K]], %{{.*}}], %{{.*}}, %[[MASK]] {in_bounds = [true]} : tensor<1x300x30xf32>, vector<12xf32>
// (One row group: the product's forall folds away.)
// CHECK: tensor.extract %[[PACKED]][%c0, %{{.*}}, %{{.*}}, %c0] : tensor<1x3x300x12xf32>
// CHECK-NOT: tensor.extract %arg0
// CHECK: return
func.func @transposed_lhs(%a: tensor<300x30xf32>, %b: tensor<300x256xf32>) -> tensor<30x256xf32> {
  %r = ube.matmul %a, %b {transpose_lhs = true} : tensor<300x30xf32>, tensor<300x256xf32>
  return %r : tensor<30x256xf32>
}
