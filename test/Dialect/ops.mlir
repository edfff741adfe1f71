// Round trip of every ube op through the custom and the generic assembly.
// RUN: ube-opt %s | ube-opt | FileCheck %s
// RUN: ube-opt %s --mlir-print-op-generic | ube-opt | FileCheck %s

// CHECK-LABEL: func.func @unary
func.func @unary(%f: tensor<2x3xf32>, %i: tensor<4xi32>, %b: tensor<4xi1>, %h: tensor<2xbf16>) {
  // CHECK: ube.neg %{{.*}} : tensor<2x3xf32>
  %0 = ube.neg %f : tensor<2x3xf32>
  // CHECK: ube.neg %{{.*}} : tensor<4xi32>
  %1 = ube.neg %i : tensor<4xi32>
  // CHECK: ube.abs %{{.*}} : tensor<4xi32>
  %2 = ube.abs %i : tensor<4xi32>
  // CHECK: ube.exp %{{.*}} : tensor<2x3xf32>
  %3 = ube.exp %f : tensor<2x3xf32>
  // CHECK: ube.log %{{.*}} : tensor<2xbf16>
  %4 = ube.log %h : tensor<2xbf16>
  // CHECK: ube.sqrt
  %5 = ube.sqrt %f : tensor<2x3xf32>
  // CHECK: ube.rsqrt
  %6 = ube.rsqrt %f : tensor<2x3xf32>
  // CHECK: ube.tanh
  %7 = ube.tanh %f : tensor<2x3xf32>
  // CHECK: ube.erf
  %8 = ube.erf %f : tensor<2x3xf32>
  // CHECK: ube.sigmoid
  %9 = ube.sigmoid %f : tensor<2x3xf32>
  // CHECK: ube.relu %{{.*}} : tensor<4xi32>
  %10 = ube.relu %i : tensor<4xi32>
  // CHECK: ube.gelu %{{.*}} : tensor<2x3xf32>
  %11 = ube.gelu %f : tensor<2x3xf32>
  // CHECK: ube.gelu %{{.*}} {approximate = "tanh"} : tensor<2x3xf32>
  %12 = ube.gelu %f {approximate = "tanh"} : tensor<2x3xf32>
  // CHECK: ube.logical_not %{{.*}} : tensor<4xi1>
  %13 = ube.logical_not %b : tensor<4xi1>
  // CHECK: ube.silu %{{.*}} : tensor<2x3xf32>
  %14 = ube.silu %f : tensor<2x3xf32>
  // CHECK: ube.sin %{{.*}} : tensor<2xbf16>
  %15 = ube.sin %h : tensor<2xbf16>
  // CHECK: ube.cos %{{.*}} : tensor<2x3xf32>
  %16 = ube.cos %f : tensor<2x3xf32>
  return
}

// CHECK-LABEL: func.func @binary
func.func @binary(%a: tensor<2x3xf32>, %row: tensor<3xf32>, %col: tensor<2x1xf32>,
                  %i: tensor<4xi64>, %b: tensor<4xi1>) -> tensor<2x3xf32> {
  // CHECK: ube.add %{{.*}}, %{{.*}} : tensor<2x3xf32>, tensor<3xf32>
  %0 = ube.add %a, %row : tensor<2x3xf32>, tensor<3xf32>
  // CHECK: ube.sub %{{.*}}, %{{.*}} : tensor<2x1xf32>, tensor<3xf32>
  %1 = ube.sub %col, %row : tensor<2x1xf32>, tensor<3xf32>
  // CHECK: ube.mul
  %2 = ube.mul %0, %1 : tensor<2x3xf32>, tensor<2x3xf32>
  // CHECK: ube.div %{{.*}}, %{{.*}} : tensor<4xi64>, tensor<4xi64>
  %3 = ube.div %i, %i : tensor<4xi64>, tensor<4xi64>
  // CHECK: ube.pow
  %4 = ube.pow %a, %col : tensor<2x3xf32>, tensor<2x1xf32>
  // CHECK: ube.maximum
  %5 = ube.maximum %a, %row : tensor<2x3xf32>, tensor<3xf32>
  // CHECK: ube.minimum
  %6 = ube.minimum %a, %row : tensor<2x3xf32>, tensor<3xf32>
  // CHECK: ube.logical_and %{{.*}}, %{{.*}} : tensor<4xi1>, tensor<4xi1>
  %7 = ube.logical_and %b, %b : tensor<4xi1>, tensor<4xi1>
  // CHECK: ube.logical_or
  %8 = ube.logical_or %b, %7 : tensor<4xi1>, tensor<4xi1>
  // CHECK: ube.compare "lt", %{{.*}}, %{{.*}} : tensor<2x3xf32>, tensor<3xf32>
  %9 = ube.compare "lt", %a, %row : tensor<2x3xf32>, tensor<3xf32>
  // CHECK: ube.compare "eq", %{{.*}}, %{{.*}} : tensor<4xi64>, tensor<4xi64>
  %10 = ube.compare "eq", %i, %i : tensor<4xi64>, tensor<4xi64>
  // CHECK: ube.where %{{.*}}, %{{.*}}, %{{.*}} : tensor<2x3xi1>, tensor<2x3xf32>, tensor<2x1xf32>
  %11 = ube.where %9, %a, %col : tensor<2x3xi1>, tensor<2x3xf32>, tensor<2x1xf32>
  // CHECK: ube.cast %{{.*}} : tensor<2x3xf32> to tensor<2x3xf16>
  %12 = ube.cast %11 : tensor<2x3xf32> to tensor<2x3xf16>
  // CHECK: ube.cast %{{.*}} : tensor<4xi1> to tensor<4xf32>
  %13 = ube.cast %8 : tensor<4xi1> to tensor<4xf32>
  return %11 : tensor<2x3xf32>
}

// CHECK-LABEL: func.func @contractions
func.func @contractions(%a: tensor<4x2x8xf32>, %b: tensor<8x5xf32>, %v: tensor<8xf32>,
                        %w: tensor<16x8xf32>, %bias: tensor<16xf32>) {
  // CHECK: ube.matmul %{{.*}}, %{{.*}} : tensor<4x2x8xf32>, tensor<8x5xf32>
  %0 = ube.matmul %a, %b : tensor<4x2x8xf32>, tensor<8x5xf32>
  // CHECK: ube.matmul %{{.*}}, %{{.*}} {transpose_rhs = true} : tensor<4x2x8xf32>, tensor<16x8xf32>
  %1 = ube.matmul %a, %w {transpose_rhs = true} : tensor<4x2x8xf32>, tensor<16x8xf32>
  // CHECK: ube.matmul %{{.*}}, %{{.*}} : tensor<8xf32>, tensor<8x5xf32>
  %2 = ube.matmul %v, %b : tensor<8xf32>, tensor<8x5xf32>
  // CHECK: ube.matmul %{{.*}}, %{{.*}} : tensor<8xf32>, tensor<8xf32>
  %3 = ube.matmul %v, %v : tensor<8xf32>, tensor<8xf32>
  // CHECK: ube.linear %{{.*}}, %{{.*}}, %{{.*}} : tensor<4x2x8xf32>, tensor<16x8xf32>, tensor<16xf32>
  %4 = ube.linear %a, %w, %bias : tensor<4x2x8xf32>, tensor<16x8xf32>, tensor<16xf32>
  // CHECK: ube.linear %{{.*}}, %{{.*}} : tensor<8xf32>, tensor<16x8xf32>
  %5 = ube.linear %v, %w : tensor<8xf32>, tensor<16x8xf32>
  return
}

// CHECK-LABEL: func.func @normalization
func.func @normalization(%x: tensor<2x4x8xf32>, %w: tensor<8xf32>, %w2: tensor<4x8xf32>) {
  // CHECK: ube.softmax %{{.*}} : tensor<2x4x8xf32>
  %0 = ube.softmax %x : tensor<2x4x8xf32>
  // CHECK: ube.softmax %{{.*}} {axis = 1 : i64} : tensor<2x4x8xf32>
  %1 = ube.softmax %x {axis = 1} : tensor<2x4x8xf32>
  // CHECK: ube.log_softmax %{{.*}} {axis = 0 : i64} : tensor<2x4x8xf32>
  %2 = ube.log_softmax %x {axis = 0} : tensor<2x4x8xf32>
  // CHECK: ube.layer_norm %{{.*}} : tensor<2x4x8xf32>
  %3 = ube.layer_norm %x : tensor<2x4x8xf32>
  // CHECK: ube.layer_norm %{{.*}}, %{{.*}}, %{{.*}} {epsilon = 9.9999999999999995E-8 : f64} : tensor<2x4x8xf32>, tensor<8xf32>, tensor<8xf32>
  %4 = ube.layer_norm %x, %w, %w {epsilon = 1.0e-7} : tensor<2x4x8xf32>, tensor<8xf32>, tensor<8xf32>
  // CHECK: ube.layer_norm %{{.*}}, %{{.*}} {axis = -2 : i64} : tensor<2x4x8xf32>, tensor<4x8xf32>
  %5 = ube.layer_norm %x, %w2 {axis = -2} : tensor<2x4x8xf32>, tensor<4x8xf32>
  // CHECK: ube.rms_norm %{{.*}} : tensor<2x4x8xf32>
  %rms0 = ube.rms_norm %x : tensor<2x4x8xf32>
  // CHECK: ube.rms_norm %{{.*}}, %{{.*}} {axis = -2 : i64, epsilon = 9.9999999999999995E-8 : f64} : tensor<2x4x8xf32>, tensor<4x8xf32>
  %rms1 = ube.rms_norm %x, %w2 {axis = -2, epsilon = 1.0e-7} : tensor<2x4x8xf32>, tensor<4x8xf32>
  // CHECK: ube.reduce_sum %{{.*}} : tensor<2x4x8xf32>
  %6 = ube.reduce_sum %x : tensor<2x4x8xf32>
  // CHECK: ube.reduce_mean %{{.*}} {axes = array<i64: 0, -1>, keepdims = true} : tensor<2x4x8xf32>
  %7 = ube.reduce_mean %x {axes = array<i64: 0, -1>, keepdims = true} : tensor<2x4x8xf32>
  // CHECK: ube.reduce_max %{{.*}} {axes = array<i64: 1>} : tensor<2x4x8xf32>
  %8 = ube.reduce_max %x {axes = array<i64: 1>} : tensor<2x4x8xf32>
  return
}

// CHECK-LABEL: func.func @data_movement
func.func @data_movement(%x: tensor<2x3x4xf32>, %ids: tensor<5x7xi32>, %table: tensor<100x16xf32>,
                         %step: tensor<i64>) {
  // CHECK: ube.transpose %{{.*}}, [2, 0, 1] : tensor<2x3x4xf32>
  %0 = ube.transpose %x, [2, 0, 1] : tensor<2x3x4xf32>
  // CHECK: ube.reshape %{{.*}} : tensor<2x3x4xf32> to tensor<6x4xf32>
  %1 = ube.reshape %x : tensor<2x3x4xf32> to tensor<6x4xf32>
  // CHECK: ube.broadcast_to %{{.*}} : tensor<6x4xf32> to tensor<5x6x4xf32>
  %2 = ube.broadcast_to %1 : tensor<6x4xf32> to tensor<5x6x4xf32>
  // CHECK: ube.concat %{{.*}}, %{{.*}} {axis = 1 : i64} : tensor<2x3x4xf32>, tensor<2x3x4xf32>
  %3 = ube.concat %x, %x {axis = 1} : tensor<2x3x4xf32>, tensor<2x3x4xf32>
  // CHECK: ube.slice %{{.*}} {limit = array<i64: 2, 3, 4>, start = array<i64: 0, 1, 0>, stride = array<i64: 1, 1, 2>} : tensor<2x3x4xf32>
  %4 = ube.slice %x {start = array<i64: 0, 1, 0>, limit = array<i64: 2, 3, 4>, stride = array<i64: 1, 1, 2>} : tensor<2x3x4xf32>
  // CHECK: ube.pad %{{.*}} low[0, -1, 2] high[1, 0, %{{.*}}] {value = 5.000000e-01 : f64} : tensor<2x3x4xf32>
  %amount = arith.constant 3 : index
  %pad = ube.pad %x low[0, -1, 2] high[1, 0, %amount] {value = 0.5} : tensor<2x3x4xf32>
  // CHECK: ube.gather %{{.*}}, %{{.*}} : tensor<100x16xf32>, tensor<5x7xi32>
  %5 = ube.gather %table, %ids : tensor<100x16xf32>, tensor<5x7xi32>
  // CHECK: ube.constant dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>
  %6 = ube.constant dense<[1.0, 2.0]> : tensor<2xf32>
  // CHECK: ube.constant dense<true> : tensor<i1>
  %7 = ube.constant dense<true> : tensor<i1>
  // CHECK: ube.dropout %{{.*}} {rate = 1.000000e-01 : f64, seed = 7 : i64} : tensor<2x3x4xf32>
  %8 = ube.dropout %x {rate = 0.1 : f64, seed = 7} : tensor<2x3x4xf32>
  // CHECK: ube.dropout %{{.*}} step %{{.*}} {rate = 5.000000e-01 : f64} : tensor<2x3x4xf32>
  %9 = ube.dropout %x step %step {rate = 0.5 : f64} : tensor<2x3x4xf32>
  return
}

// CHECK-LABEL: func.func @losses
func.func @losses(%logits: tensor<4x10xf32>, %labels: tensor<4xi64>, %a: tensor<4x10xf32>) {
  // CHECK: ube.cross_entropy %{{.*}}, %{{.*}} : tensor<4x10xf32>, tensor<4xi64>
  %0 = ube.cross_entropy %logits, %labels : tensor<4x10xf32>, tensor<4xi64>
  // CHECK: ube.cross_entropy %{{.*}}, %{{.*}} {ignore_index = 0 : i64, reduction = "none"}
  %1 = ube.cross_entropy %logits, %labels {ignore_index = 0, reduction = "none"} : tensor<4x10xf32>, tensor<4xi64>
  // CHECK: ube.mse_loss %{{.*}}, %{{.*}} : tensor<4x10xf32>, tensor<4x10xf32>
  %2 = ube.mse_loss %logits, %a : tensor<4x10xf32>, tensor<4x10xf32>
  // CHECK: ube.mse_loss %{{.*}}, %{{.*}} {reduction = "sum"}
  %3 = ube.mse_loss %logits, %a {reduction = "sum"} : tensor<4x10xf32>, tensor<4x10xf32>
  return
}

// CHECK-LABEL: func.func @distillation
func.func @distillation(%s: tensor<2x8x100xf32>, %t: tensor<2x8x100xf32>, %y: tensor<2x8xi64>,
                        %hs: tensor<2x8x32xf32>, %ht: tensor<2x8x64xf32>, %w: tensor<32x64xf32>,
                        %qs: tensor<2x4x8x16xf32>, %qt: tensor<2x4x8x32xf32>, %mask: tensor<2x8xi1>,
                        %step: tensor<i64>) {
  // CHECK: ube.kd_loss %{{.*}}, %{{.*}} {temperature = 2.000000e+00 : f64} : tensor<2x8x100xf32>, tensor<2x8x100xf32>
  %0 = ube.kd_loss %s, %t {temperature = 2.0} : tensor<2x8x100xf32>, tensor<2x8x100xf32>
  // CHECK: ube.kd_loss %{{.*}}, %{{.*}} labels %{{.*}} {alpha = 5.000000e-01 : f64, scale_by_temperature_squared = false}
  %1 = ube.kd_loss %s, %t labels %y {alpha = 0.5, scale_by_temperature_squared = false} : tensor<2x8x100xf32>, tensor<2x8x100xf32>, tensor<2x8xi64>
  // CHECK: ube.feature_map_loss_grad %{{.*}}, %{{.*}}, %{{.*}} projection %{{.*}} {beta = 1.000000e+00 : f64} : tensor<2x8x32xf32>, tensor<2x8x64xf32>, tensor<f32>, tensor<32x64xf32>
  %fg:2 = ube.feature_map_loss_grad %hs, %ht, %1 projection %w {beta = 1.0} : tensor<2x8x32xf32>, tensor<2x8x64xf32>, tensor<f32>, tensor<32x64xf32>
  // CHECK: ube.attention_transfer_loss_grad %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} mask %{{.*}} : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x32xf32>, tensor<2x4x8x32xf32>, tensor<f32>, tensor<2x8xi1>
  %ag:2 = ube.attention_transfer_loss_grad %qs, %qs, %qt, %qt, %1 mask %mask : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x32xf32>, tensor<2x4x8x32xf32>, tensor<f32>, tensor<2x8xi1>
  // CHECK: ube.kd_loss_grad %{{.*}}, %{{.*}}, %{{.*}} labels %{{.*}} {alpha = 5.000000e-01 : f64, temperature = 2.000000e+00 : f64} : tensor<2x8x100xf32>, tensor<2x8x100xf32>, tensor<f32>, tensor<2x8xi64>
  %g = ube.kd_loss_grad %s, %t, %1 labels %y {alpha = 0.5, temperature = 2.0} : tensor<2x8x100xf32>, tensor<2x8x100xf32>, tensor<f32>, tensor<2x8xi64>
  // CHECK: ube.feature_map_loss %{{.*}}, %{{.*}} projection %{{.*}} {beta = 1.000000e+00 : f64, gamma = 1.000000e+00 : f64} : tensor<2x8x32xf32>, tensor<2x8x64xf32>, tensor<32x64xf32>
  %2 = ube.feature_map_loss %hs, %ht projection %w {beta = 1.0, gamma = 1.0} : tensor<2x8x32xf32>, tensor<2x8x64xf32>, tensor<32x64xf32>
  // CHECK: ube.feature_map_loss %{{.*}}, %{{.*}} : tensor<2x8x64xf32>, tensor<2x8x64xf32>
  %3 = ube.feature_map_loss %ht, %ht : tensor<2x8x64xf32>, tensor<2x8x64xf32>
  // CHECK: ube.attention_transfer_loss %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} mask %{{.*}} : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x32xf32>, tensor<2x4x8x32xf32>, tensor<2x8xi1>
  %4 = ube.attention_transfer_loss %qs, %qs, %qt, %qt mask %mask : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x32xf32>, tensor<2x4x8x32xf32>, tensor<2x8xi1>
  // CHECK: ube.attention_transfer_loss %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x32xf32>, tensor<2x4x8x32xf32>
  %5 = ube.attention_transfer_loss %qs, %qs, %qt, %qt : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x32xf32>, tensor<2x4x8x32xf32>
  // CHECK: ube.transfer_probability %{{.*}} {offset = 2.000000e-01 : f64, slope = 1.000000e-03 : f64}
  %p = ube.transfer_probability %step {slope = 1.0e-3, offset = 0.2}
  // CHECK: ube.bernoulli_select %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {module_id = 3 : i64, seed = 42 : i64} : tensor<2x8x64xf32>
  %6 = ube.bernoulli_select %p, %step, %ht, %ht {seed = 42, module_id = 3} : tensor<2x8x64xf32>
  return
}

// CHECK-LABEL: func.func @attention
func.func @attention(%q: tensor<2x4x5x8xf32>, %k: tensor<2x2x6x8xf32>, %v: tensor<2x2x6x3xf32>,
                     %keep: tensor<5x6xi1>, %bias: tensor<2x1x5x6xf32>, %q2: tensor<5x8xf32>,
                     %k2: tensor<6x8xf32>, %step: tensor<i64>, %q3: tensor<5x6xf32>) {
  // CHECK: ube.scaled_dot_product_attention %{{.*}}, %{{.*}}, %{{.*}} : tensor<2x4x5x8xf32>, tensor<2x2x6x8xf32>, tensor<2x2x6x3xf32>
  %0 = ube.scaled_dot_product_attention %q, %k, %v : tensor<2x4x5x8xf32>, tensor<2x2x6x8xf32>, tensor<2x2x6x3xf32>
  // CHECK: ube.scaled_dot_product_attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {is_causal = true, scale = 5.000000e-01 : f64} : tensor<2x4x5x8xf32>, tensor<2x2x6x8xf32>, tensor<2x2x6x3xf32>, tensor<5x6xi1>
  %1 = ube.scaled_dot_product_attention %q, %k, %v, %keep {is_causal = true, scale = 0.5 : f64} : tensor<2x4x5x8xf32>, tensor<2x2x6x8xf32>, tensor<2x2x6x3xf32>, tensor<5x6xi1>
  // CHECK: ube.scaled_dot_product_attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<2x4x5x8xf32>, tensor<2x2x6x8xf32>, tensor<2x2x6x3xf32>, tensor<2x1x5x6xf32>
  %2 = ube.scaled_dot_product_attention %q, %k, %v, %bias : tensor<2x4x5x8xf32>, tensor<2x2x6x8xf32>, tensor<2x2x6x3xf32>, tensor<2x1x5x6xf32>
  // CHECK: ube.scaled_dot_product_attention %{{.*}}, %{{.*}}, %{{.*}} : tensor<5x8xf32>, tensor<6x8xf32>, tensor<6x8xf32>
  %3 = ube.scaled_dot_product_attention %q2, %k2, %k2 : tensor<5x8xf32>, tensor<6x8xf32>, tensor<6x8xf32>
  // CHECK: ube.scaled_dot_product_attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} step %{{.*}} {dropout_p = 1.000000e-01 : f64, seed = 3 : i64} : tensor<2x4x5x8xf32>, tensor<2x2x6x8xf32>, tensor<2x2x6x3xf32>, tensor<5x6xi1>
  %4 = ube.scaled_dot_product_attention %q, %k, %v, %keep step %step {dropout_p = 0.1 : f64, seed = 3} : tensor<2x4x5x8xf32>, tensor<2x2x6x8xf32>, tensor<2x2x6x3xf32>, tensor<5x6xi1>
  // CHECK: ube.scaled_dot_product_attention %{{.*}}, %{{.*}}, %{{.*}} step %{{.*}} {dropout_p = 2.000000e-01 : f64} : tensor<5x8xf32>, tensor<6x8xf32>, tensor<6x8xf32>
  %5 = ube.scaled_dot_product_attention %q2, %k2, %k2 step %step {dropout_p = 0.2 : f64} : tensor<5x8xf32>, tensor<6x8xf32>, tensor<6x8xf32>
  // CHECK: ube.dropout %{{.*}} {counter_offset = array<i64: 0, 2>, counter_shape = array<i64: 5, 8>, rate = 1.000000e-01 : f64} : tensor<5x6xf32>
  %6 = ube.dropout %q3 {rate = 0.1 : f64, counter_shape = array<i64: 5, 8>, counter_offset = array<i64: 0, 2>} : tensor<5x6xf32>
  // CHECK: ube.scaled_dot_product_attention_grad %{{.*}}, %{{.*}}, %{{.*}} mask %{{.*}} output %{{.*}} grad %{{.*}} {is_causal = true} : tensor<2x4x5x8xf32>, tensor<2x2x6x8xf32>, tensor<2x2x6x3xf32>, tensor<2x4x5x3xf32>, tensor<5x6xi1>
  %7:3 = ube.scaled_dot_product_attention_grad %q, %k, %v mask %keep output %1 grad %1 {is_causal = true} : tensor<2x4x5x8xf32>, tensor<2x2x6x8xf32>, tensor<2x2x6x3xf32>, tensor<2x4x5x3xf32>, tensor<5x6xi1>
  // CHECK: ube.scaled_dot_product_attention_grad %{{.*}}, %{{.*}}, %{{.*}} mask %{{.*}} output %{{.*}} grad %{{.*}} step %{{.*}} {dropout_p = 1.000000e-01 : f64, seed = 3 : i64} : tensor<2x4x5x8xf32>, tensor<2x2x6x8xf32>, tensor<2x2x6x3xf32>, tensor<2x4x5x3xf32>, tensor<5x6xi1>
  %8:3 = ube.scaled_dot_product_attention_grad %q, %k, %v mask %keep output %4 grad %4 step %step {dropout_p = 0.1 : f64, seed = 3} : tensor<2x4x5x8xf32>, tensor<2x2x6x8xf32>, tensor<2x2x6x3xf32>, tensor<2x4x5x3xf32>, tensor<5x6xi1>
  return
}

// CHECK-LABEL: func.func @activations
func.func @activations(%x: tensor<2x3xf32>, %d: tensor<4xf64>, %i: tensor<4xi8>) {
  // CHECK: ube.leaky_relu %{{.*}} {alpha = 2.000000e-01 : f64} : tensor<2x3xf32>
  %0 = ube.leaky_relu %x {alpha = 0.2 : f64} : tensor<2x3xf32>
  // CHECK: ube.elu %{{.*}} {alpha = 1.500000e+00 : f64, input_scale = 5.000000e-01 : f64}
  %1 = ube.elu %x {alpha = 1.5 : f64, input_scale = 0.5 : f64} : tensor<2x3xf32>
  // CHECK: ube.softplus %{{.*}} : tensor<4xf64>
  %2 = ube.softplus %d : tensor<4xf64>
  // CHECK: ube.mish
  %3 = ube.mish %x : tensor<2x3xf32>
  // CHECK: ube.hard_sigmoid
  %4 = ube.hard_sigmoid %x : tensor<2x3xf32>
  // CHECK: ube.hard_swish
  %5 = ube.hard_swish %x : tensor<2x3xf32>
  // CHECK: ube.clamp %{{.*}} {max = 6.000000e+00 : f64, min = 0.000000e+00 : f64} : tensor<2x3xf32>
  %6 = ube.clamp %x {min = 0.0 : f64, max = 6.0 : f64} : tensor<2x3xf32>
  // CHECK: ube.clamp %{{.*}} {min = -3.000000e+00 : f64} : tensor<4xi8>
  %7 = ube.clamp %i {min = -3.0 : f64} : tensor<4xi8>
  return
}

// CHECK-LABEL: func.func @windows
func.func @windows(%x: tensor<2x3x9x9xf32>, %w: tensor<8x3x3x3xf32>, %b: tensor<8xf32>,
                   %n: tensor<?x4x10xf32>, %dw: tensor<4x1x3xf32>, %g: tensor<2x8x5x5xf32>,
                   %gp: tensor<2x3x5x5xf32>) {
  // CHECK: ube.conv %{{.*}}, %{{.*}}, %{{.*}} {padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 2, 2>} : tensor<2x3x9x9xf32>, tensor<8x3x3x3xf32>, tensor<8xf32>
  %0 = ube.conv %x, %w, %b {stride = array<i64: 2, 2>, padding = array<i64: 1, 1, 1, 1>}
      : tensor<2x3x9x9xf32>, tensor<8x3x3x3xf32>, tensor<8xf32>
  // A depthwise 1-D convolution over a symbolic batch.
  // CHECK: ube.conv %{{.*}}, %{{.*}} {dilation = array<i64: 2>, groups = 4 : i64} : tensor<?x4x10xf32>, tensor<4x1x3xf32>
  %1 = ube.conv %n, %dw {groups = 4 : i64, dilation = array<i64: 2>}
      : tensor<?x4x10xf32>, tensor<4x1x3xf32>
  // CHECK: ube.im2col %{{.*}} {dilation = array<i64: 1, 2>, kernel = array<i64: 2, 3>, length = 50 : i64} : tensor<2x3x9x9xf32>{{$}}
  %patches = ube.im2col %x {kernel = array<i64: 2, 3>, dilation = array<i64: 1, 2>, length = 50}
      : tensor<2x3x9x9xf32>
  // CHECK: ube.im2col %{{.*}} {columns = 4 : i64, kernel = array<i64: 3, 3>, length = 16 : i64, stride = array<i64: 2, 2>} : tensor<2x3x9x9xf32>{{$}}
  %strided = ube.im2col %x {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>, columns = 4,
                            length = 16} : tensor<2x3x9x9xf32>
  // CHECK: ube.im2col %{{.*}} {batch_columns, columns = 4 : i64, kernel = array<i64: 3, 3>, length = 16 : i64, stride = array<i64: 2, 2>} : tensor<2x3x9x9xf32>{{$}}
  %side_by_side = ube.im2col %x {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>,
                                 columns = 4, length = 16, batch_columns} : tensor<2x3x9x9xf32>
  // CHECK: ube.max_pool %{{.*}} {ceil_mode = true, kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>} : tensor<2x3x9x9xf32>
  %2 = ube.max_pool %x {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>, ceil_mode = true}
      : tensor<2x3x9x9xf32>
  // CHECK: ube.avg_pool %{{.*}} {count_include_pad = true, kernel = array<i64: 2, 2>, padding = array<i64: 1, 0, 1, 0>}
  %3 = ube.avg_pool %x {kernel = array<i64: 2, 2>, padding = array<i64: 1, 0, 1, 0>,
                        count_include_pad = true} : tensor<2x3x9x9xf32>
  // CHECK: ube.max_pool_indices
  %4 = ube.max_pool_indices %x {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>}
      : tensor<2x3x9x9xf32>
  // CHECK: ube.conv_input_grad %{{.*}}, %{{.*}} {input_spatial = array<i64: 9, 9>, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 2, 2>} : tensor<2x8x5x5xf32>, tensor<8x3x3x3xf32>
  %5 = ube.conv_input_grad %g, %w {input_spatial = array<i64: 9, 9>,
                                   stride = array<i64: 2, 2>, padding = array<i64: 1, 1, 1, 1>}
      : tensor<2x8x5x5xf32>, tensor<8x3x3x3xf32>
  // CHECK: ube.conv_weight_grad
  %6 = ube.conv_weight_grad %x, %g {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>,
                                    padding = array<i64: 1, 1, 1, 1>}
      : tensor<2x3x9x9xf32>, tensor<2x8x5x5xf32>
  // CHECK: ube.avg_pool_grad
  %7 = ube.avg_pool_grad %gp {input_spatial = array<i64: 9, 9>, kernel = array<i64: 3, 3>,
                              stride = array<i64: 2, 2>, padding = array<i64: 1, 1, 1, 1>}
      : tensor<2x3x5x5xf32>
  // CHECK: ube.max_pool_grad
  %8 = ube.max_pool_grad %x, %gp {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>,
                                  padding = array<i64: 1, 1, 1, 1>}
      : tensor<2x3x9x9xf32>, tensor<2x3x5x5xf32>
  return
}

// im2col over the window's output positions (no length): 4 × 4 of a static
// 9 × 9 plane; counted at run time on a symbolic plane (the result's type
// is checked by the returns).
// CHECK-LABEL: func.func @im2col_positions
// CHECK: ube.im2col %{{.*}} {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>} : tensor<2x3x9x9xf32>{{$}}
// CHECK: ube.im2col %{{.*}} {dilation = array<i64: 2, 1>, kernel = array<i64: 3, 3>} : tensor<?x3x?x?xf32>{{$}}
func.func @im2col_positions(%x: tensor<2x3x9x9xf32>, %s: tensor<?x3x?x?xf32>)
    -> (tensor<2x27x16xf32>, tensor<?x27x?xf32>) {
  %0 = ube.im2col %x {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>}
      : tensor<2x3x9x9xf32>
  %1 = ube.im2col %s {kernel = array<i64: 3, 3>, dilation = array<i64: 2, 1>}
      : tensor<?x3x?x?xf32>
  return %0, %1 : tensor<2x27x16xf32>, tensor<?x27x?xf32>
}

// CHECK-LABEL: func.func @axis_ops
func.func @axis_ops(%x: tensor<3x5xf32>, %i: tensor<3x5xi32>) {
  // CHECK: ube.argmax %{{.*}} {axis = 1 : i64} : tensor<3x5xf32>
  %0 = ube.argmax %x {axis = 1} : tensor<3x5xf32>
  // CHECK: ube.argmin %{{.*}} {axis = 0 : i64, keepdims = true, select_last_index = true}
  %1 = ube.argmin %i {axis = 0, keepdims = true, select_last_index = true} : tensor<3x5xi32>
  // CHECK: ube.cumsum %{{.*}} {axis = -1 : i64, exclusive = true, reverse = true}
  %2 = ube.cumsum %x {axis = -1, exclusive = true, reverse = true} : tensor<3x5xf32>
  // CHECK: ube.reduce_min %{{.*}} {axes = array<i64: 0>} : tensor<3x5xi32>
  %3 = ube.reduce_min %i {axes = array<i64: 0>} : tensor<3x5xi32>
  // CHECK: ube.floor
  %4 = ube.floor %x : tensor<3x5xf32>
  // CHECK: ube.ceil
  %5 = ube.ceil %x : tensor<3x5xf32>
  // CHECK: ube.round
  %6 = ube.round %x : tensor<3x5xf32>
  // CHECK: ube.trunc
  %7 = ube.trunc %x : tensor<3x5xf32>
  // CHECK: ube.sign %{{.*}} : tensor<3x5xi32>
  %8 = ube.sign %i : tensor<3x5xi32>
  // CHECK: ube.fmod %{{.*}}, %{{.*}} : tensor<3x5xi32>, tensor<3x5xi32>
  %9 = ube.fmod %i, %i : tensor<3x5xi32>, tensor<3x5xi32>
  return
}

// CHECK-LABEL: func.func @topk
func.func @topk(%x: tensor<3x5xf32>) -> tensor<3x2xi64> {
  // CHECK: ube.topk %{{.*}} {axis = 1 : i64, k = 2 : i64, largest = false} : tensor<3x5xf32>
  %0 = ube.topk %x {k = 2, axis = 1, largest = false} : tensor<3x5xf32>
  return %0 : tensor<3x2xi64>
}

// CHECK-LABEL: func.func @transcendental
func.func @transcendental(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  // CHECK: ube.atanh %{{.*}} : tensor<4xf32>
  %0 = ube.atanh %x : tensor<4xf32>
  // CHECK: ube.atan2 %{{.*}}, %{{.*}} : tensor<4xf32>, tensor<4xf32>
  %1 = ube.atan2 %0, %x : tensor<4xf32>, tensor<4xf32>
  return %0, %1 : tensor<4xf32>, tensor<4xf32>
}
