// RUN: ube-opt %s --ube-cpu-parallelize-linalg --canonicalize | FileCheck %s
// RUN: ube-opt %s --ube-cpu-parallelize-linalg="min-work=1 min-tasks=4 max-tasks=8" --canonicalize | FileCheck %s --check-prefix=SMALL

// Elementwise 8x128x64: tile 1 along d0 (8 tasks), then d1 split into
// 256 / 8 = 32 parts of 4: 256 tasks writing disjoint slices.
// CHECK-LABEL: func.func @ops
// CHECK: scf.forall (%{{.*}}, %{{.*}}) = (0, 0) to (8, 128) step (1, 4) shared_outs(%{{.*}}) -> (tensor<8x128x64xf32>)
// CHECK: linalg.generic {{.*}} ins(%{{.*}} : tensor<1x4x64xf32>) outs(%{{.*}} : tensor<1x4x64xf32>)
// CHECK: tensor.parallel_insert_slice
// A row sum: the same split of the parallel loops; the reduction loop stays whole.
// The fill (1024 iterations) is below min-work and stays whole.
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<8x128xf32>)
// CHECK: scf.forall (%{{.*}}, %{{.*}}) = (0, 0) to (8, 128) step (1, 4) shared_outs(%{{.*}}) -> (tensor<8x128xf32>)
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]{{.*}} ins(%{{.*}} : tensor<1x4x64xf32>) outs(%{{.*}} : tensor<1x4xf32>)
// Two long rows: d0 gives 2 tasks, d1 is split in 128 parts of 128.
// CHECK: scf.forall (%{{.*}}, %{{.*}}) = (0, 0) to (2, 16384) step (1, 128) shared_outs(%{{.*}}) -> (tensor<2x16384xf32>)
// 16 iterations: whole.
// CHECK: linalg.generic {{.*}} ins(%{{.*}} : tensor<4x4xf32>) outs(%{{.*}} : tensor<4x4xf32>)
// CHECK-NOT: scf.forall

// With min-tasks 4 and max-tasks 8 even the 4x4 op splits: 4 rows of 1.
// SMALL: scf.forall (%{{.*}}) in (4) shared_outs(%{{.*}}) -> (tensor<4x4xf32>)
#id = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#row = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @ops(%x: tensor<8x128x64xf32>, %s: tensor<2x16384xf32>, %small: tensor<4x4xf32>) -> (tensor<8x128x64xf32>, tensor<8x128xf32>, tensor<2x16384xf32>, tensor<4x4xf32>) {
  %e = tensor.empty() : tensor<8x128x64xf32>
  %exp = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel"]} ins(%x : tensor<8x128x64xf32>) outs(%e : tensor<8x128x64xf32>) {
  ^bb0(%in: f32, %o: f32):
    %r = math.exp %in : f32
    linalg.yield %r : f32
  } -> tensor<8x128x64xf32>
  %z = arith.constant 0.0 : f32
  %e2 = tensor.empty() : tensor<8x128xf32>
  %init = linalg.fill ins(%z : f32) outs(%e2 : tensor<8x128xf32>) -> tensor<8x128xf32>
  %sum = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x : tensor<8x128x64xf32>) outs(%init : tensor<8x128xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %r = arith.addf %in, %acc : f32
    linalg.yield %r : f32
  } -> tensor<8x128xf32>
  %e3 = tensor.empty() : tensor<2x16384xf32>
  %neg = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%s : tensor<2x16384xf32>) outs(%e3 : tensor<2x16384xf32>) {
  ^bb0(%in: f32, %o: f32):
    %r = arith.negf %in : f32
    linalg.yield %r : f32
  } -> tensor<2x16384xf32>
  %e4 = tensor.empty() : tensor<4x4xf32>
  %tiny = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%small : tensor<4x4xf32>) outs(%e4 : tensor<4x4xf32>) {
  ^bb0(%in: f32, %o: f32):
    %r = arith.negf %in : f32
    linalg.yield %r : f32
  } -> tensor<4x4xf32>
  return %exp, %sum, %neg, %tiny : tensor<8x128x64xf32>, tensor<8x128xf32>, tensor<2x16384xf32>, tensor<4x4xf32>
}

// -----

// A symbolic loop range: the same split computed at run time. With n rows
// of 64: rows take one task each while n ≤ max-tasks (256), else 256 parts;
// the columns are split only while fewer than min-tasks (32) tasks, and
// nothing is split below min-work (16384) iterations.
// CHECK-LABEL: func.func @symbolic
// CHECK: tensor.empty
// CHECK: %[[N:.*]] = tensor.dim %arg0, %c0
// CHECK: %[[WORK:.*]] = arith.muli %[[N]], %c64
// CHECK: %[[ENOUGH:.*]] = arith.cmpi uge, %[[WORK]], %c16384
// CHECK: %[[WHOLE:.*]] = arith.cmpi ult, %[[N]], %c257
// CHECK: %[[ROW_STEP:.*]] = arith.ceildivui %[[N]], %{{.*}}
// CHECK: %[[COLUMN_STEP:.*]] = arith.ceildivui %c64, %{{.*}}
// CHECK: scf.forall (%{{.*}}, %{{.*}}) = (0, 0) to (%{{.*}}, 64) step (%[[ROW_STEP]], %[[COLUMN_STEP]])
// CHECK: math.exp
#id2 = affine_map<(d0, d1) -> (d0, d1)>
#per_row = affine_map<(d0, d1) -> (d0)>
func.func @symbolic(%x: tensor<?x64xf32>, %s: tensor<?xf32>) -> tensor<?x64xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x64xf32>
  %e = tensor.empty(%n) : tensor<?x64xf32>
  %y = linalg.generic {indexing_maps = [#id2, #per_row, #id2], iterator_types = ["parallel", "parallel"]} ins(%x, %s : tensor<?x64xf32>, tensor<?xf32>) outs(%e : tensor<?x64xf32>) {
  ^bb0(%in: f32, %scale: f32, %o: f32):
    %m = arith.mulf %in, %scale : f32
    %r = math.exp %m : f32
    linalg.yield %r : f32
  } -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Elementwise over symbolic planes: the trailing loops that every operand
// reads contiguously or not at all become one ([N, C, H, W] with a
// per-channel operand: [N, C, H·W], the operand [1, C, 1, 1] read as [C]),
// so that the inner loop is a whole plane, then tiled as above. A returned
// result keeps its loops (the reshape back would be copied into the
// output).
// CHECK-LABEL: func.func @symbolic_planes
// CHECK-DAG: tensor.collapse_shape %arg0 {{\[\[}}0], [1], [2, 3]] : tensor<?x4x?x?xf32> into tensor<?x4x?xf32>
// CHECK-DAG: tensor.collapse_shape %arg1 {{\[\[}}0, 1, 2, 3]] : tensor<1x4x1x1xf32> into tensor<4xf32>
// CHECK: scf.forall
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #{{.*}}, #{{.*}}], iterator_types = ["parallel", "parallel", "parallel"]}
// CHECK-SAME: ins(%{{.*}}, %{{.*}} : tensor<?x?x?xf32>, tensor<?xf32>)
// CHECK: tensor.expand_shape %{{.*}} {{\[\[}}0], [1], [2, 3]] output_shape
// CHECK: scf.forall
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "parallel"]
// CHECK: math.exp
#nchw4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#perchannel = affine_map<(d0, d1, d2, d3) -> (0, d1, 0, 0)>
func.func @symbolic_planes(%x: tensor<?x4x?x?xf32>, %g: tensor<1x4x1x1xf32>) -> tensor<?x4x?x?xf32> {
  %c0 = arith.constant 0 : index
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %n = tensor.dim %x, %c0 : tensor<?x4x?x?xf32>
  %h = tensor.dim %x, %c2 : tensor<?x4x?x?xf32>
  %w = tensor.dim %x, %c3 : tensor<?x4x?x?xf32>
  %e = tensor.empty(%n, %h, %w) : tensor<?x4x?x?xf32>
  %y = linalg.generic {indexing_maps = [#nchw4, #perchannel, #nchw4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%x, %g : tensor<?x4x?x?xf32>, tensor<1x4x1x1xf32>) outs(%e : tensor<?x4x?x?xf32>) {
  ^bb0(%in: f32, %scale: f32, %o: f32):
    %r = arith.mulf %in, %scale : f32
    linalg.yield %r : f32
  } -> tensor<?x4x?x?xf32>
  %e2 = tensor.empty(%n, %h, %w) : tensor<?x4x?x?xf32>
  %z = linalg.generic {indexing_maps = [#nchw4, #nchw4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%y : tensor<?x4x?x?xf32>) outs(%e2 : tensor<?x4x?x?xf32>) {
  ^bb0(%in: f32, %o: f32):
    %r = math.exp %in : f32
    linalg.yield %r : f32
  } -> tensor<?x4x?x?xf32>
  return %z : tensor<?x4x?x?xf32>
}

// -----

// Batch norm's per-channel sums over [N, C, H, W]: the batch is a reduction
// loop outside the channels'. The channels are tiled past it (32 tasks of
// one channel), each task summing its channel over every image whole.
// CHECK-LABEL: func.func @channel_sums
// CHECK: scf.forall (%{{.*}}) in (32) shared_outs(%{{.*}}) -> (tensor<32xf32>)
// CHECK: linalg.generic {{.*}} iterator_types = ["reduction", "parallel", "reduction", "reduction"]{{.*}} ins(%{{.*}} : tensor<8x1x28x28xf32>) outs(%{{.*}} : tensor<1xf32>)
#nchw = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#channel = affine_map<(d0, d1, d2, d3) -> (d1)>
func.func @channel_sums(%x: tensor<8x32x28x28xf32>, %init: tensor<32xf32>) -> tensor<32xf32> {
  %sum = linalg.generic {indexing_maps = [#nchw, #channel], iterator_types = ["reduction", "parallel", "reduction", "reduction"]} ins(%x : tensor<8x32x28x28xf32>) outs(%init : tensor<32xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %r = arith.addf %in, %acc : f32
    linalg.yield %r : f32
  } -> tensor<32xf32>
  return %sum : tensor<32xf32>
}

// -----

// The same with a symbolic batch: the channels' split computed at run
// time, the reduction loops' tile size 0 (whole).
// CHECK-LABEL: func.func @symbolic_channel_sums
// CHECK: scf.forall (%{{.*}}) = (0) to (32) step (%{{.*}})
// CHECK: iterator_types = ["reduction", "parallel", "reduction", "reduction"]
func.func @symbolic_channel_sums(%x: tensor<?x32x28x28xf32>, %init: tensor<32xf32>) -> tensor<32xf32> {
  %sum = linalg.generic {indexing_maps = [#nchw, #channel], iterator_types = ["reduction", "parallel", "reduction", "reduction"]} ins(%x : tensor<?x32x28x28xf32>) outs(%init : tensor<32xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %r = arith.addf %in, %acc : f32
    linalg.yield %r : f32
  } -> tensor<32xf32>
  return %sum : tensor<32xf32>
}
