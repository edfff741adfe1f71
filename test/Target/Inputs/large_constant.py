"""Writes add.mlir (y = x + W with a 32x64 f32 constant W: 8 KiB, large
enough to leave the LLVM module) and x.npy into DIR; with --check, compares
DIR/out/y.npy against numpy."""
import pathlib
import sys

import numpy as np

out = pathlib.Path(sys.argv[1])
w = (np.arange(32 * 64, dtype=np.float32).reshape(32, 64) * 0.25 - 100.0)
x = np.random.default_rng(0).standard_normal((32, 64)).astype(np.float32)
if len(sys.argv) > 2 and sys.argv[2] == "--check":
    y = np.load(out / "out" / "y.npy")
    print("numerics ok" if np.array_equal(y, x + w) else f"MISMATCH {np.abs(y - x - w).max()}")
    sys.exit(0)
rows = ", ".join("[" + ", ".join(repr(float(v)) for v in row) + "]" for row in w)
(out / "add.mlir").write_text(f"""
func.func @add(%x: tensor<32x64xf32> {{ube.name = "x"}}) -> (tensor<32x64xf32> {{ube.name = "y"}}) {{
  %w = ube.constant dense<[{rows}]> : tensor<32x64xf32>
  %y = ube.add %x, %w : tensor<32x64xf32>, tensor<32x64xf32>
  return %y : tensor<32x64xf32>
}}
""")
np.save(out / "x.npy", x)
