"""ube.import_onnx and ube.compile on .onnx files."""
import functools
import pathlib
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ubetest import rel_error


def classifier(path):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((8, 4)).astype(np.float32)
    b = rng.standard_normal((4,)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]),
         helper.make_node("Add", ["h", "b"], ["logits"]),
         helper.make_node("Relu", ["logits"], ["r"]),
         helper.make_node("Mul", ["r", "scale"], ["scaled"]),
         helper.make_node("Softmax", ["scaled"], ["probs"], axis=-1)],
        "classifier",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 8]),
         helper.make_tensor_value_info("scale", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [3, 4])],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(model, str(path))
    return w, b


def test_compile_onnx_file(ube_module, tmp_path):
    w, b = classifier(tmp_path / "model.onnx")
    exe = ube_module.compile(tmp_path / "model.onnx")
    # Inputs follow the ONNX graph's input order (initializers excluded).
    assert [name for name, _, _ in exe.main.inputs] == ["x", "scale"]
    x = np.random.default_rng(1).standard_normal((3, 8)).astype(np.float32)
    scale = np.array([1.0, 2.0, 0.5, 1.5], np.float32)
    logits = np.maximum(x.astype(np.float64) @ w + b, 0) * scale
    expected = np.exp(logits - logits.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    assert rel_error(exe(x, scale), expected) < 1e-5


def test_import_writes_graph_and_weights(ube_module, tmp_path):
    classifier(tmp_path / "model.onnx")
    graph = ube_module.import_onnx(tmp_path / "model.onnx", tmp_path / "model.json")
    assert {p["name"] for p in graph["parameters"]} == {"w", "b"}
    assert (tmp_path / "model.safetensors").exists()
    assert graph["outputs"] == ["probs"]


def test_unsupported_operator(ube_module, tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Det", ["x"], ["y"], name="the_det")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    from ube.onnx_import import UnsupportedError
    with pytest.raises(UnsupportedError, match="operator Det \\(node 'the_det'\\)"):
        ube_module.import_onnx(model, tmp_path / "g.json")


def test_static_operands_must_be_constant(ube_module, tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "shape"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("shape", TensorProto.INT64, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    from ube.onnx_import import UnsupportedError
    with pytest.raises(UnsupportedError, match="the target shape must be a constant"):
        ube_module.import_onnx(model, tmp_path / "g.json")
    g = ube_module.import_onnx(model, tmp_path / "g.json",
                               static_inputs={"shape": np.array([3, 2])})
    assert [i["name"] for i in g["inputs"]] == ["x", "shape"]


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_torch_onnx_export_of_a_transformer_encoder(ube_module, tmp_path, norm_first):
    """PyTorch's nn.TransformerEncoder through torch.onnx.export (the dynamo
    exporter, opset 18): its shape arithmetic (Shape, Gather, Concat,
    Reshape to computed shapes) folds away at import; outputs against float64
    PyTorch, 1e-4 as for every whole network."""
    import logging
    import warnings
    import torch
    import torch.nn as nn
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True,
                                       norm_first=norm_first)
    model = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).eval()
    x = torch.randn(2, 7, 32)
    path = tmp_path / "encoder.onnx"
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (x,), str(path), dynamo=True, opset_version=18,
                              verbose=False)
    finally:
        logging.disable(logging.NOTSET)
    exe = ube_module.compile(path)
    with torch.no_grad():
        ref = model.double()(x.double())
    assert rel_error(exe(x.numpy()), ref) <= 1e-4


def quiet_onnx_export(model, args, path, **kw):
    """torch.onnx.export with the dynamo exporter, its progress lines off."""
    import logging
    import warnings
    import torch
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, args, str(path), dynamo=True, opset_version=18,
                              verbose=False, **kw)
    finally:
        logging.disable(logging.NOTSET)


def test_dim_params_become_symbols(ube_module, tmp_path):
    """transformers' BertModel exported with torch.export Dims: the ONNX
    inputs' dim_params become graph symbols (bounded by `dims`), the shape
    arithmetic on them (Shape, Gather, Concat, Reshape with -1 to
    4·batch rows, Expand, Range, the position table sliced to seq, the
    mask indexed by GatherND over arange grids) is evaluated on symbolic
    sizes, and one executable runs at any batch and length, padded at
    random, against onnxruntime on the same file (f32 both: 1e-5 relative)."""
    import onnxruntime
    import torch
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=4, intermediate_size=64,
                                     max_position_embeddings=64)
    model = transformers.BertModel(config).eval()
    ids, mask = torch.randint(0, 100, (2, 7)), torch.ones(2, 7, dtype=torch.int64)
    batch, seq = torch.export.Dim("batch", max=16), torch.export.Dim("seq", max=64)
    path = tmp_path / "bert.onnx"
    quiet_onnx_export(model, (ids, mask), path, dynamic_shapes=({0: batch, 1: seq},) * 2,
                      input_names=["input_ids", "attention_mask"])
    graph = ube_module.import_onnx(path, tmp_path / "bert.json",
                                   dims={"batch": {"max": 16}, "seq": {"max": 64}})
    assert graph["dims"] == {"batch": {"max": 16}, "seq": {"max": 64}}
    assert [i["shape"] for i in graph["inputs"]] == [["batch", "seq"]] * 2
    exe = ube_module.compile(tmp_path / "bert.json")
    session = onnxruntime.InferenceSession(str(path))
    rng = np.random.default_rng(1)
    for b, s in [(1, 1), (1, 7), (3, 19), (16, 64)] + [
            (int(rng.integers(1, 17)), int(rng.integers(1, 65))) for _ in range(4)]:
        ids = rng.integers(0, 100, (b, s))
        mask = (np.arange(s)[None, :] < rng.integers(1, s + 1, b)[:, None]).astype(np.int64)
        refs = session.run(None, {"input_ids": ids, "attention_mask": mask})
        for out, ref in zip(exe(ids, mask), refs):
            assert out.shape == ref.shape
            assert rel_error(out, ref) <= 1e-5, (b, s)
    with pytest.raises(ValueError, match=r"dims: \['tokens'\] are not symbols"):
        ube_module.import_onnx(path, tmp_path / "x.json", dims={"tokens": {"max": 8}})


def test_dim_params_in_a_hand_written_model(ube_module, tmp_path):
    """A model written with onnx.helper: a dim_param that is not an
    identifier is renamed; Flatten and Reshape(0, -1) on symbolic sizes;
    compiled straight from the .onnx file (unbounded symbols)."""
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["x"], ["flat"], axis=1),
         helper.make_node("Reshape", ["flat", "shape"], ["back"]),
         helper.make_node("Relu", ["back"], ["y"])],
        "flatten",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch size", 3, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch size", 2, 6])],
        initializer=[numpy_helper.from_array(np.array([0, 2, -1], np.int64), "shape")])
    path = tmp_path / "flatten.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    written = ube_module.import_onnx(path, tmp_path / "flatten.json")
    assert written["inputs"][0]["shape"] == ["batch_size", 3, 4]
    exe = ube_module.compile(path)
    for b in (1, 5):
        x = np.random.default_rng(b).standard_normal((b, 3, 4)).astype(np.float32)
        np.testing.assert_array_equal(exe(x), np.maximum(x.reshape(b, 2, 6), 0))


def test_sizes_shape_inference_leaves_unknown(ube_module, tmp_path):
    """A strided Conv over a dim_param length: its output length, (len − 3)
    // 2 + 1, is no product of symbols, and ONNX's shape inference leaves it
    unknown. The graph file names it as a dimension of the value that has
    it: a Slice to its end less one reads its limit from the conv's result,
    and a Reshape to [N, 2, -1] (GroupNorm's) leaves the -1 to the graph.
    Against onnxruntime at three lengths."""
    import onnxruntime
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 2, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], strides=[2]),
         helper.make_node("Slice", ["c", "starts", "ends", "axes"], ["s"]),
         helper.make_node("Reshape", ["s", "grouped"], ["g"]),
         helper.make_node("Relu", ["g"], ["y"])],
        "computed",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2, "len"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(w, "w"),
                     numpy_helper.from_array(np.array([0], np.int64), "starts"),
                     numpy_helper.from_array(np.array([-1], np.int64), "ends"),
                     numpy_helper.from_array(np.array([2], np.int64), "axes"),
                     numpy_helper.from_array(np.array([0, 2, -1], np.int64), "grouped")])
    path = tmp_path / "computed.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    written = ube_module.import_onnx(path, tmp_path / "computed.json")
    nodes = {n["op"]: n for n in written["nodes"]}
    conv = nodes["conv"]["name"]
    assert nodes["slice"]["attrs"]["limit"][2] == {"size_of": conv, "axis": 2, "add": -1}
    assert nodes["reshape"]["shape"] == ["batch", 2, -1]
    exe = ube_module.compile(path)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for b, length in [(1, 5), (2, 8), (3, 101)]:
        x = rng.standard_normal((b, 2, length)).astype(np.float32)
        expected = session.run(None, {"x": x})[0]
        out = exe(x)
        assert out.shape == expected.shape
        assert rel_error(out, expected) < 1e-6


@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER"])
def test_same_padding_over_dim_params(ube_module, tmp_path, auto_pad):
    """Conv with auto_pad SAME over dim_param planes: at stride 1 the pads
    are fixed (the kernel's span less one); at stride 2 they depend on the
    size's parity, and a ube.pad by size expressions of the symbols pads
    first. One executable against onnxruntime at odd and even sizes (1e-5
    relative, f32 both)."""
    import onnxruntime
    rng = np.random.default_rng(1)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    v = rng.standard_normal((5, 4, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], strides=[2, 2], auto_pad=auto_pad),
         helper.make_node("Conv", ["c", "v"], ["y"], auto_pad=auto_pad)],
        "same",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(v, "v")])
    path = tmp_path / "same.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    written = ube_module.import_onnx(path, tmp_path / "same.json")
    pads = [n for n in written["nodes"] if n["op"] == "pad"]
    assert len(pads) == 1 and all(isinstance(a, str) for a in pads[0]["attrs"]["low"][2:])
    exe = ube_module.compile(path)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for n, h, width in [(1, 9, 12), (2, 16, 7), (3, 21, 30)]:
        x = rng.standard_normal((n, 3, h, width)).astype(np.float32)
        expected = session.run(None, {"x": x})[0]
        out = exe(x)
        assert out.shape == expected.shape
        assert rel_error(out, expected) < 1e-5


def test_dim_params_of_pytorch_modules(ube_module, tmp_path):
    """PyTorch's nn.TransformerEncoder exported with Dims (the exporter's
    own dim_params on intermediate values, "batch*seq" and "4*batch", read
    as products of the inputs' symbols), and an MLP with GELU through the
    TorchScript exporter's dynamic_axes: one executable each, at several
    sizes, against onnxruntime (1e-5 relative)."""
    import onnxruntime
    import torch
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
    encoder = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).eval()
    batch, seq = torch.export.Dim("batch", max=16), torch.export.Dim("seq", max=64)
    quiet_onnx_export(encoder, (torch.randn(2, 7, 32),), tmp_path / "encoder.onnx",
                      dynamic_shapes=({0: batch, 1: seq},))
    mlp = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(),
                              torch.nn.Linear(16, 3)).eval()
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(mlp, (torch.randn(4, 8),), str(tmp_path / "mlp.onnx"), dynamo=False,
                          input_names=["x"], dynamic_axes={"x": {0: "rows"}})
    rng = np.random.default_rng(2)
    for name, shapes, dims in [("encoder", [(1, 1, 32), (3, 17, 32), (16, 64, 32)],
                                {"batch": {"max": 16}, "seq": {"max": 64}}),
                               ("mlp", [(1, 8), (9, 8)], None)]:
        path = tmp_path / f"{name}.onnx"
        exe = ube_module.compile(path, dims=dims)
        session = onnxruntime.InferenceSession(str(path))
        for shape in shapes:
            x = rng.standard_normal(shape).astype(np.float32)
            ref = session.run(None, {session.get_inputs()[0].name: x})[0]
            assert rel_error(exe(x), ref) <= 1e-5, (name, shape)
    with pytest.raises(ube_module.RuntimeError, match="outside its bounds"):
        ube_module.compile(tmp_path / "encoder.onnx", dims={"batch": {"max": 2}})(
            np.zeros((3, 5, 32), np.float32))
    with pytest.raises(TypeError, match="dims bounds the symbols of an ONNX file"):
        ube_module.compile(tmp_path / "x.json", dims={"batch": {"max": 2}})


sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "onnx"))


@functools.lru_cache(maxsize=1)
def node_cases():
    """ONNX's own node test cases whose shape operands are inputs."""
    from run_conformance import collect_cases
    return {c.name: c for c in collect_cases()
            if c.name.startswith(("test_resize", "test_upsample", "test_top_k"))}


SHAPE_OPERAND_CASES = [
    "test_resize_downsample_scales_linear", "test_resize_downsample_scales_linear_align_corners",
    "test_resize_downsample_scales_linear_half_pixel_symmetric",
    "test_resize_downsample_scales_nearest",
    "test_resize_downsample_sizes_linear_pytorch_half_pixel",
    "test_resize_downsample_sizes_nearest", "test_resize_upsample_scales_linear",
    "test_resize_upsample_scales_linear_align_corners",
    "test_resize_upsample_scales_linear_half_pixel_symmetric",
    "test_resize_upsample_scales_nearest", "test_resize_upsample_scales_nearest_axes_3_2",
    "test_resize_upsample_sizes_nearest", "test_resize_upsample_sizes_nearest_axes_2_3",
    "test_resize_upsample_sizes_nearest_ceil_half_pixel",
    "test_resize_upsample_sizes_nearest_floor_align_corners",
    "test_resize_upsample_sizes_nearest_round_prefer_ceil_asymmetric", "test_upsample_nearest",
    "test_top_k", "test_top_k_negative_axis", "test_top_k_same_values",
    "test_top_k_same_values_2d", "test_top_k_same_values_largest", "test_top_k_smallest",
]


@pytest.mark.parametrize("name", SHAPE_OPERAND_CASES)
def test_shape_operands_given_as_constants(ube_module, tmp_path, name):
    """ONNX's own Resize/Upsample and TopK node tests with their scales,
    sizes or K given as constants (static_inputs; the conformance run gives
    them at run time, which would make the output's shape depend on input
    values): every coordinate mode and nearest rounding, ties and both
    orders of TopK, against ONNX's expected outputs."""
    from run_conformance import plain
    case = node_cases()[name]
    inputs, outputs = ([plain(a) for a in data] for data in case.data_sets[0])
    names = [i.name for i in case.model.graph.input]
    ube_module.import_onnx(case.model, tmp_path / "g.json",
                           static_inputs=dict(zip(names[1:], inputs[1:])))
    out = ube_module.compile(tmp_path / "g.json")(*inputs)
    for got, want in zip(out if isinstance(out, tuple) else [out], outputs):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_torch_onnx_export_of_interpolations(ube_module, tmp_path):
    """F.interpolate (nearest, bilinear both ways of align_corners) and a
    transposed convolution through torch.onnx.export: Resize with constant
    scales, ConvTranspose; against float64 PyTorch."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.up = nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1)

        def forward(self, x):
            y = F.interpolate(self.up(x), size=(9, 13), mode="bilinear")
            y = F.interpolate(y, scale_factor=2, mode="nearest")
            return F.interpolate(y, size=(5, 6), mode="bilinear", align_corners=True)

    torch.manual_seed(0)
    model, x = Head().eval(), torch.randn(2, 3, 4, 5)
    path = tmp_path / "head.onnx"
    quiet_onnx_export(model, (x,), path)
    with torch.no_grad():
        ref = model.double()(x.double())
    assert rel_error(ube_module.compile(path)(x.numpy()), ref) <= 1e-5


def test_batch_norm_folds_into_the_conv(ube_module, tmp_path):
    """Conv → BatchNormalization (inference, initializers) → Relu imports
    as one conv with folded weights; against onnxruntime."""
    import onnxruntime
    rng = np.random.default_rng(3)
    w, b = rng.standard_normal((6, 3, 3, 3)).astype(np.float32), rng.standard_normal(6)
    stats = [rng.standard_normal(6), rng.standard_normal(6), rng.standard_normal(6),
             rng.uniform(0.5, 1.5, 6)]
    inits = [numpy_helper.from_array(a.astype(np.float32), n) for a, n in zip(
        [w, b, *stats], ["w", "b", "gamma", "beta", "mean", "var"])]
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
         helper.make_node("BatchNormalization", ["c", "gamma", "beta", "mean", "var"], ["n"],
                          epsilon=1e-3),
         helper.make_node("Relu", ["n"], ["y"])],
        "conv_bn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 6, 8, 8])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    imported = ube_module.import_onnx(model, tmp_path / "g.json")
    assert [n["op"] for n in imported["nodes"]] == ["conv", "relu"]
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    ref = onnxruntime.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    assert rel_error(ube_module.compile(tmp_path / "g.json")(x), ref) <= 1e-5
