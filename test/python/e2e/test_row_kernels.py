"""The CPU row kernels (--ube-cpu-row-kernels): softmax, log_softmax and
layer_norm over the last axis against float64 PyTorch, on rows that are
shorter than a vector, ragged, and long; many rows (several tasks); rows of
large logits and rows far from zero; and results bit-identical for any
thread count.

Tolerance: 2e-5 relative (max abs error over max abs reference), as for the
other ops: f32 sums over up to ~4k elements and the polynomial exp/log.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ubetest import rel_error

LENGTHS = [5, 128, 300, 768, 4099]


def t64(a):
    return torch.from_numpy(a).double()


@pytest.mark.parametrize("length", LENGTHS)
def test_softmax_rows(runner, length):
    rng = np.random.default_rng(length)
    x = (rng.standard_normal((3, 37, length)) * 4).astype(np.float32)
    x[0, 0, :] += 1e4  # large logits in one row
    x[1, 2, :] = -3e4
    out = runner.op("softmax", {"x": x})
    assert np.all(np.isfinite(out))
    assert rel_error(out, torch.softmax(t64(x), -1)) <= 2e-5
    log = runner.op("log_softmax", {"x": x})
    assert rel_error(log, torch.log_softmax(t64(x), -1)) <= 2e-5


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("affine", [0, 2])
def test_layer_norm_rows(runner, length, affine):
    rng = np.random.default_rng(length + affine)
    x = (rng.standard_normal((2, 45, length)) * 3 + 1).astype(np.float32)
    x[1, 3, :] += 1e3  # a row far from zero: the variance is centered
    w = rng.standard_normal(length).astype(np.float32)
    b = rng.standard_normal(length).astype(np.float32)
    inputs = {"x": x, **({"w": w, "b": b} if affine else {})}
    out = runner.op("layer_norm", inputs, {"epsilon": 1e-5})
    ref = F.layer_norm(t64(x), (length,), t64(w) if affine else None,
                       t64(b) if affine else None, eps=1e-5)
    assert rel_error(out, ref) <= 2e-5


def test_identical_for_any_thread_count(ube_module, tmp_path):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((512, 300)).astype(np.float32)
    t = "tensor<512x300xf32>"
    path = tmp_path / "rows.mlir"
    path.write_text(f'func.func @main(%x: {t} {{ube.name = "x"}}) -> ({t} {{ube.name = "s"}}, '
                    f'{t} {{ube.name = "n"}}) {{\n'
                    f"%s = ube.softmax %x : {t}\n%n = ube.layer_norm %x : {t}\n"
                    f"return %s, %n : {t}, {t}\n}}\n")
    exe = ube_module.compile(path)
    results = []
    for threads in (1, 2, 3):
        exe.threads = threads
        results.append(exe(x))
    assert rel_error(results[0][0], torch.softmax(t64(x), -1)) <= 2e-5
    for r in results[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(r, results[0]))
