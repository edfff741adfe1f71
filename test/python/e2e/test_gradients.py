"""Reverse-mode gradients (--ube-autodiff, the graph format's "gradient")
against torch.autograd in float64, for every differentiable op and for whole
networks.

Each case computes loss = sum(op(inputs) * r) for a fixed random cotangent r
(or the op's own scalar loss) and compares d loss / d input for every float
input with the gradient torch computes for the same formula. Tolerance: the
gradients run in float32 against a float64 reference; the largest reductions
here add a few hundred terms, so 1e-4 of the gradient's largest magnitude
(rel_error) bounds the rounding with a wide margin."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ubetest import philox_uniforms, rel_error, tensor_decl

TOL = 1e-4
rng = np.random.default_rng(77)


def randn(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def positive(*shape):
    return (rng.uniform(0.5, 2.0, shape)).astype(np.float32)


def unit(*shape):
    """Inside (-0.9, 0.9): the domain of asin, acos, atanh, away from tan's poles."""
    return (rng.uniform(-0.9, 0.9, shape)).astype(np.float32)


def grad_graph(inputs, nodes, out, wrt):
    """A graph whose scalar `loss` is sum(out * r) (r random), or `out`
    itself when it is a scalar, with the gradient for `wrt`."""
    return {"format": "ube.graph", "version": 1,
            "inputs": [tensor_decl(n, a) for n, a in inputs.items()],
            "nodes": nodes, "outputs": ["loss"], "gradient": {"loss": "loss", "wrt": wrt}}


def check(runner, inputs, nodes, torch_fn, wrt=None, out="y", scalar=False, extra_args=()):
    """Compiles the op graph with its gradient and compares the loss and the
    gradients with torch_fn(**float64 tensors) through autograd."""
    inputs = dict(inputs)
    wrt = wrt or [n for n, a in inputs.items() if a.dtype == np.float32]
    nodes = list(nodes)
    reference = {n: torch.from_numpy(a).double() if a.dtype == np.float32 else torch.from_numpy(a)
                 for n, a in inputs.items()}
    for n in wrt:
        reference[n].requires_grad_()
    value = torch_fn(**reference)
    if scalar:
        nodes.append({"name": "loss", "op": "mul", "inputs": [out, "r"]})
        r = np.array(rng.uniform(0.5, 2.0), np.float32)
    else:
        nodes.append({"name": "yr", "op": "mul", "inputs": [out, "r"]})
        nodes.append({"name": "loss", "op": "reduce_sum", "inputs": ["yr"]})
        r = randn(*value.shape)
    inputs["r"] = r
    loss = (value * torch.from_numpy(r).double()).sum()
    loss.backward()
    exe = runner.compile(grad_graph(inputs, nodes, out, wrt), extra_args=extra_args)
    results = runner.run(exe, inputs)
    assert rel_error(results["loss"], loss.detach().numpy()) <= TOL
    for n in wrt:
        expected = reference[n].grad  # None: the loss does not depend on it
        expected = np.zeros(inputs[n].shape) if expected is None else expected.numpy()
        assert rel_error(results[f"d_{n}"], expected) <= TOL, n


def node(op, inputs, name="y", **attrs):
    n = {"name": name, "op": op, "inputs": inputs}
    if attrs:
        n["attrs"] = attrs
    return n


UNARY = {
    "neg": (randn, torch.neg, {}), "abs": (randn, torch.abs, {}), "exp": (randn, torch.exp, {}),
    "log": (positive, torch.log, {}), "sqrt": (positive, torch.sqrt, {}),
    "rsqrt": (positive, torch.rsqrt, {}), "tanh": (randn, torch.tanh, {}),
    "erf": (randn, torch.erf, {}), "sigmoid": (randn, torch.sigmoid, {}),
    "relu": (randn, torch.relu, {}), "gelu": (randn, F.gelu, {}),
    "gelu_tanh": (randn, lambda x: F.gelu(x, approximate="tanh"), {"approximate": "tanh"}),
    "silu": (randn, F.silu, {}), "sin": (randn, torch.sin, {}), "cos": (randn, torch.cos, {}),
    "log1p": (positive, torch.log1p, {}), "expm1": (randn, torch.expm1, {}),
    "tan": (unit, torch.tan, {}), "atan": (randn, torch.atan, {}),
    "asin": (unit, torch.asin, {}), "acos": (unit, torch.acos, {}),
    "sinh": (randn, torch.sinh, {}), "cosh": (randn, torch.cosh, {}),
    "asinh": (randn, torch.asinh, {}), "acosh": (lambda *s: positive(*s) + 1.0, torch.acosh, {}),
    "atanh": (unit, torch.atanh, {}),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(runner, name):
    make, fn, attrs = UNARY[name]
    op = "gelu" if name.startswith("gelu") else name
    check(runner, {"x": make(3, 7)}, [node(op, ["x"], **attrs)], lambda x: fn(x))


# Activations with parameters: (ube op, attrs, torch function).
ACTIVATIONS = {
    "leaky_relu": ("leaky_relu", {"alpha": 0.2}, lambda x: F.leaky_relu(x, 0.2)),
    "elu": ("elu", {"alpha": 0.7}, lambda x: F.elu(x, 0.7)),
    "selu": ("elu", {"alpha": 1.6732632423543772, "scale": 1.0507009873554805}, F.selu),
    "celu": ("elu", {"alpha": 2.0, "input_scale": 0.5}, lambda x: F.celu(x, 2.0)),
    "softplus": ("softplus", {"beta": 2.0, "threshold": 3.0},
                 lambda x: F.softplus(x, beta=2.0, threshold=3.0)),
    "mish": ("mish", {}, F.mish), "hard_swish": ("hard_swish", {}, F.hardswish),
    "hard_sigmoid": ("hard_sigmoid", {}, F.hardsigmoid),
    "relu6": ("clamp", {"min": 0.0, "max": 6.0}, F.relu6),
    "clamp_min": ("clamp", {"min": -0.5}, lambda x: torch.clamp(x, min=-0.5)),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation(runner, name):
    op, attrs, fn = ACTIVATIONS[name]
    x = randn(4, 9, scale=4.0)  # past hard_swish's ±3 and relu6's 6
    check(runner, {"x": x}, [node(op, ["x"], **attrs)], lambda x: fn(x))


BINARY = {
    "add": (torch.add, randn, randn), "sub": (torch.sub, randn, randn),
    "mul": (torch.mul, randn, randn), "div": (torch.div, randn, positive),
    "pow": (torch.pow, positive, randn), "maximum": (torch.maximum, randn, randn),
    "minimum": (torch.minimum, randn, randn), "atan2": (torch.atan2, randn, randn),
}


@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (2, 1, 4))],
                         ids=["same", "row", "both"])
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_broadcasting(runner, name, shapes):
    fn, make_a, make_b = BINARY[name]
    check(runner, {"a": make_a(*shapes[0]), "b": make_b(*shapes[1])},
          [node(name, ["a", "b"])], lambda a, b: fn(a, b))


def test_maximum_ties_split_the_gradient(runner):
    a = randn(3, 4)
    b = a.copy()
    b[0] += 1.0
    check(runner, {"a": a, "b": b}, [node("maximum", ["a", "b"])],
          lambda a, b: torch.maximum(a, b))


def test_where(runner):
    c = rng.random((3, 4)) > 0.5
    check(runner, {"c": c, "x": randn(3, 4), "z": randn(4)}, [node("where", ["c", "x", "z"])],
          lambda c, x, z: torch.where(c, x, z), wrt=["x", "z"])


MATMULS = {
    "plain": ((4, 5), (5, 3), {}),
    "transpose_lhs": ((5, 4), (5, 3), {"transpose_lhs": True}),
    "transpose_rhs": ((4, 5), (3, 5), {"transpose_rhs": True}),
    "both": ((5, 4), (3, 5), {"transpose_lhs": True, "transpose_rhs": True}),
    "batched_broadcast": ((2, 3, 4, 5), (5, 6), {}),
    "batch_one": ((2, 4, 5), (1, 5, 3), {}),
    "vector_matrix": ((5,), (2, 5, 3), {}),
    "matrix_vector": ((4, 5), (5,), {}),
    "vectors": ((5,), (5,), {}),
}


@pytest.mark.parametrize("case", sorted(MATMULS))
def test_matmul(runner, case):
    sa, sb, attrs = MATMULS[case]

    def fn(a, b):
        a = a.transpose(-1, -2) if attrs.get("transpose_lhs") else a
        b = b.transpose(-1, -2) if attrs.get("transpose_rhs") else b
        return torch.matmul(a, b)
    check(runner, {"a": randn(*sa), "b": randn(*sb)}, [node("matmul", ["a", "b"], **attrs)], fn,
          scalar=case == "vectors")


@pytest.mark.parametrize("bias", [True, False])
def test_linear(runner, bias):
    inputs = {"x": randn(2, 3, 4), "w": randn(5, 4)}
    if bias:
        inputs["b"] = randn(5)
    check(runner, inputs, [node("linear", list(inputs))], lambda **t: F.linear(**{
        "input": t["x"], "weight": t["w"], "bias": t.get("b")}))


@pytest.mark.parametrize("axis", [-1, 1])
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax(runner, op, axis):
    fn = torch.softmax if op == "softmax" else torch.log_softmax
    check(runner, {"x": randn(2, 5, 6, scale=2)}, [node(op, ["x"], axis=axis)],
          lambda x: fn(x, axis))


@pytest.mark.parametrize("affine", [0, 1, 2])
def test_layer_norm(runner, affine):
    inputs = {"x": randn(3, 4, 8) * 2 + 1}
    params = {"w": randn(8) + 1, "b": randn(8)}
    inputs.update(list(params.items())[:affine])
    check(runner, inputs, [node("layer_norm", list(inputs))],
          lambda x, w=None, b=None: F.layer_norm(x, (8,), w, b, eps=1e-5))


@pytest.mark.parametrize("axis", [1, -2])
def test_layer_norm_over_two_dimensions(runner, axis):
    check(runner, {"x": randn(3, 4, 5)}, [node("layer_norm", ["x"], axis=axis)],
          lambda x: F.layer_norm(x, (4, 5), eps=1e-5))


@pytest.mark.parametrize("weight", [False, True])
@pytest.mark.parametrize("axis", [-1, -2])
def test_rms_norm(runner, weight, axis):
    inputs = {"x": randn(3, 4, 8) * 2 + 1}
    normalized = inputs["x"].shape[axis:]
    if weight:
        inputs["w"] = randn(*normalized) + 1
    check(runner, inputs, [node("rms_norm", list(inputs), axis=axis, epsilon=1e-6)],
          lambda x, w=None: F.rms_norm(x, normalized, w, eps=1e-6))


ATTENTION = {
    # name: (query, key, value, mask shape, mask kind, attrs)
    "plain": ((2, 2, 5, 8), (2, 2, 6, 8), (2, 2, 6, 4), None, None, {}),
    "grouped": ((1, 4, 5, 8), (1, 2, 6, 8), (1, 2, 6, 8), None, None, {"scale": 0.5}),
    "batch_broadcast": ((2, 2, 5, 8), (1, 2, 6, 8), (1, 2, 6, 8), None, None, {}),
    "causal": ((1, 2, 6, 8), (1, 2, 6, 8), (1, 2, 6, 8), None, None, {"is_causal": True}),
    "bool_mask": ((2, 2, 5, 8), (2, 2, 6, 8), (2, 2, 6, 8), (2, 1, 5, 6), "bool", {}),
    "float_mask": ((1, 4, 5, 8), (1, 2, 6, 8), (1, 2, 6, 8), (4, 5, 6), "float", {}),
    # Past 256 keys: flash-style key blocks (128 and a ragged 44).
    "flash_plain": ((1, 2, 7, 8), (1, 2, 300, 8), (1, 2, 300, 4), None, None, {}),
    "flash_causal": ((1, 2, 300, 8), (1, 2, 300, 8), (1, 2, 300, 8), None, None,
                     {"is_causal": True}),
    "flash_bool_mask_grouped": ((2, 4, 9, 8), (2, 2, 300, 8), (2, 2, 300, 8), (2, 1, 1, 300),
                                "bool", {}),
    "flash_float_mask": ((1, 2, 5, 8), (1, 2, 260, 8), (1, 2, 260, 8), (2, 5, 260), "float",
                         {"scale": 0.3}),
    "flash_float_mask_per_key": ((1, 2, 5, 8), (1, 2, 260, 8), (1, 2, 260, 8), (260,),
                                 "float", {}),
    # The cpu target's backward kernel: sizes that are not whole vectors,
    # tiles or key blocks; keys after the last query under is_causal (no
    # gradient reaches them); keys and values broadcast over the batch.
    "kernel_ragged_bool_mask": ((2, 3, 13, 20), (2, 3, 150, 20), (2, 3, 150, 12),
                                (2, 1, 13, 150), "bool", {}),
    "kernel_causal_grouped_broadcast": ((2, 4, 70, 16), (1, 2, 70, 16), (1, 2, 70, 24), None,
                                        None, {"is_causal": True}),
    "kernel_causal_more_keys": ((1, 2, 20, 8), (1, 2, 90, 8), (1, 2, 90, 8), None, None,
                                {"is_causal": True, "scale": 0.2}),
    "kernel_float_mask_grouped": ((1, 4, 33, 8), (1, 2, 100, 8), (1, 2, 100, 8), (4, 33, 100),
                                  "float", {}),
}


@pytest.mark.parametrize("case", sorted(ATTENTION))
def test_scaled_dot_product_attention(runner, case):
    """Gradients of query, key, value and a float mask; a boolean mask
    leaves one query row with no key (its gradients are zero)."""
    q_shape, k_shape, v_shape, mask_shape, mask_kind, attrs = ATTENTION[case]
    inputs = {"q": randn(*q_shape), "k": randn(*k_shape), "v": randn(*v_shape)}
    if mask_kind == "bool":
        keep = rng.uniform(size=mask_shape) < 0.7
        keep[0, ..., 0, :] = False
        inputs["m"] = keep
    elif mask_kind == "float":
        inputs["m"] = randn(*mask_shape)
    gqa = q_shape[-3] != k_shape[-3]

    def reference(q, k, v, m=None):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=m, enable_gqa=gqa, **attrs)
    check(runner, inputs, [node("scaled_dot_product_attention", list(inputs), **attrs)],
          reference)


ATTENTION_DROPOUT = {
    # name: (query, key, value, mask (dtype, shape) or None, attrs); S > 256 is
    # flash-style in the composition. The cpu kernels take every case: tiles
    # of rows with a ragged last one (L = 5, 9, 13), key blocks with a ragged
    # last vector (S = 37, 300), a float bias per row, keys broadcast over
    # the batch.
    "plain": ((2, 2, 5, 8), (2, 2, 6, 8), (2, 2, 6, 4), None, {}),
    "grouped_bool_mask": ((1, 4, 5, 8), (1, 2, 6, 8), (1, 2, 6, 8), ("bool", (1, 1, 5, 6)), {}),
    "flash_causal": ((1, 2, 300, 8), (1, 2, 300, 8), (1, 2, 300, 8), None,
                     {"is_causal": True}),
    "flash_grouped_bool_mask": ((2, 4, 9, 8), (2, 2, 300, 8), (2, 2, 300, 8),
                                ("bool", (2, 1, 1, 300)), {}),
    "float_mask_broadcast_keys": ((2, 3, 13, 16), (1, 3, 37, 16), (1, 3, 37, 8),
                                  ("float", (2, 1, 13, 37)), {"scale": 0.3}),
    "causal_ragged": ((1, 2, 37, 8), (1, 2, 37, 8), (1, 2, 37, 20), None, {"is_causal": True}),
    # A step and a seed past 32 bits: the draws' high words (a step input
    # follows the mask, graph files filling optional operands in order).
    "high_words": ((2, 2, 7, 8), (2, 2, 21, 8), (2, 2, 21, 8), ("bool", (2, 1, 1, 21)),
                   {"step": 2**33 + 5, "seed": 2**40 + 3}),
}


@pytest.mark.parametrize("path", ["kernels", "composed"])
@pytest.mark.parametrize("case", sorted(ATTENTION_DROPOUT))
def test_scaled_dot_product_attention_dropout(runner, case, path):
    """Attention dropout: the probabilities [B, H, L, S] times ube.dropout's
    Philox keep-mask of (seed, step, index) over 1 - p, in blocks as whole;
    the same masks drawn in the cpu kernels (forward and backward) as in the
    composition (--fused-kernels=false)."""
    q_shape, k_shape, v_shape, mask, attrs = ATTENTION_DROPOUT[case]
    attrs = dict(attrs)
    # Without a step operand, step 0 (a train step gives its own).
    rate, seed, step = 0.3, attrs.pop("seed", 11), attrs.pop("step", None)
    inputs = {"q": randn(*q_shape), "k": randn(*k_shape), "v": randn(*v_shape)}
    if mask and mask[0] == "bool":
        keep = rng.uniform(size=mask[1]) < 0.7
        keep[..., 0] = True  # every row keeps a key
        inputs["m"] = keep
    elif mask:
        inputs["m"] = randn(*mask[1])
    groups = q_shape[-3] // k_shape[-3]
    scores_shape = (*np.broadcast_shapes(q_shape[:-2], k_shape[:-3] + (q_shape[-3],)),
                    q_shape[-2], k_shape[-2])
    kept = torch.from_numpy(philox_uniforms(scores_shape, step or 0, seed) >= rate)
    if step is not None:
        inputs["step"] = np.array(step, np.int64)

    def reference(q, k, v, m=None, step=None):
        k, v = k.repeat_interleave(groups, -3), v.repeat_interleave(groups, -3)
        scores = q @ k.transpose(-1, -2) * attrs.get("scale", 1 / np.sqrt(q.shape[-1]))
        if m is not None and m.dtype == torch.bool:
            scores = scores.masked_fill(~m, -np.inf)
        elif m is not None:
            scores = scores + m
        if attrs.get("is_causal"):
            causal = torch.ones(scores.shape[-2:], dtype=torch.bool).tril()
            scores = scores.masked_fill(~causal, -np.inf)
        p = torch.softmax(scores, -1)
        return (p * kept / (1 - rate)) @ v
    operands = ["q", "k", "v"] + (["m"] if mask else []) + (["step"] if step is not None else [])
    check(runner, inputs, [node("scaled_dot_product_attention", operands,
                                dropout_p=rate, seed=seed, **attrs)], reference,
          extra_args=["--fused-kernels=false"] if path == "composed" else [])


REDUCTIONS = {
    "reduce_sum": lambda x, axes, keep: x.sum(axes, keepdim=keep) if axes else x.sum(),
    "reduce_mean": lambda x, axes, keep: x.mean(axes, keepdim=keep) if axes else x.mean(),
    "reduce_max": lambda x, axes, keep: x.amax(axes, keepdim=keep) if axes else x.amax(),
    "reduce_min": lambda x, axes, keep: x.amin(axes, keepdim=keep) if axes else x.amin(),
}


@pytest.mark.parametrize("axes,keep", [([1], True), ([0, 2], False), ([], False)])
@pytest.mark.parametrize("op", sorted(REDUCTIONS))
def test_reductions(runner, op, axes, keep):
    attrs = {"axes": axes, "keepdims": keep} if axes else {}
    check(runner, {"x": randn(3, 4, 5)}, [node(op, ["x"], **attrs)],
          lambda x: REDUCTIONS[op](x, axes, keep), scalar=not axes)


def test_data_movement(runner):
    """transpose -> reshape -> broadcast_to -> concat -> slice (strided)."""
    nodes = [node("transpose", ["x"], "t", perm=[2, 0, 1]),
             {"name": "rs", "op": "reshape", "inputs": ["t"], "shape": [4, 6]},
             {"name": "b", "op": "broadcast_to", "inputs": ["v"], "shape": [4, 3]},
             node("concat", ["rs", "b"], "c", axis=1),
             node("slice", ["c"], "y", start=[1, 2], limit=[4, 9], stride=[2, 3])]

    def fn(x, v):
        c = torch.cat([x.permute(2, 0, 1).reshape(4, 6), v.broadcast_to(4, 3)], 1)
        return c[1:4:2, 2:9:3]
    check(runner, {"x": randn(2, 3, 4), "v": randn(3)}, nodes, fn)


@pytest.mark.parametrize("axis", [0, 1])
def test_gather(runner, axis):
    table = randn(6, 4) if axis == 0 else randn(3, 6, 2)
    ids = rng.integers(0, 6, (2, 5)).astype(np.int64)
    ids[0, :2] = 3  # repeated rows add up
    check(runner, {"table": table, "ids": ids}, [node("gather", ["table", "ids"], axis=axis)],
          lambda table, ids: torch.index_select(table, axis, ids.reshape(-1)).reshape(
              table.shape[:axis] + ids.shape + table.shape[axis + 1:]), wrt=["table"])


def test_dropout_reuses_the_mask(runner):
    """d x = mask / (1 - rate) · r, the mask drawn again from the same seed."""
    x, r = positive(6, 7), randn(6, 7)
    inputs = {"x": x, "r": r}
    nodes = [node("dropout", ["x"], "y", rate=0.3, seed=9), node("mul", ["y", "r"], "yr"),
             node("reduce_sum", ["yr"], "loss")]
    graph = grad_graph(inputs, nodes, "y", ["x"])
    graph["outputs"] = ["loss", "y"]
    out = runner.run(runner.compile(graph), inputs)
    kept = out["y"] != 0
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(out["d_x"], np.where(kept, r / 0.7, 0), rtol=1e-6, atol=0)


def test_cross_entropy(runner):
    logits, labels = randn(5, 7), rng.integers(0, 7, (5,)).astype(np.int64)
    labels[2] = -100
    check(runner, {"z": logits, "labels": labels}, [node("cross_entropy", ["z", "labels"])],
          lambda z, labels: F.cross_entropy(z, labels), scalar=True)


def test_cross_entropy_per_row(runner):
    logits, labels = randn(2, 3, 7), rng.integers(0, 7, (2, 3)).astype(np.int64)
    check(runner, {"z": logits, "labels": labels},
          [node("cross_entropy", ["z", "labels"], reduction="none")],
          lambda z, labels: F.cross_entropy(z.reshape(-1, 7), labels.reshape(-1),
                                            reduction="none").reshape(2, 3))


def test_mse_loss(runner):
    check(runner, {"a": randn(3, 4), "b": randn(3, 4)}, [node("mse_loss", ["a", "b"])],
          lambda a, b: F.mse_loss(a, b), scalar=True)


def test_kd_loss(runner):
    """The student gets the fused kd_loss_grad; the teacher is a constant."""
    s, t = randn(4, 3, 11, scale=2), randn(4, 3, 11, scale=2)
    labels = rng.integers(0, 11, (4, 3)).astype(np.int64)
    labels[1, 1] = -100

    def fn(s, t, labels):
        log_ps, log_pt = F.log_softmax(s / 2, -1), F.log_softmax(t / 2, -1)
        kl = (log_pt.exp() * (log_pt - log_ps)).sum(-1)
        counted = (labels != -100).double()
        kd = (kl * counted).sum() / counted.sum() * 4
        ce = F.cross_entropy(s.reshape(-1, 11), labels.reshape(-1), ignore_index=-100)
        return kd + 0.5 * ce
    check(runner, {"s": s, "t": t, "labels": labels},
          [node("kd_loss", ["s", "t", "labels"], temperature=2.0, alpha=0.5)], fn,
          wrt=["s"], scalar=True)


def test_feature_map_loss_with_projection(runner):
    def fn(hs, ht, w):
        h = hs @ w
        loss = F.mse_loss(F.layer_norm(h, (12,), eps=1e-5), F.layer_norm(ht, (12,), eps=1e-5))
        loss = loss + 0.5 * ((ht.mean(-1) - h.mean(-1)) ** 2).mean()
        return loss + 0.25 * (ht.var(-1, unbiased=False) - h.var(-1, unbiased=False)).abs().mean()
    check(runner, {"hs": randn(2, 5, 6), "ht": randn(2, 5, 12, scale=2), "w": randn(6, 12)},
          [node("feature_map_loss", ["hs", "ht", "w"], beta=0.5, gamma=0.25)], fn,
          wrt=["hs", "w"], scalar=True)


def test_attention_transfer_loss(runner):
    mask = np.ones((2, 6), dtype=bool)
    mask[1, 4:] = False

    def fn(qs, ks, qt, kt, mask):
        def log_attention(q, k):
            scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
            return F.log_softmax(scores.masked_fill(~mask[:, None, None, :], -1e300), -1)
        ls, lt = log_attention(qs, ks), log_attention(qt, kt)
        kl = (lt.exp() * (lt - ls)).sum(-1)
        valid = mask[:, None, :].double().expand_as(kl)
        return (kl * valid).sum() / valid.sum()
    inputs = {"qs": randn(2, 3, 6, 4), "ks": randn(2, 3, 6, 4), "qt": randn(2, 3, 6, 8),
              "kt": randn(2, 3, 6, 8), "mask": mask}
    check(runner, inputs, [node("attention_transfer_loss", ["qs", "ks", "qt", "kt", "mask"])],
          fn, wrt=["qs", "ks"], scalar=True)


@pytest.mark.parametrize("probability,chosen", [(1.0, "s"), (0.0, "t")])
def test_bernoulli_select_routes_the_gradient(runner, probability, chosen):
    p, step = np.array(probability, np.float32), np.array(3, np.int64)
    check(runner, {"p": p, "step": step, "s": randn(3, 4), "t": randn(3, 4)},
          [node("bernoulli_select", ["p", "step", "s", "t"], module_id=2)],
          lambda p, step, s, t: s if chosen == "s" else t, wrt=["s", "t"])


# (input shape, weight shape, attrs, torch function of (x, w, b))
CONVOLUTIONS = {
    "2d_stride_pad": ((2, 3, 9, 8), (4, 3, 3, 3), {"stride": [2, 2], "padding": [1, 1, 1, 1]},
                      lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1)),
    "2d_asymmetric": ((1, 2, 7, 7), (3, 2, 2, 3), {"padding": [0, 1, 1, 2]},
                      lambda x, w, b: F.conv2d(F.pad(x, (1, 2, 0, 1)), w, b)),
    "2d_groups_dilation": ((2, 4, 10, 9), (6, 2, 3, 2),
                           {"groups": 2, "dilation": [2, 1], "stride": [1, 3]},
                           lambda x, w, b: F.conv2d(x, w, b, groups=2, dilation=(2, 1),
                                                    stride=(1, 3))),
    # Small planes: the batch's positions share the matmul's columns, and
    # the input gradient is computed on the input's positions only
    # (forward padding up to span - 1); past that, over the padded input.
    "2d_small_planes": ((6, 8, 4, 4), (10, 8, 3, 3), {"padding": [1, 1, 1, 1]},
                        lambda x, w, b: F.conv2d(x, w, b, padding=1)),
    "2d_small_planes_stride2": ((5, 3, 7, 7), (4, 3, 3, 3),
                                {"stride": [2, 2], "padding": [1, 1, 1, 1]},
                                lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1)),
    "2d_padding_past_span": ((2, 3, 5, 6), (4, 3, 1, 2), {"padding": [1, 0, 2, 1]},
                             lambda x, w, b: F.conv2d(F.pad(x, (0, 1, 1, 2)), w, b)),
    "depthwise": ((2, 5, 8, 8), (5, 1, 3, 3), {"groups": 5, "padding": [1, 1, 1, 1]},
                  lambda x, w, b: F.conv2d(x, w, b, groups=5, padding=1)),
    # Depthwise weight gradients (the cpu target's kernel): strided and
    # dilated, 49 taps in groups of kernel rows over a row of two vectors
    # and a ragged end, 1-D.
    "depthwise_stride2_dilation": ((3, 4, 13, 21), (4, 1, 3, 3),
                                   {"groups": 4, "stride": [2, 2], "padding": [2, 1, 2, 1],
                                    "dilation": [2, 1]},
                                   lambda x, w, b: F.conv2d(x, w, b, groups=4, stride=2,
                                                            padding=(2, 1), dilation=(2, 1))),
    "depthwise_7x7": ((2, 3, 9, 40), (3, 1, 7, 7), {"groups": 3, "padding": [3, 3, 3, 3]},
                      lambda x, w, b: F.conv2d(x, w, b, groups=3, padding=3)),
    "depthwise_1d": ((2, 6, 37), (6, 1, 5), {"groups": 6, "padding": [2, 2]},
                     lambda x, w, b: F.conv1d(x, w, b, groups=6, padding=2)),
    "1d_stride_skips_end": ((3, 2, 12), (4, 2, 4), {"stride": [3]},
                            lambda x, w, b: F.conv1d(x, w, b, stride=3)),
    "3d": ((1, 2, 4, 5, 5), (2, 2, 2, 2, 3), {"stride": [1, 2, 1], "padding": [1, 0, 1, 1, 0, 1]},
           lambda x, w, b: F.conv3d(x, w, b, stride=(1, 2, 1), padding=(1, 0, 1))),
}


@pytest.mark.parametrize("case", sorted(CONVOLUTIONS))
def test_conv(runner, case):
    x_shape, w_shape, attrs, fn = CONVOLUTIONS[case]
    inputs = {"x": randn(*x_shape), "w": randn(*w_shape), "b": randn(w_shape[0])}
    check(runner, inputs, [node("conv", ["x", "w", "b"], **attrs)], fn)


def test_depthwise_weight_grad_skips_unread_columns(runner):
    """A stride-2 depthwise convolution never reads the input's last column
    (12 wide, 3 taps, 5 outputs): an infinity there must not reach the
    weight's gradient, though the kernel's ragged last vector runs past it."""
    x = randn(2, 3, 5, 12)
    x[:, :, :, 11] = np.inf
    w, g = randn(3, 1, 3, 3), randn(2, 3, 2, 5)
    graph = {"format": "ube.graph", "version": 1,
             "inputs": [tensor_decl("x", x), tensor_decl("g", g)],
             "nodes": [{"name": "dw", "op": "conv_weight_grad", "inputs": ["x", "g"],
                        "attrs": {"kernel": [3, 3], "stride": [2, 2], "groups": 3}}],
             "outputs": ["dw"]}
    result = runner.run(runner.compile(graph), {"x": x, "g": g})["dw"]
    xt = torch.from_numpy(x[:, :, :, :11]).double()
    wt = torch.from_numpy(w).double().requires_grad_()
    F.conv2d(xt, wt, stride=2, groups=3).backward(torch.from_numpy(g).double())
    assert np.isfinite(result).all()
    assert rel_error(result, wt.grad.numpy()) <= TOL


@pytest.mark.parametrize("case", ["2d_small_planes", "2d_stride_pad"])
def test_conv_generic_lowering(runner, case):
    """The same through the generic lowering (--fused-kernels=false), as
    targets without the cpu matmul kernels run them: the convolutions a
    linalg loop nest, the weight gradient's ube.im2col (the batch side by
    side) materialized and read transposed by a linalg contraction."""
    x_shape, w_shape, attrs, fn = CONVOLUTIONS[case]
    inputs = {"x": randn(*x_shape), "w": randn(*w_shape), "b": randn(w_shape[0])}
    check(runner, inputs, [node("conv", ["x", "w", "b"], **attrs)], fn,
          extra_args=["--fused-kernels=false"])


POOLS = {
    "max_2d": ("max_pool", (2, 3, 9, 9), {"kernel": [3, 3], "stride": [2, 2],
                                          "padding": [1, 1, 1, 1]},
               lambda x: F.max_pool2d(x, 3, 2, 1)),
    "max_overlap_ceil_dilation": ("max_pool", (1, 2, 11, 10),
                                  {"kernel": [3, 2], "stride": [2, 1], "dilation": [1, 2],
                                   "ceil_mode": True},
                                  lambda x: F.max_pool2d(x, (3, 2), (2, 1), dilation=(1, 2),
                                                         ceil_mode=True)),
    "max_1d": ("max_pool", (2, 3, 10), {"kernel": [2], "stride": [2]},
               lambda x: F.max_pool1d(x, 2)),
    "avg_2d_pad": ("avg_pool", (2, 3, 9, 9), {"kernel": [3, 3], "stride": [2, 2],
                                              "padding": [1, 1, 1, 1], "count_include_pad": True},
                   lambda x: F.avg_pool2d(x, 3, 2, 1)),
    "avg_ceil_exclude_pad": ("avg_pool", (1, 2, 10, 10),
                             {"kernel": [3, 3], "stride": [2, 2], "padding": [1, 1, 1, 1],
                              "ceil_mode": True},
                             lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True,
                                                    count_include_pad=False)),
}


@pytest.mark.parametrize("case", sorted(POOLS))
def test_pool(runner, case):
    op, shape, attrs, fn = POOLS[case]
    check(runner, {"x": randn(*shape)}, [node(op, ["x"], **attrs)], fn)


def test_transposed_convolution(runner):
    """conv_input_grad as an op of its own (a transposed convolution): the
    gradients of both its operands."""
    attrs = {"input_spatial": [10, 7], "stride": [2, 2], "padding": [1, 1, 1, 1],
             "dilation": [1, 2], "groups": 2}
    check(runner, {"x": randn(2, 4, 5, 4), "w": randn(4, 3, 3, 2)},
          [node("conv_input_grad", ["x", "w"], **attrs)],
          lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=(1, 0),
                                          groups=2, dilation=(1, 2)))


@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_cumsum(runner, exclusive, reverse):
    def reference(x):
        y = x.flip(1) if reverse else x
        y = y.cumsum(1) - (y if exclusive else 0)
        return y.flip(1) if reverse else y
    check(runner, {"x": randn(3, 7, 2)},
          [node("cumsum", ["x"], axis=1, exclusive=exclusive, reverse=reverse)], reference)


def test_fmod(runner):
    check(runner, {"a": randn(4, 5, scale=3.0), "b": positive(5)}, [node("fmod", ["a", "b"])],
          lambda a, b: torch.fmod(a, b))


@pytest.mark.parametrize("op", ["floor", "ceil", "round", "trunc", "sign"])
def test_rounding_has_a_zero_gradient(runner, op):
    check(runner, {"x": randn(3, 5, scale=3.0)}, [node(op, ["x"])], getattr(torch, op))


def test_max_pool_ties_go_to_the_first_maximum(runner):
    x = np.repeat(randn(1, 2, 3, 1), 4, axis=3)  # rows of equal values: every window ties
    check(runner, {"x": x}, [node("max_pool", ["x"], kernel=[2, 2], stride=[1, 1])],
          lambda x: F.max_pool2d(x, 2, 1))


def test_encoder_layer_gradients(runner):
    """A whole BERT-style layer: attention, residuals, layer norms, GELU FFN,
    then a classifier and a cross-entropy: gradients of every weight."""
    b, n, d, heads, ff, classes = 2, 5, 8, 2, 16, 3
    hd = d // heads
    w = {name: randn(*shape, scale=0.3) for name, shape in
         [("wq", (d, d)), ("wk", (d, d)), ("wv", (d, d)), ("wo", (d, d)), ("w1", (ff, d)),
          ("w2", (d, ff)), ("wc", (classes, d))]}
    w.update(ln_w=randn(d) * 0.1 + 1, ln_b=randn(d) * 0.1, b1=randn(ff) * 0.1)
    x, labels = randn(b, n, d), rng.integers(0, classes, (b,)).astype(np.int64)

    def heads_of(t):
        return t.reshape(b, n, heads, hd).permute(0, 2, 1, 3)

    def fn(x, labels, **p):
        q, k, v = (heads_of(x @ p[m].T) for m in ("wq", "wk", "wv"))
        a = torch.softmax(q @ k.transpose(-1, -2) / hd ** 0.5, -1) @ v
        h = F.layer_norm(x + a.permute(0, 2, 1, 3).reshape(b, n, d) @ p["wo"].T, (d,),
                         p["ln_w"], p["ln_b"], eps=1e-5)
        h = h + F.gelu(F.linear(h, p["w1"], p["b1"])) @ p["w2"].T
        return F.cross_entropy(h.mean(1) @ p["wc"].T, labels)

    def split(name):
        return [{"name": f"{name}r", "op": "reshape", "inputs": [name], "shape": [b, n, heads, hd]},
                node("transpose", [f"{name}r"], f"{name}h", perm=[0, 2, 1, 3])]
    nodes = [node("linear", ["x", "wq"], "q"), node("linear", ["x", "wk"], "k"),
             node("linear", ["x", "wv"], "v"), *split("q"), *split("k"), *split("v"),
             node("matmul", ["qh", "kh"], "s0", transpose_rhs=True),
             {"name": "c", "op": "constant", "inputs": [], "value": 1 / hd ** 0.5, "dtype": "f32",
              "shape": []},
             node("mul", ["s0", "c"], "s"), node("softmax", ["s"], "pr"),
             node("matmul", ["pr", "vh"], "ah"), node("transpose", ["ah"], "at", perm=[0, 2, 1, 3]),
             {"name": "a", "op": "reshape", "inputs": ["at"], "shape": [b, n, d]},
             node("linear", ["a", "wo"], "o"), node("add", ["x", "o"], "res"),
             node("layer_norm", ["res", "ln_w", "ln_b"], "h"),
             node("linear", ["h", "w1", "b1"], "f1"), node("gelu", ["f1"], "g"),
             node("linear", ["g", "w2"], "f2"), node("add", ["h", "f2"], "h2"),
             node("reduce_mean", ["h2"], "pooled", axes=[1]),
             node("linear", ["pooled", "wc"], "logits"),
             node("cross_entropy", ["logits", "labels"], "y")]
    check(runner, {"x": x, "labels": labels, **w}, nodes, fn, wrt=["x", *w], scalar=True)


def test_errors(runner, tmp_path):
    """Bad gradient specs name the function and the offending entry."""
    x = randn(3)
    base = grad_graph({"x": x}, [node("reduce_sum", ["x"], "loss")], "loss", ["x"])
    cases = [({"loss": "nope", "wrt": ["x"]}, "gradient loss 'nope' is not one of its outputs"),
             ({"loss": "loss", "wrt": ["y"]}, "'y' is not one of its inputs"),
             ({"loss": "loss", "wrt": []}, "'wrt' names no input"),
             ({"loss": "loss"}, "'gradient' must be")]
    for spec, message in cases:
        with pytest.raises(RuntimeError, match=message):
            runner.compile(dict(base, gradient=spec))
    vector = grad_graph({"x": x}, [node("exp", ["x"], "loss")], "loss", ["x"])
    with pytest.raises(RuntimeError, match="is not a float scalar"):
        runner.compile(vector)
    no_rule = grad_graph({"s": x, "t": x, "g": np.array(1.0, np.float32)}, [
        node("kd_loss_grad", ["s", "t", "g"], "d"), node("reduce_sum", ["d"], "loss")],
        "loss", ["s"])
    with pytest.raises(RuntimeError, match="has no gradient rule"):
        runner.compile(no_rule)
