// RUN: ube-opt %s --ube-approximate-math --ube-math-to-libm | FileCheck %s

// f64 erf has no approximation and no LLVM intrinsic: a libm call, one per
// vector lane. Other math ops stay for LLVM.
// CHECK-DAG: func.func private @erf(f64) -> f64
// CHECK-LABEL: func.func @f64_erf
// CHECK-COUNT-2: call @erf
// CHECK: math.sqrt
// CHECK-NOT: math.erf
func.func @f64_erf(%x: vector<2xf64>) -> vector<2xf64> {
  %0 = math.erf %x : vector<2xf64>
  %1 = math.sqrt %0 : vector<2xf64>
  return %1 : vector<2xf64>
}

// f32 erf was approximated before: nothing to call.
// CHECK-LABEL: func.func @f32_erf
// CHECK-NOT: call
func.func @f32_erf(%x: f32) -> f32 {
  %0 = math.erf %x : f32
  return %0 : f32
}
