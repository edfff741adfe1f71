"""The Python API: ube.compile, ube.load, calling executables, errors."""
import hashlib

import numpy as np
import pytest
import torch

from ubetest import rel_error


@pytest.fixture(scope="module")
def mlp(ube_module, source_root):
    return ube_module.compile(source_root / "examples/mlp.json")


def test_import_and_functions(ube_module, mlp):
    assert list(mlp.functions) == ["predict", "loss"]
    assert mlp.device == "cpu"
    assert "x86_64" in mlp.target_info
    assert mlp.predict.inputs == [("x", "f32", [8, 16])]
    assert mlp.loss.outputs == [("loss", "f32", [])]
    assert "predict(x: f32[8, 16]) -> (probs: f32[8, 4])" in repr(mlp.predict)


def test_call_styles_agree(mlp):
    x = np.random.default_rng(0).standard_normal((8, 16)).astype(np.float32)
    probs = mlp.predict(x)
    assert probs.shape == (8, 4) and probs.dtype == np.float32
    assert np.allclose(probs.sum(1), 1, atol=1e-6)
    assert np.array_equal(mlp(x), probs)
    assert np.array_equal(mlp["predict"](x), probs)
    assert np.array_equal(mlp.predict(x=x), probs)
    # Other dtypes, layouts and torch tensors are converted.
    assert rel_error(mlp.predict(x.astype(np.float64)), probs) < 1e-7
    assert np.array_equal(mlp.predict(np.asfortranarray(x)), probs)
    assert np.array_equal(mlp.predict(torch.from_numpy(x)), probs)
    labels = np.array([0, 1, 2, 3, 0, 1, 2, 3])
    loss = mlp.loss(x, labels)
    assert loss.shape == () and np.isfinite(loss)


def test_bad_calls(ube_module, mlp):
    x = np.zeros((8, 16), np.float32)
    with pytest.raises(ValueError, match=r"input 'x' expects shape \[8, 16\], got \[8, 15\]"):
        mlp.predict(x[:, :15])
    with pytest.raises(TypeError, match="takes 1 inputs, got 2"):
        mlp.predict(x, x)
    with pytest.raises(TypeError, match="unknown inputs"):
        mlp.predict(y=x)
    with pytest.raises(KeyError, match="no function 'train'"):
        mlp["train"]
    with pytest.raises(AttributeError):
        mlp.train


def test_save_and_load(ube_module, mlp, tmp_path):
    path = tmp_path / "mlp.ube"
    mlp.save(path)
    again = ube_module.load(path)
    x = np.ones((8, 16), np.float32)
    assert np.array_equal(again.predict(x), mlp.predict(x))


def test_loaded_executable_saves_a_copy_of_its_file(ube_module, mlp, tmp_path):
    """A loaded executable does not keep its bytes: save() copies the file,
    and refuses when the file changed since it was loaded."""
    path = tmp_path / "mlp.ube"
    mlp.save(path)
    loaded = ube_module.load(path)
    loaded.save(tmp_path / "copy.ube")
    assert (tmp_path / "copy.ube").read_bytes() == path.read_bytes()
    loaded.save(path)  # onto itself: nothing to do
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ValueError, match="changed since this executable was loaded"):
        loaded.save(tmp_path / "again.ube")


def test_load_pinned_by_sha256(ube_module, mlp, tmp_path):
    path = tmp_path / "mlp.ube"
    mlp.save(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    x = np.ones((8, 16), np.float32)
    assert np.array_equal(ube_module.load(path, sha256=digest.upper()).predict(x),
                          mlp.predict(x))
    with pytest.raises(ValueError, match=f"mlp.ube: SHA-256 is {digest}, expected 00ff; "
                                         "refusing to load it"):
        ube_module.load(path, sha256="00ff")


def write_unknown_op_graph(path):
    """A graph file whose node 'y' (line 3, column 32) has an unknown op."""
    path.write_text('{"format": "ube.graph", "version": 1,\n'
                    ' "inputs": [{"name": "x", "dtype": "f32", "shape": [2]}],\n'
                    ' "nodes": [{"name": "y", "op": "frobnicate", "inputs": ["x"]}],\n'
                    ' "outputs": ["y"]}')
    return path


UNKNOWN_OP = r"bad.json:3:32: error: node 'y': unknown op 'frobnicate'"


def test_compile_errors_carry_diagnostics(ube_module, source_root, tmp_path):
    with pytest.raises(ube_module.CompileError, match=UNKNOWN_OP):
        ube_module.compile(write_unknown_op_graph(tmp_path / "bad.json"))
    with pytest.raises(ube_module.CompileError, match="unknown target 'tpu'"):
        ube_module.compile(source_root / "examples/mlp.json", target="tpu")
    # A binary "graph file": the quoted line comes back escaped, not raw.
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"\x7fELF\x02\x1b[31m\xff")
    with pytest.raises(ube_module.CompileError) as error:
        ube_module.compile(garbage)
    assert "\\x7fELF\\x02\\x1b[31m\\xff" in str(error.value)
    assert "\x1b" not in str(error.value)


def test_compile_to_a_file_keeps_no_image(ube_module, source_root, mlp, tmp_path):
    """compile(output=...) writes the executable and loads it from there:
    the same results, save() copies the file."""
    exe = ube_module.compile(source_root / "examples/mlp.json", output=tmp_path / "mlp.ube")
    assert exe._image is None
    x = np.random.default_rng(4).standard_normal((8, 16)).astype(np.float32)
    assert np.array_equal(exe.predict(x), mlp.predict(x))
    exe.save(tmp_path / "copy.ube")
    assert (tmp_path / "copy.ube").read_bytes() == (tmp_path / "mlp.ube").read_bytes()


def test_compile_isolated(ube_module, source_root, mlp, tmp_path):
    """The compiler in a child process (what ube.distill runs): the same
    executable, and the compiler's diagnostics as a CompileError."""
    from ube.executable import compile_isolated
    exe = compile_isolated(source_root / "examples/mlp.json", tmp_path / "mlp.ube")
    x = np.random.default_rng(5).standard_normal((8, 16)).astype(np.float32)
    assert np.array_equal(exe.predict(x), mlp.predict(x))
    with pytest.raises(ube_module.CompileError, match=UNKNOWN_OP):
        compile_isolated(write_unknown_op_graph(tmp_path / "bad.json"), tmp_path / "bad.ube")
    assert not (tmp_path / "bad.ube").exists()


def test_target_options(ube_module, source_root, capfd):
    """Keyword arguments of ube.compile beyond its own are the target's
    options (lib/Target/<Name>/<Name>TargetOptions.h), checked by it."""
    mlp = source_root / "examples/mlp.json"
    from ube.executable import target_option_text
    assert target_option_text({"cpu": "znver4", "print_memory_plan": True}) == \
        "cpu=znver4 print-memory-plan=true"
    exe = ube_module.compile(mlp, cpu="x86-64-v3", print_memory_plan=True)
    assert exe.target_info.endswith(" x86-64-v3")
    assert "memory plan for @predict" in capfd.readouterr().out
    x = np.random.default_rng(0).standard_normal((8, 16)).astype(np.float32)
    assert np.allclose(exe.predict(x).sum(1), 1, atol=1e-6)
    with pytest.raises(ube_module.CompileError, match="the cpu target's options 'threads=4': "
                                                       "no such option threads"):
        ube_module.compile(mlp, threads=4)
    with pytest.raises(ube_module.CompileError, match="unknown CPU model 'pentium9000'"):
        ube_module.compile(mlp, cpu="pentium9000")
    with pytest.raises(ube_module.CompileError, match="the cuda target's options .*"
                                                       "no such option cpu"):
        ube_module.compile(mlp, "cuda:sm_90", cpu="znver4")


def _host_has_amx():
    with open("/proc/cpuinfo") as cpuinfo:
        flags = cpuinfo.read()
    return "amx_tile" in flags and "avx512_fp16" in flags


@pytest.mark.skipif(_host_has_amx(), reason="this host can run Granite Rapids code")
def test_executable_for_another_cpu_is_refused(ube_module, source_root, tmp_path):
    """The cpu device checks the manifest's required features against the
    host before it maps any code: a clear error, not SIGILL."""
    from ube import _ube_compiler
    path = tmp_path / "granite.ube"
    path.write_bytes(_ube_compiler.compile_file(str(source_root / "examples/mlp.json"), "cpu",
                                                "cpu=graniterapids"))
    with pytest.raises(ube_module.RuntimeError,
                       match=r"granite.ube: compiled for x86_64-\S+ graniterapids, whose "
                             r"instructions this host's CPU lacks \(.*amx-tile.*\)"):
        ube_module.load(path)


def test_portable_executable_runs_every_variant_the_host_has(ube_module, mlp, source_root,
                                                             tmp_path, monkeypatch):
    """cpu="portable": one build per x86-64 level; the most capable one the
    host runs is loaded (Executable.variant), UBE_CPU_VARIANT picks another,
    and every variant computes the same."""
    path = tmp_path / "portable.ube"
    exe = ube_module.compile(source_root / "examples/mlp.json", cpu="portable")
    exe.save(path)
    with open("/proc/cpuinfo") as cpuinfo:
        flags = set(cpuinfo.read().split())
    runnable = ["x86-64-v2"] + (["x86-64-v3"] if {"avx2", "fma", "bmi2"} <= flags else []) + \
        (["x86-64-v4"] if {"avx512f", "avx512bw", "avx512vl"} <= flags else [])
    assert exe.variant == runnable[-1]
    x = np.random.default_rng(2).standard_normal((8, 16)).astype(np.float32)
    for variant in runnable:
        monkeypatch.setenv("UBE_CPU_VARIANT", variant)
        loaded = ube_module.load(path)
        assert loaded.variant == variant
        # Different instructions, same math: f32 rounding only.
        assert rel_error(loaded.predict(x), mlp.predict(x)) < 1e-5
    assert ube_module.load(source_root / "test/Runtime/Inputs/mlp-format1-x86-64-v2.ube").variant == ""


def test_format1_fixture_still_runs(ube_module, mlp, source_root):
    """An executable of format 1 (committed, compiled for x86-64-v2 before
    required features were recorded) loads and computes what today's
    compiler's code does."""
    old = ube_module.load(source_root / "test/Runtime/Inputs/mlp-format1-x86-64-v2.ube")
    assert old.target_info.endswith(" x86-64-v2")
    x = np.random.default_rng(1).standard_normal((8, 16)).astype(np.float32)
    labels = np.array([3, 2, 1, 0, 3, 2, 1, 0])
    # Different instructions (SSE4.2 against this host's), same math: f32
    # rounding differences only.
    assert rel_error(old.predict(x), mlp.predict(x)) < 1e-5
    assert rel_error(old.loss(x, labels), mlp.loss(x, labels)) < 1e-5


def test_runtime_errors(ube_module, mlp, tmp_path):
    corrupt = tmp_path / "corrupt.ube"
    mlp.save(corrupt)
    data = bytearray(corrupt.read_bytes())
    data[-100] ^= 1
    corrupt.write_bytes(data)
    with pytest.raises(ube_module.RuntimeError, match="checksum mismatch"):
        ube_module.load(corrupt)
    with pytest.raises(ube_module.RuntimeError, match="no device plugin named 'tpu'"):
        ube_module.load(corrupt, device="tpu")


def test_cuda_without_driver(ube_module, source_root, tmp_path):
    try:
        import ctypes
        ctypes.CDLL("libcuda.so.1")
        pytest.skip("a CUDA driver is present")
    except OSError:
        pass
    with pytest.raises(ube_module.RuntimeError, match="no CUDA driver"):
        ube_module.compile(source_root / "examples/mlp.json", target="cuda:sm_90")
    # ube.load picks the device the file was compiled for.
    from ube import _ube_compiler, _ube_runtime
    image = _ube_compiler.compile_file(str(source_root / "examples/mlp.json"), "cuda:sm_90")
    assert _ube_runtime.executable_target(image) == "cuda"
    assert _ube_runtime.executable_target(b"not an executable") == ""
    path = tmp_path / "mlp-cuda.ube"
    path.write_bytes(image)
    with pytest.raises(ube_module.RuntimeError, match="no CUDA driver"):
        ube_module.load(path)


def test_runtime_alone_loads_no_compiler(ube_module, mlp, tools_dir, tmp_path):
    """ube.runtime loads and runs an executable with no LLVM or MLIR library
    in the process (a fresh interpreter), and gives the results the full
    package gives."""
    import subprocess
    import sys
    mlp.save(tmp_path / "mlp.ube")
    x = np.random.default_rng(3).standard_normal((8, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    script = (
        "import sys, numpy as np\n"
        f"sys.path.insert(0, {str(tools_dir.parent / 'python')!r})\n"
        "import ube.runtime\n"
        f"exe = ube.runtime.load({str(tmp_path / 'mlp.ube')!r})\n"
        f"np.save({str(tmp_path / 'y.npy')!r}, exe.predict(np.load({str(tmp_path / 'x.npy')!r})))\n"
        "maps = open('/proc/self/maps').read()\n"
        "print('ube._ube_compiler' in sys.modules, 'libMLIR' in maps, 'libLLVM' in maps)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False", "False"]
    assert np.array_equal(np.load(tmp_path / "y.npy"), mlp.predict(x))


def test_python_dtype_table_matches_the_cpp_one(ube_module):
    """ube.dtypes (the Python table every frontend derives its maps from)
    against include/ube/Support/DType.h, through the runtime extension."""
    from ube import _ube_runtime, dtypes
    assert [(name, size, st) for name, _, size, st, _, _ in dtypes.DTYPES] == \
        [tuple(d) for d in _ube_runtime.dtypes()]


def test_bfloat16_tensors(ube_module, tmp_path):
    """A bf16 input takes a torch.bfloat16 tensor (or a uint16 array of its
    bits: numpy has no bfloat16); a bf16 output comes back as those bits."""
    import json
    graph = {"format": "ube.graph", "version": 1,
             "inputs": [{"name": "x", "dtype": "bf16", "shape": [4]}],
             "nodes": [{"name": "y", "op": "mul", "inputs": ["x", "x"]}], "outputs": ["y"]}
    (tmp_path / "square.json").write_text(json.dumps(graph))
    exe = ube_module.compile(tmp_path / "square.json")
    x = torch.tensor([1.5, 2.0, -3.0, 0.25], dtype=torch.bfloat16)
    for given in (x, x.view(torch.int16).numpy().view(np.uint16)):
        y = exe(given)
        assert y.dtype == np.uint16
        assert torch.equal(torch.from_numpy(y.view(np.int16)).view(torch.bfloat16), x * x)
