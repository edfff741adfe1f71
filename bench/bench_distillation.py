#!/usr/bin/python3
"""Forward + backward of the distillation losses: ube's compiled kernels on
the CPU against the PyTorch formulation (eager, same thread count), in the
same run: time (median of --runs) and extra peak memory.

    bench/bench_distillation.py [--threads 2] [--runs 5] [--record]

kd_loss: 2048 rows x 30522 vocabulary, T = 2; PyTorch is
F.kl_div(F.log_softmax(s/T), F.softmax(t/T), reduction="batchmean") * T**2,
then backward(); ube is one executable returning the loss and
d loss / d student (kd_loss + kd_loss_grad), both with fused kernels and with
--fused-kernels=false (the generic composition).

Extra peak memory is what a run adds to the resident set beyond its inputs
and the gradient it returns: each is measured in a fresh process (VmHWM after
one run, minus VmRSS before it, minus the gradient's size), so allocator
caches of one case do not hide another's. With --record, rows are added to
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
import time

import numpy as np
import torch
import torch.nn.functional as F

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "build" / "python"))
sys.path.insert(0, str(ROOT / "test" / "python"))
import ube  # noqa: E402
from ubetest import rel_error  # noqa: E402

ROWS, VOCAB, TEMPERATURE = 2048, 30522, 2.0


def kd_inputs():
    rng = np.random.default_rng(0)
    s = (rng.standard_normal((ROWS, VOCAB)) * 3).astype(np.float32)
    t = (rng.standard_normal((ROWS, VOCAB)) * 3).astype(np.float32)
    return s, t


def kd_graph():
    inputs = [{"name": "s", "dtype": "f32", "shape": [ROWS, VOCAB]},
              {"name": "t", "dtype": "f32", "shape": [ROWS, VOCAB]},
              {"name": "g", "dtype": "f32", "shape": []}]
    attrs = {"temperature": TEMPERATURE}
    return {"format": "ube.graph", "version": 1, "inputs": inputs,
            "nodes": [{"name": "loss", "op": "kd_loss", "inputs": ["s", "t"], "attrs": attrs},
                      {"name": "ds", "op": "kd_loss_grad", "inputs": ["s", "t", "g"],
                       "attrs": attrs}],
            "outputs": ["loss", "ds"]}


def kd_torch_step(s, t):
    """The PyTorch formulation: loss, then backward; returns (loss, grad)."""
    sv = torch.from_numpy(s).requires_grad_()  # float32, or float64 for the reference
    tv = torch.from_numpy(t)
    loss = F.kl_div(F.log_softmax(sv / TEMPERATURE, -1), F.softmax(tv / TEMPERATURE, -1),
                    reduction="batchmean") * TEMPERATURE ** 2
    loss.backward()
    return loss.detach(), sv.grad


def compile_kd(fused):
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "kd.json"
        path.write_text(json.dumps(kd_graph()))
        return ube.compile(path, fused_kernels=fused)


def runner(impl):
    """A zero-argument callable running one forward + backward of `impl`."""
    s, t = kd_inputs()
    if impl == "torch":
        return lambda: kd_torch_step(s, t)
    exe = compile_kd(fused=impl == "ube")
    one = np.array(1.0, np.float32)
    return lambda: exe(s, t, one)


def median_ms(fn, runs):
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return float(np.median(times))


def status_kib(field):
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure_memory(impl, threads):
    """Run in a fresh process: prints the extra peak bytes of one run."""
    torch.set_num_threads(threads)
    fn = runner(impl)
    baseline = status_kib("VmRSS")
    pathlib.Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM
    fn()
    extra = (status_kib("VmHWM") - baseline) * 1024 - ROWS * VOCAB * 4
    print(json.dumps({"extra_bytes": max(extra, 0)}))


def extra_peak(impl, threads):
    out = subprocess.run([sys.executable, __file__, "--measure-memory", impl,
                          "--threads", str(threads)],
                         capture_output=True, text=True, check=True,
                         env=dict(os.environ, OMP_NUM_THREADS=str(threads)))
    return json.loads(out.stdout.strip().splitlines()[-1])["extra_bytes"]


def mib(n):
    return f"{n / 2**20:.1f} MiB"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--measure-memory", choices=["torch", "ube", "ube-unfused"])
    args = parser.parse_args()
    if args.measure_memory:
        return measure_memory(args.measure_memory, args.threads)

    torch.set_num_threads(args.threads)
    s, t = kd_inputs()
    ref_loss, ref_grad = kd_torch_step(s.astype(np.float64), t.astype(np.float64))
    del s, t
    results = {}
    for impl in ("torch", "ube", "ube-unfused"):
        fn = runner(impl)
        loss, grad = fn()
        results[impl] = {"ms": median_ms(fn, args.runs), "extra": extra_peak(impl, args.threads),
                         "loss_err": rel_error(np.asarray(loss), ref_loss.numpy()),
                         "grad_err": rel_error(np.asarray(grad), ref_grad.numpy())}
    torch_ms = results["torch"]["ms"]
    print(f"kd_loss forward+backward, {ROWS} x {VOCAB} f32, T={TEMPERATURE}, "
          f"{args.threads} threads (PyTorch), median of {args.runs}")
    print(f"{'impl':<12} {'time':>10} {'vs torch':>9} {'extra peak':>12} "
          f"{'loss err':>9} {'grad err':>9}")
    for impl, r in results.items():
        print(f"{impl:<12} {r['ms']:>8.1f}ms {torch_ms / r['ms']:>8.2f}x {mib(r['extra']):>12} "
              f"{r['loss_err']:>9.1e} {r['grad_err']:>9.1e}")
    if args.record:
        date = datetime.date.today().isoformat()
        cpu = next((line.split(":", 1)[1].strip() for line in
                    pathlib.Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), "cpu")
        row = (f"| {date} | kd_loss fwd+bwd {ROWS}x{VOCAB} | {cpu} | {args.threads} | "
               f"{results['ube']['ms']:.0f} ms ({mib(results['ube']['extra'])}) | "
               f"{results['ube-unfused']['ms']:.0f} ms ({mib(results['ube-unfused']['extra'])}) | "
               f"{torch_ms:.0f} ms ({mib(results['torch']['extra'])}) | "
               f"{torch_ms / results['ube']['ms']:.2f}x | "
               f"{max(results['ube']['loss_err'], results['ube']['grad_err']):.1e} |")
        from bench_encoder_layer import record_row
        record_row(ROOT / "docs" / "performance.md", "<!-- distillation-rows -->", row)


if __name__ == "__main__":
    main()
