#!/usr/bin/env python3
"""The GPU half of the GPU check (run by scripts/gpu-check.sh on a machine
with an NVIDIA GPU, the driver, PyTorch and numpy; no LLVM needed).

Runs every prepared case with ube-run on the GPU and compares with the CPU
reference outputs; runs each benchmark, compares its output with PyTorch on
the GPU (TF32 off) and times both (ube-run's median over N invocations,
PyTorch's median over N calls timed with CUDA events); runs each training
case (a distillation step of ube.distill) for its steps and compares every
step's losses with the CPU executable's, then times a step against the same
step in PyTorch eager and torch.compile where the case names that peer.
Prints a table last; exits non-zero if any check fails."""
import json
import math
import pathlib
import re
import subprocess
import sys
import time
import zlib

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
UBE_RUN = HERE / "ube-run"
TOLERANCE = 1e-4  # float32 on two devices: different FMA contraction and order
# Training cases: 20 steps of float32 rounding differences, amplified by the
# optimizer (AdamW's update divides by the root of small second moments).
TRAINING_TOLERANCE = 1e-3
PEER_DEVICE = "cuda"  # the PyTorch peers' device ("cpu" tries them without a GPU)


def synthetic_input(name, dtype, shape, spec):
    """The value of a training case's input `name`, the same on every
    machine (numpy's PCG64 streams are stable): token ids, an attention mask
    with rows of spec["min_tokens"] tokens or more, labels, optimizer state
    at zeros, the step counter and learning rate from `spec`, and weights
    drawn per name (layer-norm gains near 1, biases small)."""
    rng = np.random.default_rng(zlib.crc32(name.encode()) + spec["seed"])
    if name == spec["ids"]:
        ids = rng.integers(spec["first_id"], spec["vocab"], shape).astype(np.int64)
        return np.where(synthetic_mask(shape, spec), ids, 0)
    if name == spec["mask"]:
        return synthetic_mask(shape, spec)
    if name == "labels":
        return rng.integers(0, spec["classes"], shape).astype(np.int64)
    if name == "step":
        return np.array(1, np.int64)
    if name == "lr":
        return np.array(spec["lr"], np.float32)
    if name.endswith((".exp_avg", ".exp_avg_sq")):
        return np.zeros(shape, np.float32)
    x = rng.standard_normal(shape, dtype=np.float32)
    if name.endswith("LayerNorm.weight"):
        return 1 + 0.05 * x
    return x * (0.02 if len(shape) == 1 else 0.05)


def synthetic_mask(shape, spec):
    rng = np.random.default_rng(spec["seed"])
    lengths = rng.integers(spec["min_tokens"], shape[1] + 1, shape[0])
    return np.arange(shape[1])[None, :] < lengths[:, None]


def write_synthetic_inputs(case, folder):
    """Every input of training case `case` as folder/NAME.npy; {name: path}."""
    spec = json.loads((case / "spec.json").read_text())
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, dtype, shape in spec["inputs"]:
        paths[name] = folder / f"{name}.npy"
        np.save(paths[name], synthetic_input(name, dtype, shape, spec))
    return paths


def run_ube(model, inputs, *flags, benchmark=0):
    """ube-run on `model` with `inputs` ({name: .npy path}): (its output,
    the median ms of --benchmark runs or None)."""
    args = [str(UBE_RUN), str(model), *flags]
    args += [f"--input={name}={path}" for name, path in inputs.items()]
    if benchmark:
        args.append(f"--benchmark={benchmark}")
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(result.stderr.strip())
    match = re.search(r"median ([0-9.]+) ms", result.stdout)
    return result.stdout, float(match.group(1)) if match else None


def train(model, inputs, steps, benchmark=0):
    """ube-run --steps: ({step: {term: value}}, median ms of a step or None)."""
    stdout, ms = run_ube(model, inputs, f"--steps={steps}", benchmark=benchmark)
    losses = {}
    for line in stdout.splitlines():
        if line.startswith("step "):
            number, terms = line[5:].split(":", 1)
            words = terms.split()
            losses[int(number)] = {k: float(v) for k, v in zip(words[::2], words[1::2])}
    return losses, ms


def rel_error(out, ref):
    out, ref = np.asarray(out, np.float64), np.asarray(ref, np.float64)
    scale = np.max(np.abs(ref)) if ref.size else 0.0
    diff = np.max(np.abs(out - ref)) if ref.size else 0.0
    return diff / scale if scale > 0 else diff


def ube_run(model, inputs, out_dir, benchmark=0):
    return run_ube(model, inputs, f"--output-dir={out_dir}", benchmark=benchmark)[1]


def case_runs(case):
    """(name, folder holding inputs/ and reference/) of each run of a case:
    the case itself, or, for an executable with symbolic dimensions run at
    several shapes, each folder under runs/."""
    if (case / "runs").exists():
        return [(f"{case.name} {run.name}", run) for run in sorted((case / "runs").iterdir())]
    return [(case.name, case)]


def check_cases(rows):
    ok = True
    for case in sorted((HERE / "cases").iterdir()):
        for name, run in case_runs(case):
            inputs = {p.stem: p for p in sorted((run / "inputs").glob("*.npy"))}
            out_dir = HERE / "out" / name.replace(" ", "_")
            try:
                ube_run(case / "model.ube", inputs, out_dir)
                errors = {ref.stem: rel_error(np.load(out_dir / ref.name), np.load(ref))
                          for ref in sorted((run / "reference").glob("*.npy"))}
                worst = max(errors.values())
                passed = worst <= TOLERANCE
                detail = ", ".join(f"{k} {v:.1e}" for k, v in errors.items())
            except Exception as e:  # report and go on
                worst, passed, detail = float("nan"), False, str(e)[:200]
            ok &= passed
            rows.append((f"numerics {name}", "", "", "", f"{worst:.1e}",
                         "ok" if passed else "FAIL"))
            print(f"{name}: {'ok' if passed else 'FAIL'} ({detail})", flush=True)
    return ok


def check_training(rows, runs):
    """Each training case: its steps on the GPU against the CPU
    executable's losses, a step's time, and the PyTorch peer's."""
    ok = True
    for case in sorted((HERE / "training").iterdir()) if (HERE / "training").exists() else []:
        spec = json.loads((case / "spec.json").read_text())
        reference = {int(k): v for k, v in
                     json.loads((case / "reference_losses.json").read_text()).items()}
        try:
            inputs = write_synthetic_inputs(case, HERE / "out" / case.name)
            losses, _ = train(case / "model.ube", inputs, spec["steps"])
            worst = max(abs(losses[s][k] - v) / max(abs(v), 1e-6)
                        for s, terms in reference.items() for k, v in terms.items())
            passed = worst <= TRAINING_TOLERANCE
            last = max(reference)
            detail = (f"step {last}: " + ", ".join(f"{k} {losses[last][k]:.6g} (cpu {v:.6g})"
                                                     for k, v in reference[last].items()))
            _, ube_ms = train(case / "model.ube", inputs, 1, benchmark=runs)
        except Exception as e:  # report and go on
            worst, passed, detail, ube_ms = float("nan"), False, str(e)[:300], None
        ok &= passed
        peer = {}
        if passed and spec.get("peer"):
            try:
                peer = torch_training_peer(case, spec, inputs, runs)
            except Exception as e:
                print(f"{case.name}: PyTorch peer failed: {e}", flush=True)
        ube_text = f"{ube_ms:.3f}" if ube_ms else ""
        rows.append((f"train {case.name} ({spec['steps']} steps)", ube_text,
                     f"{peer['eager']:.3f}" if peer else "",
                     f"{ube_ms / peer['eager']:.2f}" if peer and ube_ms else "",
                     f"{worst:.1e}", "ok" if passed else "FAIL"))
        if peer:
            rows.append((f"  vs torch.compile", ube_text, f"{peer['compiled']:.3f}",
                         f"{ube_ms / peer['compiled']:.2f}" if ube_ms else "", "", ""))
        print(f"{case.name}: {'ok' if passed else 'FAIL'} ({detail})", flush=True)
        if peer:
            print(f"{case.name}: PyTorch's first loss {peer['loss']:.6g} (ube "
                  f"{losses[1]['loss']:.6g}), eager {peer['eager']:.3f} ms, torch.compile "
                  f"{peer['compiled']:.3f} ms", flush=True)
    return ok


def torch_training_peer(case, spec, inputs, runs):
    """The case's step as a PyTorch user writes it (bench/bench_minilm_distill.py):
    transformers models holding the same weights, F.kl_div, F.layer_norm,
    AdamW; eager and torch.compile, CUDA, TF32 off. Median ms of `runs`
    steps after warm-up, and the first step's loss."""
    import torch
    import torch.nn.functional as F
    import transformers
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    peer = spec["peer"]
    arrays = {name: np.load(path) for name, path in inputs.items()}

    def model(prefix):
        config = transformers.BertConfig(**peer[prefix + "_config"])
        m = transformers.BertForSequenceClassification(config)
        state = {k: torch.from_numpy(arrays[f"{prefix}.model.{k}"]) for k in m.state_dict()
                 if f"{prefix}.model.{k}" in arrays}
        missing = m.load_state_dict(state, strict=False).missing_keys
        if [k for k in missing if not k.endswith("position_ids")]:
            raise ValueError(f"{prefix}: no weights for {missing}")
        return m.to(PEER_DEVICE)

    T, hard = peer["temperature"], peer["hard_label_weight"]
    layer_map = {int(k): v for k, v in peer["layer_map"].items()}
    attention_map = {int(k): v for k, v in peer["attention_map"].items()}
    ids = torch.from_numpy(arrays[spec["ids"]]).to(PEER_DEVICE)
    mask = torch.from_numpy(arrays[spec["mask"]]).to(PEER_DEVICE)
    labels = torch.from_numpy(arrays["labels"]).to(PEER_DEVICE)

    def sync():
        if PEER_DEVICE == "cuda":
            torch.cuda.synchronize()

    def run(m, attention_layer):
        captured = {}
        layer = m.bert.encoder.layer[attention_layer].attention.self
        hooks = [getattr(layer, kind).register_forward_hook(
            lambda mod, args, out, kind=kind: captured.__setitem__(kind, out))
            for kind in ("query", "key")]
        out = m(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        for hook in hooks:
            hook.remove()
        heads = m.config.num_attention_heads
        qk = [captured[k].unflatten(-1, (heads, -1)).transpose(1, 2) for k in ("query", "key")]
        return out.logits, out.hidden_states, qk

    def feature(h_s, h_t):
        norm = F.layer_norm(h_s, h_s.shape[-1:]), F.layer_norm(h_t, h_t.shape[-1:])
        return (F.mse_loss(*norm) + ((h_t.mean(-1) - h_s.mean(-1)) ** 2).mean() +
                (h_t.var(-1, unbiased=False) - h_s.var(-1, unbiased=False)).abs().mean())

    def attention(s_qk, t_qk):
        keys = ~mask[:, None, None, :]
        log = [F.log_softmax((q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5)
                             .masked_fill(keys, -1e4), -1) for q, k in (s_qk, t_qk)]
        kl = F.kl_div(log[0], log[1], reduction="none", log_target=True).sum(-1)
        weights = mask[:, None, :].to(kl.dtype).expand_as(kl)
        return (kl * weights).sum() / weights.sum()

    timings = {}
    for mode in ("eager", "compiled"):
        teacher, student = model("teacher").eval(), model("student").train()
        for module in student.modules():  # as ube's step: no dropout
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        opt = torch.optim.AdamW(student.parameters(), lr=peer["lr"], weight_decay=0.01)
        (s_att, t_att), = attention_map.items()

        def step():
            with torch.no_grad():
                t_logits, t_hidden, t_qk = run(teacher, t_att)
            s_logits, s_hidden, s_qk = run(student, s_att)
            loss = F.kl_div(F.log_softmax(s_logits / T, -1), F.softmax(t_logits / T, -1),
                            reduction="batchmean") * T * T + hard * F.cross_entropy(s_logits,
                                                                                     labels)
            for s_i, t_i in layer_map.items():
                loss = loss + feature(s_hidden[s_i], t_hidden[t_i])
            loss = loss + attention(s_qk, t_qk)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        fn = torch.compile(step) if mode == "compiled" else step
        first = fn().item()
        timings.setdefault("loss", first)
        for _ in range(2):
            fn()
        sync()
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            fn()
            sync()
            times.append((time.perf_counter() - start) * 1e3)
        timings[mode] = float(np.median(times))
    return timings


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
    # The bandwidth the memory-bound kernels are held to: a device-to-device
    # copy of the softmax/layer_norm operand (the same bytes read and written).
    x = torch.empty(8192, 4096, device="cuda")
    y = torch.empty_like(x)
    times = []
    for _ in range(runs + 3):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        y.copy_(x)
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    copy_ms = float(np.median(times[3:]))
    rows.append(("copy_8192x4096 (bandwidth)", "", f"{copy_ms:.3f}", "", "",
                 f"{2 * x.numel() * 4 / copy_ms / 1e9:.0f} TB/s"))
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
    ok &= check_training(rows, runs)
    if torch is not None:
        ok &= run_benchmarks(rows, runs)
    print(f"\nGPU check on {name}")
    print(f"{'check':34}{'ube ms':>10}{'torch ms':>10}{'ratio':>8}{'rel.err':>10}  status")
    for row in rows:
        print(f"{row[0]:34}{row[1]:>10}{row[2]:>10}{row[3]:>8}{row[4]:>10}  {row[5]}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
