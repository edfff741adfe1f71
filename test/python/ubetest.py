"""Helpers for end-to-end tests: build a graph file, compile it with
ube-compile, run it with ube-run, read the outputs back.

Until the Python extension exists this drives the command-line tools, which
is also what the tests of those tools need."""
import json
import os
import pathlib
import struct
import subprocess
import sys

import numpy as np

# The ube package of the build tree (its safetensors writer, its dtype names).
sys.path.insert(0, str(pathlib.Path(os.environ.get(
    "UBE_BUILD_DIR", pathlib.Path(__file__).resolve().parents[2] / "build")) / "python"))
from ube.dtypes import NUMPY_TO_UBE as NP_TO_DTYPE  # noqa: E402
from ube.safetensors import write_safetensors  # noqa: E402,F401


def tensor_decl(name, array):
    return {"name": name, "dtype": NP_TO_DTYPE[array.dtype], "shape": list(array.shape)}


def mlir_function(body, inputs, outputs):
    """The text of `func.func @main` over {name: array} `inputs` returning
    `outputs` ({name: type}); `body` holds the ops and the return, using
    %NAME for each input."""
    def tensor_type(array):
        dims = "".join(f"{d}x" for d in array.shape)
        return f"tensor<{dims}{NP_TO_DTYPE[array.dtype]}>"
    args = ", ".join(f'%{n}: {tensor_type(a)} {{ube.name = "{n}"}}' for n, a in inputs.items())
    results = ", ".join(f'{t} {{ube.name = "{n}"}}' for n, t in outputs.items())
    return f"func.func @main({args}) -> ({results}) {{\n{body}\n}}\n"


class GraphRunner:
    """Compiles and runs graphs in a temporary directory."""

    def __init__(self, tools_dir, workdir):
        self.tools = pathlib.Path(tools_dir)
        self.dir = pathlib.Path(workdir)
        self.count = 0

    def compile(self, graph, weights=None, extra_args=()):
        self.count += 1
        stem = self.dir / f"g{self.count}"
        if weights:
            write_safetensors(stem.with_suffix(".safetensors"), weights)
            graph = dict(graph, weights=stem.with_suffix(".safetensors").name)
        stem.with_suffix(".json").write_text(json.dumps(graph))
        exe = stem.with_suffix(".ube")
        result = subprocess.run([self.tools / "ube-compile", stem.with_suffix(".json"), "-o", exe,
                                 *extra_args], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"ube-compile failed:\n{result.stderr}")
        return exe

    def run(self, exe, inputs, function=None):
        out_dir = exe.with_suffix(".out")
        args = [self.tools / "ube-run", exe, f"--output-dir={out_dir}"]
        if function:
            args.append(f"--function={function}")
        for name, array in inputs.items():
            path = exe.parent / f"{exe.stem}.{name}.npy"
            np.save(path, np.array(array, order="C"))  # keeps 0-d arrays 0-d
            args.append(f"--input={name}={path}")
        result = subprocess.run(args, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"ube-run failed:\n{result.stderr}")
        manifest = read_manifest(exe)
        entry = next(e for e in manifest["entries"]
                     if function is None or e["name"] == function)
        return {o["name"]: np.load(out_dir / f"{o['name']}.npy") for o in entry["outputs"]}

    def graph(self, inputs, nodes, outputs, parameters=None, weights=None, functions=None,
              compile_args=()):
        """Compiles (with extra ube-compile arguments) and runs a graph whose
        inputs are {name: array}; returns {output name: array}."""
        graph = {"format": "ube.graph", "version": 1,
                 "inputs": [tensor_decl(n, a) for n, a in inputs.items()],
                 "nodes": nodes}
        if parameters:
            graph["parameters"] = [tensor_decl(n, a) for n, a in parameters.items()]
            weights = dict(parameters)
        graph["outputs"] = outputs
        exe = self.compile(graph, weights, compile_args)
        return self.run(exe, inputs)

    def mlir(self, body, inputs, outputs, compile_args=()):
        """Compiles and runs one function written in MLIR (mlir_function)
        over {name: array} inputs, returning {name: array} for `outputs`
        ({name: type})."""
        self.count += 1
        path = self.dir / f"m{self.count}.mlir"
        path.write_text(mlir_function(body, inputs, outputs))
        exe = path.with_suffix(".ube")
        result = subprocess.run([self.tools / "ube-compile", path, "-o", exe, *compile_args],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"ube-compile failed:\n{result.stderr}")
        return self.run(exe, inputs)

    def op(self, op, inputs, attrs=None, **node_fields):
        """Runs one op on {name: array} inputs; returns its output."""
        node = {"name": "out", "op": op, "inputs": list(inputs)}
        if attrs:
            node["attrs"] = attrs
        node.update(node_fields)
        return self.graph(inputs, [node], ["out"])["out"]


def read_manifest(exe):
    data = pathlib.Path(exe).read_bytes()
    size = struct.unpack_from("<Q", data, 24)[0]
    return json.loads(data[32:32 + size])


def rel_error(out, ref):
    """max |out - ref| / max |ref| (absolute when ref is all zeros).

    With UBE_ERROR_REPORT=FILE set, each measurement is appended to FILE
    with the current test's id (bench/report_errors.py summarizes it)."""
    out = np.asarray(out, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert out.shape == ref.shape, f"shape {out.shape} != reference {ref.shape}"
    scale = np.max(np.abs(ref)) if ref.size else 0.0
    diff = np.max(np.abs(out - ref)) if ref.size else 0.0
    error = diff / scale if scale > 0 else diff
    report = os.environ.get("UBE_ERROR_REPORT")
    if report:
        test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
        with open(report, "a") as f:
            f.write(f"{test}\t{error:.3e}\n")
    return error


def feature_map_reference(hs, ht, w, alpha, beta, gamma, eps=1e-5):
    """feature_map_loss in float64 (docs/distillation.md) and its gradients
    for hs and w (None without a projection), by torch.autograd."""
    import torch
    import torch.nn.functional as F
    hsv = torch.from_numpy(hs).double().requires_grad_()
    wv = torch.from_numpy(w).double().requires_grad_() if w is not None else None
    h = hsv @ wv if wv is not None else hsv
    t = torch.from_numpy(ht).double()
    width = t.shape[-1]
    loss = alpha * F.mse_loss(F.layer_norm(h, (width,), eps=eps),
                              F.layer_norm(t, (width,), eps=eps))
    loss = loss + beta * ((t.mean(-1) - h.mean(-1)) ** 2).mean()
    loss = loss + gamma * (t.var(-1, unbiased=False) - h.var(-1, unbiased=False)).abs().mean()
    loss.backward()
    return (loss.detach().numpy(), hsv.grad.numpy(),
            wv.grad.numpy() if wv is not None else None)


def attention_transfer_reference(qs, ks, qt, kt, mask=None):
    """attention_transfer_loss in float64 and its gradients for qs and ks,
    by torch.autograd: KL(A_t || A_s) per query row, averaged over the rows
    `mask` [batch, tokens] keeps (its false keys get no attention)."""
    import torch
    import torch.nn.functional as F
    qsv, ksv = (torch.from_numpy(a).double().requires_grad_() for a in (qs, ks))

    def log_attention(q, k):
        scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
        if mask is not None:
            scores = scores.masked_fill(~torch.from_numpy(mask)[:, None, None, :], -1e300)
        return F.log_softmax(scores, -1)
    ls = log_attention(qsv, ksv)
    lt = log_attention(torch.from_numpy(qt).double(), torch.from_numpy(kt).double())
    kl = torch.nan_to_num(lt.exp() * (lt - ls)).sum(-1)
    if mask is not None:
        valid = torch.from_numpy(mask)[:, None, :].double().expand_as(kl)
        loss = (kl * valid).sum() / valid.sum().clamp(min=1)
    else:
        loss = kl.mean()
    loss.backward()
    return loss.item(), qsv.grad.numpy(), ksv.grad.numpy()


# Philox-4x32-10, as include/ube/Support/Philox.h.
M0, M1, W0, W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85
MASK = 0xFFFFFFFF


def philox_uniform(index, step, seed):
    c = [index & MASK, index >> 32 & MASK, step & MASK, step >> 32 & MASK]
    k = [seed & MASK, seed >> 32 & MASK]
    for r in range(10):
        if r:
            k = [(k[0] + W0) & MASK, (k[1] + W1) & MASK]
        p0, p1 = M0 * c[0], M1 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k[0], p1 & MASK, (p0 >> 32) ^ c[3] ^ k[1], p0 & MASK]
    return np.float32(c[0] >> 8) * np.float32(1.0 / 16777216.0)


def philox_uniforms(shape, step, seed):
    """philox_uniform of every row-major index of `shape`, vectorized."""
    index = np.arange(int(np.prod(shape)), dtype=np.uint64)
    mask = np.uint64(MASK)
    c = [index & mask, index >> np.uint64(32) & mask,
         np.full_like(index, step & MASK), np.full_like(index, step >> 32 & MASK)]
    k = [seed & MASK, seed >> 32 & MASK]
    for r in range(10):
        if r:
            k = [(k[0] + W0) & MASK, (k[1] + W1) & MASK]
        p0, p1 = np.uint64(M0) * c[0], np.uint64(M1) * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ np.uint64(k[0]), p1 & mask,
             (p0 >> np.uint64(32)) ^ c[3] ^ np.uint64(k[1]), p0 & mask]
    uniform = (c[0] >> np.uint64(8)).astype(np.float32) * np.float32(1.0 / 16777216.0)
    return uniform.reshape(shape)
