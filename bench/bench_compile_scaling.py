#!/usr/bin/env python3
"""Compile cost against model size: `ube-compile` wall time and peak
resident memory for a family of BERT-style encoders (models.Bert, 30522-word
vocabulary) and Llama-style decoders (transformers' LlamaForCausalLM from a
config, random weights, 32000-word vocabulary), weights compiled in as
constants of the executable, with the cost per million parameters: constant
columns mean cost linear in the model. With --run, each executable also
runs, against the same model in PyTorch in float64.

"Peak" is that of the whole compile: the largest of the summed resident
memory of ube-compile and every process it starts (sampled every 10 ms) and
each process's own high-water mark (getrusage). Each step (export, compile,
run, reference) is a process of its own, so none holds another's memory.

    .venv/bin/python bench/bench_compile_scaling.py
        [--models bert:4x768,bert:12x768,bert:24x768,bert:24x1024,
                  llama:4x1024,llama:20x2048]
        [--batch 1] [--repeat 3] [--run] [--plot docs/compile-scaling.png] [--record]

A model is KIND:LAYERSxHIDDEN; encoders have 4 x hidden feed-forward
units, decoders TinyLlama's proportions (2.75 x hidden, 8 query heads per
key/value head), both 64-wide heads, 128 tokens.

The default family runs from BERT 4 x 768 (52 M parameters) to a 1B
decoder. Smaller models (bert:1x256, 8.6 M) are dominated by the compiler's
fixed cost, about 1 s (start-up, and one layer's kernels through MLIR and
LLVM), and are measured only when named. Each model compiles --repeat
times: the median time and the largest peak are reported (one compile's
time varies by 15-40% on a shared 2-core VM). The last line is the spread
of the per-parameter columns, largest over smallest.
"""
import argparse
import datetime
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile

from benchutil import measure_compile, record_rows

ROOT = pathlib.Path(__file__).resolve().parents[1]
TOKENS = 128
TOLERANCE = 1e-4  # max |ube - ref| / max |ref|: the end-to-end model tests' bound


VOCAB = {"bert": 30522, "llama": 32000}


def make_inputs(kind, batch):
    """Token ids (and the encoders' attention mask), from their own seed."""
    import torch
    ids = torch.randint(0, VOCAB[kind], (batch, TOKENS),
                        generator=torch.Generator().manual_seed(1))
    return (ids, torch.ones(batch, TOKENS, dtype=torch.bool)) if kind == "bert" else (ids,)


def build(kind, layers, hidden):
    """The model: float32, eval, weights from seed 0."""
    import torch
    torch.manual_seed(0)
    if kind == "bert":
        sys.path.insert(0, str(ROOT / "test" / "python"))
        from models import Bert
        model = Bert(vocab=VOCAB[kind], tokens=TOKENS, hidden=hidden, heads=hidden // 64,
                     layers=layers, classes=None, ffn=4 * hidden)
    elif kind == "llama":
        import transformers
        heads = hidden // 64
        config = transformers.LlamaConfig(
            vocab_size=VOCAB[kind], hidden_size=hidden, intermediate_size=hidden * 11 // 4,
            num_hidden_layers=layers, num_attention_heads=heads,
            num_key_value_heads=max(1, heads // 8), max_position_embeddings=2048,
            use_cache=False, tie_word_embeddings=False)
        model = transformers.LlamaForCausalLM(config)
    else:
        raise SystemExit(f"unknown model kind '{kind}' (bert, llama)")
    return model.eval()


def first_output(out):
    if isinstance(out, (tuple, list)):
        return out[0]
    return out.to_tuple()[0] if hasattr(out, "to_tuple") else out


def step(args):
    """One step in this process: export, run or reference (--step)."""
    import numpy as np
    import torch
    sys.path.insert(0, str(ROOT / "build" / "python"))
    work = pathlib.Path(args.work)
    kind, shape = args.step_model.split(":")
    layers, hidden = (int(x) for x in shape.split("x"))
    inputs = make_inputs(kind, args.batch)
    if args.step == "run":
        import ube
        out = ube.load(work / "model.ube")(*[x.numpy() for x in inputs])
        np.save(work / "ube.npy", np.asarray(out[0] if isinstance(out, (tuple, list)) else out))
        return
    model = build(kind, layers, hidden)
    if args.step == "export":
        import ube
        ube.export(model, inputs, work / "model.json")
        print(json.dumps(sum(p.numel() for p in model.parameters())))
    else:
        with torch.no_grad():
            ref = first_output(model.double()(*inputs)).numpy()
        got = np.load(work / "ube.npy").astype(np.float64)
        print(json.dumps(float(np.abs(got - ref).max() / np.abs(ref).max())))


def run_step(args, name, model, work):
    out = subprocess.run([sys.executable, __file__, "--step", name, "--step-model", model,
                          "--work", str(work), "--batch", str(args.batch)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1]) if out.strip() else None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="bert:4x768,bert:12x768,bert:24x768,bert:24x1024,"
                                            "llama:4x1024,llama:20x2048")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="compiles per model")
    parser.add_argument("--run", action="store_true", help="run each executable against "
                                                           "PyTorch in float64")
    parser.add_argument("--plot")
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--step", choices=["export", "run", "reference"], help=argparse.SUPPRESS)
    parser.add_argument("--step-model", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        return step(args)

    rows, points = [], []
    print(f"{'model':>14}{'params M':>10}{'weights GB':>11}{'compile s':>10}{'peak GB':>9}"
          f"{'s / M':>8}{'MB / M':>8}{'rel. error':>11}", flush=True)
    for model in args.models.split(","):
        kind, shape = model.split(":")
        with tempfile.TemporaryDirectory() as tmp:
            work = pathlib.Path(tmp)
            params = run_step(args, "export", model, work)
            weights_gb = params * 4 / 1e9
            runs = [measure_compile(work / "model.json", work / "model.ube")
                    for _ in range(args.repeat)]
            seconds = statistics.median(seconds for seconds, _ in runs)
            peak = max(peak for _, peak in runs)
            (work / "model.safetensors").unlink()
            error = None
            if args.run:
                run_step(args, "run", model, work)
                error = run_step(args, "reference", model, work)
        mparams, peak_gb = params / 1e6, peak / 1e9
        points.append((kind, mparams, seconds, peak_gb))
        error_text = f"{error:.1e}" if error is not None else "-"
        print(f"{model:>14}{mparams:10.1f}{weights_gb:11.2f}{seconds:10.1f}{peak_gb:9.2f}"
              f"{seconds / mparams:8.3f}{peak_gb * 1e3 / mparams:8.1f}{error_text:>11}",
              flush=True)
        if error is not None and error > TOLERANCE:
            print(f"  {model}: error {error:.2e} above {TOLERANCE}", flush=True)
        rows.append(f"| {datetime.date.today()} | {kind} {shape}, batch {args.batch} | "
                    f"{mparams:.1f} | {weights_gb:.2f} | {seconds:.1f} | {peak_gb:.2f} | "
                    f"{peak_gb / weights_gb:.2f} | {seconds / mparams:.3f} | "
                    f"{peak_gb * 1e3 / mparams:.1f} | {error_text} |")
    time_per_m = [p[2] / p[1] for p in points]
    memory_per_m = [p[3] / p[1] for p in points]
    print(f"spread (largest / smallest): time per parameter "
          f"{max(time_per_m) / min(time_per_m):.2f}x, memory per parameter "
          f"{max(memory_per_m) / min(memory_per_m):.2f}x", flush=True)
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
        for kind, marker in (("bert", "o-"), ("llama", "s-")):
            mine = [p for p in points if p[0] == kind]
            if not mine:
                continue
            label = {"bert": "encoders", "llama": "Llama-style decoders"}[kind]
            left.plot([p[1] for p in mine], [p[2] for p in mine], marker, label=label)
            right.plot([p[1] for p in mine], [p[3] for p in mine], marker, label=label)
        left.set(xlabel="parameters (M)", ylabel="compile time (s)")
        right.set(xlabel="parameters (M)", ylabel="peak memory (GB)")
        left.legend()
        fig.suptitle(f"ube-compile, batch {args.batch} x {TOKENS} tokens, 2 cores")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=100)
    if args.record:
        record_rows(ROOT / "docs" / "performance.md",
                    "<!-- rows: bench/bench_compile_scaling.py --record -->", rows)


if __name__ == "__main__":
    main()
