#!/usr/bin/env python3
"""Latency of one BERT-style encoder layer (embeddings, masked multi-head
attention, GELU feed-forward, LayerNorms): the ube executable on the CPU
against PyTorch eager on the same weights and inputs, in the same run.

    .venv/bin/python bench/bench_encoder_layer.py [--batch 8] [--tokens 128] [--hidden 256]
                                 [--heads 4] [--ffn 1024] [--runs 10]

Prints a table and, with --record, appends a row to docs/performance.md.
ube's time is ube-run's median over --runs invocations (inputs already in
memory) on its default threads (UBE_NUM_THREADS, else every hardware
thread); PyTorch's the median of --runs calls under torch.no_grad with 1
and with 2 threads.
"""
import argparse
import datetime
import json
import pathlib
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "test" / "python"))
from models import EncoderLayer, encoder_layer_graph  # noqa: E402
from ubetest import GraphRunner, rel_error  # noqa: E402
from benchutil import record_rows  # noqa: E402


def torch_median(module, ids, mask, runs, threads):
    torch.set_num_threads(threads)
    times = []
    with torch.no_grad():
        module(ids, mask)
        for _ in range(runs):
            start = time.perf_counter()
            module(ids, mask)
            times.append((time.perf_counter() - start) * 1e3)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--ffn", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--build", default=str(ROOT / "build"))
    parser.add_argument("--record", action="store_true", help="append to docs/performance.md")
    args = parser.parse_args()

    torch.manual_seed(0)
    module = EncoderLayer(vocab=1000, tokens=args.tokens, hidden=args.hidden,
                          heads=args.heads, ffn=args.ffn).eval()
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 1000, (args.batch, args.tokens)).astype(np.int64)
    mask = np.ones((args.batch, args.tokens), dtype=bool)
    mask[:, args.tokens * 3 // 4:] = False

    with tempfile.TemporaryDirectory() as tmp:
        runner = GraphRunner(pathlib.Path(args.build) / "bin", tmp)
        graph, weights = encoder_layer_graph(module, args.batch)
        start = time.perf_counter()
        exe = runner.compile(graph, weights)
        compile_s = time.perf_counter() - start
        out = runner.run(exe, {"ids": ids, "mask": mask})["out"]
        np.save(pathlib.Path(tmp) / "ids.npy", ids)
        np.save(pathlib.Path(tmp) / "mask.npy", mask)
        result = subprocess.run(
            [runner.tools / "ube-run", exe, f"--input=ids={tmp}/ids.npy",
             f"--input=mask={tmp}/mask.npy", f"--benchmark={args.runs}"],
            capture_output=True, text=True, check=True)
        ube_ms = float(re.search(r"median ([0-9.]+) ms", result.stdout).group(1))

    t_ids, t_mask = torch.from_numpy(ids), torch.from_numpy(mask)
    with torch.no_grad():
        error = rel_error(out, module.double()(t_ids, t_mask))
    module.float()
    torch1 = torch_median(module, t_ids, t_mask, args.runs, 1)
    torch2 = torch_median(module, t_ids, t_mask, args.runs, 2)
    shape = (f"B={args.batch} N={args.tokens} D={args.hidden} H={args.heads} "
              f"F={args.ffn}")
    rows = [("ube", ube_ms), ("PyTorch eager, 1 thread", torch1),
            ("PyTorch eager, 2 threads", torch2)]
    print(f"encoder layer {shape}; max rel. error vs float64: {error:.2e}; "
          f"compile {compile_s:.2f} s")
    print(f"{'':28}{'median ms':>12}{'ube / this':>12}")
    for name, ms in rows:
        print(f"{name:28}{ms:12.2f}{ube_ms / ms:12.2f}")
    if args.record:
        line = (f"| {datetime.date.today()} | encoder layer {shape} | {ube_ms:.2f} | "
                f"{torch1:.2f} | {torch2:.2f} | {ube_ms / torch1:.2f}x | {error:.1e} | "
                f"{compile_s:.1f} s |\n")
        record_rows(ROOT / "docs" / "performance.md",
                    "<!-- rows: bench/bench_encoder_layer.py --record -->", [line])


if __name__ == "__main__":
    main()
