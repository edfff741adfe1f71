#!/usr/bin/env python3
"""Builds the GPU check folder (run by scripts/gpu-prepare.sh, here).

For each correctness case: the graph compiled for cuda:ARCH, its inputs and
the CPU executable's outputs as the reference (for a graph with symbolic
dimensions, a set of both per shape it runs at, under runs/). For each benchmark: the graph
compiled for cuda:ARCH and a description check.py rebuilds the PyTorch peer
from. For each training case: ube.distill's step on transformers models
with every weight an input (check.py draws them there: nothing large
travels), compiled for cuda:ARCH, and the CPU executable's losses over its
steps. Everything lands in OUT (a few MB)."""
import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "test" / "python"))
from models import EncoderLayer, encoder_layer_graph  # noqa: E402
from ubetest import tensor_decl, write_safetensors  # noqa: E402
sys.path.insert(0, str(ROOT / "build" / "python"))
from ube.safetensors import read_safetensors  # noqa: E402
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import check  # noqa: E402 - the synthetic inputs, shared with the GPU half

rng = np.random.default_rng(2024)


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def graph(inputs, nodes, outputs, parameters=None):
    g = {"format": "ube.graph", "version": 1,
         "inputs": [tensor_decl(n, a) for n, a in inputs.items()], "nodes": nodes,
         "outputs": outputs}
    if parameters:
        g["parameters"] = [tensor_decl(n, a) for n, a in parameters.items()]
    return g


def node(name, op, inputs, **fields):
    return {"name": name, "op": op, "inputs": inputs, **fields}


def correctness_cases():
    x, row, col = randn(64, 96), randn(96), randn(64, 1)
    yield "elementwise", graph({"x": x, "row": row, "col": col}, [
        node("a", "add", ["x", "row"]), node("g", "gelu", ["a"]),
        node("e", "exp", ["col"]), node("m", "mul", ["g", "e"]),
        node("c", "compare", ["m", "x"], attrs={"predicate": "gt"}),
        node("w", "where", ["c", "m", "x"]), node("s", "sigmoid", ["w"]),
        node("t", "tanh", ["s"]), node("i", "cast", ["t"], dtype="i32"),
        node("f", "cast", ["i"], dtype="f32"), node("out", "add", ["t", "f"])],
        ["out"]), {"x": x, "row": row, "col": col}
    a, b = randn(3, 40, 50), randn(60, 50)
    yield "matmul", graph({"a": a, "b": b}, [
        node("out", "matmul", ["a", "b"], attrs={"transpose_rhs": True})], ["out"]), \
        {"a": a, "b": b}
    # Tiled contractions: large tiles (135 blocks) with ragged m, n and k;
    # both transposes with a broadcast batch; operand prologues fused in.
    a, b = randn(3, 520, 300), randn(300, 1030)
    at, bt, half = randn(4, 90, 70), randn(1, 50, 90), np.array(0.5, np.float32)
    yield "matmul_tiled", graph({"a": a, "b": b, "at": at, "bt": bt, "half": half}, [
        node("big", "matmul", ["a", "b"]),
        node("tt", "matmul", ["at", "bt"], attrs={"transpose_lhs": True, "transpose_rhs": True}),
        node("as", "mul", ["at", "half"]), node("be", "exp", ["bt"]),
        node("pro", "matmul", ["as", "be"], attrs={"transpose_lhs": True, "transpose_rhs": True})],
        ["big", "tt", "pro"]), {"a": a, "b": b, "at": at, "bt": bt, "half": half}
    x = randn(32, 8, 100) * 3
    w = randn(100)
    yield "normalization", graph({"x": x, "w": w}, [
        node("sm", "softmax", ["x"]), node("lsm", "log_softmax", ["x"], attrs={"axis": 1}),
        node("ln", "layer_norm", ["x", "w", "w"])], ["sm", "lsm", "ln"]), {"x": x, "w": w}
    # One row: the row programs' statistics in one block (nothing for the
    # host to read), an output buffer allocated between statistic and row.
    x, w = randn(1, 300) * 3, randn(300)
    yield "normalization_one_row", graph({"x": x, "w": w}, [
        node("sm", "softmax", ["x"]), node("ln", "layer_norm", ["x", "w", "w"]),
        node("rms", "rms_norm", ["ln", "w"])], ["sm", "rms"]), {"x": x, "w": w}
    x = randn(16, 33, 7)
    yield "reductions", graph({"x": x}, [
        node("s", "reduce_sum", ["x"], attrs={"axes": [1]}),
        node("m", "reduce_max", ["x"], attrs={"axes": [0, 2], "keepdims": True}),
        node("a", "reduce_mean", ["x"])], ["s", "m", "a"]), {"x": x}
    x, table = randn(4, 6, 8), randn(50, 8)
    ids = rng.integers(0, 50, (3, 5)).astype(np.int64)
    yield "data_movement", graph({"x": x, "table": table, "ids": ids}, [
        node("t", "transpose", ["x"], attrs={"perm": [2, 0, 1]}),
        node("r", "reshape", ["t"], shape=[8, 24]),
        node("c", "concat", ["r", "r"], attrs={"axis": 1}),
        node("s", "slice", ["c"], attrs={"start": [1, 3], "limit": [8, 40], "stride": [2, 3]}),
        node("g", "gather", ["table", "ids"])], ["s", "g"]), {"x": x, "table": table, "ids": ids}
    s, t = randn(6, 40) * 2, randn(6, 40) * 2
    y = rng.integers(0, 40, (6,)).astype(np.int64)
    hs, ht, proj = randn(2, 5, 6), randn(2, 5, 12), randn(6, 12)
    qs, ks, qt, kt = randn(2, 3, 6, 4), randn(2, 3, 6, 4), randn(2, 3, 6, 8), randn(2, 3, 6, 8)
    mask = np.ones((2, 6), dtype=bool)
    mask[0, 4:] = False
    g, wide = np.array(0.75, np.float32), randn(2, 5, 12)
    inputs = {"s": s, "t": t, "y": y, "hs": hs, "ht": ht, "proj": proj, "qs": qs, "ks": ks,
              "qt": qt, "kt": kt, "mask": mask, "g": g, "wide": wide}
    yield "losses", graph(inputs, [
        node("ce", "cross_entropy", ["s", "y"]), node("mse", "mse_loss", ["s", "t"]),
        node("kd", "kd_loss", ["s", "t", "y"], attrs={"temperature": 2.0, "alpha": 0.5}),
        node("fm", "feature_map_loss", ["hs", "ht", "proj"],
             attrs={"beta": 0.5, "gamma": 0.25}),
        node("at", "attention_transfer_loss", ["qs", "ks", "qt", "kt", "mask"]),
        # Gradients (the CPU reference runs the fused kd kernel).
        node("dkd", "kd_loss_grad", ["s", "t", "g", "y"], attrs={"temperature": 2.0, "alpha": 0.5}),
        node("dfm", "feature_map_loss_grad", ["wide", "ht", "g"], attrs={"beta": 0.5, "gamma": 0.25})],
        ["ce", "mse", "kd", "fm", "at", "dkd", "dfm"]), inputs
    # A compiled training step: gradients through an embedding (scatter_add),
    # linear, GELU and cross-entropy, then AdamW (step and moments are inputs).
    ids, y = rng.integers(0, 20, (16, 3)).astype(np.int64), rng.integers(0, 4, (16,)).astype(np.int64)
    params = {"table": randn(20, 10) * 0.5, "w1": randn(24, 10) * 0.3, "b1": randn(24) * 0.1,
              "w2": randn(4, 24) * 0.3, "b2": randn(4) * 0.1}
    state = {f"{n}.{s}": np.abs(randn(*a.shape)) * 0.01 for n, a in params.items()
             for s in ("exp_avg", "exp_avg_sq")}
    inputs = {"ids": ids, "y": y, **params}
    g = graph(inputs, [
        node("e", "gather", ["table", "ids"]), node("x", "reduce_mean", ["e"], attrs={"axes": [1]}),
        node("h", "linear", ["x", "w1", "b1"]), node("a", "gelu", ["h"]),
        node("logits", "linear", ["a", "w2", "b2"]),
        node("loss", "cross_entropy", ["logits", "y"])], ["loss"])
    g["train"] = {"loss": "loss", "params": list(params),
                  "optimizer": {"kind": "adamw", "lr": 0.01}}
    yield "train_step", g, {**inputs, **state, "step": np.array(3, np.int64)}
    # Convolutional networks' ops: a grouped, strided, padded convolution,
    # pooling in both ceil modes, batch-norm-like affine, the activations.
    x, w, b = randn(2, 4, 15, 13), randn(6, 2, 3, 3), randn(6)
    yield "windows", graph({"x": x, "w": w, "b": b}, [
        node("c", "conv", ["x", "w", "b"],
             attrs={"stride": [2, 1], "padding": [1, 0, 1, 2], "groups": 2}),
        node("r6", "clamp", ["c"], attrs={"min": 0.0, "max": 6.0}),
        node("mp", "max_pool", ["r6"], attrs={"kernel": [3, 3], "stride": [2, 2],
                                              "ceil_mode": True}),
        node("ap", "avg_pool", ["x"], attrs={"kernel": [3, 3], "stride": [2, 2],
                                             "padding": [1, 1, 1, 1]}),
        node("hs", "hard_swish", ["ap"]), node("mi", "mish", ["c"])],
        ["mp", "hs", "mi"]), {"x": x, "w": w, "b": b}
    # Positions along an axis and rounding: argmax, cumsum, reduce_min, fmod.
    x = randn(6, 37) * 3
    yield "axis", graph({"x": x}, [
        node("am", "argmax", ["x"], attrs={"axis": 1}),
        node("cs", "cumsum", ["x"], attrs={"axis": 1, "reverse": True}),
        node("mn", "reduce_min", ["x"], attrs={"axes": [0]}),
        node("rd", "round", ["x"]), node("ex", "exp", ["x"]),
        node("fm", "fmod", ["rd", "ex"])],
        ["am", "cs", "mn", "fm"]), {"x": x}
    # Unsigned bytes past 127: unsigned division, maximum and conversion.
    a = rng.integers(0, 256, (5, 33)).astype(np.uint8)
    b = rng.integers(1, 256, (5, 33)).astype(np.uint8)
    yield "unsigned", graph({"a": a, "b": b}, [
        node("q", "div", ["a", "b"]), node("mx", "maximum", ["a", "b"]),
        node("f", "cast", ["a"], dtype="f32")], ["q", "mx", "f"]), {"a": a, "b": b}
    # Attention dropout past 256 keys (flash blocks keyed as the whole).
    q, k = randn(1, 2, 9, 16), randn(1, 2, 300, 16)
    yield "attention_dropout", graph({"q": q, "k": k}, [
        node("o", "scaled_dot_product_attention", ["q", "k", "k"],
             attrs={"dropout_p": 0.2, "seed": 4})], ["o"]), {"q": q, "k": k}
    x = randn(37, 29)
    yield "dropout", graph({"x": x}, [
        node("out", "dropout", ["x"], attrs={"rate": 0.25, "seed": 5})], ["out"]), {"x": x}
    torch.manual_seed(0)
    module = EncoderLayer().eval()
    g, weights = encoder_layer_graph(module, 2)
    ids = rng.integers(0, 100, (2, 16)).astype(np.int64)
    m = np.ones((2, 16), dtype=bool)
    m[1, 9:] = False
    yield "encoder_layer", (g, weights), {"ids": ids, "mask": m}
    # One executable with symbolic batch and seq (gather, layer_norm and
    # softmax rows, tiled matmuls, a mean over seq), run at several shapes.
    g = json.loads((ROOT / "test" / "Target" / "Inputs" / "cuda-symbolic.json").read_text())
    weights = {"table": randn(50, 32), "g": 1 + 0.1 * randn(32), "b": 0.1 * randn(32),
               "w": 0.2 * randn(32, 32), "bias": 0.1 * randn(32)}
    runs = []
    for batch, seq in [(1, 1), (1, 7), (3, 64), (8, 128), (5, 33)]:
        mask = np.where(rng.random((batch, 1, seq)) < 0.2, -1e4, 0).astype(np.float32)
        ids = rng.integers(0, 50, (batch, seq)).astype(np.int64)
        runs.append((f"b{batch}_s{seq}", {"ids": ids, "mask": mask, **weights}))
    yield "symbolic_encoder", g, runs
    # Convolution and ceil-mode pooling over a symbolic length: the output's
    # length a derived symbol the runtime computes at each call.
    g = {"format": "ube.graph", "version": 2, "dims": {"batch": {"max": 8}, "len": {"max": 4096}},
         "inputs": [{"name": "x", "dtype": "f32", "shape": ["batch", 8, "len"]},
                    {"name": "w", "dtype": "f32", "shape": [16, 8, 5]}],
         "nodes": [node("c", "conv", ["x", "w"], attrs={"stride": [2], "padding": [1, 1]}),
                   node("y", "avg_pool", ["c"], attrs={"kernel": [3], "stride": [2],
                                                       "padding": [1, 1], "ceil_mode": True})],
         "outputs": ["y"]}
    runs = [(f"b{batch}_l{length}", {"x": randn(batch, 8, length), "w": 0.3 * randn(16, 8, 5)})
            for batch, length in [(1, 5), (3, 37), (8, 1000)]]
    yield "symbolic_windows", g, runs
    # Grouped, dilated, strided 2-D convolutions over symbolic image sizes:
    # patches as an im2col over the output's positions counted at run time.
    g = {"format": "ube.graph", "version": 2,
         "dims": {"batch": {"max": 4}, "h": {"max": 256}, "w": {"max": 256}},
         "inputs": [{"name": "x", "dtype": "f32", "shape": ["batch", 4, "h", "w"]},
                    {"name": "k", "dtype": "f32", "shape": [6, 2, 3, 3]},
                    {"name": "k2", "dtype": "f32", "shape": [8, 6, 1, 1]}],
         "nodes": [node("c", "conv", ["x", "k"], attrs={"stride": [2, 1], "padding": [1, 2, 1, 2],
                                                         "dilation": [2, 1], "groups": 2}),
                   node("y", "conv", ["c", "k2"])],
         "outputs": ["y"]}
    runs = [(f"b{batch}_{h}x{w}", {"x": randn(batch, 4, h, w), "k": 0.3 * randn(6, 2, 3, 3),
                                   "k2": 0.3 * randn(8, 6, 1, 1)})
            for batch, h, w in [(1, 8, 8), (3, 21, 40), (2, 97, 50)]]
    yield "symbolic_planes", g, runs


BENCHMARKS = {
    "matmul_4096": ({"a": [4096, 4096], "b": [4096, 4096]},
                    [node("out", "matmul", ["a", "b"])]),
    "softmax_8192x4096": ({"x": [8192, 4096]}, [node("out", "softmax", ["x"])]),
    "layer_norm_8192x4096": ({"x": [8192, 4096]}, [node("out", "layer_norm", ["x"])]),
    "kd_loss_2048x30522": ({"s": [2048, 30522], "t": [2048, 30522]},
                           [node("out", "kd_loss", ["s", "t"], attrs={"temperature": 2.0})]),
    "attention_transfer_8x12x512x64": (
        {"qs": [8, 12, 512, 64], "ks": [8, 12, 512, 64], "qt": [8, 12, 512, 64],
         "kt": [8, 12, 512, 64]},
        [node("out", "attention_transfer_loss", ["qs", "ks", "qt", "kt"])]),
}


def bert_config(layers, hidden, heads, vocab, classes, intermediate):
    return dict(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
                num_attention_heads=heads, intermediate_size=intermediate,
                max_position_embeddings=512, num_labels=classes)


def training_cases():
    """(name, teacher config, student config, DistillConfig fields, batch,
    tokens, peer): the tiny case has every term of ube.distill's step
    (module replacement's Bernoulli draws too), and its variable-length
    variant (without module replacement, which variable_length does not
    take) symbolic batch and length, run below their bounds; the MiniLM
    case is the real-model step of bench/bench_minilm_distill.py
    (all-MiniLM-L6-v2's shapes, 8 classes, batches of 32 x 24 tokens),
    timed against PyTorch."""
    tiny = bert_config(2, 32, 4, 50, 3, 64)
    terms = dict(
        hard_label_weight=0.5, feature_weight=1.0, layer_map={1: 2}, feature_mean_weight=1.0,
        feature_variance_weight=1.0, attention_weight=1.0, attention_map={0: 1},
        replace=[(["bert.encoder.layer.0", "bert.encoder.layer.1"], "bert.encoder.layer.0")],
        replace_weight=1.0, transfer_offset=0.5, transfer_slope=0.05)
    yield "distill_tiny", tiny, dict(tiny, num_hidden_layers=1), terms, 8, 8, False
    variable = {k: v for k, v in terms.items() if k not in (
        "replace", "replace_weight", "transfer_offset", "transfer_slope")}
    yield "distill_tiny_symbolic", tiny, dict(tiny, num_hidden_layers=1), dict(
        variable, variable_length=True), 8, 12, False
    minilm = bert_config(6, 384, 12, 30522, 8, 1536)
    yield "distill_minilm", minilm, dict(minilm, num_hidden_layers=3), dict(
        hard_label_weight=0.5, feature_weight=1.0, layer_map={1: 1, 2: 3, 3: 6},
        feature_mean_weight=1.0, feature_variance_weight=1.0, attention_weight=1.0,
        attention_map={2: 5}), 32, 24, True


def distill_step_graph(teacher, student, config, batch, tokens):
    """ube.distill's training-step graph (compiling stopped before it
    starts), every float parameter moved to the inputs; (graph, the other
    weights)."""
    import torch
    import transformers
    import ube
    distill = sys.modules["ube.distill"]

    class Captured(Exception):
        pass
    graph, weights = {}, {}
    compile_ = distill._compile

    def capture(path, target="cpu", **kw):
        path = pathlib.Path(path)
        if path.name != "train.json":
            return compile_(path, target, **kw)
        graph.update(json.loads(path.read_text()))
        if "weights" in graph:
            weights.update(read_safetensors(path.parent / graph["weights"]))
        raise Captured
    models = []
    for fields in (teacher, student):
        torch.manual_seed(0)
        models.append(transformers.BertForSequenceClassification(
            transformers.BertConfig(**fields)).eval())
    ids = np.ones((batch, tokens), np.int64)
    data = [((ids, np.ones((batch, tokens), bool)), np.zeros(batch, np.int64))]
    # The step is compiled in a child process (compile_isolated); other
    # executables in this one.
    isolated = distill.compile_isolated
    distill._compile = capture
    distill.compile_isolated = lambda path, output, target="cpu": capture(path, target)
    try:
        ube.distill(*models, data, ube.DistillConfig(
            steps=1, log_every=0, optimizer={"kind": "adamw", "lr": 1e-4},
            lr_schedule="warmup_linear", **config))
    except Captured:
        pass
    finally:
        distill._compile = compile_
        distill.compile_isolated = isolated
    parameters = graph.pop("parameters", [])
    graph["inputs"] += [d for d in parameters if d["dtype"] == "f32"]
    kept = [d for d in parameters if d["dtype"] != "f32"]
    if kept:
        graph["parameters"] = kept
    return graph, {d["name"]: weights[d["name"]] for d in kept}


def write_training_case(case, name, teacher, student, config, batch, tokens, peer, compile_,
                        arch, steps=20):
    case.mkdir(parents=True, exist_ok=True)
    graph, weights = distill_step_graph(teacher, student, config, batch, tokens)
    if weights:
        write_safetensors(case / "graph.safetensors", weights)
        graph["weights"] = "graph.safetensors"
    (case / "graph.json").write_text(json.dumps(graph))
    compile_(case / "graph.json", "cpu", case / "cpu.ube")
    from ube.runtime import load
    inputs = load(case / "cpu.ube").train_step.inputs
    # A step of symbolic batch and length runs below its bounds (each at
    # its maximum less 3): its inputs' shapes with those sizes.
    run_sizes = {name: max(1, bound["max"] - 3) for name, bound in graph.get("dims", {}).items()}
    declared = {d["name"]: d["shape"] for d in graph["inputs"]}
    inputs = [(n, t, [run_sizes[d] if isinstance(d, str) else d for d in declared[n]]
               if n in declared else shape) for n, t, shape in inputs]
    spec = {"steps": steps, "seed": 0, "ids": "input0", "mask": "input1", "first_id": 1,
            "vocab": teacher["vocab_size"], "classes": teacher["num_labels"], "lr": 1e-4,
            "min_tokens": max(2, tokens // 3), "inputs": [list(i) for i in inputs]}
    if peer:
        spec["peer"] = {"teacher_config": teacher, "student_config": student, "lr": 1e-4,
                        "temperature": 2.0, **{k: config[k] for k in (
                            "hard_label_weight", "layer_map", "attention_map")}}
    (case / "spec.json").write_text(json.dumps(spec))
    with tempfile.TemporaryDirectory() as tmp:
        paths = check.write_synthetic_inputs(case, pathlib.Path(tmp))
        losses, _ = check.train(case / "cpu.ube", paths, steps)
    (case / "reference_losses.json").write_text(json.dumps(losses))
    print(f"{name}: cpu losses at step 1 {losses[1]}, at step {steps} {losses[steps]}")
    compile_(case / "graph.json", f"cuda:{arch}", case / "model.ube")
    for f in ("cpu.ube", "graph.json", "graph.safetensors"):
        (case / f).unlink(missing_ok=True)



def run(args):
    subprocess.run(args, check=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--arch", default="sm_90")
    parser.add_argument("--build", default=str(ROOT / "build"))
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    tools = pathlib.Path(args.build) / "bin"
    compile_ = lambda src, target, dst: run([tools / "ube-compile", src, f"--target={target}",
                                             "-o", dst])
    for name, g, inputs in correctness_cases():
        case = out / "cases" / name
        case.mkdir(parents=True, exist_ok=True)
        if isinstance(g, tuple):
            g, weights = g
            write_safetensors(case / "graph.safetensors", weights)
            g = dict(g, weights="graph.safetensors")
        (case / "graph.json").write_text(json.dumps(g))
        compile_(case / "graph.json", f"cuda:{args.arch}", case / "model.ube")
        compile_(case / "graph.json", "cpu", case / "cpu.ube")
        # One set of inputs, or (label, inputs) per run at its own shapes.
        runs = [(case, inputs)] if isinstance(inputs, dict) else [
            (case / "runs" / label, run_inputs) for label, run_inputs in inputs]
        for folder, run_inputs in runs:
            (folder / "inputs").mkdir(parents=True, exist_ok=True)
            flags = []
            for n, a in run_inputs.items():
                np.save(folder / "inputs" / f"{n}.npy", np.array(a, order="C"))
                flags.append(f"--input={n}=" + str(folder / "inputs" / f"{n}.npy"))
            run([tools / "ube-run", case / "cpu.ube", f"--output-dir={folder / 'reference'}",
                 *flags])
        (case / "cpu.ube").unlink()
        for f in ["graph.json", "graph.safetensors"]:
            (case / f).unlink(missing_ok=True)
    for name, (shapes, nodes) in BENCHMARKS.items():
        bench = out / "bench" / name
        bench.mkdir(parents=True, exist_ok=True)
        g = {"format": "ube.graph", "version": 1,
             "inputs": [{"name": n, "dtype": "f32", "shape": s} for n, s in shapes.items()],
             "nodes": nodes, "outputs": ["out"]}
        (bench / "graph.json").write_text(json.dumps(g))
        compile_(bench / "graph.json", f"cuda:{args.arch}", bench / "model.ube")
    check.UBE_RUN = tools / "ube-run"
    for name, teacher, student, config, batch, tokens, peer in training_cases():
        write_training_case(out / "training" / name, name, teacher, student, config, batch,
                            tokens, peer, compile_, args.arch)
    shutil.copy(tools / "ube-run", out / "ube-run")
    shutil.copy(pathlib.Path(__file__).parent / "check.py", out / "check.py")


if __name__ == "__main__":
    main()
