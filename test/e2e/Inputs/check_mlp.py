"""Checks ube-run's outputs for examples/mlp.json against numpy (float64)."""
import pathlib
import sys

import numpy as np
from ube.safetensors import read_safetensors


def main():
    w = {k: v.astype(np.float64)
         for k, v in read_safetensors(sys.argv[1]).items()}
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
