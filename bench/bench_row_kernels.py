#!/usr/bin/env python3
"""Softmax, log_softmax, layer_norm and rms_norm rows: ube's row kernels
(--ube-cpu-row-kernels) against ube's generic linalg lowering
(fused_kernels=False) and PyTorch eager, same thread count, same process.

    .venv/bin/python bench/bench_row_kernels.py [--threads 2] [--runs 20] [--record]

Shapes are BERT-base's at batch 8, 128 tokens: attention probabilities
(8·12·128 rows of 128), layer norms (1024 rows of 768), a 4096-wide
log_softmax (a vocabulary-sized row) and Llama-style RMS norms (1024 rows
of 2048). Speed-up = PyTorch / ube kernels. The
error is the kernels' against float64 PyTorch (max abs error over max abs
reference). With --record, rows are appended to docs/performance.md.
"""
import argparse
import datetime
import os
import pathlib
import sys
import tempfile

import numpy as np

from benchutil import median_ms, record_rows

ROOT = pathlib.Path(__file__).resolve().parents[1]

CASES = [  # label, op, rows, length
    ("softmax 12288x128", "softmax", 12288, 128),
    ("log_softmax 2048x4096", "log_softmax", 2048, 4096),
    ("layer_norm 1024x768 (affine)", "layer_norm", 1024, 768),
    ("rms_norm 1024x2048 (weight)", "rms_norm", 1024, 2048),
]


def mlir(op, rows, length):
    t = f"tensor<{rows}x{length}xf32>"
    if op == "layer_norm":
        r = f"tensor<{length}xf32>"
        args = f'%x: {t} {{ube.name = "x"}}, %w: {r} {{ube.name = "w"}}, %b: {r} {{ube.name = "b"}}'
        body = f"%y = ube.layer_norm %x, %w, %b : {t}, {r}, {r}"
    elif op == "rms_norm":
        r = f"tensor<{length}xf32>"
        args = f'%x: {t} {{ube.name = "x"}}, %w: {r} {{ube.name = "w"}}'
        body = f"%y = ube.rms_norm %x, %w {{epsilon = 1.0e-6}} : {t}, {r}"
    else:
        args = f'%x: {t} {{ube.name = "x"}}'
        body = f"%y = ube.{op} %x : {t}"
    return f'func.func @main({args}) -> ({t} {{ube.name = "y"}}) {{\n{body}\nreturn %y : {t}\n}}\n'


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "UBE_NUM_THREADS"):
        os.environ[name] = str(args.threads)
    sys.path.insert(0, str(ROOT / "build" / "python"))
    import torch
    import torch.nn.functional as F
    import ube
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    rows, today = [], datetime.date.today()
    print(f"{'case':30}{'kernels ms':>11}{'linalg ms':>10}{'torch ms':>9}{'inductor':>9}"
          f"{'x eager':>9}{'x ind.':>8}{'rel. error':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, op, count, length in CASES:
            path = pathlib.Path(tmp) / f"{op}.mlir"
            path.write_text(mlir(op, count, length))
            inputs = [(rng.standard_normal((count, length)) * 3).astype(np.float32)]
            if op in ("layer_norm", "rms_norm"):
                inputs += [rng.standard_normal(length).astype(np.float32)
                           for _ in range(2 if op == "layer_norm" else 1)]
            tensors = [torch.from_numpy(a) for a in inputs]
            reference = {
                "softmax": lambda x: torch.softmax(x, -1),
                "log_softmax": lambda x: torch.log_softmax(x, -1),
                "layer_norm": lambda x, w, b: F.layer_norm(x, (length,), w, b),
                "rms_norm": lambda x, w: F.rms_norm(x, (length,), w, eps=1e-6),
            }[op]
            kernels, generic = ube.compile(path), ube.compile(path, fused_kernels=False)
            inductor = torch.compile(reference)
            inductor(*tensors)  # compiles (not timed)
            expected = reference(*[t.double() for t in tensors]).numpy()
            error = float(np.abs(kernels(*inputs) - expected).max() / np.abs(expected).max())
            ms = {"kernels": median_ms(lambda: kernels(*inputs), args.runs),
                  "linalg": median_ms(lambda: generic(*inputs), args.runs),
                  "torch": median_ms(lambda: reference(*tensors), args.runs),
                  "inductor": median_ms(lambda: inductor(*tensors), args.runs)}
            speedup = ms["torch"] / ms["kernels"]
            print(f"{label:30}{ms['kernels']:11.2f}{ms['linalg']:10.2f}{ms['torch']:9.2f}"
                  f"{ms['inductor']:9.2f}{speedup:8.2f}x"
                  f"{ms['inductor'] / ms['kernels']:8.2f}x{error:11.1e}")
            rows.append(f"| {today} | {label} | {args.threads} | {ms['kernels']:.2f} | "
                        f"{ms['linalg']:.2f} | {ms['torch']:.2f} | {ms['inductor']:.2f} | "
                        f"{speedup:.2f}x | {ms['inductor'] / ms['kernels']:.2f}x | {error:.1e} |")
    if args.record:
        record_rows(ROOT / "docs" / "performance.md",
                    "<!-- rows: bench/bench_row_kernels.py --record -->", rows)


if __name__ == "__main__":
    main()
