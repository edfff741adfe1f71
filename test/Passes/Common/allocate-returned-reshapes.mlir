// RUN: ube-opt %s --pass-pipeline='builtin.module(func.func(ube-allocate-returned-reshapes))' --split-input-file | FileCheck %s

// A kernel's [rows, length] buffer returned as [batch, tokens, length]: the
// buffer is allocated in the returned shape, the kernel writes through its
// collapse, and the allocation itself is returned (so that it becomes the
// caller's output buffer, not a copy). Likewise a collapse.
// CHECK-LABEL: func.func @expanded
// CHECK: %[[OUT:.*]] = memref.alloc() {alignment = 64 : i64} : memref<2x3x4xf32>
// CHECK: %[[ROWS:.*]] = memref.collapse_shape %[[OUT]] {{\[}}[0, 1], [2]] : memref<2x3x4xf32> into memref<6x4xf32>
// CHECK: linalg.fill ins(%{{.*}}) outs(%[[ROWS]] : memref<6x4xf32>)
// CHECK: return %[[OUT]] : memref<2x3x4xf32>
func.func @expanded() -> memref<2x3x4xf32> {
  %cst = arith.constant 1.0 : f32
  %a = memref.alloc() {alignment = 64 : i64} : memref<6x4xf32>
  linalg.fill ins(%cst : f32) outs(%a : memref<6x4xf32>)
  %r = memref.expand_shape %a [[0, 1], [2]] output_shape [2, 3, 4] : memref<6x4xf32> into memref<2x3x4xf32>
  return %r : memref<2x3x4xf32>
}

// CHECK-LABEL: func.func @collapsed
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<24xf32>
// CHECK: %[[VIEW:.*]] = memref.expand_shape %[[OUT]] {{\[}}[0, 1]] output_shape [6, 4] : memref<24xf32> into memref<6x4xf32>
// CHECK: linalg.fill ins(%{{.*}}) outs(%[[VIEW]] : memref<6x4xf32>)
// CHECK: return %[[OUT]] : memref<24xf32>
func.func @collapsed() -> memref<24xf32> {
  %cst = arith.constant 1.0 : f32
  %a = memref.alloc() : memref<6x4xf32>
  linalg.fill ins(%cst : f32) outs(%a : memref<6x4xf32>)
  %r = memref.collapse_shape %a [[0, 1]] : memref<6x4xf32> into memref<24xf32>
  return %r : memref<24xf32>
}

// -----

// Symbolic sizes: an expand_shape's, known before the allocation (a
// depthwise kernel's [N · C, H · W] planes returned as [N, C, H, W]), or
// products of the allocation's for a collapse.
// CHECK-LABEL: func.func @symbolic_expanded
// CHECK-SAME: (%[[N:.*]]: index, %[[H:.*]]: index, %[[W:.*]]: index)
// CHECK: %[[OUT:.*]] = memref.alloc(%[[N]], %[[H]], %[[W]]) {alignment = 64 : i64} : memref<?x8x?x?xf32>
// CHECK: %[[PLANES:.*]] = memref.collapse_shape %[[OUT]] {{\[}}[0, 1], [2, 3]] : memref<?x8x?x?xf32> into memref<?x?xf32>
// CHECK: linalg.fill ins(%{{.*}}) outs(%[[PLANES]] : memref<?x?xf32>)
// CHECK: return %[[OUT]] : memref<?x8x?x?xf32>
func.func @symbolic_expanded(%n: index, %h: index, %w: index) -> memref<?x8x?x?xf32> {
  %cst = arith.constant 1.0 : f32
  %c8 = arith.constant 8 : index
  %rows = arith.muli %n, %c8 : index
  %plane = arith.muli %h, %w : index
  %a = memref.alloc(%rows, %plane) {alignment = 64 : i64} : memref<?x?xf32>
  linalg.fill ins(%cst : f32) outs(%a : memref<?x?xf32>)
  %r = memref.expand_shape %a [[0, 1], [2, 3]] output_shape [%n, 8, %h, %w] : memref<?x?xf32> into memref<?x8x?x?xf32>
  return %r : memref<?x8x?x?xf32>
}

// CHECK-LABEL: func.func @symbolic_collapsed
// CHECK-SAME: (%[[N:.*]]: index)
// CHECK: %[[C4:.*]] = arith.constant 4 : index
// CHECK: %[[LEN:.*]] = arith.muli %[[N]], %[[C4]] : index
// CHECK: %[[OUT:.*]] = memref.alloc(%[[LEN]]) : memref<?xf32>
// CHECK: %[[VIEW:.*]] = memref.expand_shape %[[OUT]] {{\[}}[0, 1]] output_shape [%[[N]], 4] : memref<?xf32> into memref<?x4xf32>
// CHECK: linalg.fill ins(%{{.*}}) outs(%[[VIEW]] : memref<?x4xf32>)
// CHECK: return %[[OUT]] : memref<?xf32>
func.func @symbolic_collapsed(%n: index) -> memref<?xf32> {
  %cst = arith.constant 1.0 : f32
  %a = memref.alloc(%n) : memref<?x4xf32>
  linalg.fill ins(%cst : f32) outs(%a : memref<?x4xf32>)
  %r = memref.collapse_shape %a [[0, 1]] : memref<?x4xf32> into memref<?xf32>
  return %r : memref<?xf32>
}

// -----

// Left alone: a buffer returned both as it is and reshaped, one reshaped
// for two results, and a symbolic one whose sizes are computed after the
// allocation.
// CHECK-LABEL: func.func @left_alone
// CHECK: %[[A:.*]] = memref.alloc() : memref<6x4xf32>
// CHECK: %[[B:.*]] = memref.alloc() : memref<6x4xf32>
// CHECK: %[[RA:.*]] = memref.expand_shape %[[A]]
// CHECK: %[[RB1:.*]] = memref.expand_shape %[[B]]
// CHECK: %[[RB2:.*]] = memref.collapse_shape %[[B]]
// CHECK: %[[RD:.*]] = memref.expand_shape %{{.*}}
// CHECK: return %[[A]], %[[RA]], %[[RB1]], %[[RB2]], %[[RD]]
func.func @left_alone(%n: index) -> (memref<6x4xf32>, memref<2x3x4xf32>, memref<2x3x4xf32>, memref<24xf32>, memref<?x3x4xf32>) {
  %a = memref.alloc() : memref<6x4xf32>
  %b = memref.alloc() : memref<6x4xf32>
  %d = memref.alloc(%n) : memref<?x4xf32>
  %ra = memref.expand_shape %a [[0, 1], [2]] output_shape [2, 3, 4] : memref<6x4xf32> into memref<2x3x4xf32>
  %rb1 = memref.expand_shape %b [[0, 1], [2]] output_shape [2, 3, 4] : memref<6x4xf32> into memref<2x3x4xf32>
  %rb2 = memref.collapse_shape %b [[0, 1]] : memref<6x4xf32> into memref<24xf32>
  %c3 = arith.constant 3 : index
  %m = arith.divui %n, %c3 : index
  %rd = memref.expand_shape %d [[0, 1], [2]] output_shape [%m, 3, 4] : memref<?x4xf32> into memref<?x3x4xf32>
  return %a, %ra, %rb1, %rb2, %rd : memref<6x4xf32>, memref<2x3x4xf32>, memref<2x3x4xf32>, memref<24xf32>, memref<?x3x4xf32>
}
