// RUN: ube-opt %s --pass-pipeline='builtin.module(gpu.module(ube-cuda-align-workgroup-memory))' | FileCheck %s
// RUN: ube-opt %s --pass-pipeline='builtin.module(gpu.module(ube-cuda-align-workgroup-memory{alignment=64}))' | FileCheck %s --check-prefix=WIDE
// RUN: not ube-opt %s --pass-pipeline='builtin.module(gpu.module(ube-cuda-align-workgroup-memory{alignment=12}))' 2>&1 | FileCheck %s --check-prefix=BAD

// Every workgroup buffer gets at least the alignment; a larger one stays.
// CHECK: workgroup(%{{.*}} : memref<8x132xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<4xf32, #gpu.address_space<workgroup>> {llvm.align = 32 : i64})
// WIDE: workgroup(%{{.*}} : memref<8x132xf32, #gpu.address_space<workgroup>> {llvm.align = 64 : i64}, %{{.*}} : memref<4xf32, #gpu.address_space<workgroup>> {llvm.align = 64 : i64})
// BAD: error: ube-cuda-align-workgroup-memory: alignment must be a power of two
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @k(%out: memref<4xf32>) workgroup(%a : memref<8x132xf32, #gpu.address_space<workgroup>>, %b : memref<4xf32, #gpu.address_space<workgroup>> {llvm.align = 32 : i64}) kernel {
      gpu.return
    }
  }
}
