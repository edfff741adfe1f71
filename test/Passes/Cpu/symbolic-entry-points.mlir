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

// Functions without symbols, and kernels of static shapes, keep their
// signatures.
// CHECK-LABEL: func.func private @static_kernel(%{{.*}}: memref<4xf32>)
// CHECK-LABEL: func.func @static(%{{.*}}: memref<4xf32>)
// CHECK: call @static_kernel(%{{.*}}) : (memref<4xf32>) -> ()
func.func private @static_kernel(%x: memref<4xf32>) {
  return
}
func.func @static(%x: memref<4xf32>) {
  call @static_kernel(%x) : (memref<4xf32>) -> ()
  return
}

// -----

// A kernel takes each buffer of symbolic shape as a bare pointer followed
// by its dynamic sizes, and views it at its row-major shape; its calls
// pass the buffer's base and sizes.
// CHECK-LABEL: func.func private @kernel
// CHECK-SAME: (%[[A:[^:]*]]: memref<f32>, %[[A0:[^:]*]]: index, %[[A2:[^:]*]]: index,
// CHECK-SAME: %[[W:[^:]*]]: memref<4xf32>, %[[N:[^:]*]]: index, %[[B:[^:]*]]: memref<i32>,
// CHECK-SAME: %[[B0:[^:]*]]: index)
// CHECK: %[[STRIDE:.*]] = arith.muli %[[A2]], %c3 : index
// CHECK: %[[AV:.*]] = memref.reinterpret_cast %[[A]] to offset: [0], sizes: [%[[A0]], 3, %[[A2]]], strides: [%[[STRIDE]], %[[A2]], 1] : memref<f32> to memref<?x3x?xf32>
// CHECK: %[[BV:.*]] = memref.reinterpret_cast %[[B]] to offset: [0], sizes: [%[[B0]]], strides: [1] : memref<i32> to memref<?xi32>
// CHECK: "test.use"(%[[AV]], %[[W]], %[[N]], %[[BV]])
// CHECK-LABEL: func.func @caller
// CHECK-SAME: (%[[X:.*]]: memref<?x3x?xf32>, %[[Y:.*]]: memref<?xi32>, %[[V:.*]]: memref<4xf32>)
// CHECK-DAG: %[[XB:.*]], %{{.*}}, %[[XS:.*]]:3, %{{.*}}:3 = memref.extract_strided_metadata %[[X]]
// CHECK-DAG: %[[YB:.*]], %{{.*}}, %[[YS:.*]], %{{.*}} = memref.extract_strided_metadata %[[Y]]
// CHECK: call @kernel(%[[XB]], %[[XS]]#0, %[[XS]]#2, %[[V]], %c7, %[[YB]], %[[YS]])
func.func private @kernel(%a: memref<?x3x?xf32>, %w: memref<4xf32>, %n: index, %b: memref<?xi32>) {
  "test.use"(%a, %w, %n, %b) : (memref<?x3x?xf32>, memref<4xf32>, index, memref<?xi32>) -> ()
  return
}
func.func @caller(%x: memref<?x3x?xf32>, %y: memref<?xi32>, %v: memref<4xf32>) {
  %c7 = arith.constant 7 : index
  call @kernel(%x, %v, %c7, %y) : (memref<?x3x?xf32>, memref<4xf32>, index, memref<?xi32>) -> ()
  return
}

// -----

// expected-error @+1 {{argument 0 of type 'memref<?xf32, strided<[2]>>' is not a dense buffer of symbolic shape}}
func.func private @strided_kernel(%x: memref<?xf32, strided<[2]>>) {
  return
}

// -----

// expected-error @+1 {{a kernel returns a buffer of symbolic shape}}
func.func private @returning_kernel(%x: memref<?xf32>) -> memref<?xf32> {
  return %x : memref<?xf32>
}

// -----

// expected-error @+1 {{argument 0 of type 'memref<?xf32>' is not a dense buffer whose symbolic sizes 'ube.dims' names}}
func.func @unnamed(%x: memref<?xf32>) attributes {ube.symbols = [#ube.dim<"n">]} {
  return
}
