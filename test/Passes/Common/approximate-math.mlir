// RUN: ube-opt %s --ube-approximate-math | FileCheck %s

// CHECK-LABEL: func.func @transcendental
// CHECK-NOT: math.exp
// CHECK-NOT: math.log
// CHECK-NOT: math.tanh
// CHECK-NOT: math.erf
// CHECK: arith.mulf
// CHECK: return
func.func @transcendental(%x: f32) -> f32 {
  %0 = math.exp %x : f32
  %1 = math.log %0 : f32
  %2 = math.tanh %1 : f32
  %3 = math.erf %2 : f32
  return %3 : f32
}

// Other math ops are left to LLVM.
// CHECK-LABEL: func.func @others
// CHECK: math.sqrt
func.func @others(%x: f32) -> f32 {
  %0 = math.sqrt %x : f32
  return %0 : f32
}
