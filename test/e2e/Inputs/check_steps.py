"""ube-run --steps=N against N single invocations of the same step, each
fed the previous one's parameters and optimizer state by hand (state at
zeros first): the same losses and final parameters, bit for bit."""
import os
import pathlib
import re
import subprocess
import sys

import numpy as np

ube_run, exe, work = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
rng = np.random.default_rng(0)
inputs = {"x": rng.standard_normal((4, 3)).astype(np.float32),
          "w": rng.standard_normal((2, 3)).astype(np.float32),
          "y": rng.integers(0, 2, 4).astype(np.int64),
          "w.momentum_buffer": np.zeros((2, 3), np.float32)}


def run(arrays, out, *flags):
    out.mkdir(parents=True, exist_ok=True)
    args = [ube_run, exe, "--function=step", f"--output-dir={out}", *flags]
    for name, array in arrays.items():
        np.save(out / f"in.{name}.npy", array)
        args.append(f"--input={name}={out / f'in.{name}.npy'}")
    # ube-run carries its own sanitizer runtime in sanitizer builds: not the
    # one preloaded into this interpreter (%python there).
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    result = subprocess.run(args, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.exit(f"ube-run failed: {result.stderr}")
    return result.stdout


given = {k: v for k, v in inputs.items() if k != "w.momentum_buffer"}
printed = run(given, work / "steps", "--steps=4")
losses = [float(v) for v in re.findall(r"^step \d+: loss (\S+)$", printed, re.M)]
by_hand, state = [], dict(inputs)
for i in range(4):
    run(state, work / f"one{i}")
    by_hand.append(float(np.load(work / f"one{i}" / "loss.npy")))
    state["w"] = np.load(work / f"one{i}" / "w.npy")
    state["w.momentum_buffer"] = np.load(work / f"one{i}" / "w.momentum_buffer.npy")
assert len(losses) == 4 and losses[-1] < losses[0], losses
assert np.array_equal(np.float32(losses), np.float32(by_hand)), (losses, by_hand)
for name in ("w", "w.momentum_buffer"):
    assert np.array_equal(np.load(work / "steps" / f"{name}.npy"), state[name]), name
print("steps ok:", " ".join(f"{v:.6f}" for v in losses))
