// RUN: ube-opt %s --ube-lower-unsigned --split-input-file --verify-diagnostics | FileCheck %s

// Wrapping arithmetic keeps its bits: only the types change.
// CHECK-LABEL: func.func @bits
// CHECK-SAME: (%[[X:.*]]: tensor<4xi8>, %[[Y:.*]]: tensor<4xi8>) -> tensor<i8>
// CHECK-NEXT: %[[S:.*]] = ube.add %[[X]], %[[Y]] : tensor<4xi8>, tensor<4xi8>
// CHECK-NEXT: %[[R:.*]] = ube.reduce_sum %[[S]] {{.*}}: tensor<4xi8>
// CHECK-NEXT: return %[[R]] : tensor<i8>
func.func @bits(%x: tensor<4xui8>, %y: tensor<4xui8>) -> tensor<ui8> {
  %s = ube.add %x, %y : tensor<4xui8>, tensor<4xui8>
  %r = ube.reduce_sum %s : tensor<4xui8>
  return %r : tensor<ui8>
}

// -----

// Order: both sides' top bits flipped (+ -128), the signed op, the value
// flipped back.
// CHECK-LABEL: func.func @order
// CHECK: %[[MIN:.*]] = ube.constant dense<-128> : tensor<i8>
// CHECK: %[[FX:.*]] = ube.add %arg0, %[[MIN]]
// CHECK: %[[FY:.*]] = ube.add %arg1, %{{.*}}
// CHECK: %[[LT:.*]] = ube.compare "lt", %[[FX]], %[[FY]] : tensor<4xi8>, tensor<4xi8>
// CHECK: %[[M:.*]] = ube.maximum %{{.*}}, %{{.*}} : tensor<4xi8>, tensor<4xi8>
// CHECK: %[[MB:.*]] = ube.add %[[M]], %{{.*}} : tensor<4xi8>, tensor<i8>
// CHECK: return %[[LT]], %[[MB]]
func.func @order(%x: tensor<4xui8>, %y: tensor<4xui8>) -> (tensor<4xi1>, tensor<4xui8>) {
  %lt = ube.compare "lt", %x, %y : tensor<4xui8>, tensor<4xui8>
  %m = ube.maximum %x, %y : tensor<4xui8>, tensor<4xui8>
  return %lt, %m : tensor<4xi1>, tensor<4xui8>
}

// -----

// Division on the values zero-extended to i32 (sign-extended, + 2^16 where
// negative), the quotient truncated back.
// CHECK-LABEL: func.func @divide
// CHECK: %[[W:.*]] = ube.cast %arg0 : tensor<4xi16> to tensor<4xi32>
// CHECK: ube.constant dense<65536> : tensor<i32>
// CHECK: %[[NEG:.*]] = ube.compare "lt", %arg0
// CHECK: %[[ZX:.*]] = ube.where %[[NEG]]
// CHECK: %[[Q:.*]] = ube.div %[[ZX]], %{{.*}} : tensor<4xi32>, tensor<4xi32>
// CHECK: ube.cast %[[Q]] : tensor<4xi32> to tensor<4xi16>
func.func @divide(%x: tensor<4xui16>, %y: tensor<4xui16>) -> tensor<4xui16> {
  %q = ube.div %x, %y : tensor<4xui16>, tensor<4xui16>
  return %q : tensor<4xui16>
}

// -----

// Casts: u8 to f32 through its zero-extended i32; f32 to u8 through i64.
// CHECK-LABEL: func.func @casts
// CHECK: %[[Z:.*]] = ube.where %{{.*}} : tensor<4xi1>, tensor<4xi32>, tensor<4xi32>
// CHECK: ube.cast %[[Z]] : tensor<4xi32> to tensor<4xf32>
// CHECK: %[[I:.*]] = ube.cast %arg1 : tensor<4xf32> to tensor<4xi64>
// CHECK: ube.cast %[[I]] : tensor<4xi64> to tensor<4xi8>
func.func @casts(%x: tensor<4xui8>, %f: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xui8>) {
  %a = ube.cast %x : tensor<4xui8> to tensor<4xf32>
  %b = ube.cast %f : tensor<4xf32> to tensor<4xui8>
  return %a, %b : tensor<4xf32>, tensor<4xui8>
}

// -----

// Constants keep their bits; abs is the identity.
// CHECK-LABEL: func.func @constant
// CHECK: %[[C:.*]] = ube.constant dense<[-1, 1]> : tensor<2xi8>
// CHECK: ube.mul %arg0, %[[C]]
func.func @constant(%x: tensor<2xui8>) -> tensor<2xui8> {
  %c = ube.constant dense<[255, 1]> : tensor<2xui8>
  %a = ube.abs %x : tensor<2xui8>
  %m = ube.mul %a, %c : tensor<2xui8>, tensor<2xui8>
  return %m : tensor<2xui8>
}

// -----

func.func @clamp_u64(%x: tensor<4xui64>) -> tensor<4xui64> {
  // expected-error@+1 {{'ube.clamp' op on u64 is not supported; cast to i64 or f64 first}}
  %c = ube.clamp %x {min = 1.0 : f64} : tensor<4xui64>
  return %c : tensor<4xui64>
}
