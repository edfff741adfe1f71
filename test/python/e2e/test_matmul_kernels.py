"""The CPU matmul kernels (--ube-cpu-matmul-kernels) and the thread pool:
every layout, broadcast and ragged edge against float64 numpy, and results
bit-identical for any thread count.

Tolerance: 2e-6 relative (max abs error over max abs reference) — f32 sums
of at most ~1000 products in a fixed order, against float64.
"""
import numpy as np
import pytest

from ubetest import rel_error

# (lhs shape, rhs shape, transpose_lhs, transpose_rhs): ragged M (not a
# multiple of the 6-row tile), N (of the 16-column panel), K (of the 256 K
# block); M smaller than one tile; batch broadcasting both ways; transposes;
# vectors as 1-wide matrices; more than one row group per matrix.
CASES = [
    ((5, 7), (7, 3), False, False),
    ((13, 300), (300, 37), False, False),
    ((64, 64), (64, 64), False, False),
    ((2, 3, 20, 9), (3, 9, 17), False, False),
    ((20, 9), (17, 9), False, True),
    ((9, 20), (9, 17), True, False),
    ((4, 1, 33, 8), (1, 5, 40, 33), True, True),
    ((1, 513), (513, 1), False, False),
    ((97, 600), (600, 48), False, False),
    ((3, 130, 64), (3, 130, 64), False, True),
    # Short and wide (tasks split the columns): ragged rows and last panel.
    ((40, 64), (64, 1000), False, False),
    ((64, 40), (64, 1000), True, False),
    ((2, 13, 70), (2, 777, 70), False, True),
    # Rows 4 KiB apart (K = 1024): with AVX-512's 12-row tiles lhs is
    # packed too; ragged rows and panel, a batch of lhs matrices.
    ((2, 54, 1024), (1024, 300), False, False),
    # Deep rows (K >= 512), 256+ of them: lhs packed; ragged rows and panel.
    ((301, 768), (768, 260), False, False),
    # Transposed lhs with 256+ columns (a weight gradient's activations):
    # packed, a batch of matrices against one rhs, ragged rows and panel.
    ((2, 300, 54), (300, 260), True, False),
]


def matmul_mlir(a, b, ta, tb):
    def t(shape):
        return "tensor<" + "x".join(map(str, shape)) + "xf32>"
    at = np.swapaxes(a, -1, -2) if ta else a
    bt = np.swapaxes(b, -1, -2) if tb else b
    out = np.matmul(at, bt).shape
    body = (f"%r = ube.matmul %a, %b {{transpose_lhs = {str(ta).lower()}, "
            f"transpose_rhs = {str(tb).lower()}}} : {t(a.shape)}, {t(b.shape)}\n"
            f"return %r : {t(out)}")
    return body, {"r": t(out)}, np.matmul(at.astype(np.float64), bt.astype(np.float64))


@pytest.mark.parametrize("lhs,rhs,ta,tb", CASES)
def test_matches_numpy(runner, lhs, rhs, ta, tb):
    rng = np.random.default_rng(7)
    a = rng.standard_normal(lhs).astype(np.float32)
    b = rng.standard_normal(rhs).astype(np.float32)
    body, outputs, ref = matmul_mlir(a, b, ta, tb)
    out = runner.mlir(body, {"a": a, "b": b}, outputs)["r"]
    assert out.shape == ref.shape
    assert rel_error(out, ref) < 2e-6


def test_packed_lhs_over_several_k_blocks(runner):
    """K = 3072 (rows 12 KiB apart: lhs packed with AVX-512 tiles) runs as
    several K blocks over the packed panels, each K block a set of tasks of
    its own (with an L2 of 1 or 2 MiB, whole panels of this depth do not
    fit 4 at a time in half of it; one block of them does). Tolerance 5e-6:
    f32 rounding of 3072-term sums."""
    rng = np.random.default_rng(13)
    a = rng.standard_normal((30, 3072)).astype(np.float32)
    b = rng.standard_normal((3072, 260)).astype(np.float32)
    body, outputs, ref = matmul_mlir(a, b, False, False)
    out = runner.mlir(body, {"a": a, "b": b}, outputs)["r"]
    assert rel_error(out, ref) < 5e-6


def test_unfused_path_agrees(runner):
    """--fused-kernels=false keeps the plain linalg lowering."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal((2, 13, 40)).astype(np.float32)
    b = rng.standard_normal((40, 21)).astype(np.float32)
    body, outputs, ref = matmul_mlir(a, b, False, False)
    tiled = runner.mlir(body, {"a": a, "b": b}, outputs)["r"]
    plain = runner.mlir(body, {"a": a, "b": b}, outputs, ["--fused-kernels=false"])["r"]
    assert rel_error(tiled, ref) < 2e-6 and rel_error(plain, ref) < 2e-6


def test_identical_for_any_thread_count(ube_module, tmp_path):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 150, 300)).astype(np.float32)
    b = rng.standard_normal((300, 70)).astype(np.float32)
    body, outputs, ref = matmul_mlir(a, b, False, False)
    args = ", ".join([f'%a: tensor<4x150x300xf32> {{ube.name = "a"}}',
                      f'%b: tensor<300x70xf32> {{ube.name = "b"}}'])
    path = tmp_path / "mm.mlir"
    path.write_text(f"func.func @main({args}) -> ({outputs['r']} {{ube.name = \"r\"}}) "
                    f"{{\n{body}\n}}\n")
    exe = ube_module.compile(path)
    results = []
    for threads in (1, 2, 3, 5):
        exe.threads = threads
        assert exe.threads == threads
        results.append(exe(a, b))
    assert rel_error(results[0], ref) < 2e-6
    for r in results[1:]:
        assert np.array_equal(r, results[0])
    with pytest.raises(Exception, match="thread count must be between 1 and 4096"):
        exe.threads = 0


@pytest.mark.parametrize("lhs,rhs,ta,tb", [((13, 300), (300, 37), False, False),
                                           ((54, 1024), (1024, 300), False, False),
                                           ((3, 130, 64), (3, 130, 64), False, True),
                                           ((9, 20), (9, 17), True, False)])
def test_sums_into_an_addend(runner, lhs, rhs, ta, tb):
    """x + a·b and a·b + c·d (gradients meeting) are kernels that start from
    the addend: several K blocks, ragged edges and transposes."""
    rng = np.random.default_rng(11)
    a, c = (rng.standard_normal(lhs).astype(np.float32) for _ in range(2))
    b, d = (rng.standard_normal(rhs).astype(np.float32) for _ in range(2))
    at = np.swapaxes(a, -1, -2) if ta else a
    bt = np.swapaxes(b, -1, -2) if tb else b
    shape = np.matmul(at, bt).shape
    x = rng.standard_normal(shape).astype(np.float32)
    t = "tensor<" + "x".join(map(str, shape)) + "xf32>"
    ty = lambda v: "tensor<" + "x".join(map(str, v.shape)) + "xf32>"  # noqa: E731
    attrs = f"{{transpose_lhs = {str(ta).lower()}, transpose_rhs = {str(tb).lower()}}}"
    body = (f"%p = ube.matmul %a, %b {attrs} : {ty(a)}, {ty(b)}\n"
            f"%q = ube.matmul %c, %d {attrs} : {ty(c)}, {ty(d)}\n"
            f"%s = ube.add %x, %p : {t}, {t}\n"
            f"%u = ube.add %p, %q : {t}, {t}\n"
            f"%v = ube.add %q, %x : {t}, {t}\n"
            f"return %s, %u, %v : {t}, {t}, {t}")
    out = runner.mlir(body, {"a": a, "b": b, "c": c, "d": d, "x": x},
                      {"s": t, "u": t, "v": t})
    f64 = lambda v: v.astype(np.float64)  # noqa: E731
    ct = np.swapaxes(c, -1, -2) if ta else c
    dt = np.swapaxes(d, -1, -2) if tb else d
    p, q = np.matmul(f64(at), f64(bt)), np.matmul(f64(ct), f64(dt))
    assert rel_error(out["s"], f64(x) + p) < 2e-6
    assert rel_error(out["u"], p + q) < 2e-6
    assert rel_error(out["v"], q + f64(x)) < 2e-6



@pytest.mark.parametrize("lhs,rhs", [((13, 300), (300, 37)), ((2, 13, 20), (20, 21)),
                                     ((97, 600), (600, 48)), ((20, 64), (64, 1000)),
                                     ((54, 1024), (1024, 300)), ((30, 3072), (3072, 260))])
def test_epilogue_runs_on_the_accumulators(runner, lhs, rhs):
    """Elementwise ops consuming a product (bias add, GELU both ways, a
    scale, a residual on either side, tanh) are applied in the kernel after
    the last K block: ragged panels, several K blocks and row groups,
    batches, K blocks as sets of tasks (K = 3072). Tolerance 2e-6 as above,
    5e-6 for 3072-term sums (the activations' polynomial approximations are
    within float32 rounding)."""
    from math import erf
    rng = np.random.default_rng(5)
    a = (rng.standard_normal(lhs) / np.sqrt(lhs[-1])).astype(np.float32)
    b = rng.standard_normal(rhs).astype(np.float32)
    shape = np.matmul(a, b).shape
    bias = rng.standard_normal(shape[-1]).astype(np.float32)
    x = rng.standard_normal(shape).astype(np.float32)
    ty = lambda s: "tensor<" + "x".join(map(str, s)) + "xf32>"  # noqa: E731
    t, tb = ty(shape), ty(bias.shape)
    body = (f"%p = ube.matmul %a, %b : {ty(a.shape)}, {ty(b.shape)}\n"
            f"%p1 = ube.add %p, %bias : {t}, {tb}\n"
            f"%y = ube.gelu %p1 : {t}\n"
            f"%q = ube.matmul %a, %b : {ty(a.shape)}, {ty(b.shape)}\n"
            f"%q1 = ube.add %bias, %q : {tb}, {t}\n"
            f"%half = ube.constant dense<0.5> : tensor<f32>\n"
            f"%q2 = ube.mul %q1, %half : {t}, tensor<f32>\n"
            f"%q3 = ube.sub %x, %q2 : {t}, {t}\n"
            f"%z = ube.tanh %q3 : {t}\n"
            f"%r = ube.matmul %a, %b : {ty(a.shape)}, {ty(b.shape)}\n"
            f"%g = ube.gelu %r {{approximate = \"tanh\"}} : {t}\n"
            f"return %y, %z, %g : {t}, {t}, {t}")
    out = runner.mlir(body, {"a": a, "b": b, "bias": bias, "x": x}, {"y": t, "z": t, "g": t})
    p = np.matmul(a.astype(np.float64), b.astype(np.float64))
    u = p + bias
    gelu = 0.5 * u * (1 + np.vectorize(erf)(u / np.sqrt(2)))
    tanh_gelu = 0.5 * p * (1 + np.tanh(np.sqrt(2 / np.pi) * (p + 0.044715 * p ** 3)))
    tolerance = 2e-6 if lhs[-1] <= 1024 else 5e-6
    assert rel_error(out["y"], gelu) < tolerance
    assert rel_error(out["z"], np.tanh(x - 0.5 * u)) < tolerance
    assert rel_error(out["g"], tanh_gelu) < tolerance
