// RUN: ube-opt %s --ube-cpu-plan-memory --split-input-file | FileCheck %s
// RUN: ube-opt %s --ube-cpu-plan-memory=print=true --split-input-file | FileCheck %s --check-prefix=PLAN

// Three temporaries: t0 lives over ops 0-4 (through the expand_shape view),
// t1 over 2-8, t2 over 6-10. t0 and t2 never live together and share offset
// 0; t1 goes after them. The arena (128 bytes, not 192) becomes a trailing
// argument; allocations become views of it and their deallocations go.
// PLAN: memory plan for @plan: arena 128 bytes (0.00 MiB) for 3 buffers of 192 bytes (0.00 MiB) in all
// PLAN-NEXT: offset bytes live buffer
// PLAN-NEXT: 0 64 [0, 4] memref<16xf32>
// PLAN-NEXT: 0 64 [6, 10] memref<16xf32>
// PLAN-NEXT: 64 64 [2, 8] memref<4x4xf32>
// CHECK-LABEL: func.func @plan
// CHECK-SAME: (%[[A:.*]]: memref<16xf32>, %[[OUT:.*]]: memref<16xf32>, %[[ARENA:.*]]: memref<128xi8>)
// CHECK-SAME: attributes {ube.arena_bytes = 128 : i64}
// CHECK: %[[T0:.*]] = memref.view %[[ARENA]][%c0][] : memref<128xi8> to memref<16xf32>
// CHECK: memref.copy %[[A]], %[[T0]]
// CHECK: %[[T1:.*]] = memref.view %[[ARENA]][%c64][] : memref<128xi8> to memref<4x4xf32>
// CHECK: %[[T2:.*]] = memref.view %[[ARENA]][%{{.*}}][] : memref<128xi8> to memref<16xf32>
// CHECK-NOT: memref.alloc
// CHECK-NOT: memref.dealloc
// CHECK: return
func.func @plan(%a: memref<16xf32>, %out: memref<16xf32>) {
  %t0 = memref.alloc() : memref<16xf32>
  memref.copy %a, %t0 : memref<16xf32> to memref<16xf32>
  %t1 = memref.alloc() : memref<4x4xf32>
  %v = memref.expand_shape %t0 [[0, 1]] output_shape [4, 4] : memref<16xf32> into memref<4x4xf32>
  memref.copy %v, %t1 : memref<4x4xf32> to memref<4x4xf32>
  memref.dealloc %t0 : memref<16xf32>
  %t2 = memref.alloc() : memref<16xf32>
  %w = memref.collapse_shape %t1 [[0, 1]] : memref<4x4xf32> into memref<16xf32>
  memref.copy %w, %t2 : memref<16xf32> to memref<16xf32>
  memref.dealloc %t1 : memref<4x4xf32>
  memref.copy %t2, %out : memref<16xf32> to memref<16xf32>
  memref.dealloc %t2 : memref<16xf32>
  return
}

// -----

// A select between two buffers (bernoulli_select) may be either: both live
// until the last use of the select (op 6), so t2, allocated after the last
// direct uses of both, shares bytes with neither.
// PLAN: memory plan for @select: arena 192 bytes (0.00 MiB) for 3 buffers of 192 bytes (0.00 MiB) in all
// PLAN-NEXT: offset bytes live buffer
// PLAN-NEXT: 0 64 [0, 6] memref<16xf32>
// PLAN-NEXT: 64 64 [1, 6] memref<16xf32>
// PLAN-NEXT: 128 64 [5, 7] memref<16xf32>
// CHECK-LABEL: func.func @select
// CHECK-SAME: ube.arena_bytes = 192
func.func @select(%c: i1, %a: memref<16xf32>, %out: memref<16xf32>) {
  %t0 = memref.alloc() : memref<16xf32>
  %t1 = memref.alloc() : memref<16xf32>
  memref.copy %a, %t0 : memref<16xf32> to memref<16xf32>
  memref.copy %a, %t1 : memref<16xf32> to memref<16xf32>
  %chosen = arith.select %c, %t0, %t1 : memref<16xf32>
  %t2 = memref.alloc() : memref<16xf32>
  memref.copy %chosen, %t2 : memref<16xf32> to memref<16xf32>
  memref.copy %t2, %out : memref<16xf32> to memref<16xf32>
  memref.dealloc %t0 : memref<16xf32>
  memref.dealloc %t1 : memref<16xf32>
  memref.dealloc %t2 : memref<16xf32>
  return
}

// -----

// Left alone: a buffer that escapes through a region's results, one with a
// dynamic size, one deallocated in a nested region. Nothing planned: no
// arena argument.
// CHECK-LABEL: func.func @kept
// CHECK-SAME: (%{{.*}}: i1, %{{.*}}: index, %{{.*}}: memref<4xf32>)
// CHECK-NOT: ube.arena_bytes
// CHECK-COUNT-3: memref.alloc
// CHECK-NOT: memref.view
func.func @kept(%c: i1, %n: index, %out: memref<4xf32>) {
  %a = memref.alloc() : memref<4xf32>
  %b = memref.alloc() : memref<4xf32>
  %chosen = scf.if %c -> memref<4xf32> {
    scf.yield %a : memref<4xf32>
  } else {
    scf.yield %b : memref<4xf32>
  }
  memref.copy %chosen, %out : memref<4xf32> to memref<4xf32>
  %d = memref.alloc(%n) : memref<?xf32>
  memref.dealloc %d : memref<?xf32>
  scf.if %c {
    memref.dealloc %a : memref<4xf32>
  }
  return
}

// -----

// A task's scratch buffer (allocated at the top level of a forall over
// 2x3 tasks with static bounds): one 64-byte slot per task, 6 x 40 bytes
// rounded to 384, live while the forall runs (op 1, together with t0); each
// task views slot i * 3 + (j - 2) / 2. A buffer allocated in a loop inside
// the task, or one that escapes through a region's results, stays.
// PLAN: memory plan for @task_scratch: arena 448 bytes (0.00 MiB) for 2 buffers of 448 bytes (0.00 MiB) in all
// PLAN-NEXT: offset bytes live buffer
// PLAN-NEXT: 0 384 [1, 1] memref<10xf32> x6 tasks
// PLAN-NEXT: 384 64 [0, 2] memref<16xf32>
// CHECK-LABEL: func.func @task_scratch
// CHECK-SAME: %[[ARENA:[^:]*]]: memref<448xi8>
// CHECK: scf.forall (%[[I:.*]], %[[J:.*]]) = (0, 2) to (2, 8) step (1, 2)
// CHECK: %[[JJ:.*]] = arith.subi %[[J]], %c2
// CHECK: %[[JS:.*]] = arith.divui %[[JJ]], %c2
// CHECK: %[[ROW:.*]] = arith.muli %[[I]], %c3
// CHECK: %[[SLOT:.*]] = arith.addi %[[ROW]], %[[JS]]
// CHECK: %[[AT:.*]] = arith.muli %[[SLOT]], %c64
// CHECK: %[[OFFSET:.*]] = arith.addi %c0{{.*}}, %[[AT]]
// CHECK: memref.view %[[ARENA]][%[[OFFSET]]][] : memref<448xi8> to memref<10xf32>
// CHECK: scf.for
// CHECK: memref.alloc() : memref<8xf32>
// CHECK: memref.alloc() : memref<2xf32>
// CHECK-NOT: memref.dealloc %{{.*}} : memref<10xf32>
func.func @task_scratch(%a: memref<16xf32>, %out: memref<16xf32>) {
  %t0 = memref.alloc() : memref<16xf32>
  scf.forall (%i, %j) = (0, 2) to (2, 8) step (1, 2) {
    %s = memref.alloc() : memref<10xf32>
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %v = memref.subview %s[0] [4] [1] : memref<10xf32> to memref<4xf32, strided<[1]>>
    %w = memref.subview %t0[0] [4] [1] : memref<16xf32> to memref<4xf32, strided<[1]>>
    memref.copy %w, %v : memref<4xf32, strided<[1]>> to memref<4xf32, strided<[1]>>
    scf.for %k = %c0 to %c1 step %c1 {
      %l = memref.alloc() : memref<8xf32>
      memref.dealloc %l : memref<8xf32>
    }
    %e = memref.alloc() : memref<2xf32>
    %c = arith.cmpi eq, %i, %c0 : index
    %r = scf.if %c -> memref<2xf32> {
      scf.yield %e : memref<2xf32>
    } else {
      scf.yield %e : memref<2xf32>
    }
    memref.dealloc %s : memref<10xf32>
  }
  memref.copy %t0, %out : memref<16xf32> to memref<16xf32>
  memref.dealloc %t0 : memref<16xf32>
  return
}

// -----

// A kernel's buffers (a private function, --ube-outline-kernels) are planned
// first, into an arena its callers give it: each call gets a buffer of that
// size, live during the call, placed in the caller's arena with its own.
// The first call's scratch shares bytes with t, live only after it; the
// call in a loop keeps an allocation of its own, freed after the call.
// PLAN: memory plan for @kernel: arena 64 bytes (0.00 MiB) for 1 buffers of 64 bytes (0.00 MiB) in all
// PLAN: memory plan for @calls: arena 128 bytes (0.00 MiB) for 3 buffers of 192 bytes (0.00 MiB) in all
// PLAN-NEXT: offset bytes live buffer
// PLAN-NEXT: 0 64 [0, 1] memref<64xi8>
// PLAN-NEXT: 0 64 [3, 11] memref<16xf32>
// PLAN-NEXT: 64 64 [8, 9] memref<64xi8>
// CHECK-LABEL: func.func private @kernel
// CHECK-SAME: (%{{.*}}: memref<16xf32>, %[[SCRATCH:.*]]: memref<64xi8>)
// CHECK-SAME: ube.arena_bytes = 64
// CHECK: memref.view %[[SCRATCH]][%{{.*}}][] : memref<64xi8> to memref<16xf32>
// CHECK-NOT: memref.alloc
// CHECK-LABEL: func.func @calls
// CHECK-SAME: %[[ARENA:[^:]*]]: memref<128xi8>
// CHECK: %[[S0:.*]] = memref.view %[[ARENA]][%{{.*}}][] : memref<128xi8> to memref<64xi8>
// CHECK: call @kernel(%{{.*}}, %[[S0]])
// CHECK: scf.for
// CHECK: %[[S1:.*]] = memref.alloc() {alignment = 64 : i64} : memref<64xi8>
// CHECK: call @kernel(%{{.*}}, %[[S1]])
// CHECK: memref.dealloc %[[S1]]
func.func private @kernel(%out: memref<16xf32>) {
  %t = memref.alloc() : memref<16xf32>
  memref.copy %t, %out : memref<16xf32> to memref<16xf32>
  memref.dealloc %t : memref<16xf32>
  return
}
func.func @calls(%a: memref<16xf32>, %out: memref<16xf32>) {
  call @kernel(%a) : (memref<16xf32>) -> ()
  %t = memref.alloc() : memref<16xf32>
  %c0 = arith.constant 0 : index
  %c2 = arith.constant 2 : index
  %c1 = arith.constant 1 : index
  scf.for %i = %c0 to %c2 step %c1 {
    func.call @kernel(%t) : (memref<16xf32>) -> ()
  }
  call @kernel(%out) : (memref<16xf32>) -> ()
  memref.copy %t, %out : memref<16xf32> to memref<16xf32>
  memref.dealloc %t : memref<16xf32>
  return
}

// -----

// Symbolic buffers of a function whose symbols are all bounded: sizes and
// offsets computed at the start from the arguments' sizes (a dimension of
// an allocation or a reshape read as the size it is), placed above the
// static ones (64 bytes). Their order is a static plan at the maximum (n =
// 8): %t0 (512 bytes) at 64, %t1 (live with it) on %t0 at 576, %t2 (live
// after both) back at 64. At a call each one sits at the highest end among
// those below it live with it: %t0 and %t2 at 64, %t1 at 64 + alignUp(64n);
// the arena is the higher of %t1's and %t2's ends, which `ube.arena_exprs`
// gives as expressions of n; `ube.arena_bytes` is that at the maximum, 704.
// CHECK-LABEL: func.func @symbolic
// CHECK-SAME: %[[ARENA:[^ ]*]]: memref<i8>) attributes {ube.arena_bytes = 704 : i64
// CHECK-SAME: ube.arena_exprs = {{\[}}["symbol", 0], ["const", 4], ["muli", 0, 1], ["const", 64], ["ceildivui", 2, 3], ["muli", 3, 4], ["addi", 3, 5], ["muli", 0, 3], ["ceildivui", 7, 3], ["muli", 3, 8], ["addi", 3, 9], ["const", 16], ["muli", 0, 11], ["ceildivui", 12, 3], ["muli", 3, 13], ["addi", 10, 14], ["maxui", 6, 15]]
// CHECK: %[[N:.*]] = memref.dim %arg0, %c0{{.*}} : memref<?x16xf32>
// CHECK: %[[BYTES0:.*]] = arith.muli %c64{{.*}}, %[[N]]
// CHECK: %[[BLOCKS0:.*]] = arith.ceildivui %[[BYTES0]]
// CHECK: %[[ALIGNED0:.*]] = arith.muli %[[BLOCKS0]]
// CHECK: %[[OFFSET1:.*]] = arith.addi %[[BASE:c64[_0-9]*]], %[[ALIGNED0]]
// CHECK: %[[TOTAL:.*]] = arith.maxui
// CHECK: %[[VIEWED:.*]] = memref.reinterpret_cast %[[ARENA]] to offset: [0], sizes: [%[[TOTAL]]], strides: [1] : memref<i8> to memref<?xi8>
// CHECK: memref.view %[[VIEWED]][%c0{{.*}}][] : memref<?xi8> to memref<4xf32>
// CHECK: memref.view %[[VIEWED]][%[[BASE]]][%[[N2:.*]]] : memref<?xi8> to memref<?x16xf32>
// CHECK: memref.view %[[VIEWED]][%[[OFFSET1]]][%[[N2]]] : memref<?xi8> to memref<?x4xf32>
// CHECK: memref.view %[[VIEWED]][%[[BASE]]][%[[N2]]] : memref<?xi8> to memref<?xf32>
// CHECK-NOT: memref.alloc
// PLAN-LABEL: memory plan for @symbolic: arena 704 bytes
// PLAN-SAME: sized at each call from the symbols (shown at their maxima, 512 without one)
// PLAN-NEXT: offset
// PLAN-NEXT: 0 16 [{{.*}}] memref<4xf32>
// PLAN-NEXT: 64 512 [{{.*}}] memref<?x16xf32>
// PLAN-NEXT: 64 32 [{{.*}}] memref<?xf32>
// PLAN-NEXT: 576 128 [{{.*}}] memref<?x4xf32>
func.func @symbolic(%x: memref<?x16xf32> {ube.dims = ["n"]}, %out: memref<?xf32> {ube.dims = ["n"]})
    attributes {ube.symbols = [#ube.dim<"n", max = 8>]} {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?x16xf32>
  %one = arith.constant 1.0 : f32
  %s = memref.alloc() : memref<4xf32>
  memref.store %one, %s[%c0] : memref<4xf32>
  %t0 = memref.alloc(%n) : memref<?x16xf32>
  %m = memref.dim %t0, %c0 : memref<?x16xf32>
  %t1 = memref.alloc(%m) : memref<?x4xf32>
  memref.store %one, %t0[%c0, %c0] : memref<?x16xf32>
  memref.store %one, %t1[%c0, %c0] : memref<?x4xf32>
  %t2 = memref.alloc(%n) : memref<?xf32>
  memref.copy %t2, %out : memref<?xf32> to memref<?xf32>
  memref.dealloc %s : memref<4xf32>
  memref.dealloc %t0 : memref<?x16xf32>
  memref.dealloc %t1 : memref<?x4xf32>
  memref.dealloc %t2 : memref<?xf32>
  return
}

// -----

// Buffers of n + 1, n + 2, n + 3 and n + 4 rows. The plan at the maximum:
// %t0 [0, 576), %t1 (live after it) [0, 320), %t3 (live with %t1) on it at
// 320, %t2 (live with all three) at 576. At a call %t3 sits at %t1's end
// and %t2 at the maximum of %t0's and %t3's ends: %t1's is left out of it,
// since %t3 lies on %t1 (a function's start with a maximum over every pair
// live together would grow as the square of its buffers). The arena is
// %t2's end, 752 bytes at the maximum (768 aligned).
// CHECK-LABEL: func.func @symbolic_stacked
// CHECK-SAME: memref<i8>) attributes {ube.arena_bytes = 768 : i64
// CHECK: %[[END1:.*]] = arith.addi %c0, %[[BYTES1:.*]] : index
// CHECK: %[[END0:.*]] = arith.addi %c0, %[[BYTES0:.*]] : index
// CHECK: %[[END3:.*]] = arith.addi %[[END1]], %[[BYTES3:.*]] : index
// CHECK: %[[AT2:.*]] = arith.maxui %[[END0]], %[[END3]]
// CHECK-NOT: arith.maxui
// CHECK: %[[END2:.*]] = arith.addi %[[AT2]],
// CHECK: memref.reinterpret_cast %{{.*}} to offset: [0], sizes: [%[[END2]]]
// CHECK: memref.view %{{.*}}[%c0][{{.*}}] : memref<?xi8> to memref<?x16xf32>
// CHECK: memref.view %{{.*}}[%[[AT2]]]{{.*}} to memref<?x4xf32>
// CHECK: memref.view %{{.*}}[%c0][{{.*}}] : memref<?xi8> to memref<?x8xf32>
// CHECK: memref.view %{{.*}}[%[[END1]]]{{.*}} to memref<?x2xf32>
// PLAN-LABEL: memory plan for @symbolic_stacked: arena 768 bytes
// PLAN-NEXT: offset
// PLAN-NEXT: 0 576 [{{.*}}] memref<?x16xf32>
// PLAN-NEXT: 0 320 [{{.*}}] memref<?x8xf32>
// PLAN-NEXT: 320 96 [{{.*}}] memref<?x2xf32>
// PLAN-NEXT: 576 176 [{{.*}}] memref<?x4xf32>
func.func @symbolic_stacked(%x: memref<?x16xf32> {ube.dims = ["n"]})
    attributes {ube.symbols = [#ube.dim<"n", max = 8>]} {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?x16xf32>
  %rows = affine.apply affine_map<()[s0] -> (s0 + 1)>()[%n]
  %rows1 = affine.apply affine_map<()[s0] -> (s0 + 2)>()[%n]
  %rows2 = affine.apply affine_map<()[s0] -> (s0 + 3)>()[%n]
  %rows3 = affine.apply affine_map<()[s0] -> (s0 + 4)>()[%n]
  %one = arith.constant 1.0 : f32
  %t0 = memref.alloc(%rows) : memref<?x16xf32>
  %t2 = memref.alloc(%rows2) : memref<?x4xf32>
  memref.store %one, %t0[%c0, %c0] : memref<?x16xf32>
  memref.store %one, %t2[%c0, %c0] : memref<?x4xf32>
  %t1 = memref.alloc(%rows1) : memref<?x8xf32>
  %t3 = memref.alloc(%rows3) : memref<?x2xf32>
  memref.store %one, %t1[%c0, %c0] : memref<?x8xf32>
  memref.store %one, %t3[%c0, %c0] : memref<?x2xf32>
  memref.store %one, %t2[%c0, %c0] : memref<?x4xf32>
  memref.dealloc %t0 : memref<?x16xf32>
  memref.dealloc %t1 : memref<?x8xf32>
  memref.dealloc %t2 : memref<?x4xf32>
  memref.dealloc %t3 : memref<?x2xf32>
  return
}

// -----

// Sizes as affine maps of the symbols are planned when they only grow with
// them (8 · 12 floats at the maximum: 384 bytes); a `mod` is not, and its
// buffer stays an allocation.
// CHECK-LABEL: func.func @symbolic_affine
// CHECK-SAME: memref<i8>) attributes {ube.arena_bytes = 384 : i64
// CHECK: affine.apply
// CHECK: memref.view {{.*}} : memref<?xi8> to memref<?xf32>
// CHECK: memref.alloc(%{{.*}}) : memref<?xi32>
// PLAN-LABEL: memory plan for @symbolic_affine: arena 384 bytes
func.func @symbolic_affine(%x: memref<?x16xf32> {ube.dims = ["n"]})
    attributes {ube.symbols = [#ube.dim<"n", max = 8>]} {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?x16xf32>
  %one = arith.constant 1.0 : f32
  %zero = arith.constant 0 : i32
  %m = affine.apply affine_map<()[s0] -> (s0 * 12)>()[%n]
  %r = affine.apply affine_map<()[s0] -> (s0 mod 4 + 1)>()[%n]
  %t = memref.alloc(%m) : memref<?xf32>
  %u = memref.alloc(%r) : memref<?xi32>
  memref.store %one, %t[%c0] : memref<?xf32>
  memref.store %zero, %u[%c0] : memref<?xi32>
  memref.dealloc %t : memref<?xf32>
  memref.dealloc %u : memref<?xi32>
  return
}

// -----

// A symbol without a maximum: the same plan (placed as if n were 512, which
// only orders the buffers), the arena sized at each call with no bound:
// `ube.arena_exprs` alone, alignUp(64n) bytes.
// CHECK-LABEL: func.func @symbolic_unbounded
// CHECK-SAME: %[[ARENA:[^ ]*]]: memref<i8>) attributes {ube.arena_exprs = {{\[}}["symbol", 0], ["const", 64], ["muli", 0, 1], ["ceildivui", 2, 1], ["muli", 1, 3]], ube.symbols
// CHECK-NOT: ube.arena_bytes
// CHECK: %[[VIEWED:.*]] = memref.reinterpret_cast %[[ARENA]]
// CHECK: memref.view %[[VIEWED]][%c0][%{{.*}}] : memref<?xi8> to memref<?x16xf32>
// CHECK-NOT: memref.alloc
// PLAN-LABEL: memory plan for @symbolic_unbounded: arena 32768 bytes
// PLAN-SAME: sized at each call from the symbols
func.func @symbolic_unbounded(%x: memref<?x16xf32> {ube.dims = ["n"]})
    attributes {ube.symbols = [#ube.dim<"n">]} {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?x16xf32>
  %one = arith.constant 1.0 : f32
  %t = memref.alloc(%n) : memref<?x16xf32>
  memref.store %one, %t[%c0, %c0] : memref<?x16xf32>
  memref.dealloc %t : memref<?x16xf32>
  return
}

// -----

// Two buffers, of 64n and 16nm bytes, live at the same time: one above the
// other (the larger at the maxima below), each sized at the call: the
// arena is alignUp(16nm) + alignUp(64n).
// CHECK-LABEL: func.func @symbolic_terms
// CHECK-SAME: ube.arena_exprs = {{\[}}["symbol", 0], ["const", 16], ["muli", 0, 1], ["symbol", 1], ["muli", 2, 3], ["const", 64], ["ceildivui", 4, 5], ["muli", 5, 6], ["muli", 0, 5], ["ceildivui", 8, 5], ["muli", 5, 9], ["addi", 7, 10]]
// CHECK: memref.view {{.*}} : memref<?xi8> to memref<?x16xf32>
// CHECK: memref.view {{.*}} : memref<?xi8> to memref<?x?x4xf32>
func.func @symbolic_terms(%x: memref<?x?xf32> {ube.dims = ["n", "m"]})
    attributes {ube.symbols = [#ube.dim<"n">, #ube.dim<"m">]} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = memref.dim %x, %c0 : memref<?x?xf32>
  %m = memref.dim %x, %c1 : memref<?x?xf32>
  %one = arith.constant 1.0 : f32
  %a = memref.alloc(%n) : memref<?x16xf32>
  %b = memref.alloc(%n, %m) : memref<?x?x4xf32>
  memref.store %one, %a[%c0, %c0] : memref<?x16xf32>
  memref.store %one, %b[%c0, %c0, %c0] : memref<?x?x4xf32>
  memref.dealloc %a : memref<?x16xf32>
  memref.dealloc %b : memref<?x?x4xf32>
  return
}

// -----

// A size clamped at zero (a slice's size of a whole symbolic dimension,
// max(n − 0, 0)) or at a positive bound (max(n, 4)): %t1, live after %t0,
// starts where %t0 does, and the arena is the larger of the two at the
// call (512 bytes at the maximum).
// CHECK-LABEL: func.func @symbolic_clamped
// CHECK-SAME: memref<i8>) attributes {ube.arena_bytes = 512 : i64
// PLAN-LABEL: memory plan for @symbolic_clamped: arena 512 bytes
// PLAN-LABEL: memory plan for @symbolic_bounded: arena 512 bytes
func.func @symbolic_clamped(%x: memref<?x16xf32> {ube.dims = ["n"]})
    attributes {ube.symbols = [#ube.dim<"n", max = 8>]} {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?x16xf32>
  %clamped = arith.maxsi %n, %c0 : index
  %one = arith.constant 1.0 : f32
  %t0 = memref.alloc(%n) : memref<?x16xf32>
  memref.store %one, %t0[%c0, %c0] : memref<?x16xf32>
  memref.dealloc %t0 : memref<?x16xf32>
  %t1 = memref.alloc(%clamped) : memref<?x16xf32>
  memref.store %one, %t1[%c0, %c0] : memref<?x16xf32>
  memref.dealloc %t1 : memref<?x16xf32>
  return
}
func.func @symbolic_bounded(%x: memref<?x16xf32> {ube.dims = ["n"]})
    attributes {ube.symbols = [#ube.dim<"n", max = 8>]} {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %n = memref.dim %x, %c0 : memref<?x16xf32>
  %bounded = arith.maxsi %n, %c4 : index
  %one = arith.constant 1.0 : f32
  %t0 = memref.alloc(%n) : memref<?x16xf32>
  memref.store %one, %t0[%c0, %c0] : memref<?x16xf32>
  memref.dealloc %t0 : memref<?x16xf32>
  %t1 = memref.alloc(%bounded) : memref<?x16xf32>
  memref.store %one, %t1[%c0, %c0] : memref<?x16xf32>
  memref.dealloc %t1 : memref<?x16xf32>
  return
}

// -----

// A window's output length, (n − 3) floordiv 2 + 1 plus min(n − 3, 0): no
// term of the symbols, but it never decreases as n grows, so its maximum
// (n = 64: 31 rows of 16 floats, 1984 bytes) bounds it and the buffer is
// planned rather than allocated at each call.
// CHECK-LABEL: func.func @symbolic_window
// CHECK-NOT: memref.alloc
// CHECK: return
// PLAN-LABEL: memory plan for @symbolic_window: arena 1984 bytes
func.func @symbolic_window(%x: memref<?x16xf32> {ube.dims = ["n"]})
    attributes {ube.symbols = [#ube.dim<"n", max = 64>]} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c-3 = arith.constant -3 : index
  %n = memref.dim %x, %c0 : memref<?x16xf32>
  %room = arith.addi %n, %c-3 : index
  %steps = arith.floordivsi %room, %c2 : index
  %out = arith.addi %steps, %c1 : index
  %misfit = arith.minsi %room, %c0 : index
  %length = arith.addi %out, %misfit : index
  %one = arith.constant 1.0 : f32
  %t = memref.alloc(%length) : memref<?x16xf32>
  memref.store %one, %t[%c0, %c0] : memref<?x16xf32>
  memref.dealloc %t : memref<?x16xf32>
  return
}

// -----

// A size that does not grow with the symbols: a tensor padded "same"
// (TensorFlow's), n + max(0, 3 - ((n - 1) % 2 + 1)) rows, odd sizes padded
// by 2 and even ones by 1 (n = 63 has more rows than n = 64). Intervals
// bound it: the padding in [1, 2], the rows at most 64 + 2 = 66 of 64
// bytes, and the buffer is planned.
// CHECK-LABEL: func.func @symbolic_same_padding
// CHECK-NOT: memref.alloc
// CHECK: return
// PLAN-LABEL: memory plan for @symbolic_same_padding: arena 4224 bytes
func.func @symbolic_same_padding(%x: memref<?x16xf32> {ube.dims = ["n"]})
    attributes {ube.symbols = [#ube.dim<"n", max = 64>]} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %n = memref.dim %x, %c0 : memref<?x16xf32>
  %last = arith.subi %n, %c1 : index
  %parity = arith.remsi %last, %c2 : index
  %stride = arith.addi %parity, %c1 : index
  %room = arith.subi %c3, %stride : index
  %along = arith.maxsi %room, %c0 : index
  %rows = arith.addi %n, %along : index
  %one = arith.constant 1.0 : f32
  %t = memref.alloc(%rows) : memref<?x16xf32>
  memref.store %one, %t[%c0, %c0] : memref<?x16xf32>
  memref.dealloc %t : memref<?x16xf32>
  return
}

// -----

// Window lengths of two strides: %a (31 rows of 16 floats at n = 64), then
// %b (31 rows of 8) and %c (16 rows of 4) live together once %a is dead.
// The plan at the maximum puts %b at %a's offset and %c on %b, both within
// the bytes %a had: the arena is %a's 1984 bytes.
// PLAN-LABEL: memory plan for @symbolic_windows: arena 1984 bytes
// PLAN-NEXT: offset
// PLAN-NEXT: 0 1984 [{{.*}}] memref<?x16xf32>
// PLAN-NEXT: 0 992 [{{.*}}] memref<?x8xf32>
// PLAN-NEXT: 1024 256 [{{.*}}] memref<?x4xf32>
func.func @symbolic_windows(%x: memref<?x16xf32> {ube.dims = ["n"]})
    attributes {ube.symbols = [#ube.dim<"n", max = 64>]} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c4 = arith.constant 4 : index
  %c-3 = arith.constant -3 : index
  %n = memref.dim %x, %c0 : memref<?x16xf32>
  %one = arith.constant 1.0 : f32
  %room = arith.addi %n, %c-3 : index
  %steps = arith.floordivsi %room, %c2 : index
  %out = arith.addi %steps, %c1 : index
  %a = memref.alloc(%out) : memref<?x16xf32>
  memref.store %one, %a[%c0, %c0] : memref<?x16xf32>
  memref.dealloc %a : memref<?x16xf32>
  %room2 = arith.addi %n, %c-3 : index
  %steps2 = arith.floordivsi %room2, %c2 : index
  %out2 = arith.addi %steps2, %c1 : index
  %b = memref.alloc(%out2) : memref<?x8xf32>
  %steps4 = arith.floordivsi %room2, %c4 : index
  %out4 = arith.addi %steps4, %c1 : index
  %c = memref.alloc(%out4) : memref<?x4xf32>
  memref.store %one, %b[%c0, %c0] : memref<?x8xf32>
  memref.store %one, %c[%c0, %c0] : memref<?x4xf32>
  memref.dealloc %b : memref<?x8xf32>
  memref.dealloc %c : memref<?x4xf32>
  return
}

// -----

// A task's scratch of symbolic size (a depthwise kernel's padded plane on
// planes of any size), in tasks whose count is symbolic too: one buffer of
// a slot per task outside them (tasks = ceil(n / per), per = max(1, 64 / n)
// tasks' worth; 64-byte slots of n floats), each task's a view at its slot,
// placed in the arena. The task count divides by a size: its interval
// divides by the divisor's (at least 1), n ≤ 64: at most 64 slots of 256
// bytes.
// CHECK-LABEL: func.func @symbolic_task_scratch
// CHECK-NOT: memref.alloc
// CHECK: scf.forall (%[[TASK:.*]]) in (%[[TASKS:.*]]) {
// CHECK: %[[SLOT:.*]] = arith.muli %{{.*}}, %[[SLOT_BYTES:.*]] : index
// CHECK: memref.view %{{.*}}[%[[SLOT]]][%{{.*}}] : memref<?xi8> to memref<?xf32>
// CHECK-NOT: memref.dealloc
// CHECK: return
// PLAN-LABEL: memory plan for @symbolic_task_scratch: arena 16384 bytes
func.func @symbolic_task_scratch(%x: memref<?xf32> {ube.dims = ["n"]})
    attributes {ube.symbols = [#ube.dim<"n", max = 64>]} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %n = memref.dim %x, %c0 : memref<?xf32>
  %fit = arith.divui %c64, %n : index
  %per = arith.maxui %fit, %c1 : index
  %tasks = arith.ceildivui %n, %per : index
  %one = arith.constant 1.0 : f32
  scf.forall (%t) in (%tasks) {
    %scratch = memref.alloc(%n) {alignment = 64 : i64} : memref<?xf32>
    memref.store %one, %scratch[%c0] : memref<?xf32>
    %v = memref.load %scratch[%c0] : memref<?xf32>
    memref.store %v, %x[%t] : memref<?xf32>
    memref.dealloc %scratch : memref<?xf32>
  }
  return
}

// -----

// A kernel (a private function) whose buffer is of symbolic size, computed
// from its arguments: its caller allocates it at the call, the size
// computed there from the call's operands, and plans it with its own
// symbolic buffers; the kernel takes it as an argument.
// CHECK-LABEL: func.func private @kernel_with_symbolic_buffer
// CHECK-SAME: %{{.*}}: memref<?xf32>, %[[BUFFER:.*]]: memref<?xf32>)
// CHECK-NOT: memref.alloc
// CHECK: memref.store %{{.*}}, %[[BUFFER]]
// CHECK-NOT: memref.dealloc
// CHECK-LABEL: func.func @calls_kernel
// CHECK-NOT: memref.alloc
// CHECK: %[[VIEW:.*]] = memref.view
// CHECK: call @kernel_with_symbolic_buffer(%{{.*}}, %[[VIEW]])
// PLAN-LABEL: memory plan for @calls_kernel: arena 512 bytes
func.func private @kernel_with_symbolic_buffer(%x: memref<?xf32>) {
  %c0 = arith.constant 0 : index
  %c2 = arith.constant 2 : index
  %one = arith.constant 1.0 : f32
  %n = memref.dim %x, %c0 : memref<?xf32>
  %twice = arith.muli %n, %c2 : index
  %t = memref.alloc(%twice) : memref<?xf32>
  memref.store %one, %t[%c0] : memref<?xf32>
  %v = memref.load %t[%c0] : memref<?xf32>
  memref.store %v, %x[%c0] : memref<?xf32>
  memref.dealloc %t : memref<?xf32>
  return
}
func.func @calls_kernel(%x: memref<?xf32> {ube.dims = ["n"]})
    attributes {ube.symbols = [#ube.dim<"n", max = 64>]} {
  call @kernel_with_symbolic_buffer(%x) : (memref<?xf32>) -> ()
  return
}

// -----

// A size chosen by a comparison of sizes (a kernel's task split): its bound
// is either value's (2n up to 2000, or 7), and at a call the select is the
// expression 7 + [n < 100] · (2n − 7), the condition min(1, max(0, 100 − n)).
// CHECK-LABEL: func.func @symbolic_select
// CHECK-SAME: ube.arena_bytes = 128000
// CHECK-SAME: ube.arena_exprs = {{\[}}["symbol", 0], ["const", 100], ["subi", 1, 0], ["const", 0], ["maxsi", 2, 3], ["const", 1], ["minsi", 4, 5], ["const", 2], ["muli", 0, 7], ["const", 7], ["subi", 8, 9], ["muli", 6, 10], ["addi", 9, 11]
// PLAN-LABEL: memory plan for @symbolic_select: arena 128000 bytes
func.func @symbolic_select(%x: memref<?x16xf32> {ube.dims = ["n"]})
    attributes {ube.symbols = [#ube.dim<"n", max = 1000>]} {
  %c0 = arith.constant 0 : index
  %c2 = arith.constant 2 : index
  %c7 = arith.constant 7 : index
  %c100 = arith.constant 100 : index
  %n = memref.dim %x, %c0 : memref<?x16xf32>
  %small = arith.cmpi ult, %n, %c100 : index
  %twice = arith.muli %n, %c2 : index
  %size = arith.select %small, %twice, %c7 : index
  %one = arith.constant 1.0 : f32
  %t = memref.alloc(%size) : memref<?x16xf32>
  memref.store %one, %t[%c0, %c0] : memref<?x16xf32>
  memref.dealloc %t : memref<?x16xf32>
  return
}
