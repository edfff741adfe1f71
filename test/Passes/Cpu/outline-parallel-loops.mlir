// RUN: ube-opt %s --ube-cpu-outline-parallel-loops --split-input-file | FileCheck %s

// A 2-D forall: one task over the 12 flattened iterations (row-major), its
// captures passed by value, constants cloned into the task.
// CHECK: func.func private @__ube_scale_task0(%[[BEGIN:.*]]: index, %[[END:.*]]: index, %[[IN:.*]]: memref<3x4xf32>, %[[F:.*]]: f32, %[[OUT:.*]]: memref<3x4xf32>)
// CHECK-SAME: attributes {llvm.linkage = #llvm.linkage<internal>}
// CHECK: scf.for %[[I:.*]] = %[[BEGIN]] to %[[END]] step %c1
// CHECK: %[[J:.*]] = arith.remui %[[I]], %c4
// CHECK: %[[ROW:.*]] = arith.divui %[[I]], %c4
// CHECK: %[[X:.*]] = memref.load %[[IN]][%[[ROW]], %[[J]]] : memref<3x4xf32>
// CHECK: %[[Y:.*]] = arith.mulf %[[X]], %[[F]]
// CHECK: memref.store %{{.*}}, %[[OUT]][%[[ROW]], %[[J]]]
// CHECK: func.func private @__ube_scale_dispatch0(index, memref<3x4xf32>, f32, memref<3x4xf32>) attributes {ube.parallel_task = "__ube_scale_task0"}
// CHECK: func.func @scale(%[[A:.*]]: memref<3x4xf32>, %[[B:.*]]: memref<3x4xf32>, %[[S:.*]]: f32)
// CHECK-NOT: scf.forall
// CHECK: call @__ube_scale_dispatch0(%c12, %[[A]], %[[S]], %[[B]])
func.func @scale(%a: memref<3x4xf32>, %b: memref<3x4xf32>, %s: f32) {
  %two = arith.constant 2.0 : f32
  scf.forall (%i, %j) in (3, 4) {
    %x = memref.load %a[%i, %j] : memref<3x4xf32>
    %y = arith.mulf %x, %s : f32
    %z = arith.mulf %y, %two : f32
    memref.store %z, %b[%i, %j] : memref<3x4xf32>
  }
  return
}

// -----

// Strided views of a static shape (a chunk of rows at a dynamic offset, a
// column block) travel as their base buffer plus their dynamic offset, and
// the task rebuilds them.
// CHECK-LABEL: func.func private @__ube_views_task0(
// CHECK-SAME: %{{.*}}: index, %{{.*}}: index, %[[OUT:.*]]: memref<4xf32>, %[[BASE:.*]]: memref<f32>, %[[OFF:.*]]: index)
// CHECK: memref.reinterpret_cast %[[BASE]] to offset: [%[[OFF]]], sizes: [4, 8], strides: [16, 1] : memref<f32> to memref<4x8xf32, strided<[16, 1], offset: ?>>
// CHECK-LABEL: func.func private @__ube_views_task1(
// CHECK-SAME: %{{.*}}: index, %{{.*}}: index, %{{.*}}: memref<4xf32>, %[[BASE2:.*]]: memref<f32>)
// CHECK: memref.reinterpret_cast %[[BASE2]] to offset: [0], sizes: [4, 8], strides: [16, 1] : memref<f32> to memref<4x8xf32, strided<[16, 1]>>
// CHECK-LABEL: func.func @views(
// CHECK: %[[SUB:.*]] = memref.subview
// CHECK: %[[B1:.*]], %[[O1:.*]], %{{.*}}:2, %{{.*}}:2 = memref.extract_strided_metadata %[[SUB]]
// CHECK: call @__ube_views_dispatch0(%c4, %{{.*}}, %[[B1]], %[[O1]])
// CHECK: call @__ube_views_dispatch1(%{{.*}}, %{{.*}}, %{{.*}}) :
func.func @views(%all: memref<64x16xf32>, %row: index, %b: memref<4xf32>,
                 %a: memref<4x8xf32, strided<[16, 1]>>) {
  %chunk = memref.subview %all[%row, 0] [4, 8] [1, 1]
      : memref<64x16xf32> to memref<4x8xf32, strided<[16, 1], offset: ?>>
  scf.forall (%i) in (4) {
    %x = memref.load %chunk[%i, %i] : memref<4x8xf32, strided<[16, 1], offset: ?>>
    memref.store %x, %b[%i] : memref<4xf32>
  }
  scf.forall (%i) in (4) {
    %x = memref.load %a[%i, %i] : memref<4x8xf32, strided<[16, 1]>>
    memref.store %x, %b[%i] : memref<4xf32>
  }
  return
}

// -----

// Symbolic shapes: a buffer of dynamic shape travels as its base pointer,
// sizes and strides; a dynamic bound as a scalar, from which the task
// delinearizes and the call computes the count (3 × n).
// CHECK-LABEL: func.func private @__ube_dynamic_task0(
// CHECK-SAME: %[[BEGIN:.*]]: index, %[[END:.*]]: index, %[[N:.*]]: index, %[[BASE:.*]]: memref<f32>, %[[SIZE:.*]]: index, %[[STRIDE:.*]]: index)
// CHECK: %[[A:.*]] = memref.reinterpret_cast %[[BASE]] to offset: [0], sizes: [3, %[[SIZE]]], strides: [%[[STRIDE]], 1] : memref<f32> to memref<3x?xf32>
// CHECK: scf.for %[[I:.*]] = %[[BEGIN]] to %[[END]]
// CHECK: %[[SPAN:.*]] = arith.subi %[[N]], %c0
// CHECK: %[[TRIP:.*]] = arith.maxsi
// CHECK: %[[J:.*]] = arith.remui %[[I]], %[[TRIP]]
// CHECK: %[[ROW:.*]] = arith.divui %[[I]], %[[TRIP]]
// CHECK: memref.load %[[A]][%[[ROW]], %[[J]]] : memref<3x?xf32>
// CHECK-LABEL: func.func @dynamic(
// CHECK: %[[BASE0:.*]], %{{.*}}, %[[SIZES:.*]]:2, %[[STRIDES:.*]]:2 = memref.extract_strided_metadata %arg0
// CHECK: %[[COUNT:.*]] = arith.muli %c3, %{{.*}}
// CHECK: call @__ube_dynamic_dispatch0(%[[COUNT]], %arg1, %[[BASE0]], %[[SIZES]]#1, %[[STRIDES]]#0)
func.func @dynamic(%a: memref<3x?xf32>, %n: index) {
  scf.forall (%i, %j) in (3, %n) {
    %x = memref.load %a[%i, %j] : memref<3x?xf32>
    memref.store %x, %a[%i, %j] : memref<3x?xf32>
  }
  return
}

// -----

// Left alone: a single iteration.
// CHECK-LABEL: func.func @kept
// CHECK-NOT: call
// CHECK: scf.forall
func.func @kept(%b: memref<4xf32>) {
  scf.forall (%i) in (1) {
    %x = memref.load %b[%i] : memref<4xf32>
    memref.store %x, %b[%i] : memref<4xf32>
  }
  return
}

// -----

// Two layers of the same shape: the second loop is the first one over other
// buffers, so it calls the first dispatch; a loop that differs only in a
// constant (near miss) or in its captures gets a task of its own.
// CHECK-LABEL: func.func private @__ube_layers_task0(
// CHECK: arith.constant 2.0
// CHECK: func.func private @__ube_layers_dispatch0(
// CHECK-NOT: @__ube_layers_task1(
// CHECK: func.func private @__ube_layers_task2(
// CHECK: arith.constant 3.0
// CHECK: func.func private @__ube_layers_dispatch2(
// CHECK: func.func private @__ube_layers_task3(%{{.*}}: index, %{{.*}}: index, %{{.*}}: memref<8xf32>)
// CHECK: func.func private @__ube_layers_dispatch3(
// CHECK-NOT: func.func private @__ube_layers_task
// CHECK-LABEL: func.func @layers(
// CHECK-SAME: %[[A:.*]]: memref<4xf32>, %[[B:.*]]: memref<4xf32>, %[[C:.*]]: memref<4xf32>, %[[D:.*]]: memref<8xf32>)
// CHECK: call @__ube_layers_dispatch0(%c4, %[[A]], %[[B]])
// CHECK: call @__ube_layers_dispatch0(%{{.*}}, %[[B]], %[[C]])
// CHECK: call @__ube_layers_dispatch2(%{{.*}}, %[[C]], %[[A]])
// CHECK: call @__ube_layers_dispatch3(%c8, %[[D]])
func.func @layers(%a: memref<4xf32>, %b: memref<4xf32>, %c: memref<4xf32>, %d: memref<8xf32>) {
  %two = arith.constant 2.0 : f32
  %three = arith.constant 3.0 : f32
  scf.forall (%i) in (4) {
    %x = memref.load %a[%i] : memref<4xf32>
    %y = arith.mulf %x, %two : f32
    memref.store %y, %b[%i] : memref<4xf32>
  }
  scf.forall (%i) in (4) {
    %x = memref.load %b[%i] : memref<4xf32>
    %y = arith.mulf %x, %two : f32
    memref.store %y, %c[%i] : memref<4xf32>
  }
  scf.forall (%i) in (4) {
    %x = memref.load %c[%i] : memref<4xf32>
    %y = arith.mulf %x, %three : f32
    memref.store %y, %a[%i] : memref<4xf32>
  }
  scf.forall (%i) in (8) {
    %x = memref.load %d[%i] : memref<8xf32>
    %y = arith.mulf %x, %two : f32
    memref.store %y, %d[%i] : memref<8xf32>
  }
  return
}
