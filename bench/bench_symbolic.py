#!/usr/bin/env python3
"""Symbolic dimensions against static shapes: one executable compiled with
symbolic batch and sequence length, run at several (batch, length) pairs,
against an executable compiled for each pair with static shapes (same
graph, same thread count, same process; medians). The graph is an encoder
layer's shape behaviour (test/python/e2e/test_symbolic_dims.py's ENCODER):
embedding rows, layer norm, token-by-token scores softmaxed over the
length, a linear layer with GELU, a mean over the tokens and a
cross-entropy.

    .venv/bin/python bench/bench_symbolic.py [--threads 2] [--runs 20]
        [--shapes 1x7,8x64,8x128,32x128]
"""
import argparse
import copy
import json
import os
import pathlib
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "build" / "python"))
sys.path.insert(0, str(ROOT / "test" / "python" / "e2e"))
sys.path.insert(0, str(ROOT / "test" / "python"))
from benchutil import median_ms  # noqa: E402


def static_graph(graph, sizes):
    """The graph with every symbol replaced by its size."""
    static = copy.deepcopy(graph)
    static["version"] = 1
    del static["dims"]
    for tensor in static["inputs"]:
        tensor["shape"] = [sizes.get(d, d) for d in tensor["shape"]]
    return static


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--shapes", default="1x7,8x64,8x128,32x128")
    args = parser.parse_args()
    os.environ["UBE_NUM_THREADS"] = str(args.threads)
    import ube
    from test_symbolic_dims import ENCODER
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(s).astype(np.float32) * 0.5
               for s in [(100, 16), (8, 16), (8,), (16,), (16,)]]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        (tmp / "symbolic.json").write_text(json.dumps(ENCODER))
        symbolic = ube.compile(tmp / "symbolic.json")
        print(f"{'batch x length':>15}{'static ms':>11}{'symbolic ms':>13}{'static/symbolic':>17}")
        for shape in args.shapes.split(","):
            batch, length = (int(v) for v in shape.split("x"))
            (tmp / "static.json").write_text(
                json.dumps(static_graph(ENCODER, {"batch": batch, "seq": length})))
            static = ube.compile(tmp / "static.json")
            inputs = [rng.integers(0, 100, (batch, length)), rng.integers(0, 8, batch),
                      *weights]
            s = median_ms(lambda: static(*inputs), args.runs, min_seconds=0.5)
            d = median_ms(lambda: symbolic(*inputs), args.runs, min_seconds=0.5)
            print(f"{shape:>15}{s:11.3f}{d:13.3f}{s / d:16.2f}x", flush=True)


if __name__ == "__main__":
    main()
