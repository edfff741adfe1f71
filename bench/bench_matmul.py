#!/usr/bin/env python3
"""f32 matmul throughput: ube's compiled kernels against numpy (OpenBLAS) and
PyTorch eager, at the same thread count, in the same run.

    .venv/bin/python bench/bench_matmul.py [--threads 1,2] [--runs 10] [--rounds 3]
                                           [--paired [--turns 10]] [--record]

Shapes: square 256..2048 and the matmuls of BERT-base and TinyBERT at batch 8
x 128 tokens (M = 1024 rows): QKV/output projections, FFN in and out.
Each thread count and library runs in a fresh process with
OPENBLAS_NUM_THREADS, OMP_NUM_THREADS and UBE_NUM_THREADS set to it, and
torch.set_num_threads (one library per process, so no library's idle,
spinning thread pool takes cores from another's).
Times are medians of --runs calls (more for short calls: at least a second
of them) on inputs already in memory, the best of --rounds turns in which
the libraries alternate; ube's include
packing the right-hand side on every call. "Peak" is the machine's measured
f32 FMA throughput at that thread count (bench_roofline.py), measured in the
same run. With --paired the three libraries run in one process instead, a
burst of calls of each in turn (--turns of them per shape, each after a
pause in which the last library's threads stop spinning): each library's
figure is its median over the turns, and the ratios are medians of the
per-turn ratios, which a machine whose speed swings moves little. With
--record, rows are appended to docs/performance.md.
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

from benchutil import (PAIRED_SETTLE_OPENBLAS_SECONDS, median_ms, paired_seconds, record_rows,
                       roofline)

LIBRARIES = ("ube", "numpy", "torch")
# --paired: each burst's length, calls of the shape at about this many
# seconds (at least 3 calls).
PAIRED_BURST_SECONDS = 0.1

ROOT = pathlib.Path(__file__).resolve().parents[1]

SHAPES = [  # (label, M, K, N)
    ("256³", 256, 256, 256),
    ("512³", 512, 512, 512),
    ("1024³", 1024, 1024, 1024),
    ("2048³", 2048, 2048, 2048),
    ("4096³", 4096, 4096, 4096),
    ("BERT-base QKV/out 1024x768x768", 1024, 768, 768),
    ("BERT-base FFN in 1024x768x3072", 1024, 768, 3072),
    ("BERT-base FFN out 1024x3072x768", 1024, 3072, 768),
    ("TinyBERT FFN in 1024x312x1200", 1024, 312, 1200),
]


def product(library, threads, a, b, tmp):
    """A call computing a @ b with `library` (ube: compiled in `tmp`)."""
    if library == "ube":
        sys.path.insert(0, str(ROOT / "build" / "python"))
        import ube
        (m, k), n = a.shape, b.shape[1]
        path = pathlib.Path(tmp) / f"mm{m}x{k}x{n}.mlir"
        path.write_text(
            f'func.func @main(%a: tensor<{m}x{k}xf32> {{ube.name = "a"}}, '
            f'%b: tensor<{k}x{n}xf32> {{ube.name = "b"}}) -> '
            f'(tensor<{m}x{n}xf32> {{ube.name = "c"}}) {{\n'
            f'  %c = ube.matmul %a, %b : tensor<{m}x{k}xf32>, tensor<{k}x{n}xf32>\n'
            f'  return %c : tensor<{m}x{n}xf32>\n}}\n')
        exe = ube.compile(path)
        assert exe.threads == threads
        return lambda: exe(a, b)
    if library == "numpy":
        return lambda: a @ b
    import torch
    torch.set_num_threads(threads)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    return lambda: torch.mm(ta, tb)


def relative_error(fn, a, b):
    """ube's error against numpy's float64 product, computed after the
    timings: numpy's float64 product runs on OpenBLAS threads that spin for
    a while after it returns, and took a core from ube's shorter timings
    (1024x768x768 measured 110 GFLOP/s with 2 threads that way, 190
    without)."""
    import numpy as np
    ref = a.astype(np.float64) @ b.astype(np.float64)
    return float(np.abs(fn() - ref).max() / np.abs(ref).max())


def operands(m, k, n):
    import numpy as np
    rng = np.random.default_rng(0)
    return (rng.standard_normal((m, k)).astype(np.float32),
            rng.standard_normal((k, n)).astype(np.float32))


def child(threads, library, runs):
    """Times every shape with one library at `threads`; prints JSON. One
    library per process: a thread pool that spins after its call (OpenBLAS's,
    PyTorch's OpenMP) would otherwise take the cores from the next library's."""
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, m, k, n in SHAPES:
            a, b = operands(m, k, n)
            fn = product(library, threads, a, b, tmp)
            row = {"label": label,
                   "gflops": 2.0 * m * k * n / median_ms(fn, runs, min_seconds=1.0) / 1e6}
            if library == "ube":
                row["error"] = relative_error(fn, a, b)
            results.append(row)
    print(json.dumps(results))


def child_paired(threads, turns):
    """Times every shape with the three libraries in this process, a burst
    of calls of each in turn; prints JSON: per library the median GFLOP/s
    over the turns, and the medians of ube's per-turn ratios to the others."""
    import numpy as np
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, m, k, n in SHAPES:
            a, b = operands(m, k, n)
            fns = {library: product(library, threads, a, b, tmp) for library in LIBRARIES}
            calls = {}
            for library, fn in fns.items():
                start = time.perf_counter()
                fn()
                calls[library] = max(3, int(PAIRED_BURST_SECONDS / (time.perf_counter() - start)))
            flop = 2.0 * m * k * n
            rates = {library: flop / np.array(seconds) / 1e9 for library, seconds in
                     paired_seconds(fns, turns, PAIRED_SETTLE_OPENBLAS_SECONDS, calls,
                                    warm_up=True).items()}
            row = {"label": label, "error": relative_error(fns["ube"], a, b)}
            for library in LIBRARIES:
                row[library] = float(np.median(rates[library]))
                row[f"ube/{library}"] = float(np.median(rates["ube"] / rates[library]))
            results.append(row)
    print(json.dumps(results))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3,
                        help="turns each library takes; the best of them is kept")
    parser.add_argument("--paired", action="store_true",
                        help="the libraries in one process, a burst of calls of each in turn")
    parser.add_argument("--turns", type=int, default=10, help="turns per shape with --paired")
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child[1] == "paired":
            return child_paired(int(args.child[0]), args.turns)
        return child(int(args.child[0]), args.child[1], args.runs)

    by_threads, peaks = {}, {}
    for threads in [int(t) for t in args.threads.split(",")]:
        peaks[threads] = roofline(threads)["fma_gflops"]
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
                   UBE_NUM_THREADS=str(threads))
        # The libraries take turns over the rounds and each keeps its best
        # median per shape: on a shared machine whose speed swings by a third
        # over tens of seconds, one pass per library compared its slow spell
        # with another's fast one.
        if args.paired:
            out = subprocess.run([sys.executable, __file__, "--child", str(threads), "paired",
                                  "--turns", str(args.turns)], env=env, check=True,
                                 capture_output=True, text=True).stdout
            by_threads[threads] = json.loads(out.strip().splitlines()[-1])
            continue
        per_library = {}
        for _ in range(args.rounds):
            for library in LIBRARIES:
                out = subprocess.run([sys.executable, __file__, "--child", str(threads), library,
                                      "--runs", str(args.runs)], env=env, check=True,
                                     capture_output=True, text=True).stdout
                measured = json.loads(out.strip().splitlines()[-1])
                best = per_library.setdefault(library, measured)
                for kept, row in zip(best, measured):
                    kept["gflops"] = max(kept["gflops"], row["gflops"])
        by_threads[threads] = [
            {"label": u["label"], "error": u["error"], "ube": u["gflops"],
             "numpy": n["gflops"], "torch": t["gflops"],
             "ube/numpy": u["gflops"] / n["gflops"], "ube/torch": u["gflops"] / t["gflops"]}
            for u, n, t in zip(per_library["ube"], per_library["numpy"], per_library["torch"])]

    header = (f"{'shape':34}{'threads':>8}{'ube':>9}{'numpy':>9}{'torch':>9}"
              f"{'ube/numpy':>11}{'ube/torch':>11}{'ube/peak':>10}{'rel. error':>12}")
    print("GFLOP/s (higher is better)" + (
        f"; --paired: medians over {args.turns} turns, ratios per turn" if args.paired else ""))
    print(header)
    rows = []
    today = datetime.date.today()
    for threads, results in by_threads.items():
        peak = peaks[threads]
        print(f"measured peak, {threads} thread(s): {peak:.1f} GFLOP/s")
        for r in results:
            print(f"{r['label']:34}{threads:>8}{r['ube']:9.1f}{r['numpy']:9.1f}{r['torch']:9.1f}"
                  f"{r['ube/numpy']:11.2f}{r['ube/torch']:11.2f}"
                  f"{r['ube'] / peak:10.0%}{r['error']:12.1e}")
            rows.append(f"| {today}{' (paired)' if args.paired else ''} | {r['label']} | "
                        f"{threads} | {r['ube']:.1f} | "
                        f"{r['numpy']:.1f} | {r['torch']:.1f} | {peak:.1f} | "
                        f"{r['ube/numpy']:.2f} | {r['ube/torch']:.2f} | "
                        f"{r['ube'] / peak:.0%} | {r['error']:.1e} |")
    if 1 in by_threads and 2 in by_threads:
        for one, two in zip(by_threads[1], by_threads[2]):
            print(f"{one['label']}: ube 2 threads / 1 thread = {two['ube'] / one['ube']:.2f}x")
    if args.record:
        record_rows(ROOT / "docs" / "performance.md",
                    "<!-- rows: bench/bench_matmul.py --record (with peak) -->", rows)


if __name__ == "__main__":
    main()
