// RUN: ube-opt %s --ube-build-train-step --split-input-file --verify-diagnostics | FileCheck %s

// AdamW: two moments per parameter and the step become inputs; the updated
// parameters and moments are returned under the input names, after the
// function's own results.
// CHECK-LABEL: func.func @adamw
// CHECK-SAME: %[[W:[a-z0-9]+]]: tensor<5x3xf32> {ube.name = "w"}
// CHECK-SAME: %[[M:[a-z0-9]+]]: tensor<5x3xf32> {ube.name = "w.exp_avg"}, %[[V:[a-z0-9]+]]: tensor<5x3xf32> {ube.name = "w.exp_avg_sq"}
// CHECK-SAME: {ube.name = "b.exp_avg"}, %{{.*}}: tensor<5xf32> {ube.name = "b.exp_avg_sq"}, %[[STEP:.*]]: tensor<i64> {ube.name = "step"})
// CHECK-SAME: -> (tensor<f32> {ube.name = "loss"}, tensor<5x3xf32> {ube.name = "w"}, tensor<5xf32> {ube.name = "b"}, tensor<5x3xf32> {ube.name = "w.exp_avg"}, tensor<5x3xf32> {ube.name = "w.exp_avg_sq"}, tensor<5xf32> {ube.name = "b.exp_avg"}, tensor<5xf32> {ube.name = "b.exp_avg_sq"})
// CHECK-NOT: ube.train
// CHECK: %[[LR:.*]] = ube.constant dense<0.00999{{.*}}> : tensor<f32>
// CHECK: ube.adamw_update %[[W]], %{{.*}}, %[[M]], %[[V]], %[[LR]], %[[STEP]] {beta1 = 8.000000e-01 : f64
// CHECK: ube.adamw_update
func.func @adamw(%x: tensor<4x3xf32> {ube.name = "x"}, %w: tensor<5x3xf32> {ube.name = "w"}, %b: tensor<5xf32> {ube.name = "b"}, %y: tensor<4xi64> {ube.name = "y"}) -> (tensor<f32> {ube.name = "loss"})
    attributes {ube.train = {loss = 0 : i64, params = array<i64: 1, 2>, optimizer = "adamw", lr = 1.0e-2 : f64, beta1 = 0.8 : f64}} {
  %h = ube.linear %x, %w, %b : tensor<4x3xf32>, tensor<5x3xf32>, tensor<5xf32>
  %l = ube.cross_entropy %h, %y : tensor<4x5xf32>, tensor<4xi64>
  return %l : tensor<f32>
}

// -----

// SGD: one buffer per parameter, no step; an existing "step" input is not
// needed and stays an ordinary input.
// CHECK-LABEL: func.func @sgd
// CHECK-SAME: %{{.*}}: tensor<3xf32> {ube.name = "w.momentum_buffer"})
// CHECK-SAME: -> (tensor<f32>, tensor<3xf32> {ube.name = "w"}, tensor<3xf32> {ube.name = "w.momentum_buffer"})
// CHECK: ube.sgd_update {{.*}} {momentum = 5.000000e-01 : f64} : tensor<3xf32>
func.func @sgd(%w: tensor<3xf32> {ube.name = "w"}) -> tensor<f32>
    attributes {ube.train = {loss = 0 : i64, params = array<i64: 0>, optimizer = "sgd", lr = 0.5 : f64, momentum = 0.5 : f64}} {
  %sq = ube.mul %w, %w : tensor<3xf32>, tensor<3xf32>
  %l = ube.reduce_sum %sq : tensor<3xf32>
  return %l : tensor<f32>
}

// -----

// AdamW reuses an i64 scalar input named "step" (the Bernoulli schedule's).
// CHECK-LABEL: func.func @shared_step
// CHECK-SAME: (%[[STEP:[a-z0-9]+]]: tensor<i64> {ube.name = "step"}
// CHECK-NOT: ube.name = "step"
// CHECK: ube.adamw_update {{.*}}, %[[STEP]]
func.func @shared_step(%step: tensor<i64> {ube.name = "step"}, %w: tensor<3xf32> {ube.name = "w"}) -> tensor<f32>
    attributes {ube.train = {loss = 0 : i64, params = array<i64: 1>, optimizer = "adamw", lr = 0.5 : f64}} {
  %l = ube.reduce_sum %w : tensor<3xf32>
  return %l : tensor<f32>
}

// -----

// The learning rate as an input (a schedule the caller runs): the update
// reads that argument.
// CHECK-LABEL: func.func @scheduled
// CHECK-SAME: (%[[LR:[a-z0-9]+]]: tensor<f32> {ube.name = "lr"}
// CHECK: ube.adamw_update {{.*}}, %[[LR]], %{{[a-z0-9]+}} : tensor<3xf32>
func.func @scheduled(%lr: tensor<f32> {ube.name = "lr"}, %w: tensor<3xf32> {ube.name = "w"}) -> tensor<f32>
    attributes {ube.train = {loss = 0 : i64, params = array<i64: 1>, optimizer = "adamw", lr = 0 : i64}} {
  %l = ube.reduce_sum %w : tensor<3xf32>
  return %l : tensor<f32>
}

// -----

// expected-error @+1 {{ube.train: the learning rate must be an f32 scalar input}}
func.func @lr_not_scalar(%lr: tensor<2xf32>, %w: tensor<3xf32>) -> tensor<f32>
    attributes {ube.train = {loss = 0 : i64, params = array<i64: 1>, optimizer = "sgd", lr = 0 : i64}} {
  %l = ube.reduce_sum %w : tensor<3xf32>
  return %l : tensor<f32>
}

// -----

// expected-error @+1 {{ube.train: the learning rate input is not a parameter}}
func.func @lr_trained(%lr: tensor<f32>) -> tensor<f32>
    attributes {ube.train = {loss = 0 : i64, params = array<i64: 0>, optimizer = "sgd", lr = 0 : i64}} {
  return %lr : tensor<f32>
}

// -----

// expected-error @+1 {{ube.train: unknown optimizer 'lion' (sgd or adamw)}}
func.func @unknown(%w: tensor<3xf32>) -> tensor<f32>
    attributes {ube.train = {loss = 0 : i64, params = array<i64: 0>, optimizer = "lion", lr = 0.5 : f64}} {
  %l = ube.reduce_sum %w : tensor<3xf32>
  return %l : tensor<f32>
}

// -----

// expected-error @+1 {{ube.train needs `loss` (a result index) or `gradients` (argument indices), `params` (argument indices), `optimizer` ("sgd" or "adamw") and `lr` (a number, or the argument index of the learning rate)}}
func.func @incomplete(%w: tensor<3xf32>) -> tensor<f32>
    attributes {ube.train = {loss = 0 : i64, optimizer = "sgd", lr = 0.5 : f64}} {
  %l = ube.reduce_sum %w : tensor<3xf32>
  return %l : tensor<f32>
}

// -----

// expected-error @+1 {{ube.train: a parameter is listed twice}}
func.func @twice(%w: tensor<3xf32>) -> tensor<f32>
    attributes {ube.train = {loss = 0 : i64, params = array<i64: 0, 0>, optimizer = "sgd", lr = 0.5 : f64}} {
  %l = ube.reduce_sum %w : tensor<3xf32>
  return %l : tensor<f32>
}

// -----

// Gradients given as inputs (an update step of gradients computed
// elsewhere): no reverse sweep; the update reads the gradient argument.
// CHECK-LABEL: func.func @given_gradients
// CHECK-SAME: (%[[W:[a-z0-9]+]]: tensor<3xf32> {ube.name = "w"}, %[[G:[a-z0-9]+]]: tensor<3xf32> {ube.name = "g"}
// CHECK-SAME: -> (tensor<3xf32> {ube.name = "w"}, tensor<3xf32> {ube.name = "w.momentum_buffer"})
// CHECK-NEXT: %[[LR:.*]] = ube.constant
// CHECK-NEXT: ube.sgd_update %[[W]], %[[G]], %{{.*}}, %[[LR]]
func.func @given_gradients(%w: tensor<3xf32> {ube.name = "w"}, %g: tensor<3xf32> {ube.name = "g"})
    attributes {ube.train = {gradients = array<i64: 1>, params = array<i64: 0>, optimizer = "sgd", lr = 0.5 : f64}} {
  return
}

// -----

// expected-error @+1 {{ube.train: the gradient of 'w' is 'tensor<2xf32>', the parameter 'tensor<3xf32>'}}
func.func @gradient_type(%w: tensor<3xf32> {ube.name = "w"}, %g: tensor<2xf32>)
    attributes {ube.train = {gradients = array<i64: 1>, params = array<i64: 0>, optimizer = "sgd", lr = 0.5 : f64}} {
  return
}

// -----

// expected-error @+1 {{ube.train: gradient argument 0 is not an input apart from the params}}
func.func @gradient_is_param(%w: tensor<3xf32> {ube.name = "w"})
    attributes {ube.train = {gradients = array<i64: 0>, params = array<i64: 0>, optimizer = "sgd", lr = 0.5 : f64}} {
  return
}

// -----

// expected-error @+1 {{ube.train needs `loss` (a result index) or `gradients`}}
func.func @loss_and_gradients(%w: tensor<3xf32>, %g: tensor<3xf32>) -> tensor<f32>
    attributes {ube.train = {loss = 0 : i64, gradients = array<i64: 1>, params = array<i64: 0>, optimizer = "sgd", lr = 0.5 : f64}} {
  %l = ube.reduce_sum %w : tensor<3xf32>
  return %l : tensor<f32>
}

// -----

// Dropouts without a step, forward and backward, and attention dropout
// with its gradient take the step (added after the state, as AdamW's): new
// masks every step, the gradient's the forward's.
// CHECK-LABEL: func.func @dropout_step
// CHECK-SAME: %[[STEP:[a-z0-9]+]]: tensor<i64> {ube.name = "step"})
// CHECK: ube.scaled_dot_product_attention %{{.*}}, %{{.*}}, %{{.*}} step %[[STEP]] {dropout_p = 1.000000e-01 : f64, seed = 2 : i64}
// CHECK: ube.dropout %{{.*}} step %[[STEP]] {rate = 2.000000e-01 : f64, seed = 1 : i64}
// CHECK: ube.dropout %{{.*}} step %[[STEP]] {rate = 2.000000e-01 : f64, seed = 1 : i64}
// CHECK: ube.scaled_dot_product_attention_grad {{.*}} step %[[STEP]] {dropout_p = 1.000000e-01 : f64, seed = 2 : i64}
// CHECK: ube.sgd_update
func.func @dropout_step(%q: tensor<2x3x4xf32> {ube.name = "q"}) -> tensor<f32>
    attributes {ube.train = {loss = 0 : i64, params = array<i64: 0>, optimizer = "sgd", lr = 0.5 : f64}} {
  %a = ube.scaled_dot_product_attention %q, %q, %q {dropout_p = 0.1 : f64, seed = 2 : i64}
      : tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>
  %d = ube.dropout %a {rate = 0.2 : f64, seed = 1 : i64} : tensor<2x3x4xf32>
  %l = ube.reduce_sum %d : tensor<2x3x4xf32>
  return %l : tensor<f32>
}

// -----

// A parameter of symbolic shape: its state inputs and the updated outputs
// carry its symbols.
// CHECK-LABEL: func.func @symbolic_param
// CHECK-SAME: %{{.*}}: tensor<?x4xf32> {ube.dims = ["seq"], ube.name = "p.momentum_buffer"})
// CHECK-SAME: -> (tensor<f32> {ube.name = "loss"}, tensor<?x4xf32> {ube.dims = ["seq"], ube.name = "p"}, tensor<?x4xf32> {ube.dims = ["seq"], ube.name = "p.momentum_buffer"})
// CHECK: ube.sgd_update {{.*}} : tensor<?x4xf32>
func.func @symbolic_param(%p: tensor<?x4xf32> {ube.name = "p", ube.dims = ["seq"]}) -> (tensor<f32> {ube.name = "loss"})
    attributes {ube.symbols = [#ube.dim<"seq">], ube.train = {loss = 0 : i64, params = array<i64: 0>, optimizer = "sgd", lr = 0.5 : f64, momentum = 0.5 : f64}} {
  %sq = ube.mul %p, %p : tensor<?x4xf32>, tensor<?x4xf32>
  %l = ube.reduce_sum %sq : tensor<?x4xf32>
  return %l : tensor<f32>
}
