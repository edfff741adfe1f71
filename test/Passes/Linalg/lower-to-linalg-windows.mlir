// RUN: ube-opt %s --ube-lower-to-linalg --split-input-file | FileCheck %s

// A grouped, strided, padded convolution over a symbolic batch: the input
// padded once, groups as views, one generic reading (position·stride +
// offset), accumulating onto the bias.
// CHECK-DAG: #[[READ:.*]] = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d5, d3 * 2 + d6, d4 * 2 + d7)>
// CHECK-DAG: #[[WEIGHT:.*]] = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d1, d2, d5, d6, d7)>
// CHECK-LABEL: func.func @conv
// CHECK: %[[PAD:.*]] = tensor.pad %{{.*}} low[0, 0, 1, 1] high[0, 0, 1, 1]
// CHECK: tensor.expand_shape %[[PAD]] {{\[}}[0], [1, 2], [3], [4]] {{.*}} into tensor<?x2x2x11x11xf32>
// CHECK: tensor.expand_shape %{{.*}} {{\[}}[0, 1], [2], [3], [4]] {{.*}} into tensor<2x3x2x3x3xf32>
// CHECK: linalg.generic {indexing_maps = [#[[READ]], #[[WEIGHT]], {{.*}}], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]}
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0], [1, 2], [3], [4]] : tensor<?x2x3x5x5xf32> into tensor<?x6x5x5xf32>
func.func @conv(%x: tensor<?x4x9x9xf32>, %w: tensor<6x2x3x3xf32>, %b: tensor<6xf32>)
    -> tensor<?x6x5x5xf32> {
  %0 = ube.conv %x, %w, %b {stride = array<i64: 2, 2>, padding = array<i64: 1, 1, 1, 1>,
                            groups = 2 : i64}
      : tensor<?x4x9x9xf32>, tensor<6x2x3x3xf32>, tensor<6xf32>
  return %0 : tensor<?x6x5x5xf32>
}

// -----

// im2col: a copy reading each channel's flattened plane at j + kh·dh·W +
// kw·dw (W = 5), viewed as [B, C·KH·KW, length].
// CHECK-DAG: #[[TAPS:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d4 + d2 * 10 + d3)>
// CHECK-LABEL: func.func @im2col
// CHECK: %[[FLAT:.*]] = tensor.collapse_shape %arg0 {{\[}}[0], [1], [2, 3]] : tensor<2x3x6x5xf32> into tensor<2x3x30xf32>
// CHECK: %[[T:.*]] = linalg.generic {indexing_maps = [#[[TAPS]], #{{.*}}], {{.*}} ins(%[[FLAT]] : tensor<2x3x30xf32>) outs(%{{.*}} : tensor<2x3x2x2x9xf32>)
// CHECK: tensor.collapse_shape %[[T]] {{\[}}[0], [1, 2, 3], [4]] : tensor<2x3x2x2x9xf32> into tensor<2x12x9xf32>
func.func @im2col(%x: tensor<2x3x6x5xf32>) -> tensor<2x12x9xf32> {
  %0 = ube.im2col %x {kernel = array<i64: 2, 2>, dilation = array<i64: 2, 1>, length = 9}
      : tensor<2x3x6x5xf32>
  return %0 : tensor<2x12x9xf32>
}

// -----

// Strided im2col: position j is output row j / 2, column j mod 2 (rows of
// 2), read at 2·5·(j / 2) + 2·(j mod 2) plus the tap's offset.
// CHECK-DAG: #[[TAPS:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, (d4 floordiv 2) * 10 + (d4 mod 2) * 2 + d2 * 5 + d3)>
// CHECK-LABEL: func.func @im2col_strided
// CHECK: linalg.generic {indexing_maps = [#[[TAPS]], #{{.*}}], {{.*}} outs(%{{.*}} : tensor<2x3x2x2x4xf32>)
func.func @im2col_strided(%x: tensor<2x3x6x5xf32>) -> tensor<2x12x4xf32> {
  %0 = ube.im2col %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, columns = 2,
                      length = 4} : tensor<2x3x6x5xf32>
  return %0 : tensor<2x12x4xf32>
}

// -----

// im2col on symbolic planes: the output's positions per row (Q) and in all
// counted from the input's width and height at run time; each element read
// by index at (j / Q)·sh·W + j mod Q + (t / KW)·W + t mod KW, sizes no
// indexing map can hold.
// CHECK-LABEL: func.func @im2col_symbolic
// CHECK: %[[FLAT:.*]] = tensor.collapse_shape %arg0 {{\[}}[0], [1], [2, 3]] : tensor<?x3x?x?xf32> into tensor<?x3x?xf32>
// CHECK: %[[W:.*]] = tensor.dim %arg0, %c3
// CHECK: tensor.dim %arg0, %c2
// CHECK: %[[LENGTH:.*]] = arith.muli %[[ROWS:.*]], %{{.*}} : index
// CHECK: %[[ROW_STRIDE:.*]] = arith.muli %[[W]], %c2{{(_[0-9]+)?}}
// CHECK: %[[INIT:.*]] = tensor.empty(%{{.*}}, %[[LENGTH]]) : tensor<?x3x2x2x?xf32>
// CHECK: linalg.generic {{.*}} outs(%[[INIT]] : tensor<?x3x2x2x?xf32>)
// CHECK: %[[J:.*]] = linalg.index 4
// CHECK: %[[ROW:.*]] = arith.divui %[[J]], %[[Q:.*]] : index
// CHECK: arith.muli %[[ROW]], %[[ROW_STRIDE]]
// CHECK: arith.remui %[[J]], %[[Q]]
// CHECK: tensor.extract %[[FLAT]][%{{.*}}, %{{.*}}, %{{.*}}]
// CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0], [1, 2, 3], [4]] : tensor<?x3x2x2x?xf32> into tensor<?x12x?xf32>
func.func @im2col_symbolic(%x: tensor<?x3x?x?xf32>) -> tensor<?x12x?xf32> {
  %0 = ube.im2col %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 1>} : tensor<?x3x?x?xf32>
  return %0 : tensor<?x12x?xf32>
}

// -----

// batch_columns: column d4 is image d4 floordiv 4's position d4 mod 4.
// CHECK-DAG: #[[TAPS:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d4 floordiv 4, d1, ((d4 mod 4) floordiv 2) * 10 + (d4 mod 2) * 2 + d2 * 5 + d3)>
// CHECK-LABEL: func.func @im2col_batch_columns
// CHECK: linalg.generic {indexing_maps = [#[[TAPS]], #{{.*}}], {{.*}} outs(%{{.*}} : tensor<1x3x2x2x8xf32>)
// CHECK: tensor.collapse_shape %{{.*}} : tensor<1x3x2x2x8xf32> into tensor<1x12x8xf32>
func.func @im2col_batch_columns(%x: tensor<2x3x6x5xf32>) -> tensor<1x12x8xf32> {
  %0 = ube.im2col %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, columns = 2,
                      length = 4, batch_columns} : tensor<2x3x6x5xf32>
  return %0 : tensor<1x12x8xf32>
}

// -----

// Average pooling in f16: summed in f32, divided by each window's count of
// input elements (padding excluded: 2, 3, 2), rounded once.
// CHECK-LABEL: func.func @avg_pool
// CHECK: tensor.pad %{{.*}} low[0, 0, 1] high[0, 0, 1]
// CHECK: linalg.generic
// CHECK: arith.extf
// CHECK: arith.constant dense<[2.000000e+00, 3.000000e+00, 2.000000e+00]> : tensor<3xf32>
// CHECK: arith.divf
// CHECK: arith.truncf
func.func @avg_pool(%x: tensor<1x2x5xf16>) -> tensor<1x2x3xf16> {
  %0 = ube.avg_pool %x {kernel = array<i64: 3>, stride = array<i64: 2>,
                        padding = array<i64: 1, 1>} : tensor<1x2x5xf16>
  return %0 : tensor<1x2x3xf16>
}

// -----

// Max pooling in ceil mode: the last window reads one element past the
// input, padded with -inf.
// CHECK-LABEL: func.func @max_pool
// CHECK: %[[LOWEST:.*]] = arith.constant 0xFF800000 : f32
// CHECK: tensor.pad %{{.*}} low[0, 0, 0] high[0, 0, 1]
// CHECK: tensor.yield %[[LOWEST]]
// CHECK: linalg.generic
// CHECK: arith.maximumf
func.func @max_pool(%x: tensor<1x2x5xf32>) -> tensor<1x2x3xf32> {
  %0 = ube.max_pool %x {kernel = array<i64: 2>, stride = array<i64: 2>, ceil_mode = true}
      : tensor<1x2x5xf32>
  return %0 : tensor<1x2x3xf32>
}

// -----

// The activations are elementwise generics.
// CHECK-LABEL: func.func @activations
// CHECK: linalg.generic
// CHECK: math.log1p
// CHECK: math.tanh
// CHECK: linalg.generic
// CHECK: arith.cmpf olt
// CHECK: arith.select
func.func @activations(%x: tensor<8xf32>) -> (tensor<8xf32>, tensor<8xf32>) {
  %0 = ube.mish %x : tensor<8xf32>
  %1 = ube.clamp %x {min = 0.0 : f64, max = 6.0 : f64} : tensor<8xf32>
  return %0, %1 : tensor<8xf32>, tensor<8xf32>
}

// -----

// A convolution over a symbolic length: the padded input and the output
// sized at run time, the output length (len + 2 − 5) floordiv 2 + 1, plus
// min(len + 2 − 5, 0) so that it is negative where the window does not fit
// (the call's checks refuse that: derive-symbol-sizes.mlir).
// CHECK-LABEL: func.func @conv_symbolic_length
// CHECK: tensor.pad %{{.*}} low[0, 0, 1] high[0, 0, %{{.*}}]
// CHECK: } : tensor<?x2x?xf32> to tensor<?x2x?xf32>
// CHECK: %[[LEN:.*]] = tensor.dim %arg0, %c2{{.*}} : tensor<?x2x?xf32>
// CHECK: %[[ROOM:.*]] = arith.addi %[[LEN]], %{{.*}}
// CHECK: %[[STEPS:.*]] = arith.floordivsi %[[ROOM]], %{{.*}}
// CHECK: %[[OUT:.*]] = arith.addi %[[STEPS]], %{{.*}}
// CHECK: %[[MISFIT:.*]] = arith.minsi %[[ROOM]], %{{.*}}
// CHECK: %[[SIZE:.*]] = arith.addi %[[OUT]], %[[MISFIT]]
// CHECK: tensor.empty(%{{.*}}, %[[SIZE]]) : tensor<?x1x4x?xf32>
// CHECK: linalg.generic
// CHECK: tensor.collapse_shape {{.*}} : tensor<?x1x4x?xf32> into tensor<?x4x?xf32>
func.func @conv_symbolic_length(%x: tensor<?x2x?xf32>, %w: tensor<4x2x5xf32>) -> tensor<?x4x?xf32> {
  %0 = ube.conv %x, %w {padding = array<i64: 1, 1>, stride = array<i64: 2>} : tensor<?x2x?xf32>, tensor<4x2x5xf32>
  return %0 : tensor<?x4x?xf32>
}

// -----

// Average pooling on a symbolic plane in ceil mode, padding not counted:
// the last window's overhang padded at run time (max(0, …)), and each
// position counts its taps on the input as it divides (linalg.index).
// CHECK-LABEL: func.func @avg_pool_symbolic_plane
// CHECK: arith.ceildivsi
// CHECK: arith.maxsi
// CHECK: tensor.pad %{{.*}} low[0, 0, 1, 1] high[0, 0, %{{.*}}, %{{.*}}]
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : tensor<1x3x?x?xf32>, tensor<3x3xi8>)
// CHECK: linalg.generic
// CHECK: linalg.index 2
// CHECK: linalg.index 3
// CHECK: arith.sitofp
// CHECK: arith.divf
func.func @avg_pool_symbolic_plane(%x: tensor<1x3x?x?xf32>) -> tensor<1x3x?x?xf32> {
  %0 = ube.avg_pool %x {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>, padding = array<i64: 1, 1, 1, 1>, ceil_mode = true, count_include_pad = false} : tensor<1x3x?x?xf32>
  return %0 : tensor<1x3x?x?xf32>
}

// -----

// Side by side on a symbolic batch and planes: column j of the one matrix is
// image j / length's position j mod length, both read at run time.
// CHECK-LABEL: func.func @im2col_symbolic_side_by_side
// CHECK: %[[FLAT:.*]] = tensor.collapse_shape %arg0 {{\[}}[0], [1], [2, 3]] : tensor<?x2x?x?xf32> into tensor<?x2x?xf32>
// CHECK: %[[LENGTH:.*]] = arith.muli %{{.*}}, %{{.*}} : index
// CHECK: %[[B:.*]] = tensor.dim %arg0, %c0
// CHECK: %[[COLUMNS:.*]] = arith.muli %[[B]], %[[LENGTH]] : index
// CHECK: %[[INIT:.*]] = tensor.empty(%[[COLUMNS]]) : tensor<1x2x3x3x?xf32>
// CHECK: %[[J:.*]] = linalg.index 4
// CHECK: %[[IMAGE:.*]] = arith.divui %[[J]], %[[LENGTH]]
// CHECK: %[[POSITION:.*]] = arith.remui %[[J]], %[[LENGTH]]
// CHECK: tensor.extract %[[FLAT]][%[[IMAGE]], %{{.*}}, %{{.*}}]
// CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0], [1, 2, 3], [4]] : tensor<1x2x3x3x?xf32> into tensor<1x18x?xf32>
func.func @im2col_symbolic_side_by_side(%x: tensor<?x2x?x?xf32>) -> tensor<1x18x?xf32> {
  %0 = ube.im2col %x {kernel = array<i64: 3, 3>, batch_columns} : tensor<?x2x?x?xf32>
  return %0 : tensor<1x18x?xf32>
}
