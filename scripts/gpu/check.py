#!/usr/bin/env python3
"""The GPU half of the GPU check (run by scripts/gpu-check.sh on a machine
with an NVIDIA GPU, the driver, PyTorch and numpy; no LLVM needed).

Runs every prepared case with ube-run on the GPU and compares with the CPU
reference outputs; runs each benchmark, compares its output with PyTorch on
the GPU (TF32 off) and times both (ube-run's median over N invocations,
PyTorch's median over N calls timed with CUDA events). Prints a table last;
exits non-zero if any check fails."""
import math
import pathlib
import re
import subprocess
import sys

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
UBE_RUN = HERE / "ube-run"
TOLERANCE = 1e-4  # float32 on two devices: different FMA contraction and order


def rel_error(out, ref):
    out, ref = np.asarray(out, np.float64), np.asarray(ref, np.float64)
    scale = np.max(np.abs(ref)) if ref.size else 0.0
    diff = np.max(np.abs(out - ref)) if ref.size else 0.0
    return diff / scale if scale > 0 else diff


def ube_run(model, inputs, out_dir, benchmark=0):
    args = [str(UBE_RUN), str(model), f"--output-dir={out_dir}"]
    args += [f"--input={name}={path}" for name, path in inputs.items()]
    if benchmark:
        args.append(f"--benchmark={benchmark}")
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(result.stderr.strip())
    match = re.search(r"median ([0-9.]+) ms", result.stdout)
    return float(match.group(1)) if match else None


def check_cases(rows):
    ok = True
    for case in sorted((HERE / "cases").iterdir()):
        inputs = {p.stem: p for p in sorted((case / "inputs").glob("*.npy"))}
        out_dir = HERE / "out" / case.name
        try:
            ube_run(case / "model.ube", inputs, out_dir)
            errors = {ref.stem: rel_error(np.load(out_dir / ref.name), np.load(ref))
                      for ref in sorted((case / "reference").glob("*.npy"))}
            worst = max(errors.values())
            passed = worst <= TOLERANCE
            detail = ", ".join(f"{k} {v:.1e}" for k, v in errors.items())
        except Exception as e:  # report and go on
            worst, passed, detail = float("nan"), False, str(e)[:200]
        ok &= passed
        rows.append((f"numerics {case.name}", "", "", "", f"{worst:.1e}",
                     "ok" if passed else "FAIL"))
        print(f"{case.name}: {'ok' if passed else 'FAIL'} ({detail})", flush=True)
    return ok


def torch_peers():
    import torch
    import torch.nn.functional as F

    def attention(qs, ks, qt, kt):
        ls = F.log_softmax(qs @ ks.transpose(-1, -2) / math.sqrt(qs.shape[-1]), -1)
        lt = F.log_softmax(qt @ kt.transpose(-1, -2) / math.sqrt(qt.shape[-1]), -1)
        return F.kl_div(ls, lt, reduction="none", log_target=True).sum(-1).mean()

    return {
        "matmul_4096": lambda a, b: a @ b,
        "softmax_8192x4096": lambda x: torch.softmax(x, -1),
        "layer_norm_8192x4096": lambda x: F.layer_norm(x, x.shape[-1:]),
        "kd_loss_2048x30522": lambda s, t: F.kl_div(F.log_softmax(s / 2, -1),
                                                    F.softmax(t / 2, -1),
                                                    reduction="batchmean") * 4,
        "attention_transfer_8x12x512x64": attention,
    }


def run_benchmarks(rows, runs):
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    peers = torch_peers()
    ok = True
    for bench in sorted((HERE / "bench").iterdir()):
        import json
        graph = json.loads((bench / "graph.json").read_text())
        rng = np.random.default_rng(7)
        inputs, tensors = {}, []
        for decl in graph["inputs"]:
            array = rng.standard_normal(decl["shape"], dtype=np.float32)
            path = bench / f"{decl['name']}.npy"
            np.save(path, array)
            inputs[decl["name"]] = path
            tensors.append(torch.from_numpy(array).cuda())
        out_dir = HERE / "out" / bench.name
        try:
            ube_ms = ube_run(bench / "model.ube", inputs, out_dir, benchmark=runs)
            out = np.load(out_dir / "out.npy")
        except Exception as e:
            rows.append((bench.name, "", "", "", "", "FAIL: " + str(e)[:120]))
            ok = False
            continue
        peer = peers[bench.name]
        with torch.no_grad():
            ref = peer(*tensors)
            torch.cuda.synchronize()
            times = []
            for _ in range(runs):
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                peer(*tensors)
                end.record()
                torch.cuda.synchronize()
                times.append(start.elapsed_time(end))
        torch_ms = float(np.median(times))
        error = rel_error(out, ref.double().cpu().numpy())
        passed = error <= TOLERANCE
        ok &= passed
        rows.append((bench.name, f"{ube_ms:.3f}", f"{torch_ms:.3f}", f"{ube_ms / torch_ms:.2f}",
                     f"{error:.1e}", "ok" if passed else "FAIL"))
        print(f"{bench.name}: ube {ube_ms:.3f} ms, torch {torch_ms:.3f} ms, error {error:.1e}",
              flush=True)
        for path in inputs.values():
            path.unlink()
    return ok


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    rows = []
    ok = check_cases(rows)
    try:
        import torch
        name = torch.cuda.get_device_name(0)
    except Exception as e:
        name = f"(PyTorch unavailable: {e})"
        torch = None
    if torch is not None:
        ok &= run_benchmarks(rows, runs)
    print(f"\nGPU check on {name}")
    print(f"{'check':34}{'ube ms':>10}{'torch ms':>10}{'ratio':>8}{'rel.err':>10}  status")
    for row in rows:
        print(f"{row[0]:34}{row[1]:>10}{row[2]:>10}{row[3]:>8}{row[4]:>10}  {row[5]}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
