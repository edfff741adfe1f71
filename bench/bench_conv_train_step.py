#!/usr/bin/env python3
"""A convolutional network's training step on the CPU: forward, loss and
backward of transformers' ResNet-18 layout (`ResNetForImageClassification`,
basic blocks, batch norm in training mode; or, with --model mobilenetv2,
`MobileNetV2ForImageClassification`: depthwise convolutions, ReLU6) through torch.compile with
ube's backend, against PyTorch 2 eager and inductor on the same weights
and inputs, same threads, same run.

    .venv/bin/python bench/bench_conv_train_step.py [--model resnet18] [--batch 8] [--size 112]
                                                    [--threads 2] [--runs 5] [--record]
                                                    [--symbolic] [--paired]

Each engine runs loss.backward() on a fresh copy of the same model (the
optimizer step, the same for all, is left out). Time: the median of --runs
steps after two warm-up steps (compilation included in neither). Peak: the
rise of the process's peak resident memory during the timed steps. The
gradients of the first step are compared with eager's (relative error of
all gradients as one vector). onnxruntime has no training in the pinned
environment (onnxruntime-training is not installed), so no column.
--symbolic adds ube with the batch and both planes symbolic (one forward and
one backward executable for any image size), timed at the same shape: its
speed against the executables compiled for that shape (not recorded).
--paired times the engines a step each in turn, --runs turns, and reports
each ratio as the median of the turns' ratios: on a shared machine whose
speed swings over seconds, the ratios then compare steps taken moments apart.
"""
import argparse
import copy
import datetime
import pathlib
import sys
import warnings

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from benchutil import median_ms_and_peak_rise, paired_seconds, record_rows  # noqa: E402

MARKER = "<!-- bench_conv_train_step rows -->"


def resnet18(classes):
    from transformers import ResNetConfig, ResNetForImageClassification
    config = ResNetConfig(embedding_size=64, hidden_sizes=[64, 128, 256, 512],
                          depths=[2, 2, 2, 2], layer_type="basic", num_labels=classes)
    return ResNetForImageClassification(config).train()


def mobilenetv2(classes):
    from transformers import MobileNetV2Config, MobileNetV2ForImageClassification
    # No classifier dropout: the engines draw different masks, and the
    # gradients would not compare.
    config = MobileNetV2Config(num_labels=classes, classifier_dropout_prob=0.0)
    return MobileNetV2ForImageClassification(config).train()


MODELS = {"resnet18": ("ResNet-18", resnet18), "mobilenetv2": ("MobileNetV2", mobilenetv2)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="resnet18")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--build", default=str(ROOT / "build"))
    parser.add_argument("--record", action="store_true", help="append to docs/performance.md")
    parser.add_argument("--symbolic", action="store_true",
                        help="also ube on a symbolic batch and image size")
    parser.add_argument("--paired", action="store_true",
                        help="time the engines in turn and report the median per-turn ratios")
    args = parser.parse_args()
    sys.path.insert(0, str(pathlib.Path(args.build) / "python"))
    import ube.torch_backend  # noqa: F401 - registers backend="ube"

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    title, build = MODELS[args.model]
    base = build(10)
    images = torch.randn(args.batch, 3, args.size, args.size)
    labels = torch.randint(0, 10, (args.batch,))

    def stepper(model, pixels):
        def step():
            model.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(pixels).logits, labels)
            loss.backward()
            return loss
        return step

    from ube.torch_backend import compiled_graphs, reset_report
    results, grads, steps, eager_ops = {}, {}, {}, {}
    engines = ["eager", "inductor", "ube"] + (["ube any size"] if args.symbolic else [])
    for engine in engines:
        model = copy.deepcopy(base)
        pixels = images
        if engine == "ube any size":
            pixels = images.clone()
            for d in (0, 2, 3):
                torch._dynamo.mark_dynamic(pixels, d)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run = model if engine == "eager" else torch.compile(
                model, backend="inductor" if engine == "inductor" else "ube",
                dynamic=None if engine == "ube any size" else False)
            step = stepper(run, pixels)
            reset_report()
            step()
            # What PyTorch ran of ube's graphs (a step ube does not wholly
            # compile is mostly eager's speed).
            eager_ops[engine] = sorted({op for r in compiled_graphs() for op in r["eager"]})
            grads[engine] = torch.cat([p.grad.flatten() for p in model.parameters()])
            results[engine] = median_ms_and_peak_rise(step, 1 if args.paired else args.runs)
            steps[engine] = step
    # The ratio of engine a's speed to b's: of the medians, or paired, the
    # median of each turn's.
    ratio = lambda a, b: results[a][0] / results[b][0]  # noqa: E731
    if args.paired:
        seconds = {e: np.array(t) for e, t in paired_seconds(steps, args.runs).items()}
        for engine in engines:
            results[engine] = (float(np.median(seconds[engine])) * 1e3, results[engine][1])
        ratio = lambda a, b: float(np.median(seconds[a] / seconds[b]))  # noqa: E731
    error = {e: float((grads[e] - grads["eager"]).norm() / grads["eager"].norm())
             for e in engines[1:]}
    ube_ms, ube_mib = results["ube"]
    print(f"{title} training step, batch {args.batch} x {args.size}², {args.threads} threads")
    for engine, (ms, mib) in results.items():
        print(f"  {engine:9s} {ms:8.1f} ms  peak +{mib:6.0f} MiB")
    print(f"  ube: {ratio('eager', 'ube'):.2f}x eager, "
          f"{ratio('inductor', 'ube'):.2f}x inductor; gradient error vs eager "
          f"{error['ube']:.1e} (inductor {error['inductor']:.1e})")
    for engine in engines[2:]:
        print(f"  {engine}: " + (f"PyTorch ran {', '.join(eager_ops[engine])}"
                                 if eager_ops[engine] else "wholly compiled"))
    if args.symbolic:
        print(f"  ube on a symbolic batch and image size: {ratio('ube', 'ube any size'):.2f}x "
              f"the speed of the executables for this shape; gradient error vs eager "
              f"{error['ube any size']:.1e}")
    if args.record:
        row = (f"| {datetime.date.today()} | {title} | {args.batch}×3×{args.size}² | "
               f"{args.threads} | {ube_ms:.1f} ({ube_mib:.0f}) | "
               f"{results['eager'][0]:.1f} ({results['eager'][1]:.0f}) | "
               f"{results['inductor'][0]:.1f} ({results['inductor'][1]:.0f}) | "
               f"{ratio('eager', 'ube'):.2f}× | {ratio('inductor', 'ube'):.2f}× | "
               f"{error['ube']:.1e} |")
        record_rows(ROOT / "docs" / "performance.md", MARKER, [row])


if __name__ == "__main__":
    main()
