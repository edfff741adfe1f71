// RUN: ube-opt %s --ube-autodiff --split-input-file --verify-diagnostics | FileCheck %s

// y = sum(x * x * w): the two uses of x add up; w's gradient is x * x;
// gradients come after the function's results, named after the arguments.
// CHECK-LABEL: func.func @fan_out
// CHECK-SAME: -> (tensor<f32> {ube.name = "loss"}, tensor<3xf32> {ube.name = "d_x"}, tensor<3xf32> {ube.name = "d_w"})
// CHECK-NOT: ube.gradient
// CHECK: %[[XX:.*]] = ube.mul %arg0, %arg0
// CHECK: %[[P:.*]] = ube.mul %[[XX]], %arg1
// CHECK: %[[L:.*]] = ube.reduce_sum %[[P]]
// CHECK: %[[ONE:.*]] = ube.constant dense<1.000000e+00> : tensor<f32>
// CHECK: %[[G:.*]] = ube.broadcast_to
// CHECK: %[[GXX:.*]] = ube.mul %[[G]], %arg1
// CHECK: %[[GW:.*]] = ube.mul %[[G]], %[[XX]]
// CHECK: %[[A:.*]] = ube.mul %[[GXX]], %arg0
// CHECK: %[[B:.*]] = ube.mul %[[GXX]], %arg0
// CHECK: %[[GX:.*]] = ube.add %[[A]], %[[B]]
// CHECK: return %[[L]], %[[GX]], %[[GW]]
func.func @fan_out(%x: tensor<3xf32> {ube.name = "x"}, %w: tensor<3xf32> {ube.name = "w"})
    -> (tensor<f32> {ube.name = "loss"}) attributes {ube.gradient = {loss = 0 : i64, wrt = array<i64: 0, 1>}} {
  %xx = ube.mul %x, %x : tensor<3xf32>, tensor<3xf32>
  %p = ube.mul %xx, %w : tensor<3xf32>, tensor<3xf32>
  %l = ube.reduce_sum %p : tensor<3xf32>
  return %l : tensor<f32>
}

// -----

// An argument the loss does not depend on gets zeros; ops off the path
// (the second result) get no gradient ops; unnamed arguments are d_argN.
// CHECK-LABEL: func.func @inactive
// CHECK-SAME: tensor<2x3xf32> {ube.name = "d_arg1"}
// CHECK: %[[E:.*]] = ube.exp %arg0
// CHECK: %[[N:.*]] = ube.neg %arg1
// CHECK: %[[S:.*]] = ube.reduce_sum %[[E]]
// CHECK-NOT: ube.neg
// CHECK: %[[Z:.*]] = ube.constant dense<0.000000e+00> : tensor<f32>
// CHECK: %[[ZEROS:.*]] = ube.broadcast_to %[[Z]] : tensor<f32> to tensor<2x3xf32>
// CHECK: return %[[S]], %[[N]], %[[ZEROS]]
func.func @inactive(%x: tensor<4xf32>, %unused: tensor<2x3xf32>) -> (tensor<f32>, tensor<2x3xf32>)
    attributes {ube.gradient = {loss = 0 : i64, wrt = array<i64: 1>}} {
  %e = ube.exp %x : tensor<4xf32>
  %n = ube.neg %unused : tensor<2x3xf32>
  %s = ube.reduce_sum %e : tensor<4xf32>
  return %s, %n : tensor<f32>, tensor<2x3xf32>
}

// -----

// Functions without the attribute are left alone.
// CHECK-LABEL: func.func @plain
// CHECK-SAME: -> tensor<f32>
// CHECK-NEXT: ube.reduce_sum
func.func @plain(%x: tensor<4xf32>) -> tensor<f32> {
  %s = ube.reduce_sum %x : tensor<4xf32>
  return %s : tensor<f32>
}

// -----

// expected-error @+1 {{gradient: result 0 is not a float scalar (got 'tensor<4xf32>')}}
func.func @vector_loss(%x: tensor<4xf32>) -> tensor<4xf32>
    attributes {ube.gradient = {loss = 0 : i64, wrt = array<i64: 0>}} {
  %e = ube.exp %x : tensor<4xf32>
  return %e : tensor<4xf32>
}

// -----

// expected-error @+1 {{gradient: argument 1 is not a float tensor (got 'tensor<4xi64>')}}
func.func @integer_argument(%x: tensor<4xf32>, %y: tensor<4xi64>) -> tensor<f32>
    attributes {ube.gradient = {loss = 0 : i64, wrt = array<i64: 1>}} {
  %s = ube.reduce_sum %x : tensor<4xf32>
  return %s : tensor<f32>
}

// -----

// expected-error @+1 {{gradient: argument 3 does not exist}}
func.func @missing_argument(%x: tensor<4xf32>) -> tensor<f32>
    attributes {ube.gradient = {loss = 0 : i64, wrt = array<i64: 3>}} {
  %s = ube.reduce_sum %x : tensor<4xf32>
  return %s : tensor<f32>
}

// -----

func.func @no_rule(%s: tensor<2x5xf32>, %t: tensor<2x5xf32>, %g: tensor<f32>) -> tensor<f32>
    attributes {ube.gradient = {loss = 0 : i64, wrt = array<i64: 0>}} {
  // expected-error @+1 {{'ube.kd_loss_grad' op has no gradient rule (DifferentiableOpInterface), so the gradient of 'no_rule' cannot flow through it}}
  %d = ube.kd_loss_grad %s, %t, %g : tensor<2x5xf32>, tensor<2x5xf32>, tensor<f32>
  %l = ube.reduce_sum %d : tensor<2x5xf32>
  return %l : tensor<f32>
}

// -----

// Symbolic dimensions: broadcasts back to the input take its sizes
// (tensor.dim), a mean's count is counted at run time, and the gradient
// names the input's symbols.
// CHECK-LABEL: func.func @symbolic
// CHECK-SAME: -> (tensor<f32>, tensor<?x4xf32> {ube.dims = ["n"], ube.name = "d_arg0"})
// CHECK: %[[N:.*]] = tensor.dim %arg0, %c0
// CHECK: %[[ONES:.*]] = ube.broadcast_to %{{.*}} [%[[N]]] : tensor<f32> to tensor<?x4xf32>
// CHECK: %[[COUNT:.*]] = ube.reduce_sum %[[ONES]] {axes = array<i64: 0, 1>, keepdims = true}
// CHECK: %[[SPREAD:.*]] = ube.broadcast_to %{{.*}} [%{{.*}}] : tensor<1x1xf32> to tensor<?x4xf32>
// CHECK: ube.div %[[SPREAD]], %[[COUNT]]
func.func @symbolic(%x: tensor<?x4xf32> {ube.dims = ["n"]}) -> tensor<f32>
    attributes {ube.gradient = {loss = 0 : i64, wrt = array<i64: 0>},
                ube.symbols = [#ube.dim<"n", max = 8>]} {
  %s = ube.reduce_mean %x : tensor<?x4xf32>
  return %s : tensor<f32>
}

// -----

// A concat of symbolic shape along a static axis: each operand's part of
// the gradient is a slice along the axis, the symbolic rows taken whole
// (a runtime limit of their size).
// CHECK-LABEL: func.func @symbolic_concat
// CHECK: %[[FIRST:.*]] = ube.slice %{{.*}} [%{{.*}}] {limit = array<i64: -1, 4>, start = array<i64: 0, 0>, stride = array<i64: 1, 1>} : tensor<?x8xf32>
// CHECK: %[[SECOND:.*]] = ube.slice %{{.*}} [%{{.*}}] {limit = array<i64: -1, 8>, start = array<i64: 0, 4>, stride = array<i64: 1, 1>} : tensor<?x8xf32>
// CHECK: ube.add %[[FIRST]], %[[SECOND]]
func.func @symbolic_concat(%x: tensor<?x4xf32> {ube.dims = ["n"]}) -> tensor<f32>
    attributes {ube.gradient = {loss = 0 : i64, wrt = array<i64: 0>},
                ube.symbols = [#ube.dim<"n", max = 8>]} {
  %c = ube.concat %x, %x {axis = 1 : i64} : tensor<?x4xf32>, tensor<?x4xf32>
  %s = ube.reduce_sum %c : tensor<?x8xf32>
  return %s : tensor<f32>
}

// -----

// Along a symbolic axis only the last operand may be symbolic: the slices
// of the others would start at sizes known at run time.
func.func @symbolic_concat_axis(%x: tensor<?x4xf32>) -> tensor<f32>
    attributes {ube.gradient = {loss = 0 : i64, wrt = array<i64: 0>}} {
  // expected-error @+1 {{'ube.concat' op gradient of a concat along a symbolic size of an operand before the last is not supported yet}}
  %c = ube.concat %x, %x {axis = 0 : i64} : tensor<?x4xf32>, tensor<?x4xf32>
  %s = ube.reduce_sum %c : tensor<?x4xf32>
  return %s : tensor<f32>
}

// -----

// The gradient of a slice of the static axis of a symbolic tensor (one part
// of fused projections): zeros of the symbolic rows before and after it.
// CHECK-LABEL: func.func @symbolic_slice
// CHECK: %[[BEFORE:.*]] = ube.broadcast_to %{{.*}} [%{{.*}}] : tensor<f32> to tensor<?x2xf32>
// CHECK: %[[AFTER:.*]] = ube.broadcast_to %{{.*}} [%{{.*}}] : tensor<f32> to tensor<?x3xf32>
// CHECK: ube.concat %[[BEFORE]], %{{.*}}, %[[AFTER]] {axis = 1 : i64} : tensor<?x2xf32>, tensor<?x3xf32>, tensor<?x3xf32>
func.func @symbolic_slice(%x: tensor<?x8xf32> {ube.dims = ["n"]}) -> tensor<f32>
    attributes {ube.gradient = {loss = 0 : i64, wrt = array<i64: 0>},
                ube.symbols = [#ube.dim<"n", max = 8>]} {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x8xf32>
  %p = ube.slice %x [%n] {start = array<i64: 0, 2>, limit = array<i64: -1, 5>, stride = array<i64: 1, 1>} : tensor<?x8xf32>
  %s = ube.reduce_sum %p : tensor<?x3xf32>
  return %s : tensor<f32>
}

// -----

// A convolution's gradients are its gradient ops, with its window; the
// bias's is the output gradient summed over batch and positions.
// CHECK-LABEL: func.func @conv
// CHECK: ube.conv_input_grad %{{.*}}, %arg1 {input_spatial = array<i64: 6, 6>, stride = array<i64: 2, 2>}
// CHECK: ube.conv_weight_grad %arg0, %{{.*}} {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>}
// CHECK: ube.reduce_sum %{{.*}} {axes = array<i64: 0, 2, 3>}
func.func @conv(%x: tensor<1x2x6x6xf32>, %w: tensor<3x2x2x2xf32>, %b: tensor<3xf32>)
    -> tensor<f32> attributes {ube.gradient = {loss = 0 : i64, wrt = array<i64: 0, 1, 2>}} {
  %y = ube.conv %x, %w, %b {stride = array<i64: 2, 2>}
      : tensor<1x2x6x6xf32>, tensor<3x2x2x2xf32>, tensor<3xf32>
  %l = ube.reduce_sum %y : tensor<1x3x3x3xf32>
  return %l : tensor<f32>
}

// -----

// A convolution on a symbolic batch: its gradients on the batch too (the
// spatial sizes, which the verifier keeps static, fix the rest).
// CHECK-LABEL: func.func @symbolic_conv
// CHECK: %[[G:.*]] = ube.broadcast_to %{{.*}} [%{{.*}}] : tensor<1x1x1xf32> to tensor<?x3x5xf32>
// CHECK: ube.conv_input_grad %[[G]], %arg1 {input_spatial = array<i64: 6>} : tensor<?x3x5xf32>, tensor<3x2x2xf32>
func.func @symbolic_conv(%x: tensor<?x2x6xf32>, %w: tensor<3x2x2xf32>)
    -> tensor<f32> attributes {ube.gradient = {loss = 0 : i64, wrt = array<i64: 0>}} {
  %y = ube.conv %x, %w : tensor<?x2x6xf32>, tensor<3x2x2xf32>
  %l = ube.reduce_sum %y : tensor<?x3x5xf32>
  return %l : tensor<f32>
}

// -----

// On symbolic planes the input's length, which a strided output does not
// fix, reaches the input gradient at run time (its input_sizes); pooling's
// gradients take the planes as they are.
// CHECK-LABEL: func.func @symbolic_planes
// CHECK: %[[P:.*]] = ube.max_pool_grad %{{.*}}, %{{.*}} {ceil_mode = true, kernel = array<i64: 3>, stride = array<i64: 2>} : tensor<?x3x?xf32>, tensor<?x3x?xf32>
// CHECK: %[[LEN:.*]] = tensor.dim %arg0, %c2
// CHECK: ube.conv_input_grad %[[P]], %arg1 [%[[LEN]]] {input_spatial = array<i64: -1>, stride = array<i64: 2>} : tensor<?x3x?xf32>, tensor<3x2x2xf32>
// CHECK: ube.conv_weight_grad %arg0, %[[P]] {kernel = array<i64: 2>, stride = array<i64: 2>} : tensor<?x2x?xf32>, tensor<?x3x?xf32>
func.func @symbolic_planes(%x: tensor<?x2x?xf32>, %w: tensor<3x2x2xf32>)
    -> tensor<f32> attributes {ube.gradient = {loss = 0 : i64, wrt = array<i64: 0, 1>}} {
  %y = ube.conv %x, %w {stride = array<i64: 2>} : tensor<?x2x?xf32>, tensor<3x2x2xf32>
  %p = ube.max_pool %y {kernel = array<i64: 3>, stride = array<i64: 2>, ceil_mode = true} : tensor<?x3x?xf32>
  %l = ube.reduce_sum %p : tensor<?x3x?xf32>
  return %l : tensor<f32>
}

// -----

// Attention without dropout: one gradient op for q, k and v (a target may
// run it as a kernel), on a symbolic causal length too.
// CHECK-LABEL: func.func @attention_causal
// CHECK: %[[O:.*]] = ube.scaled_dot_product_attention %arg0, %arg1, %arg2, %arg3 {is_causal = true}
// CHECK: ube.scaled_dot_product_attention_grad %arg0, %arg1, %arg2 mask %arg3 output %[[O]] grad %{{.*}} {is_causal = true}
// CHECK-NOT: ube.matmul
// CHECK: return
func.func @attention_causal(%q: tensor<?x2x?x8xf32>, %k: tensor<?x2x?x8xf32>,
                            %v: tensor<?x2x?x8xf32>, %m: tensor<?x1x1x?xi1>)
    -> tensor<f32> attributes {ube.gradient = {loss = 0 : i64, wrt = array<i64: 0, 1, 2>}} {
  %o = ube.scaled_dot_product_attention %q, %k, %v, %m {is_causal = true}
      : tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x1x1x?xi1>
  %l = ube.reduce_sum %o : tensor<?x2x?x8xf32>
  return %l : tensor<f32>
}

// -----

// A float mask's gradient comes from the composition (matmuls and a
// softmax), beside the gradient op; the forward is not marked as
// recomputed, so a target's forward kernel still takes it.
// CHECK-LABEL: func.func @attention_float_mask
// CHECK: %[[O:.*]] = ube.scaled_dot_product_attention %arg0, %arg1, %arg2, %arg3 :
// CHECK: ube.scaled_dot_product_attention_grad %arg0, %arg1, %arg2 mask %arg3 output %[[O]]
// CHECK: ube.softmax
// CHECK: return
func.func @attention_float_mask(%q: tensor<1x2x5x8xf32>, %k: tensor<1x2x6x8xf32>,
                                %v: tensor<1x2x6x8xf32>, %m: tensor<2x1x6xf32>)
    -> tensor<f32> attributes {ube.gradient = {loss = 0 : i64, wrt = array<i64: 0, 3>}} {
  %o = ube.scaled_dot_product_attention %q, %k, %v, %m
      : tensor<1x2x5x8xf32>, tensor<1x2x6x8xf32>, tensor<1x2x6x8xf32>, tensor<2x1x6xf32>
  %l = ube.reduce_sum %o : tensor<1x2x5x8xf32>
  return %l : tensor<f32>
}

// -----

// Symbolic causal attention with a float mask: the mask's gradient comes
// from the composition, its causal bias built from positions at run time
// (ube.arange to the symbolic length, compared row against column).
// CHECK-LABEL: func.func @attention_float_mask_symbolic_causal
// CHECK: ube.scaled_dot_product_attention_grad
// CHECK: ube.arange[%{{.*}}] : tensor<?xf32>
// CHECK: ube.compare
// CHECK: ube.where
func.func @attention_float_mask_symbolic_causal(%q: tensor<?x2x?x8xf32>, %m: tensor<2x1x1xf32>)
    -> tensor<f32> attributes {ube.gradient = {loss = 0 : i64, wrt = array<i64: 0, 1>}} {
  %o = ube.scaled_dot_product_attention %q, %q, %q, %m {is_causal = true}
      : tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>, tensor<2x1x1xf32>
  %l = ube.reduce_sum %o : tensor<?x2x?x8xf32>
  return %l : tensor<f32>
}

// -----

// Keys shared by a symbolic number of query heads: a float mask's gradient
// is refused by name (the composition needs the group size).
func.func @attention_float_mask_symbolic_heads(%q: tensor<2x?x5x8xf32>, %k: tensor<2x1x5x8xf32>,
                                               %m: tensor<5x5xf32>)
    -> tensor<f32> attributes {ube.gradient = {loss = 0 : i64, wrt = array<i64: 2>}} {
  // expected-error@+1 {{gradient of a float mask on symbolic dimensions: a symbolic number of heads is not supported yet}}
  %o = ube.scaled_dot_product_attention %q, %k, %k, %m
      : tensor<2x?x5x8xf32>, tensor<2x1x5x8xf32>, tensor<2x1x5x8xf32>, tensor<5x5xf32>
  %l = ube.reduce_sum %o : tensor<2x?x5x8xf32>
  return %l : tensor<f32>
}
