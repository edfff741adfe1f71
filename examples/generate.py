#!/usr/bin/python3
"""Regenerates the example graph files' weights (fixed seed).

    python3 examples/generate.py

Writes examples/mlp.safetensors for examples/mlp.json: a 2-layer MLP
classifier (16 -> 32 -> 4) with GELU, softmax probabilities and a
cross-entropy loss.
"""
import json
import pathlib
import struct

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent


def write_safetensors(path, tensors):
    """Writes {name: np.ndarray} as a safetensors file (F32/I64/I32/BOOL)."""
    names = {np.dtype("float32"): "F32", np.dtype("float16"): "F16",
             np.dtype("int32"): "I32", np.dtype("int64"): "I64",
             np.dtype("bool"): "BOOL"}
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        data = array.tobytes()
        header[name] = {"dtype": names[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text.encode())
        for blob in blobs:
            f.write(blob)


def main():
    rng = np.random.default_rng(0)
    def init(*shape):
        return (rng.standard_normal(shape) / np.sqrt(shape[-1])).astype(np.float32)
    write_safetensors(HERE / "mlp.safetensors", {
        "fc1.weight": init(32, 16), "fc1.bias": init(32) * 0.1,
        "fc2.weight": init(4, 32), "fc2.bias": init(4) * 0.1,
    })


if __name__ == "__main__":
    main()
