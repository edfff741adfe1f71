"""f64, i8 and i16 through the generic lowering: every op that takes f32
(or i32) gives the same results on them, against PyTorch / numpy.

Tolerance: f64 results within 1e-13 of PyTorch's float64 (transcendental
functions call libm or its polynomial expansions at f64; reductions over a
few dozen terms), integer results exact, with the same two's-complement
wrap-around as numpy."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ube.dtypes import NUMPY_TO_UBE, UBE_TO_NUMPY as NP_TYPES
from ubetest import rel_error

NP_NAMES = {np.dtype(t).type: name for t, name in NUMPY_TO_UBE.items()}

F64_TOL = 1e-13
rng = np.random.default_rng(64)


def randn(*shape):
    return rng.standard_normal(shape)


UNARY = [
    ("neg", torch.neg), ("abs", torch.abs), ("exp", torch.exp), ("tanh", torch.tanh),
    ("erf", torch.erf), ("sigmoid", torch.sigmoid), ("relu", torch.relu), ("silu", F.silu),
    ("sin", torch.sin), ("cos", torch.cos), ("gelu", F.gelu),
]


@pytest.mark.parametrize("op,ref", UNARY, ids=[u[0] for u in UNARY])
def test_f64_unary(runner, op, ref):
    x = randn(3, 17) * 3
    out = runner.op(op, {"x": x})
    assert out.dtype == np.float64
    assert rel_error(out, ref(torch.from_numpy(x))) <= F64_TOL


def test_f64_positive_unary(runner):
    x = rng.uniform(0.1, 5.0, (4, 9))
    for op, ref in [("log", np.log), ("sqrt", np.sqrt), ("rsqrt", lambda v: 1 / np.sqrt(v))]:
        assert rel_error(runner.op(op, {"x": x}), ref(x)) <= F64_TOL, op


def test_f64_matmul_softmax_layer_norm(runner):
    a, b, w, bias = randn(2, 5, 7), randn(7, 6), randn(6), randn(6)
    nodes = [
        {"name": "p", "op": "matmul", "inputs": ["a", "b"]},
        {"name": "s", "op": "softmax", "inputs": ["p"], "attrs": {"axis": -1}},
        {"name": "n", "op": "layer_norm", "inputs": ["p", "w", "bias"],
         "attrs": {"axis": -1, "epsilon": 1e-5}},
        {"name": "r", "op": "reduce_mean", "inputs": ["n"], "attrs": {"axes": [1]}},
    ]
    out = runner.graph({"a": a, "b": b, "w": w, "bias": bias}, nodes, ["s", "n", "r"])
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    p = ta @ tb
    n = F.layer_norm(p, (6,), torch.from_numpy(w), torch.from_numpy(bias), 1e-5)
    assert all(out[k].dtype == np.float64 for k in "snr")
    assert rel_error(out["s"], torch.softmax(p, -1)) <= F64_TOL
    assert rel_error(out["n"], n) <= F64_TOL
    assert rel_error(out["r"], n.mean(1)) <= F64_TOL


def test_f64_cross_entropy(runner):
    logits, labels = randn(6, 5), rng.integers(0, 5, 6)
    out = runner.op("cross_entropy", {"logits": logits, "labels": labels})
    ref = F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels))
    assert out.dtype == np.float64 and rel_error(out, ref) <= F64_TOL


def test_f64_to_f16_rounds_once(runner):
    # Halfway cases of f16 that f64 -> f32 rounding would move: f64 values
    # just above and below an f16 rounding boundary by less than f32's ulp.
    base = np.float16(1.0) + np.float16(2.0 ** -10) / 2  # 1 + half an f16 ulp
    x = np.array([float(base) + 2.0 ** -40, float(base) - 2.0 ** -40, float(base),
                  65504.0, 7e4, -1e-9, np.nan, 1e300], dtype=np.float64)
    out = runner.op("cast", {"x": x}, dtype="f16")
    with np.errstate(over="ignore"):
        assert np.array_equal(out, x.astype(np.float16), equal_nan=True)


@pytest.mark.parametrize("dtype", [np.int8, np.int16])
def test_small_integers(runner, dtype):
    info = np.iinfo(dtype)
    a = rng.integers(info.min, info.max, (4, 6)).astype(dtype)
    b = rng.integers(1, 20, (6,)).astype(dtype)
    nodes = [{"name": n, "op": op, "inputs": ["a", "b"]} for n, op in
             [("add", "add"), ("sub", "sub"), ("mul", "mul"), ("div", "div"),
              ("max", "maximum")]]
    nodes += [{"name": "lt", "op": "compare", "inputs": ["a", "b"],
               "attrs": {"predicate": "lt"}},
              {"name": "neg", "op": "neg", "inputs": ["a"]},
              {"name": "sum", "op": "reduce_sum", "inputs": ["a"], "attrs": {"axes": [1]}},
              {"name": "f", "op": "cast", "inputs": ["a"], "dtype": "f32"},
              {"name": "cl", "op": "clamp", "inputs": ["a"], "attrs": {"min": -20.0, "max": 7.0}}]
    out = runner.graph({"a": a, "b": b}, nodes,
                       ["add", "sub", "mul", "div", "max", "lt", "neg", "sum", "f", "cl"])
    with np.errstate(over="ignore"):
        expected = {"add": a + b, "sub": a - b, "mul": a * b,
                    "div": (np.trunc(a.astype(np.float64) / b)).astype(dtype),
                    "max": np.maximum(a, b), "lt": a < b, "neg": -a,
                    "sum": a.sum(1, dtype=dtype), "f": a.astype(np.float32),
                    "cl": np.clip(a, -20, 7).astype(dtype)}
    for name, ref in expected.items():
        assert out[name].dtype == ref.dtype and np.array_equal(out[name], ref), name


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.uint64])
def test_unsigned_integers(runner, dtype):
    """u8 ... u64 over their whole range (top bit set included): wrapping
    arithmetic, unsigned order, division and remainder (u64 with no wider
    type), casts from and to floats and other widths, exactly as numpy."""
    info = np.iinfo(dtype)
    a = rng.integers(0, info.max, (4, 6), dtype=dtype, endpoint=True)
    b = rng.integers(1, info.max, (6,), dtype=dtype, endpoint=True)
    b[:2] = [1, 3]  # small divisors as well as huge ones
    a[0, :3] = [0, info.max, info.max // 2 + 1]
    wide = {np.uint8: "u16", np.uint16: "u32", np.uint32: "u64", np.uint64: "u8"}[dtype]
    ops = [("add", "add"), ("sub", "sub"), ("mul", "mul"), ("div", "div"),
           ("rem", "fmod"), ("max", "maximum"), ("min", "minimum")]
    nodes = [{"name": n, "op": op, "inputs": ["a", "b"]} for n, op in ops]
    nodes += [{"name": p, "op": "compare", "inputs": ["a", "b"], "attrs": {"predicate": p}}
              for p in ("lt", "ge", "eq")]
    nodes += [{"name": "rmax", "op": "reduce_max", "inputs": ["a"], "attrs": {"axes": [1]}},
              {"name": "rmin", "op": "reduce_min", "inputs": ["a"], "attrs": {"axes": [0]}},
              {"name": "sum", "op": "reduce_sum", "inputs": ["a"], "attrs": {"axes": [1]}},
              {"name": "arg", "op": "argmax", "inputs": ["a"], "attrs": {"axis": 1}},
              {"name": "f64", "op": "cast", "inputs": ["a"], "dtype": "f64"},
              {"name": "i64", "op": "cast", "inputs": ["a"], "dtype": "i64"},
              {"name": "wide", "op": "cast", "inputs": ["a"], "dtype": wide},
              {"name": "back", "op": "cast", "inputs": ["f64"], "dtype": NP_NAMES[dtype]},
              {"name": "sign", "op": "sign", "inputs": ["a"]}]
    names = [n["name"] for n in nodes]
    out = runner.graph({"a": a, "b": b}, nodes, names)
    with np.errstate(over="ignore"):
        expected = {"add": a + b, "sub": a - b, "mul": a * b, "div": a // b, "rem": a % b,
                    "max": np.maximum(a, b), "min": np.minimum(a, b),
                    "lt": a < b, "ge": a >= b, "eq": a == b,
                    "rmax": a.max(1), "rmin": a.min(0), "sum": a.sum(1, dtype=dtype),
                    "arg": a.argmax(1), "f64": a.astype(np.float64), "i64": a.astype(np.int64),
                    "wide": a.astype(np.dtype(NP_TYPES[wide])),
                    "back": a.astype(np.float64).astype(dtype) if dtype != np.uint64 else None,
                    "sign": (a != 0).astype(dtype)}
    for name, ref in expected.items():
        if ref is None:  # u64 -> f64 -> u64 rounds: the same float (2^64 is out of range)
            fits = a.astype(np.float64) < 2.0 ** 64
            assert np.array_equal(out[name][fits].astype(np.float64),
                                  a[fits].astype(np.float64)), name
            continue
        assert out[name].dtype == ref.dtype and np.array_equal(out[name], ref), name


def test_unsigned_errors(runner):
    """An op with no unsigned form names itself."""
    x = np.arange(6, dtype=np.uint8)
    with pytest.raises(RuntimeError, match="'ube.exp' op operand #0 must be ranked tensor of "
                                           ".*float.* but got 'tensor<6xui8>'"):
        runner.op("exp", {"x": x})
    with pytest.raises(RuntimeError, match="'ube.clamp' op on u64 is not supported; cast to "
                                           "i64 or f64 first"):
        runner.op("clamp", {"x": x.astype(np.uint64)}, {"min": 1.0})
