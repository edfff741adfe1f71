"""The cpu target's fused feature-map kernel (--ube-cpu-feature-map-kernels)
against float64 PyTorch: the loss, d h_s and d W of feature_map_loss with and
without a projection, the loss alone, the gradient alone and both together
(one kernel), on shapes that exercise every ragged edge: tokens that are not
a whole number of blocks or of register-tile rows, widths that end in a
partial panel and a partial vector, several blocks per task (a task's share
of d W summed over its blocks) and several tasks (their shares and loss sums
added in task order); results identical for any thread count; no buffer of
the projected features of all tokens in the memory plan.

Tolerance: max|out - ref| / max|ref| <= 2e-5. The kernel sums in float32:
the projection over Ds terms, the row statistics over Dt (exact two-step
variance), d W over the tokens of a block, then the blocks and tasks; the
worst errors measured are below 3e-6."""
import re
import subprocess

import numpy as np
import pytest
from ubetest import feature_map_reference, mlir_function, rel_error

TOL = 2e-5


def tensor_type(shape):
    return "tensor<" + "".join(f"{d}x" for d in shape) + "f32>"


def feature_map_case(hs, ht, w, weights, want):
    """The body, inputs and outputs of a main computing `want` (a subset of
    loss, dhs, dw) of feature_map_loss, for mlir_function / runner.mlir."""
    alpha, beta, gamma = weights
    attrs = f"{{alpha = {alpha}, beta = {beta}, gamma = {gamma}}}"
    types = f"{tensor_type(hs.shape)}, {tensor_type(ht.shape)}"
    projection = " projection %w" if w is not None else ""
    w_type = f", {tensor_type(w.shape)}" if w is not None else ""
    inputs = {"hs": hs, "ht": ht, "g": np.array(1.5, np.float32)}
    if w is not None:
        inputs["w"] = w
    body, results = [], []
    if "loss" in want:
        body.append(f"%l = ube.feature_map_loss %hs, %ht{projection} {attrs} : {types}{w_type}")
        results.append(("loss", "%l", ()))
    if "dhs" in want:
        names = "%d:2" if w is not None else "%d"
        body.append(f"{names} = ube.feature_map_loss_grad %hs, %ht, %g{projection} {attrs} : "
                    f"{types}, tensor<f32>{w_type}")
        results.append(("dhs", "%d#0" if w is not None else "%d", hs.shape))
        if w is not None:
            results.append(("dw", "%d#1", w.shape))
    body.append("return " + ", ".join(v for _, v, _ in results) + " : "
                + ", ".join(tensor_type(s) for _, _, s in results))
    return "\n".join(body), inputs, {n: tensor_type(s) for n, _, s in results}


def make_inputs(seed, tokens, ds, dt, projected):
    rng = np.random.default_rng(seed)
    hs = rng.standard_normal((tokens, ds if projected else dt)).astype(np.float32)
    ht = (rng.standard_normal((tokens, dt)) * 2 + 0.5).astype(np.float32)
    w = (rng.standard_normal((ds, dt)) / np.sqrt(ds)).astype(np.float32) if projected else None
    return hs, ht, w


def check(out, ref):
    """`out` ({name: array}) against the reference (the upstream gradient
    is 1.5)."""
    loss, dhs, dw = ref
    expected = {"loss": loss, "dhs": 1.5 * dhs, "dw": 1.5 * dw if dw is not None else None}
    for name, value in out.items():
        assert rel_error(value, expected[name]) <= TOL, name


# (tokens, Ds, Dt): one block of 10 rows; 999 tokens in 126-row blocks (2
# per task, the last 117 rows), Dt = 520 ending in half a panel, Ds = 40 (a
# partial panel of d h_s, 40 = 6·6 + 4 rows of d W); 517 tokens with
# Ds = 37, Dt = 203 (partial vectors in both); 1 token.
SHAPES = [(10, 6, 12), (999, 40, 520), (517, 37, 203), (1, 5, 9)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("projected", [True, False], ids=["projected", "plain"])
def test_loss_and_gradients(runner, shape, projected):
    tokens, ds, dt = shape
    hs, ht, w = make_inputs(sum(shape), tokens, ds, dt, projected)
    weights = (1.0, 0.5, 0.25)
    out = runner.mlir(*feature_map_case(hs, ht, w, weights, {"loss", "dhs"}))
    check(out, feature_map_reference(hs, ht, w, *weights))


@pytest.mark.parametrize("want", [{"loss"}, {"dhs"}], ids=["loss", "gradient"])
@pytest.mark.parametrize("weights", [(1.0, 0.0, 0.0), (0.0, 2.0, 0.0), (0.0, 0.0, 1.0)],
                         ids=["mse", "mean", "var"])
def test_each_term_alone(runner, want, weights):
    hs, ht, w = make_inputs(7, 300, 24, 100, True)
    out = runner.mlir(*feature_map_case(hs, ht, w, weights, want))
    check(out, feature_map_reference(hs, ht, w, *weights))


def test_robust_rows(runner):
    """Rows far from zero (mean 1e3: the variance is centered), constant
    rows (variance 0: LN is 0, r = 1/sqrt(eps)) and equal variances (the
    |σ²_t − σ²_s| term's gradient 0): finite and within tolerance."""
    hs, ht, w = make_inputs(11, 200, 16, 64, False)
    ht[3] += 1e3
    hs[5] = 2.0
    ht[6] = -1.0
    hs[7] = ht[7]
    weights = (1.0, 0.5, 0.25)
    out = runner.mlir(*feature_map_case(hs, ht, None, weights, {"loss", "dhs"}))
    assert all(np.isfinite(o).all() for o in out.values())
    check(out, feature_map_reference(hs, ht, None, *weights))


def test_identical_for_any_thread_count(ube_module, tmp_path):
    hs, ht, w = make_inputs(3, 999, 40, 520, True)
    path = tmp_path / "fm.mlir"
    path.write_text(mlir_function(*feature_map_case(hs, ht, w, (1.0, 0.5, 0.25), {"loss", "dhs"})))
    exe = ube_module.compile(path)
    results = []
    for threads in (1, 2, 3):
        exe.threads = threads
        results.append(exe(hs, ht, np.array(1.5, np.float32), w))
    for r in results[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(r, results[0]))


def test_projected_features_never_exist(tools_dir, tmp_path):
    """The memory plan of 4096 tokens projected 312 -> 768 (a training
    step's loss and gradients): no buffer as large as the projected features
    (12 MiB), and an arena of at most the 4 tasks' shares of d W (3.7 MiB),
    the packed W and Wᵀ (0.9 MiB each), the tasks' tiles (at most 4 × 64K
    floats, 1 MiB, in per-task slots) and the sum of the shares (0.9 MiB):
    under 8 MiB, where the chunked composition plans 19.5 MiB."""
    hs, ht, w = make_inputs(5, 4096, 312, 768, True)
    path = tmp_path / "fm.mlir"
    path.write_text(mlir_function(*feature_map_case(hs, ht, w, (1.0, 0.5, 0.25), {"loss", "dhs"})))
    result = subprocess.run([tools_dir / "ube-compile", path, "-o", tmp_path / "fm.ube",
                             "--print-memory-plan"], capture_output=True, text=True, check=True)
    plan = result.stdout
    # Each buffer's row: offset, bytes, live range, type, location.
    sizes = [int(m) for m in re.findall(r"^\s+\d+\s+(\d+)\s+\[", plan, re.M)]
    assert sizes, plan
    assert max(sizes) < 4096 * 768 * 4, plan
    assert re.search(r"memref<\d+x768xf32> x4 tasks", plan), plan
    # The tasks' tiles are the kernel's scratch, inside the entry point's arena.
    assert int(re.search(r"plan for @main: arena (\d+) bytes", plan).group(1)) < 8 << 20, plan


@pytest.mark.parametrize("widths", [(40, 520), (37, 203), (6, 12)],
                         ids=lambda w: "x".join(map(str, w)))
def test_symbolic_token_count(ube_module, tmp_path, widths):
    """One executable for any number of tokens (graph format v2, a symbol
    `n`): the task split, the full blocks and the ragged last block (the
    rows past its full register tiles one tile of their count, chosen at
    run time) from the count at each call; the loss and both gradients
    against the reference at counts of one block, several blocks per task
    and several tasks."""
    import json
    ds, dt = widths
    graph = {"format": "ube.graph", "version": 2, "dims": {"n": {"max": 1024}},
             "inputs": [{"name": "hs", "dtype": "f32", "shape": ["n", ds]},
                        {"name": "ht", "dtype": "f32", "shape": ["n", dt]},
                        {"name": "w", "dtype": "f32", "shape": [ds, dt]}],
             "nodes": [{"name": "loss", "op": "feature_map_loss", "inputs": ["hs", "ht", "w"],
                        "attrs": {"alpha": 1.0, "beta": 0.5, "gamma": 0.25}}],
             "outputs": ["loss"], "gradient": {"loss": "loss", "wrt": ["hs", "w"]}}
    path = tmp_path / "features.json"
    path.write_text(json.dumps(graph))
    exe = ube_module.compile(path)
    for tokens in (1, 10, 117, 517, 999):
        hs, ht, w = make_inputs(tokens, tokens, ds, dt, True)
        loss, dhs, dw = exe(hs, ht, w)
        ref_loss, ref_dhs, ref_dw = feature_map_reference(hs, ht, w, 1.0, 0.5, 0.25)
        for name, out, ref in [("loss", loss, ref_loss), ("dhs", dhs, ref_dhs), ("dw", dw, ref_dw)]:
            assert rel_error(out, ref) <= TOL, (name, tokens)
