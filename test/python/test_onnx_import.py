"""ube.import_onnx and ube.compile on .onnx files."""
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
