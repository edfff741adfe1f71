"""ube.export / ube.compile on PyTorch modules, against the modules
themselves (float64 reference; tolerance 1e-4 as for whole networks)."""

import copy

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from models import Bert
from ubetest import rel_error

TOLERANCE = 1e-4


def test_bert_encoder(ube_module):
    torch.manual_seed(0)
    model = Bert().eval()
    ids = torch.randint(0, 50, (2, 12))
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[1, 7:] = False
    exe = ube_module.compile(model, example_inputs=(ids, mask))
    out = exe(ids, mask)
    with torch.no_grad():
        ref = model.double()(ids, mask)
    assert out.shape == (2, 3)
    assert rel_error(out, ref) <= TOLERANCE


def test_mlp_with_functional_calls(ube_module, tmp_path):
    class Mlp(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(10, 20), nn.Linear(20, 4)

        def forward(self, x):
            h = torch.tanh(self.fc1(x)) * 0.5 + F.relu(self.fc1(x) - 1.0)
            return F.log_softmax(self.fc2(h), dim=-1)

    torch.manual_seed(1)
    model = Mlp()
    x = torch.randn(6, 10)
    graph = ube_module.export(model, (x,), tmp_path / "mlp.json")
    assert (tmp_path / "mlp.safetensors").exists()
    assert {p["name"] for p in graph["parameters"]} == {"fc1.weight", "fc1.bias", "fc2.weight",
                                                         "fc2.bias"}
    exe = ube_module.compile(tmp_path / "mlp.json")
    with torch.no_grad():
        ref = model.double()(x.double())
    assert rel_error(exe(x), ref) <= TOLERANCE


def test_distillation_losses(ube_module):
    class Losses(nn.Module):
        """KD (kl_div on log_softmax/softmax, T^2), feature MSE and CE."""

        def forward(self, s_logits, t_logits, s_hidden, t_hidden, labels):
            temperature = 2.0
            kd = F.kl_div(F.log_softmax(s_logits / temperature, dim=-1),
                          F.softmax(t_logits / temperature, dim=-1),
                          reduction="batchmean") * temperature ** 2
            feature = F.mse_loss(s_hidden, t_hidden)
            ce = F.cross_entropy(s_logits, labels)
            return kd, feature, ce, kd + 0.5 * feature + 0.1 * ce

    torch.manual_seed(2)
    inputs = (torch.randn(8, 30), torch.randn(8, 30), torch.randn(8, 5, 16),
              torch.randn(8, 5, 16), torch.randint(0, 30, (8,)))
    exe = ube_module.compile(Losses(), example_inputs=inputs)
    outs = exe(*inputs)
    refs = Losses()(*[t.double() if t.is_floating_point() else t for t in inputs])
    for out, ref in zip(outs, refs):
        assert rel_error(out, ref) <= TOLERANCE


def test_unsupported_op_names_op_node_and_line(ube_module, tmp_path):
    class Odd(nn.Module):
        def forward(self, x):
            return torch.digamma(x)  # no ube op for this

    with pytest.raises(ube_module.ExportError) as info:
        ube_module.export(Odd(), (torch.randn(3),), tmp_path / "odd.json")
    message = str(info.value)
    assert "aten.digamma" in message and "node 'digamma'" in message
    assert "test_torch_export.py" in message and "torch.digamma(x)" in message


class Digamma(nn.Module):
    def forward(self, x):
        return torch.digamma(x)


def test_unsupported_op_names_the_module(ube_module, tmp_path):
    model = nn.Sequential(nn.Linear(5, 5), Digamma())
    with pytest.raises(ube_module.ExportError,
                       match=r"aten.digamma .*no ube mapping for this operator "
                             r"in module '1' \(Digamma\)"):
        ube_module.export(model, (torch.randn(1, 2, 5),), tmp_path / "digamma.json")


def test_shapes_unpacked_and_chunked(ube_module, tmp_path):
    """What fx symbolic tracing could not take: `B, N = x.shape`, `chunk`,
    `unbind` and control flow on shapes."""
    class Attention(nn.Module):
        def __init__(self, width=16, heads=2):
            super().__init__()
            self.heads, self.qkv, self.out = heads, nn.Linear(width, 3 * width), \
                nn.Linear(width, width)

        def forward(self, x):
            B, N, D = x.shape
            q, k, v = self.qkv(x).chunk(3, dim=-1)
            q, k, v = (t.view(B, N, self.heads, D // self.heads).transpose(1, 2)
                       for t in (q, k, v))
            if N > 1:  # control flow on a (static) shape
                scores = (q @ k.transpose(-1, -2)) / (D // self.heads) ** 0.5
            a = scores.softmax(-1) @ v
            first, *_ = a.unbind(1)
            return self.out(a.transpose(1, 2).reshape(B, N, D)) + first.sum()

    torch.manual_seed(4)
    model = Attention()
    x = torch.randn(2, 5, 16)
    exe = ube_module.compile(model, example_inputs=(x,))
    with torch.no_grad():
        ref = model.double()(x.double())
    assert rel_error(exe(x), ref) <= TOLERANCE


def test_torch_compile_backend(ube_module):
    from ube.torch_backend import compiled_graphs, reset_report
    reset_report()
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 2))
    x = torch.randn(4, 8)
    compiled = torch.compile(model, backend="ube")
    with torch.no_grad():
        assert rel_error(compiled(x), model.double()(x.double())) <= TOLERANCE
    [report] = compiled_graphs()
    assert report["graph"] == "forward" and report["compiled"] == report["nodes"] > 0
    assert report["partitions"] == 1 and not report["eager"]


def test_torch_compile_trains_a_bert(ube_module):
    """torch.compile(backend="ube") under loss.backward(): the forward and
    the backward graph (aot_autograd) each run as one ube executable; the
    first step's gradients match eager PyTorch's, and three AdamW steps give
    the same losses."""
    from ube.torch_backend import compiled_graphs, reset_report
    reset_report()
    torch.manual_seed(5)
    model = Bert().eval()  # no dropout: the same function on both sides
    eager = copy.deepcopy(model)
    ids = torch.randint(0, 50, (2, 12))
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[1, 7:] = False
    labels = torch.tensor([0, 2])
    compiled = torch.compile(model, backend="ube")
    optimizers = [torch.optim.AdamW(m.parameters(), lr=1e-3) for m in (model, eager)]
    for step in range(3):
        losses = []
        for module, optimizer in zip((compiled, eager), optimizers):
            optimizer.zero_grad()
            loss = F.cross_entropy(module(ids, mask), labels)
            loss.backward()
            losses.append(loss.item())
            if step == 0 and module is eager:  # every gradient, as one vector
                grads = [torch.cat([p.grad.flatten() for p in m.parameters()])
                         for m in (model, eager)]
                assert rel_error(*grads) <= TOLERANCE
            optimizer.step()
        assert abs(losses[0] - losses[1]) <= 1e-5 * abs(losses[1])
    graphs = {r["graph"]: r for r in compiled_graphs()}
    for kind in ("forward", "backward"):
        assert graphs[kind]["compiled"] == graphs[kind]["nodes"] > 0, graphs[kind]
        assert graphs[kind]["partitions"] == 1


def test_torch_compile_partitions_around_an_unsupported_op(ube_module):
    """An op ube lacks (digamma) runs in PyTorch between two ube
    executables, with one warning naming it."""
    from ube.torch_backend import compiled_graphs, reset_report
    reset_report()

    class Flipped(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(6, 6), nn.Linear(6, 3)

        def forward(self, x):
            return self.b(torch.digamma(torch.sigmoid(self.a(x)) + 1)).softmax(-1)

    torch.manual_seed(6)
    model = Flipped()
    x = torch.randn(5, 6)
    compiled = torch.compile(model, backend="ube")
    with pytest.warns(UserWarning, match=r"ube: the forward graph runs 1 of its \d+ ATen ops "
                                         r"in PyTorch \(no ube mapping: aten\.digamma"):
        out = compiled(x)
    with torch.no_grad():
        assert rel_error(out, model.double()(x.double())) <= TOLERANCE
    [report] = compiled_graphs()
    assert report["eager"] == ["aten.digamma.default"]
    assert report["partitions"] == 2 and report["compiled"] == report["nodes"] - 1


def test_torch_compile_leaves_dropout_to_pytorch(ube_module):
    """A compiled graph has no step counter: its dropout masks (attention's
    included) are drawn by PyTorch, new on every call, the rest by ube."""
    from ube.torch_backend import compiled_graphs, reset_report
    reset_report()

    class Attention(nn.Module):
        def forward(self, q, k, v):
            return F.scaled_dot_product_attention(q.sin(), k, v, dropout_p=0.5) * 2

    q = torch.randn(1, 2, 5, 8)
    compiled = torch.compile(Attention(), backend="ube")
    with pytest.warns(UserWarning, match=r"random masks \(dropout\) drawn per call"):
        first, second = compiled(q, q, q), compiled(q, q, q)
    assert (first - second).abs().max() > 0.1
    [report] = compiled_graphs()
    assert report["eager"] == ["aten.native_dropout.default"] and report["compiled"] > 0


def test_torch_compile_recompiles_on_new_shapes(ube_module):
    """A new batch size fails dynamo's guards: with dynamic=False each shape
    gets its own ube executable; by default dynamo retries with symbolic
    shapes, which ube compiles once (the batch a symbol of the graph) and
    runs at every later batch without recompiling."""
    import warnings
    from ube.torch_backend import compiled_graphs, reset_report
    torch.manual_seed(7)
    model = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 2))
    reference = copy.deepcopy(model).double()
    reset_report()
    static = torch.compile(model, backend="ube", dynamic=False)
    for batch in (4, 6, 9):
        x = torch.randn(batch, 8)
        with torch.no_grad():
            assert rel_error(static(x), reference(x.double())) <= TOLERANCE
    assert [r["compiled"] == r["nodes"] for r in compiled_graphs()] == [True] * 3
    torch._dynamo.reset()
    reset_report()
    automatic = torch.compile(model, backend="ube")
    automatic(torch.randn(4, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing left to PyTorch
        for batch in (6, 9, 33):
            x = torch.randn(batch, 8)
            with torch.no_grad():
                out = automatic(x)
                assert out.shape == (batch, 2)
                assert rel_error(out, reference(x.double())) <= TOLERANCE
    # The first call's static graph, then one symbolic graph for the rest.
    reports = compiled_graphs()
    assert len(reports) == 2 and all(r["compiled"] == r["nodes"] for r in reports)


def test_torch_compile_dynamic_transformers_bert(ube_module):
    """torch.compile(dynamic=True) of a transformers BertModel: one set of ube
    executables serves every (batch, length), against PyTorch in float64."""
    transformers = pytest.importorskip("transformers")
    from ube.torch_backend import compiled_graphs, reset_report
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=4, intermediate_size=64)
    model = transformers.BertModel(config).eval()
    reference = copy.deepcopy(model).double()
    torch._dynamo.reset()
    reset_report()
    compiled = torch.compile(model, backend="ube", dynamic=True)
    for batch, length in [(2, 7), (3, 19), (5, 64)]:
        ids = torch.randint(0, 100, (batch, length))
        mask = torch.ones_like(ids)
        mask[0, length // 2:] = 0
        with torch.no_grad():
            out = compiled(input_ids=ids, attention_mask=mask).last_hidden_state
            ref = reference(input_ids=ids, attention_mask=mask).last_hidden_state
        kept = mask.bool()
        assert (out.double() - ref)[kept].abs().max() / ref.abs().max() < 1e-5
    reports = compiled_graphs()
    assert len(reports) == 1 and reports[0]["compiled"] == reports[0]["nodes"]
