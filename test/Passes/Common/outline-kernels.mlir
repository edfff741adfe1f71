// RUN: ube-opt %s --ube-outline-kernels | FileCheck %s

// Three ops with regions: the first two differ only in their weights (the
// same layer twice) and share one kernel; the third multiplies by another
// scalar constant, which its kernel holds, so it gets a kernel of its own.
// Tensor constants (weights) and destinations are arguments.
// CHECK-LABEL: func.func private @__ube_layers_kernel0
// CHECK-SAME: (%[[E:.*]]: tensor<4xf32>, %[[W:.*]]: tensor<4xf32>, %[[X:.*]]: tensor<4xf32>) -> tensor<4xf32>
// CHECK-SAME: llvm.linkage = #llvm.linkage<internal>
// CHECK: arith.constant 5.000000e-01 : f32
// CHECK: linalg.generic {{.*}} ins(%[[X]], %[[W]] : {{.*}}) outs(%[[E]] : tensor<4xf32>)
// CHECK-LABEL: func.func private @__ube_layers_kernel1
// CHECK: arith.constant 3.330000e-01 : f32
// CHECK-LABEL: func.func @layers
// CHECK: %[[W0:.*]] = arith.constant dense<[1.0{{.*}}]> : tensor<4xf32>
// CHECK: %[[W1:.*]] = arith.constant dense<[5.0{{.*}}]> : tensor<4xf32>
// CHECK: %[[A:.*]] = call @__ube_layers_kernel0(%{{.*}}, %[[W0]], %arg0)
// CHECK: %[[B:.*]] = call @__ube_layers_kernel0(%{{.*}}, %[[W1]], %[[A]])
// CHECK: %[[C:.*]] = call @__ube_layers_kernel1(%{{.*}}, %[[W1]], %[[B]])
// CHECK: return %[[C]]
#map = affine_map<(d0) -> (d0)>
func.func @layers(%x: tensor<4xf32>) -> tensor<4xf32> {
  %w0 = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %w1 = arith.constant dense<[5.0, 6.0, 7.0, 8.0]> : tensor<4xf32>
  %half = arith.constant 0.5 : f32
  %third = arith.constant 0.333 : f32
  %e0 = tensor.empty() : tensor<4xf32>
  %a = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel"]}
      ins(%x, %w0 : tensor<4xf32>, tensor<4xf32>) outs(%e0 : tensor<4xf32>) {
  ^bb0(%in: f32, %w: f32, %out: f32):
    %m = arith.mulf %in, %w : f32
    %s = arith.mulf %m, %half : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  %e1 = tensor.empty() : tensor<4xf32>
  %b = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel"]}
      ins(%a, %w1 : tensor<4xf32>, tensor<4xf32>) outs(%e1 : tensor<4xf32>) {
  ^bb0(%in: f32, %w: f32, %out: f32):
    %m = arith.mulf %in, %w : f32
    %s = arith.mulf %m, %half : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  %e2 = tensor.empty() : tensor<4xf32>
  %c = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel"]}
      ins(%b, %w1 : tensor<4xf32>, tensor<4xf32>) outs(%e2 : tensor<4xf32>) {
  ^bb0(%in: f32, %w: f32, %out: f32):
    %m = arith.mulf %in, %w : f32
    %s = arith.mulf %m, %third : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  return %c : tensor<4xf32>
}

// A loop writing a slice of %t that is inserted back at the same place: the
// kernel takes %t and returns it, the slice and insertion inside, so the
// write stays in place after bufferization.
// CHECK-LABEL: func.func private @__ube_slices_kernel0
// CHECK-SAME: (%[[X:.*]]: tensor<2x8xf32>, %[[T:.*]]: tensor<4x8xf32>) -> tensor<4x8xf32>
// CHECK: %[[SLICE:.*]] = tensor.extract_slice %[[T]][2, 0] [2, 8] [1, 1]
// CHECK: %[[R:.*]] = scf.forall {{.*}} shared_outs(%{{.*}} = %[[SLICE]])
// CHECK: %[[BACK:.*]] = tensor.insert_slice %[[R]] into %[[T]][2, 0] [2, 8] [1, 1]
// CHECK: return %[[BACK]]
// A slice of one empty tensor inserted into another: the kernel gets one
// empty tensor, slices it and inserts back into it. The views it reads
// through are inside; their source is the argument.
// CHECK-LABEL: func.func private @__ube_slices_kernel1
// CHECK-SAME: (%[[X:.*]]: tensor<2x8xf32>, %[[E:.*]]: tensor<1x2x8xf32>) -> tensor<1x2x8xf32>
// CHECK: %[[EXPANDED:.*]] = tensor.expand_shape %[[X]]
// CHECK: %[[COLLAPSED:.*]] = tensor.collapse_shape %[[EXPANDED]]
// CHECK: %[[PART:.*]] = tensor.extract_slice %[[E]][0, 0, 0] [1, 2, 8] [1, 1, 1]
// CHECK: %[[COPY:.*]] = linalg.copy ins(%[[COLLAPSED]] : tensor<2x8xf32>) outs(%[[PART]] : tensor<2x8xf32>)
// CHECK: %[[WHOLE:.*]] = tensor.insert_slice %[[COPY]] into %[[E]]
// CHECK: return %[[WHOLE]]
// CHECK-LABEL: func.func @slices
// CHECK: %[[BACK:.*]] = call @__ube_slices_kernel0(%arg0, %arg1)
// CHECK: %[[EMPTY:.*]] = tensor.empty() : tensor<1x2x8xf32>
// CHECK: %[[WHOLE:.*]] = call @__ube_slices_kernel1(%arg0, %[[EMPTY]])
// CHECK: tensor.collapse_shape %[[WHOLE]]
func.func @slices(%x: tensor<2x8xf32>, %t: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<2x4x2xf32>) {
  %slice = tensor.extract_slice %t[2, 0] [2, 8] [1, 1] : tensor<4x8xf32> to tensor<2x8xf32>
  %r = scf.forall (%i) in (2) shared_outs(%o = %slice) -> (tensor<2x8xf32>) {
    %row = tensor.extract_slice %x[%i, 0] [1, 8] [1, 1] : tensor<2x8xf32> to tensor<1x8xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %row into %o[%i, 0] [1, 8] [1, 1] : tensor<1x8xf32> into tensor<2x8xf32>
    }
  }
  %back = tensor.insert_slice %r into %t[2, 0] [2, 8] [1, 1] : tensor<2x8xf32> into tensor<4x8xf32>
  %from = tensor.empty() : tensor<1x2x8xf32>
  %into = tensor.empty() : tensor<1x2x8xf32>
  %part = tensor.extract_slice %from[0, 0, 0] [1, 2, 8] [1, 1, 1] : tensor<1x2x8xf32> to tensor<2x8xf32>
  %viewed = tensor.expand_shape %x [[0], [1, 2]] output_shape [2, 4, 2] : tensor<2x8xf32> into tensor<2x4x2xf32>
  %collapsed = tensor.collapse_shape %viewed [[0], [1, 2]] : tensor<2x4x2xf32> into tensor<2x8xf32>
  %copy = linalg.copy ins(%collapsed : tensor<2x8xf32>) outs(%part : tensor<2x8xf32>) -> tensor<2x8xf32>
  %whole = tensor.insert_slice %copy into %into[0, 0, 0] [1, 2, 8] [1, 1, 1] : tensor<2x8xf32> into tensor<1x2x8xf32>
  %flat = tensor.collapse_shape %whole [[0, 1], [2]] : tensor<1x2x8xf32> into tensor<2x8xf32>
  %out = tensor.expand_shape %flat [[0], [1, 2]] output_shape [2, 4, 2] : tensor<2x8xf32> into tensor<2x4x2xf32>
  return %back, %out : tensor<4x8xf32>, tensor<2x4x2xf32>
}

// Written into a slice whose value is also used as is: as an argument the
// slice would be copied at the call, so the op stays.
// CHECK-LABEL: func.func @inline
// CHECK-NOT: call
// CHECK: linalg.copy
func.func @inline(%x: tensor<2x8xf32>, %t: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<2x8xf32>) {
  %slice = tensor.extract_slice %t[2, 0] [2, 8] [1, 1] : tensor<4x8xf32> to tensor<2x8xf32>
  %copy = linalg.copy ins(%x : tensor<2x8xf32>) outs(%slice : tensor<2x8xf32>) -> tensor<2x8xf32>
  %back = tensor.insert_slice %copy into %t[2, 0] [2, 8] [1, 1] : tensor<2x8xf32> into tensor<4x8xf32>
  return %back, %copy : tensor<4x8xf32>, tensor<2x8xf32>
}

// Symbolic sizes: buffers of dynamic shape are arguments like any other
// (--ube-cpu-symbolic-entry-points passes them as pointers and sizes), and
// the empty destination's size stays with the caller.
// CHECK-LABEL: func.func private @__ube_dynamic_kernel0
// CHECK-SAME: (%{{.*}}: tensor<?x4xf32>, %{{.*}}: tensor<?x4xf32>) -> tensor<?x4xf32>
// CHECK: linalg.generic
// CHECK-LABEL: func.func @dynamic
// CHECK: %[[N:.*]] = tensor.dim %arg0
// CHECK: %[[E:.*]] = tensor.empty(%[[N]])
// CHECK: call @__ube_dynamic_kernel0(%[[E]], %arg0)
func.func @dynamic(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x4xf32>
  %e = tensor.empty(%n) : tensor<?x4xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<?x4xf32>) outs(%e : tensor<?x4xf32>) {
  ^bb0(%a: f32, %b: f32):
    %s = arith.addf %a, %a : f32
    linalg.yield %s : f32
  } -> tensor<?x4xf32>
  return %r : tensor<?x4xf32>
}

// An empty tensor used only inside the loop (a task's tile) is the
// kernel's own; the loop's destination stays an argument, allocated by the
// caller.
// CHECK-LABEL: func.func private @__ube_scratch_kernel0
// CHECK-SAME: (%[[X:.*]]: tensor<2x8xf32>, %[[OUT:.*]]: tensor<2x8xf32>)
// CHECK: %[[TILE:.*]] = tensor.empty() : tensor<8xf32>
// CHECK: scf.forall {{.*}} shared_outs(%{{.*}} = %[[OUT]])
// CHECK: linalg.copy {{.*}} outs(%[[TILE]] : tensor<8xf32>)
// CHECK-LABEL: func.func @scratch
// CHECK-NEXT: %[[E:.*]] = tensor.empty() : tensor<2x8xf32>
// CHECK-NEXT: %[[R:.*]] = call @__ube_scratch_kernel0(%arg0, %[[E]])
// CHECK-NEXT: return %[[R]]
func.func @scratch(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %tile = tensor.empty() : tensor<8xf32>
  %e = tensor.empty() : tensor<2x8xf32>
  %r = scf.forall (%i) in (2) shared_outs(%o = %e) -> (tensor<2x8xf32>) {
    %row = tensor.extract_slice %x[%i, 0] [1, 8] [1, 1] : tensor<2x8xf32> to tensor<8xf32>
    %copied = linalg.copy ins(%row : tensor<8xf32>) outs(%tile : tensor<8xf32>) -> tensor<8xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %copied into %o[%i, 0] [1, 8] [1, 1] : tensor<8xf32> into tensor<2x8xf32>
    }
  }
  return %r : tensor<2x8xf32>
}

// A pad of a symbolic batch allocates its result of symbolic shape, which
// no destination holds: it stays in the caller, which sizes the buffer.
// A static pad becomes a kernel.
// CHECK-LABEL: func.func @symbolic_pad
// CHECK-NOT: call
// CHECK: tensor.pad %arg0 low[0, 1] high[0, 1]
// CHECK: call @__ube_symbolic_pad_kernel0(%arg1)
func.func @symbolic_pad(%x: tensor<?x4xf32>, %y: tensor<2x4xf32>) -> (tensor<?x6xf32>, tensor<2x6xf32>) {
  %zero = arith.constant 0.0 : f32
  %p = tensor.pad %x low[0, 1] high[0, 1] {
  ^bb0(%i: index, %j: index):
    tensor.yield %zero : f32
  } : tensor<?x4xf32> to tensor<?x6xf32>
  %q = tensor.pad %y low[0, 1] high[0, 1] {
  ^bb0(%i: index, %j: index):
    tensor.yield %zero : f32
  } : tensor<2x4xf32> to tensor<2x6xf32>
  return %p, %q : tensor<?x6xf32>, tensor<2x6xf32>
}
