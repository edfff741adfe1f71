#!/usr/bin/env python3
"""Single convolution layers on the CPU, as ResNet-50, MobileNetV2,
ConvNeXt and Wav2Vec2 have them: ube against PyTorch 2 eager (oneDNN) and inductor, same
threads, same run, same weights and input.

    .venv/bin/python bench/bench_conv_layers.py [--batch 8] [--threads 2]
                                                [--runs 7] [--record]

Each layer is a `torch.nn.Conv2d` or `Conv1d` compiled by `ube.compile`
(which path ube takes is in the second column: implicit im2col for 2-D
stride-1 convolutions, strided im2col (panels gathered from the input) for
strided ones since 2026-12-05, the batch's positions side by side in one
matrix for small planes (since 2026-12-05 evening), 1-D im2col (a plane of height 1, since
2026-12-05), the input as it is for 1×1, the depthwise plane kernel
(since 2026-12-05; a sum of taps before)).
Time: the median of --runs calls after a warm-up call (inductor's
compilation not timed). Error: max |ube − eager| over max |eager|.
"""
import argparse
import datetime
import pathlib
import sys
import warnings

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from benchutil import median_ms, record_rows  # noqa: E402

MARKER = "<!-- bench_conv_layers rows -->"

# name, ube's path, Conv1d/Conv2d arguments, input size (one per spatial dimension)
LAYERS = [
    ("ResNet 1×1 256→64, 56²", "1×1 matmul",
     dict(in_channels=256, out_channels=64, kernel_size=1), (56, 56)),
    ("ResNet 3×3 64→64, 56²", "implicit im2col",
     dict(in_channels=64, out_channels=64, kernel_size=3, padding=1), (56, 56)),
    ("ResNet 3×3 256→256, 14²", "implicit im2col",
     dict(in_channels=256, out_channels=256, kernel_size=3, padding=1), (14, 14)),
    ("ResNet 3×3 512→512, 4² (112² images)", "batch side by side",
     dict(in_channels=512, out_channels=512, kernel_size=3, padding=1), (4, 4)),
    ("ResNet 3×3/2 128→128, 56²", "strided im2col",
     dict(in_channels=128, out_channels=128, kernel_size=3, stride=2, padding=1), (56, 56)),
    ("ResNet stem 7×7/2 3→64, 224²", "strided im2col",
     dict(in_channels=3, out_channels=64, kernel_size=7, stride=2, padding=3), (224, 224)),
    ("MobileNetV2 dw 3×3 144, 56²", "depthwise kernel",
     dict(in_channels=144, out_channels=144, kernel_size=3, padding=1, groups=144), (56, 56)),
    ("MobileNetV2 dw 3×3/2 144, 56²", "depthwise kernel",
     dict(in_channels=144, out_channels=144, kernel_size=3, stride=2, padding=1, groups=144),
     (56, 56)),
    ("ConvNeXt dw 7×7 96, 56²", "depthwise kernel",
     dict(in_channels=96, out_channels=96, kernel_size=7, padding=3, groups=96), (56, 56)),
    ("Wav2Vec2 conv 1→512 k10/5, 16000", "1-D im2col",
     dict(in_channels=1, out_channels=512, kernel_size=10, stride=5), (16000,)),
    ("Wav2Vec2 conv 512→512 k3/2, 3199", "1-D im2col",
     dict(in_channels=512, out_channels=512, kernel_size=3, stride=2), (3199,)),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--build", default=str(ROOT / "build"))
    parser.add_argument("--record", action="store_true", help="append to docs/performance.md")
    args = parser.parse_args()
    sys.path.insert(0, str(pathlib.Path(args.build) / "python"))
    import ube

    torch.set_num_threads(args.threads)
    rows = []
    print(f"{'layer':32s} {'path':16s} {'ube ms':>8s} {'eager':>8s} {'inductor':>9s} "
          f"{'x eager':>8s} {'x ind.':>7s} {'error':>8s}")
    for name, path, conv, size in LAYERS:
        torch.manual_seed(0)
        layer = (torch.nn.Conv1d if len(size) == 1 else torch.nn.Conv2d)(**conv).eval()
        x = torch.randn(args.batch, conv["in_channels"], *size)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exe = ube.compile(layer, example_inputs=(x,))
            # A fresh dynamo per layer: past 8 recompilations of one frame
            # it would fall back to eager.
            torch._dynamo.reset()
            inductor = torch.compile(layer, backend="inductor")
            with torch.no_grad():
                inductor(x)
                expected = layer(x).numpy()
                eager_ms = median_ms(lambda: layer(x), args.runs)
                inductor_ms = median_ms(lambda: inductor(x), args.runs)
        x_numpy = x.numpy()
        ube_ms = median_ms(lambda: exe(x_numpy), args.runs)
        error = float(np.abs(exe(x_numpy) - expected).max() / np.abs(expected).max())
        print(f"{name:32s} {path:16s} {ube_ms:8.2f} {eager_ms:8.2f} {inductor_ms:9.2f} "
              f"{eager_ms / ube_ms:7.2f}x {inductor_ms / ube_ms:6.2f}x {error:8.1e}", flush=True)
        rows.append(f"| {datetime.date.today()} | {name} | {path} | {args.batch} | "
                    f"{args.threads} | {ube_ms:.2f} | {eager_ms:.2f} | {inductor_ms:.2f} | "
                    f"{eager_ms / ube_ms:.2f}× | {inductor_ms / ube_ms:.2f}× | {error:.1e} |")
    if args.record:
        record_rows(ROOT / "docs" / "performance.md", MARKER, rows)


if __name__ == "__main__":
    main()
