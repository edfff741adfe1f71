#!/usr/bin/python3
"""Encoder forward latency and memory: TinyBERT-4L-312H and BERT-base
(12L-768H) compiled by ube for the CPU against PyTorch eager (torch.no_grad,
same weights, same thread count), 128 tokens, batch 1 and 8.

    bench/bench_encoder.py [--threads 2] [--runs 5] [--models tinybert,bert-base]
                           [--batches 1,8] [--record]

The model is models.Bert (classes=None: every token's hidden state) with
BERT's 30522-entry vocabulary, exported with ube.export and compiled with
`ube-compile --print-memory-plan` (timed: the compile time column). Each
(model, batch, implementation) runs in a fresh process with
OPENBLAS_NUM_THREADS, OMP_NUM_THREADS and UBE_NUM_THREADS set to --threads:
the median of --runs forwards, then the extra peak memory of one forward
(VmHWM after it minus VmRSS before it; weights and the loaded executable are
already resident, so this is the activations and scratch). For ube the
planned arena is reported next to the sum of the buffers planned into it.
With --record, rows are appended to docs/performance.md.
"""
import argparse
import datetime
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODELS = {  # layers, hidden, heads, ffn
    "tinybert": ("TinyBERT-4L-312H", 4, 312, 12, 1200),
    "bert-base": ("BERT-base 12L-768H", 12, 768, 12, 3072),
}
VOCAB, TOKENS = 30522, 128


def status_kib(field):
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def child(model_name, batch, impl, threads, runs):
    import numpy as np
    import torch
    sys.path.insert(0, str(ROOT / "build" / "python"))
    sys.path.insert(0, str(ROOT / "test" / "python"))
    import ube
    from models import Bert
    from ubetest import rel_error
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    _, layers, hidden, heads, ffn = MODELS[model_name]
    model = Bert(vocab=VOCAB, tokens=TOKENS, hidden=hidden, heads=heads, layers=layers,
                 classes=None, ffn=ffn).eval()
    ids = torch.randint(0, VOCAB, (batch, TOKENS))
    mask = torch.ones(batch, TOKENS, dtype=torch.bool)
    mask[:, TOKENS * 3 // 4:] = False
    result = {}
    if impl == "ube":
        with tempfile.TemporaryDirectory() as tmp:
            graph = pathlib.Path(tmp) / "encoder.json"
            ube.export(model, (ids, mask), graph)
            start = time.perf_counter()
            plan = subprocess.run([ROOT / "build" / "bin" / "ube-compile", graph, "-o",
                                   pathlib.Path(tmp) / "encoder.ube", "--print-memory-plan"],
                                  check=True, capture_output=True, text=True).stdout
            result["compile_s"] = time.perf_counter() - start
            match = re.search(r"arena (\d+) bytes .* buffers of (\d+) bytes", plan)
            result["arena_mib"] = int(match.group(1)) / 2**20
            result["planned_mib"] = int(match.group(2)) / 2**20
            exe = ube.load(pathlib.Path(tmp) / "encoder.ube")
        assert exe.threads == threads
        ids_np, mask_np = ids.numpy(), mask.numpy()
        run = lambda: exe(ids_np, mask_np)  # noqa: E731
        with torch.no_grad():
            result["error"] = rel_error(run(), model.double()(ids, mask))
        model.float()
    else:
        def run():
            with torch.no_grad():
                return model(ids, mask)
    run()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    result["ms"] = float(np.median(times))
    pathlib.Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM
    before = status_kib("VmRSS")
    run()
    result["extra_peak_mib"] = (status_kib("VmHWM") - before) / 1024
    print(json.dumps(result))


def record_rows(path, marker, rows):
    lines = path.read_text().split("\n")
    at = lines.index(marker) + 1
    while at < len(lines) and lines[at].startswith("|"):
        at += 1
    lines[at:at] = rows
    path.write_text("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--models", default="tinybert,bert-base")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        model, batch, impl = args.child
        return child(model, int(batch), impl, args.threads, args.runs)

    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(args.threads),
               OMP_NUM_THREADS=str(args.threads), UBE_NUM_THREADS=str(args.threads))
    rows, today = [], datetime.date.today()
    print(f"{'model':22}{'batch':>6}{'ube ms':>9}{'torch ms':>10}{'speed-up':>10}"
          f"{'ube MiB':>9}{'torch MiB':>10}{'arena / planned MiB':>21}{'compile s':>10}"
          f"{'rel. error':>11}")
    for model in args.models.split(","):
        for batch in [int(b) for b in args.batches.split(",")]:
            r = {}
            for impl in ("ube", "torch"):
                out = subprocess.run([sys.executable, __file__, "--child", model, str(batch),
                                      impl, "--threads", str(args.threads), "--runs",
                                      str(args.runs)], env=env, check=True, capture_output=True,
                                     text=True).stdout
                r[impl] = json.loads(out.strip().splitlines()[-1])
            u, t = r["ube"], r["torch"]
            label = MODELS[model][0]
            print(f"{label:22}{batch:>6}{u['ms']:9.1f}{t['ms']:10.1f}{t['ms'] / u['ms']:9.2f}x"
                  f"{u['extra_peak_mib']:9.1f}{t['extra_peak_mib']:10.1f}"
                  f"{u['arena_mib']:11.1f} / {u['planned_mib']:7.1f}{u['compile_s']:10.1f}"
                  f"{u['error']:11.1e}", flush=True)
            rows.append(f"| {today} | {label} | {batch} | {args.threads} | {u['ms']:.1f} | "
                        f"{t['ms']:.1f} | {t['ms'] / u['ms']:.2f}x | {u['extra_peak_mib']:.1f} | "
                        f"{t['extra_peak_mib']:.1f} | {u['arena_mib']:.1f} / "
                        f"{u['planned_mib']:.1f} | {u['compile_s']:.1f} s | {u['error']:.1e} |")
    if args.record:
        record_rows(ROOT / "docs" / "performance.md",
                    "<!-- rows: bench/bench_encoder.py --record -->", rows)


if __name__ == "__main__":
    main()
