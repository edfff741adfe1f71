// Every verifier error of the ube dialect.
// RUN: ube-opt %s -split-input-file -verify-diagnostics

func.func @binary_element_types(%a: tensor<4xf32>, %b: tensor<4xf16>) {
  // expected-error@+1 {{operands must have the same element type, got 'f32' and 'f16'}}
  %0 = ube.add %a, %b : tensor<4xf32>, tensor<4xf16>
  return
}

// -----

func.func @binary_broadcast(%a: tensor<2x3xf32>, %b: tensor<4xf32>) {
  // expected-error@+1 {{shapes [2, 3] and [4] are not broadcast-compatible}}
  %0 = ube.mul %a, %b : tensor<2x3xf32>, tensor<4xf32>
  return
}

// -----

func.func @binary_operand_type(%a: tensor<4xi1>) {
  // expected-error@+1 {{operand #0 must be ranked tensor of 32-bit float or 64-bit float or 16-bit float or bfloat16 type or 8-bit signless integer or 16-bit signless integer or 32-bit signless integer or 64-bit signless integer or 8-bit unsigned integer or 16-bit unsigned integer or 32-bit unsigned integer or 64-bit unsigned integer values}}
  %0 = "ube.add"(%a, %a) : (tensor<4xi1>, tensor<4xi1>) -> tensor<4xi1>
  return
}

// -----

func.func @generic_wrong_result(%a: tensor<4xf32>) {
  // expected-error@+2 {{'ube.add' op inferred type(s) 'tensor<4xf32>' are incompatible with return type(s) of operation 'tensor<5xf32>'}}
  // expected-error@+1 {{'ube.add' op failed to infer returned types}}
  %0 = "ube.add"(%a, %a) : (tensor<4xf32>, tensor<4xf32>) -> tensor<5xf32>
  return
}

// -----

func.func @float_only(%a: tensor<4xi32>) {
  // expected-error@+1 {{must be ranked tensor of 32-bit float or 64-bit float or 16-bit float or bfloat16 type values}}
  %0 = "ube.exp"(%a) : (tensor<4xi32>) -> tensor<4xi32>
  return
}

// -----

func.func @gelu_mode(%a: tensor<4xf32>) {
  // expected-error@+1 {{attribute 'approximate' failed to satisfy constraint: string attribute one of: none, tanh}}
  %0 = ube.gelu %a {approximate = "fast"} : tensor<4xf32>
  return
}

// -----

func.func @compare_predicate(%a: tensor<4xf32>) {
  // expected-error@+1 {{attribute 'predicate' failed to satisfy constraint: string attribute one of: eq, ne, lt, le, gt, ge}}
  %0 = ube.compare "lte", %a, %a : tensor<4xf32>, tensor<4xf32>
  return
}

// -----

func.func @where_types(%c: tensor<4xi1>, %a: tensor<4xf32>, %b: tensor<4xi32>) {
  // expected-error@+1 {{lhs and rhs must have the same element type, got 'f32' and 'i32'}}
  %0 = ube.where %c, %a, %b : tensor<4xi1>, tensor<4xf32>, tensor<4xi32>
  return
}

// -----

func.func @where_broadcast(%c: tensor<3xi1>, %a: tensor<4xf32>) {
  // expected-error@+1 {{shapes [3] and [4] are not broadcast-compatible}}
  %0 = ube.where %c, %a, %a : tensor<3xi1>, tensor<4xf32>, tensor<4xf32>
  return
}

// -----

func.func @cast_shape(%a: tensor<4xf32>) {
  // expected-error@+1 {{'ube.cast' op requires the same shape for all operands and results}}
  %0 = ube.cast %a : tensor<4xf32> to tensor<5xf16>
  return
}

// -----

func.func @matmul_scalar(%a: tensor<f32>, %b: tensor<4xf32>) {
  // expected-error@+1 {{operands must have rank at least 1}}
  %0 = ube.matmul %a, %b : tensor<f32>, tensor<4xf32>
  return
}

// -----

func.func @matmul_transpose_vector(%a: tensor<4xf32>, %b: tensor<4x2xf32>) {
  // expected-error@+1 {{a rank-1 operand cannot be transposed}}
  %0 = ube.matmul %a, %b {transpose_lhs = true} : tensor<4xf32>, tensor<4x2xf32>
  return
}

// -----

func.func @matmul_contraction(%a: tensor<2x3xf32>, %b: tensor<4x5xf32>) {
  // expected-error@+1 {{contraction dimensions differ: lhs [2, 3] has 3, rhs [4, 5] has 4}}
  %0 = ube.matmul %a, %b : tensor<2x3xf32>, tensor<4x5xf32>
  return
}

// -----

func.func @matmul_batch(%a: tensor<2x2x3xf32>, %b: tensor<3x3x5xf32>) {
  // expected-error@+1 {{batch dimensions [2] and [3] are not broadcast-compatible}}
  %0 = ube.matmul %a, %b : tensor<2x2x3xf32>, tensor<3x3x5xf32>
  return
}

// -----

func.func @matmul_types(%a: tensor<2x3xf32>, %b: tensor<3x5xf16>) {
  // expected-error@+1 {{lhs and rhs must have the same element type, got 'f32' and 'f16'}}
  %0 = ube.matmul %a, %b : tensor<2x3xf32>, tensor<3x5xf16>
  return
}

// -----

func.func @linear_rank(%x: tensor<2x8xf32>, %w: tensor<16x8x1xf32>) {
  // expected-error@+1 {{expects input [..., in] and weight [out, in], got [2, 8] and [16, 8, 1]}}
  %0 = ube.linear %x, %w : tensor<2x8xf32>, tensor<16x8x1xf32>
  return
}

// -----

func.func @linear_features(%x: tensor<2x8xf32>, %w: tensor<16x7xf32>) {
  // expected-error@+1 {{weight [16, 7] does not match input features 8}}
  %0 = ube.linear %x, %w : tensor<2x8xf32>, tensor<16x7xf32>
  return
}

// -----

func.func @linear_bias(%x: tensor<2x8xf32>, %w: tensor<16x8xf32>, %b: tensor<8xf32>) {
  // expected-error@+1 {{bias [8] must have shape [16]}}
  %0 = ube.linear %x, %w, %b : tensor<2x8xf32>, tensor<16x8xf32>, tensor<8xf32>
  return
}

// -----

func.func @linear_bias_type(%x: tensor<2x8xf32>, %w: tensor<16x8xf32>, %b: tensor<16xf16>) {
  // expected-error@+1 {{input and bias must have the same element type, got 'f32' and 'f16'}}
  %0 = ube.linear %x, %w, %b : tensor<2x8xf32>, tensor<16x8xf32>, tensor<16xf16>
  return
}

// -----

func.func @softmax_axis(%x: tensor<2x8xf32>) {
  // expected-error@+1 {{axis 2 is out of range for a tensor of rank 2}}
  %0 = ube.softmax %x {axis = 2} : tensor<2x8xf32>
  return
}

// -----

func.func @log_softmax_axis(%x: tensor<2x8xf32>) {
  // expected-error@+1 {{axis -3 is out of range for a tensor of rank 2}}
  %0 = ube.log_softmax %x {axis = -3} : tensor<2x8xf32>
  return
}

// -----

func.func @layer_norm_weight(%x: tensor<2x8xf32>, %w: tensor<2x8xf32>) {
  // expected-error@+1 {{weight [2, 8] must have the normalized shape [8]}}
  %0 = ube.layer_norm %x, %w : tensor<2x8xf32>, tensor<2x8xf32>
  return
}

// -----

func.func @layer_norm_bias(%x: tensor<2x8xf32>, %w: tensor<8xf32>, %b: tensor<7xf32>) {
  // expected-error@+1 {{bias [7] must have the normalized shape [8]}}
  %0 = ube.layer_norm %x, %w, %b : tensor<2x8xf32>, tensor<8xf32>, tensor<7xf32>
  return
}

// -----

func.func @layer_norm_affine_count(%x: tensor<2x8xf32>, %w: tensor<8xf32>) {
  // expected-error@+1 {{takes at most two affine operands (weight, bias), got 3}}
  %0 = ube.layer_norm %x, %w, %w, %w : tensor<2x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>
  return
}

// -----

func.func @layer_norm_epsilon(%x: tensor<2x8xf32>) {
  // expected-error@+1 {{epsilon must be positive, got 0}}
  %0 = ube.layer_norm %x {epsilon = 0.0} : tensor<2x8xf32>
  return
}

// -----

func.func @layer_norm_axis(%x: tensor<2x8xf32>) {
  // expected-error@+1 {{axis 5 is out of range for a tensor of rank 2}}
  %0 = ube.layer_norm %x {axis = 5} : tensor<2x8xf32>
  return
}

// -----

func.func @rms_norm_weight(%x: tensor<2x8xf32>, %w: tensor<2x8xf32>) {
  // expected-error@+1 {{weight [2, 8] must have the normalized shape [8]}}
  %0 = ube.rms_norm %x, %w : tensor<2x8xf32>, tensor<2x8xf32>
  return
}

// -----

func.func @rms_norm_weight_type(%x: tensor<2x8xf32>, %w: tensor<8xf16>) {
  // expected-error@+1 {{input and weight must have the same element type, got 'f32' and 'f16'}}
  %0 = ube.rms_norm %x, %w : tensor<2x8xf32>, tensor<8xf16>
  return
}

// -----

func.func @rms_norm_epsilon(%x: tensor<2x8xf32>) {
  // expected-error@+1 {{epsilon must be positive, got -1}}
  %0 = ube.rms_norm %x {epsilon = -1.0} : tensor<2x8xf32>
  return
}

// -----

func.func @rms_norm_axis(%x: tensor<2x8xf32>) {
  // expected-error@+1 {{axis -3 is out of range for a tensor of rank 2}}
  %0 = ube.rms_norm %x {axis = -3} : tensor<2x8xf32>
  return
}

// -----

func.func @attention_features(%q: tensor<2x5x8xf32>, %k: tensor<2x6x4xf32>) {
  // expected-error@+1 {{query [2, 5, 8] and key [2, 6, 4] must have the same feature size (last dimension)}}
  %0 = ube.scaled_dot_product_attention %q, %k, %k : tensor<2x5x8xf32>, tensor<2x6x4xf32>, tensor<2x6x4xf32>
  return
}

// -----

func.func @attention_values(%q: tensor<2x5x8xf32>, %k: tensor<2x6x8xf32>, %v: tensor<2x7x8xf32>) {
  // expected-error@+1 {{key [2, 6, 8] and value [2, 7, 8] must agree in every dimension but the last}}
  %0 = ube.scaled_dot_product_attention %q, %k, %v : tensor<2x5x8xf32>, tensor<2x6x8xf32>, tensor<2x7x8xf32>
  return
}

// -----

func.func @attention_heads(%q: tensor<1x3x5x8xf32>, %k: tensor<1x2x6x8xf32>) {
  // expected-error@+1 {{key heads (2) must divide query heads (3)}}
  %0 = ube.scaled_dot_product_attention %q, %k, %k : tensor<1x3x5x8xf32>, tensor<1x2x6x8xf32>, tensor<1x2x6x8xf32>
  return
}

// -----

func.func @attention_grad_output(%q: tensor<2x5x8xf32>, %k: tensor<2x6x8xf32>, %o: tensor<2x6x8xf32>) {
  // expected-error@+1 {{output 'tensor<2x6x8xf32>' must be the attention's result 'tensor<2x5x8xf32>'}}
  %0:3 = ube.scaled_dot_product_attention_grad %q, %k, %k output %o grad %o : tensor<2x5x8xf32>, tensor<2x6x8xf32>, tensor<2x6x8xf32>, tensor<2x6x8xf32>
  return
}

// -----

func.func @attention_grad_dropout(%q: tensor<2x5x8xf32>, %o: tensor<2x5x8xf32>) {
  // expected-error@+1 {{dropout_p must be in [0, 1), got -0.5}}
  %0:3 = ube.scaled_dot_product_attention_grad %q, %q, %q output %o grad %o {dropout_p = -0.5 : f64} : tensor<2x5x8xf32>, tensor<2x5x8xf32>, tensor<2x5x8xf32>, tensor<2x5x8xf32>
  return
}

// -----

func.func @attention_rank(%q: tensor<5x8xf32>, %k: tensor<1x6x8xf32>) {
  // expected-error@+1 {{query, key and value must have the same rank, at least 2, got [5, 8], [1, 6, 8] and [1, 6, 8]}}
  %0 = ube.scaled_dot_product_attention %q, %k, %k : tensor<5x8xf32>, tensor<1x6x8xf32>, tensor<1x6x8xf32>
  return
}

// -----

func.func @attention_batch(%q: tensor<2x1x5x8xf32>, %k: tensor<3x1x6x8xf32>) {
  // expected-error@+1 {{batch dimensions [2] and [3] are not broadcast-compatible}}
  %0 = ube.scaled_dot_product_attention %q, %k, %k : tensor<2x1x5x8xf32>, tensor<3x1x6x8xf32>, tensor<3x1x6x8xf32>
  return
}

// -----

func.func @attention_mask_shape(%q: tensor<2x5x8xf32>, %k: tensor<2x6x8xf32>, %m: tensor<5x5xi1>) {
  // expected-error@+1 {{mask [5, 5] does not broadcast to the scores [2, 5, 6]}}
  %0 = ube.scaled_dot_product_attention %q, %k, %k, %m : tensor<2x5x8xf32>, tensor<2x6x8xf32>, tensor<2x6x8xf32>, tensor<5x5xi1>
  return
}

// -----

func.func @attention_mask_type(%q: tensor<2x5x8xf32>, %k: tensor<2x6x8xf32>, %m: tensor<5x6xi64>) {
  // expected-error@+1 {{mask must be boolean (i1) or of the query's element type 'f32', got 'i64'}}
  %0 = ube.scaled_dot_product_attention %q, %k, %k, %m : tensor<2x5x8xf32>, tensor<2x6x8xf32>, tensor<2x6x8xf32>, tensor<5x6xi64>
  return
}

// -----

func.func @attention_scale(%q: tensor<2x5x8xf32>, %k: tensor<2x6x8xf32>) {
  // expected-error@+1 {{scale must be positive, got 0}}
  %0 = ube.scaled_dot_product_attention %q, %k, %k {scale = 0.0 : f64} : tensor<2x5x8xf32>, tensor<2x6x8xf32>, tensor<2x6x8xf32>
  return
}

// -----

func.func @reduce_axis(%x: tensor<2x8xf32>) {
  // expected-error@+1 {{axis 2 is out of range for a tensor of rank 2}}
  %0 = ube.reduce_sum %x {axes = array<i64: 2>} : tensor<2x8xf32>
  return
}

// -----

func.func @reduce_twice(%x: tensor<2x8xf32>) {
  // expected-error@+1 {{axis -1 is listed twice}}
  %0 = ube.reduce_max %x {axes = array<i64: 1, -1>} : tensor<2x8xf32>
  return
}

// -----

func.func @reduce_mean_int(%x: tensor<2x8xi32>) {
  // expected-error@+1 {{must be ranked tensor of 32-bit float or 64-bit float or 16-bit float or bfloat16 type values}}
  %0 = "ube.reduce_mean"(%x) : (tensor<2x8xi32>) -> tensor<i32>
  return
}

// -----

func.func @transpose_size(%x: tensor<2x8xf32>) {
  // expected-error@+1 {{perm has 3 entries for a tensor of rank 2}}
  %0 = ube.transpose %x, [0, 1, 2] : tensor<2x8xf32>
  return
}

// -----

func.func @transpose_perm(%x: tensor<2x8xf32>) {
  // expected-error@+1 {{perm [1, 1] is not a permutation of [0, 2)}}
  %0 = ube.transpose %x, [1, 1] : tensor<2x8xf32>
  return
}

// -----

func.func @reshape_count(%x: tensor<2x8xf32>) {
  // expected-error@+1 {{'ube.reshape' op cannot reshape [2, 8] (16 elements) to [3, 5] (15 elements)}}
  %0 = ube.reshape %x : tensor<2x8xf32> to tensor<3x5xf32>
  return
}

// -----

func.func @reshape_type(%x: tensor<2x8xf32>) {
  // expected-error@+1 {{'ube.reshape' op cannot change the element type from 'f32' to 'f16'}}
  %0 = ube.reshape %x : tensor<2x8xf32> to tensor<16xf16>
  return
}

// -----

func.func @broadcast_shape(%x: tensor<2x8xf32>) {
  // expected-error@+1 {{'ube.broadcast_to' op cannot broadcast [2, 8] to [3, 8]}}
  %0 = ube.broadcast_to %x : tensor<2x8xf32> to tensor<3x8xf32>
  return
}

// -----

func.func @broadcast_rank(%x: tensor<2x8xf32>) {
  // expected-error@+1 {{'ube.broadcast_to' op cannot broadcast [2, 8] to [8]}}
  %0 = ube.broadcast_to %x : tensor<2x8xf32> to tensor<8xf32>
  return
}

// -----

func.func @broadcast_type(%x: tensor<8xf32>) {
  // expected-error@+1 {{'ube.broadcast_to' op cannot change the element type from 'f32' to 'i32'}}
  %0 = ube.broadcast_to %x : tensor<8xf32> to tensor<2x8xi32>
  return
}

// -----

func.func @concat_empty() {
  // expected-error@+2 {{expects at least one input}}
  // expected-error@+1 {{'ube.concat' op failed to infer returned types}}
  %0 = "ube.concat"() : () -> tensor<2xf32>
  return
}

// -----

func.func @concat_shapes(%a: tensor<2x8xf32>, %b: tensor<3x7xf32>) {
  // expected-error@+1 {{input #1 [3, 7] does not match [2, 8] outside axis 0}}
  %0 = ube.concat %a, %b : tensor<2x8xf32>, tensor<3x7xf32>
  return
}

// -----

func.func @concat_types(%a: tensor<2x8xf32>, %b: tensor<2x8xf16>) {
  // expected-error@+1 {{input #0 and input #1 must have the same element type, got 'f32' and 'f16'}}
  %0 = ube.concat %a, %b : tensor<2x8xf32>, tensor<2x8xf16>
  return
}

// -----

func.func @concat_axis(%a: tensor<2x8xf32>) {
  // expected-error@+1 {{axis 2 is out of range for a tensor of rank 2}}
  %0 = ube.concat %a, %a {axis = 2} : tensor<2x8xf32>, tensor<2x8xf32>
  return
}

// -----

func.func @pad_entries(%x: tensor<2x8xf32>) {
  // expected-error@+1 {{low and high need 2 entries each, one per dimension}}
  %0 = ube.pad %x low[0] high[0, 1] : tensor<2x8xf32>
  return
}

// -----

func.func @pad_cropped_away(%x: tensor<2x8xf32>) {
  // expected-error@+1 {{dimension 1 of size 8 padded by -6 and -3 has no size left}}
  %0 = ube.pad %x low[0, -6] high[0, -3] : tensor<2x8xf32>
  return
}

// -----

func.func @slice_entries(%x: tensor<2x8xf32>) {
  // expected-error@+1 {{start, limit and stride need 2 entries each, one per dimension}}
  %0 = ube.slice %x {start = array<i64: 0>, limit = array<i64: 2>, stride = array<i64: 1>} : tensor<2x8xf32>
  return
}

// -----

func.func @slice_bounds(%x: tensor<2x8xf32>) {
  // expected-error@+1 {{dimension 1: need 0 <= start (4) <= limit (9) <= size (8)}}
  %0 = ube.slice %x {start = array<i64: 0, 4>, limit = array<i64: 2, 9>, stride = array<i64: 1, 1>} : tensor<2x8xf32>
  return
}

// -----

func.func @slice_stride(%x: tensor<2x8xf32>) {
  // expected-error@+1 {{dimension 0: stride 0 must be at least 1}}
  %0 = ube.slice %x {start = array<i64: 0, 0>, limit = array<i64: 2, 8>, stride = array<i64: 0, 1>} : tensor<2x8xf32>
  return
}

// -----

func.func @gather_axis(%t: tensor<10x4xf32>, %i: tensor<3xi64>) {
  // expected-error@+1 {{axis 2 is out of range for a tensor of rank 2}}
  %0 = ube.gather %t, %i {axis = 2} : tensor<10x4xf32>, tensor<3xi64>
  return
}

// -----

func.func @gather_indices(%t: tensor<10x4xf32>, %i: tensor<3xf32>) {
  // expected-error@+1 {{operand #1 must be ranked tensor of 32-bit signless integer or 64-bit signless integer values}}
  %0 = "ube.gather"(%t, %i) : (tensor<10x4xf32>, tensor<3xf32>) -> tensor<3x4xf32>
  return
}

// -----

func.func @constant_type() {
  // expected-error@+1 {{'ube.constant' op failed to verify that all of {value, result} have same type}}
  %0 = "ube.constant"() {value = dense<1.0> : tensor<2xf32>} : () -> tensor<3xf32>
  return
}

// -----

func.func @dropout_rate(%x: tensor<4xf32>) {
  // expected-error@+1 {{rate must be in [0, 1), got 1}}
  %0 = ube.dropout %x {rate = 1.0 : f64} : tensor<4xf32>
  return
}

// -----

func.func @dropout_counter_block(%x: tensor<4x3xf32>) {
  // expected-error@+1 {{the input [4, 3] at [1, 0] is not a block of [4, 8]}}
  %0 = ube.dropout %x {rate = 0.5 : f64, counter_shape = array<i64: 4, 8>, counter_offset = array<i64: 1, 0>} : tensor<4x3xf32>
  return
}

// -----

func.func @im2col_length(%x: tensor<1x2x6x5xf32>) {
  // expected-error@+1 {{length 20 reads up to element 31 of the plane of 30 elements}}
  %0 = ube.im2col %x {kernel = array<i64: 3, 3>, length = 20 : i64} : tensor<1x2x6x5xf32>
  return
}

// -----

// Strided: position 8 is output row 2 of rows of 4, at 2·2·5, and the last
// tap 2·5 + 2 further.
func.func @im2col_strided_length(%x: tensor<1x2x6x5xf32>) {
  // expected-error@+1 {{length 9 reads up to element 32 of the plane of 30 elements}}
  %0 = ube.im2col %x {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>, columns = 4 : i64,
                      length = 9 : i64} : tensor<1x2x6x5xf32>
  return
}

// -----

func.func @im2col_symbolic_length(%x: tensor<1x2x?x5xf32>) {
  // expected-error@+1 {{a length needs a static H and W, got [1, 2, ?, 5]}}
  %0 = ube.im2col %x {kernel = array<i64: 3, 3>, length = 4 : i64} : tensor<1x2x?x5xf32>
  return
}

// -----

func.func @im2col_columns_without_length(%x: tensor<1x2x6x5xf32>) {
  // expected-error@+1 {{columns needs a length}}
  %0 = ube.im2col %x {kernel = array<i64: 3, 3>, columns = 3 : i64} : tensor<1x2x6x5xf32>
  return
}

// -----

func.func @im2col_window_too_wide(%x: tensor<1x2x6x5xf32>) {
  // expected-error@+1 {{the window (6 wide with dilation) is larger than spatial dimension 1 of size 5 padded by 0 and 0}}
  %0 = ube.im2col %x {kernel = array<i64: 3, 6>} : tensor<1x2x6x5xf32>
  return
}

// -----

func.func @im2col_stride(%x: tensor<1x2x6x5xf32>) {
  // expected-error@+1 {{kernel, dilation and stride need two positive sizes}}
  %0 = ube.im2col %x {kernel = array<i64: 3, 3>, stride = array<i64: 0, 1>, length = 4 : i64}
      : tensor<1x2x6x5xf32>
  return
}

// -----

func.func @dropout_counter_pair(%x: tensor<4xf32>) {
  // expected-error@+1 {{counter_shape and counter_offset go together}}
  %0 = ube.dropout %x {rate = 0.5 : f64, counter_shape = array<i64: 8>} : tensor<4xf32>
  return
}

// -----

func.func @attention_dropout(%q: tensor<2x5x8xf32>) {
  // expected-error@+1 {{dropout_p must be in [0, 1), got 1}}
  %0 = ube.scaled_dot_product_attention %q, %q, %q {dropout_p = 1.0 : f64} : tensor<2x5x8xf32>, tensor<2x5x8xf32>, tensor<2x5x8xf32>
  return
}

// -----

func.func @cross_entropy_labels(%l: tensor<4x10xf32>, %y: tensor<5xi64>) {
  // expected-error@+1 {{labels [5] must have the shape of the logits without the class axis, [4]}}
  %0 = ube.cross_entropy %l, %y : tensor<4x10xf32>, tensor<5xi64>
  return
}

// -----

func.func @cross_entropy_reduction(%l: tensor<4x10xf32>, %y: tensor<4xi64>) {
  // expected-error@+1 {{attribute 'reduction' failed to satisfy constraint: string attribute one of: mean, sum, none}}
  %0 = ube.cross_entropy %l, %y {reduction = "max"} : tensor<4x10xf32>, tensor<4xi64>
  return
}

// -----

func.func @mse_shapes(%a: tensor<4xf32>, %b: tensor<5xf32>) {
  // expected-error@+1 {{input and target must have the same shape, got [4] and [5]}}
  %0 = ube.mse_loss %a, %b : tensor<4xf32>, tensor<5xf32>
  return
}

// -----

func.func @kd_shapes(%s: tensor<4x10xf32>, %t: tensor<4x11xf32>) {
  // expected-error@+1 {{student logits and teacher logits must have the same shape, got [4, 10] and [4, 11]}}
  %0 = ube.kd_loss %s, %t : tensor<4x10xf32>, tensor<4x11xf32>
  return
}

// -----

func.func @kd_temperature(%s: tensor<4x10xf32>) {
  // expected-error@+1 {{temperature must be positive, got -1}}
  %0 = ube.kd_loss %s, %s {temperature = -1.0} : tensor<4x10xf32>, tensor<4x10xf32>
  return
}

// -----

func.func @kd_alpha_needs_labels(%s: tensor<4x10xf32>) {
  // expected-error@+1 {{alpha 0.5 weighs a hard-label term, which needs labels}}
  %0 = ube.kd_loss %s, %s {alpha = 0.5} : tensor<4x10xf32>, tensor<4x10xf32>
  return
}

// -----

func.func @kd_labels(%s: tensor<4x10xf32>, %y: tensor<4x10xi64>) {
  // expected-error@+1 {{labels [4, 10] must have the shape of the logits without the class axis, [4]}}
  %0 = ube.kd_loss %s, %s labels %y : tensor<4x10xf32>, tensor<4x10xf32>, tensor<4x10xi64>
  return
}

// -----

func.func @kd_scalar(%s: tensor<f32>) {
  // expected-error@+1 {{logits need a vocabulary axis}}
  %0 = ube.kd_loss %s, %s : tensor<f32>, tensor<f32>
  return
}

// -----

func.func @kd_grad_not_scalar(%s: tensor<4x10xf32>, %g: tensor<4xf32>) {
  // expected-error@+1 {{grad must be a scalar of the loss's element type 'f32', got 'tensor<4xf32>'}}
  %0 = ube.kd_loss_grad %s, %s, %g : tensor<4x10xf32>, tensor<4x10xf32>, tensor<4xf32>
  return
}

// -----

func.func @feature_map_grad_not_scalar(%h: tensor<4x8xf32>, %g: tensor<1xf32>) {
  // expected-error@+1 {{grad must be a scalar of the loss's element type 'f32', got 'tensor<1xf32>'}}
  %0 = ube.feature_map_loss_grad %h, %h, %g : tensor<4x8xf32>, tensor<4x8xf32>, tensor<1xf32>
  return
}

// -----

func.func @attention_grad_checks_like_the_loss(%q: tensor<2x4x8x16xf32>, %g: tensor<f32>, %m: tensor<2x4xi1>) {
  // expected-error@+1 {{mask [2, 4] must be [batch, tokens] = [2, 8]}}
  %0:2 = ube.attention_transfer_loss_grad %q, %q, %q, %q, %g mask %m : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<f32>, tensor<2x4xi1>
  return
}

// -----

func.func @kd_grad_checks_like_kd_loss(%s: tensor<4x10xf32>, %g: tensor<f32>) {
  // expected-error@+1 {{alpha 1 weighs a hard-label term, which needs labels}}
  %0 = ube.kd_loss_grad %s, %s, %g {alpha = 1.0} : tensor<4x10xf32>, tensor<4x10xf32>, tensor<f32>
  return
}

// -----

func.func @feature_map_tokens(%s: tensor<4x8xf32>, %t: tensor<5x8xf32>) {
  // expected-error@+1 {{student [4, 8] and teacher [5, 8] must agree on every axis but the hidden (last) one}}
  %0 = ube.feature_map_loss %s, %t : tensor<4x8xf32>, tensor<5x8xf32>
  return
}

// -----

func.func @feature_map_width(%s: tensor<4x8xf32>, %t: tensor<4x16xf32>) {
  // expected-error@+1 {{student width 8 differs from teacher width 16; a projection operand is needed}}
  %0 = ube.feature_map_loss %s, %t : tensor<4x8xf32>, tensor<4x16xf32>
  return
}

// -----

func.func @feature_map_projection(%s: tensor<4x8xf32>, %t: tensor<4x16xf32>, %w: tensor<16x8xf32>) {
  // expected-error@+1 {{projection [16, 8] must be [8, 16] (student width × teacher width)}}
  %0 = ube.feature_map_loss %s, %t projection %w : tensor<4x8xf32>, tensor<4x16xf32>, tensor<16x8xf32>
  return
}

// -----

func.func @feature_map_epsilon(%s: tensor<4x8xf32>) {
  // expected-error@+1 {{epsilon must be positive, got 0}}
  %0 = ube.feature_map_loss %s, %s {epsilon = 0.0} : tensor<4x8xf32>, tensor<4x8xf32>
  return
}

// -----

func.func @attention_rank(%q: tensor<2x8x16xf32>) {
  // expected-error@+1 {{student query [2, 8, 16] must be [batch, heads, tokens, head_dim]}}
  %0 = ube.attention_transfer_loss %q, %q, %q, %q : tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x8x16xf32>
  return
}

// -----

func.func @attention_query_key(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x8x8xf32>) {
  // expected-error@+1 {{student query [2, 4, 8, 16] and key [2, 4, 8, 8] must have the same shape}}
  %0 = ube.attention_transfer_loss %q, %k, %q, %q : tensor<2x4x8x16xf32>, tensor<2x4x8x8xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>
  return
}

// -----

func.func @attention_heads(%s: tensor<2x4x8x16xf32>, %t: tensor<2x2x8x16xf32>) {
  // expected-error@+1 {{student [2, 4, 8, 16] and teacher [2, 2, 8, 16] must agree on batch, heads and tokens}}
  %0 = ube.attention_transfer_loss %s, %s, %t, %t : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>
  return
}

// -----

func.func @attention_mask(%s: tensor<2x4x8x16xf32>, %m: tensor<2x4xi1>) {
  // expected-error@+1 {{mask [2, 4] must be [batch, tokens] = [2, 8]}}
  %0 = ube.attention_transfer_loss %s, %s, %s, %s mask %m : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4xi1>
  return
}

// -----

func.func @attention_types(%s: tensor<2x4x8x16xf32>, %t: tensor<2x4x8x16xf16>) {
  // expected-error@+1 {{student query and teacher query must have the same element type, got 'f32' and 'f16'}}
  %0 = ube.attention_transfer_loss %s, %s, %t, %t : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf16>, tensor<2x4x8x16xf16>
  return
}

// -----

func.func @transfer_slope(%step: tensor<i64>) {
  // expected-error@+1 {{'ube.transfer_probability' op slope must be non-negative, got -1}}
  %0 = ube.transfer_probability %step {slope = -1.0, offset = 0.1}
  return
}

// -----

func.func @transfer_offset(%step: tensor<i64>) {
  // expected-error@+1 {{'ube.transfer_probability' op offset must be in [0, 1], got 1.5}}
  %0 = ube.transfer_probability %step {slope = 0.01, offset = 1.5}
  return
}

// -----

func.func @bernoulli_types(%p: tensor<f32>, %step: tensor<i64>, %s: tensor<4xf32>, %t: tensor<5xf32>) {
  // expected-error@+1 {{'ube.bernoulli_select' op failed to verify that all of {student, teacher, result} have same type}}
  %0 = "ube.bernoulli_select"(%p, %step, %s, %t) {module_id = 0 : i64} : (tensor<f32>, tensor<i64>, tensor<4xf32>, tensor<5xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @bernoulli_module_id(%p: tensor<f32>, %step: tensor<i64>, %s: tensor<4xf32>) {
  // expected-error@+1 {{'ube.bernoulli_select' op requires attribute 'module_id'}}
  %0 = ube.bernoulli_select %p, %step, %s, %s : tensor<4xf32>
  return
}

// -----

func.func @sgd_nesterov(%p: tensor<4xf32>, %lr: tensor<f32>) {
  // expected-error@+1 {{'ube.sgd_update' op nesterov needs a positive momentum}}
  %0:2 = ube.sgd_update %p, %p, %p, %lr {nesterov = true} : tensor<4xf32>
  return
}

// -----

func.func @sgd_types(%p: tensor<4xf32>, %g: tensor<5xf32>, %lr: tensor<f32>) {
  // expected-error@+1 {{'ube.sgd_update' op failed to verify that all of {param, grad, momentum_buffer, new_param, new_momentum_buffer} have same type}}
  %0:2 = "ube.sgd_update"(%p, %g, %p, %lr) : (tensor<4xf32>, tensor<5xf32>, tensor<4xf32>, tensor<f32>) -> (tensor<4xf32>, tensor<4xf32>)
  return
}

// -----

func.func @adamw_beta(%p: tensor<4xf32>, %lr: tensor<f32>, %step: tensor<i64>) {
  // expected-error@+1 {{'ube.adamw_update' op beta2 must be in [0, 1), got 1}}
  %0:3 = ube.adamw_update %p, %p, %p, %p, %lr, %step {beta2 = 1.0} : tensor<4xf32>
  return
}

// -----

func.func @adamw_epsilon(%p: tensor<4xf32>, %lr: tensor<f32>, %step: tensor<i64>) {
  // expected-error@+1 {{'ube.adamw_update' op epsilon must be positive, got 0}}
  %0:3 = ube.adamw_update %p, %p, %p, %p, %lr, %step {epsilon = 0.0} : tensor<4xf32>
  return
}

// -----

func.func @scatter_add_rows(%u: tensor<5x4xf32>, %i: tensor<6xi64>) {
  // expected-error@+1 {{'ube.scatter_add' op updates must have one row per index, got 'tensor<5x4xf32>' and 'tensor<6xi64>'}}
  %0 = ube.scatter_add %u, %i : tensor<5x4xf32>, tensor<6xi64> to tensor<3x4xf32>
  return
}

// -----

func.func @scatter_add_result(%u: tensor<5x4xf32>, %i: tensor<5xi64>) {
  // expected-error@+1 {{'ube.scatter_add' op result 'tensor<3x2xf32>' must be the updates' rows 'tensor<5x4xf32>' stacked along a first dimension}}
  %0 = ube.scatter_add %u, %i : tensor<5x4xf32>, tensor<5xi64> to tensor<3x2xf32>
  return
}

// -----

func.func @conv_groups(%x: tensor<1x6x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error@+1 {{4 groups do not divide 6 input channels and 4 output channels}}
  %0 = ube.conv %x, %w {groups = 4 : i64} : tensor<1x6x8x8xf32>, tensor<4x3x3x3xf32>
  return
}

// -----

func.func @conv_channels(%x: tensor<1x6x8x8xf32>, %w: tensor<4x2x3x3xf32>) {
  // expected-error@+1 {{weight [4, 2, 3, 3] must have 6 input channels per group (6 channels in 1 groups)}}
  %0 = ube.conv %x, %w : tensor<1x6x8x8xf32>, tensor<4x2x3x3xf32>
  return
}

// -----

func.func @conv_window_too_large(%x: tensor<1x1x4x4xf32>, %w: tensor<1x1x3x3xf32>) {
  // expected-error@+1 {{the window (5 wide with dilation) is larger than spatial dimension 0 of size 4 padded by 0 and 0}}
  %0 = ube.conv %x, %w {dilation = array<i64: 2, 1>} : tensor<1x1x4x4xf32>, tensor<1x1x3x3xf32>
  return
}

// -----

func.func @conv_padding_count(%x: tensor<1x1x4x4xf32>, %w: tensor<1x1x3x3xf32>) {
  // expected-error@+1 {{padding has 2 values, expected 4 (2 spatial dimensions)}}
  %0 = ube.conv %x, %w {padding = array<i64: 1, 1>} : tensor<1x1x4x4xf32>, tensor<1x1x3x3xf32>
  return
}

// -----

func.func @conv_input_grad_runtime_sizes_missing(%g: tensor<1x2x?xf32>, %w: tensor<2x3x3xf32>) {
  // expected-error@+1 {{input_spatial has 1 sizes of -1 but 0 input_sizes are given}}
  %0 = ube.conv_input_grad %g, %w {input_spatial = array<i64: -1>} : tensor<1x2x?xf32>, tensor<2x3x3xf32>
  return
}

// -----

func.func @avg_pool_grad_bad_runtime_size(%g: tensor<1x2x?xf32>, %n: index) {
  // expected-error@+1 {{input_spatial [-2]: sizes are at least 0, or -1 for one known at run time}}
  %0 = ube.avg_pool_grad %g [%n] {input_spatial = array<i64: -2>, kernel = array<i64: 3>} : tensor<1x2x?xf32>
  return
}

// -----

func.func @pool_rank(%x: tensor<2x3xf32>) {
  // expected-error@+1 {{input must be [N, C, spatial...] with 1 to 3 spatial dimensions, got [2, 3]}}
  %0 = ube.max_pool %x {kernel = array<i64: 2>} : tensor<2x3xf32>
  return
}

// -----

func.func @pool_stride(%x: tensor<1x1x8x8xf32>) {
  // expected-error@+1 {{stride values must be at least 1, got 0}}
  %0 = ube.avg_pool %x {kernel = array<i64: 2, 2>, stride = array<i64: 0, 1>} : tensor<1x1x8x8xf32>
  return
}

// -----

func.func @conv_grad_shape(%g: tensor<2x8x4x4xf32>, %w: tensor<8x3x3x3xf32>) {
  // expected-error@+1 {{grad [2, 8, 4, 4] does not have the shape of the op's result [2, 8, 5, 5]}}
  %0 = ube.conv_input_grad %g, %w {input_spatial = array<i64: 9, 9>, stride = array<i64: 2, 2>,
                                   padding = array<i64: 1, 1, 1, 1>}
      : tensor<2x8x4x4xf32>, tensor<8x3x3x3xf32>
  return
}

// -----

func.func @argmax_axis(%x: tensor<3x5xf32>) {
  // expected-error@+1 {{axis 2 is out of range for a tensor of rank 2}}
  %0 = ube.argmax %x {axis = 2} : tensor<3x5xf32>
  return
}

// -----

func.func @argmax_result(%x: tensor<3x5xf32>) {
  // expected-error@+1 {{result #0 must be ranked tensor of 64-bit signless integer values}}
  %0 = "ube.argmax"(%x) <{axis = 1 : i64}> : (tensor<3x5xf32>) -> tensor<3xi32>
  return
}

// -----

func.func @cumsum_axis(%x: tensor<3x5xf32>) {
  // expected-error@+1 {{axis -3 is out of range for a tensor of rank 2}}
  %0 = ube.cumsum %x {axis = -3} : tensor<3x5xf32>
  return
}

// -----

func.func @cumsum_bool(%x: tensor<3x5xi1>) {
  // expected-error@+1 {{operand #0 must be ranked tensor of}}
  %0 = ube.cumsum %x {axis = 0} : tensor<3x5xi1>
  return
}

// -----

func.func @floor_int(%x: tensor<3xi32>) {
  // expected-error@+1 {{operand #0 must be ranked tensor of 32-bit float or 64-bit float or 16-bit float or bfloat16 type values}}
  %0 = ube.floor %x : tensor<3xi32>
  return
}

// -----

func.func @topk_k(%x: tensor<3x5xf32>) {
  // expected-error@+1 {{k = 6 must be in [1, 5], the size of axis -1}}
  %0 = ube.topk %x {k = 6} : tensor<3x5xf32>
  return
}
