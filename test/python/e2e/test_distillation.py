"""kd_loss and kd_loss_grad, through the cpu target's fused row kernels and
through the generic composition (--fused-kernels=false), against float64
PyTorch: the loss against the op's definition (and F.kl_div for the classic
form), the gradient against torch.autograd.

Tolerance: max|out - ref| / max|ref| <= 2e-5. Both paths accumulate in
float32 over up to 50k vocabulary entries per row (the fused kernel in 8
lanes, then across lanes), and exp/log are polynomial approximations good to
a few ulp; the worst errors measured are below 3e-6 at 50k entries."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ubetest import rel_error

TOL = 2e-5
rng = np.random.default_rng(4321)
PATHS = {"fused": (), "composed": ("--fused-kernels=false",)}


def randn(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def kd_torch(s, t, temperature, scale=True, labels=None, alpha=0.0, ignore=-100):
    """The loss and d loss / d s in float64, by autograd."""
    vocab = s.shape[-1]
    sv = torch.from_numpy(s).double().reshape(-1, vocab).requires_grad_()
    tv = torch.from_numpy(t).double().reshape(-1, vocab)
    log_ps = F.log_softmax(sv / temperature, -1)
    log_pt = F.log_softmax(tv / temperature, -1)
    kl = (log_pt.exp() * (log_pt - log_ps)).sum(-1)
    if labels is not None:
        y = torch.from_numpy(labels.reshape(-1))
        counted = (y != ignore).double()
    else:
        counted = torch.ones(kl.shape[0], dtype=torch.float64)
    count = counted.sum().clamp(min=1)
    loss = (kl * counted).sum() / count * (temperature ** 2 if scale else 1.0)
    if alpha:
        log_p1 = F.log_softmax(sv, -1)
        inside = (y >= 0) & (y < vocab)
        picked = log_p1.gather(1, y.clamp(0, vocab - 1)[:, None])[:, 0] * inside.double()
        loss = loss + alpha * (-picked * counted).sum() / count
    loss.backward()
    return loss.detach().numpy(), sv.grad.reshape(s.shape).numpy()


def run_kd(runner, path, s, t, attrs, labels=None, grad=1.0):
    inputs = {"s": s, "t": t, "g": np.array(grad, np.float32)}
    operands = ["s", "t"]
    if labels is not None:
        inputs["y"] = labels
        operands.append("y")
    nodes = [{"name": "loss", "op": "kd_loss", "inputs": operands, "attrs": attrs},
             {"name": "ds", "op": "kd_loss_grad",
              "inputs": ["s", "t", "g"] + operands[2:], "attrs": attrs}]
    out = runner.graph(inputs, nodes, ["loss", "ds"], compile_args=PATHS[path])
    return out["loss"], out["ds"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("temperature,scale", [(1.0, True), (2.0, True), (4.0, False),
                                               (0.5, True), (20.0, True)])
@pytest.mark.parametrize("shape", [(2, 3, 50), (4, 64), (3, 1100)],
                         ids=["ragged-rank3", "whole-vectors", "several-chunks"])
def test_loss_and_gradient(runner, path, temperature, scale, shape):
    s, t = randn(*shape, scale=3), randn(*shape, scale=3)
    attrs = {"temperature": temperature, "scale_by_temperature_squared": scale}
    loss, grad = run_kd(runner, path, s, t, attrs, grad=0.75)
    ref_loss, ref_grad = kd_torch(s, t, temperature, scale)
    assert rel_error(loss, ref_loss) <= TOL
    assert rel_error(grad, 0.75 * ref_grad) <= TOL
    if scale and len(shape) == 2:  # the classic PyTorch formulation agrees
        classic = F.kl_div(F.log_softmax(torch.from_numpy(s).double() / temperature, -1),
                           F.softmax(torch.from_numpy(t).double() / temperature, -1),
                           reduction="batchmean") * temperature ** 2
        assert rel_error(loss, classic) <= TOL


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_hard_labels_and_ignore_index(runner, path, temperature):
    s, t = randn(8, 37, scale=2), randn(8, 37, scale=2)
    y = rng.integers(0, 37, (8,)).astype(np.int64)
    y[[1, 5]] = -1
    attrs = {"temperature": temperature, "alpha": 0.5, "ignore_index": -1}
    loss, grad = run_kd(runner, path, s, t, attrs, labels=y)
    ref_loss, ref_grad = kd_torch(s, t, temperature, True, y, 0.5, -1)
    assert rel_error(loss, ref_loss) <= TOL
    assert rel_error(grad, ref_grad) <= TOL
    assert not grad[[1, 5]].any()  # ignored rows get no gradient


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("temperature", [0.5, 1.0, 20.0])
def test_extreme_logits(runner, path, temperature):
    s, t = randn(4, 30, scale=1e4), randn(4, 30, scale=1e4)
    loss, grad = run_kd(runner, path, s, t, {"temperature": temperature})
    assert np.isfinite(loss) and np.isfinite(grad).all()
    ref_loss, ref_grad = kd_torch(s, t, temperature)
    assert rel_error(loss, ref_loss) <= TOL
    assert rel_error(grad, ref_grad) <= TOL


@pytest.mark.parametrize("path", PATHS)
def test_fully_masked_rows(runner, path):
    s, t = randn(3, 20), randn(3, 20)
    y = np.full((3,), -100, np.int64)
    loss, grad = run_kd(runner, path, s, t, {"temperature": 2.0, "alpha": 1.0}, labels=y)
    assert loss == 0 and not grad.any()


@pytest.mark.parametrize("path", PATHS)
def test_large_vocabulary(runner, path):
    s, t = randn(4, 50257, scale=4), randn(4, 50257, scale=4)
    y = rng.integers(0, 50257, (4,)).astype(np.int64)
    attrs = {"temperature": 2.0, "alpha": 0.25}
    loss, grad = run_kd(runner, path, s, t, attrs, labels=y)
    ref_loss, ref_grad = kd_torch(s, t, 2.0, True, y, 0.25)
    assert rel_error(loss, ref_loss) <= TOL
    assert rel_error(grad, ref_grad) <= TOL


class KlDivLoss(torch.nn.Module):
    """The textbook PyTorch KD loss, as a user would write it."""

    def __init__(self, temperature):
        super().__init__()
        self.temperature = temperature

    def forward(self, s, t):
        T = self.temperature
        return F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1),
                        reduction="batchmean") * T * T


@pytest.mark.parametrize("shape", [(6, 50), (2, 3, 50)])
def test_exported_kl_div_becomes_kd_loss(ube_module, tmp_path, shape):
    """ube.export writes F.kl_div as primitives; the graph pipeline's
    --ube-fuse-distillation turns them back into kd_loss (fused kernels)."""
    s, t = randn(*shape, scale=3), randn(*shape, scale=3)
    module = KlDivLoss(2.0)
    path = tmp_path / "kd.json"
    ube_module.export(module, (torch.from_numpy(s), torch.from_numpy(t)), path)
    from ube import _ube
    graph_ir = _ube.compile_file(str(path), emit="ube").decode()
    assert "ube.kd_loss" in graph_ir and "ube.softmax" not in graph_ir
    exe = ube_module.compile(path)
    ref = module(torch.from_numpy(s).double(), torch.from_numpy(t).double())
    assert rel_error(exe(s, t), ref) <= TOL
