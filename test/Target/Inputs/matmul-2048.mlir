func.func @main(%a: tensor<54x2048xf32> {ube.name = "a"}, %b: tensor<2048x256xf32> {ube.name = "b"}) -> (tensor<54x256xf32> {ube.name = "c"}) {
  %c = ube.matmul %a, %b : tensor<54x2048xf32>, tensor<2048x256xf32>
  return %c : tensor<54x256xf32>
}
