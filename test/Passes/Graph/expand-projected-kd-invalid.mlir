// RUN: ube-opt %s --ube-expand-projected-kd -verify-diagnostics

// Empty operands have no chunks of rows: an error, not a crash.
func.func @empty(%hs: tensor<0x4xf32>, %ws: tensor<10x4xf32>) -> tensor<f32> {
  // expected-error@+1 {{'ube.projected_kd_loss' op cannot take an empty tensor in chunks of rows}}
  %l = ube.projected_kd_loss %hs, %ws, %hs, %ws : tensor<0x4xf32>, tensor<10x4xf32>, tensor<0x4xf32>, tensor<10x4xf32>
  return %l : tensor<f32>
}
