// RUN: ube-opt %s --ube-cpu-matmul-kernels="vector-width=8 panel-width=16 tile-rows=6 k-block=8 tiles-per-task=1 min-tasks=1" --canonicalize --cse | FileCheck %s

// Symbolic M and N: the same kernel with its sizes computed at run time.
// rhs's panels are packed (their count is N / 16 rounded up, at run time);
// the tasks' grid, the full panels and micro-tiles run to runtime bounds;
// the rows left past the full micro-tiles (M % 6 < 6) are one micro-tile
// of exactly that many rows, chosen at run time; the ragged panel's vectors
// are masked by the columns left, at run time.
// CHECK-LABEL: func.func @symbolic
// CHECK-DAG: %[[M:.*]] = tensor.dim %arg0, %c0 : tensor<?x20xf32>
// CHECK-DAG: %[[N:.*]] = tensor.dim %arg1, %c1 : tensor<20x?xf32>
// CHECK: %[[PACK_INIT:.*]] = tensor.empty(%[[PANELS:.*]]) : tensor<1x?x20x16xf32>
// CHECK: %[[PACKED:.*]] = scf.forall (%{{.*}}) in (%[[PANELS]]) shared_outs(%{{.*}} = %[[PACK_INIT]]) -> (tensor<1x?x20x16xf32>)
// CHECK: %[[INIT:.*]] = tensor.empty(%[[M]], %[[N]]) : tensor<?x?xf32>
// CHECK: scf.forall (%{{.*}}, %{{.*}}) in (%{{.*}}, %{{.*}}) shared_outs(%{{.*}} = %[[INIT]]) -> (tensor<?x?xf32>)
// CHECK: %[[LEFT_COLUMNS:.*]] = arith.remui %[[N]], %c16
// CHECK: tensor.extract_slice {{.*}} : tensor<?x?xf32> to tensor<?x?xf32>
// CHECK: scf.for %{{.*}} = %c0 to %c20 step %c7
// CHECK: vector.transfer_read %[[PACKED]]
// CHECK: %[[LEFT:.*]] = arith.subi %{{.*}}, %{{.*}} : index
// CHECK: scf.index_switch %[[LEFT]] -> tensor<?x?xf32>
// CHECK: case 1 {
// CHECK-COUNT-2: vector.fma
// CHECK: case 5 {
// CHECK-COUNT-10: vector.fma
// CHECK: default {
// The ragged panel, where N % 16 != 0 (in the last column group).
// CHECK: vector.create_mask %[[LEFT_COLUMNS]] : vector<8xi1>
// CHECK: tensor.parallel_insert_slice
func.func @symbolic(%a: tensor<?x20xf32>, %b: tensor<20x?xf32>) -> tensor<?x?xf32> {
  %r = ube.matmul %a, %b : tensor<?x20xf32>, tensor<20x?xf32>
  return %r : tensor<?x?xf32>
}

// Patches over symbolic planes (an im2col without a length): the product's
// columns are the output's positions counted from the input's height and
// width (OH · OW, never read off the patches, which are never built); each
// panel's columns are gathered from the input flattened per channel at
// (j / OW)·2·W + (j mod OW)·2, plus each row's tap offset (t / 3)·W + t mod 3
// with the plane's width W read at run time.
// CHECK-LABEL: func.func @symbolic_planes_patches
// CHECK-NOT: ube.im2col
// CHECK: %[[H:.*]] = tensor.dim %arg1, %c2
// CHECK: %[[OH:.*]] = arith.addi
// CHECK: %[[W:.*]] = tensor.dim %arg1, %c3
// CHECK: %[[N:.*]] = arith.muli %[[OH_FINAL:.*]], %[[OW:.*]] : index
// CHECK: %[[FLAT:.*]] = tensor.collapse_shape %arg1 {{\[}}[0], [1], [2, 3]] : tensor<2x2x?x?xf32> into tensor<2x2x?xf32>
// CHECK: scf.forall
// CHECK: %[[Q:.*]] = vector.broadcast %[[OW]] : index to vector<16xindex>
// CHECK: arith.divui %{{.*}}, %[[Q]] : vector<16xindex>
// CHECK: arith.remui %{{.*}}, %[[Q]] : vector<16xindex>
// CHECK: %[[ROW_STRIDE:.*]] = arith.muli %[[W]], %c2 : index
// CHECK: scf.for
// CHECK: %[[T:.*]] = arith.remui %{{.*}}, %c9 : index
// CHECK: %[[TAP_ROW:.*]] = arith.divui %[[T]], %c3 : index
// CHECK: %[[TAP_COLUMN:.*]] = arith.remui %[[T]], %c3 : index
// CHECK: %[[TAP_ROW_OFFSET:.*]] = arith.muli %[[TAP_ROW]], %[[W]] : index
// CHECK: arith.addi %[[TAP_ROW_OFFSET]], %[[TAP_COLUMN]] : index
// CHECK: vector.gather %[[FLAT]]
func.func @symbolic_planes_patches(%w: tensor<4x18xf32>, %x: tensor<2x2x?x?xf32>)
    -> tensor<2x4x?xf32> {
  %p = ube.im2col %x {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>} : tensor<2x2x?x?xf32>
  %y = ube.matmul %w, %p : tensor<4x18xf32>, tensor<2x18x?xf32>
  return %y : tensor<2x4x?xf32>
}

// Patches at stride 1 over symbolic planes. Images of fewer than 128
// positions are grouped, G = max(1, min(N, ceil(128 / P))) of them side by
// side (chosen at run time): a task computes its rows of the group's
// [O, G·P] product in a scratch matrix, its panels' lanes gathered across
// the images, and copies each image's columns to its place. One image a
// group (G = 1, the other set of tasks), a panel's positions are a run of one output row, or of
// two, or (rows narrower than the panel's tail) more; its rows are read as
// one masked run, as two (the second shifted back by the first's lanes,
// merged by a select), or gathered, chosen per panel at run time. The
// tasks pack each panel where they use it (no packing loop of their own).
// CHECK-LABEL: func.func @symbolic_planes_row_runs
// CHECK-NOT: ube.im2col
// CHECK: %[[W:.*]] = tensor.dim %arg1, %c3
// CHECK: %[[P:.*]] = arith.muli %{{.*}}, %[[OW:.*]] : index
// CHECK: %[[CEIL:.*]] = arith.ceildivui %c128, %[[P]] : index
// CHECK: %[[MIN:.*]] = arith.minui %[[CEIL]], %c2 : index
// CHECK: %[[G:.*]] = arith.maxui %[[MIN]], %c1 : index
// CHECK: %[[GROUPED:.*]] = arith.cmpi ugt, %[[G]], %c1 : index
// CHECK-NOT: tensor<2x?x18x16xf32>
// CHECK: %[[FLAT:.*]] = tensor.collapse_shape %arg1 {{\[\[}}0], [1], [2, 3]]
// CHECK: %[[IMAGES:.*]] = tensor.collapse_shape %arg1 {{\[\[}}0, 1, 2, 3]]
// CHECK-NOT: tensor<2x?x18x16xf32>
// CHECK: scf.if %[[GROUPED]] -> (tensor<2x4x?xf32>)
// CHECK: scf.forall
// CHECK: %[[SCRATCH:.*]] = tensor.empty(%{{.*}}, %{{.*}}) : tensor<?x?xf32>
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %[[SCRATCH]]
// CHECK: vector.gather %[[IMAGES]][%c0]
// CHECK: vector.fma
// CHECK: vector.transfer_read %{{[0-9]+}}#0[%{{.*}}], %cst{{.*}}, %[[COPY_MASK:[0-9]+]] {in_bounds = [true]} : tensor<?x?xf32>, vector<8xf32>
// CHECK-NEXT: vector.transfer_write %{{.*}}, %[[COPY_MASK]] {in_bounds = [true]} : vector<8xf32>, tensor<?x?x?xf32>
// CHECK: } else {
// CHECK: scf.forall
// CHECK: %[[COLUMN:.*]] = arith.muli %arg{{[0-9]+}}, %c16 : index
// CHECK-NEXT: %[[LEFT:.*]] = arith.subi %{{.*}}, %[[COLUMN]] : index
// CHECK-NEXT: %[[WIDTH:.*]] = arith.minui %[[LEFT]], %c16 : index
// CHECK: %[[ROW:.*]] = arith.divui %[[COLUMN]], %[[OW]] : index
// CHECK: %[[START:.*]] = arith.remui %[[COLUMN]], %[[OW]] : index
// CHECK: %[[ROW_BASE:.*]] = arith.muli %[[ROW]], %[[W]] : index
// CHECK: %[[FIRST:.*]] = arith.addi %[[ROW_BASE]], %[[START]] : index
// CHECK: %[[REST:.*]] = arith.subi %[[OW]], %[[START]] : index
// CHECK: %[[HEAD:.*]] = arith.minui %[[WIDTH]], %[[REST]] : index
// CHECK: %[[ONE_ROW:.*]] = arith.cmpi eq, %[[HEAD]], %[[WIDTH]] : index
// CHECK: scf.if %[[ONE_ROW]]
// CHECK: %[[MASK:.*]] = vector.create_mask %[[WIDTH]] : vector<16xi1>
// CHECK: vector.transfer_read %[[FLAT]][%{{.*}}, %{{.*}}, %{{.*}}], %{{.*}}, %[[MASK]]
// CHECK: } else {
// CHECK: scf.if
// CHECK: %[[HEAD_MASK:.*]] = vector.create_mask %[[HEAD]] : vector<16xi1>
// CHECK: %[[TAIL_MASK:.*]] = arith.andi
// CHECK: %[[A:.*]] = vector.transfer_read %[[FLAT]][%{{.*}}, %{{.*}}, %{{.*}}], %{{.*}}, %[[HEAD_MASK]]
// CHECK: %[[B:.*]] = vector.transfer_read %[[FLAT]][%{{.*}}, %{{.*}}, %{{.*}}], %{{.*}}, %[[TAIL_MASK]]
// CHECK: arith.select %[[HEAD_MASK]], %[[A]], %[[B]]
// CHECK: } else {
// CHECK: vector.gather %[[FLAT]]
// CHECK: vector.fma
func.func @symbolic_planes_row_runs(%w: tensor<4x18xf32>, %x: tensor<2x2x?x?xf32>)
    -> tensor<2x4x?xf32> {
  %p = ube.im2col %x {kernel = array<i64: 3, 3>} : tensor<2x2x?x?xf32>
  %y = ube.matmul %w, %p : tensor<4x18xf32>, tensor<2x18x?xf32>
  return %y : tensor<2x4x?xf32>
}

// A weight gradient's patches on a symbolic batch and planes: every image's
// positions side by side (K = B · OH · OW, counted at run time), read
// transposed. The lanes' offsets span one image of symbolic size, so they
// are 64-bit; the panel's rows walk the images, output rows and columns up
// to runtime bounds, each position's offset the gather's origin.
// CHECK-LABEL: func.func @symbolic_side_by_side_transposed
// CHECK-NOT: ube.im2col
// CHECK: %[[B:.*]] = tensor.dim %arg1, %c0
// CHECK: %[[LENGTH:.*]] = arith.muli %[[OH:.*]], %[[OW:.*]] : index
// CHECK: %[[K:.*]] = arith.muli %[[B]], %[[LENGTH]] : index
// CHECK: %[[FLAT:.*]] = tensor.collapse_shape %arg1 {{\[\[}}0, 1, 2, 3]] : tensor<?x2x?x?xf32> into tensor<?xf32>
// CHECK: tensor.empty(%[[K]]) : tensor<1x2x?x16xf32>
// CHECK: %[[LANES:.*]] = arith.index_cast %{{.*}} : vector<16xindex> to vector<16xi64>
// CHECK: scf.for %{{.*}} = %c0 to %[[B]] step %c1
// CHECK: scf.for
// CHECK: scf.for
// CHECK: vector.gather %[[FLAT]][%{{.*}}] [%[[LANES]]], %{{.*}}, %{{.*}} : tensor<?xf32>, vector<16xi64>, vector<16xi1>, vector<16xf32> into vector<16xf32>
func.func @symbolic_side_by_side_transposed(%g: tensor<1x4x?xf32>, %x: tensor<?x2x?x?xf32>)
    -> tensor<1x4x18xf32> {
  %p = ube.im2col %x {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>, batch_columns}
      : tensor<?x2x?x?xf32>
  %y = ube.matmul %g, %p {transpose_rhs = true} : tensor<1x4x?xf32>, tensor<1x18x?xf32>
  return %y : tensor<1x4x18xf32>
}

// Patches on a symbolic batch: the product's matrices are the im2col
// input's images (its dimension 0), never read off the patches, which are
// never built (reading their size would keep them, a copy of every tap).
// The packing tasks and the product's run over the groups of G images.
// CHECK-LABEL: func.func @symbolic_batch_patches
// CHECK-NOT: ube.im2col
// CHECK-NOT: tensor.dim %{{.*}} : tensor<?x18x?xf32>
// CHECK: %[[B:.*]] = tensor.dim %arg1, %c0 : tensor<?x2x?x?xf32>
// CHECK: %[[MIN:.*]] = arith.minui %[[B]], %{{.*}} : index
// CHECK: %[[G:.*]] = arith.maxui %[[MIN]], %c1 : index
// CHECK: %[[GROUPS:.*]] = arith.ceildivui %[[B]], %[[G]] : index
// CHECK: scf.forall (%{{.*}}, %{{.*}}) in (%[[GROUPS]], %{{.*}})
// CHECK: scf.forall (%{{.*}}, %{{.*}}, %{{.*}}) in (%[[GROUPS]], %{{.*}}, %{{.*}})
func.func @symbolic_batch_patches(%w: tensor<4x18xf32>, %x: tensor<?x2x?x?xf32>)
    -> tensor<?x4x?xf32> {
  %p = ube.im2col %x {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>} : tensor<?x2x?x?xf32>
  %y = ube.matmul %w, %p : tensor<4x18xf32>, tensor<?x18x?xf32>
  return %y : tensor<?x4x?xf32>
}

// Deep weights (K ≥ 512, M ≥ 256) times patches over symbolic planes: lhs
// is read in place, not packed into panels of MR rows first. A convolution
// of that many channels runs on small planes (16 or 49 positions an image
// for 512 channels), too few columns to repay the copy; the same product
// on static columns (256 an image) packs it.
// CHECK-LABEL: func.func @symbolic_planes_lhs_in_place
// CHECK-NOT: tensor<1x43x576x6xf32>
// CHECK-LABEL: func.func @static_lhs_packed
// CHECK: scf.forall (%{{.*}}) in (43) shared_outs(%{{.*}} = %{{.*}}) -> (tensor<1x43x576x6xf32>)
func.func @symbolic_planes_lhs_in_place(%w: tensor<256x576xf32>, %x: tensor<2x64x?x?xf32>)
    -> tensor<2x256x?xf32> {
  %p = ube.im2col %x {kernel = array<i64: 3, 3>} : tensor<2x64x?x?xf32>
  %y = ube.matmul %w, %p : tensor<256x576xf32>, tensor<2x576x?xf32>
  return %y : tensor<2x256x?xf32>
}
func.func @static_lhs_packed(%w: tensor<256x576xf32>, %x: tensor<2x576x256xf32>)
    -> tensor<2x256x256xf32> {
  %y = ube.matmul %w, %x : tensor<256x576xf32>, tensor<2x576x256xf32>
  return %y : tensor<2x256x256xf32>
}

// A pointwise convolution's planes ([N, C, P], P symbolic) times a shared
// weight, a per-channel bias after it: the images are grouped as above,
// a group's panels read from the planes side by side (the input as one
// run): a panel within two images as two masked runs merged by a select,
// one across more gathered (lane j of a panel at column c is image
// (c + j) / P's position (c + j) mod P), one image a group read as rows.
// The bias, read by row, runs on the accumulators either way.
// CHECK-LABEL: func.func @symbolic_planes_pointwise
// CHECK: %[[G:.*]] = arith.maxui %{{.*}}, %c1 : index
// CHECK: %[[IMAGES:.*]] = tensor.collapse_shape %arg1 {{\[\[}}0, 1, 2]] : tensor<?x8x?xf32> into tensor<?xf32>
// CHECK: scf.forall
// CHECK: scf.if
// CHECK: scf.if
// CHECK: %[[HEAD_MASK:.*]] = vector.create_mask %{{.*}} : vector<16xi1>
// CHECK: %[[A:.*]] = vector.transfer_read %[[IMAGES]][%{{.*}}], %{{.*}}, %[[HEAD_MASK]]
// CHECK: %[[B:.*]] = vector.transfer_read %[[IMAGES]][%{{.*}}], %{{.*}}, %{{.*}}
// CHECK: arith.select %[[HEAD_MASK]], %[[A]], %[[B]]
// CHECK: } else {
// CHECK: arith.divui %{{.*}}, %{{.*}} : vector<16xindex>
// CHECK: arith.remui %{{.*}}, %{{.*}} : vector<16xindex>
// CHECK: vector.gather %[[IMAGES]][%{{.*}}]
// CHECK: } else {
// CHECK: vector.transfer_read %arg1[
// CHECK: scf.forall
// CHECK: tensor.extract %arg2
// CHECK: arith.addf
// CHECK-NOT: ube.add
func.func @symbolic_planes_pointwise(%w: tensor<4x8xf32>, %x: tensor<?x8x?xf32>,
                                     %b: tensor<4x1xf32>) -> tensor<?x4x?xf32> {
  %y = ube.matmul %w, %x : tensor<4x8xf32>, tensor<?x8x?xf32>
  %z = ube.add %y, %b : tensor<?x4x?xf32>, tensor<4x1xf32>
  return %z : tensor<?x4x?xf32>
}

// A residual the product is summed into (the kernel starts from it, in
// its buffer): a group's scratch tile would not hold it, so each image
// stays a matrix of its own.
// CHECK-LABEL: func.func @symbolic_planes_residual
// CHECK-NOT: arith.ceildivui %c128
// CHECK: scf.forall ({{.*}}) in ({{.*}}) shared_outs(%{{.*}} = %arg2)
// CHECK-NOT: scf.if %{{.*}} -> (tensor<?x?x?xf32>)
func.func @symbolic_planes_residual(%w: tensor<4x8xf32>, %x: tensor<?x8x?xf32>,
                                    %r: tensor<?x4x?xf32>) -> tensor<?x4x?xf32> {
  %y = ube.matmul %w, %x : tensor<4x8xf32>, tensor<?x8x?xf32>
  %z = ube.add %y, %r : tensor<?x4x?xf32>, tensor<?x4x?xf32>
  return %z : tensor<?x4x?xf32>
}
