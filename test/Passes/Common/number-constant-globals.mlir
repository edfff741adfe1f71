// RUN: ube-opt %s --ube-number-constant-globals | FileCheck %s

// Bufferization named these in the order it met the functions; they are
// renamed and moved in the order of their first use in the module. Globals
// that are not private constants keep their names and places.
// CHECK: memref.global "private" constant @__ube_constant_0 : memref<2xf32> = dense<2.0
// CHECK-NEXT: memref.global "private" constant @__ube_constant_1 : memref<2xf32> = dense<1.0
// CHECK: memref.global @state
// CHECK-LABEL: func.func @first
// CHECK: memref.get_global @__ube_constant_0
// CHECK: memref.get_global @state
// CHECK-LABEL: func.func @second
// CHECK: memref.get_global @__ube_constant_1
// CHECK: memref.get_global @__ube_constant_0
memref.global "private" constant @__constant_2xf32 : memref<2xf32> = dense<1.0>
memref.global "private" constant @__constant_2xf32_0 : memref<2xf32> = dense<2.0>
memref.global @state : memref<2xf32> = dense<0.0>
func.func @first() -> (memref<2xf32>, memref<2xf32>) {
  %a = memref.get_global @__constant_2xf32_0 : memref<2xf32>
  %s = memref.get_global @state : memref<2xf32>
  return %a, %s : memref<2xf32>, memref<2xf32>
}
func.func @second() -> (memref<2xf32>, memref<2xf32>) {
  %b = memref.get_global @__constant_2xf32 : memref<2xf32>
  %a = memref.get_global @__constant_2xf32_0 : memref<2xf32>
  return %b, %a : memref<2xf32>, memref<2xf32>
}
