#!/usr/bin/env python3
"""One knowledge-distillation training step, compiled by ube (ube.distill)
against the same step in PyTorch eager, same threads, same run.

    .venv/bin/python bench/bench_kd_train_step.py [--threads 2] [--steps 8] [--vocab 30522]
        [--teacher 6x384] [--student 2x192] [--batch 16] [--record]

Teacher: models.Bert, 6 layers x 384 by default (64-wide heads), frozen;
student: 2 layers x 192; batch 16, 128 tokens, BERT's 30522-token vocabulary
(the student's embedding gradient is a scatter-add over it), 2 classes.
A step: teacher forward, student forward and backward, kd_loss (T = 2;
PyTorch: F.kl_div(F.log_softmax(s/T), F.softmax(t/T), "batchmean")·T²), one
AdamW update. Each side runs in a fresh process with OPENBLAS_NUM_THREADS,
OMP_NUM_THREADS and UBE_NUM_THREADS set to --threads: the median step time
of --steps steps after two warm-up steps, and the peak resident memory while
those steps run (the peak counter is reset after the warm-up, so ube's
compiler and PyTorch's first-step allocations are not counted; what is
counted includes both models' weights, optimizer state and everything a step
needs). ube's training step is compiled by ube-compile in a process of its
own, whose time and peak memory (benchutil.measure_compile) are reported
as "compile". With --record, a row is appended to docs/performance.md.
"""
import argparse
import datetime
import json
import os
import pathlib
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "build" / "python"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "test" / "python"))
from benchutil import measure_compile, record_rows, reset_peak, status_kib  # noqa: E402

TOKENS, CLASSES, T = 128, 2, 2.0


def bert(shape, vocab):
    from models import Bert
    layers, hidden = (int(x) for x in shape.split("x"))
    return Bert(vocab=vocab, tokens=TOKENS, hidden=hidden, heads=hidden // 64, layers=layers,
                classes=CLASSES)


def models(args):
    import torch
    torch.manual_seed(0)
    return bert(args.teacher, args.vocab).eval(), bert(args.student, args.vocab).eval()


def batches(count, vocab, batch):
    rng = np.random.default_rng(1)
    out = []
    for _ in range(count):
        ids = rng.integers(0, vocab, (batch, TOKENS)).astype(np.int64)
        mask = np.ones((batch, TOKENS), bool)
        out.append(((ids, mask), rng.integers(0, CLASSES, batch).astype(np.int64)))
    return out


def child_ube(args):
    import ube
    steps, vocab = args.steps, args.vocab
    teacher, student = models(args)
    data = batches(steps + 2, vocab, args.batch)
    marks = {}
    compiles = []

    def measured_compile(path, target):
        exe = pathlib.Path(path).with_suffix(".ube")
        compiles.append(measure_compile(path, exe, f"--target={target}"))
        return ube.load(exe)
    # The module, not ube.distill (the function it exports).
    sys.modules["ube.distill"]._compile = measured_compile

    class Timed(list):
        """The batches; resets the peak counter when the first timed step
        asks for its batch."""
        def __iter__(self):
            for i, item in enumerate(list.__iter__(self)):
                if i == 2:
                    reset_peak()
                    marks["rss"] = status_kib("VmRSS")
                yield item
    started = time.perf_counter()
    result = ube.distill(teacher, student, Timed(data), ube.DistillConfig(
        steps=steps + 2, temperature=T, log_every=0,
        optimizer={"kind": "adamw", "lr": 1e-4}))
    total = time.perf_counter() - started
    timed = sorted(result.step_seconds[2:])
    return {"ms": timed[len(timed) // 2] * 1e3, "peak_kib": status_kib("VmHWM"),
            "setup_s": total - sum(result.step_seconds), "compile_s": compiles[0][0],
            "compile_gb": compiles[0][1] / 1e9}


def child_torch(args, inductor=False):
    """The same step in PyTorch eager, or with both models under torch.compile
    (inductor, default mode: the first two, untimed steps compile)."""
    import torch
    import torch.nn.functional as F
    steps, vocab = args.steps, args.vocab
    teacher, student = models(args)
    if inductor:
        teacher, student = torch.compile(teacher), torch.compile(student)
    opt = torch.optim.AdamW(student.parameters(), lr=1e-4)
    data = batches(steps + 2, vocab, args.batch)
    times = []
    for i, ((ids, mask), _) in enumerate(data):
        if i == 2:
            reset_peak()
        start = time.perf_counter()
        ids, mask = torch.from_numpy(ids), torch.from_numpy(mask)
        with torch.no_grad():
            t = teacher(ids, mask)
        s = student(ids, mask)
        loss = F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1),
                        reduction="batchmean") * T * T
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    timed = sorted(times[2:])
    return {"ms": timed[len(timed) // 2] * 1e3, "peak_kib": status_kib("VmHWM")}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--vocab", type=int, default=30522)
    parser.add_argument("--teacher", default="6x384", help="layers x hidden")
    parser.add_argument("--student", default="2x192", help="layers x hidden")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--child", choices=["ube", "torch", "inductor"])
    args = parser.parse_args()
    if args.child:
        import torch
        torch.set_num_threads(args.threads)
        # The students' dropout is the identity in the exported (eval) graph;
        # PyTorch's student trains in eval mode too, so both compute the same.
        if args.child == "ube":
            result = child_ube(args)
        else:
            result = child_torch(args, inductor=args.child == "inductor")
        print(json.dumps(result))
        return
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(args.threads),
               OMP_NUM_THREADS=str(args.threads), UBE_NUM_THREADS=str(args.threads))
    results = {}
    for side in ("ube", "torch", "inductor"):
        out = subprocess.run([sys.executable, __file__, "--child", side, "--threads",
                              str(args.threads), "--steps", str(args.steps),
                              "--vocab", str(args.vocab), "--teacher", args.teacher,
                              "--student", args.student, "--batch", str(args.batch)],
                             capture_output=True, text=True, env=env, check=True)
        results[side] = json.loads(out.stdout.strip().splitlines()[-1])
    u, t, i = results["ube"], results["torch"], results["inductor"]
    print(f"KD training step, teacher {args.teacher}, student {args.student}, batch "
          f"{args.batch}, {TOKENS} tokens, vocabulary {args.vocab}, {args.threads} threads")
    print(f"ube:      {u['ms']:8.1f} ms/step, peak {u['peak_kib'] / 1024:7.1f} MiB "
          f"(export + compile {u['setup_s']:.0f} s; compiling the step "
          f"{u['compile_s']:.1f} s, peak {u['compile_gb']:.2f} GB)")
    print(f"PyTorch:  {t['ms']:8.1f} ms/step, peak {t['peak_kib'] / 1024:7.1f} MiB")
    print(f"inductor: {i['ms']:8.1f} ms/step, peak {i['peak_kib'] / 1024:7.1f} MiB")
    print(f"ube speedup {t['ms'] / u['ms']:.2f}x over eager, {i['ms'] / u['ms']:.2f}x over "
          f"inductor; memory ratio {u['peak_kib'] / t['peak_kib']:.2f}")
    if args.record:
        today = datetime.date.today().isoformat()
        cell = lambda r: f"{r['ms']:.1f} ({r['peak_kib'] / 1024:.0f} MiB)"  # noqa: E731
        record_rows(ROOT / "docs" / "performance.md",
                    "<!-- rows: bench/bench_kd_train_step.py --record -->", [
                        f"| {today} | KD step {args.teacher} -> {args.student}, b{args.batch}, "
                        f"{TOKENS} tokens, vocab {args.vocab} | {args.threads} | {cell(u)} | "
                        f"{cell(t)} | {cell(i)} | {t['ms'] / u['ms']:.2f}x | "
                        f"{i['ms'] / u['ms']:.2f}x | {u['setup_s']:.0f} s (step "
                        f"{u['compile_s']:.0f} s, {u['compile_gb']:.2f} GB) |"])


if __name__ == "__main__":
    main()
