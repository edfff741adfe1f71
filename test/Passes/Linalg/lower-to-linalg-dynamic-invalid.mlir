// RUN: ube-opt %s --ube-lower-to-linalg --split-input-file -verify-diagnostics
// What does not lower on symbolic dimensions yet says so, naming the op.

// Keys shared by a symbolic number of query heads (grouped heads need the
// group size at compile time).
func.func @attention(%q: tensor<2x?x5x8xf32>, %k: tensor<2x1x5x8xf32>, %v: tensor<2x1x5x8xf32>) -> tensor<2x?x5x8xf32> {
  // expected-error @+1 {{'ube.scaled_dot_product_attention' op on symbolic dimensions: a symbolic number of heads is not supported yet}}
  %0 = ube.scaled_dot_product_attention %q, %k, %v : tensor<2x?x5x8xf32>, tensor<2x1x5x8xf32>, tensor<2x1x5x8xf32>
  return %0 : tensor<2x?x5x8xf32>
}

// -----

// A broadcast to a symbolic size it has no operand for (a gradient's).
func.func @broadcast(%x: tensor<?x1x8xf32>) -> tensor<?x?x8xf32> {
  // expected-error @+2 {{'ube.broadcast_to' op has a symbolic result size that no operand gives: 'tensor<?x?x8xf32>' from 'tensor<?x1x8xf32>'}}
  // expected-error @+1 {{failed to legalize operation 'ube.broadcast_to'}}
  %0 = ube.broadcast_to %x : tensor<?x1x8xf32> to tensor<?x?x8xf32>
  return %0 : tensor<?x?x8xf32>
}

