"""Writes the .npy inputs the runtime tests use into a directory."""
import pathlib
import sys

import numpy as np

out = pathlib.Path(sys.argv[1])
rng = np.random.default_rng(0)
np.save(out / "x.npy", rng.standard_normal((8, 16)).astype(np.float32))
np.save(out / "x_shape.npy", np.zeros((8, 15), np.float32))
np.save(out / "x_f64.npy", np.zeros((8, 16), np.float64))
np.save(out / "x_c64.npy", np.zeros((8, 16), np.complex64))
np.save(out / "x_i32.npy", np.zeros((8, 16), np.int32))
np.save(out / "labels.npy", rng.integers(0, 4, (8,)).astype(np.int64))
