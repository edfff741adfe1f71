// RUN: ube-opt %s --pass-pipeline="builtin.module(func.func(ube-read-only-arguments),one-shot-bufferize{bufferize-function-boundaries})" | FileCheck %s
// RUN: ube-opt %s --pass-pipeline="builtin.module(one-shot-bufferize{bufferize-function-boundaries})" | FileCheck %s --check-prefix=WRITABLE

// An op whose destination is an argument (as a matmul kernel summed into the
// tensor it is added to) works on a copy: the caller's input stays as it was.
// CHECK-LABEL: func.func @accumulate
// CHECK-SAME: (%[[ACC:[^:]*]]: memref<2x2xf32, {{.*}}>, %[[X:[^:]*]]: memref<2x2xf32, {{.*}}>)
// CHECK: %[[COPY:.*]] = memref.alloc
// CHECK: memref.copy %[[ACC]], %[[COPY]]
// CHECK: linalg.matmul ins(%[[X]], %[[X]] : {{.*}}) outs(%[[COPY]] : {{.*}})
// CHECK: return %[[COPY]]

// Without the pass, bufferization writes into the argument itself.
// WRITABLE-LABEL: func.func @accumulate
// WRITABLE-NOT: memref.copy
// WRITABLE: linalg.matmul ins(%arg1, %arg1 : {{.*}}) outs(%arg0 : {{.*}})
func.func @accumulate(%acc: tensor<2x2xf32>, %x: tensor<2x2xf32>) -> tensor<2x2xf32> {
  %0 = linalg.matmul ins(%x, %x : tensor<2x2xf32>, tensor<2x2xf32>) outs(%acc : tensor<2x2xf32>) -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}
