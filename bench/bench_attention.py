#!/usr/bin/env python3
"""scaled_dot_product_attention forward + backward on the CPU: ube's
compiled gradient graph against PyTorch 2 eager (its fused CPU attention
and autograd) and torch.compile (inductor), same threads, same run.

    .venv/bin/python bench/bench_attention.py [--batch 8] [--heads 12] [--tokens 512]
                                              [--dim 64] [--threads 2] [--runs 5] [--forward]
                                              [--dropout P] [--record]

Two cases: causal, and a boolean key-padding mask (each sequence padded
from a random length). Each engine computes loss = Σ sdpa(q, k, v) ⊙ r and
the gradients of q, k and v; with --forward, sdpa(q, k, v) alone (ube's
flash kernel `--ube-cpu-attention-kernels` against PyTorch's fused CPU
attention under no_grad, error against float64). With --dropout P, attention
dropout in training: each engine draws its own masks (PyTorch its generator,
ube Philox in its kernels), and ube's error is against float64 math with
ube's masks. Time: the median of --runs calls after a
warm-up. Extra memory: for PyTorch the peak resident memory during those
calls minus the resident memory before them (the inputs already there), in
the same process; for ube the arena its memory plan allocates once and
keeps (`ube-compile --print-memory-plan`), which holds every intermediate.
"""
import argparse
import datetime
import json
import pathlib
import re
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import torch
import torch.nn.functional as F

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from benchutil import median_ms_and_peak_rise, record_rows  # noqa: E402

MARKER = "<!-- bench_attention rows -->"
SEED = 1  # ube's dropout seed; the graph has no step, so step 0


def reference_attention(q, k, v, mask, causal, dropout):
    """float64 attention by its definition, with ube's dropout masks."""
    q, k, v = (t.double() for t in (q, k, v))
    scores = q @ k.transpose(-1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, -np.inf)
    if causal:
        scores = scores.masked_fill(~torch.ones(scores.shape[-2:], dtype=torch.bool).tril(),
                                    -np.inf)
    p = torch.softmax(scores, -1)
    if dropout:
        sys.path.insert(0, str(ROOT / "test" / "python"))
        from ubetest import philox_uniforms
        kept = torch.from_numpy(philox_uniforms(tuple(p.shape), 0, SEED) >= np.float32(dropout))
        p = p * kept / (1 - dropout)
    return p @ v


def graph(shape, masked, causal, forward, dropout):
    decl = [{"name": n, "dtype": "f32", "shape": list(shape)} for n in ("q", "k", "v", "r")]
    inputs = ["q", "k", "v"]
    if masked:
        decl.append({"name": "mask", "dtype": "i1", "shape": [shape[0], 1, 1, shape[2]]})
        inputs.append("mask")
    attrs = {"is_causal": True} if causal else {}
    if dropout:
        attrs.update(dropout_p=dropout, seed=SEED)
    if forward:
        return {"format": "ube.graph", "version": 1, "inputs": decl[:3] + decl[4:],
                "nodes": [{"name": "y", "op": "scaled_dot_product_attention", "inputs": inputs,
                           **({"attrs": attrs} if attrs else {})}],
                "outputs": ["y"]}
    return {"format": "ube.graph", "version": 1, "inputs": decl,
            "nodes": [{"name": "y", "op": "scaled_dot_product_attention", "inputs": inputs,
                       **({"attrs": attrs} if attrs else {})},
                      {"name": "yr", "op": "mul", "inputs": ["y", "r"]},
                      {"name": "loss", "op": "reduce_sum", "inputs": ["yr"]}],
            "outputs": ["loss"], "gradient": {"loss": "loss", "wrt": ["q", "k", "v"]}}


def forward_row(args, exe, case, causal, arena_mib, feeds):
    """The forward alone: ube against eager and inductor under no_grad."""
    tensors = [torch.from_numpy(a) for a in feeds]
    mask = tensors[3] if len(tensors) > 3 else None

    def eager(fn=F.scaled_dot_product_attention):
        with torch.no_grad():
            return fn(*tensors[:3], attn_mask=mask, is_causal=causal, dropout_p=args.dropout)

    out = exe(*feeds)
    reference = reference_attention(*tensors[:3], mask, causal, args.dropout).numpy()
    error = float(np.abs(out - reference).max() / np.abs(reference).max())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = torch.compile(F.scaled_dot_product_attention)
        eager(compiled)
    ube_ms, _ = median_ms_and_peak_rise(lambda: exe(*feeds), args.runs)
    eager_ms, eager_mib = median_ms_and_peak_rise(eager, args.runs)
    inductor_ms, inductor_mib = median_ms_and_peak_rise(lambda: eager(compiled), args.runs)
    print(f"{case}, forward: ube {ube_ms:.2f} ms (+{arena_mib:.0f} MiB), eager {eager_ms:.2f} ms"
          f" (+{eager_mib:.0f} MiB), inductor {inductor_ms:.2f} ms (+{inductor_mib:.0f} MiB); "
          f"ube/eager time {eager_ms / ube_ms:.2f}x; error vs float64 {error:.1e}")
    return (f"| {datetime.date.today()} | {case}, forward | {args.batch}×{args.heads}×"
            f"{args.tokens}×{args.dim} | {args.threads} | {ube_ms:.1f} ({arena_mib:.0f}) | "
            f"{eager_ms:.1f} ({eager_mib:.0f}) | {inductor_ms:.1f} ({inductor_mib:.0f}) | "
            f"{eager_ms / ube_ms:.2f}× | {inductor_ms / ube_ms:.2f}× |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--forward", action="store_true",
                        help="the forward alone, no gradients")
    parser.add_argument("--dropout", type=float, default=0.0,
                        help="attention dropout (training): each engine its own masks")
    parser.add_argument("--build", default=str(ROOT / "build"))
    parser.add_argument("--record", action="store_true", help="append to docs/performance.md")
    args = parser.parse_args()
    sys.path.insert(0, str(pathlib.Path(args.build) / "python"))
    import ube

    torch.set_num_threads(args.threads)
    shape = (args.batch, args.heads, args.tokens, args.dim)
    rng = np.random.default_rng(0)
    q, k, v, r = (rng.standard_normal(shape).astype(np.float32) for _ in range(4))
    lengths = rng.integers(args.tokens // 4, args.tokens + 1, args.batch)
    mask = np.arange(args.tokens)[None, :] < lengths[:, None]
    mask = mask[:, None, None, :]
    rows = []
    for case, masked, causal in [("causal", False, True), ("padded", True, False)]:
        if args.dropout:
            case += f", dropout {args.dropout:g}"
        with tempfile.TemporaryDirectory() as tmp:
            path = pathlib.Path(tmp) / "attention.json"
            path.write_text(json.dumps(graph(shape, masked, causal, args.forward, args.dropout)))
            plan = subprocess.run(
                [pathlib.Path(args.build) / "bin" / "ube-compile", path, "-o",
                 path.with_suffix(".ube"), "--print-memory-plan"],
                check=True, capture_output=True, text=True).stdout
            arena_mib = int(re.search(r"arena (\d+) bytes", plan).group(1)) / 2**20
            exe = ube.load(path.with_suffix(".ube"))
        exe.threads = args.threads
        if args.forward:
            rows.append(forward_row(args, exe, case, causal, arena_mib,
                                    [q, k, v] + ([mask] if masked else [])))
            continue
        feeds = [q, k, v, r] + ([mask] if masked else [])
        out = exe(*feeds)

        tq, tk, tv = (torch.from_numpy(a).requires_grad_() for a in (q, k, v))
        tr, tm = torch.from_numpy(r), torch.from_numpy(mask) if masked else None

        def eager(fn=F.scaled_dot_product_attention):
            for t in (tq, tk, tv):
                t.grad = None
            loss = (fn(tq, tk, tv, attn_mask=tm, is_causal=causal, dropout_p=args.dropout)
                    * tr).sum()
            loss.backward()
            return loss

        # The gradients' error against float64 autograd (with ube's masks).
        rq, rk, rv = (torch.from_numpy(a).double().requires_grad_() for a in (q, k, v))
        loss = (reference_attention(rq, rk, rv, tm, causal, args.dropout) * tr.double()).sum()
        loss.backward()
        error = max(float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))
                    for a, b in zip(out[1:], (t.grad.numpy() for t in (rq, rk, rv))))
        del rq, rk, rv
        eager()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compiled = torch.compile(F.scaled_dot_product_attention)
            eager(compiled)
        ube_ms, _ = median_ms_and_peak_rise(lambda: exe(*feeds), args.runs)
        ube_mib = arena_mib
        eager_ms, eager_mib = median_ms_and_peak_rise(eager, args.runs)
        inductor_ms, inductor_mib = median_ms_and_peak_rise(lambda: eager(compiled), args.runs)
        print(f"{case}: ube {ube_ms:.1f} ms (+{ube_mib:.0f} MiB), eager {eager_ms:.1f} ms "
              f"(+{eager_mib:.0f} MiB), inductor {inductor_ms:.1f} ms (+{inductor_mib:.0f} MiB); "
              f"ube/eager time {eager_ms / ube_ms:.2f}x; gradient error vs float64 {error:.1e}; "
              f"loss {float(out[0]):.4f} vs {loss.item():.4f}")
        rows.append(f"| {datetime.date.today()} | {case} | {args.batch}×{args.heads}×"
                    f"{args.tokens}×{args.dim} | {args.threads} | {ube_ms:.1f} ({ube_mib:.0f}) | "
                    f"{eager_ms:.1f} ({eager_mib:.0f}) | {inductor_ms:.1f} ({inductor_mib:.0f}) | "
                    f"{eager_ms / ube_ms:.2f}× | {inductor_ms / ube_ms:.2f}× |")
    if args.record:
        record_rows(ROOT / "docs" / "performance.md", MARKER, rows)


if __name__ == "__main__":
    main()
