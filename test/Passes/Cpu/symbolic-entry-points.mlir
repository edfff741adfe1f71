// RUN: ube-opt %s --ube-cpu-symbolic-entry-points --split-input-file --verify-diagnostics --allow-unregistered-dialect | FileCheck %s

// Buffers of symbolic shapes become bare pointers (rank-0 memrefs) viewed
// at their row-major shapes; the symbols' sizes come last, as i64.
// CHECK-LABEL: func.func @main
// CHECK-SAME: (%[[X:.*]]: memref<f32> {ube.name = "x"}, %[[W:.*]]: memref<16x4xf32>,
// CHECK-SAME: %[[Y:.*]]: memref<f32> {ube.name = "y"}, %[[ARENA:.*]]: memref<64xi8>,
// CHECK-SAME: %[[SIZES:.*]]: memref<2xi64>)
// CHECK-DAG: %[[B64:.*]] = memref.load %[[SIZES]][%c0]
// CHECK-DAG: %[[B:.*]] = arith.index_cast %[[B64]] : i64 to index
// CHECK-DAG: %[[S64:.*]] = memref.load %[[SIZES]][%c1]
// CHECK-DAG: %[[S:.*]] = arith.index_cast %[[S64]] : i64 to index
// CHECK: %[[STRIDE:.*]] = arith.muli %c16, %[[S]] : index
// CHECK: %[[XV:.*]] = memref.reinterpret_cast %[[X]] to offset: [0], sizes: [%[[B]], %[[S]], 16], strides: [%[[STRIDE]], 16, 1] : memref<f32> to memref<?x?x16xf32>
// CHECK: %[[YV:.*]] = memref.reinterpret_cast %[[Y]] to offset: [0], sizes: [%[[B]], 4], strides: [4, 1] : memref<f32> to memref<?x4xf32>
// CHECK: "test.use"(%[[XV]], %[[W]], %[[YV]], %[[ARENA]])
func.func @main(%x: memref<?x?x16xf32> {ube.dims = ["batch", "seq"], ube.name = "x"},
                %w: memref<16x4xf32>,
                %y: memref<?x4xf32> {ube.dims = ["batch"], ube.name = "y"},
                %arena: memref<64xi8>)
    attributes {ube.symbols = [#ube.dim<"batch", max = 8>, #ube.dim<"seq">]} {
  "test.use"(%x, %w, %y, %arena) : (memref<?x?x16xf32>, memref<16x4xf32>, memref<?x4xf32>, memref<64xi8>) -> ()
  return
}

// -----

// Functions without symbols, and private ones, keep their signatures.
// CHECK-LABEL: func.func @static(%{{.*}}: memref<4xf32>)
func.func @static(%x: memref<4xf32>) {
  return
}

// -----

// expected-error @+1 {{argument 0 of type 'memref<?xf32>' is not a dense buffer whose symbolic sizes 'ube.dims' names}}
func.func @unnamed(%x: memref<?xf32>) attributes {ube.symbols = [#ube.dim<"n">]} {
  return
}
