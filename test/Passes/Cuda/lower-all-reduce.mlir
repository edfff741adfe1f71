// RUN: ube-opt %s --pass-pipeline='builtin.module(gpu.module(ube-cuda-lower-all-reduce))' | FileCheck %s

// CHECK-LABEL: gpu.func @row_sum
// CHECK-NOT: gpu.all_reduce
// CHECK: gpu.shuffle xor
// CHECK: gpu.barrier
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @row_sum(%x: memref<256xf32>, %out: memref<1xf32>) kernel
        attributes {known_block_size = array<i32: 256, 1, 1>} {
      %tid = gpu.thread_id x
      %v = memref.load %x[%tid] : memref<256xf32>
      %sum = gpu.all_reduce add %v uniform {} : (f32) -> (f32)
      %c0 = arith.constant 0 : index
      memref.store %sum, %out[%c0] : memref<1xf32>
      gpu.return
    }
  }
}
