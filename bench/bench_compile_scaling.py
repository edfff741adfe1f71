#!/usr/bin/env python3
"""Compile cost against model size: `ube-compile` wall time and peak
resident memory (the compiler and every process it starts: the linker) for
a family of BERT-style encoders (models.Bert: 30522-word vocabulary, batch
1 x 128 tokens, weights as constants of the executable), with the cost per
million parameters, so the curve says whether compile cost is linear in
the model. With --plot FILE.png, both curves against the parameter count.

    .venv/bin/python bench/bench_compile_scaling.py [--models 1x256,2x512,4x768,12x768,24x1024]
                                                    [--plot docs/compile-scaling.png] [--record]
"""
import argparse
import datetime
import json
import pathlib
import subprocess
import sys
import tempfile
import time

from benchutil import record_rows

ROOT = pathlib.Path(__file__).resolve().parents[1]
VOCAB, TOKENS = 30522, 128
# The compile in a fresh parent, whose RUSAGE_CHILDREN is then that compile's.
MEASURE = ("import json, resource, subprocess, sys, time\n"
           "start = time.perf_counter()\n"
           "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
           "print(json.dumps([time.perf_counter() - start,\n"
           "                  resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))")


def export(layers, hidden, path):
    import torch
    sys.path.insert(0, str(ROOT / "test" / "python"))
    sys.path.insert(0, str(ROOT / "build" / "python"))
    import ube
    from models import Bert
    torch.manual_seed(0)
    model = Bert(vocab=VOCAB, tokens=TOKENS, hidden=hidden, heads=hidden // 64, layers=layers,
                 classes=None, ffn=4 * hidden).eval()
    ids = torch.randint(0, VOCAB, (1, TOKENS))
    ube.export(model, (ids, torch.ones(1, TOKENS, dtype=torch.bool)), path)
    return sum(p.numel() for p in model.parameters())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="1x256,2x512,4x768,12x768,24x1024")
    parser.add_argument("--plot")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    rows, points = [], []
    print(f"{'layers x hidden':>16}{'params M':>10}{'compile s':>11}{'peak GB':>9}"
          f"{'s / M':>8}{'MB / M':>8}")
    for spec in args.models.split(","):
        layers, hidden = (int(x) for x in spec.split("x"))
        with tempfile.TemporaryDirectory() as tmp:
            graph = pathlib.Path(tmp) / "model.json"
            params = export(layers, hidden, graph) / 1e6
            seconds, peak_kib = json.loads(subprocess.run(
                [sys.executable, "-c", MEASURE, str(ROOT / "build" / "bin" / "ube-compile"),
                 str(graph), "-o", str(pathlib.Path(tmp) / "model.ube")],
                check=True, capture_output=True, text=True).stdout)
        peak_gb = peak_kib / 2**20
        points.append((params, seconds, peak_gb))
        print(f"{spec:>16}{params:10.1f}{seconds:11.1f}{peak_gb:9.2f}{seconds / params:8.3f}"
              f"{peak_gb * 1024 / params:8.1f}", flush=True)
        rows.append(f"| {datetime.date.today()} | {layers} x {hidden} | {params:.1f} | "
                    f"{seconds:.1f} | {peak_gb:.2f} | {seconds / params:.3f} | "
                    f"{peak_gb * 1024 / params:.1f} |")
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
        params = [p for p, _, _ in points]
        left.plot(params, [s for _, s, _ in points], "o-")
        left.set(xlabel="parameters (M)", ylabel="compile time (s)")
        right.plot(params, [g for _, _, g in points], "o-")
        right.set(xlabel="parameters (M)", ylabel="peak memory (GB)")
        fig.suptitle("ube-compile, BERT-style encoders, batch 1 x 128")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=100)
    if args.record:
        record_rows(ROOT / "docs" / "performance.md",
                    "<!-- rows: bench/bench_compile_scaling.py --record -->", rows)


if __name__ == "__main__":
    main()
