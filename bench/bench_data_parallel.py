#!/usr/bin/env python3
"""Data-parallel distillation and offline teacher outputs on this machine.

    .venv/bin/python bench/bench_data_parallel.py [--steps 10] [--record]

The distillation step of bench_minilm_distill.py (the pre-trained
all-MiniLM-L6-v2 teacher with a classification head, a 3 x 384 student from
its layers 0, 2, 5; KD, hidden-state and attention transfer, AdamW; global
batches of 32 synopses x 24 tokens), each process on 1 thread:

- one process, the teacher's forward in the step;
- two processes under torchrun (gloo, loopback), 16 rows each, the
  gradients all-reduced between the `gradients` and `update` entry points:
  throughput and the all-reduce's time per step;
- one process distilling from stored teacher outputs
  (ube.save_teacher_outputs): the step without the teacher's forward, and
  the disk the outputs take per token in f32 and f16.

Step times are medians of --steps timed steps after two warm-up steps.
"""
import argparse
import datetime
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import bench_minilm_distill as minilm  # noqa: E402
from benchutil import record_rows  # noqa: E402

TOKENS = 24


def config(ube, steps):
    return ube.DistillConfig(
        steps=steps, temperature=minilm.T, hard_label_weight=0.5, log_every=0,
        feature_weight=1.0, layer_map=minilm.LAYER_MAP, feature_mean_weight=1.0,
        feature_variance_weight=1.0, attention_weight=1.0, attention_map=minilm.ATTENTION,
        optimizer={"kind": "adamw", "lr": 1e-4})


def child(kind, steps):
    import ube
    teacher, student, data = minilm.setup(steps + 2)
    result = {}
    if kind == "stored":
        with tempfile.TemporaryDirectory() as work:
            for dtype in ("f16", "f32"):
                stored = ube.save_teacher_outputs(teacher, data, pathlib.Path(work) / dtype,
                                                  config(ube, steps + 2), dtype=dtype)
                size = sum(f.stat().st_size for f in stored.directory.glob("*.npy"))
                result[f"bytes_per_token_{dtype}"] = size / (len(data) * minilm.BATCH * TOKENS)
            trained = ube.distill(stored, student, data, config(ube, steps + 2))
    else:
        trained = ube.distill(teacher, student, data, config(ube, steps + 2))
    result["ms"] = float(np.median(trained.step_seconds[2:])) * 1e3
    if trained.communication_seconds:
        result["communication_ms"] = float(np.median(trained.communication_seconds[2:])) * 1e3
    return result


def run(kind, steps):
    env = dict(os.environ, OMP_NUM_THREADS="1", UBE_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    command = [sys.executable, __file__, "--child", kind, "--steps", str(steps)]
    if kind == "two":
        command[1:1] = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads([line for line in out.splitlines() if line.startswith("{")][-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--child", choices=["one", "two", "stored"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import torch
        torch.set_num_threads(1)
        result = child(args.child, args.steps)
        if int(os.environ.get("RANK", 0)) == 0:
            print(json.dumps(result))
        return
    one, two, stored = (run(kind, args.steps) for kind in ("one", "two", "stored"))
    rate = {name: minilm.BATCH / (r["ms"] / 1e3) for name, r in
            (("one", one), ("two", two), ("stored", stored))}
    print(f"distillation step, global batch {minilm.BATCH} x {TOKENS}, 1 thread per process:")
    print(f"  1 process:             {one['ms']:7.1f} ms/step  {rate['one']:6.1f} samples/s")
    print(f"  2 processes (torchrun): {two['ms']:7.1f} ms/step  {rate['two']:6.1f} samples/s "
          f"({rate['two'] / rate['one']:.2f}x), all-reduce {two['communication_ms']:.1f} ms/step")
    print(f"  stored teacher outputs: {stored['ms']:7.1f} ms/step  {rate['stored']:6.1f} "
          f"samples/s ({rate['stored'] / rate['one']:.2f}x); "
          f"{stored['bytes_per_token_f32']:.0f} B/token f32, "
          f"{stored['bytes_per_token_f16']:.0f} B/token f16")
    if args.record:
        today = datetime.date.today()
        rows = [f"| {today} | {one['ms']:.0f} | {two['ms']:.0f} | "
                f"{rate['two'] / rate['one']:.2f}x | {two['communication_ms']:.1f} | "
                f"{stored['ms']:.0f} | {stored['bytes_per_token_f32']:.0f} / "
                f"{stored['bytes_per_token_f16']:.0f} |"]
        record_rows(ROOT / "docs/performance.md", "<!-- rows: bench/bench_data_parallel.py -->",
                    rows)


if __name__ == "__main__":
    main()
