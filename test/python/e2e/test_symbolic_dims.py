"""Symbolic dimensions end to end: one executable of a graph whose inputs
name their sizes by symbols (graph format v2) runs at any conforming batch
and sequence length, against float64 references (numpy, PyTorch), and
refuses shapes outside the symbols' bounds or that disagree, with errors
naming the inputs and the symbol. Tolerance: f32 against float64, relative
to the output's largest magnitude, 2e-6 (the static executables' bound)."""
import json
import pathlib
import subprocess

import numpy as np
import pytest
import torch

from ubetest import (attention_transfer_reference, feature_map_reference, philox_uniforms,
                     read_manifest, rel_error)

MLP = {"format": "ube.graph", "version": 2,
       "dims": {"batch": {"min": 1, "max": 64}},
       "inputs": [{"name": "x", "dtype": "f32", "shape": ["batch", 16]},
                  {"name": "y", "dtype": "f32", "shape": ["batch", 16]},
                  {"name": "w", "dtype": "f32", "shape": [16, 4]}],
       "nodes": [{"name": "s", "op": "add", "inputs": ["x", "y"]},
                 {"name": "h", "op": "matmul", "inputs": ["s", "w"]},
                 {"name": "p", "op": "softmax", "inputs": ["h"], "attrs": {"axis": -1}},
                 {"name": "m", "op": "reduce_mean", "inputs": ["h"], "attrs": {"axes": [1]}}],
       "outputs": ["p", "m"]}

# An encoder layer's shape behaviour on ids [batch, seq]: embedding rows,
# layer norm, token-by-token scores softmaxed over the symbolic length,
# a linear layer with GELU, a mean over the tokens and a cross-entropy.
ENCODER = {"format": "ube.graph", "version": 2,
           "dims": {"batch": {"max": 32}, "seq": {"max": 512}},
           "inputs": [{"name": "ids", "dtype": "i64", "shape": ["batch", "seq"]},
                      {"name": "labels", "dtype": "i64", "shape": ["batch"]},
                      {"name": "emb", "dtype": "f32", "shape": [100, 16]},
                      {"name": "w", "dtype": "f32", "shape": [8, 16]},
                      {"name": "b", "dtype": "f32", "shape": [8]},
                      {"name": "g", "dtype": "f32", "shape": [16]},
                      {"name": "beta", "dtype": "f32", "shape": [16]}],
           "nodes": [
               {"name": "x", "op": "gather", "inputs": ["emb", "ids"], "attrs": {"axis": 0}},
               {"name": "n", "op": "layer_norm", "inputs": ["x", "g", "beta"]},
               {"name": "t", "op": "transpose", "inputs": ["n"], "attrs": {"perm": [0, 2, 1]}},
               {"name": "a", "op": "matmul", "inputs": ["n", "t"]},
               {"name": "s", "op": "softmax", "inputs": ["a"]},
               {"name": "c", "op": "matmul", "inputs": ["s", "n"]},
               {"name": "h", "op": "linear", "inputs": ["c", "w", "b"]},
               {"name": "ge", "op": "gelu", "inputs": ["h"]},
               {"name": "pooled", "op": "reduce_mean", "inputs": ["ge"], "attrs": {"axes": [1]}},
               {"name": "loss", "op": "cross_entropy", "inputs": ["pooled", "labels"]}],
           "outputs": ["ge", "pooled", "loss"]}


def compiled(ube_module, tmp_path, graph, name):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(graph))
    return ube_module.compile(path), path


def mlp_reference(x, y, w):
    h = (x.astype(np.float64) + y) @ w
    p = np.exp(h - h.max(-1, keepdims=True))
    return p / p.sum(-1, keepdims=True), h.mean(-1)


def test_mlp_any_batch(ube_module, tmp_path):
    exe, _ = compiled(ube_module, tmp_path, MLP, "mlp")
    assert [shape for _, _, shape in exe.main.inputs] == [[-1, 16], [-1, 16], [16, 4]]
    rng = np.random.default_rng(0)
    w = rng.standard_normal((16, 4)).astype(np.float32)
    batches = [1, 3, 8, 32, 64] + list(rng.integers(1, 65, 20))
    for batch in batches:
        x, y = (rng.standard_normal((batch, 16)).astype(np.float32) for _ in range(2))
        p, m = exe(x, y, w)
        ref_p, ref_m = mlp_reference(x, y, w)
        assert p.shape == (batch, 4) and m.shape == (batch,)
        assert rel_error(p, ref_p) < 2e-6 and rel_error(m, ref_m) < 2e-6, batch


def encoder_torch(ids, labels, emb, w, b, g, beta):
    """ENCODER in PyTorch on the weights as tensors: (ge, pooled, loss)."""
    x = torch.nn.functional.layer_norm(emb[torch.from_numpy(ids)], (16,), g, beta)
    c = (x @ x.transpose(1, 2)).softmax(-1) @ x
    ge = torch.nn.functional.gelu(c @ w.T + b)
    pooled = ge.mean(1)
    return ge, pooled, torch.nn.functional.cross_entropy(pooled, torch.from_numpy(labels))


def encoder_reference(ids, labels, *weights):
    return tuple(v.numpy() for v in encoder_torch(
        ids, labels, *(torch.from_numpy(a).double() for a in weights)))


def test_encoder_any_batch_and_length(ube_module, tmp_path):
    exe, _ = compiled(ube_module, tmp_path, ENCODER, "encoder")
    rng = np.random.default_rng(1)
    weights = [rng.standard_normal(s).astype(np.float32) * 0.5
               for s in [(100, 16), (8, 16), (8,), (16,), (16,)]]
    shapes = [(1, 7), (3, 64), (8, 128), (2, 300), (32, 1)]
    shapes += [(int(rng.integers(1, 33)), int(rng.integers(1, 200))) for _ in range(20)]
    for batch, seq in shapes:
        ids = rng.integers(0, 100, (batch, seq))
        labels = rng.integers(0, 8, batch)
        outputs = exe(ids, labels, *weights)
        for out, ref in zip(outputs, encoder_reference(ids, labels, *weights)):
            assert out.shape == ref.shape
            assert rel_error(out, ref) < 2e-6, (batch, seq)


def test_arena_grows_with_the_shapes(ube_module, tmp_path):
    """ENCODER with batch and length unbounded: its temporaries are planned
    into an arena whose size the manifest gives as expressions of the
    symbols (format 5), evaluated at each call; one executable runs shapes
    that grow and shrink, against PyTorch in float64, its outputs' shapes
    known before the call (output_shapes). With bounds, a call
    takes what its shapes need, not the plan at the maxima."""
    unbounded = dict(ENCODER, dims={"batch": {}, "seq": {}})
    exe, _ = compiled(ube_module, tmp_path, unbounded, "unbounded")
    exe.save(tmp_path / "unbounded.ube")
    manifest = read_manifest(tmp_path / "unbounded.ube")
    entry = manifest["entries"][0]
    assert manifest["format_version"] == 5
    assert "arena_bytes" not in entry and entry["arena_exprs"][-1][0] in ("maxui", "addi")
    rng = np.random.default_rng(11)
    weights = [rng.standard_normal(s).astype(np.float32) * 0.5
               for s in [(100, 16), (8, 16), (8,), (16,), (16,)]]
    weight_shapes = [w.shape for w in weights]
    sizes = []
    for batch, seq in [(2, 5), (4, 300), (1, 3), (40, 700), (8, 64)]:
        ids = rng.integers(0, 100, (batch, seq))
        labels = rng.integers(0, 8, batch)
        sizes.append(exe.main.arena_bytes((batch, seq), (batch,), *weight_shapes))
        outputs = exe(ids, labels, *weights)
        assert exe.main.output_shapes((batch, seq), (batch,), *weight_shapes) == \
            [out.shape for out in outputs]
        for out, ref in zip(outputs, encoder_reference(ids, labels, *weights)):
            assert out.shape == ref.shape
            # (4e-6: sums of up to 700 products, past the 300 of the 2e-6 above.)
            assert rel_error(out, ref) < 4e-6, (batch, seq)
    # The normalized embeddings, [batch, seq, 16] floats, are among the temporaries.
    assert sizes[3] >= 40 * 700 * 16 * 4 and sizes[2] < sizes[0] < sizes[1] < sizes[3]
    with pytest.raises(ube_module.RuntimeError, match="'ids' and 'labels' must agree on batch"):
        exe.main.arena_bytes((2, 5), (3,), *weight_shapes)
    with pytest.raises(ValueError, match="input 'labels' has rank 1, got a shape of 2 sizes"):
        exe.main.arena_bytes((2, 5), (2, 1), *weight_shapes)
    with pytest.raises(TypeError, match="takes 7 input shapes, got 2"):
        exe.main.arena_bytes((2, 5), (2,))
    with pytest.raises(ube_module.RuntimeError, match="'ids' and 'labels' must agree on batch"):
        exe.main.output_shapes((2, 5), (3,), *weight_shapes)

    bounded, _ = compiled(ube_module, tmp_path, ENCODER, "bounded")
    bounded.save(tmp_path / "bounded.ube")
    at_maxima = read_manifest(tmp_path / "bounded.ube")["entries"][0]["arena_bytes"]
    assert bounded.main.arena_bytes((2, 5), (2,), *weight_shapes) < at_maxima / 100
    assert bounded.main.arena_bytes((32, 512), (32,), *weight_shapes) <= at_maxima


@pytest.mark.parametrize("shapes, message", [
    (((65, 16), (65, 16)), "function 'main': input 'x' has batch = 65, outside its bounds "
                           "(1 to 64)"),
    (((3, 16), (4, 16)), "function 'main': inputs 'x' and 'y' must agree on batch, got 3 and 4"),
])
def test_mlp_refuses_bad_shapes(ube_module, tmp_path, shapes, message):
    exe, _ = compiled(ube_module, tmp_path, MLP, "mlp")
    w = np.zeros((16, 4), np.float32)
    with pytest.raises(ube_module.RuntimeError, match=message.replace("(", r"\(")
                       .replace(")", r"\)")):
        exe(np.zeros(shapes[0], np.float32), np.zeros(shapes[1], np.float32), w)


def test_mlp_refuses_static_and_rank_mismatch(ube_module, tmp_path):
    exe, _ = compiled(ube_module, tmp_path, MLP, "mlp")
    w = np.zeros((16, 4), np.float32)
    for bad in [(3, 8), (3, 16, 1)]:
        with pytest.raises(ValueError, match=r"input 'x' expects shape \[\?, 16\]"):
            exe(np.zeros(bad, np.float32), np.zeros(bad, np.float32), w)


def test_ube_run(tools_dir, tmp_path):
    path = tmp_path / "mlp.json"
    path.write_text(json.dumps(MLP))
    exe = tmp_path / "mlp.ube"
    subprocess.run([tools_dir / "ube-compile", path, "-o", exe], check=True)
    info = subprocess.run([tools_dir / "ube-run", "--info", exe], check=True,
                          capture_output=True, text=True).stdout
    # Its temporaries' sizes depend on batch: an arena sized at each call.
    assert "format version: 5" in info
    assert "arena sized at each call from its symbols (at most " in info
    assert "main(x: f32[batch, 16], y: f32[batch, 16], w: f32[16, 4]) -> " \
           "(p: f32[batch, 4], m: f32[batch])" in info
    assert "symbol batch: 1 to 64" in info
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in [(5, 16), (5, 16), (16, 4)]]
    for name, array in zip("xyw", arrays):
        np.save(tmp_path / f"{name}.npy", array)
    out = tmp_path / "out"
    subprocess.run([tools_dir / "ube-run", exe, *(f"--input={n}={tmp_path / n}.npy" for n in "xyw"),
                    f"--output-dir={out}"], check=True, capture_output=True)
    ref_p, _ = mlp_reference(*arrays)
    assert rel_error(np.load(out / "p.npy"), ref_p) < 2e-6
    # Random inputs need the symbols' sizes.
    bad = subprocess.run([tools_dir / "ube-run", exe], capture_output=True, text=True)
    assert bad.returncode != 0
    assert "input 'x' has symbolic dimensions: give it (--input) or the sizes " \
           "(--dims=batch=N)" in bad.stderr
    ok = subprocess.run([tools_dir / "ube-run", exe, "--dims=batch=7"], capture_output=True,
                        text=True)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([tools_dir / "ube-run", exe, "--dims=batch=70"], capture_output=True,
                         text=True)
    assert bad.returncode != 0 and "batch = 70, outside its bounds (1 to 64)" in bad.stderr




# Multi-head attention's reshapes: [batch, seq, 8] split into 2 heads of 4
# and merged back, with sizes named by the symbols.
HEADS = {"format": "ube.graph", "version": 2,
         "dims": {"batch": {"max": 16}, "seq": {"max": 256}},
         "inputs": [{"name": "x", "dtype": "f32", "shape": ["batch", "seq", 8]},
                    {"name": "mask", "dtype": "f32", "shape": ["batch", 1, 1, "seq"]}],
         "nodes": [
             {"name": "h", "op": "reshape", "inputs": ["x"], "shape": ["batch", "seq", 2, 4]},
             {"name": "q", "op": "transpose", "inputs": ["h"], "attrs": {"perm": [0, 2, 1, 3]}},
             {"name": "k", "op": "transpose", "inputs": ["h"], "attrs": {"perm": [0, 2, 3, 1]}},
             {"name": "scores", "op": "matmul", "inputs": ["q", "k"]},
             {"name": "masked", "op": "add", "inputs": ["scores", "mask"]},
             {"name": "p", "op": "softmax", "inputs": ["masked"]},
             {"name": "c", "op": "matmul", "inputs": ["p", "q"]},
             {"name": "t", "op": "transpose", "inputs": ["c"], "attrs": {"perm": [0, 2, 1, 3]}},
             {"name": "y", "op": "reshape", "inputs": ["t"], "shape": ["batch", "seq", 8]}],
         "outputs": ["y"]}


def heads_reference(x, mask):
    b, s, _ = x.shape
    q = x.astype(np.float64).reshape(b, s, 2, 4).transpose(0, 2, 1, 3)
    scores = q @ q.transpose(0, 1, 3, 2) + mask
    p = np.exp(scores - scores.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return (p @ q).transpose(0, 2, 1, 3).reshape(b, s, 8)


def test_heads_split_and_merged(ube_module, tmp_path):
    exe, _ = compiled(ube_module, tmp_path, HEADS, "heads")
    rng = np.random.default_rng(3)
    shapes = [(1, 7), (3, 64), (8, 128), (2, 200)]
    shapes += [(int(rng.integers(1, 17)), int(rng.integers(1, 257))) for _ in range(20)]
    for batch, seq in shapes:
        x = rng.standard_normal((batch, seq, 8)).astype(np.float32)
        mask = np.where(rng.random((batch, 1, 1, seq)) < 0.2, -1e4, 0).astype(np.float32)
        y = exe(x, mask)
        assert y.shape == (batch, seq, 8)
        assert rel_error(y, heads_reference(x, mask)) < 2e-6, (batch, seq)


def test_broadcast_to_symbolic_size(ube_module, tmp_path):
    graph = {"format": "ube.graph", "version": 2, "dims": {"batch": {}},
             "inputs": [{"name": "x", "dtype": "f32", "shape": ["batch", 16]},
                        {"name": "b", "dtype": "f32", "shape": [1, 16]}],
             "nodes": [{"name": "r", "op": "broadcast_to", "inputs": ["b"],
                        "shape": ["batch", 16]},
                       {"name": "y", "op": "mul", "inputs": ["x", "r"]}],
             "outputs": ["r", "y"]}
    exe, _ = compiled(ube_module, tmp_path, graph, "broadcast")
    rng = np.random.default_rng(4)
    b = rng.standard_normal((1, 16)).astype(np.float32)
    for batch in (1, 5, 33):
        x = rng.standard_normal((batch, 16)).astype(np.float32)
        r, y = exe(x, b)
        assert r.shape == (batch, 16) and np.array_equal(r, np.broadcast_to(b, (batch, 16)))
        assert np.array_equal(y, x * b)


def test_symbolic_depth_read_transposed(ube_module, tmp_path):
    """A symbolic K with both operands transposed: lhs [K, M] is packed
    by contiguous rows, rhs [N, K]'s panels gather each k's lanes with
    64-bit offsets (a symbolic row length). Against float64 at 2e-6."""
    graph = {"format": "ube.graph", "version": 2, "dims": {"k": {}},
             "inputs": [{"name": "a", "dtype": "f32", "shape": ["k", 40]},
                        {"name": "b", "dtype": "f32", "shape": [300, "k"]}],
             "nodes": [{"name": "c", "op": "matmul", "inputs": ["a", "b"],
                        "attrs": {"transpose_lhs": True, "transpose_rhs": True}}],
             "outputs": ["c"]}
    exe, _ = compiled(ube_module, tmp_path, graph, "transposed")
    rng = np.random.default_rng(6)
    for k in (1, 37, 700):
        a = rng.standard_normal((k, 40)).astype(np.float32)
        b = rng.standard_normal((300, k)).astype(np.float32)
        ref = a.T.astype(np.float64) @ b.T.astype(np.float64)
        assert rel_error(exe(a, b), ref) < 2e-6, k


class _LastHiddenState(torch.nn.Module):
    """A transformers BertModel as a serving student runs: ids and an
    attention mask in, every token's last hidden state out."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids, mask):
        return self.model(input_ids=ids, attention_mask=mask).last_hidden_state


@pytest.fixture(scope="module")
def bert_any_shape(ube_module, tmp_path_factory):
    """A 2-layer transformers BertModel (built from a config) exported once
    with torch.export Dims for batch and length, and compiled once."""
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=4, intermediate_size=64,
                                     max_position_embeddings=512)
    model = _LastHiddenState(transformers.BertModel(config)).eval()
    batch = torch.export.Dim("batch", max=32)
    seq = torch.export.Dim("seq", max=512)
    ids = torch.randint(0, 100, (3, 7))
    path = tmp_path_factory.mktemp("bert") / "bert.json"
    graph = ube_module.export(model, (ids, torch.ones_like(ids)), path,
                              dynamic_shapes=({0: batch, 1: seq}, {0: batch, 1: seq}))
    return model, graph, ube_module.compile(path), path


def test_transformers_bert_any_batch_and_length(bert_any_shape):
    """One executable at the issue's shapes and 20 random ones, each row
    padded at random, against PyTorch in float64 on the tokens the mask
    keeps (padded tokens' states are not used). Tolerance 1e-5 relative to
    the largest magnitude: f32 through two layers' norms and sums of at most
    64 products (measured 1e-7 to 3e-7)."""
    model, graph, exe, _ = bert_any_shape
    assert graph["version"] == 2 and graph["dims"] == {"batch": {"max": 32},
                                                       "seq": {"max": 512}}
    assert [i["shape"] for i in graph["inputs"]] == [["batch", "seq"], ["batch", "seq"]]
    rng = np.random.default_rng(4)
    shapes = [(b, s) for b in (1, 3, 8, 32) for s in (7, 64, 128, 300)]
    shapes += [(int(rng.integers(1, 33)), int(rng.integers(1, 513))) for _ in range(20)]
    reference = model.double()
    for batch, seq in shapes:
        ids = rng.integers(0, 100, (batch, seq))
        mask = np.ones((batch, seq), np.int64)
        for row in range(batch):
            mask[row, rng.integers(1, seq + 1):] = 0
        out = exe(ids, mask)
        with torch.no_grad():
            ref = reference(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
        kept = mask.astype(bool)
        assert out.shape == ref.shape
        assert np.abs(out - ref)[kept].max() / np.abs(ref).max() < 1e-5, (batch, seq)
    model.float()


def cuda_plan_fields(plan):
    """Every {"expr": N} a launch plan holds, and the symbols its expressions
    name."""
    refs, symbols = [], set()

    def walk(value):
        if isinstance(value, dict):
            if set(value) == {"expr"}:
                refs.append(value["expr"])
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
    walk({k: v for k, v in plan.items() if k != "exprs"})
    symbols = {e[1] for e in plan["exprs"] if e[0] == "symbol"}
    return refs, symbols


@pytest.mark.skipif(not pathlib.Path("/usr/local/cuda/nvvm/libdevice/libdevice.10.bc").exists(),
                    reason="no CUDA toolkit (libdevice) to compile for cuda")
def test_cuda_target_compiles_symbolic_dims(tools_dir, tmp_path, bert_any_shape):
    """The MLP and the transformers BERT, with symbolic batch and length,
    compile for cuda: the manifest keeps the symbols and each plan sizes its
    grids, temporaries and copies by expressions of them (which the runtime
    evaluates per call: test/unit/LaunchPlanTest.cpp; numerics on a GPU:
    scripts/gpu-check.sh)."""
    mlp = tmp_path / "mlp.json"
    mlp.write_text(json.dumps(MLP))
    for name, path, symbols in (("mlp", mlp, ["batch"]),
                                ("bert", bert_any_shape[3], ["batch", "seq"])):
        out = tmp_path / f"{name}.ube"
        result = subprocess.run([tools_dir / "ube-compile", path, "--target=cuda:sm_90", "-o",
                                 out], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        entry = read_manifest(out)["entries"][0]
        assert [s["name"] for s in entry["symbols"]] == symbols
        plan = entry["plan"] if isinstance(entry["plan"], dict) else json.loads(entry["plan"])
        refs, named = cuda_plan_fields(plan)
        assert refs and all(0 <= r < len(plan["exprs"]) for r in refs)
        assert named == set(range(len(symbols)))
        assert any(isinstance(s["grid"][0], dict) for s in plan["steps"] if s["op"] == "launch")


def test_transformers_bert_refuses_bad_shapes(ube_module, bert_any_shape):
    _, _, exe, _ = bert_any_shape
    ids = np.zeros((2, 600), np.int64)
    with pytest.raises(ube_module.RuntimeError, match=r"has seq = 600, outside its bounds "
                                                      r"\(1 to 512\)"):
        exe(ids, np.ones_like(ids))
    with pytest.raises(ube_module.RuntimeError, match="must agree on seq, got 7 and 8"):
        exe(np.zeros((2, 7), np.int64), np.ones((2, 8), np.int64))


def test_compile_module_with_dynamic_shapes(ube_module):
    """ube.compile of a torch module with Dims: one executable, any batch."""
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.GELU(),
                                torch.nn.Linear(32, 4)).eval()
    batch = torch.export.Dim("batch", max=64)
    exe = ube_module.compile(model, example_inputs=(torch.randn(3, 16),),
                             dynamic_shapes=({0: batch},))
    for rows in (1, 5, 64):
        x = torch.randn(rows, 16)
        with torch.no_grad():
            ref = model.double()(x.double()).numpy()
        model.float()
        assert rel_error(exe(x.numpy()), ref) < 2e-6
    with pytest.raises(TypeError, match="dynamic_shapes applies to compiling a torch module"):
        ube_module.compile("graph.json", dynamic_shapes=({0: batch},))


def test_depthwise_convolution_any_batch(ube_module):
    """MobileNetV2's inverted residual (1×1 expansion, depthwise 3×3 at
    stride 2, 1×1 projection) with a symbolic batch: the depthwise plane
    kernel's task split computed at run time."""
    torch.manual_seed(2)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(4, 12, 1), torch.nn.ReLU6(),
        torch.nn.Conv2d(12, 12, 3, stride=2, padding=1, groups=12), torch.nn.ReLU6(),
        torch.nn.Conv2d(12, 6, 1)).eval()
    batch = torch.export.Dim("batch", max=32)
    exe = ube_module.compile(model, example_inputs=(torch.randn(2, 4, 19, 35),),
                             dynamic_shapes=({0: batch},))
    for n in (1, 3, 17):
        x = torch.randn(n, 4, 19, 35)
        with torch.no_grad():
            ref = model.double()(x.double()).numpy()
        model.float()
        assert rel_error(exe(x.numpy()), ref) < 2e-6


WINDOW_LAYERS = {  # name -> (module, one input's shape)
    "conv1d grouped, stride 2": (lambda: torch.nn.Conv1d(4, 6, 3, stride=2, padding=1,
                                                         groups=2), (4, 11)),
    "conv1d 1x1, stride 2": (lambda: torch.nn.Conv1d(4, 6, 1, stride=2), (4, 11)),
    "conv2d 3x3": (lambda: torch.nn.Conv2d(3, 5, 3, padding=1), (3, 7, 9)),
    "conv2d grouped, dilated": (lambda: torch.nn.Conv2d(4, 6, 3, padding=2, dilation=2,
                                                        groups=2), (4, 8, 8)),
    "conv3d, stride 2": (lambda: torch.nn.Conv3d(2, 4, 3, stride=2, padding=1), (2, 5, 6, 6)),
    "conv3d 1x1, stride 2": (lambda: torch.nn.Conv3d(2, 4, 1, stride=2), (2, 5, 6, 6)),
    "max_pool2d": (lambda: torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1),
                                               torch.nn.MaxPool2d(3, 2, 1)), (3, 9, 9)),
    "avg_pool2d": (lambda: torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1),
                                               torch.nn.AvgPool2d(3, 2, 1)), (3, 9, 9)),
}


@pytest.mark.parametrize("name", list(WINDOW_LAYERS))
def test_window_gradients_any_batch(ube_module, name):
    """Convolution and pooling gradients on a symbolic batch (torch.compile,
    the batch marked dynamic): the input's and the parameters' gradients
    against float64 autograd at batches 3 and 5, one forward and one
    backward executable for both."""
    build, shape = WINDOW_LAYERS[name]
    check_window_gradients(build, [(batch, *shape) for batch in (3, 5)], dynamic=(0,))


def check_window_gradients(build, shapes, dynamic):
    """The input's and the parameters' gradients of the module `build`
    makes through torch.compile (dimensions `dynamic` of the input marked
    dynamic) against float64 autograd at each input shape (1e-5 relative),
    all from one forward and one backward executable."""
    import copy
    import warnings
    from ube.torch_backend import compiled_graphs, reset_report
    torch.manual_seed(3)
    module = build()
    reference = copy.deepcopy(module).double()
    torch._dynamo.reset()
    reset_report()
    compiled = torch.compile(module, backend="ube")
    for shape in shapes:
        module.zero_grad()
        reference.zero_grad()
        x = torch.randn(*shape, requires_grad=True)
        for d in dynamic:
            torch._dynamo.mark_dynamic(x, d)
        x64 = x.detach().double().requires_grad_()
        weights = torch.randn(reference(x64).shape)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (compiled(x) * weights).sum().backward()
        (reference(x64) * weights.double()).sum().backward()
        got = torch.cat([x.grad.flatten()] + [p.grad.flatten() for p in module.parameters()])
        want = torch.cat([x64.grad.flatten()] + [p.grad.flatten()
                                                 for p in reference.parameters()])
        assert rel_error(got.double(), want) < 1e-5, shape
    reports = compiled_graphs()
    assert [r["graph"] for r in reports] == ["forward", "backward"], reports
    assert all(r["eager"] == [] for r in reports), reports


PLANE_LAYERS = {  # name -> (module, channels, planes of the calls)
    "conv1d grouped, stride 2": (lambda: torch.nn.Conv1d(4, 6, 3, stride=2, padding=1,
                                                         groups=2), 4, [(11,), (16,), (9,)]),
    "conv1d padded past its span": (lambda: torch.nn.Conv1d(2, 3, 2, padding=2), 2,
                                    [(7,), (12,)]),
    "conv2d 3x3": (lambda: torch.nn.Conv2d(3, 5, 3, padding=1), 3, [(7, 9), (12, 5)]),
    "conv2d 3x3, stride 2": (lambda: torch.nn.Conv2d(3, 5, 3, stride=2, padding=1), 3,
                             [(9, 11), (12, 7), (6, 13)]),
    # Wide enough that the input gradient's phase products pack their
    # weights (a strided slice of the taps, copied before it is gathered).
    "conv2d 3x3, stride 2, 256 -> 512 channels": (
        lambda: torch.nn.Conv2d(256, 512, 3, stride=2, padding=1), 256, [(5, 6), (7, 4)]),
    "conv2d 5x3, stride 2 by 3": (lambda: torch.nn.Conv2d(2, 4, (5, 3), stride=(2, 3),
                                                            padding=(2, 1)), 2,
                                    [(9, 11), (14, 10)]),
    "conv2d grouped, dilated": (lambda: torch.nn.Conv2d(4, 6, 3, padding=2, dilation=2,
                                                        groups=2), 4, [(8, 9), (11, 6)]),
    "depthwise, stride 2": (lambda: torch.nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4), 4,
                            [(9, 10), (6, 13)]),
    # The depthwise kernels on symbolic planes: rows of whole vectors, of a
    # ragged end and narrower than one (8 lanes on AVX2, 16 on AVX-512),
    # ReLU6 applied in registers.
    "depthwise, ReLU6": (lambda: torch.nn.Sequential(
        torch.nn.Conv2d(4, 4, 3, padding=1, groups=4), torch.nn.ReLU6()), 4,
        [(5, 16), (7, 21), (3, 35)]),
    "depthwise 5x5, dilated": (lambda: torch.nn.Conv2d(3, 3, 5, padding=4, dilation=2, groups=3),
                               3, [(9, 19), (12, 32), (4, 6)]),
    "conv3d, stride 2": (lambda: torch.nn.Conv3d(2, 4, 3, stride=2, padding=1), 2,
                         [(5, 6, 7), (7, 5, 4)]),
    "max_pool2d": (lambda: torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1),
                                               torch.nn.MaxPool2d(3, 2, 1)), 3,
                   [(9, 10), (12, 7)]),
    "max_pool2d ceil mode": (lambda: torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1),
                                                         torch.nn.MaxPool2d(3, 2, ceil_mode=True)),
                             3, [(9, 10), (12, 7), (8, 11)]),
    "avg_pool2d": (lambda: torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1),
                                               torch.nn.AvgPool2d(3, 2, 1)), 3,
                   [(9, 10), (12, 7)]),
    "avg_pool2d without padding, ceil mode": (
        lambda: torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1),
                                    torch.nn.AvgPool2d(3, 2, 1, ceil_mode=True,
                                                       count_include_pad=False)),
        3, [(9, 10), (12, 7), (8, 11)]),
    "avg_pool1d with padding, ceil mode": (
        lambda: torch.nn.Sequential(torch.nn.Conv1d(3, 3, 1),
                                    torch.nn.AvgPool1d(4, 3, 1, ceil_mode=True)),
        3, [(10,), (12,), (14,)]),
}


@pytest.mark.parametrize("name", list(PLANE_LAYERS))
def test_window_gradients_any_image_size(ube_module, name):
    """Convolution and pooling gradients on symbolic planes (torch.compile,
    the batch and every plane marked dynamic): the input's and the
    parameters' gradients against float64 autograd at two or three (batch,
    planes), one forward and one backward executable for all. Strided
    windows leave the input's size unfixed by the output's: the input
    gradients read it at each call."""
    build, channels, planes = PLANE_LAYERS[name]
    shapes = [(batch, channels, *plane) for batch, plane in zip((3, 2, 4), planes)]
    check_window_gradients(build, shapes, dynamic=[d for d in range(len(shapes[0])) if d != 1])


# A CNN's loss over images of any size, differentiated by ube itself
# (the graph's "gradient"): strided and grouped convolutions, max pooling in
# ceil mode, average pooling that does not count its padding.
PLANES_CNN = {"format": "ube.graph", "version": 2,
              "dims": {"batch": {"max": 8}, "h": {"min": 8, "max": 64},
                       "w": {"min": 8, "max": 64}},
              "inputs": [{"name": "x", "dtype": "f32", "shape": ["batch", 3, "h", "w"]},
                         {"name": "w1", "dtype": "f32", "shape": [8, 3, 3, 3]},
                         {"name": "w2", "dtype": "f32", "shape": [8, 4, 3, 3]},
                         {"name": "b2", "dtype": "f32", "shape": [8]}],
              "nodes": [
                  {"name": "c1", "op": "conv", "inputs": ["x", "w1"],
                   "attrs": {"stride": [2, 2], "padding": [1, 1, 1, 1]}},
                  {"name": "a1", "op": "tanh", "inputs": ["c1"]},
                  {"name": "p1", "op": "max_pool", "inputs": ["a1"],
                   "attrs": {"kernel": [3, 3], "stride": [2, 2], "ceil_mode": True}},
                  {"name": "c2", "op": "conv", "inputs": ["p1", "w2", "b2"],
                   "attrs": {"padding": [2, 2, 2, 2], "dilation": [2, 2], "groups": 2}},
                  {"name": "p2", "op": "avg_pool", "inputs": ["c2"],
                   "attrs": {"kernel": [3, 3], "stride": [2, 2], "padding": [1, 1, 1, 1],
                             "count_include_pad": False}},
                  {"name": "sq", "op": "mul", "inputs": ["p2", "p2"]},
                  {"name": "loss", "op": "reduce_sum", "inputs": ["sq"]}],
              "outputs": ["loss"],
              "gradient": {"loss": "loss", "wrt": ["x", "w1", "w2", "b2"]}}


def test_cnn_gradients_any_image_size(ube_module, tmp_path):
    """The graph's own gradient (ube's reverse mode) of a CNN on symbolic
    batch and planes: one executable at five (batch, height, width), the
    loss and every gradient against torch.autograd in float64 (1e-5
    relative to the largest: f32 sums over up to 64² positions)."""
    exe, _ = compiled(ube_module, tmp_path, PLANES_CNN, "planes_cnn")
    rng = np.random.default_rng(11)
    weights = [rng.standard_normal(s).astype(np.float32) * 0.3
               for s in [(8, 3, 3, 3), (8, 4, 3, 3), (8,)]]
    F = torch.nn.functional
    for batch, h, w in [(1, 8, 8), (3, 17, 12), (2, 64, 33), (4, 9, 40), (2, 23, 23)]:
        x = rng.standard_normal((batch, 3, h, w)).astype(np.float32)
        outputs = exe(x, *weights)
        params = [torch.from_numpy(v).double().requires_grad_() for v in [x] + weights]
        xv, w1, w2, b2 = params
        a1 = torch.tanh(F.conv2d(xv, w1, stride=2, padding=1))
        p1 = F.max_pool2d(a1, 3, 2, ceil_mode=True)
        c2 = F.conv2d(p1, w2, b2, padding=2, dilation=2, groups=2)
        p2 = F.avg_pool2d(c2, 3, 2, 1, count_include_pad=False)
        loss = (p2 * p2).sum()
        loss.backward()
        assert rel_error(outputs[0], loss.item()) < 2e-6, (batch, h, w)
        for name, got, param in zip(["x", "w1", "w2", "b2"], outputs[1:], params):
            assert got.shape == param.shape, (name, batch, h, w)
            assert rel_error(got, param.grad.numpy()) < 1e-5, (name, batch, h, w)


# A strided convolution's gradients at a graph's inputs: g's length is a
# derived symbol, the frames of the window over x's length, which the call
# checks.
STRIDED_GRADIENTS = {"format": "ube.graph", "version": 2,
                     "dims": {"batch": {"max": 8}, "len": {"min": 3, "max": 4096},
                              "frames": {"size": "(len - 1) // 2 + 1"}},
                     "inputs": [{"name": "x", "dtype": "f32", "shape": ["batch", 4, "len"]},
                                {"name": "g", "dtype": "f32", "shape": ["batch", 6, "frames"]},
                                {"name": "w", "dtype": "f32", "shape": [6, 2, 3]}],
                     "nodes": [{"name": "dx", "op": "conv_input_grad", "inputs": ["g", "w"],
                                "attrs": {"stride": [2], "padding": [1, 1], "groups": 2,
                                          "input_spatial": ["len"]}},
                               {"name": "dw", "op": "conv_weight_grad", "inputs": ["x", "g"],
                                "attrs": {"kernel": [3], "stride": [2], "padding": [1, 1],
                                          "groups": 2}}],
                     "outputs": ["dx", "dw"]}


def test_inputs_naming_a_derived_symbol(ube_module, tmp_path):
    """g's length named by a derived symbol ((len - 1) // 2 + 1): the
    gradients of Conv1d(4, 6, 3, stride 2, padding 1, groups 2) at lengths
    odd and even against float64 autograd, and a g of another length refused
    naming the input, the symbol and its expression."""
    exe, _ = compiled(ube_module, tmp_path, STRIDED_GRADIENTS, "strided_gradients")
    rng = np.random.default_rng(12)
    w = rng.standard_normal((6, 2, 3)).astype(np.float32)
    for batch, length in [(1, 3), (2, 10), (3, 11), (2, 1001)]:
        frames = (length - 1) // 2 + 1
        x = rng.standard_normal((batch, 4, length)).astype(np.float32)
        g = rng.standard_normal((batch, 6, frames)).astype(np.float32)
        dx, dw = exe(x, g, w)
        xv = torch.from_numpy(x).double().requires_grad_()
        wv = torch.from_numpy(w).double().requires_grad_()
        y = torch.nn.functional.conv1d(xv, wv, stride=2, padding=1, groups=2)
        y.backward(torch.from_numpy(g).double())
        assert rel_error(dx, xv.grad.numpy()) < 2e-6, (batch, length)
        assert rel_error(dw, wv.grad.numpy()) < 2e-6, (batch, length)
    x = np.zeros((2, 4, 11), np.float32)
    with pytest.raises(ube_module.RuntimeError,
                       match=r"input 'g' has frames = 5, but the other inputs make it "
                             r"\(len - 1\) // 2 \+ 1 = 6"):
        exe(x, np.zeros((2, 6, 5), np.float32), w)


def audio_frontend():
    """PyTorch's own layers over a signal of any length: strided, padded,
    dilated, depthwise and pointwise 1-D convolutions, GroupNorm, GELU and
    average pooling that does not count its padding."""
    nn = torch.nn
    return nn.Sequential(nn.Conv1d(2, 8, 5, stride=2, padding=1), nn.GroupNorm(4, 8),
                         nn.GELU(), nn.AvgPool1d(3, stride=2, padding=1, count_include_pad=False),
                         nn.Conv1d(8, 8, 3, dilation=2, groups=8), nn.Conv1d(8, 4, 1))


def image_classifier():
    """A small CNN over images of any size: strided convolution, batch norm
    (folded), max pooling, depthwise and pointwise convolutions, Hardswish,
    average and adaptive pooling, a linear head. Every parameter and the
    running statistics re-randomized."""
    nn = torch.nn
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.MaxPool2d(3, 2, 1), nn.Conv2d(8, 8, 3, padding=1, groups=8),
                          nn.Hardswish(), nn.Conv2d(8, 16, 1), nn.AvgPool2d(2),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 5)).eval()
    for p in model.parameters():
        p.data.normal_()
    model[1].running_mean.normal_()
    model[1].running_var.uniform_(0.5, 2)
    return model


@pytest.mark.parametrize("path", ["export", "onnx"])
def test_convolutions_any_length(ube_module, path, tmp_path):
    """One executable for any length: torch.export Dims, or ONNX dim_params,
    on the batch and the length; the output's length ((len − 3) // 2 + 1,
    pooled, less the dilated kernel) is computed at each call. Through ONNX,
    GroupNorm is a Reshape to [N, G, -1] and back to Shape(x), sizes ONNX's
    shape inference leaves unknown: the graph file names them as dimensions
    of the values that have them. Against float64 PyTorch at four (batch,
    length) pairs, a random one among them."""
    import warnings
    from torch.export import Dim
    torch.manual_seed(0)
    model = audio_frontend()
    example = torch.randn(2, 2, 40)
    if path == "export":
        exe = ube_module.compile(model, example_inputs=(example,),
                                 dynamic_shapes=({0: Dim("batch", max=8),
                                                  2: Dim("len", min=32, max=4096)},))
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (example,), str(tmp_path / "audio.onnx"), dynamo=False,
                              input_names=["x"], dynamic_axes={"x": {0: "batch", 2: "len"}})
        exe = ube_module.compile(tmp_path / "audio.onnx",
                                 dims={"batch": {"max": 8}, "len": {"min": 32, "max": 4096}})
    generator = torch.Generator().manual_seed(1)
    length = int(torch.randint(32, 4096, (1,), generator=generator))
    for batch, length in [(1, 32), (3, 33), (2, 1000), (5, length)]:
        x = torch.randn(batch, 2, length, generator=generator)
        out = exe(x.numpy())
        with torch.no_grad():
            ref = model.double()(x.double())
        model.float()
        assert out.shape == tuple(ref.shape)
        assert rel_error(out, ref) < 2e-6


@pytest.mark.parametrize("fused_kernels", [True, False])
def test_convolution_geometries_any_image_size(ube_module, fused_kernels):
    """PyTorch's Conv2d over planes of any size: grouped with dilation,
    stride (2, 1) and unequal padding; 3×3 at stride 1; a strided 1×1. The
    patches are an im2col over the output's positions counted at run time,
    which the cpu matmul kernels (fused_kernels) read as runs of one or two
    output rows where the columns' stride is 1 (rows of 40 and more: one
    run, two, and a ragged panel; rows of 8 to 10: narrower than a panel),
    gather otherwise, or the generic lowering copies. Against float64
    PyTorch at odd, wide and tall sizes."""
    from torch.export import Dim
    nn = torch.nn
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(4, 6, 3, stride=(2, 1), padding=(1, 2), dilation=(2, 1),
                                    groups=2),
                          nn.Conv2d(6, 8, 3, padding=1), nn.Conv2d(8, 5, 1, stride=2)).eval()
    exe = ube_module.compile(model, example_inputs=(torch.randn(2, 4, 20, 24),),
                             dynamic_shapes=({0: Dim("batch", max=4), 2: Dim("h", min=8, max=256),
                                              3: Dim("w", min=8, max=256)},),
                             fused_kernels=fused_kernels)
    generator = torch.Generator().manual_seed(4)
    for batch, h, w in [(1, 8, 8), (3, 17, 40), (2, 64, 9), (1, 9, 71)]:
        x = torch.randn(batch, 4, h, w, generator=generator)
        out = exe(x.numpy())
        with torch.no_grad():
            ref = model.double()(x.double())
        model.float()
        assert out.shape == tuple(ref.shape), (batch, h, w)
        assert rel_error(out, ref) < 2e-6, (batch, h, w)


def test_small_planes_grouped_images(ube_module):
    """Convolutions over planes of fewer than 128 positions put several
    images side by side in one product, chosen at run time (the cpu matmul
    kernels' image groups): a 3×3 one (patches) with its bias and ReLU on
    the accumulators, a pointwise one (the planes themselves) and a strided
    1×1 one. At 6×6 on 5 images (groups of 4 and 1), 3×3 on 8 (one group),
    7×7 on 3, 11×11 on 2 (one image a group: 121 positions) and 4×4 on 1.
    Against float64 PyTorch, and bit for bit against an executable compiled
    for the shape (static planes put the batch side by side too, and every
    element is summed in the same order)."""
    from torch.export import Dim
    nn = torch.nn
    torch.manual_seed(5)
    model = nn.Sequential(nn.Conv2d(24, 40, 3, padding=1), nn.ReLU(), nn.Conv2d(40, 36, 1),
                          nn.Conv2d(36, 20, 1, stride=2)).eval()
    exe = ube_module.compile(model, example_inputs=(torch.randn(2, 24, 9, 9),),
                             dynamic_shapes=({0: Dim("batch", max=8), 2: Dim("h", min=3, max=64),
                                              3: Dim("w", min=3, max=64)},))
    generator = torch.Generator().manual_seed(6)
    for batch, side in [(5, 6), (8, 3), (3, 7), (2, 11), (1, 4)]:
        x = torch.randn(batch, 24, side, side, generator=generator)
        out = exe(x.numpy())
        with torch.no_grad():
            ref = model.double()(x.double())
        model.float()
        assert out.shape == tuple(ref.shape), (batch, side)
        # f32 sums of at most 216 products, relative to the largest output.
        assert rel_error(out, ref) < 2e-6, (batch, side)
        static = ube_module.compile(model, example_inputs=(x,))
        assert np.array_equal(out, static(x.numpy())), (batch, side)


@pytest.mark.parametrize("path", ["export", "onnx"])
def test_constant_padding_any_image_size(ube_module, path, tmp_path):
    """PyTorch's ZeroPad2d (unequal sides) and ConstantPad2d around a
    strided convolution, on planes of any size: a padded symbolic size is
    no product of the symbols, so the graph file names it as the padded
    value's dimension. Through torch.export Dims and ONNX dim_params (its
    Pad with constant pads), against float64 PyTorch."""
    import warnings
    from torch.export import Dim
    nn = torch.nn
    torch.manual_seed(5)
    model = nn.Sequential(nn.ZeroPad2d((1, 2, 0, 1)), nn.Conv2d(3, 4, 3, stride=2),
                          nn.ConstantPad2d(1, 0.5), nn.ReLU()).eval()
    example = torch.randn(2, 3, 20, 17)
    if path == "export":
        exe = ube_module.compile(model, example_inputs=(example,), dynamic_shapes=(
            {0: Dim("b", max=4), 2: Dim("h", min=8, max=64), 3: Dim("w", min=8, max=64)},))
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (example,), str(tmp_path / "pad.onnx"), dynamo=False,
                              input_names=["x"], dynamic_axes={"x": {0: "b", 2: "h", 3: "w"}})
        exe = ube_module.compile(tmp_path / "pad.onnx")
    generator = torch.Generator().manual_seed(6)
    for batch, h, w in [(1, 8, 8), (3, 21, 30)]:
        x = torch.randn(batch, 3, h, w, generator=generator)
        out = exe(x.numpy())
        with torch.no_grad():
            ref = model.double()(x.double())
        model.float()
        assert out.shape == tuple(ref.shape)
        assert rel_error(out, ref) < 2e-6


@pytest.mark.parametrize("path", ["export", "onnx", "compile"])
def test_image_classifier_any_image_size(ube_module, path, tmp_path):
    """One executable for any image size: the batch and both planes symbolic
    (torch.export Dims, ONNX dim_params, torch.compile(dynamic=True)), run
    at square, odd and wide sizes against float64 PyTorch. Under
    torch.compile the whole graph is one ube executable."""
    import warnings
    from torch.export import Dim
    from ube.torch_backend import compiled_graphs, reset_report
    model = image_classifier()
    example = torch.randn(2, 3, 64, 48)
    if path == "export":
        exe = ube_module.compile(model, example_inputs=(example,), dynamic_shapes=(
            {0: Dim("batch", max=8), 2: Dim("h", min=32, max=1024),
             3: Dim("w", min=32, max=1024)},))
    elif path == "onnx":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (example,), str(tmp_path / "cnn.onnx"), dynamo=False,
                              input_names=["x"], dynamic_axes={"x": {0: "b", 2: "h", 3: "w"}})
        exe = ube_module.compile(tmp_path / "cnn.onnx")
    else:
        torch._dynamo.reset()
        reset_report()
        compiled = torch.compile(model, backend="ube", dynamic=True)

        def exe(x):
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return compiled(torch.from_numpy(x)).numpy()
    generator = torch.Generator().manual_seed(2)
    for batch, h, w in [(2, 32, 32), (3, 33, 71), (2, 97, 50)]:
        x = torch.randn(batch, 3, h, w, generator=generator)
        out = exe(x.numpy())
        out = out[0] if isinstance(out, tuple) else out
        with torch.no_grad():
            ref = model.double()(x.double())
        model.float()
        assert out.shape == tuple(ref.shape)
        assert rel_error(out, ref) < 2e-6
    if path == "compile":
        reports = compiled_graphs()
        assert all(r["eager"] == [] and r["partitions"] == 1 for r in reports), reports


@pytest.mark.parametrize("path", ["export", "onnx"])
def test_wav2vec2_any_length(ube_module, path, tmp_path):
    """transformers' Wav2Vec2 (a small config, re-randomized) over audio of
    any length: torch.export with a multiple of a Dim for the samples (as
    torch.export asks of strided convolutions), or ONNX with a dim_param
    for them (any length at all), so the frames, the positional
    convolution's cropped output (a Slice to the end less one) and the
    attention over them are sizes computed at each call (graph files name
    them as dimensions of values that have them). Against float64 PyTorch
    at four lengths."""
    import warnings
    from torch.export import Dim
    from test_client_models import client, first_output
    model, inputs, reference = client("Wav2Vec2Model")
    lengths = [(1, 400), (3, 420), (2, 1000), (1, 3340)]
    if path == "export":
        samples = 20 * Dim("_samples", min=20, max=800)
        exe = ube_module.compile(model, example_inputs=inputs,
                                 dynamic_shapes=({0: Dim("batch", max=8), 1: samples},))
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, tuple(inputs), str(tmp_path / "wav2vec2.onnx"),
                              dynamo=False, input_names=["x"],
                              dynamic_axes={"x": {0: "batch", 1: "samples"}})
        exe = ube_module.compile(tmp_path / "wav2vec2.onnx",
                                 dims={"batch": {"max": 8}, "samples": {"min": 400, "max": 16000}})
        lengths[2] = (2, 1003)
    generator = torch.Generator().manual_seed(3)
    for batch, length in lengths:
        x = torch.randn(batch, length, generator=generator)
        out = exe(x.numpy())
        out = out[0] if isinstance(out, tuple) else out
        with torch.no_grad():
            ref = first_output(reference(x.double()))
        assert out.shape == tuple(ref.shape)
        assert rel_error(out, ref) < 1e-5
    if path == "export":
        with pytest.raises(Exception, match="a multiple of 20"):
            exe(np.zeros((1, 410), np.float32))


def test_window_too_small_is_refused(ube_module, tmp_path):
    """An input shorter than a convolution's window: the call is refused
    before anything runs, naming the sizes, from Python as from ube-run
    (e2e/symbolic-windows.test)."""
    graph = {"format": "ube.graph", "version": 2,
             "dims": {"len": {"max": 512}},
             "inputs": [{"name": "x", "dtype": "f32", "shape": [1, 2, "len"]},
                        {"name": "w", "dtype": "f32", "shape": [4, 2, 7]}],
             "nodes": [{"name": "y", "op": "conv", "inputs": ["x", "w"]}],
             "outputs": ["y"]}
    exe, _ = compiled(ube_module, tmp_path, graph, "short")
    w = np.ones((4, 2, 7), np.float32)
    assert exe(np.ones((1, 2, 7), np.float32), w).shape == (1, 4, 1)
    with pytest.raises(Exception, match=r"at len = 6 the size 'y.2' is -1: the inputs are too "
                                        r"small for the graph"):
        exe(np.ones((1, 2, 6), np.float32), w)


# The distillation loss over every token of a batch of any length: the
# fused KD kernel on a symbolic row count (batch·seq rows of a vocabulary).
KD = {"format": "ube.graph", "version": 2,
      "dims": {"batch": {"max": 16}, "seq": {"max": 128}},
      "inputs": [{"name": "student", "dtype": "f32", "shape": ["batch", "seq", 50]},
                 {"name": "teacher", "dtype": "f32", "shape": ["batch", "seq", 50]},
                 {"name": "labels", "dtype": "i64", "shape": ["batch", "seq"]}],
      "nodes": [{"name": "loss", "op": "kd_loss", "inputs": ["student", "teacher", "labels"],
                 "attrs": {"temperature": 2.0, "alpha": 0.5, "ignore_index": -100}}],
      "outputs": ["loss"]}


def test_kd_loss_any_batch_and_length(ube_module, tmp_path):
    """Hinton's loss (KL at T = 2 scaled by T², plus 0.5·cross-entropy, rows
    labelled -100 left out) against PyTorch in float64 at each shape."""
    exe, _ = compiled(ube_module, tmp_path, KD, "kd")
    rng = np.random.default_rng(5)
    F = torch.nn.functional
    for batch, seq in [(1, 7), (3, 64), (16, 128), (5, 1)] + [
            (int(rng.integers(1, 17)), int(rng.integers(1, 129))) for _ in range(10)]:
        s = rng.standard_normal((batch, seq, 50)).astype(np.float32) * 3
        t = rng.standard_normal((batch, seq, 50)).astype(np.float32) * 3
        labels = rng.integers(0, 50, (batch, seq))
        labels[rng.random((batch, seq)) < 0.2] = -100
        loss = exe(s, t, labels)
        st, tt = torch.from_numpy(s).double().reshape(-1, 50), torch.from_numpy(t).double()
        tt = tt.reshape(-1, 50)
        keep = torch.from_numpy(labels.reshape(-1) != -100)
        if not keep.any():
            continue
        kl = F.kl_div(F.log_softmax(st[keep] / 2, -1), F.log_softmax(tt[keep] / 2, -1),
                      reduction="batchmean", log_target=True) * 4
        ce = F.cross_entropy(st[keep], torch.from_numpy(labels.reshape(-1))[keep])
        ref = (kl + 0.5 * ce).item()
        assert abs(float(loss) - ref) / abs(ref) < 1e-5, (batch, seq)


# The hidden-state and attention terms of a distillation step over a batch
# of any length, with their gradients: the composition of the ops on
# symbolic sizes (counts taken at run time, all keys as one block).
TERMS = {"format": "ube.graph", "version": 2,
         "dims": {"batch": {"max": 8}, "seq": {"max": 64}},
         "inputs": [{"name": "hs", "dtype": "f32", "shape": ["batch", "seq", 6]},
                    {"name": "ht", "dtype": "f32", "shape": ["batch", "seq", 12]},
                    {"name": "w", "dtype": "f32", "shape": [6, 12]},
                    {"name": "qs", "dtype": "f32", "shape": ["batch", 2, "seq", 8]},
                    {"name": "ks", "dtype": "f32", "shape": ["batch", 2, "seq", 8]},
                    {"name": "qt", "dtype": "f32", "shape": ["batch", 2, "seq", 4]},
                    {"name": "kt", "dtype": "f32", "shape": ["batch", 2, "seq", 4]},
                    {"name": "mask", "dtype": "i1", "shape": ["batch", "seq"]},
                    {"name": "ph", "dtype": "f32", "shape": ["batch", "seq", 8]},
                    {"name": "pw", "dtype": "f32", "shape": [30, 8]},
                    {"name": "th", "dtype": "f32", "shape": ["batch", "seq", 8]},
                    {"name": "tw", "dtype": "f32", "shape": [30, 8]},
                    {"name": "labels", "dtype": "i64", "shape": ["batch", "seq"]}],
         "nodes": [{"name": "feature", "op": "feature_map_loss", "inputs": ["hs", "ht", "w"],
                    "attrs": {"beta": 0.5, "gamma": 0.25}},
                   {"name": "attention", "op": "attention_transfer_loss",
                    "inputs": ["qs", "ks", "qt", "kt", "mask"]},
                   {"name": "kd", "op": "projected_kd_loss",
                    "inputs": ["ph", "pw", "th", "tw", "labels"],
                    "attrs": {"temperature": 2.0, "alpha": 0.5}},
                   {"name": "fa", "op": "add", "inputs": ["feature", "attention"]},
                   {"name": "loss", "op": "add", "inputs": ["fa", "kd"]}],
         "outputs": ["loss", "feature", "attention", "kd"],
         "gradient": {"loss": "loss", "wrt": ["hs", "w", "qs", "ks", "ph", "pw"]}}


def projected_kd_reference(ph, pw, th, tw, labels):
    """projected_kd_loss at T = 2 with half the cross-entropy, over the rows
    not labelled -100, and its gradients for ph and pw, in float64."""
    F = torch.nn.functional
    phv, pwv = (torch.from_numpy(a).double().requires_grad_() for a in (ph, pw))
    s = (phv @ pwv.T).reshape(-1, pw.shape[0])
    t = (torch.from_numpy(th).double() @ torch.from_numpy(tw).double().T).reshape(s.shape)
    keep = torch.from_numpy(labels.reshape(-1) != -100)
    kl = F.kl_div(F.log_softmax(s[keep] / 2, -1), F.log_softmax(t[keep] / 2, -1),
                  reduction="batchmean", log_target=True) * 4
    loss = kl + 0.5 * F.cross_entropy(s[keep], torch.from_numpy(labels.reshape(-1))[keep])
    loss.backward()
    return loss.item(), phv.grad.numpy(), pwv.grad.numpy()


@pytest.mark.parametrize("fused", [True, False])
def test_distillation_terms_any_batch_and_length(ube_module, tmp_path, fused):
    """feature_map_loss (projection, mean and variance terms), masked
    attention_transfer_loss and projected_kd_loss with labels, and their
    gradients, by one executable at
    shapes of any batch and length (rows without any kept token among
    them), against torch.autograd in float64; with the target's fused
    kernels and without. Tolerance 2e-5 relative to the largest value: f32
    sums over up to 8·64 tokens."""
    path = tmp_path / "terms.json"
    path.write_text(json.dumps(TERMS))
    exe = ube_module.compile(path, fused_kernels=fused)
    rng = np.random.default_rng(7)
    w = rng.standard_normal((6, 12)).astype(np.float32) * 0.5
    pw, tw = (rng.standard_normal((30, 8)).astype(np.float32) for _ in "st")
    for batch, seq in [(1, 7), (3, 40), (8, 64), (2, 1)] + [
            (int(rng.integers(1, 9)), int(rng.integers(1, 65))) for _ in range(4)]:
        hs, ht = (rng.standard_normal((batch, seq, d)).astype(np.float32) for d in (6, 12))
        qs, ks = (rng.standard_normal((batch, 2, seq, 8)).astype(np.float32) for _ in "qk")
        qt, kt = (rng.standard_normal((batch, 2, seq, 4)).astype(np.float32) * 1.5
                  for _ in "qk")
        mask = np.arange(seq)[None, :] < rng.integers(1, seq + 1, batch)[:, None]
        if batch > 1:
            mask[-1] = False  # a row with no token: it adds nothing
        ph, th = (rng.standard_normal((batch, seq, 8)).astype(np.float32) for _ in "st")
        labels = rng.integers(0, 30, (batch, seq))
        labels[0, 0] = -100
        _, feature, attention, kd, d_hs, d_w, d_qs, d_ks, d_ph, d_pw = exe(
            hs, ht, w, qs, ks, qt, kt, mask, ph, pw, th, tw, labels)
        ref_f, ref_hs, ref_w = feature_map_reference(hs, ht, w, 1.0, 0.5, 0.25)
        ref_a, ref_qs, ref_ks = attention_transfer_reference(qs, ks, qt, kt, mask)
        ref_kd, ref_ph, ref_pw = projected_kd_reference(ph, pw, th, tw, labels) \
            if (labels != -100).any() else (0.0, np.zeros_like(ph), np.zeros_like(pw))
        for name, out, ref in [("feature", feature, ref_f), ("attention", attention, ref_a),
                               ("kd", kd, ref_kd), ("d_hs", d_hs, ref_hs), ("d_w", d_w, ref_w),
                               ("d_qs", d_qs, ref_qs), ("d_ks", d_ks, ref_ks),
                               ("d_ph", d_ph, ref_ph), ("d_pw", d_pw, ref_pw)]:
            assert np.shape(out) == np.shape(ref), (name, batch, seq)
            assert rel_error(out, ref) < 2e-5, (name, batch, seq)


TRANSFER = {"format": "ube.graph", "version": 2,
            "dims": {"batch": {"max": 4}, "seq": {"max": 300}},
            "inputs": [{"name": n, "dtype": "f32", "shape": ["batch", 2, "seq", d]}
                       for n, d in [("qs", 16), ("ks", 16), ("qt", 8), ("kt", 8)]] + [
                {"name": "mask", "dtype": "i1", "shape": ["batch", "seq"]}],
            "nodes": [{"name": "loss", "op": "attention_transfer_loss",
                       "inputs": ["qs", "ks", "qt", "kt", "mask"]}],
            "outputs": ["loss"],
            "gradient": {"loss": "loss", "wrt": ["qs", "ks"]}}


def test_attention_transfer_past_a_key_block_any_length(ube_module, tmp_path):
    """attention_transfer_loss and its gradient on symbolic batch and length
    up to 300 tokens (key blocks and query tiles to the length at run time,
    no [tokens × tokens] map), a padded key mask and a sequence without
    tokens, against float64 (2e-5 relative: sums over up to 300 keys)."""
    path = tmp_path / "transfer.json"
    path.write_text(json.dumps(TRANSFER))
    exe = ube_module.compile(path)
    rng = np.random.default_rng(21)
    for batch, seq in [(1, 300), (2, 129), (3, 65), (2, 1)]:
        qs, ks = (rng.standard_normal((batch, 2, seq, 16)).astype(np.float32) * 2
                  for _ in "qk")
        qt, kt = (rng.standard_normal((batch, 2, seq, 8)).astype(np.float32) for _ in "qk")
        mask = np.arange(seq)[None, :] < rng.integers(1, seq + 1, batch)[:, None]
        if batch == 3:
            mask[1] = False
        loss, d_qs, d_ks = exe(qs, ks, qt, kt, mask)
        ref, ref_qs, ref_ks = attention_transfer_reference(qs, ks, qt, kt, mask)
        assert rel_error(loss, ref) < 2e-5, (batch, seq)
        assert rel_error(d_qs, ref_qs) < 2e-5, (batch, seq)
        assert rel_error(d_ks, ref_ks) < 2e-5, (batch, seq)


# Slices of the features (one of them strided) concatenated: the gradients
# of slice and concat over symbolic batch and length.
PARTS = {"format": "ube.graph", "version": 2,
         "dims": {"batch": {"max": 8}, "seq": {"max": 32}},
         "inputs": [{"name": "x", "dtype": "f32", "shape": ["batch", "seq", 8]},
                    {"name": "w", "dtype": "f32", "shape": [12]}],
         "nodes": [{"name": "q", "op": "slice", "inputs": ["x"],
                    "attrs": {"start": [0, 0, 0], "limit": ["batch", "seq", 4],
                              "stride": [1, 1, 1]}},
                   {"name": "k", "op": "slice", "inputs": ["x"],
                    "attrs": {"start": [0, 0, 1], "limit": ["batch", "seq", 8],
                              "stride": [1, 1, 2]}},
                   {"name": "c", "op": "concat", "inputs": ["q", "k", "q"], "attrs": {"axis": 2}},
                   {"name": "cw", "op": "mul", "inputs": ["c", "w"]},
                   {"name": "sq", "op": "mul", "inputs": ["cw", "c"]},
                   {"name": "loss", "op": "reduce_sum", "inputs": ["sq"]}],
         "outputs": ["loss"],
         "gradient": {"loss": "loss", "wrt": ["x", "w"]}}


def test_slice_and_concat_gradients_any_batch_and_length(ube_module, tmp_path):
    """x[..., :4] and x[..., 1::2] concatenated along the features, at any
    batch and length: gradients against torch.autograd in float64 (2e-6
    relative: f32 products and sums over up to 8·32 rows)."""
    exe, _ = compiled(ube_module, tmp_path, PARTS, "parts")
    rng = np.random.default_rng(8)
    w = rng.standard_normal(12).astype(np.float32)
    for batch, seq in [(1, 1), (3, 5), (8, 32), (2, 17)]:
        x = rng.standard_normal((batch, seq, 8)).astype(np.float32)
        loss, d_x, d_w = exe(x, w)
        xv = torch.from_numpy(x).double().requires_grad_()
        wv = torch.from_numpy(w).double().requires_grad_()
        c = torch.cat([xv[..., :4], xv[..., 1::2], xv[..., :4]], -1)
        ref = (c * wv * c).sum()
        ref.backward()
        assert rel_error(loss, ref.item()) < 2e-6
        assert rel_error(d_x, xv.grad.numpy()) < 2e-6, (batch, seq)
        assert rel_error(d_w, wv.grad.numpy()) < 2e-6, (batch, seq)


ATTENTION = {"format": "ube.graph", "version": 2,
             "dims": {"batch": {"max": 4}, "seq": {"max": 40}},
             "inputs": [{"name": n, "dtype": "f32", "shape": ["batch", 2, "seq", 8]}
                        for n in ("q", "k", "v")] + [
                 {"name": "mask", "dtype": "i1", "shape": ["batch", 1, 1, "seq"]}],
             "nodes": [{"name": "o", "op": "scaled_dot_product_attention",
                        "inputs": ["q", "k", "v", "mask"]},
                       {"name": "o2", "op": "mul", "inputs": ["o", "o"]},
                       {"name": "loss", "op": "reduce_sum", "inputs": ["o2"]}],
             "outputs": ["o", "loss"],
             "gradient": {"loss": "loss", "wrt": ["q", "k", "v"]}}


@pytest.mark.parametrize("fused", [True, False])
def test_attention_any_batch_and_length(ube_module, tmp_path, fused):
    """scaled_dot_product_attention with a key mask and its gradients over
    symbolic batch and length (the composition: matmuls and a softmax),
    with and without the target's kernels, against PyTorch in float64
    (2e-6 relative)."""
    path = tmp_path / "attention.json"
    path.write_text(json.dumps(ATTENTION))
    exe = ube_module.compile(path, fused_kernels=fused)
    rng = np.random.default_rng(9)
    F = torch.nn.functional
    for batch, seq in [(1, 1), (2, 9), (4, 40)]:
        q, k, v = (rng.standard_normal((batch, 2, seq, 8)).astype(np.float32) for _ in "qkv")
        mask = np.arange(seq)[None, None, None, :] < rng.integers(
            1, seq + 1, batch)[:, None, None, None]
        o, _, d_q, d_k, d_v = exe(q, k, v, mask)
        qv, kv, vv = (torch.from_numpy(a).double().requires_grad_() for a in (q, k, v))
        ref = F.scaled_dot_product_attention(qv, kv, vv, attn_mask=torch.from_numpy(mask))
        (ref * ref).sum().backward()
        assert rel_error(o, ref.detach().numpy()) < 2e-6, (batch, seq)
        for name, out, want in [("q", d_q, qv.grad), ("k", d_k, kv.grad), ("v", d_v, vv.grad)]:
            assert rel_error(out, want.numpy()) < 2e-6, (name, batch, seq)


CAUSAL_ATTENTION = {"format": "ube.graph", "version": 2,
                    "dims": {"batch": {"max": 4}, "seq": {"max": 300}},
                    "inputs": [{"name": "q", "dtype": "f32", "shape": ["batch", 4, "seq", 16]},
                               {"name": "k", "dtype": "f32", "shape": ["batch", 2, "seq", 16]},
                               {"name": "v", "dtype": "f32", "shape": ["batch", 2, "seq", 8]},
                               {"name": "r", "dtype": "f32", "shape": ["batch", 4, "seq", 8]}],
                    "nodes": [{"name": "o", "op": "scaled_dot_product_attention",
                               "inputs": ["q", "k", "v"], "attrs": {"is_causal": True}},
                              {"name": "or", "op": "mul", "inputs": ["o", "r"]},
                              {"name": "loss", "op": "reduce_sum", "inputs": ["or"]}],
                    "outputs": ["loss"],
                    "gradient": {"loss": "loss", "wrt": ["q", "k", "v"]}}


def check_causal_gradients(exe, seed, attention):
    """Runs `exe` (CAUSAL_ATTENTION's graph or a variant) at lengths from 1
    to 300 against `attention(q, k, v)` on float64 tensors through autograd:
    the loss and the gradients within 1e-5 relative (sums over up to 300
    keys)."""
    rng = np.random.default_rng(seed)
    for batch, seq in [(1, 1), (3, 7), (2, 65), (1, 300)]:
        q = rng.standard_normal((batch, 4, seq, 16)).astype(np.float32)
        k = rng.standard_normal((batch, 2, seq, 16)).astype(np.float32)
        v = rng.standard_normal((batch, 2, seq, 8)).astype(np.float32)
        r = rng.standard_normal((batch, 4, seq, 8)).astype(np.float32)
        loss, d_q, d_k, d_v = exe(q, k, v, r)
        qv, kv, vv = (torch.from_numpy(a).double().requires_grad_() for a in (q, k, v))
        ref = (attention(qv, kv, vv) * torch.from_numpy(r).double()).sum()
        ref.backward()
        assert rel_error(loss, ref.item()) < 1e-5, (batch, seq)
        for name, out, want in [("q", d_q, qv.grad), ("k", d_k, kv.grad), ("v", d_v, vv.grad)]:
            assert rel_error(out, want.numpy()) < 1e-5, (name, batch, seq)


def test_causal_attention_gradients_any_batch_and_length(ube_module, tmp_path):
    """is_causal with grouped heads on symbolic batch and length, forward
    and backward in the cpu target's flash kernels (no [L, S] block),
    against PyTorch in float64; and through the composition (the cuda
    target's path: the causal bias built from positions at run time)."""
    path = tmp_path / "causal.json"
    path.write_text(json.dumps(CAUSAL_ATTENTION))
    attention = lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(  # noqa: E731
        q, k, v, is_causal=True, enable_gqa=True)
    check_causal_gradients(ube_module.compile(path), 12, attention)
    check_causal_gradients(ube_module.compile(path, fused_kernels=False), 13, attention)


def test_causal_attention_float_mask_gradient_any_batch_and_length(ube_module, tmp_path):
    """A float mask ([batch, 1, 1, seq], a padding bias) under is_causal on
    a symbolic length, its gradient too (the composition's), against the
    scores written out in PyTorch float64 (PyTorch's attention takes no
    mask with is_causal)."""
    graph = json.loads(json.dumps(CAUSAL_ATTENTION))
    graph["inputs"].append({"name": "m", "dtype": "f32", "shape": ["batch", 1, 1, "seq"]})
    graph["nodes"][0]["inputs"].append("m")
    graph["gradient"]["wrt"].append("m")
    path = tmp_path / "causal_mask.json"
    path.write_text(json.dumps(graph))
    exe = ube_module.compile(path)
    rng = np.random.default_rng(14)
    for batch, seq in [(1, 1), (3, 7), (2, 40)]:
        q = rng.standard_normal((batch, 4, seq, 16)).astype(np.float32)
        k = rng.standard_normal((batch, 2, seq, 16)).astype(np.float32)
        v = rng.standard_normal((batch, 2, seq, 8)).astype(np.float32)
        r = rng.standard_normal((batch, 4, seq, 8)).astype(np.float32)
        m = rng.standard_normal((batch, 1, 1, seq)).astype(np.float32)
        outs = exe(q, k, v, r, m)
        ts = [torch.from_numpy(a).double().requires_grad_() for a in (q, k, v, m)]
        tq, tk, tv, tm = ts
        kk, vv = tk.repeat_interleave(2, 1), tv.repeat_interleave(2, 1)
        causal = torch.ones(seq, seq, dtype=torch.bool).tril()
        scores = (tq @ kk.transpose(-1, -2)) / 4 + tm
        scores = scores.masked_fill(~causal, float("-inf"))
        terms = (scores.softmax(-1) @ vv) * torch.from_numpy(r).double()
        ref = terms.sum()
        ref.backward()
        # The loss sums products of random signs: f32's rounding scales with
        # the terms' magnitudes, not with the sum (0.88 from terms whose
        # absolute values add to about 1000 at 2 × 40).
        scale = terms.abs().sum().item()
        assert abs(float(outs[0]) - ref.item()) < 1e-7 * scale, (batch, seq)
        for name, out, t in zip("qkvm", outs[1:], ts):
            assert rel_error(out, t.grad.numpy()) < 1e-5, (name, batch, seq)


def test_causal_attention_dropout_gradients_any_batch_and_length(ube_module, tmp_path):
    """Attention dropout (0.2, seed 5, step 0) on the same symbolic causal
    graph: the kernels draw each probability's keep factor from its index
    in the [batch, 4, seq, seq] probabilities at the shape given, forward
    and backward, as ube.dropout's Philox masks (ubetest.philox_uniforms)
    do in the float64 reference."""
    rate, seed = 0.2, 5
    graph = json.loads(json.dumps(CAUSAL_ATTENTION))
    graph["nodes"][0]["attrs"].update(dropout_p=rate, seed=seed)
    path = tmp_path / "causal_dropout.json"
    path.write_text(json.dumps(graph))

    def attention(q, k, v):
        batch, heads, seq, width = q.shape
        k, v = k.repeat_interleave(2, 1), v.repeat_interleave(2, 1)
        causal = torch.ones(seq, seq, dtype=torch.bool).tril()
        p = torch.softmax((q @ k.transpose(-1, -2) / np.sqrt(width)).masked_fill(~causal, -np.inf),
                          -1)
        kept = torch.from_numpy(philox_uniforms((batch, heads, seq, seq), 0, seed) >= rate)
        return (p * kept / (1 - rate)) @ v
    check_causal_gradients(ube_module.compile(path), 13, attention)


def test_encoder_gradients_any_batch_and_length(ube_module, tmp_path):
    """Gradients on symbolic shapes: the encoder graph's loss differentiated
    with respect to every weight (embedding rows scattered back, the layer
    norm's and linear layer's parameters) by one executable, at shapes of
    any batch and length, against torch.autograd in float64. Tolerance 2e-5
    relative to the largest gradient: f32 sums over up to 32·200 tokens."""
    graph = dict(ENCODER, gradient={"loss": "loss", "wrt": ["emb", "w", "b", "g", "beta"]})
    exe, _ = compiled(ube_module, tmp_path, graph, "encoder_grad")
    rng = np.random.default_rng(6)
    weights = [rng.standard_normal(s).astype(np.float32) * 0.5
               for s in [(100, 16), (8, 16), (8,), (16,), (16,)]]
    for batch, seq in [(1, 7), (3, 64), (8, 128), (2, 200)] + [
            (int(rng.integers(1, 33)), int(rng.integers(1, 100))) for _ in range(6)]:
        ids = rng.integers(0, 100, (batch, seq))
        labels = rng.integers(0, 8, batch)
        outputs = exe(ids, labels, *weights)
        params = [torch.from_numpy(w).double().requires_grad_() for w in weights]
        encoder_torch(ids, labels, *params)[2].backward()
        for name, out, param in zip(["emb", "w", "b", "g", "beta"], outputs[3:], params):
            ref = param.grad.numpy()
            assert out.shape == ref.shape
            assert np.abs(out - ref).max() / np.abs(ref).max() < 2e-5, (name, batch, seq)


def test_encoder_training_on_variable_lengths(ube_module, tmp_path):
    """One compiled AdamW training step of the encoder graph run on batches
    of a different (batch, length) every step, against torch.optim.AdamW on
    the same batches in float64: the losses and the parameters after eight
    steps agree (1e-4 relative; f32 against float64 through eight updates)."""
    graph = dict(ENCODER, outputs=["loss"],
                 train={"loss": "loss", "params": ["emb", "w", "b", "g", "beta"],
                        "optimizer": {"kind": "adamw", "lr": 1e-2, "weight_decay": 0.01}})
    exe, _ = compiled(ube_module, tmp_path, graph, "encoder_train")
    rng = np.random.default_rng(7)
    names = ["emb", "w", "b", "g", "beta"]
    initial = [rng.standard_normal(s).astype(np.float32) * 0.5
               for s in [(100, 16), (8, 16), (8,), (16,), (16,)]]
    step = ube_module.TrainingStep(exe.main, dict(zip(names, initial)))
    params = [torch.from_numpy(w).double().requires_grad_() for w in initial]
    optimizer = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.01)
    for batch, seq in [(4, 9), (1, 33), (7, 5), (2, 64), (5, 17), (3, 3), (8, 40), (1, 1)]:
        ids = rng.integers(0, 100, (batch, seq))
        labels = rng.integers(0, 8, batch)
        loss = step(ids=ids, labels=labels)["loss"]
        ref = encoder_torch(ids, labels, *params)[2]
        optimizer.zero_grad()
        ref.backward()
        optimizer.step()
        assert abs(float(loss) - ref.item()) <= 1e-4 * abs(ref.item()), (batch, seq)
    for name, param in zip(names, params):
        got, want = step.current[name], param.detach().numpy()
        assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max(), name


# A parameter whose shape is named by a symbol: a learned offset per
# position ("prompt", [seq, 16]) added to every sequence of the batch.
PROMPT = {"format": "ube.graph", "version": 2,
          "dims": {"batch": {"max": 16}, "seq": {"max": 64}},
          "inputs": [{"name": "x", "dtype": "f32", "shape": ["batch", "seq", 16]},
                     {"name": "labels", "dtype": "i64", "shape": ["batch"]},
                     {"name": "prompt", "dtype": "f32", "shape": ["seq", 16]},
                     {"name": "w", "dtype": "f32", "shape": [4, 16]}],
          "nodes": [{"name": "h", "op": "add", "inputs": ["x", "prompt"]},
                    {"name": "y", "op": "linear", "inputs": ["h", "w"]},
                    {"name": "pooled", "op": "reduce_mean", "inputs": ["y"],
                     "attrs": {"axes": [1]}},
                    {"name": "loss", "op": "cross_entropy", "inputs": ["pooled", "labels"]}],
          "outputs": ["loss"]}


@pytest.mark.parametrize("optimizer", [
    {"kind": "adamw", "lr": 1e-2, "weight_decay": 0.01},
    {"kind": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}])
def test_training_parameters_of_symbolic_shape(ube_module, tmp_path, optimizer):
    """Optimizer updates of a parameter of symbolic shape: one compiled step
    trains the prompt at each length it is given (its optimizer state starts
    at zeros of its shape and carries the same symbols), against
    torch.optim in float64 over five steps at each of two lengths. 1e-5
    relative: f32 against float64 through five updates of sums over up to
    8 × 40 positions."""
    graph = dict(PROMPT, train={"loss": "loss", "params": ["prompt", "w"],
                                "optimizer": optimizer})
    exe, _ = compiled(ube_module, tmp_path, graph, f"prompt_{optimizer['kind']}")
    shapes = {name: shape for name, _, shape in exe.main.inputs}
    state = "prompt.exp_avg" if optimizer["kind"] == "adamw" else "prompt.momentum_buffer"
    assert shapes[state] == [-1, 16]
    rng = np.random.default_rng(11)
    for batch, seq in [(3, 5), (8, 40)]:
        initial = {"prompt": rng.standard_normal((seq, 16)).astype(np.float32) * 0.1,
                   "w": rng.standard_normal((4, 16)).astype(np.float32) * 0.5}
        step = ube_module.TrainingStep(exe.main, initial)
        params = {k: torch.from_numpy(v).double().requires_grad_() for k, v in initial.items()}
        options = {k: v for k, v in optimizer.items() if k != "kind"}
        reference = (torch.optim.AdamW if optimizer["kind"] == "adamw" else torch.optim.SGD)(
            list(params.values()), **options)
        for _ in range(5):
            x = rng.standard_normal((batch, seq, 16)).astype(np.float32)
            labels = rng.integers(0, 4, batch)
            loss = step(x=x, labels=labels)["loss"]
            pooled = ((torch.from_numpy(x).double() + params["prompt"]) @ params["w"].T).mean(1)
            ref = torch.nn.functional.cross_entropy(pooled, torch.from_numpy(labels))
            reference.zero_grad()
            ref.backward()
            reference.step()
            assert abs(float(loss) - ref.item()) <= 1e-5 * abs(ref.item()), (batch, seq)
        for name, param in params.items():
            got, want = step.current[name], param.detach().numpy()
            assert got.shape == want.shape
            assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max(), (name, batch, seq)


def test_training_parameter_of_symbolic_shape_errors(ube_module, tmp_path):
    """A symbolic parameter of the wrong rank, and one whose length disagrees
    with the batch's (the same symbol), are refused with their names."""
    graph = dict(PROMPT, train={"loss": "loss", "params": ["prompt", "w"],
                                "optimizer": {"kind": "adamw", "lr": 1e-2}})
    exe, _ = compiled(ube_module, tmp_path, graph, "prompt_errors")
    w = np.zeros((4, 16), np.float32)
    with pytest.raises(ValueError, match=r"'prompt' has shape \[5\], the step expects \[\?, 16\]"):
        ube_module.TrainingStep(exe.main, {"prompt": np.zeros(5, np.float32), "w": w})
    step = ube_module.TrainingStep(exe.main, {"prompt": np.zeros((5, 16), np.float32), "w": w})
    with pytest.raises(ube_module.RuntimeError, match="seq") as error:
        step(x=np.zeros((2, 6, 16), np.float32), labels=np.zeros(2, np.int64))
    assert "prompt" in str(error.value) and "'x'" in str(error.value)
