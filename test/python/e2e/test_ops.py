"""Every ube op compiled for the CPU and run, against a float64 reference
(numpy / PyTorch) on random inputs with a fixed seed.

Tolerance: float32 results are compared by max|out - ref| / max|ref|. Plain
arithmetic and data movement must be exact or within a few float32 ulps
(1e-6); transcendental functions (polynomial approximations, a few ulp) and
reductions/contractions (float32 accumulation over up to a few hundred terms)
within 2e-5."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ubetest import philox_uniform, rel_error

TIGHT = 1e-6
LOOSE = 2e-5

rng = np.random.default_rng(1234)


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def positive(*shape):
    return rng.uniform(0.1, 3.0, shape).astype(np.float32)


def t64(a):
    return torch.from_numpy(np.asarray(a)).double()


UNARY = [
    ("neg", randn, lambda x: -x, TIGHT),
    ("abs", randn, torch.abs, TIGHT),
    ("exp", randn, torch.exp, LOOSE),
    ("log", positive, torch.log, LOOSE),
    ("sqrt", positive, torch.sqrt, TIGHT),
    ("rsqrt", positive, torch.rsqrt, LOOSE),
    ("tanh", randn, torch.tanh, LOOSE),
    ("erf", randn, torch.erf, LOOSE),
    ("sigmoid", randn, torch.sigmoid, LOOSE),
    ("relu", randn, torch.relu, TIGHT),
    ("silu", randn, F.silu, LOOSE),
    ("sin", randn, torch.sin, LOOSE),
    ("cos", randn, torch.cos, LOOSE),
]


@pytest.mark.parametrize("op,make,ref,tol", UNARY, ids=[u[0] for u in UNARY])
def test_unary(runner, op, make, ref, tol):
    x = make(3, 17)
    assert rel_error(runner.op(op, {"x": x}), ref(t64(x))) <= tol


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu(runner, approximate):
    x = randn(4, 33) * 3
    out = runner.op("gelu", {"x": x}, {"approximate": approximate})
    assert rel_error(out, F.gelu(t64(x), approximate=approximate)) <= LOOSE


def test_integer_unary(runner):
    i = rng.integers(-50, 50, (5, 6)).astype(np.int32)
    assert np.array_equal(runner.op("neg", {"i": i}), -i)
    assert np.array_equal(runner.op("abs", {"i": i}), np.abs(i))
    assert np.array_equal(runner.op("relu", {"i": i}), np.maximum(i, 0))


def test_logical(runner):
    a, b = rng.random((3, 4)) < 0.5, rng.random((4,)) < 0.5
    assert np.array_equal(runner.op("logical_and", {"a": a, "b": b}), a & b)
    assert np.array_equal(runner.op("logical_or", {"a": a, "b": b}), a | b)
    assert np.array_equal(runner.op("logical_not", {"a": a}), ~a)


BINARY = [
    ("add", np.add), ("sub", np.subtract), ("mul", np.multiply), ("div", np.divide),
    ("maximum", np.maximum), ("minimum", np.minimum),
]


@pytest.mark.parametrize("op,ref", BINARY, ids=[b[0] for b in BINARY])
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 5)),
                                    ((), (2, 2))], ids=["same", "row", "outer", "scalar"])
def test_binary_broadcast(runner, op, ref, shapes):
    a, b = randn(*shapes[0]), randn(*shapes[1])
    if op == "div":
        b = np.where(np.abs(b) < 0.1, np.float32(0.5), b)
    out = runner.op(op, {"a": a, "b": b})
    assert rel_error(out, ref(a.astype(np.float64), b.astype(np.float64))) <= TIGHT


def test_pow(runner):
    a, b = positive(3, 4), randn(4)
    assert rel_error(runner.op("pow", {"a": a, "b": b}), t64(a) ** t64(b)) <= LOOSE


def test_integer_binary(runner):
    a = rng.integers(-100, 100, (4, 5)).astype(np.int64)
    b = rng.integers(1, 9, (5,)).astype(np.int64)
    assert np.array_equal(runner.op("add", {"a": a, "b": b}), a + b)
    assert np.array_equal(runner.op("mul", {"a": a, "b": b}), a * b)
    # Integer division truncates toward zero, like C (not numpy's floor).
    assert np.array_equal(runner.op("div", {"a": a, "b": b}), np.trunc(a / b).astype(np.int64))


@pytest.mark.parametrize("predicate,ref", [("eq", np.equal), ("ne", np.not_equal),
                                           ("lt", np.less), ("le", np.less_equal),
                                           ("gt", np.greater), ("ge", np.greater_equal)])
def test_compare(runner, predicate, ref):
    a = rng.integers(0, 3, (3, 4)).astype(np.float32)
    b = rng.integers(0, 3, (4,)).astype(np.float32)
    out = runner.op("compare", {"a": a, "b": b}, {"predicate": predicate})
    assert out.dtype == np.bool_ and np.array_equal(out, ref(a, b))
    ai, bi = a.astype(np.int32), b.astype(np.int32)
    assert np.array_equal(runner.op("compare", {"a": ai, "b": bi}, {"predicate": predicate}),
                          ref(ai, bi))


def test_where(runner):
    c, a, b = rng.random((3, 1)) < 0.5, randn(3, 4), randn(4)
    assert np.array_equal(runner.op("where", {"c": c, "a": a, "b": b}), np.where(c, a, b))


@pytest.mark.parametrize("src,dst", [("float32", "i32"), ("int32", "f32"), ("float32", "i1"),
                                     ("bool", "f32"), ("float32", "f16"), ("int64", "i32"),
                                     ("bool", "i64")])
def test_cast(runner, src, dst):
    x = (randn(4, 5) * 10).astype(src) if src != "bool" else rng.random((4, 5)) < 0.5
    if src == "float32":
        x[0, 0] = 0.0  # exercises "!= 0" for i1
    out = runner.op("cast", {"x": x}, dtype=dst)
    np_dst = {"i32": np.int32, "f32": np.float32, "i1": np.bool_, "f16": np.float16,
              "i64": np.int64}[dst]
    expected = (x != 0) if dst == "i1" else (np.trunc(x) if src == "float32" and dst[0] == "i"
                                             else x).astype(np_dst)
    assert out.dtype == np_dst and np.array_equal(out, expected)


@pytest.mark.parametrize("a_shape,b_shape,attrs", [
    ((5, 7), (7, 3), {}),
    ((2, 5, 7), (7, 3), {}),
    ((2, 1, 5, 7), (3, 7, 4), {}),
    ((7, 5), (7, 3), {"transpose_lhs": True}),
    ((4, 5, 7), (3, 7), {"transpose_rhs": True}),
    ((7,), (7, 3), {}),
    ((2, 5, 7), (7,), {}),
    ((7,), (7,), {}),
])
def test_matmul(runner, a_shape, b_shape, attrs):
    a, b = randn(*a_shape), randn(*b_shape)
    ta, tb = t64(a), t64(b)
    if attrs.get("transpose_lhs"):
        ta = ta.transpose(-1, -2)
    if attrs.get("transpose_rhs"):
        tb = tb.transpose(-1, -2)
    out = runner.op("matmul", {"a": a, "b": b}, attrs)
    assert rel_error(out, torch.matmul(ta, tb)) <= LOOSE


def test_integer_matmul(runner):
    a = rng.integers(-5, 5, (3, 4)).astype(np.int32)
    b = rng.integers(-5, 5, (4, 2)).astype(np.int32)
    assert np.array_equal(runner.op("matmul", {"a": a, "b": b}), a @ b)


@pytest.mark.parametrize("bias", [True, False])
def test_linear(runner, bias):
    x, w, b = randn(2, 3, 16), randn(8, 16), randn(8)
    inputs = {"x": x, "w": w, **({"b": b} if bias else {})}
    ref = F.linear(t64(x), t64(w), t64(b) if bias else None)
    assert rel_error(runner.op("linear", inputs), ref) <= LOOSE


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax(runner, axis):
    x = randn(3, 5, 7) * 4
    assert rel_error(runner.op("softmax", {"x": x}, {"axis": axis}),
                     torch.softmax(t64(x), axis)) <= LOOSE
    assert rel_error(runner.op("log_softmax", {"x": x}, {"axis": axis}),
                     torch.log_softmax(t64(x), axis)) <= LOOSE


def test_softmax_is_stable(runner):
    x = np.array([[1e4, -1e4, 0.0, 1e4 - 1]], dtype=np.float32)
    out = runner.op("softmax", {"x": x})
    assert np.all(np.isfinite(out))
    assert rel_error(out, torch.softmax(t64(x), -1)) <= LOOSE
    assert rel_error(runner.op("log_softmax", {"x": x}), torch.log_softmax(t64(x), -1)) <= LOOSE


@pytest.mark.parametrize("affine", [0, 1, 2])
@pytest.mark.parametrize("axis", [-1, -2])
def test_layer_norm(runner, affine, axis):
    x = randn(2, 4, 8) * 3 + 1
    normalized = x.shape[axis:]
    w, b = randn(*normalized), randn(*normalized)
    inputs = {"x": x, **({"w": w} if affine else {}), **({"b": b} if affine == 2 else {})}
    out = runner.op("layer_norm", inputs, {"axis": axis, "epsilon": 1e-5})
    ref = F.layer_norm(t64(x), normalized, t64(w) if affine else None,
                       t64(b) if affine == 2 else None, eps=1e-5)
    assert rel_error(out, ref) <= LOOSE


def test_sin_cos_of_rotary_angles(runner):
    """Rotary embeddings take sin and cos of position × frequency: arguments
    in the thousands, where a float32 range reduction must stay exact."""
    x = (np.arange(2048, dtype=np.float32)[:, None] * (10000.0 ** -np.linspace(0, 1, 8))
         ).astype(np.float32)
    for op, ref in (("sin", torch.sin), ("cos", torch.cos)):
        assert np.max(np.abs(runner.op(op, {"x": x}) - ref(t64(x)).numpy())) <= 1e-6


@pytest.mark.parametrize("weight", [False, True])
@pytest.mark.parametrize("axis", [-1, -2])
def test_rms_norm(runner, weight, axis):
    x = randn(2, 4, 24) * 3 + 1
    normalized = x.shape[axis:]
    w = randn(*normalized)
    inputs = {"x": x, **({"w": w} if weight else {})}
    out = runner.op("rms_norm", inputs, {"axis": axis, "epsilon": 1e-6})
    ref = F.rms_norm(t64(x), normalized, t64(w) if weight else None, eps=1e-6)
    assert rel_error(out, ref) <= LOOSE


def sdpa_reference(q, k, v, mask=None, **kwargs):
    return F.scaled_dot_product_attention(
        t64(q), t64(k), t64(v), attn_mask=None if mask is None else (
            torch.from_numpy(mask) if mask.dtype == bool else t64(mask)), **kwargs)


ATTENTION = {
    # name: (query, key, value, mask shapes or None, mask dtype, attrs)
    "plain": ((2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 4), None, None, {}),
    "rank2": ((5, 8), (7, 8), (7, 8), None, None, {"scale": 0.3}),
    "grouped": ((2, 6, 5, 8), (2, 2, 7, 8), (2, 2, 7, 4), None, None, {}),
    "multi_query": ((1, 4, 5, 8), (1, 1, 7, 8), (1, 1, 7, 8), None, None, {}),
    "batch_broadcast": ((3, 2, 5, 8), (1, 2, 7, 8), (1, 2, 7, 8), None, None, {}),
    "causal": ((2, 2, 6, 8), (2, 2, 6, 8), (2, 2, 6, 8), None, None, {"is_causal": True}),
    "causal_rectangular": ((1, 2, 4, 8), (1, 2, 7, 8), (1, 2, 7, 8), None, None,
                           {"is_causal": True}),
    "bool_mask": ((2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 8), (2, 1, 1, 7), bool, {}),
    "float_mask": ((2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 8), (3, 5, 7), np.float32, {}),
    "grouped_mask_per_head": ((1, 4, 5, 8), (1, 2, 7, 8), (1, 2, 7, 8), (1, 4, 5, 7), bool, {}),
    "mask_and_causal": ((1, 2, 6, 8), (1, 2, 6, 8), (1, 2, 6, 8), (6, 6), bool,
                        {"is_causal": True}),
    # Past a block of the cpu kernel's keys (64 on AVX-512, 32 on AVX2): full
    # blocks, then the keys left; a causal tile stopping at its last row; a
    # float mask per row with grouped heads and a ragged values row.
    "long_causal": ((1, 2, 150, 8), (1, 2, 150, 8), (1, 2, 150, 8), None, None,
                    {"is_causal": True}),
    "long_float_mask_grouped": ((1, 4, 70, 16), (1, 2, 130, 16), (1, 2, 130, 20), (4, 70, 130),
                                np.float32, {}),
    "long_bool_mask_rows": ((2, 2, 33, 8), (2, 2, 200, 8), (2, 2, 200, 8), (2, 1, 33, 200), bool,
                            {"is_causal": True}),
}


@pytest.mark.parametrize("case", sorted(ATTENTION))
def test_scaled_dot_product_attention(runner, case):
    q_shape, k_shape, v_shape, mask_shape, mask_dtype, attrs = ATTENTION[case]
    q, k, v = randn(*q_shape), randn(*k_shape), randn(*v_shape)
    inputs = {"q": q, "k": k, "v": v}
    mask = None
    if mask_shape:
        mask = (rng.uniform(size=mask_shape) < 0.7 if mask_dtype is bool
                else randn(*mask_shape))
        inputs["mask"] = mask
    out = runner.op("scaled_dot_product_attention", inputs, attrs)
    gqa = k_shape[-3:-2] != q_shape[-3:-2] if len(q_shape) >= 3 else False
    ref = sdpa_reference(q, k, v, mask, enable_gqa=gqa, **attrs)
    assert rel_error(out, ref) <= LOOSE


@pytest.mark.parametrize("keys", [5, 100])
def test_attention_row_without_keys_is_zero(runner, keys):
    """A query whose every key is masked (a boolean mask or -inf in a float
    one) attends to nothing: zeros, as PyTorch, never NaN."""
    q, k, v = randn(1, 4, 8), randn(1, keys, 8), randn(1, keys, 8)
    keep = np.ones((4, keys), bool)
    keep[2] = False
    bias = np.where(keep, 0.0, -np.inf).astype(np.float32)
    for mask in (keep, bias):
        out = runner.op("scaled_dot_product_attention", {"q": q, "k": k, "v": v, "m": mask})
        assert np.all(np.isfinite(out)) and np.all(out[:, 2] == 0)
        assert rel_error(out, sdpa_reference(q, k, v, mask)) <= LOOSE


def test_inputs_are_never_written(runner):
    """A matmul summed into an input (x + a·bᵀ runs as one kernel starting
    from x) and attention with a float mask (the scores are summed into the
    mask) leave the caller's arrays as they were."""
    a, b = randn(2, 3, 4, 8), randn(2, 3, 6, 8)
    x = randn(2, 3, 4, 6)
    before = x.copy()
    out = runner.graph({"a": a, "b": b, "x": x}, [
        {"name": "p", "op": "matmul", "inputs": ["a", "b"], "attrs": {"transpose_rhs": True}},
        {"name": "y", "op": "add", "inputs": ["p", "x"]}], ["y"])["y"]
    assert np.array_equal(x, before)
    assert rel_error(out, t64(a) @ t64(b).transpose(-1, -2) + t64(x)) <= LOOSE
    runner.op("scaled_dot_product_attention", {"q": a, "k": b, "v": b, "m": x})
    assert np.array_equal(x, before)


@pytest.mark.parametrize("op,ref", [("reduce_sum", torch.sum), ("reduce_mean", torch.mean),
                                    ("reduce_max", torch.amax)])
@pytest.mark.parametrize("axes,keepdims", [([], False), ([1], False), ([0, 2], True),
                                           ([-1], True), ([], True)])
def test_reductions(runner, op, ref, axes, keepdims):
    x = randn(3, 4, 5)
    out = runner.op(op, {"x": x}, {"axes": axes, "keepdims": keepdims})
    dims = tuple(axes) if axes else tuple(range(x.ndim))
    assert rel_error(out, ref(t64(x), dim=dims, keepdim=keepdims)) <= LOOSE


def test_integer_reductions(runner):
    x = rng.integers(-20, 20, (4, 6)).astype(np.int32)
    assert np.array_equal(runner.op("reduce_sum", {"x": x}, {"axes": [1]}), x.sum(1))
    assert np.array_equal(runner.op("reduce_max", {"x": x}, {"axes": [0]}), x.max(0))


def test_transpose(runner):
    x = randn(2, 3, 4)
    assert np.array_equal(runner.op("transpose", {"x": x}, {"perm": [2, 0, 1]}),
                          x.transpose(2, 0, 1))


@pytest.mark.parametrize("src,dst", [((2, 3, 4), (6, 4)), ((6, 4), (2, 12)), ((1,), ()),
                                     ((), (1, 1)), ((24,), (2, 3, 4))])
def test_reshape(runner, src, dst):
    x = randn(*src)
    assert np.array_equal(runner.op("reshape", {"x": x}, shape=list(dst)), x.reshape(dst))


def test_broadcast_to(runner):
    x = randn(3, 1)
    out = runner.op("broadcast_to", {"x": x}, shape=[2, 3, 5])
    assert np.array_equal(out, np.broadcast_to(x, (2, 3, 5)))


@pytest.mark.parametrize("axis", [1, -1])
def test_concat(runner, axis):
    a, b, c = randn(2, 3), randn(2, 1), randn(2, 4)
    assert np.array_equal(runner.op("concat", {"a": a, "b": b, "c": c}, {"axis": axis}),
                          np.concatenate([a, b, c], axis))


def test_slice(runner):
    x = randn(5, 8)
    out = runner.op("slice", {"x": x}, {"start": [1, 0], "limit": [5, 7], "stride": [2, 3]})
    assert np.array_equal(out, x[1:5:2, 0:7:3])


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_gather_embedding(runner, dtype):
    table, ids = randn(50, 8), rng.integers(0, 50, (3, 5)).astype(dtype)
    assert np.array_equal(runner.op("gather", {"table": table, "ids": ids}), table[ids])


@pytest.mark.parametrize("axis", [1, -2])
def test_gather_axis(runner, axis):
    x, ids = randn(3, 6, 2), np.array([5, 0, 0, 2], dtype=np.int64)
    assert np.array_equal(runner.op("gather", {"x": x, "ids": ids}, {"axis": axis}),
                          np.take(x, ids, axis=axis))


def test_constant(runner):
    x = randn(3)
    nodes = [{"name": "c", "op": "constant", "dtype": "f32", "shape": [3],
              "value": [1.5, -2.0, "inf"]},
             {"name": "h", "op": "constant", "dtype": "f32", "shape": [], "value": 0.5},
             {"name": "y", "op": "add", "inputs": ["x", "c"]},
             {"name": "z", "op": "mul", "inputs": ["y", "h"]}]
    out = runner.graph({"x": x}, nodes, ["z"])["z"]
    assert np.array_equal(out, (x + np.array([1.5, -2.0, np.inf], np.float32)) * 0.5)


@pytest.mark.parametrize("with_step", [False, True])
def test_dropout_matches_philox(runner, with_step):
    x = randn(4, 9) + 2
    rate, seed, step = 0.3, 7, 5
    inputs = {"x": x, **({"step": np.array(step, dtype=np.int64)} if with_step else {})}
    out = runner.op("dropout", inputs, {"rate": rate, "seed": seed})
    used_step = step if with_step else 0
    keep = np.array([philox_uniform(i, used_step, seed) >= rate for i in range(x.size)])
    expected = np.where(keep.reshape(x.shape), x / np.float32(1 - rate), 0)
    assert rel_error(out, expected) <= TIGHT
    assert 0.4 < keep.mean() < 0.95


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy(runner, reduction):
    logits, labels = randn(6, 10) * 2, rng.integers(0, 10, (6,)).astype(np.int64)
    labels[2] = -100
    out = runner.op("cross_entropy", {"logits": logits, "labels": labels},
                    {"reduction": reduction})
    ref = F.cross_entropy(t64(logits), torch.from_numpy(labels), reduction=reduction)
    assert rel_error(out, ref) <= LOOSE


def test_cross_entropy_all_ignored_is_zero(runner):
    logits, labels = randn(3, 4), np.full((3,), 7, dtype=np.int32)
    out = runner.op("cross_entropy", {"logits": logits, "labels": labels}, {"ignore_index": 7})
    assert out == 0.0


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(runner, reduction):
    a, b = randn(4, 5), randn(4, 5)
    out = runner.op("mse_loss", {"a": a, "b": b}, {"reduction": reduction})
    assert rel_error(out, F.mse_loss(t64(a), t64(b), reduction=reduction)) <= LOOSE


def kd_reference(s, t, temperature, scale, labels=None, alpha=0.0, ignore=-100):
    s, t = t64(s).reshape(-1, s.shape[-1]), t64(t).reshape(-1, t.shape[-1])
    log_ps = F.log_softmax(s / temperature, -1)
    log_pt = F.log_softmax(t / temperature, -1)
    kl = (log_pt.exp() * (log_pt - log_ps)).sum(-1)
    if labels is not None:
        y = torch.from_numpy(labels.reshape(-1))
        valid = (y != ignore).double()
        kd = (kl * valid).sum() / valid.sum().clamp(min=1)
    else:
        kd = kl.mean()
    if scale:
        kd = kd * temperature ** 2
    if alpha:
        kd = kd + alpha * F.cross_entropy(s, torch.from_numpy(labels.reshape(-1)),
                                          ignore_index=ignore)
    return kd


@pytest.mark.parametrize("temperature,scale", [(1.0, True), (2.0, True), (4.0, False),
                                               (0.5, True), (20.0, True)])
def test_kd_loss(runner, temperature, scale):
    s, t = randn(2, 3, 50) * 3, randn(2, 3, 50) * 3
    out = runner.op("kd_loss", {"s": s, "t": t},
                    {"temperature": temperature, "scale_by_temperature_squared": scale})
    ref = kd_reference(s, t, temperature, scale)
    assert rel_error(out, ref) <= LOOSE
    # The classic PyTorch formulation agrees for 2-D logits.
    if scale:
        s2, t2 = t64(s).reshape(6, 50), t64(t).reshape(6, 50)
        classic = F.kl_div(F.log_softmax(s2 / temperature, -1), F.softmax(t2 / temperature, -1),
                           reduction="batchmean") * temperature ** 2
        assert rel_error(out, classic) <= LOOSE


def test_kd_loss_hard_labels(runner):
    s, t = randn(8, 20), randn(8, 20)
    y = rng.integers(0, 20, (8,)).astype(np.int64)
    y[[1, 5]] = -1
    out = runner.op("kd_loss", {"s": s, "t": t, "y": y},
                    {"temperature": 2.0, "alpha": 0.5, "ignore_index": -1})
    assert rel_error(out, kd_reference(s, t, 2.0, True, y, 0.5, -1)) <= LOOSE


def test_kd_loss_extreme_logits(runner):
    s, t = randn(4, 30) * 1e4, randn(4, 30) * 1e4
    out = runner.op("kd_loss", {"s": s, "t": t}, {"temperature": 1.0})
    assert np.isfinite(out)
    assert rel_error(out, kd_reference(s, t, 1.0, True)) <= LOOSE


@pytest.mark.parametrize("projection", [False, True])
def test_feature_map_loss(runner, projection):
    hs = randn(2, 5, 6 if projection else 12)
    ht = randn(2, 5, 12) * 2 + 0.5
    w = randn(6, 12) * 0.3
    inputs = {"hs": hs, "ht": ht, **({"w": w} if projection else {})}
    alpha, beta, gamma, eps = 1.0, 0.5, 0.25, 1e-5
    out = runner.op("feature_map_loss", inputs,
                    {"alpha": alpha, "beta": beta, "gamma": gamma, "epsilon": eps})
    h = t64(hs) @ t64(w) if projection else t64(hs)
    t = t64(ht)
    mse = F.mse_loss(F.layer_norm(h, (12,), eps=eps), F.layer_norm(t, (12,), eps=eps))
    mean_term = ((t.mean(-1) - h.mean(-1)) ** 2).mean()
    var_term = (t.var(-1, unbiased=False) - h.var(-1, unbiased=False)).abs().mean()
    ref = alpha * mse + beta * mean_term + gamma * var_term
    assert rel_error(out, ref) <= LOOSE


def attention_reference(qs, ks, qt, kt, mask=None):
    def log_attention(q, k):
        scores = t64(q) @ t64(k).transpose(-1, -2) / math.sqrt(q.shape[-1])
        if mask is not None:
            scores = scores.masked_fill(~torch.from_numpy(mask)[:, None, None, :], -1e300)
        return F.log_softmax(scores, -1)
    ls, lt = log_attention(qs, ks), log_attention(qt, kt)
    kl = (lt.exp() * (lt - ls)).sum(-1)  # [B, H, N]
    if mask is None:
        return kl.mean()
    qmask = torch.from_numpy(mask)[:, None, :].double()
    return (kl * qmask).sum() / (qmask.sum() * qs.shape[1])


@pytest.mark.parametrize("masked", [False, True])
def test_attention_transfer_loss(runner, masked):
    qs, ks = randn(2, 3, 6, 4), randn(2, 3, 6, 4)
    qt, kt = randn(2, 3, 6, 8), randn(2, 3, 6, 8)
    mask = np.ones((2, 6), dtype=bool)
    mask[0, 4:] = False
    inputs = {"qs": qs, "ks": ks, "qt": qt, "kt": kt, **({"mask": mask} if masked else {})}
    out = runner.op("attention_transfer_loss", inputs)
    ref = attention_reference(qs, ks, qt, kt, mask if masked else None)
    assert rel_error(out, ref) <= LOOSE


def test_transfer_probability(runner):
    for step, expected in [(0, 0.2), (100, 0.3), (10000, 1.0)]:
        out = runner.op("transfer_probability", {"step": np.array(step, dtype=np.int64)},
                        {"slope": 0.001, "offset": 0.2})
        assert abs(float(out) - expected) < 1e-7


def test_bernoulli_select_matches_philox(runner):
    s, t = randn(3, 4), randn(3, 4)
    seed, module = 11, 3
    chosen = []
    for step in range(12):
        p = np.array(0.5, dtype=np.float32)
        out = runner.op("bernoulli_select",
                        {"p": p, "step": np.array(step, dtype=np.int64), "s": s, "t": t},
                        {"seed": seed, "module_id": module})
        use_student = philox_uniform(module, step, seed) < 0.5
        assert np.array_equal(out, s if use_student else t)
        chosen.append(use_student)
    assert 0 < sum(chosen) < 12
