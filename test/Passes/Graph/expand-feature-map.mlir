// RUN: ube-opt %s --ube-expand-feature-map --split-input-file | FileCheck %s

// 999 tokens projected to 520 (over 256K elements): two chunks of tokens
// (500 and 499). The loss and its gradient share the expansion: per chunk
// the slices, the chunk's loss weighted by its share of the tokens and its
// gradient with the upstream gradient scaled the same way; d h_s is the
// chunks' rows concatenated, d W their sum.
// CHECK-LABEL: func.func @pair
// CHECK: %[[S0:.*]] = ube.slice %{{.*}} {{.*}} : tensor<999x40xf32>
// CHECK: %[[L0:.*]] = ube.feature_map_loss %[[S0]], %{{.*}} projection %arg2 {{.*}} : tensor<500x40xf32>, tensor<500x520xf32>, tensor<40x520xf32>
// CHECK: %[[DS0:.*]], %[[DW0:.*]] = ube.feature_map_loss_grad %[[S0]], %{{.*}}, %{{.*}} projection %arg2
// CHECK: ube.feature_map_loss %{{.*}}, %{{.*}} projection %arg2 {{.*}} : tensor<499x40xf32>, tensor<499x520xf32>, tensor<40x520xf32>
// CHECK: %[[DS1:.*]], %[[DW1:.*]] = ube.feature_map_loss_grad
// CHECK: %[[DW:.*]] = ube.add %[[DW0]], %[[DW1]]
// CHECK: ube.concat %[[DS0]], %[[DS1]]
// CHECK-NOT: ube.feature_map_loss %arg0
// CHECK: return
func.func @pair(%hs: tensor<3x333x40xf32>, %ht: tensor<3x333x520xf32>, %w: tensor<40x520xf32>, %g: tensor<f32>) -> (tensor<f32>, tensor<3x333x40xf32>, tensor<40x520xf32>) {
  %l = ube.feature_map_loss %hs, %ht projection %w {beta = 0.5} : tensor<3x333x40xf32>, tensor<3x333x520xf32>, tensor<40x520xf32>
  %d:2 = ube.feature_map_loss_grad %hs, %ht, %g projection %w {beta = 0.5} : tensor<3x333x40xf32>, tensor<3x333x520xf32>, tensor<f32>, tensor<40x520xf32>
  return %l, %d#0, %d#1 : tensor<f32>, tensor<3x333x40xf32>, tensor<40x520xf32>
}

// -----

// Left whole: without a projection, and projected features that are small.
// CHECK-LABEL: func.func @kept
// CHECK-NEXT: ube.feature_map_loss %arg0, %arg1 :
// CHECK-NEXT: ube.feature_map_loss %arg2, %arg3 projection %arg4
// CHECK-NEXT: return
func.func @kept(%a: tensor<999x520xf32>, %b: tensor<999x520xf32>, %hs: tensor<8x40xf32>, %ht: tensor<8x520xf32>, %w: tensor<40x520xf32>) -> (tensor<f32>, tensor<f32>) {
  %0 = ube.feature_map_loss %a, %b : tensor<999x520xf32>, tensor<999x520xf32>
  %1 = ube.feature_map_loss %hs, %ht projection %w : tensor<8x40xf32>, tensor<8x520xf32>, tensor<40x520xf32>
  return %0, %1 : tensor<f32>, tensor<f32>
}
