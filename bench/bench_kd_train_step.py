#!/usr/bin/env python3
"""One knowledge-distillation training step, compiled by ube (ube.distill)
against the same step in PyTorch eager, same threads, same run.

    .venv/bin/python bench/bench_kd_train_step.py [--threads 2] [--steps 8] [--vocab 30522] [--record]

Teacher: models.Bert, 6 layers x 384 (6 heads), frozen; student: 2 layers x
192 (3 heads); batch 16, 128 tokens, BERT's 30522-token vocabulary (the
student's embedding gradient is a scatter-add over it), 2 classes.
A step: teacher forward, student forward and backward, kd_loss (T = 2;
PyTorch: F.kl_div(F.log_softmax(s/T), F.softmax(t/T), "batchmean")·T²), one
AdamW update. Each side runs in a fresh process with OPENBLAS_NUM_THREADS,
OMP_NUM_THREADS and UBE_NUM_THREADS set to --threads: the median step time
of --steps steps after two warm-up steps, and the peak resident memory while
those steps run (the peak counter is reset after the warm-up, so ube's
compiler and PyTorch's first-step allocations are not counted; what is
counted includes both models' weights, optimizer state and everything a step
needs). With --record, a row is appended to docs/performance.md.
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
from benchutil import record_rows, status_kib  # noqa: E402

BATCH, TOKENS, CLASSES, T = 16, 128, 2, 2.0


def models(vocab):
    import torch
    from models import Bert
    torch.manual_seed(0)
    teacher = Bert(vocab=vocab, tokens=TOKENS, hidden=384, heads=6, layers=6, classes=CLASSES)
    student = Bert(vocab=vocab, tokens=TOKENS, hidden=192, heads=3, layers=2, classes=CLASSES)
    return teacher.eval(), student.eval()


def batches(count, vocab):
    rng = np.random.default_rng(1)
    out = []
    for _ in range(count):
        ids = rng.integers(0, vocab, (BATCH, TOKENS)).astype(np.int64)
        mask = np.ones((BATCH, TOKENS), bool)
        out.append(((ids, mask), rng.integers(0, CLASSES, BATCH).astype(np.int64)))
    return out


def reset_peak():
    pathlib.Path("/proc/self/clear_refs").write_text("5")


def child_ube(steps, vocab):
    import ube
    teacher, student = models(vocab)
    data = batches(steps + 2, vocab)
    marks = {}

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
            "setup_s": total - sum(result.step_seconds)}


def child_torch(steps, vocab, inductor=False):
    """The same step in PyTorch eager, or with both models under torch.compile
    (inductor, default mode: the first two, untimed steps compile)."""
    import torch
    import torch.nn.functional as F
    teacher, student = models(vocab)
    if inductor:
        teacher, student = torch.compile(teacher), torch.compile(student)
    opt = torch.optim.AdamW(student.parameters(), lr=1e-4)
    data = batches(steps + 2, vocab)
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
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--child", choices=["ube", "torch", "inductor"])
    args = parser.parse_args()
    if args.child:
        import torch
        torch.set_num_threads(args.threads)
        # The students' dropout is the identity in the exported (eval) graph;
        # PyTorch's student trains in eval mode too, so both compute the same.
        if args.child == "ube":
            result = child_ube(args.steps, args.vocab)
        else:
            result = child_torch(args.steps, args.vocab, inductor=args.child == "inductor")
        print(json.dumps(result))
        return
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(args.threads),
               OMP_NUM_THREADS=str(args.threads), UBE_NUM_THREADS=str(args.threads))
    results = {}
    for side in ("ube", "torch", "inductor"):
        out = subprocess.run([sys.executable, __file__, "--child", side, "--threads",
                              str(args.threads), "--steps", str(args.steps),
                              "--vocab", str(args.vocab)],
                             capture_output=True, text=True, env=env, check=True)
        results[side] = json.loads(out.stdout.strip().splitlines()[-1])
    u, t, i = results["ube"], results["torch"], results["inductor"]
    print(f"KD training step, teacher 6x384, student 2x192, batch {BATCH}, {TOKENS} tokens, "
          f"vocabulary {args.vocab}, {args.threads} threads")
    print(f"ube:      {u['ms']:8.1f} ms/step, peak {u['peak_kib'] / 1024:7.1f} MiB "
          f"(export + compile {u['setup_s']:.0f} s)")
    print(f"PyTorch:  {t['ms']:8.1f} ms/step, peak {t['peak_kib'] / 1024:7.1f} MiB")
    print(f"inductor: {i['ms']:8.1f} ms/step, peak {i['peak_kib'] / 1024:7.1f} MiB")
    print(f"ube speedup {t['ms'] / u['ms']:.2f}x over eager, {i['ms'] / u['ms']:.2f}x over "
          f"inductor; memory ratio {u['peak_kib'] / t['peak_kib']:.2f}")
    if args.record:
        today = datetime.date.today().isoformat()
        cell = lambda r: f"{r['ms']:.1f} ({r['peak_kib'] / 1024:.0f} MiB)"  # noqa: E731
        record_rows(ROOT / "docs" / "performance.md",
                    "<!-- rows: bench/bench_kd_train_step.py --record -->", [
                        f"| {today} | KD step 6x384 -> 2x192, b{BATCH}, {TOKENS} tokens, "
                        f"vocab {args.vocab} | {args.threads} | {cell(u)} | {cell(t)} | "
                        f"{cell(i)} | {t['ms'] / u['ms']:.2f}x | {i['ms'] / u['ms']:.2f}x | "
                        f"{u['setup_s']:.0f} s |"])


if __name__ == "__main__":
    main()
