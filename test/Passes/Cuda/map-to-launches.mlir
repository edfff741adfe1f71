// RUN: ube-opt %s --ube-cuda-map-to-launches --split-input-file --verify-diagnostics | FileCheck %s

// One thread per iteration of a parallel loop, 256 per block, guarded when
// the iteration count is not a multiple of the block.
// CHECK-LABEL: func.func @elementwise
// CHECK-DAG: %[[GRID:.*]] = arith.constant 4 : index
// CHECK-DAG: %[[BLOCK:.*]] = arith.constant 256 : index
// CHECK: gpu.launch blocks(%[[BX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[GRID]], %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) threads(%[[TX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[BLOCK]]
// CHECK: %[[ID:.*]] = arith.addi
// CHECK: arith.cmpi ult, %[[ID]]
// CHECK: scf.if
// CHECK: memref.store
// CHECK-NOT: scf.parallel
func.func @elementwise(%x: memref<30x30xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c30 = arith.constant 30 : index
  %cst = arith.constant 1.0 : f32
  scf.parallel (%i, %j) = (%c0, %c0) to (%c30, %c30) step (%c1, %c1) {
    memref.store %cst, %x[%i, %j] : memref<30x30xf32>
    scf.reduce
  }
  return
}

// -----

// Long rows: one block per row, a strided private sum, gpu.all_reduce, and
// thread 0 updates the accumulator.
// CHECK-LABEL: func.func @long_rows
// CHECK: gpu.launch
// CHECK: %[[PARTIAL:.*]] = scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[P:.*]] = %{{.*}}) -> (f32)
// CHECK: memref.load %{{.*}} : memref<8x1024xf32>
// CHECK: arith.addf %[[P]], %{{.*}}
// CHECK: %[[TOTAL:.*]] = gpu.all_reduce add %[[PARTIAL]] uniform
// CHECK: scf.if
// CHECK: %[[ACC:.*]] = memref.load %{{.*}} : memref<8xf32>
// CHECK: %[[NEW:.*]] = arith.addf %[[ACC]], %[[TOTAL]]
// CHECK: memref.store %[[NEW]]
func.func @long_rows(%x: memref<8x1024xf32>, %out: memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %c1024 = arith.constant 1024 : index
  scf.parallel (%i) = (%c0) to (%c8) step (%c1) {
    scf.for %k = %c0 to %c1024 step %c1 {
      %v = memref.load %x[%i, %k] : memref<8x1024xf32>
      %acc = memref.load %out[%i] : memref<8xf32>
      %s = arith.addf %v, %acc : f32
      memref.store %s, %out[%i] : memref<8xf32>
    }
    scf.reduce
  }
  return
}

// -----

// Short rows stay one thread per row, the sequential loop inside.
// CHECK-LABEL: func.func @short_rows
// CHECK: gpu.launch
// CHECK: scf.for
// CHECK: arith.maximumf
// CHECK-NOT: gpu.all_reduce
func.func @short_rows(%x: memref<8x16xf32>, %out: memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %c16 = arith.constant 16 : index
  scf.parallel (%i) = (%c0) to (%c8) step (%c1) {
    scf.for %k = %c0 to %c16 step %c1 {
      %v = memref.load %x[%i, %k] : memref<8x16xf32>
      %acc = memref.load %out[%i] : memref<8xf32>
      %s = arith.maximumf %acc, %v : f32
      memref.store %s, %out[%i] : memref<8xf32>
    }
    scf.reduce
  }
  return
}

// -----

// A top-level sequential loop runs in a single-thread launch; a scalar read
// on the host is recomputed inside the kernel that uses it.
// CHECK-LABEL: func.func @serial_and_scalars
// CHECK-NOT: memref.load
// CHECK: gpu.launch
// CHECK: memref.load %{{.*}}[] : memref<f32>
// CHECK: scf.for
func.func @serial_and_scalars(%x: memref<4xf32>, %scale: memref<f32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %s = memref.load %scale[] : memref<f32>
  scf.for %k = %c0 to %c4 step %c1 {
    %v = memref.load %x[%k] : memref<4xf32>
    %m = arith.mulf %v, %s : f32
    memref.store %m, %x[%k] : memref<4xf32>
  }
  return
}

// -----

// A choice between buffers on a condition read from device memory (module
// replacement's draw): a kernel copies the chosen buffer's elements, and the
// condition's scalar computation (a two-result multiplication too) moves in.
// CHECK-LABEL: func.func @buffer_select
// CHECK: %[[COPY:.*]] = memref.alloc() : memref<4x8xf32>
// CHECK: gpu.launch
// CHECK: memref.load %{{.*}}[] : memref<i32>
// CHECK: arith.mului_extended
// CHECK: %[[CHOSEN:.*]] = arith.select %{{.*}}, %{{.*}}, %{{.*}} : memref<4x8xf32>
// CHECK: memref.load %[[CHOSEN]]
// CHECK: memref.store %{{.*}}, %[[COPY]]
// CHECK-NOT: arith.select
// CHECK: return %[[COPY]]
func.func @buffer_select(%step: memref<i32>, %a: memref<4x8xf32>, %b: memref<4x8xf32>)
    -> memref<4x8xf32> {
  %k = arith.constant 2654435769 : i32
  %s = memref.load %step[] : memref<i32>
  %lo, %hi = arith.mului_extended %s, %k : i32
  %zero = arith.constant 0 : i32
  %take = arith.cmpi slt, %hi, %zero : i32
  %r = arith.select %take, %a, %b : memref<4x8xf32>
  return %r : memref<4x8xf32>
}

// -----

// A kernel returns nothing: a value the host reads cannot be computed in one.
func.func @host_reads_kernel_value(%x: memref<4xf32>) -> index {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %c1 = arith.constant 1 : index
  // expected-error @below {{computes values the host reads: it cannot move into a kernel}}
  %r = scf.for %i = %c0 to %c4 step %c1 iter_args(%acc = %c0) -> (index) {
    %f = arith.index_cast %i : index to i32
    %g = arith.sitofp %f : i32 to f32
    memref.store %g, %x[%i] : memref<4xf32>
    %n = arith.addi %acc, %c1 : index
    scf.yield %n : index
  }
  return %r : index
}

// -----

// scatter_add's loop (for each row i: row ids[i] of the table += row i): one
// thread per column, each adding the rows in order; the self-copy goes.
// CHECK-LABEL: func.func @scatter_rows
// CHECK: gpu.launch blocks({{.*}}) in (%{{.*}} = %c1{{(_[0-9]+)?}}, {{.*}}) threads({{.*}}) in (%{{.*}} = %c32{{(_[0-9]+)?}},
// CHECK: scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step
// CHECK: memref.load %{{.*}}[%[[I]]] : memref<64xi64>
// CHECK: memref.subview
// CHECK: arith.addf
// CHECK: memref.store
// CHECK-NOT: memref.copy
// CHECK: gpu.terminator
func.func @scatter_rows(%ids: memref<64xi64>, %rows: memref<64x32xf32>, %table: memref<50x32xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  %c49 = arith.constant 49 : index
  %c64 = arith.constant 64 : index
  scf.for %i = %c0 to %c64 step %c1 {
    %id = memref.load %ids[%i] : memref<64xi64>
    %r = arith.index_cast %id : i64 to index
    %lo = arith.maxsi %r, %c0 : index
    %row = arith.minsi %lo, %c49 : index
    %src = memref.subview %rows[%i, 0] [1, 32] [1, 1]
        : memref<64x32xf32> to memref<1x32xf32, strided<[32, 1], offset: ?>>
    %dst = memref.subview %table[%row, 0] [1, 32] [1, 1]
        : memref<50x32xf32> to memref<1x32xf32, strided<[32, 1], offset: ?>>
    scf.parallel (%j) = (%c0) to (%c32) step (%c1) {
      %a = memref.load %dst[%c0, %j] : memref<1x32xf32, strided<[32, 1], offset: ?>>
      %b = memref.load %src[%c0, %j] : memref<1x32xf32, strided<[32, 1], offset: ?>>
      %s = arith.addf %a, %b : f32
      memref.store %s, %dst[%c0, %j] : memref<1x32xf32, strided<[32, 1], offset: ?>>
      scf.reduce
    }
    %again = memref.subview %table[%row, 0] [1, 32] [1, 1]
        : memref<50x32xf32> to memref<1x32xf32, strided<[32, 1], offset: ?>>
    memref.copy %dst, %again : memref<1x32xf32, strided<[32, 1], offset: ?>>
        to memref<1x32xf32, strided<[32, 1], offset: ?>>
  }
  return
}

// -----

// Parallel iterations that may write one element (a column shifted by the
// serial index): the serial loop stays one thread.
// CHECK-LABEL: func.func @overlapping_writes
// CHECK: gpu.launch blocks({{.*}}) in (%{{.*}} = %c1{{(_[0-9]+)?}}, {{.*}}) threads({{.*}}) in (%{{.*}} = %c1{{(_[0-9]+)?}},
// CHECK: scf.for
// CHECK: scf.parallel
func.func @overlapping_writes(%table: memref<8x40xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %c32 = arith.constant 32 : index
  %f = arith.constant 1.0 : f32
  scf.for %i = %c0 to %c8 step %c1 {
    %dst = memref.subview %table[0, %i] [8, 32] [1, 1]
        : memref<8x40xf32> to memref<8x32xf32, strided<[40, 1], offset: ?>>
    scf.parallel (%j) = (%c0) to (%c32) step (%c1) {
      %a = memref.load %dst[%c0, %j] : memref<8x32xf32, strided<[40, 1], offset: ?>>
      %s = arith.addf %a, %f : f32
      memref.store %s, %dst[%c0, %j] : memref<8x32xf32, strided<[40, 1], offset: ?>>
      scf.reduce
    }
  }
  return
}

// -----

// A loop nest summing into one scalar: one block whose threads stride over
// the flattened iterations (innermost fastest), gpu.all_reduce, and thread
// 0 adds the total.
// CHECK-LABEL: func.func @sum_to_scalar
// CHECK: gpu.launch blocks({{.*}}) in (%{{.*}} = %c1{{(_[0-9]+)?}}, {{.*}}) threads({{.*}}) in (%{{.*}} = %c256{{(_[0-9]+)?}},
// CHECK: %[[PARTIAL:.*]] = scf.for %{{.*}} = %{{.*}} to %c3072{{(_[0-9]+)?}} step %c256{{(_[0-9]+)?}} iter_args(%[[P:.*]] = %{{.*}}) -> (f32)
// CHECK: arith.remui %{{.*}}, %c512
// CHECK: arith.divui %{{.*}}, %c512
// CHECK: memref.load %{{.*}} : memref<6x512xf32>
// CHECK: arith.addf %[[P]]
// CHECK: gpu.all_reduce add %[[PARTIAL]] uniform
// CHECK: scf.if
// CHECK: memref.load %{{.*}}[] : memref<f32>
// CHECK-NOT: scf.for
// CHECK: gpu.terminator
func.func @sum_to_scalar(%x: memref<6x512xf32>, %out: memref<f32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c6 = arith.constant 6 : index
  %c512 = arith.constant 512 : index
  scf.for %i = %c0 to %c6 step %c1 {
    scf.for %j = %c0 to %c512 step %c1 {
      %v = memref.load %x[%i, %j] : memref<6x512xf32>
      %e = math.exp %v : f32
      %acc = memref.load %out[] : memref<f32>
      %s = arith.addf %acc, %e : f32
      memref.store %s, %out[] : memref<f32>
    }
  }
  return
}

// -----

// A row program (ube-cuda-row-kernels' softmax): one block per row, 64
// threads for rows of 40; each statistic a strided partial (unrolled by 4,
// then the remainder continuing its chain) combined with gpu.all_reduce,
// the output loop strided and followed by a barrier; the self-copy goes.
// CHECK-LABEL: func.func @row_program
// CHECK: gpu.launch blocks({{.*}}) in (%{{.*}} = %c4{{(_[0-9]+)?}}, {{.*}}) threads({{.*}}) in (%{{.*}} = %c64{{(_[0-9]+)?}},
// CHECK: %[[UM:.*]] = scf.for {{.*}} iter_args
// CHECK-COUNT-4: arith.maximumf
// CHECK: %[[PM:.*]] = scf.for %{{.*}} = %{{.*}} to %c40{{(_[0-9]+)?}} step %c64{{(_[0-9]+)?}} iter_args(%{{.*}} = %[[UM]])
// CHECK: %[[M:.*]] = gpu.all_reduce maximumf %[[PM]] uniform
// CHECK: scf.for
// CHECK: math.exp
// CHECK: %[[PS:.*]] = scf.for
// CHECK: %[[S:.*]] = gpu.all_reduce add %[[PS]] uniform
// CHECK: scf.for
// CHECK: memref.store
// CHECK: gpu.barrier
// CHECK-NOT: memref.copy
// CHECK: gpu.terminator
func.func @row_program(%x: memref<4x40xf32>, %out: memref<4x40xf32>) {
  %one = arith.constant 1.0 : f32
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c40 = arith.constant 40 : index
  scf.parallel (%r) = (%c0) to (%c4) step (%c1) {
    %row = memref.subview %out[%r, 0] [1, 40] [1, 1]
        : memref<4x40xf32> to memref<1x40xf32, strided<[40, 1], offset: ?>>
    %m = scf.for %j = %c0 to %c40 step %c1 iter_args(%a = %ninf) -> (f32) {
      %v = memref.load %x[%r, %j] : memref<4x40xf32>
      %n = arith.maximumf %a, %v : f32
      scf.yield %n : f32
    }
    %s = scf.for %j = %c0 to %c40 step %c1 iter_args(%a = %zero) -> (f32) {
      %v = memref.load %x[%r, %j] : memref<4x40xf32>
      %d = arith.subf %v, %m : f32
      %e = math.exp %d : f32
      %n = arith.addf %a, %e : f32
      scf.yield %n : f32
    }
    %inv = arith.divf %one, %s : f32
    scf.for %j = %c0 to %c40 step %c1 {
      %v = memref.load %x[%r, %j] : memref<4x40xf32>
      %d = arith.subf %v, %m : f32
      %e = math.exp %d : f32
      %y = arith.mulf %e, %inv : f32
      memref.store %y, %row[%c0, %j] : memref<1x40xf32, strided<[40, 1], offset: ?>>
    }
    %again = memref.subview %out[%r, 0] [1, 40] [1, 1]
        : memref<4x40xf32> to memref<1x40xf32, strided<[40, 1], offset: ?>>
    memref.copy %row, %again : memref<1x40xf32, strided<[40, 1], offset: ?>>
        to memref<1x40xf32, strided<[40, 1], offset: ?>>
    scf.reduce
  }
  return
}

// -----

// A row program of one row, which the canonicalizer unwrapped: its loops
// and the ops reading their results go back into one block, mapped like
// any row (strided loops, gpu.all_reduce); a kernel returns nothing, so
// the host must not be left reading a statistic.
// CHECK-LABEL: func.func @one_row
// CHECK: gpu.launch blocks({{.*}}) in (%{{.*}} = %c1{{(_[0-9]+)?}}, {{.*}}) threads({{.*}}) in (%{{.*}} = %c64{{(_[0-9]+)?}},
// CHECK: gpu.all_reduce maximumf
// CHECK: gpu.all_reduce add
// CHECK: memref.store
// CHECK: gpu.terminator
// CHECK-NOT: scf.for
// CHECK: return
func.func @one_row(%x: memref<1x40xf32>, %out: memref<1x40xf32>) {
  %one = arith.constant 1.0 : f32
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c40 = arith.constant 40 : index
  %m = scf.for %j = %c0 to %c40 step %c1 iter_args(%a = %ninf) -> (f32) {
    %v = memref.load %x[%c0, %j] : memref<1x40xf32>
    %n = arith.maximumf %a, %v : f32
    scf.yield %n : f32
  }
  %s = scf.for %j = %c0 to %c40 step %c1 iter_args(%a = %zero) -> (f32) {
    %v = memref.load %x[%c0, %j] : memref<1x40xf32>
    %d = arith.subf %v, %m : f32
    %e = math.exp %d : f32
    %n = arith.addf %a, %e : f32
    scf.yield %n : f32
  }
  %inv = arith.divf %one, %s : f32
  scf.for %j = %c0 to %c40 step %c1 {
    %v = memref.load %x[%c0, %j] : memref<1x40xf32>
    %d = arith.subf %v, %m : f32
    %e = math.exp %d : f32
    %y = arith.mulf %e, %inv : f32
    memref.store %y, %out[%c0, %j] : memref<1x40xf32>
  }
  return
}

// -----

// The buffer a one-row program writes, allocated between its statistic and
// its output loop, stays on the host, before the kernel.
// CHECK-LABEL: func.func @one_row_into_new_buffer
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<1x40xf32>
// CHECK: gpu.launch
// CHECK: gpu.all_reduce add
// CHECK: memref.store %{{.*}}, %[[OUT]]
// CHECK: gpu.terminator
// CHECK: memref.copy %[[OUT]]
func.func @one_row_into_new_buffer(%x: memref<1x40xf32>, %out: memref<1x40xf32>) {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c40 = arith.constant 40 : index
  %s = scf.for %j = %c0 to %c40 step %c1 iter_args(%a = %zero) -> (f32) {
    %v = memref.load %x[%c0, %j] : memref<1x40xf32>
    %q = arith.mulf %v, %v : f32
    %n = arith.addf %a, %q : f32
    scf.yield %n : f32
  }
  %r = math.rsqrt %s : f32
  %t = memref.alloc() : memref<1x40xf32>
  scf.for %j = %c0 to %c40 step %c1 {
    %v = memref.load %x[%c0, %j] : memref<1x40xf32>
    %y = arith.mulf %v, %r : f32
    memref.store %y, %t[%c0, %j] : memref<1x40xf32>
  }
  memref.copy %t, %out : memref<1x40xf32> to memref<1x40xf32>
  return
}

// -----

// A statistic the host itself reads (here, returned) cannot move into a kernel.
func.func @host_reads(%x: memref<40xf32>) -> f32 {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c40 = arith.constant 40 : index
  // expected-error @below {{computes values the host reads: it cannot move into a kernel}}
  %s = scf.for %j = %c0 to %c40 step %c1 iter_args(%a = %zero) -> (f32) {
    %v = memref.load %x[%j] : memref<40xf32>
    %n = arith.addf %a, %v : f32
    scf.yield %n : f32
  }
  return %s : f32
}

// -----

// The serial body reads an element of the buffer the parallel loop writes:
// threads would race on it, so the loop stays one thread.
// CHECK-LABEL: func.func @serial_read_of_written
// CHECK: gpu.launch blocks({{.*}}) in (%{{.*}} = %c1{{(_[0-9]+)?}}, {{.*}}) threads({{.*}}) in (%{{.*}} = %c1{{(_[0-9]+)?}},
// CHECK: scf.for
// CHECK: scf.parallel
func.func @serial_read_of_written(%ids: memref<8xi64>, %table: memref<4x32xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %c8 = arith.constant 8 : index
  %c32 = arith.constant 32 : index
  scf.for %i = %c0 to %c8 step %c1 {
    %id = memref.load %ids[%i] : memref<8xi64>
    %r = arith.index_cast %id : i64 to index
    %row = arith.minsi %r, %c3 : index
    %first = memref.load %table[%row, %c0] : memref<4x32xf32>
    %dst = memref.subview %table[%row, 0] [1, 32] [1, 1]
        : memref<4x32xf32> to memref<1x32xf32, strided<[32, 1], offset: ?>>
    scf.parallel (%j) = (%c0) to (%c32) step (%c1) {
      %a = memref.load %dst[%c0, %j] : memref<1x32xf32, strided<[32, 1], offset: ?>>
      %s = arith.addf %a, %first : f32
      memref.store %s, %dst[%c0, %j] : memref<1x32xf32, strided<[32, 1], offset: ?>>
      scf.reduce
    }
  }
  return
}

// -----

// A symbolic iteration count: the grid is computed on the host from it
// (the launch plan's expression), 256 threads per block, every thread
// checks its id against the count.
// CHECK-LABEL: func.func @symbolic_elementwise
// CHECK-SAME: (%[[X:.*]]: memref<?x30xf32>)
// CHECK: %[[ROWS:.*]] = memref.dim %[[X]]
// CHECK: %[[TOTAL:.*]] = arith.muli %[[ROWS]], %c30 : index
// CHECK: %[[GRID:.*]] = arith.ceildivui %[[TOTAL]], %c256 : index
// CHECK: gpu.launch blocks(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %[[GRID]], %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) threads(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %c256
// CHECK: %[[ROWS_IN:.*]] = memref.dim %[[X]]
// CHECK: %[[TOTAL_IN:.*]] = arith.muli %[[ROWS_IN]]
// CHECK: %[[ID:.*]] = arith.addi
// CHECK: %[[IN:.*]] = arith.cmpi ult, %[[ID]], %[[TOTAL_IN]]
// CHECK: scf.if %[[IN]]
// CHECK: arith.remui %[[ID]]
// CHECK: memref.store
// CHECK-NOT: scf.parallel
func.func @symbolic_elementwise(%x: memref<?x30xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c30 = arith.constant 30 : index
  %cst = arith.constant 1.0 : f32
  %n = memref.dim %x, %c0 : memref<?x30xf32>
  scf.parallel (%i, %j) = (%c0, %c0) to (%n, %c30) step (%c1, %c1) {
    memref.store %cst, %x[%i, %j] : memref<?x30xf32>
    scf.reduce
  }
  return
}

// -----

// Rows of symbolic length (softmax over a symbolic sequence): still one
// block per row, all 256 threads, each loop over the row strided from the
// thread's id to the row's runtime length (unrolled by 4, the remainder
// loop to the length).
// CHECK-LABEL: func.func @symbolic_row_program
// CHECK-SAME: (%[[X:.*]]: memref<8x?xf32>)
// CHECK: gpu.launch
// CHECK-SAME: threads(%[[TX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %c256
// CHECK: %[[LEN:.*]] = memref.dim %[[X]]
// CHECK: arith.subi %[[LEN]]
// CHECK: scf.for {{.*}} iter_args
// CHECK: gpu.all_reduce max
func.func @symbolic_row_program(%x: memref<8x?xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %ninf = arith.constant 0xFF800000 : f32
  %n = memref.dim %x, %c1 : memref<8x?xf32>
  scf.parallel (%i) = (%c0) to (%c8) step (%c1) {
    %m = scf.for %k = %c0 to %n step %c1 iter_args(%acc = %ninf) -> (f32) {
      %v = memref.load %x[%i, %k] : memref<8x?xf32>
      %mx = arith.maximumf %acc, %v : f32
      scf.yield %mx : f32
    }
    scf.for %k = %c0 to %n step %c1 {
      %v = memref.load %x[%i, %k] : memref<8x?xf32>
      %d = arith.subf %v, %m : f32
      memref.store %d, %x[%i, %k] : memref<8x?xf32>
    }
    scf.reduce
  }
  return
}

// -----

// A reduction over a symbolic length into one accumulator: one block whose
// threads stride to the runtime length.
// CHECK-LABEL: func.func @symbolic_total
// CHECK-SAME: (%[[X:.*]]: memref<?xf32>, %{{.*}}: memref<f32>)
// CHECK: gpu.launch
// CHECK: %[[LEN:.*]] = memref.dim %[[X]]
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[LEN]] step %c256
// CHECK: gpu.all_reduce add
func.func @symbolic_total(%x: memref<?xf32>, %out: memref<f32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = memref.dim %x, %c0 : memref<?xf32>
  scf.for %k = %c0 to %n step %c1 {
    %v = memref.load %x[%k] : memref<?xf32>
    %acc = memref.load %out[] : memref<f32>
    %s = arith.addf %acc, %v : f32
    memref.store %s, %out[] : memref<f32>
  }
  return
}

// -----

// A parallel loop must start at a constant with a constant step.
func.func @symbolic_start(%x: memref<?xf32>, %start: index) {
  %c1 = arith.constant 1 : index
  %c0 = arith.constant 0 : index
  %cst = arith.constant 1.0 : f32
  %n = memref.dim %x, %c0 : memref<?xf32>
  // expected-error @below {{needs constant starts and steps to map to GPU threads}}
  scf.parallel (%i) = (%start) to (%n) step (%c1) {
    memref.store %cst, %x[%i] : memref<?xf32>
    scf.reduce
  }
  return
}
