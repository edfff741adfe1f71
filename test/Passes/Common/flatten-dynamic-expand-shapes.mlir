// RUN: ube-opt %s --ube-flatten-dynamic-expand-shapes --split-input-file --verify-diagnostics | FileCheck %s

// [batch·seq, 8] -> [batch, seq, 8]: the buffer viewed at the expanded
// sizes, its strides row-major.
// CHECK-LABEL: func.func @two_symbols
// CHECK-SAME: (%[[X:.*]]: memref<?x8xf32>, %[[B:.*]]: index, %[[S:.*]]: index)
// CHECK: %[[STRIDE:.*]] = arith.muli %c8, %[[S]]
// CHECK: %[[V:.*]] = memref.reinterpret_cast %[[X]] to offset: [0], sizes: [%[[B]], %[[S]], 8], strides: [%[[STRIDE]], 8, 1] : memref<?x8xf32> to memref<?x?x8xf32>
// CHECK: return %[[V]]
func.func @two_symbols(%x: memref<?x8xf32>, %b: index, %s: index) -> memref<?x?x8xf32> {
  %e = memref.expand_shape %x [[0, 1], [2]] output_shape [%b, %s, 8] : memref<?x8xf32> into memref<?x?x8xf32>
  return %e : memref<?x?x8xf32>
}

// -----

// One dynamic size per group: left to expand-strided-metadata.
// CHECK-LABEL: func.func @one_symbol
// CHECK: memref.expand_shape
func.func @one_symbol(%x: memref<?x8xf32>, %b: index) -> memref<?x2x8xf32> {
  %e = memref.expand_shape %x [[0, 1], [2]] output_shape [%b, 2, 8] : memref<?x8xf32> into memref<?x2x8xf32>
  return %e : memref<?x2x8xf32>
}

// -----

func.func @strided(%x: memref<?x8xf32, strided<[16, 1]>>, %b: index, %s: index) -> memref<?x?x8xf32, strided<[?, 16, 1]>> {
  // expected-error @+1 {{cannot lower an expansion of a non-contiguous buffer into a group of several symbolic sizes}}
  %e = memref.expand_shape %x [[0, 1], [2]] output_shape [%b, %s, 8] : memref<?x8xf32, strided<[16, 1]>> into memref<?x?x8xf32, strided<[?, 16, 1]>>
  return %e : memref<?x?x8xf32, strided<[?, 16, 1]>>
}
