// RUN: ube-opt %s --ube-lower-to-linalg --ube-derive-symbol-sizes --split-input-file | FileCheck %s
// RUN: ube-opt %s --ube-lower-to-linalg --ube-derive-symbol-sizes --ube-derive-symbol-sizes --split-input-file | FileCheck %s
// (Run twice, the pass changes nothing the second time.)

// A strided convolution over a symbolic length: its output length, named by
// the derived symbol y.2, is computed from `len` (symbol 1):
// (len + 2 - 5) floordiv 2 + 1 + min(len + 2 - 5, 0), which is negative
// where the window does not fit. No temporary needs another check.
// CHECK-LABEL: func.func @conv_length
// CHECK-SAME: #ube.dim<"y.2", size = {{\[}}["symbol", 1], ["const", -3], ["addi", 0, 1], ["const", 2], ["floordivsi", 2, 3], ["const", 1], ["addi", 4, 5], ["const", 0], ["minsi", 2, 7], ["addi", 6, 8]]>]
func.func @conv_length(%x: tensor<?x2x?xf32> {ube.dims = ["batch", "len"]}, %w: tensor<4x2x5xf32>)
    -> (tensor<?x4x?xf32> {ube.dims = ["batch", "y.2"]})
    attributes {ube.symbols = [#ube.dim<"batch">, #ube.dim<"len">, #ube.dim<"y.2", size = []>]} {
  %0 = ube.conv %x, %w {padding = array<i64: 1, 1>, stride = array<i64: 2>} : tensor<?x2x?xf32>, tensor<4x2x5xf32>
  return %0 : tensor<?x4x?xf32>
}

// -----

// A pooled convolution whose result is static (global pooling): no derived
// result, but the convolution's length is a temporary's size that may be
// negative, so the call checks it (a symbol named after the op).
// CHECK-LABEL: func.func @checked_temporary
// CHECK-SAME: ube.symbols = [#ube.dim<"len">, #ube.dim<"node 'c' {{.*}}", size = {{\[}}["symbol", 0], ["const", -3], ["addi", 0, 1], ["const", 1], ["addi", 2, 3], ["const", 0], ["minsi", 2, 5], ["addi", 4, 6]]>]
func.func @checked_temporary(%x: tensor<1x2x?xf32> {ube.dims = ["len"]}, %w: tensor<4x2x3xf32>) -> tensor<1x4x1xf32>
    attributes {ube.symbols = [#ube.dim<"len">]} {
  %0 = ube.conv %x, %w : tensor<1x2x?xf32>, tensor<4x2x3xf32> loc("c"("g.json":3:4))
  %1 = ube.reduce_mean %0 {axes = array<i64: 2>, keepdims = true} : tensor<1x4x?xf32>
  return %1 : tensor<1x4x1xf32>
}

// -----

// A concatenation along a symbolic axis: 2·batch rows, a sum of symbols
// (never negative: nothing to check).
// CHECK-LABEL: func.func @concat_rows
// CHECK-SAME: ube.symbols = [#ube.dim<"batch">, #ube.dim<"c.0", size = {{\[}}["symbol", 0], ["addi", 0, 0]]>]}
func.func @concat_rows(%x: tensor<?x16xf32> {ube.dims = ["batch"]}) -> (tensor<?x16xf32> {ube.dims = ["c.0"]})
    attributes {ube.symbols = [#ube.dim<"batch">, #ube.dim<"c.0", size = []>]} {
  %0 = ube.concat %x, %x : tensor<?x16xf32>, tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}
