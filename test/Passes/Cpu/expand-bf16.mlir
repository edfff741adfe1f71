// RUN: ube-opt %s --ube-cpu-expand-bf16 | FileCheck %s

// Arithmetic on bf16 in f32: the operand widened by a shift of its bits,
// the product rounded back to nearest even on the integer bits (NaN: the
// quiet 0x7FC0); a vector truncation the same, lane by lane. No bf16
// arithmetic or truncf is left for LLVM, which would call __truncsfbf2.
// CHECK-LABEL: func.func @bf16
// CHECK-NOT: arith.truncf
// CHECK: %[[BITS:.*]] = arith.bitcast %arg0 : bf16 to i16
// CHECK: %[[WIDE:.*]] = arith.extui %[[BITS]] : i16 to i32
// CHECK: %[[SHIFTED:.*]] = arith.shli %[[WIDE]], %c16_i32 : i32
// CHECK: %[[X:.*]] = arith.bitcast %[[SHIFTED]] : i32 to f32
// CHECK: %[[P:.*]] = arith.mulf %[[X]], %[[X]] : f32
// CHECK: %[[NAN:.*]] = arith.cmpf une, %[[P]], %[[P]] : f32
// CHECK: %[[PBITS:.*]] = arith.bitcast %[[P]] : f32 to i32
// CHECK: %[[ODD:.*]] = arith.andi
// CHECK: %[[BIAS:.*]] = arith.addi %[[ODD]], %c32767_i32
// CHECK: %[[ROUNDED:.*]] = arith.addi %[[PBITS]], %[[BIAS]]
// CHECK: %[[HIGH:.*]] = arith.shrui %[[ROUNDED]], %c16_i32
// CHECK: %[[H16:.*]] = arith.trunci %[[HIGH]] : i32 to i16
// CHECK: %[[R:.*]] = arith.select %[[NAN]], %c32704_i16, %[[H16]] : i16
// CHECK: arith.bitcast %[[R]] : i16 to bf16
// CHECK: arith.bitcast %arg1 : vector<8xf32> to vector<8xi32>
// CHECK: arith.select %{{.*}} : vector<8xi1>, vector<8xi16>
// CHECK: arith.bitcast %{{.*}} : vector<8xi16> to vector<8xbf16>
// CHECK-NOT: arith.truncf
func.func @bf16(%x: bf16, %v: vector<8xf32>) -> (bf16, vector<8xbf16>) {
  %y = arith.mulf %x, %x : bf16
  %t = arith.truncf %v : vector<8xf32> to vector<8xbf16>
  return %y, %t : bf16, vector<8xbf16>
}
