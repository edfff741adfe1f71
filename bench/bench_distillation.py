#!/usr/bin/env python3
"""Forward + backward of the distillation losses: ube's compiled code on the
CPU against the PyTorch formulation (eager, same thread count), in the same
run: time (median of --runs), extra peak memory and the worst relative error
against float64.

    .venv/bin/python bench/bench_distillation.py [--threads 2] [--runs 5] [--cases kd,attention,feature_map,projected_kd]
                                [--record]

Cases (each one executable returning the loss and its gradients):
  kd          kd_loss + kd_loss_grad, 2048 rows x 30522 vocabulary, T = 2; PyTorch is
              F.kl_div(F.log_softmax(s/T), F.softmax(t/T), "batchmean") * T**2, backward()
  attention   attention_transfer_loss + its gradient, batch 8, 12 heads, 512 tokens,
              head dim 64; PyTorch: scores, log_softmax/softmax, kl_div, backward()
  feature_map feature_map_loss + its gradient, 4096 tokens, 312 -> 768 projection;
              PyTorch: projection, layer_norm, mse_loss, backward()
  projected_kd projected_kd_loss + its gradient (hidden states and weight), 1024 rows,
              student 384 / teacher 768 wide, 30522 words; PyTorch: both heads
              (h @ W.T), then the kd_loss formulation, backward()
ube runs with its fused kernels (where the target has them) and with
--fused-kernels=false (the generic composition); "inductor" is the PyTorch
formulation under torch.compile (forward and backward compiled through
aot_autograd on a first, untimed call; its extra peak measured after it).

Extra peak memory is what one run adds to the resident set beyond its inputs
and the gradients it returns, each measured in a fresh process (VmHWM after
the run minus VmRSS before it minus the gradients' size), so one case's
allocator caches do not hide another's. With --record, rows are added to
docs/performance.md.
"""
import argparse
import datetime
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "build" / "python"))
sys.path.insert(0, str(ROOT / "test" / "python"))
import ube  # noqa: E402
from ubetest import rel_error  # noqa: E402
from benchutil import median_ms, record_rows, status_kib  # noqa: E402

TEMPERATURE = 2.0


def tensor_type(shape):
    return "tensor<" + "".join(f"{d}x" for d in shape) + "f32>"


def mlir_function(inputs, outputs, body):
    """A `main` taking f32 {name: shape} inputs and returning {name: shape}."""
    args = ", ".join(f'%{n}: {tensor_type(s)} {{ube.name = "{n}"}}' for n, s in inputs.items())
    results = ", ".join(f'{tensor_type(s)} {{ube.name = "{n}"}}' for n, s in outputs.items())
    return f"func.func @main({args}) -> ({results}) {{\n{body}\n}}\n"


class KdCase:
    name, label = "kd", "kd_loss fwd+bwd 2048x30522"
    rows, vocab = 2048, 30522

    def inputs(self):
        rng = np.random.default_rng(0)
        shape = (self.rows, self.vocab)
        return [(rng.standard_normal(shape) * 3).astype(np.float32) for _ in range(2)]

    def source(self):
        shape = [self.rows, self.vocab]
        t = tensor_type(shape)
        return mlir_function(
            {"s": shape, "t": shape, "g": []}, {"loss": [], "ds": shape},
            f"  %0 = ube.kd_loss %s, %t {{temperature = {TEMPERATURE}}} : {t}, {t}\n"
            f"  %1 = ube.kd_loss_grad %s, %t, %g {{temperature = {TEMPERATURE}}} : "
            f"{t}, {t}, tensor<f32>\n  return %0, %1 : tensor<f32>, {t}")

    def torch_step(self, s, t):
        sv = torch.from_numpy(s).requires_grad_()
        loss = F.kl_div(F.log_softmax(sv / TEMPERATURE, -1),
                        F.softmax(torch.from_numpy(t) / TEMPERATURE, -1),
                        reduction="batchmean") * TEMPERATURE ** 2
        loss.backward()
        return loss.detach(), sv.grad


class AttentionCase:
    name, label = "attention", "attention_transfer_loss fwd+bwd 8x12x512x64"
    shape = (8, 12, 512, 64)

    def inputs(self):
        rng = np.random.default_rng(1)
        return [rng.standard_normal(self.shape).astype(np.float32) for _ in range(4)]

    def source(self):
        shape = list(self.shape)
        t = tensor_type(shape)
        return mlir_function(
            {"qs": shape, "ks": shape, "qt": shape, "kt": shape, "g": []},
            {"loss": [], "dq": shape, "dk": shape},
            f"  %0 = ube.attention_transfer_loss %qs, %ks, %qt, %kt : {t}, {t}, {t}, {t}\n"
            f"  %1:2 = ube.attention_transfer_loss_grad %qs, %ks, %qt, %kt, %g : "
            f"{t}, {t}, {t}, {t}, tensor<f32>\n"
            f"  return %0, %1#0, %1#1 : tensor<f32>, {t}, {t}")

    def torch_step(self, qs, ks, qt, kt):
        qsv, ksv = (torch.from_numpy(a).requires_grad_() for a in (qs, ks))
        d_s, d_t = qs.shape[-1] ** 0.5, qt.shape[-1] ** 0.5
        log_as = F.log_softmax(qsv @ ksv.transpose(-1, -2) / d_s, -1)
        at = F.softmax(torch.from_numpy(qt) @ torch.from_numpy(kt).transpose(-1, -2) / d_t, -1)
        # Mean over batch, heads and query rows of KL(A_t || A_s).
        loss = F.kl_div(log_as.flatten(0, 2), at.flatten(0, 2), reduction="batchmean")
        loss.backward()
        return loss.detach(), qsv.grad, ksv.grad


class FeatureMapCase:
    name, label = "feature_map", "feature_map_loss fwd+bwd 4096 tokens 312->768"
    tokens, student, teacher = 4096, 312, 768

    def inputs(self):
        rng = np.random.default_rng(2)
        return [rng.standard_normal((self.tokens, self.student)).astype(np.float32),
                rng.standard_normal((self.tokens, self.teacher)).astype(np.float32),
                (rng.standard_normal((self.student, self.teacher)) * 0.05).astype(np.float32)]

    def source(self):
        hs, ht, w = [self.tokens, self.student], [self.tokens, self.teacher], \
            [self.student, self.teacher]
        types = f"{tensor_type(hs)}, {tensor_type(ht)}"
        return mlir_function(
            {"hs": hs, "ht": ht, "w": w, "g": []}, {"loss": [], "dhs": hs, "dw": w},
            f"  %0 = ube.feature_map_loss %hs, %ht projection %w : {types}, {tensor_type(w)}\n"
            f"  %1:2 = ube.feature_map_loss_grad %hs, %ht, %g projection %w : "
            f"{types}, tensor<f32>, {tensor_type(w)}\n"
            f"  return %0, %1#0, %1#1 : tensor<f32>, {tensor_type(hs)}, {tensor_type(w)}")

    def torch_step(self, hs, ht, w):
        hsv, wv = torch.from_numpy(hs).requires_grad_(), torch.from_numpy(w).requires_grad_()
        width = ht.shape[-1]
        loss = F.mse_loss(F.layer_norm(hsv @ wv, (width,)),
                          F.layer_norm(torch.from_numpy(ht), (width,)))
        loss.backward()
        return loss.detach(), hsv.grad, wv.grad


class ProjectedKdCase:
    name, label = "projected_kd", "projected_kd_loss fwd+bwd 1024 rows 384/768->30522"
    rows, student, teacher, vocab = 1024, 384, 768, 30522

    def inputs(self):
        rng = np.random.default_rng(3)
        return [rng.standard_normal((self.rows, self.student)).astype(np.float32),
                (rng.standard_normal((self.vocab, self.student)) * 0.05).astype(np.float32),
                rng.standard_normal((self.rows, self.teacher)).astype(np.float32),
                (rng.standard_normal((self.vocab, self.teacher)) * 0.05).astype(np.float32)]

    def source(self):
        hs, ws = [self.rows, self.student], [self.vocab, self.student]
        ht, wt = [self.rows, self.teacher], [self.vocab, self.teacher]
        types = ", ".join(tensor_type(s) for s in (hs, ws, ht, wt))
        return mlir_function(
            {"hs": hs, "ws": ws, "ht": ht, "wt": wt, "g": []},
            {"loss": [], "dhs": hs, "dws": ws},
            f"  %0 = ube.projected_kd_loss %hs, %ws, %ht, %wt {{temperature = {TEMPERATURE}}} : "
            f"{types}\n"
            f"  %1:2 = ube.projected_kd_loss_grad %hs, %ws, %ht, %wt, %g "
            f"{{temperature = {TEMPERATURE}}} : {types}, tensor<f32>\n"
            f"  return %0, %1#0, %1#1 : tensor<f32>, {tensor_type(hs)}, {tensor_type(ws)}")

    def torch_step(self, hs, ws, ht, wt):
        hsv, wsv = torch.from_numpy(hs).requires_grad_(), torch.from_numpy(ws).requires_grad_()
        with torch.no_grad():
            t = torch.from_numpy(ht) @ torch.from_numpy(wt).T
        loss = F.kl_div(F.log_softmax(hsv @ wsv.T / TEMPERATURE, -1),
                        F.softmax(t / TEMPERATURE, -1),
                        reduction="batchmean") * TEMPERATURE ** 2
        loss.backward()
        return loss.detach(), hsv.grad, wsv.grad


CASES = {c.name: c for c in (KdCase(), AttentionCase(), FeatureMapCase(), ProjectedKdCase())}
IMPLS = ("torch", "inductor", "ube", "ube-unfused")


def runner(case, impl):
    """A zero-argument callable running one forward + backward."""
    inputs = case.inputs()
    if impl == "torch":
        return lambda: case.torch_step(*inputs)
    if impl == "inductor":  # forward and backward compiled (aot_autograd), on first call
        step = torch.compile(case.torch_step)
        step(*inputs)
        return lambda: step(*inputs)
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / f"{case.name}.mlir"
        path.write_text(case.source())
        exe = ube.compile(path, fused_kernels=impl == "ube")
    one = np.array(1.0, np.float32)
    return lambda: exe(*inputs, one)


def measure_memory(case, impl, threads):
    """Run in a fresh process: prints the extra peak bytes of one run."""
    torch.set_num_threads(threads)
    fn = runner(case, impl)
    baseline = status_kib("VmRSS")
    pathlib.Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM
    outputs = fn()
    gradients = sum(np.asarray(g).nbytes for g in outputs[1:])
    extra = (status_kib("VmHWM") - baseline) * 1024 - gradients
    print(json.dumps({"extra_bytes": max(extra, 0)}))


def extra_peak(case, impl, threads):
    out = subprocess.run([sys.executable, __file__, "--measure-memory", case.name, impl,
                          "--threads", str(threads)],
                         capture_output=True, text=True, check=True,
                         env=dict(os.environ, OMP_NUM_THREADS=str(threads)))
    return json.loads(out.stdout.strip().splitlines()[-1])["extra_bytes"]


def worst_error(outputs, reference):
    return max(rel_error(np.asarray(o), r.numpy()) for o, r in zip(outputs, reference))


def mib(n):
    return f"{n / 2**20:.1f} MiB"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--measure-memory", nargs=2, metavar=("CASE", "IMPL"))
    args = parser.parse_args()
    if args.measure_memory:
        case, impl = args.measure_memory
        return measure_memory(CASES[case], impl, args.threads)

    torch.set_num_threads(args.threads)
    rows = []
    for name in args.cases.split(","):
        case = CASES[name]
        reference = case.torch_step(*(a.astype(np.float64) for a in case.inputs()))
        results = {}
        for impl in IMPLS:
            fn = runner(case, impl)
            results[impl] = {"ms": median_ms(fn, args.runs),
                             "extra": extra_peak(case, impl, args.threads),
                             "err": worst_error(fn(), reference)}
        torch_ms = results["torch"]["ms"]
        print(f"\n{case.label}, f32, {args.threads} threads (PyTorch), median of {args.runs}")
        print(f"{'impl':<12} {'time':>10} {'vs torch':>9} {'extra peak':>12} {'worst err':>10}")
        for impl, r in results.items():
            print(f"{impl:<12} {r['ms']:>8.1f}ms {torch_ms / r['ms']:>8.2f}x "
                  f"{mib(r['extra']):>12} {r['err']:>10.1e}")
        cell = lambda r: f"{r['ms']:.0f} ms ({mib(r['extra'])})"  # noqa: E731
        rows.append(f"| {datetime.date.today().isoformat()} | {case.label} | {args.threads} | "
                    f"{cell(results['ube'])} | {cell(results['ube-unfused'])} | "
                    f"{cell(results['torch'])} | {cell(results['inductor'])} | "
                    f"{torch_ms / results['ube']['ms']:.2f}x | "
                    f"{results['inductor']['ms'] / results['ube']['ms']:.2f}x | "
                    f"{results['ube']['err']:.1e} |")
    if args.record:
        record_rows(ROOT / "docs" / "performance.md",
                    "<!-- rows: bench/bench_distillation.py --record -->", rows)


if __name__ == "__main__":
    main()
