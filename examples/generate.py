#!/usr/bin/env python3
"""Regenerates the example graph files' weights (fixed seed).

    .venv/bin/python examples/generate.py

Writes examples/mlp.safetensors for examples/mlp.json: a 2-layer MLP
classifier (16 -> 32 -> 4) with GELU, softmax probabilities and a
cross-entropy loss.
"""
import pathlib

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent


def _load_safetensors_module():
    """python/ube/safetensors.py from the source tree (numpy only; the ube
    package itself needs the built extension)."""
    import importlib.util
    path = pathlib.Path(__file__).resolve().parents[1] / "python" / "ube" / "safetensors.py"
    spec = importlib.util.spec_from_file_location("ube_safetensors", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    rng = np.random.default_rng(0)
    def init(*shape):
        return (rng.standard_normal(shape) / np.sqrt(shape[-1])).astype(np.float32)
    _load_safetensors_module().write_safetensors(HERE / "mlp.safetensors", {
        "fc1.weight": init(32, 16), "fc1.bias": init(32) * 0.1,
        "fc2.weight": init(4, 32), "fc2.bias": init(4) * 0.1,
    })


if __name__ == "__main__":
    main()
