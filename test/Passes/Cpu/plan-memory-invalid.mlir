// RUN: ube-opt %s --ube-cpu-plan-memory --split-input-file --verify-diagnostics

// An entry point whose arena is sized from its symbols cannot be called:
// its caller would have to size that arena.
func.func @sized(%x: memref<?xf32> {ube.dims = ["n"]}) attributes {ube.symbols = [#ube.dim<"n">]} {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?xf32>
  %t = memref.alloc(%n) : memref<?xf32>
  memref.copy %x, %t : memref<?xf32> to memref<?xf32>
  memref.dealloc %t : memref<?xf32>
  return
}

func.func @caller(%x: memref<?xf32>) {
  // expected-error @below {{calls @sized, whose arena is sized at run time from its symbols}}
  func.call @sized(%x) : (memref<?xf32>) -> ()
  return
}

// -----

// The dialect checks the attribute's form.
// expected-error @below {{attribute 'ube.arena_exprs' must be a list of expression nodes}}
func.func @malformed() attributes {ube.arena_exprs = [["muli", 0, 1]]} {
  return
}
