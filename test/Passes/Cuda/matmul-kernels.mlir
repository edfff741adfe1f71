// RUN: ube-opt %s --ube-cuda-matmul-kernels --split-input-file | FileCheck %s
// RUN: ube-opt %s --ube-cuda-matmul-kernels="min-large-tile-blocks=1" --split-input-file | FileCheck %s --check-prefix=LARGE

#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs = affine_map<(m, n, k) -> (k, n)>
#out = affine_map<(m, n, k) -> (m, n)>

// A ragged matmul (130 x 70, k = 20): small tiles (64 x 64, 64 threads) as
// 128-wide ones would give too few blocks; grid x over n, y over m. Two
// 16-byte-aligned k-major buffers per side, a prologue slice before the k
// loop, 64 accumulators and the buffer index carried through it, one barrier
// per slice, and edges: clamped loads replaced by zero, guarded stores.
// CHECK-LABEL: func.func @ragged
// CHECK-DAG: %[[C2:.*]] = arith.constant 2 : index
// CHECK-DAG: %[[C3:.*]] = arith.constant 3 : index
// CHECK-DAG: %[[C64:.*]] = arith.constant 64 : index
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}} = %[[C2]], {{.*}} = %[[C3]], {{.*}}) threads({{.*}}) in ({{.*}} = %[[C64]], {{.*}}) workgroup(%[[A:.*]] : memref<2x8x68xf32, #gpu.address_space<workgroup>>, %[[B:.*]] : memref<2x8x68xf32, #gpu.address_space<workgroup>>)
// CHECK: arith.minui
// CHECK: memref.load %arg0
// CHECK: arith.select
// CHECK: memref.store {{.*}}, %[[A]]
// CHECK: gpu.barrier
// CHECK: scf.for {{.*}} iter_args(
// CHECK: memref.load %arg0
// CHECK: memref.load %arg1
// CHECK: vector.load %[[A]]{{.*}} {alignment = 16 : i64} : memref<2x8x68xf32, #gpu.address_space<workgroup>>, vector<4xf32>
// CHECK: vector.load %[[B]]
// CHECK-COUNT-64: math.fma
// CHECK: arith.subi
// CHECK: gpu.barrier
// CHECK: scf.yield
// CHECK: scf.if
// CHECK: memref.load %arg2
// CHECK: arith.addf
// CHECK: memref.store {{.*}}, %arg2
// CHECK-NOT: linalg.generic
// LARGE-LABEL: func.func @ragged
// LARGE: threads({{.*}}) in ({{.*}} = %c256
// LARGE-SAME: memref<2x8x132xf32, #gpu.address_space<workgroup>>
func.func @ragged(%a: memref<130x20xf32>, %b: memref<20x70xf32>, %c: memref<130x70xf32>) {
  linalg.generic {indexing_maps = [#lhs, #rhs, #out],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %b : memref<130x20xf32>, memref<20x70xf32>) outs(%c : memref<130x70xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// Multiples of the tile need no edge checks.
// CHECK-LABEL: func.func @aligned
// CHECK: gpu.launch
// CHECK-NOT: arith.select
// CHECK-NOT: scf.if
// CHECK: return
func.func @aligned(%a: memref<128x64xf32>, %b: memref<64x128xf32>, %c: memref<128x128xf32>) {
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (k, n)>,
                                   affine_map<(m, n, k) -> (m, n)>],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %b : memref<128x64xf32>, memref<64x128xf32>) outs(%c : memref<128x128xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// Batched, the rhs broadcast over the first batch dimension (omitted) and the
// second (index 0), both operands transposed; the batch goes to grid z
// (3 x 2 = 6) and is split back with the last dimension fastest. A scalar
// input is read once; the prologue (scale the lhs, exp the rhs) runs as the
// slices are staged.
// CHECK-LABEL: func.func @batched_prologue
// CHECK-DAG: %[[C6:.*]] = arith.constant 6 : index
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}}, {{.*}}, {{.*}} = %[[C6]])
// CHECK: arith.remui
// CHECK: arith.divui
// CHECK: %[[SCALE:.*]] = memref.load %arg1[]
// CHECK: memref.load %arg0
// CHECK: arith.mulf {{.*}}, %[[SCALE]]
// CHECK: memref.load %arg2[%c0
// CHECK: math.exp
// CHECK: scf.for
// CHECK-NOT: linalg.generic
func.func @batched_prologue(%a: memref<3x2x40x30xf32>, %scale: memref<f32>, %b: memref<1x50x40xf32>,
                            %c: memref<3x2x30x50xf32>) {
  linalg.generic {indexing_maps = [affine_map<(b0, b1, m, n, k) -> (b0, b1, k, m)>,
                                   affine_map<(b0, b1, m, n, k) -> ()>,
                                   affine_map<(b0, b1, m, n, k) -> (0, n, k)>,
                                   affine_map<(b0, b1, m, n, k) -> (b0, b1, m, n)>],
                  iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%a, %scale, %b : memref<3x2x40x30xf32>, memref<f32>, memref<1x50x40xf32>)
      outs(%c : memref<3x2x30x50xf32>) {
  ^bb0(%x: f32, %s: f32, %y: f32, %acc: f32):
    %xs = arith.mulf %x, %s : f32
    %ye = math.exp %y : f32
    %p = arith.mulf %xs, %ye : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  return
}

// -----

// Near misses stay linalg: integers, a max-plus body, a factor computed from
// both operands, two reductions.
// CHECK-LABEL: func.func @near_misses
// CHECK-NOT: gpu.launch
// CHECK-COUNT-4: linalg.generic
func.func @near_misses(%a: memref<8x8xf32>, %b: memref<8x8xf32>, %c: memref<8x8xf32>,
                       %ia: memref<8x8xi32>, %ic: memref<8x8xi32>, %v: memref<8xf32>) {
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (k, n)>,
                                   affine_map<(m, n, k) -> (m, n)>],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%ia, %ia : memref<8x8xi32>, memref<8x8xi32>) outs(%ic : memref<8x8xi32>) {
  ^bb0(%x: i32, %y: i32, %acc: i32):
    %p = arith.muli %x, %y : i32
    %s = arith.addi %acc, %p : i32
    linalg.yield %s : i32
  }
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (k, n)>,
                                   affine_map<(m, n, k) -> (m, n)>],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %b : memref<8x8xf32>, memref<8x8xf32>) outs(%c : memref<8x8xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.addf %x, %y : f32
    %s = arith.maximumf %acc, %p : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (k, n)>,
                                   affine_map<(m, n, k) -> (m, n)>],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %b : memref<8x8xf32>, memref<8x8xf32>) outs(%c : memref<8x8xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %xy = arith.addf %x, %y : f32
    %p = arith.mulf %xy, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [affine_map<(m, k, l) -> (m, k)>, affine_map<(m, k, l) -> (k, l)>,
                                   affine_map<(m, k, l) -> (m)>],
                  iterator_types = ["parallel", "reduction", "reduction"]}
      ins(%a, %b : memref<8x8xf32>, memref<8x8xf32>) outs(%v : memref<8xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// Symbolic sizes (a batch of b, m = seq rows, n = seq columns, k = 32, as
// q·kᵀ over a symbolic sequence): small tiles; the grid is ceil(n / 64) x
// ceil(m / 64) x b, computed on the host from the operands' sizes; in the
// kernel every edge is guarded against the sizes read from the descriptors.
// CHECK-LABEL: func.func @symbolic
// CHECK-SAME: (%[[A:.*]]: memref<?x?x32xf32>, %[[B:.*]]: memref<?x32x?xf32>, %[[C:.*]]: memref<?x?x?xf32>)
// CHECK-DAG: %[[N:.*]] = memref.dim %[[B]], %c2
// CHECK-DAG: %[[X:.*]] = arith.ceildivui %[[N]], %c64
// CHECK-DAG: %[[M:.*]] = memref.dim %[[A]], %c1
// CHECK-DAG: %[[Y:.*]] = arith.ceildivui %[[M]], %c64
// CHECK-DAG: %[[Z:.*]] = memref.dim %[[A]], %c0
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}} = %[[X]], {{.*}} = %[[Y]], {{.*}} = %[[Z]]) threads({{.*}}) in ({{.*}} = %c64
// CHECK: memref.dim %[[A]]
// CHECK: arith.cmpi ult
// CHECK: arith.select
// CHECK: scf.for
// CHECK-COUNT-64: math.fma
// CHECK: scf.if
// CHECK-NOT: linalg.generic
func.func @symbolic(%a: memref<?x?x32xf32>, %b: memref<?x32x?xf32>, %c: memref<?x?x?xf32>) {
  linalg.generic {indexing_maps = [affine_map<(b, m, n, k) -> (b, m, k)>,
                                   affine_map<(b, m, n, k) -> (b, k, n)>,
                                   affine_map<(b, m, n, k) -> (b, m, n)>],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%a, %b : memref<?x?x32xf32>, memref<?x32x?xf32>) outs(%c : memref<?x?x?xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}
