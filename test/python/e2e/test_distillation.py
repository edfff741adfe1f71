"""The distillation losses' gradients against torch.autograd, and their
values against float64 PyTorch: kd_loss and kd_loss_grad through the cpu
target's fused row kernels and through the generic composition
(--fused-kernels=false); feature_map_loss_grad and
attention_transfer_loss_grad (composition); the fusion of exported losses
(F.kl_div into kd_loss, attention KL with or without a padding mask into
attention_transfer_loss, hidden-state MSEs into feature_map_loss, a head's
KD into projected_kd_loss).

Tolerance: max|out - ref| / max|ref| <= 2e-5. Both paths accumulate in
float32 over up to 50k vocabulary entries per row (the fused kernel in 8
lanes, then across lanes), and exp/log are polynomial approximations good to
a few ulp; the worst errors measured are below 3e-6 at 50k entries."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ubetest import attention_transfer_reference, feature_map_reference, rel_error

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
    from ube import _ube_compiler
    graph_ir = _ube_compiler.compile_file(str(path), emit="ube").decode()
    assert "ube.kd_loss" in graph_ir and "ube.softmax" not in graph_ir
    exe = ube_module.compile(path)
    ref = module(torch.from_numpy(s).double(), torch.from_numpy(t).double())
    assert rel_error(exe(s, t), ref) <= TOL


class MobileBertFeatureLoss(torch.nn.Module):
    """MobileBERT's hidden-state transfer as a user writes it: a projection,
    MSE of the LayerNorms, MSE of the per-token means and the mean absolute
    difference of the (biased) per-token variances, plus an unrelated term."""

    def __init__(self, width_s, width_t):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(width_s, width_t) / width_s ** 0.5)

    def forward(self, hs, ht, other):
        h = hs @ self.w
        width = ht.shape[-1]
        mse = F.mse_loss(F.layer_norm(h, (width,)), F.layer_norm(ht, (width,)))
        mean = F.mse_loss(h.mean(-1), ht.mean(-1))
        var = F.l1_loss(torch.var(h, -1, unbiased=False), ht.var(-1, unbiased=False))
        return 2.0 * mse + mean + 0.5 * var + other.var()


def test_exported_feature_map_terms_become_one_loss(ube_module, tmp_path):
    """--ube-fuse-distillation turns the exported sum into one
    feature_map_loss (alpha 2, beta 1, gamma 0.5); the unbiased variance of
    the other input stays a separate term (torch.var's default correction)."""
    torch.manual_seed(3)
    module = MobileBertFeatureLoss(6, 12)
    hs, ht, other = randn(2, 5, 6), randn(2, 5, 12, scale=2) + 1, randn(7, 3)
    path = tmp_path / "fm.json"
    ube_module.export(module, tuple(map(torch.from_numpy, (hs, ht, other))), path)
    from ube import _ube_compiler
    graph_ir = _ube_compiler.compile_file(str(path), emit="ube").decode()
    assert graph_ir.count("ube.feature_map_loss") == 1, graph_ir
    assert "alpha = 2.000000e+00" in graph_ir and "beta = 1.000000e+00" in graph_ir
    assert "gamma = 5.000000e-01" in graph_ir
    assert "ube.abs" not in graph_ir and "ube.mse_loss" not in graph_ir
    exe = ube_module.compile(path)
    with torch.no_grad():
        ref = module.double()(*[torch.from_numpy(a).double() for a in (hs, ht, other)])
    assert rel_error(exe(hs, ht, other), ref) <= TOL


@pytest.mark.parametrize("projection", [False, True])
@pytest.mark.parametrize("weights", [(1.0, 0.0, 0.0), (1.0, 0.5, 0.25), (0.0, 2.0, 0.0),
                                     (0.0, 0.0, 1.0)], ids=["mse", "all", "mean", "var"])
@pytest.mark.parametrize("path", PATHS)
def test_feature_map_gradient(runner, path, projection, weights):
    alpha, beta, gamma = weights
    hs = randn(2, 5, 6 if projection else 12)
    ht = randn(2, 5, 12, scale=2) + 0.5
    w = randn(6, 12, scale=0.3) if projection else None
    inputs = {"hs": hs, "ht": ht, "g": np.array(1.5, np.float32)}
    attrs = f"{{alpha = {alpha}, beta = {beta}, gamma = {gamma}}}"
    types = "tensor<2x5x{}xf32>, tensor<2x5x12xf32>, tensor<f32>".format(hs.shape[-1])
    if projection:
        inputs["w"] = w
        body = (f"%0:2 = ube.feature_map_loss_grad %hs, %ht, %g projection %w {attrs} : "
                f"{types}, tensor<6x12xf32>\n return %0#0, %0#1 : tensor<2x5x6xf32>, "
                "tensor<6x12xf32>")
        outputs = {"dhs": "tensor<2x5x6xf32>", "dw": "tensor<6x12xf32>"}
    else:
        body = (f"%0 = ube.feature_map_loss_grad %hs, %ht, %g {attrs} : {types}\n"
                " return %0 : tensor<2x5x12xf32>")
        outputs = {"dhs": "tensor<2x5x12xf32>"}
    out = runner.mlir(body, inputs, outputs, compile_args=PATHS[path])
    _, ref_hs, ref_w = feature_map_reference(hs, ht, w, alpha, beta, gamma)
    assert rel_error(out["dhs"], 1.5 * ref_hs) <= TOL
    if projection:
        assert rel_error(out["dw"], 1.5 * ref_w) <= TOL


@pytest.mark.parametrize("with_loss", [False, True])
def test_feature_map_in_chunks_of_tokens(runner, with_loss):
    """Projected features over 256K elements (999 tokens × 520) are taken
    in two ragged chunks of tokens (--ube-expand-feature-map, which takes
    what the cpu kernel does not: here --fused-kernels=false): the loss is
    the token-weighted mean of the chunks', d h_s their concatenation, d W
    their sum; alone or with the loss (one expansion)."""
    hs, ht = randn(3, 333, 40), randn(3, 333, 520, scale=2) + 0.5
    w = randn(40, 520, scale=0.2)
    alpha, beta, gamma = 1.0, 0.5, 0.25
    attrs = f"{{alpha = {alpha}, beta = {beta}, gamma = {gamma}}}"
    types = "tensor<3x333x40xf32>, tensor<3x333x520xf32>"
    body = (f"%0:2 = ube.feature_map_loss_grad %hs, %ht, %g projection %w {attrs} : "
            f"{types}, tensor<f32>, tensor<40x520xf32>\n")
    outputs = {"dhs": "tensor<3x333x40xf32>", "dw": "tensor<40x520xf32>"}
    if with_loss:
        body += (f"%l = ube.feature_map_loss %hs, %ht projection %w {attrs} : {types}, "
                 "tensor<40x520xf32>\nreturn %0#0, %0#1, %l : tensor<3x333x40xf32>, "
                 "tensor<40x520xf32>, tensor<f32>")
        outputs["loss"] = "tensor<f32>"
    else:
        body += "return %0#0, %0#1 : tensor<3x333x40xf32>, tensor<40x520xf32>"
    inputs = {"hs": hs, "ht": ht, "g": np.array(1.5, np.float32), "w": w}
    out = runner.mlir(body, inputs, outputs, compile_args=PATHS["composed"])
    ref_loss, ref_hs, ref_w = feature_map_reference(hs, ht, w, alpha, beta, gamma)
    assert rel_error(out["dhs"], 1.5 * ref_hs) <= TOL
    assert rel_error(out["dw"], 1.5 * ref_w) <= TOL
    if with_loss:
        assert rel_error(out["loss"], ref_loss) <= TOL


def attention_torch(qs, ks, qt, kt, mask=None):
    """attention_transfer_loss's gradients for qs and ks in float64."""
    return attention_transfer_reference(qs, ks, qt, kt, mask)[1:]


@pytest.mark.parametrize("masked", [False, True])
def test_attention_transfer_gradient(runner, masked):
    qs, ks = randn(2, 3, 7, 16), randn(2, 3, 7, 16)
    qt, kt = randn(2, 3, 7, 8, scale=1.5), randn(2, 3, 7, 8, scale=1.5)
    inputs = {"qs": qs, "ks": ks, "qt": qt, "kt": kt, "g": np.array(2.0, np.float32)}
    mask = None
    types = "tensor<2x3x7x16xf32>, tensor<2x3x7x16xf32>, tensor<2x3x7x8xf32>, " \
            "tensor<2x3x7x8xf32>, tensor<f32>"
    operands = "%qs, %ks, %qt, %kt, %g"
    if masked:
        mask = np.ones((2, 7), bool)
        mask[0, 5:] = False
        mask[1, 2] = False
        inputs["m"] = mask
        operands += " mask %m"
        types += ", tensor<2x7xi1>"
    body = (f"%0:2 = ube.attention_transfer_loss_grad {operands} : {types}\n"
            " return %0#0, %0#1 : tensor<2x3x7x16xf32>, tensor<2x3x7x16xf32>")
    out = runner.mlir(body, inputs, {"dq": "tensor<2x3x7x16xf32>", "dk": "tensor<2x3x7x16xf32>"})
    ref_q, ref_k = attention_torch(qs, ks, qt, kt, mask)
    assert rel_error(out["dq"], 2.0 * ref_q) <= TOL
    assert rel_error(out["dk"], 2.0 * ref_k) <= TOL
    if masked:  # padded queries get no gradient
        assert not out["dq"][0, :, 5:].any()


def attention_loss_torch(qs, ks, qt, kt, mask=None):
    """attention_transfer_loss in float64."""
    return attention_transfer_reference(qs, ks, qt, kt, mask)[0]


@pytest.mark.parametrize("masked", [False, True])
def test_attention_transfer_in_key_blocks(runner, masked):
    """100 tokens: four key blocks (32, 32, 32, 4) with the running max and
    sum carried across them, forward and gradient, with scores far from 0
    (student queries ×4) and, masked, a batch element without any valid key
    (its rows contribute 0) and one with padding inside a block."""
    qs, ks = randn(3, 2, 100, 16, scale=4.0), randn(3, 2, 100, 16)
    qt, kt = randn(3, 2, 100, 8, scale=1.5), randn(3, 2, 100, 8, scale=1.5)
    inputs = {"qs": qs, "ks": ks, "qt": qt, "kt": kt}
    types = "tensor<3x2x100x16xf32>, tensor<3x2x100x16xf32>, tensor<3x2x100x8xf32>, " \
            "tensor<3x2x100x8xf32>"
    operands, mask = "%qs, %ks, %qt, %kt", None
    if masked:
        mask = np.ones((3, 100), bool)
        mask[0, 70:] = False
        mask[1, :] = False
        mask[2, 31:35] = False
        inputs["m"] = mask
    mask_operand = " mask %m" if masked else ""
    mask_type = ", tensor<3x100xi1>" if masked else ""
    body = (f"%l = ube.attention_transfer_loss {operands}{mask_operand} : {types}{mask_type}\n"
            " %g = arith.constant dense<1.5> : tensor<f32>\n"
            f" %d:2 = ube.attention_transfer_loss_grad {operands}, %g{mask_operand} : {types}, "
            f"tensor<f32>{mask_type}\n"
            " return %l, %d#0, %d#1 : tensor<f32>, tensor<3x2x100x16xf32>, tensor<3x2x100x16xf32>")
    out = runner.mlir(body, inputs, {"loss": "tensor<f32>", "dq": "tensor<3x2x100x16xf32>",
                                     "dk": "tensor<3x2x100x16xf32>"})
    assert np.isfinite(out["dq"]).all() and np.isfinite(out["dk"]).all()
    assert rel_error(out["loss"], attention_loss_torch(qs, ks, qt, kt, mask)) <= TOL
    ref_q, ref_k = attention_torch(qs, ks, qt, kt, mask)
    assert rel_error(out["dq"], 1.5 * ref_q) <= TOL
    assert rel_error(out["dk"], 1.5 * ref_k) <= TOL
    if masked:  # no valid key: no gradient
        assert not out["dq"][1].any() and not out["dk"][1].any()


class AttentionKl(torch.nn.Module):
    """MiniLM's attention transfer, as a user would write it in PyTorch."""

    def forward(self, qs, ks, qt, kt):
        ls = F.log_softmax(qs @ ks.transpose(-1, -2) / qs.shape[-1] ** 0.5, -1)
        pt = F.softmax(qt @ kt.transpose(-1, -2) / qt.shape[-1] ** 0.5, -1)
        return (pt * (pt.log() - ls)).sum(-1).mean()


def test_exported_attention_kl_becomes_attention_transfer(ube_module, tmp_path):
    qs, ks = randn(2, 3, 5, 16), randn(2, 3, 5, 16)
    qt, kt = randn(2, 3, 5, 8), randn(2, 3, 5, 8)
    module = AttentionKl()
    path = tmp_path / "attention.json"
    ube_module.export(module, tuple(torch.from_numpy(a) for a in (qs, ks, qt, kt)), path)
    from ube import _ube_compiler
    graph_ir = _ube_compiler.compile_file(str(path), emit="ube").decode()
    assert "ube.attention_transfer_loss" in graph_ir and "ube.softmax" not in graph_ir
    ref = module(*(torch.from_numpy(a).double() for a in (qs, ks, qt, kt)))
    assert rel_error(ube_module.compile(path)(qs, ks, qt, kt), ref) <= TOL


class MaskedAttentionKl(torch.nn.Module):
    """MiniLM's attention transfer with a padding mask, written three ways:
    masked_fill of -1e4 and kl_div of softmax, weights [B, 1, N] (the sum
    then counts each valid query once, so the loss is a sum over heads);
    where(mask, s, finfo.min), kl_div of log_softmax(t).exp(), weights
    expanded to [B, H, N] (a mean over heads); BERT's additive mask
    (1 - m)·-1e4, weights cast before they are spread."""

    def __init__(self, spelling):
        super().__init__()
        self.spelling = spelling

    def forward(self, qs, ks, qt, kt, mask):
        def scores(q, k):
            s = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
            if self.spelling == 0:
                return s.masked_fill(~mask[:, None, None, :], -1e4)
            if self.spelling == 2:
                return s + (1.0 - mask[:, None, None, :].float()) * -10000.0
            return torch.where(mask[:, None, None, :], s, torch.finfo(torch.float32).min)
        ls = F.log_softmax(scores(qs, ks), -1)
        if self.spelling != 1:
            kl = F.kl_div(ls, F.softmax(scores(qt, kt), -1), reduction="none").sum(-1)
            valid = mask[:, None, :].float() if self.spelling == 0 else mask.float()[:, None, :]
        else:
            kl = F.kl_div(ls, F.log_softmax(scores(qt, kt), -1).exp(), reduction="none").sum(-1)
            valid = mask[:, None, :].float().expand_as(kl)
        return (kl * valid).sum() / valid.sum()


@pytest.mark.parametrize("spelling", [0, 1, 2])
def test_exported_masked_attention_kl_becomes_attention_transfer(ube_module, tmp_path, spelling):
    qs, ks = randn(2, 3, 6, 16), randn(2, 3, 6, 16)
    qt, kt = randn(2, 3, 6, 8), randn(2, 3, 6, 8)
    mask = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], bool)
    module = MaskedAttentionKl(spelling)
    path = tmp_path / "attention.json"
    args = (qs, ks, qt, kt, mask)
    ube_module.export(module, tuple(torch.from_numpy(a) for a in args), path)
    from ube import _ube_compiler
    graph_ir = _ube_compiler.compile_file(str(path), emit="ube").decode()
    assert "ube.attention_transfer_loss" in graph_ir and "mask %arg4" in graph_ir
    assert "ube.softmax" not in graph_ir and "ube.log_softmax" not in graph_ir
    ref = module(*(torch.from_numpy(a).double() if a.dtype != bool else torch.from_numpy(a)
                   for a in args))
    assert rel_error(ube_module.compile(path)(*args), ref) <= TOL


class HiddenMse(torch.nn.Module):
    """TinyBERT's hidden-state loss with a learned projection."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Parameter(torch.from_numpy(randn(6, 12, scale=0.3)))

    def forward(self, hs, ht):
        return F.mse_loss(F.layer_norm(hs @ self.proj, (12,)), F.layer_norm(ht, (12,)))


def test_exported_hidden_mse_becomes_feature_map_loss(ube_module, tmp_path):
    hs, ht = randn(2, 5, 6), randn(2, 5, 12, scale=2)
    module = HiddenMse()
    path = tmp_path / "hidden.json"
    ube_module.export(module, (torch.from_numpy(hs), torch.from_numpy(ht)), path)
    from ube import _ube_compiler
    graph_ir = _ube_compiler.compile_file(str(path), emit="ube").decode()
    assert "ube.feature_map_loss" in graph_ir and "ube.mse_loss" not in graph_ir
    with torch.no_grad():
        ref = module.double()(torch.from_numpy(hs).double(), torch.from_numpy(ht).double())
    assert rel_error(ube_module.compile(path)(hs, ht), ref) <= TOL


def projected_kd_torch(hs, ws, ht, wt, temperature, labels, alpha, ignore=-100):
    """projected_kd_loss in float64 and its gradients for hs and ws."""
    hsv, wsv = (torch.from_numpy(a).double().requires_grad_() for a in (hs, ws))
    s = hsv @ wsv.T
    t = torch.from_numpy(ht).double() @ torch.from_numpy(wt).double().T
    vocab = s.shape[-1]
    s, t = s.reshape(-1, vocab), t.reshape(-1, vocab)
    log_ps, log_pt = F.log_softmax(s / temperature, -1), F.log_softmax(t / temperature, -1)
    kl = (log_pt.exp() * (log_pt - log_ps)).sum(-1)
    y = torch.from_numpy(labels.reshape(-1))
    counted = (y != ignore).double()
    count = counted.sum().clamp(min=1)
    loss = temperature ** 2 * (kl * counted).sum() / count
    picked = F.log_softmax(s, -1).gather(1, y.clamp(0, vocab - 1)[:, None])[:, 0]
    loss = loss + alpha * (-picked * counted).sum() / count
    loss.backward()
    return loss.item(), hsv.grad.numpy(), wsv.grad.numpy()


@pytest.mark.parametrize("rows,together", [(133, True), (133, False), (6, True)])
def test_projected_kd_loss(runner, rows, together):
    """projected_kd_loss and its gradient against float64 PyTorch: 133 rows
    × 33000 words is two chunks (67 and 66 rows), 6 rows one; the loss and
    gradient built together (a training step) or the gradient alone; a
    hard-label term and ignored rows (a whole chunk's worth of them)."""
    vocab, ds, dt = 33000, 24, 16
    hs, ht = randn(1, rows, ds), randn(1, rows, dt, scale=1.5)
    ws, wt = randn(vocab, ds, scale=0.3), randn(vocab, dt, scale=0.3)
    y = rng.integers(0, vocab, (1, rows)).astype(np.int64)
    y[0, : rows // 4] = -1
    y[0, -3:] = -1
    inputs = {"hs": hs, "ws": ws, "ht": ht, "wt": wt, "g": np.array(1.5, np.float32), "y": y}
    t = lambda a: "tensor<" + "x".join(map(str, a.shape)) + "xf32>"  # noqa: E731
    types = f"{t(hs)}, {t(ws)}, {t(ht)}, {t(wt)}"
    attrs = "{temperature = 2.0, alpha = 0.5, ignore_index = -1}"
    grad = (f"%d:2 = ube.projected_kd_loss_grad %hs, %ws, %ht, %wt, %g labels %y {attrs} : "
            f"{types}, tensor<f32>, tensor<1x{rows}xi64>\n")
    if together:
        body = (f"%l = ube.projected_kd_loss %hs, %ws, %ht, %wt labels %y {attrs} : {types}, "
                f"tensor<1x{rows}xi64>\n" + grad +
                f" return %l, %d#0, %d#1 : tensor<f32>, {t(hs)}, {t(ws)}")
        outputs = {"loss": "tensor<f32>", "dhs": t(hs), "dws": t(ws)}
    else:
        body = grad + f" return %d#0, %d#1 : {t(hs)}, {t(ws)}"
        outputs = {"dhs": t(hs), "dws": t(ws)}
    out = runner.mlir(body, inputs, outputs)
    ref_loss, ref_hs, ref_ws = projected_kd_torch(hs, ws, ht, wt, 2.0, y, 0.5, ignore=-1)
    if together:
        assert rel_error(out["loss"], ref_loss) <= TOL
    assert rel_error(out["dhs"], 1.5 * ref_hs) <= TOL
    assert rel_error(out["dws"], 1.5 * ref_ws) <= TOL


class HeadKd(torch.nn.Module):
    """KD through two bias-free LM heads, as a user writes it in PyTorch."""

    def __init__(self, vocab, ds, dt):
        super().__init__()
        self.student = torch.nn.Linear(ds, vocab, bias=False)
        self.teacher = torch.nn.Linear(dt, vocab, bias=False)

    def forward(self, hs, ht):
        s, t = self.student(hs) / 2.0, self.teacher(ht) / 2.0
        return F.kl_div(F.log_softmax(s, -1), F.softmax(t, -1), reduction="batchmean") * 4.0


def test_exported_head_kd_becomes_projected_kd_loss(ube_module, tmp_path):
    torch.manual_seed(3)
    module = HeadKd(40, 6, 10)
    hs, ht = randn(7, 6), randn(7, 10)
    path = tmp_path / "head_kd.json"
    ube_module.export(module, (torch.from_numpy(hs), torch.from_numpy(ht)), path)
    from ube import _ube_compiler
    graph_ir = _ube_compiler.compile_file(str(path), emit="ube").decode()
    assert "ube.projected_kd_loss" in graph_ir and "ube.linear" not in graph_ir
    with torch.no_grad():
        ref = module.double()(torch.from_numpy(hs).double(), torch.from_numpy(ht).double())
    assert rel_error(ube_module.compile(path)(hs, ht), ref.item()) <= TOL
