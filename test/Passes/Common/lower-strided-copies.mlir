// RUN: ube-opt %s --ube-lower-strided-copies | FileCheck %s

// CHECK-LABEL: func.func @strided
// CHECK: linalg.copy ins(%{{.*}} : memref<2x2xf32, strided<[4, 2], offset: 1>>) outs(%{{.*}} : memref<2x2xf32>)
// CHECK-NOT: memref.copy
func.func @strided(%src: memref<2x2xf32, strided<[4, 2], offset: 1>>, %dst: memref<2x2xf32>) {
  memref.copy %src, %dst : memref<2x2xf32, strided<[4, 2], offset: 1>> to memref<2x2xf32>
  return
}

// Contiguous copies stay memref.copy (they become llvm.memcpy).
// CHECK-LABEL: func.func @contiguous
// CHECK: memref.copy
func.func @contiguous(%src: memref<2x2xf32>, %dst: memref<2x2xf32>) {
  memref.copy %src, %dst : memref<2x2xf32> to memref<2x2xf32>
  return
}
