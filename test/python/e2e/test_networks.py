"""Whole networks compiled for the CPU against the same network in PyTorch
(float64). Tolerance 1e-4 relative: float32 through ~10 chained layers
(matmul, softmax, LayerNorm) against a float64 reference."""
import numpy as np
import torch

from models import EncoderLayer, MlpClassifier, encoder_layer_graph, mlp_classifier_graph
from ubetest import rel_error

NETWORK_TOLERANCE = 1e-4


def test_encoder_layer(runner):
    torch.manual_seed(0)
    module = EncoderLayer().eval()
    batch, tokens = 3, module.position.shape[0]
    graph, weights = encoder_layer_graph(module, batch)
    exe = runner.compile(graph, weights)
    rng = np.random.default_rng(5)
    ids = rng.integers(0, 100, (batch, tokens)).astype(np.int64)
    mask = np.ones((batch, tokens), dtype=bool)
    mask[1, 10:] = False
    mask[2, 3:] = False
    out = runner.run(exe, {"ids": ids, "mask": mask})["out"]
    with torch.no_grad():
        ref = module.double()(torch.from_numpy(ids), torch.from_numpy(mask))
    assert out.shape == (batch, tokens, 32)
    assert rel_error(out, ref) <= NETWORK_TOLERANCE


def test_mlp_classifier_with_loss(runner):
    torch.manual_seed(1)
    module = MlpClassifier()
    graph, weights = mlp_classifier_graph(module, 8)
    exe = runner.compile(graph, weights)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((8, 16)).astype(np.float32)
    labels = rng.integers(0, 5, (8,)).astype(np.int64)
    result = runner.run(exe, {"x": x, "labels": labels}, function="train_loss")
    with torch.no_grad():
        logits = module.double()(torch.from_numpy(x).double())
        loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(labels))
    assert rel_error(result["logits"], logits) <= NETWORK_TOLERANCE
    assert rel_error(result["loss"], loss) <= NETWORK_TOLERANCE
    predicted = runner.run(exe, {"x": x}, function="predict")["logits"]
    assert np.array_equal(predicted, result["logits"])
