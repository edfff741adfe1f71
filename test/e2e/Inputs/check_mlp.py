"""Checks ube-run's outputs for examples/mlp.json against numpy (float64)."""
import json
import pathlib
import struct
import sys

import numpy as np


def read_safetensors(path):
    data = pathlib.Path(path).read_bytes()
    size = struct.unpack_from("<Q", data, 0)[0]
    header = json.loads(data[8:8 + size])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        out[name] = np.frombuffer(data[8 + size + begin:8 + size + end],
                                  np.float32).reshape(info["shape"]).astype(np.float64)
    return out


def main():
    w = read_safetensors(sys.argv[1])
    out = pathlib.Path(sys.argv[2])
    x = np.load(out / "x.npy").astype(np.float64)
    labels = np.load(out / "labels.npy")
    h = x @ w["fc1.weight"].T + w["fc1.bias"]
    h = 0.5 * h * (1 + np.tanh(np.sqrt(2 / np.pi) * (h + 0.044715 * h ** 3)))
    logits = h @ w["fc2.weight"].T + w["fc2.bias"]
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    probs = np.exp(log_probs)
    loss = -log_probs[np.arange(len(labels)), labels].mean()
    for name, got, ref in [("predict", np.load(out / "predict/probs.npy"), probs),
                           ("loss", np.load(out / "loss/loss.npy"), loss)]:
        err = np.max(np.abs(got - ref)) / np.max(np.abs(ref))
        print(f"{name} {'ok' if err < 1e-5 else 'FAILED'} (relative error {err:.2e})")


if __name__ == "__main__":
    main()
