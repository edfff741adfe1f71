// RUN: ube-opt %s --ube-cpu-specialize-in-place-kernels --split-input-file | FileCheck %s

#id = affine_map<(d0) -> (d0)>

// Two parameters updated in place by one kernel each, of the same body:
// each call tests whether the output buffer is its input's and then calls
// the one copy of the kernel that reads and writes the output's argument
// (the input's dropped); the forward's read of `w` is left alone.
// CHECK-LABEL: func.func private @update(
// CHECK-SAME: %[[W:[a-z0-9]+]]: memref<64xf32>, %[[G:[a-z0-9]+]]: memref<64xf32>, %[[NEW:[a-z0-9]+]]: memref<64xf32>)
// CHECK-NEXT: linalg.generic {{.*}} ins(%[[W]], %[[G]] : {{.*}}) outs(%[[NEW]] :
// CHECK-LABEL: func.func private @update_in_place(
// CHECK-SAME: %[[G2:[a-z0-9]+]]: memref<64xf32>, %[[NEW2:[a-z0-9]+]]: memref<64xf32>)
// CHECK-NEXT: linalg.generic {{.*}} ins(%[[NEW2]], %[[G2]] : {{.*}}) outs(%[[NEW2]] :
// CHECK-LABEL: func.func @step(
// CHECK-SAME: %[[X:[a-z0-9]+]]: memref<64xf32> {ube.name = "x"}, %[[W1:[a-z0-9]+]]: memref<64xf32> {ube.name = "w1"}, %[[W2:[a-z0-9]+]]: memref<64xf32> {ube.name = "w2"}, %[[O1:[a-z0-9]+]]: memref<64xf32> {ube.name = "w1"}, %[[O2:[a-z0-9]+]]: memref<64xf32> {ube.name = "w2"}
// CHECK: call @forward(%[[X]], %[[W1]])
// CHECK: %[[P1:.*]] = memref.extract_aligned_pointer_as_index %[[O1]]
// CHECK: %[[P2:.*]] = memref.extract_aligned_pointer_as_index %[[W1]]
// CHECK: %[[SAME:.*]] = arith.cmpi eq, %[[P1]], %[[P2]]
// CHECK: scf.if %[[SAME]] {
// CHECK-NEXT: call @update_in_place(%[[X]], %[[O1]])
// CHECK-NEXT: } else {
// CHECK-NEXT: call @update(%[[W1]], %[[X]], %[[O1]])
// CHECK: scf.if
// CHECK-NEXT: call @update_in_place(%[[X]], %[[O2]])
// CHECK-NOT: func.func private @update_in_place
func.func private @forward(%x: memref<64xf32>, %w: memref<64xf32>) {
  return
}
func.func private @update(%w: memref<64xf32>, %g: memref<64xf32>, %new: memref<64xf32>) {
  linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]}
      ins(%w, %g : memref<64xf32>, memref<64xf32>) outs(%new : memref<64xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %d = arith.subf %a, %b : f32
    linalg.yield %d : f32
  }
  return
}
func.func @step(%x: memref<64xf32> {ube.name = "x"}, %w1: memref<64xf32> {ube.name = "w1"},
                %w2: memref<64xf32> {ube.name = "w2"}, %o1: memref<64xf32> {ube.name = "w1"},
                %o2: memref<64xf32> {ube.name = "w2"}) attributes {ube.in_place = array<i64: 0, 1, 1, 2>} {
  call @forward(%x, %w1) : (memref<64xf32>, memref<64xf32>) -> ()
  call @update(%w1, %x, %o1) : (memref<64xf32>, memref<64xf32>, memref<64xf32>) -> ()
  call @update(%w2, %x, %o2) : (memref<64xf32>, memref<64xf32>, memref<64xf32>) -> ()
  return
}

// -----

// Without ube.in_place, or when a call passes only one of a pair's
// buffers, nothing changes.
// CHECK-LABEL: func.func @no_pairs
// CHECK-NOT: scf.if
// CHECK: call @kernel(%arg0, %arg1)
// CHECK-LABEL: func.func @one_side
// CHECK-NOT: scf.if
// CHECK: call @kernel(%arg0, %arg2)
// CHECK-NOT: _in_place
func.func private @kernel(%a: memref<4xf32>, %b: memref<4xf32>) {
  return
}
func.func @no_pairs(%w: memref<4xf32> {ube.name = "w"}, %o: memref<4xf32> {ube.name = "w"}) {
  call @kernel(%w, %o) : (memref<4xf32>, memref<4xf32>) -> ()
  return
}
func.func @one_side(%x: memref<4xf32> {ube.name = "x"}, %w: memref<4xf32> {ube.name = "w"},
                    %o: memref<4xf32> {ube.name = "w"}) attributes {ube.in_place = array<i64: 0, 1>} {
  call @kernel(%x, %o) : (memref<4xf32>, memref<4xf32>) -> ()
  return
}
