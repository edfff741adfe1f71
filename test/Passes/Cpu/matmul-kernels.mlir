// RUN: ube-opt %s --ube-cpu-matmul-kernels="vector-width=8 panel-width=16 tile-rows=6 k-block=8 tiles-per-task=1 min-tasks=1" --canonicalize --cse --split-input-file | FileCheck %s
// RUN: not ube-opt %s --ube-cpu-matmul-kernels="vector-width=8 panel-width=12" 2>&1 | FileCheck %s --check-prefix=BAD-WIDTH

// BAD-WIDTH: panel-width must be a multiple of vector-width

// A batch of 2 (rhs broadcast), M = 13 = 2 tiles of 6 + 1 ragged row,
// N = 21 = one full panel + 5 columns, K = 20 = blocks of 7, 7 and 6 (at
// most k-block = 8, as equal as possible).
// rhs is narrow (at most 4 panels): it is read in place, not packed.
// CHECK-LABEL: func.func @batched
// CHECK-NOT: tensor.expand_shape
// Tasks: (batch, row group); each owns rows of one matrix.
// CHECK: scf.forall (%[[B:.*]], %[[G:.*]]) in (2, 2) shared_outs(%[[OUT:.*]] = %{{.*}}) -> (tensor<2x13x21xf32>)
// CHECK: %[[LAST:.*]] = arith.cmpi eq, %[[G]], %c1
// CHECK: %[[ROWS:.*]] = arith.select %[[LAST]], %{{.*}}, %c6 : index
// CHECK: %[[SLICE:.*]] = tensor.extract_slice %[[OUT]][%{{.*}}, %{{.*}}, 0] [1, %[[ROWS]], 21] [1, 1, 1] : tensor<2x13x21xf32> to tensor<?x21xf32>
// K blocks of 7; the first starts from zero, the others from the partial sums.
// CHECK: scf.for %[[KB:.*]] = %c0 to %c20 step %c7 iter_args(%[[TILE:.*]] = %[[SLICE]])
// CHECK: %[[KEND:.*]] = arith.minui %{{.*}}, %c20
// CHECK: %[[FIRST:.*]] = arith.cmpi eq, %[[KB]], %c0
// CHECK: %[[ACC:.*]]:12 = scf.if %[[FIRST]]
// CHECK: } else {
// CHECK: vector.transfer_read %[[TILE]][%c0, %c0], %{{.*}} {in_bounds = [true]} : tensor<?x21xf32>, vector<8xf32>
// A full panel: 6 x 2 accumulators, 2 panel loads, 6 broadcasts of lhs and
// 12 FMAs per k.
// CHECK: scf.for %[[K:.*]] = %[[KB]] to %[[KEND]] step %c1 iter_args(%{{.*}} = %[[ACC]]#0, {{.*}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK: vector.transfer_read %arg1[%[[K]], %c0], %{{.*}} {in_bounds = [true]} : tensor<20x21xf32>
// CHECK: vector.transfer_read %arg1[%[[K]], %c8], %{{.*}} {in_bounds = [true]} : tensor<20x21xf32>
// CHECK: tensor.extract %arg0[%{{.*}}, %{{.*}}, %[[K]]] : tensor<2x13x20xf32>
// CHECK: vector.broadcast %{{.*}} : f32 to vector<8xf32>
// CHECK-COUNT-2: vector.fma
// CHECK: vector.transfer_write %{{.*}}#0, %[[TILE]][%c0, %c0] {in_bounds = [true]}
// The ragged row, in the last group only.
// CHECK: scf.if %[[LAST]] -> (tensor<?x21xf32>)
// CHECK: scf.for {{.*}} -> (vector<8xf32>, vector<8xf32>)
// The ragged panel: one vector per row, 5 lanes of rhs read and stored; the
// lanes past it never exist.
// CHECK: scf.for {{.*}} -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK: %[[MASK:.*]] = vector.constant_mask [5] : vector<8xi1>
// CHECK: vector.transfer_read %arg1[%{{.*}}, %c16], %{{.*}}, %[[MASK]] {in_bounds = [true]} : tensor<20x21xf32>
// CHECK: vector.transfer_write %{{.*}}, %{{.*}}[%c0, %c16], %{{.*}} {in_bounds = [true]}
// CHECK: scf.forall.in_parallel
// CHECK: tensor.parallel_insert_slice %{{.*}} into %[[OUT]][%{{.*}}, %{{.*}}, 0] [1, %[[ROWS]], 21] [1, 1, 1]
func.func @batched(%a: tensor<2x13x20xf32>, %b: tensor<20x21xf32>) -> tensor<2x13x21xf32> {
  %r = ube.matmul %a, %b : tensor<2x13x20xf32>, tensor<20x21xf32>
  return %r : tensor<2x13x21xf32>
}

// -----

// A wider rhs (N = 70: 4 full panels + 6 columns) is packed into k-major
// panels of 16, one task per panel, written in place (masked reads pad past
// N with 0); the micro-kernels read the packed panels.
// CHECK-LABEL: func.func @packed
// CHECK: %[[RHS:.*]] = tensor.expand_shape %arg1 {{\[\[}}0, 1], [2]] output_shape [1, 20, 70]
// CHECK: %[[PACKED:.*]] = scf.forall (%[[P:.*]]) in (5) shared_outs(%[[PACK_OUT:.*]] = %{{.*}}) -> (tensor<1x5x20x16xf32>)
// CHECK: %[[PANEL:.*]] = tensor.extract_slice %[[PACK_OUT]][0, %[[P]], 0, 0] [1, 1, 20, 16] [1, 1, 1, 1]
// CHECK: %[[WIDTH_MASK:.*]] = vector.create_mask %{{.*}} : vector<16xi1>
// CHECK: scf.for %[[PK:.*]] = %c0 to %c20 step %c1 iter_args(%{{.*}} = %[[PANEL]])
// CHECK: vector.transfer_read %[[RHS]][%c0, %[[PK]], %{{.*}}], %{{.*}}, %[[WIDTH_MASK]] {in_bounds = [true]} : tensor<1x20x70xf32>, vector<16xf32>
// CHECK: tensor.parallel_insert_slice %{{.*}} into %[[PACK_OUT]][0, %[[P]], 0, 0] [1, 1, 20, 16]
// The panels as a buffer, whose rows the micro-tiles prefetch.
// CHECK: %[[BUFFER:.*]] = bufferization.to_buffer %[[PACKED]] read_only
// CHECK: scf.forall
// Each micro-tile first prefetches for writing its rows' lines of the
// result (the task's tile, only read to name its buffer).
// CHECK: %[[TILE:.*]] = bufferization.to_buffer %{{.*}} read_only : tensor<?x70xf32> to memref<?x70xf32, strided<[?, ?], offset: ?>>
// CHECK-COUNT-6: memref.prefetch %[[TILE]][%c{{[0-5]}}, %{{.*}}], write, locality<3>, data
// Per k, one prefetch per cache line of the panel's row (16 floats: one
// line) 3 KiB ahead (48 rows) while that row lies in the K block, with no
// clamp; then, over the block's last 48 k, the block's first rows, which
// the next micro-tile reads first.
// CHECK: scf.for %[[K:[^ ]*]] = {{.*}} -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK: %[[AHEAD:.*]] = arith.addi %[[K]], %c48
// CHECK-NEXT: memref.prefetch %[[BUFFER]][%c0, %{{.*}}, %[[AHEAD]], %c0], read, locality<3>, data
// CHECK-NOT: memref.prefetch
// CHECK: vector.transfer_read %[[PACKED]][%c0, %{{.*}}, %[[K]], %c0], %{{.*}} {in_bounds = [true]}
// CHECK: vector.transfer_read %[[PACKED]][%c0, %{{.*}}, %[[K]], %c8], %{{.*}} {in_bounds = [true]}
// CHECK: scf.for %[[K2:[^ ]*]] = {{.*}} -> (vector<8xf32>
// CHECK: %[[BACK:.*]] = arith.addi %[[K2]], %{{.*}}
// CHECK-NEXT: %[[ROW:.*]] = arith.minui %[[BACK]], %{{.*}}
// CHECK-NEXT: memref.prefetch %[[BUFFER]][%c0, %{{.*}}, %[[ROW]], %c0], read, locality<3>, data
// CHECK: vector.transfer_read %[[PACKED]][%c0, %{{.*}}, %[[K2]], %c0], %{{.*}} {in_bounds = [true]}
func.func @packed(%a: tensor<13x20xf32>, %b: tensor<20x70xf32>) -> tensor<13x70xf32> {
  %r = ube.matmul %a, %b : tensor<13x20xf32>, tensor<20x70xf32>
  return %r : tensor<13x70xf32>
}

// -----

// Transposed operands: lhs [K, M] is read down its columns; row k of rhs
// [N, K]'s panel is column k of its rows, gathered (offsets j·K).
// CHECK-LABEL: func.func @transposed
// CHECK: %[[FLAT:.*]] = tensor.collapse_shape %{{.*}} {{\[\[}}0], [1, 2]] : tensor<1x16x4xf32> into tensor<1x64xf32>
// (Single tasks: canonicalization folds one-iteration foralls away.)
// CHECK: scf.for %[[PK:.*]] = %c0 to %c4 step %c1
// CHECK: %[[V:.*]] = vector.gather %[[FLAT]][%c0, %[[PK]]] [%{{.*}}], %{{.*}}, %{{.*}} : tensor<1x64xf32>, vector<16xi32>, vector<16xi1>, vector<16xf32> into vector<16xf32>
// CHECK: vector.transfer_write %[[V]], %{{.*}}[%[[PK]], %c0] {in_bounds = [true]} : vector<16xf32>, tensor<4x16xf32>
// CHECK: scf.for %[[K:.*]] = %c0 to %c4 step %c1
// CHECK: tensor.extract %arg0[%[[K]], %c0] : tensor<4x6xf32>
// CHECK: tensor.extract %arg0[%[[K]], %c1] : tensor<4x6xf32>
func.func @transposed(%a: tensor<4x6xf32>, %b: tensor<16x4xf32>) -> tensor<6x16xf32> {
  %r = ube.matmul %a, %b {transpose_lhs = true, transpose_rhs = true} : tensor<4x6xf32>, tensor<16x4xf32>
  return %r : tensor<6x16xf32>
}

// -----

// Other element types are left to --ube-lower-to-linalg.
// CHECK-LABEL: func.func @integer
// CHECK: ube.matmul
func.func @integer(%a: tensor<4x4xi32>, %b: tensor<4x4xi32>) -> tensor<4x4xi32> {
  %r = ube.matmul %a, %b : tensor<4x4xi32>, tensor<4x4xi32>
  return %r : tensor<4x4xi32>
}

// -----

// A constant rhs (weights) is packed at compile time: no packing loop, the
// micro-kernels read the packed constant. Here W is [N=3, K=2] (as a linear
// layer's weight, transposed): panel 0 holds W[n][k] at [0, 0, k, n], zeros
// past N.
// CHECK-LABEL: func.func @constant_weights
// CHECK: %[[PACKED:.*]] = ube.constant dense_resource<ube.packed_rhs.constant_weights> : tensor<1x1x2x16xf32>
// CHECK-NOT: vector.create_mask
// CHECK: vector.transfer_read %[[PACKED]]
// The blob: k = 0 is W's column 0 (1, 3, 5, then 13 zeros), k = 1 column 1.
// CHECK: ube.packed_rhs.constant_weights: "0x040000000000803F000040400000A0400000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000040000080400000C04000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
func.func @constant_weights(%x: tensor<4x2xf32>) -> tensor<4x3xf32> {
  %w = ube.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>
  %r = ube.matmul %x, %w {transpose_rhs = true} : tensor<4x2xf32>, tensor<3x2xf32>
  return %r : tensor<4x3xf32>
}

// -----

// x + a·b: the kernel's tasks start from x (its result buffer is x's) and
// the add is gone; a product used twice is left to the plain add.
// CHECK-LABEL: func.func @accumulate
// CHECK: %[[S:.*]] = scf.forall (%{{.*}}) in (2) shared_outs(%{{.*}} = %arg2) -> (tensor<12x16xf32>)
// CHECK-NOT: ube.add %arg2
// CHECK: %[[Q:.*]] = scf.forall (%{{.*}}) in (2) shared_outs(%{{.*}} = %{{.*}}) -> (tensor<12x16xf32>)
// CHECK: %[[T:.*]] = ube.add %[[Q]], %[[Q]]
// CHECK: return %[[S]], %[[T]]
func.func @accumulate(%a: tensor<12x8xf32>, %b: tensor<8x16xf32>, %x: tensor<12x16xf32>) -> (tensor<12x16xf32>, tensor<12x16xf32>) {
  %p = ube.matmul %a, %b : tensor<12x8xf32>, tensor<8x16xf32>
  %s = ube.add %x, %p : tensor<12x16xf32>, tensor<12x16xf32>
  %q = ube.matmul %a, %b : tensor<12x8xf32>, tensor<8x16xf32>
  %t = ube.add %q, %q : tensor<12x16xf32>, tensor<12x16xf32>
  return %s, %t : tensor<12x16xf32>, tensor<12x16xf32>
}

// -----

// Epilogue: the bias add and GELU that consume the product run on the
// accumulators once the last K block is summed (K = 20: three blocks of 8),
// the bias read once per panel vector, masked in the ragged panel; nothing
// of the product or the ops is left outside the kernel.
// CHECK-LABEL: func.func @epilogue
// CHECK-SAME: (%{{.*}}: tensor<12x20xf32>, %{{.*}}: tensor<20x21xf32>, %[[BIAS:.*]]: tensor<21xf32>)
// CHECK-NOT: ube.
// CHECK: %[[LAST:.*]] = arith.cmpi eq, %{{.*}}, %c20
// CHECK: scf.if %[[LAST]]
// CHECK: vector.transfer_read %[[BIAS]]
// CHECK: arith.addf %{{.*}} : vector<8xf32>
// CHECK: math.erf %{{.*}} : vector<8xf32>
// CHECK-NOT: ube.
// CHECK: return
func.func @epilogue(%a: tensor<12x20xf32>, %b: tensor<20x21xf32>, %bias: tensor<21xf32>) -> tensor<12x21xf32> {
  %p = ube.matmul %a, %b : tensor<12x20xf32>, tensor<20x21xf32>
  %y = ube.add %p, %bias : tensor<12x21xf32>, tensor<21xf32>
  %g = ube.gelu %y : tensor<12x21xf32>
  return %g : tensor<12x21xf32>
}

// -----

// Near misses: a product with a second use, an operand whose symbolic
// size might broadcast against the product's static one, an op the
// epilogue does not run (a comparison) stay outside the kernel.
// CHECK-LABEL: func.func @no_epilogue
// CHECK: %[[P:.*]] = scf.forall
// CHECK: ube.gelu %[[P]]
// CHECK: %[[Q:.*]] = scf.forall
// CHECK: ube.add %[[Q]], %{{.*}} : tensor<12x16xf32>, tensor<?x16xf32>
// CHECK: %[[R:.*]] = scf.forall
// CHECK: ube.compare "gt", %[[R]]
func.func @no_epilogue(%a: tensor<12x8xf32>, %a2: tensor<12x8xf32>, %a3: tensor<12x8xf32>, %b: tensor<8x16xf32>, %row: tensor<?x16xf32>) -> (tensor<12x16xf32>, tensor<12x16xf32>, tensor<12x16xf32>, tensor<12x16xi1>) {
  %p = ube.matmul %a, %b : tensor<12x8xf32>, tensor<8x16xf32>
  %g = ube.gelu %p : tensor<12x16xf32>
  %q = ube.matmul %a2, %b : tensor<12x8xf32>, tensor<8x16xf32>
  %s = ube.add %q, %row : tensor<12x16xf32>, tensor<?x16xf32>
  %r = ube.matmul %a3, %b : tensor<12x8xf32>, tensor<8x16xf32>
  %zero = ube.constant dense<0.0> : tensor<f32>
  %c = ube.compare "gt", %r, %zero : tensor<12x16xf32>, tensor<f32>
  return %p, %g, %s, %c : tensor<12x16xf32>, tensor<12x16xf32>, tensor<12x16xf32>, tensor<12x16xi1>
}

// -----

// Operands broadcast to the product: an attention mask [B, 1, 1, N] over
// the heads and rows (read once per micro-tile, at batch b, row 0), and a
// scale per row [M, 1] (one value broadcast to the whole vector).
// CHECK-LABEL: func.func @broadcast_epilogue
// CHECK-SAME: %[[MASK:[^:]*]]: tensor<2x1x1x16xf32>, %[[SCALE:[^:]*]]: tensor<6x1xf32>
// CHECK-NOT: ube.
// CHECK: vector.transfer_read %[[MASK]][%[[B:.*]], %c0, %c0, %c0]
// CHECK: tensor.extract %[[SCALE]][%c0, %c0]
// CHECK: vector.broadcast
// CHECK: vector.transfer_read %[[MASK]][%[[B]], %c0, %c0, %c8]
// CHECK: tensor.extract %[[SCALE]][%c1, %c0]
// CHECK-NOT: vector.transfer_read %[[MASK]]
// CHECK-NOT: ube.
// CHECK: return
func.func @broadcast_epilogue(%q: tensor<2x3x6x4xf32>, %k: tensor<2x3x4x16xf32>, %mask: tensor<2x1x1x16xf32>, %scale: tensor<6x1xf32>) -> tensor<2x3x6x16xf32> {
  %s = ube.matmul %q, %k : tensor<2x3x6x4xf32>, tensor<2x3x4x16xf32>
  %m = ube.add %s, %mask : tensor<2x3x6x16xf32>, tensor<2x1x1x16xf32>
  %r = ube.mul %m, %scale : tensor<2x3x6x16xf32>, tensor<6x1xf32>
  return %r : tensor<2x3x6x16xf32>
}

// -----

// Through a reshape: a 1×1 convolution's product [N, C, H·W] reshaped to
// [N, C, H, W] before its bias [C, 1, 1], ReLU6 and a residual
// [N, C, H, W]. The operands are read as [C, 1] and [N, C, H·W], the
// epilogue runs on the accumulators, and the kernel's result is reshaped.
// A reshape that does not only split the last dimension ends the chain.
// CHECK-LABEL: func.func @reshaped_epilogue
// CHECK-SAME: %[[BIAS:[^:]*]]: tensor<4x1x1xf32>, %[[RES:[^:]*]]: tensor<2x4x3x5xf32>
// CHECK-DAG: %[[BIAS2:.*]] = ube.reshape %[[BIAS]] : tensor<4x1x1xf32> to tensor<4x1xf32>
// CHECK-DAG: %[[RES2:.*]] = ube.reshape %[[RES]] : tensor<2x4x3x5xf32> to tensor<2x4x15xf32>
// CHECK: %[[OUT:.*]] = scf.forall
// CHECK: tensor.extract %[[BIAS2]]
// CHECK: arith.select
// CHECK: vector.transfer_read %[[RES2]]
// CHECK: %[[Y:.*]] = ube.reshape %[[OUT]] : tensor<2x4x15xf32> to tensor<2x4x3x5xf32>
// CHECK-NOT: ube.add
// CHECK: return %[[Y]]
func.func @reshaped_epilogue(%w: tensor<4x6xf32>, %x: tensor<2x6x15xf32>, %bias: tensor<4x1x1xf32>, %res: tensor<2x4x3x5xf32>) -> tensor<2x4x3x5xf32> {
  %p = ube.matmul %w, %x : tensor<4x6xf32>, tensor<2x6x15xf32>
  %r = ube.reshape %p : tensor<2x4x15xf32> to tensor<2x4x3x5xf32>
  %b = ube.add %r, %bias : tensor<2x4x3x5xf32>, tensor<4x1x1xf32>
  %c = ube.clamp %b {min = 0.0 : f64, max = 6.0 : f64} : tensor<2x4x3x5xf32>
  %y = ube.add %c, %res : tensor<2x4x3x5xf32>, tensor<2x4x3x5xf32>
  return %y : tensor<2x4x3x5xf32>
}

// CHECK-LABEL: func.func @reshape_ends_epilogue
// CHECK: %[[P:.*]] = scf.forall
// CHECK: %[[R:.*]] = ube.reshape %[[P]] : tensor<2x4x15xf32> to tensor<8x15xf32>
// CHECK: ube.add %[[R]]
func.func @reshape_ends_epilogue(%w: tensor<4x6xf32>, %x: tensor<2x6x15xf32>, %bias: tensor<15xf32>) -> tensor<8x15xf32> {
  %p = ube.matmul %w, %x : tensor<4x6xf32>, tensor<2x6x15xf32>
  %r = ube.reshape %p : tensor<2x4x15xf32> to tensor<8x15xf32>
  %b = ube.add %r, %bias : tensor<8x15xf32>, tensor<15xf32>
  return %b : tensor<8x15xf32>
}

// -----

// A short, wide product (one row group, 38 panels: an output projection
// over a vocabulary) is split along its columns: 13 tasks of 3 panels, each
// over every row, so each packed panel is read once; the ragged last panel
// (600 = 37·16 + 8) belongs to the last task.
// CHECK-LABEL: func.func @short_wide
// CHECK: scf.forall (%[[C:.*]]) in (13) shared_outs(%[[OUT:.*]] = %{{.*}}) -> (tensor<6x600xf32>)
// CHECK: %[[FIRST_PANEL:.*]] = arith.muli %[[C]], %c3
// CHECK: %[[LAST_COLUMNS:.*]] = arith.cmpi eq, %[[C]], %c12
// CHECK: %[[COLUMN:.*]] = arith.muli %[[C]], %c48
// CHECK: %[[SLICE:.*]] = tensor.extract_slice %[[OUT]][0, %[[COLUMN]]] [6, %{{.*}}] [1, 1]
// CHECK: scf.for %{{.*}} = %[[FIRST_PANEL]] to %{{.*}} step %c1
// CHECK: scf.if %[[LAST_COLUMNS]]
// CHECK: tensor.parallel_insert_slice %{{.*}} into %[[OUT]][0, %[[COLUMN]]] [6, %{{.*}}] [1, 1]
func.func @short_wide(%a: tensor<6x8xf32>, %b: tensor<8x600xf32>) -> tensor<6x600xf32> {
  %r = ube.matmul %a, %b : tensor<6x8xf32>, tensor<8x600xf32>
  return %r : tensor<6x600xf32>
}

// -----

// Implicit im2col: the panels of an im2col's patches are read straight from
// its input flattened per channel (row c·9 + t at tap t's offset in the
// table); no patch matrix is built. With one row group (4 rows), each task
// packs its panel's K block (6 of 18 rows: k-block 8) into a scratch panel
// it passes along its loops, and the micro-tiles read that.
// CHECK-LABEL: func.func @implicit_patches
// CHECK-NOT: ube.im2col
// CHECK-DAG: %[[TABLE:.*]] = arith.constant dense<[0, 1, 2, 5, 6, 7, 10, 11, 12]> : tensor<9xindex>
// CHECK-DAG: %[[FLAT:.*]] = tensor.collapse_shape %arg1 {{\[\[}}0], [1], [2, 3]] : tensor<2x2x6x5xf32> into tensor<2x2x30xf32>
// CHECK: scf.forall
// CHECK: %[[SCRATCH:.*]] = tensor.empty() : tensor<6x16xf32>
// CHECK: scf.for %[[K0:.*]] = %c0 to %c18 step %c6 iter_args(%{{.*}} = %{{.*}}, %[[PANEL:.*]] = %[[SCRATCH]])
// CHECK: scf.for %[[KK:.*]] = %[[K0]] to %{{.*}} step %c1 iter_args(%{{.*}} = %[[PANEL]])
// CHECK: %[[C:.*]] = arith.divui %[[KK]], %c9 : index
// CHECK: %[[T:.*]] = arith.remui %[[KK]], %c9 : index
// CHECK: %[[OFF:.*]] = tensor.extract %[[TABLE]][%[[T]]]
// CHECK: vector.transfer_read %[[FLAT]][%{{.*}}, %[[C]], %[[OFF]]]
// CHECK: %[[ROW:.*]] = arith.subi %[[KK]], %[[K0]]
// CHECK: vector.transfer_write %{{.*}}, %{{.*}}[%[[ROW]], %c0] {in_bounds = [true]} : vector<16xf32>, tensor<6x16xf32>
// CHECK: vector.transfer_read %{{.*}}[%{{.*}}, %c0], %{{.*}} {in_bounds = [true]} : tensor<6x16xf32>, vector<8xf32>
func.func @implicit_patches(%w: tensor<4x18xf32>, %x: tensor<2x2x6x5xf32>) -> tensor<2x4x15xf32> {
  %p = ube.im2col %x {kernel = array<i64: 3, 3>, length = 15 : i64} : tensor<2x2x6x5xf32>
  %y = ube.matmul %w, %p : tensor<4x18xf32>, tensor<2x18x15xf32>
  return %y : tensor<2x4x15xf32>
}

// With several row groups (40 rows: 6 groups of one micro-tile, the last
// with the ragged rows) the panels
// are packed once, by tasks of their own, before the product.
// CHECK-LABEL: func.func @implicit_patches_packed_first
// CHECK: %[[PACKED:.*]] = scf.forall (%{{.*}}) in (2) shared_outs(%{{.*}}) -> (tensor<2x1x18x16xf32>)
// CHECK: scf.forall (%{{.*}}, %{{.*}}) in (2, 6)
// CHECK: vector.transfer_read %[[PACKED]]
func.func @implicit_patches_packed_first(%w: tensor<40x18xf32>, %x: tensor<2x2x6x5xf32>) -> tensor<2x40x15xf32> {
  %p = ube.im2col %x {kernel = array<i64: 3, 3>, length = 15 : i64} : tensor<2x2x6x5xf32>
  %y = ube.matmul %w, %p : tensor<40x18xf32>, tensor<2x18x15xf32>
  return %y : tensor<2x40x15xf32>
}

// -----

// Strided implicit im2col: each panel's columns j are output positions
// (rows of 2, stride 2 over a plane 5 wide: 10·(j / 2) + 2·(j mod 2)),
// computed once per panel (16 wide here) as 32-bit lanes; each row gathers
// them at its tap's offset.
// CHECK-LABEL: func.func @implicit_strided_patches
// CHECK-NOT: ube.im2col
// CHECK: scf.forall
// CHECK: %[[STEP:.*]] = vector.step : vector<16xindex>
// CHECK: arith.divui %{{.*}}, %{{.*}} : vector<16xindex>
// CHECK: arith.remui %{{.*}}, %{{.*}} : vector<16xindex>
// CHECK: %[[BASE:.*]] = arith.index_cast %{{.*}} : vector<16xindex> to vector<16xi32>
// CHECK: scf.for
// CHECK: %[[IDX:.*]] = arith.addi %[[BASE]], %{{.*}} : vector<16xi32>
// CHECK: vector.gather %{{.*}}[%{{.*}}, %{{.*}}, %c0] [%[[IDX]]], %{{.*}}, %{{.*}} : tensor<2x2x30xf32>, vector<16xi32>, vector<16xi1>, vector<16xf32> into vector<16xf32>
func.func @implicit_strided_patches(%w: tensor<4x18xf32>, %x: tensor<2x2x6x5xf32>)
    -> tensor<2x4x4xf32> {
  %p = ube.im2col %x {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>, columns = 2,
                      length = 4 : i64} : tensor<2x2x6x5xf32>
  %y = ube.matmul %w, %p : tensor<4x18xf32>, tensor<2x18x4xf32>
  return %y : tensor<2x4x4xf32>
}

// -----

// The batch's images side by side (batch_columns): one matrix of 3 · 4
// columns; column j is image j / 4's position j mod 4, its plane 2·30
// elements after the last's, gathered from the input flattened whole with
// the channel's plane (30) in the row's offset.
// CHECK-LABEL: func.func @implicit_batch_columns
// CHECK-NOT: ube.im2col
// CHECK-DAG: %[[FLAT:.*]] = tensor.collapse_shape %arg1 {{\[\[}}0, 1, 2, 3]] : tensor<3x2x6x5xf32> into tensor<180xf32>
// CHECK: vector.step : vector<16xindex>
// CHECK: %[[IMAGE:.*]] = arith.divui %{{.*}}, %[[FOUR:.*]] : vector<16xindex>
// CHECK: arith.muli %[[IMAGE]], %{{.*}} : vector<16xindex>
// CHECK: arith.remui %{{.*}}, %[[FOUR]] : vector<16xindex>
// CHECK: scf.for
// CHECK: arith.muli %{{.*}}, %c30 : index
// CHECK: vector.gather %[[FLAT]][%c0] [%{{.*}}], %{{.*}}, %{{.*}} : tensor<180xf32>, vector<16xi32>, vector<16xi1>, vector<16xf32> into vector<16xf32>
func.func @implicit_batch_columns(%w: tensor<4x18xf32>, %x: tensor<3x2x6x5xf32>)
    -> tensor<1x4x12xf32> {
  %p = ube.im2col %x {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>, columns = 2,
                      length = 4 : i64, batch_columns} : tensor<3x2x6x5xf32>
  %y = ube.matmul %w, %p : tensor<4x18xf32>, tensor<1x18x12xf32>
  return %y : tensor<1x4x12xf32>
}

// -----

// An im2col read transposed (a weight gradient's patches, [N = C·9, K =
// positions]): lane j of a panel is patch row column + j, channel j / 9 at
// 30 · (j / 9) plus tap j mod 9's offset (row (t / 3) · 5, column t mod 3),
// computed once per panel; the panel's rows walk image i (60 · i), its
// output row (10 · row) and column (2 · q), each the origin of a gather of
// the lanes into panel row 4 · i + 2 · row + q: no division per row.
// CHECK-LABEL: func.func @implicit_patches_transposed
// CHECK-NOT: ube.im2col
// CHECK-DAG: %[[FLAT:.*]] = tensor.collapse_shape %arg1 {{\[\[}}0, 1, 2, 3]] : tensor<3x2x6x5xf32> into tensor<180xf32>
// CHECK: scf.forall (%{{.*}}) in (2)
// CHECK: vector.step : vector<16xindex>
// CHECK: arith.divui %{{.*}}, %{{.*}} : vector<16xindex>
// CHECK: arith.remui %{{.*}}, %{{.*}} : vector<16xindex>
// CHECK: %[[LANES:.*]] = arith.index_cast %{{.*}} : vector<16xindex> to vector<16xi32>
// CHECK: scf.for %[[I:.*]] = %c0 to %c3 step %c1
// CHECK: %[[IMAGE:.*]] = arith.muli %[[I]], %c60
// CHECK: scf.for %[[ROW:.*]] = %c0 to %c2 step %c1
// CHECK: %[[ROW_OFFSET:.*]] = arith.muli %[[ROW]], %c10
// CHECK: %[[ROW_START:.*]] = arith.addi %[[IMAGE]], %[[ROW_OFFSET]]
// CHECK: scf.for %[[Q:.*]] = %c0 to %{{.*}} step %c1
// CHECK: %[[COLUMN:.*]] = arith.muli %[[Q]], %c2
// CHECK: %[[ORIGIN:.*]] = arith.addi %[[ROW_START]], %[[COLUMN]]
// CHECK: vector.gather %[[FLAT]][%[[ORIGIN]]] [%[[LANES]]], %{{.*}}, %{{.*}} : tensor<180xf32>, vector<16xi32>, vector<16xi1>, vector<16xf32> into vector<16xf32>
// CHECK: vector.transfer_write %{{.*}}, %{{.*}}[%{{.*}}, %c0] {in_bounds = [true]} : vector<16xf32>, tensor<12x16xf32>
func.func @implicit_patches_transposed(%g: tensor<1x4x12xf32>, %x: tensor<3x2x6x5xf32>)
    -> tensor<1x4x18xf32> {
  %p = ube.im2col %x {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>, columns = 2,
                      length = 4 : i64, batch_columns} : tensor<3x2x6x5xf32>
  %y = ube.matmul %g, %p {transpose_rhs = true} : tensor<1x4x12xf32>, tensor<1x18x12xf32>
  return %y : tensor<1x4x18xf32>
}

// -----

// An operand read transposed is gathered from one flat run of each matrix;
// a strided slice (a convolution's phase taps) has none, so it is copied
// into a dense tensor first.
// CHECK-LABEL: func.func @strided_rhs_transposed
// CHECK: %[[S:.*]] = ube.slice %arg1 {{.*}}stride = array<i64: 1, 2>
// CHECK: %[[V:.*]] = tensor.expand_shape %[[S]]
// CHECK: %[[DENSE:.*]] = linalg.copy ins(%[[V]] : tensor<1x4x10xf32>) outs(%{{.*}} : tensor<1x4x10xf32>)
// CHECK: %[[FLAT:.*]] = tensor.collapse_shape %[[DENSE]] {{\[\[}}0], [1, 2]] : tensor<1x4x10xf32> into tensor<1x40xf32>
// CHECK: vector.gather %[[FLAT]]
func.func @strided_rhs_transposed(%a: tensor<3x10xf32>, %x: tensor<4x20xf32>) -> tensor<3x4xf32> {
  %s = ube.slice %x {start = array<i64: 0, 0>, limit = array<i64: 4, 20>, stride = array<i64: 1, 2>}
      : tensor<4x20xf32>
  %y = ube.matmul %a, %s {transpose_rhs = true} : tensor<3x10xf32>, tensor<4x10xf32>
  return %y : tensor<3x4xf32>
}
