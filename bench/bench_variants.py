#!/usr/bin/env python3
"""Multi-ISA cpu executables: what a second build costs. BERT-base
(12L-768H, 128 tokens, batch 1; the encoder of bench_encoder.py) compiled
for x86-64-v3, for x86-64-v4, and for both in one executable
(--cpu=x86-64-v3,x86-64-v4): compile time, file size, load time (ube.load
in a fresh process, median of --loads) and forward time (median of --runs,
--threads threads) of each build, the two-variant one once per variant
(UBE_CPU_VARIANT). Each variant keeps its own host code and packed weights
(docs/runtime-abi.md), so the file grows by one build's size per variant;
the cost measured here is the basis of that choice.

    .venv/bin/python bench/bench_variants.py [--model bert-base] [--threads 2]
                                             [--runs 5] [--loads 3] [--record]
"""
import argparse
import datetime
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

from benchutil import median_ms, record_rows

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILDS = ["x86-64-v3", "x86-64-v4", "x86-64-v3,x86-64-v4"]


def child(path, variant, threads, runs, loads):
    """Load and run one build in this (fresh) process; prints JSON."""
    import numpy as np
    sys.path.insert(0, str(ROOT / "build" / "python"))
    import ube
    if variant:
        os.environ["UBE_CPU_VARIANT"] = variant
    times = []
    for _ in range(loads):
        start = time.perf_counter()
        exe = ube.load(path)
        times.append((time.perf_counter() - start) * 1e3)
    exe.threads = threads
    inputs = [np.load(pathlib.Path(path).parent / f"input{i}.npy") for i in range(2)]
    fn = exe.functions[next(iter(exe.functions))]
    ms = median_ms(lambda: fn(*inputs), runs)
    out = fn(*inputs)
    print(json.dumps({"variant": exe.variant, "load_ms": sorted(times)[len(times) // 2],
                      "ms": ms, "checksum": float(np.abs(out).sum())}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="bert-base")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        path, variant, threads, runs, loads = args.child
        return child(path, variant, int(threads), int(runs), int(loads))

    sys.path.insert(0, str(ROOT / "build" / "python"))
    import numpy as np
    import ube
    from bench_encoder import MODELS, build_model, example_inputs
    label = MODELS[args.model][0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        inputs = example_inputs(args.model, 1)
        ube.export(build_model(args.model), inputs, work / "model.json")
        for i, x in enumerate(inputs):
            np.save(work / f"input{i}.npy", x.numpy())
        print(f"{label}, batch 1, {args.threads} threads")
        print(f"{'--cpu':22}{'variant':>12}{'compile s':>11}{'MiB':>8}{'load ms':>9}"
              f"{'forward ms':>12}")
        for build in BUILDS:
            exe = work / (build.replace(",", "+") + ".ube")
            start = time.perf_counter()
            subprocess.run([ROOT / "build" / "bin" / "ube-compile", work / "model.json",
                            f"--cpu={build}", "-o", exe], check=True)
            compile_s = time.perf_counter() - start
            mib = exe.stat().st_size / 2**20
            for variant in (build.split(",") if "," in build else [""]):
                result = json.loads(subprocess.run(
                    [sys.executable, __file__, "--child", str(exe), variant, str(args.threads),
                     str(args.runs), str(args.loads)],
                    check=True, capture_output=True, text=True,
                    env={**os.environ, "UBE_NUM_THREADS": str(args.threads)}).stdout)
                shown = result["variant"] or build
                print(f"{build:22}{shown:>12}{compile_s:11.1f}{mib:8.1f}{result['load_ms']:9.0f}"
                      f"{result['ms']:12.1f}", flush=True)
                rows.append(f"| {datetime.date.today()} | {label} | {build} | {shown} | "
                            f"{args.threads} | {compile_s:.1f} s | {mib:.0f} | "
                            f"{result['load_ms']:.0f} | {result['ms']:.1f} |")
    if args.record:
        record_rows(ROOT / "docs" / "performance.md",
                    "<!-- rows: bench/bench_variants.py --record -->", rows)


if __name__ == "__main__":
    main()
