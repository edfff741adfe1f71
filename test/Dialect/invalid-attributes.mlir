// RUN: ube-opt %s -split-input-file -verify-diagnostics

// The ube attributes other ops carry are declared in the dialect
// (UbeBase.td) and checked: their types, and no unknown ones.

// expected-error @+1 {{attribute 'ube.arena_bytes' must be a non-negative integer}}
func.func @arena() attributes {ube.arena_bytes = -64 : i64} {
  return
}

// -----

// expected-error @+1 {{attribute 'ube.in_place' must be (output, input) index pairs: an array<i64> of even length}}
func.func @in_place() attributes {ube.in_place = array<i64: 0, 1, 2>} {
  return
}

// -----

// expected-error @+1 {{attribute 'ube.gradient' must be a dictionary}}
func.func @gradient() attributes {ube.gradient = "loss"} {
  return
}

// -----

// expected-error @+1 {{has an unknown ube attribute 'ube.arena'}}
func.func @unknown() attributes {ube.arena = 64 : i64} {
  return
}

// -----

// expected-error @+1 {{attribute 'ube.name' describes function arguments and results, not operations}}
func.func @name_on_op() attributes {ube.name = "f"} {
  return
}

// -----

// expected-error @+1 {{argument 0: 'ube.name' must be a string}}
func.func @arg_name(%x: tensor<2xf32> {ube.name = 3 : i64}) {
  return
}

// -----

// expected-error @+1 {{result 0 has an unknown ube attribute 'ube.label'}}
func.func @result_attr(%x: tensor<2xf32>) -> (tensor<2xf32> {ube.label = "y"}) {
  return %x : tensor<2xf32>
}

// -----

// Well-formed ones verify.
func.func @ok(%x: tensor<2xf32> {ube.name = "x"}) -> (tensor<2xf32> {ube.name = "y"})
    attributes {ube.arena_bytes = 128 : i64, ube.in_place = array<i64: 0, 0>} {
  return %x : tensor<2xf32>
}

// -----

// Symbolic dimensions: the function declares its symbols, and each argument
// or result names one per dynamic dimension.
func.func @dims(%x: tensor<?x4xf32> {ube.dims = ["batch"]}) -> (tensor<?x4xf32> {ube.dims = ["batch"]})
    attributes {ube.symbols = [#ube.dim<"batch", max = 64>, #ube.dim<"seq", min = 1, max = 512, multiple_of = 8>]} {
  return %x : tensor<?x4xf32>
}

// -----

// expected-error @+1 {{argument 0: 'ube.dims' names 1 dimensions but its type 'tensor<?x?xf32>' has 2 dynamic ones}}
func.func @dims_count(%x: tensor<?x?xf32> {ube.dims = ["batch"]})
    attributes {ube.symbols = [#ube.dim<"batch">]} {
  return
}

// -----

// expected-error @+1 {{result 0: symbol 'seq' is not among the function's 'ube.symbols'}}
func.func @dims_unknown(%x: tensor<?xf32>) -> (tensor<?xf32> {ube.dims = ["seq"]})
    attributes {ube.symbols = [#ube.dim<"batch">]} {
  return %x : tensor<?xf32>
}

// -----

// expected-error @+1 {{declares symbol 'batch' twice}}
func.func @symbols_twice() attributes {ube.symbols = [#ube.dim<"batch">, #ube.dim<"batch">]} {
  return
}

// -----

// expected-error @+1 {{attribute 'ube.symbols' must be an array of #ube.dim symbols}}
func.func @symbols_kind() attributes {ube.symbols = ["batch"]} {
  return
}

// -----

// expected-error @+1 {{symbol 'n': bounds must satisfy 0 <= min <= max (max 0: none) and multiple_of >= 1, got min 8, max 4, multiple_of 1}}
func.func @bounds() attributes {ube.symbols = [#ube.dim<"n", min = 8, max = 4>]} {
  return
}
