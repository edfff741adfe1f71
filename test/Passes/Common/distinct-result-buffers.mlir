// RUN: ube-opt %s --pass-pipeline='builtin.module(func.func(ube-distinct-result-buffers))' | FileCheck %s

// A buffer returned twice gets a copy for its second use; an argument
// returned gets a copy; a buffer returned once stays as it is.
// CHECK-LABEL: func.func @shared
// CHECK: %[[A:.*]] = memref.alloc() : memref<3xf32>
// CHECK: %[[C1:.*]] = memref.alloc() : memref<3xf32>
// CHECK: memref.copy %[[A]], %[[C1]]
// CHECK: %[[C2:.*]] = memref.alloc() : memref<3xf32>
// CHECK: memref.copy %arg0, %[[C2]]
// CHECK: return %[[A]], %[[C1]], %[[C2]], %[[B:.*]] :
func.func @shared(%x: memref<3xf32>) -> (memref<3xf32>, memref<3xf32>, memref<3xf32>, memref<2xf32>) {
  %a = memref.alloc() : memref<3xf32>
  %b = memref.alloc() : memref<2xf32>
  return %a, %a, %x, %b : memref<3xf32>, memref<3xf32>, memref<3xf32>, memref<2xf32>
}
