// RUN: ube-opt %s --ube-cuda-map-to-launches --split-input-file | FileCheck %s

// One thread per iteration of a parallel loop, 256 per block, guarded when
// the iteration count is not a multiple of the block.
// CHECK-LABEL: func.func @elementwise
// CHECK-DAG: %[[GRID:.*]] = arith.constant 4 : index
// CHECK-DAG: %[[BLOCK:.*]] = arith.constant 256 : index
// CHECK: gpu.launch blocks(%[[BX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[GRID]], %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) threads(%[[TX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[BLOCK]]
// CHECK: %[[ID:.*]] = arith.addi
// CHECK: arith.cmpi ult, %[[ID]]
// CHECK: scf.if
// CHECK: memref.store
// CHECK-NOT: scf.parallel
func.func @elementwise(%x: memref<30x30xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c30 = arith.constant 30 : index
  %cst = arith.constant 1.0 : f32
  scf.parallel (%i, %j) = (%c0, %c0) to (%c30, %c30) step (%c1, %c1) {
    memref.store %cst, %x[%i, %j] : memref<30x30xf32>
    scf.reduce
  }
  return
}

// -----

// Long rows: one block per row, a strided private sum, gpu.all_reduce, and
// thread 0 updates the accumulator.
// CHECK-LABEL: func.func @long_rows
// CHECK: gpu.launch
// CHECK: %[[PARTIAL:.*]] = scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[P:.*]] = %{{.*}}) -> (f32)
// CHECK: memref.load %{{.*}} : memref<8x1024xf32>
// CHECK: arith.addf %[[P]], %{{.*}}
// CHECK: %[[TOTAL:.*]] = gpu.all_reduce add %[[PARTIAL]] uniform
// CHECK: scf.if
// CHECK: %[[ACC:.*]] = memref.load %{{.*}} : memref<8xf32>
// CHECK: %[[NEW:.*]] = arith.addf %[[ACC]], %[[TOTAL]]
// CHECK: memref.store %[[NEW]]
func.func @long_rows(%x: memref<8x1024xf32>, %out: memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %c1024 = arith.constant 1024 : index
  scf.parallel (%i) = (%c0) to (%c8) step (%c1) {
    scf.for %k = %c0 to %c1024 step %c1 {
      %v = memref.load %x[%i, %k] : memref<8x1024xf32>
      %acc = memref.load %out[%i] : memref<8xf32>
      %s = arith.addf %v, %acc : f32
      memref.store %s, %out[%i] : memref<8xf32>
    }
    scf.reduce
  }
  return
}

// -----

// Short rows stay one thread per row, the sequential loop inside.
// CHECK-LABEL: func.func @short_rows
// CHECK: gpu.launch
// CHECK: scf.for
// CHECK: arith.maximumf
// CHECK-NOT: gpu.all_reduce
func.func @short_rows(%x: memref<8x16xf32>, %out: memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %c16 = arith.constant 16 : index
  scf.parallel (%i) = (%c0) to (%c8) step (%c1) {
    scf.for %k = %c0 to %c16 step %c1 {
      %v = memref.load %x[%i, %k] : memref<8x16xf32>
      %acc = memref.load %out[%i] : memref<8xf32>
      %s = arith.maximumf %acc, %v : f32
      memref.store %s, %out[%i] : memref<8xf32>
    }
    scf.reduce
  }
  return
}

// -----

// A top-level sequential loop runs in a single-thread launch; a scalar read
// on the host is recomputed inside the kernel that uses it.
// CHECK-LABEL: func.func @serial_and_scalars
// CHECK-NOT: memref.load
// CHECK: gpu.launch
// CHECK: memref.load %{{.*}}[] : memref<f32>
// CHECK: scf.for
func.func @serial_and_scalars(%x: memref<4xf32>, %scale: memref<f32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %s = memref.load %scale[] : memref<f32>
  scf.for %k = %c0 to %c4 step %c1 {
    %v = memref.load %x[%k] : memref<4xf32>
    %m = arith.mulf %v, %s : f32
    memref.store %m, %x[%k] : memref<4xf32>
  }
  return
}
