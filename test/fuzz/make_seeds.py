"""Regenerates the fuzz targets' seed corpora (corpus/<target>/) from the
test inputs: small graph files with and without weights, .npy and
safetensors files of each dtype, and cpu and cuda executables compiled by
the build's ube-compile (the cuda one without its cubin, to stay small).

    .venv/bin/python test/fuzz/make_seeds.py build
"""
import json
import pathlib
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
from ube.safetensors import write_safetensors

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SEPARATOR = b"\n#safetensors\n"  # GraphImportFuzzer.cpp's kWeightsSeparator

NPY_ARRAYS = {
    "f32-2x3": np.arange(6, dtype=np.float32).reshape(2, 3),
    "f64-scalar": np.array(1.5),
    "i64-vector": np.array([1, -2, 3], dtype=np.int64),
    "i32-empty": np.zeros((0, 4), dtype=np.int32),
    "bool-2x2": np.array([[True, False], [False, True]]),
    "f16-4": np.ones(4, dtype=np.float16),
    "f32-fortran": np.asfortranarray(np.ones((2, 2), dtype=np.float32)),
}

# Symbolic dimensions: the executable's manifest names symbols (format 4).
SYMBOLIC_GRAPH = {
    "format": "ube.graph", "version": 2, "dims": {"batch": {"max": 8}, "seq": {"multiple_of": 2}},
    "inputs": [{"name": "x", "dtype": "f32", "shape": ["batch", "seq", 4]}],
    "nodes": [{"name": "y", "op": "softmax", "inputs": ["x"]}],
    "outputs": ["y"]}

# Products of symbols and an integer in reshapes ("4*batch*seq").
PRODUCTS_GRAPH = {
    "format": "ube.graph", "version": 2, "dims": {"batch": {"max": 8}, "seq": {}},
    "inputs": [{"name": "x", "dtype": "f32", "shape": ["batch", "seq", 4]}],
    "nodes": [{"name": "rows", "op": "reshape", "inputs": ["x"], "shape": ["4*batch*seq"]},
              {"name": "s", "op": "softmax", "inputs": ["rows"]},
              {"name": "y", "op": "reshape", "inputs": ["s"], "shape": ["batch", "seq", 4]}],
    "outputs": ["y"]}

# Derived symbols (format 6): a convolution's output length over a symbolic
# length, computed at each call, and the sizes the call checks.
WINDOWS_GRAPH = {
    "format": "ube.graph", "version": 2, "dims": {"len": {"max": 256}},
    "inputs": [{"name": "x", "dtype": "f32", "shape": [1, 2, "len"]},
               {"name": "w", "dtype": "f32", "shape": [4, 2, 3]}],
    "nodes": [{"name": "y", "op": "conv", "inputs": ["x", "w"], "attrs": {"stride": [2]}}],
    "outputs": ["y"]}

DISTILL_GRAPH = {
    "format": "ube.graph", "version": 1, "name": "distill",
    "inputs": [{"name": "s", "dtype": "f32", "shape": [2, 8]},
               {"name": "t", "dtype": "f32", "shape": [2, 8]},
               {"name": "y", "dtype": "i64", "shape": [2]},
               {"name": "hs", "dtype": "f32", "shape": [2, 3, 4]},
               {"name": "ht", "dtype": "f32", "shape": [2, 3, 4]}],
    "nodes": [
        {"name": "kd", "op": "kd_loss", "inputs": ["s", "t"], "attrs": {"temperature": 2.0}},
        {"name": "ce", "op": "cross_entropy", "inputs": ["s", "y"]},
        {"name": "fm", "op": "feature_map_loss", "inputs": ["hs", "ht"]},
        {"name": "c", "op": "constant", "attrs": {"value": 0.5, "dtype": "f32"}},
        {"name": "w", "op": "mul", "inputs": ["kd", "c"]},
        {"name": "total", "op": "add", "inputs": ["w", "ce"]},
    ],
    "outputs": ["total", "fm"],
}


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def without_sections(image, prefix):
    """Rewrites a .ube container without the sections whose name starts with prefix."""
    size = struct.unpack_from("<Q", image, 24)[0]
    manifest = json.loads(image[32:32 + size])
    payload = image[32 + size:]
    kept, blobs, offset = [], [], 0
    for s in manifest["sections"]:
        if s["name"].startswith(prefix):
            continue
        offset = (offset + 63) // 64 * 64
        blobs.append((offset, payload[s["offset"]:s["offset"] + s["size"]]))
        kept.append(dict(s, offset=offset))
        offset += s["size"]
    manifest["sections"] = kept
    text = json.dumps(manifest).encode()
    text += b" " * ((64 - (32 + len(text)) % 64) % 64)
    body = bytearray(text + bytes(offset))
    for at, blob in blobs:
        body[len(text) + at:len(text) + at + len(blob)] = blob
    header = b"UBEEXEC\0" + struct.pack("<IIQQ", 1, 0, fnv1a64(body), len(text))
    return header + bytes(body)


def main():
    build = pathlib.Path(sys.argv[1]).resolve()
    corpus = HERE / "corpus"
    # Inputs that once crashed a target (regression-*) stay; the rest is remade.
    for target in ("fuzz-npy", "fuzz-safetensors", "fuzz-executable", "fuzz-graph-import"):
        (corpus / target).mkdir(parents=True, exist_ok=True)
        for seed in (corpus / target).iterdir():
            if not seed.name.startswith("regression-"):
                seed.unlink()

    for name, array in NPY_ARRAYS.items():
        np.save(corpus / "fuzz-npy" / f"{name}.npy", array)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        write_safetensors(tmp / "small.safetensors",
                          {"a": np.arange(4, dtype=np.float32),
                           "b": np.array([[1, 2]], dtype=np.int64),
                           "m": np.array([True, False])},
                          metadata={"format": "pt"})
        write_safetensors(tmp / "empty.safetensors", {})
        for f in tmp.glob("*.safetensors"):
            shutil.copy(f, corpus / "fuzz-safetensors" / f.name)
        shutil.copy(ROOT / "examples/mlp.safetensors", corpus / "fuzz-safetensors")

        graphs = corpus / "fuzz-graph-import"
        mlp = json.loads((ROOT / "examples/mlp.json").read_text())
        mlp["weights"] = "w.safetensors"
        (graphs / "mlp-with-weights").write_bytes(
            json.dumps(mlp, indent=1).encode() + SEPARATOR +
            (ROOT / "examples/mlp.safetensors").read_bytes())
        shutil.copy(ROOT / "test/unit/softmax.json", graphs / "softmax.json")
        shutil.copy(ROOT / "test/Target/Inputs/cuda-ops.json", graphs / "cuda-ops.json")
        (graphs / "distill.json").write_text(json.dumps(DISTILL_GRAPH, indent=1))
        (graphs / "symbolic.json").write_text(json.dumps(SYMBOLIC_GRAPH, indent=1))
        (graphs / "products.json").write_text(json.dumps(PRODUCTS_GRAPH, indent=1))
        (graphs / "windows.json").write_text(json.dumps(WINDOWS_GRAPH, indent=1))

        compile_tool = build / "bin/ube-compile"
        exes = corpus / "fuzz-executable"
        subprocess.run([compile_tool, ROOT / "test/unit/softmax.json", "-o",
                        exes / "softmax-cpu.ube"], check=True)
        symbolic = tmp / "symbolic.json"
        symbolic.write_text(json.dumps(SYMBOLIC_GRAPH))
        subprocess.run([compile_tool, symbolic, "-o", exes / "symbolic-cpu.ube"], check=True)
        windows = tmp / "windows.json"
        windows.write_text(json.dumps(WINDOWS_GRAPH))
        subprocess.run([compile_tool, windows, "-o", exes / "derived-cpu.ube"], check=True)
        # An arena sized at each call: expressions of an unbounded symbol (format 5).
        subprocess.run([compile_tool, ROOT / "test/unit/symbolic-unbounded.json", "-o",
                        exes / "arena-cpu.ube"], check=True)
        subprocess.run([compile_tool, ROOT / "test/unit/softmax.json", "--target=cuda:sm_90",
                        "-o", tmp / "softmax-cuda.ube"], check=True)
        (exes / "softmax-cuda.ube").write_bytes(
            without_sections((tmp / "softmax-cuda.ube").read_bytes(), "cubin:"))
        # A launch plan whose sizes are expressions of the symbols.
        subprocess.run([compile_tool, symbolic, "--target=cuda:sm_90",
                        "-o", tmp / "symbolic-cuda.ube"], check=True)
        (exes / "symbolic-cuda.ube").write_bytes(
            without_sections((tmp / "symbolic-cuda.ube").read_bytes(), "cubin:"))


if __name__ == "__main__":
    main()
