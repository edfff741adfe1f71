"""Compiling: graph files, MLIR, ONNX and torch modules to executables."""
import ctypes
import os
import pathlib
import subprocess
import sys
import tempfile

from ube.errors import CompileError
from ube.runtime import Executable, load  # noqa: F401 - ube.executable.load, as before


def _compiler():
    """The compiler extension, loaded on first use: ube.runtime alone never
    loads LLVM or MLIR."""
    from ube import _ube_compiler
    return _ube_compiler


def _device_of(target):
    return target.split(":")[0]


def release_freed_memory():
    """Hands heap memory freed so far (a compile's MLIR and LLVM state,
    collected garbage) back to the system: glibc keeps freed pages in its
    arenas, where they still count as the process's resident memory. A
    no-op where the C library has no malloc_trim."""
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is not None:
        trim.argtypes = [ctypes.c_size_t]
        trim(0)


def target_option_text(target_options):
    """Keyword arguments as the target's option text: cpu="znver4",
    print_memory_plan=True -> "cpu=znver4 print-memory-plan=true"."""
    words = []
    for key, value in target_options.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        words.append(f"{key.replace('_', '-')}={value}")
    return " ".join(words)


def compile(source, target="cpu", *, example_inputs=None, dynamic_shapes=None, dims=None,
            device=None, fused_kernels=True, output=None, **target_options):
    """Compiles a graph file (.json), an MLIR file (.mlir), an ONNX file
    (.onnx, inputs in the ONNX graph's order; `dims` bounds the symbols of
    its inputs' dim_params, {"batch": {"max": 32}}) or a torch.nn.Module (exported
    with ube.export, which needs example_inputs; `dynamic_shapes`, torch.export
    Dims, make dimensions symbolic: one executable for any sizes within them)
    into an Executable loaded on `device` (default: the target's).
    `fused_kernels=False` compiles every op through the generic composition
    instead of the target's fused kernels. With `output` (a path) the
    executable is written there too, and its bytes (weights included) are
    not kept in memory: save() copies the file.
    Other keyword arguments are the target's options (docs/python.md), e.g.
    cpu="znver4" for the cpu target or cuda_path="/opt/cuda" for cuda."""
    if hasattr(source, "forward") and hasattr(source, "parameters"):
        if example_inputs is None:
            raise TypeError("compiling a torch module needs example_inputs")
        from ube.torch_export import export
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "module.json")
            export(source, example_inputs, path, dynamic_shapes=dynamic_shapes)
            return compile(path, target, device=device, fused_kernels=fused_kernels,
                           output=output, **target_options)
    if dynamic_shapes is not None:
        raise TypeError("dynamic_shapes applies to compiling a torch module; a graph file "
                        "names its symbols itself")
    path = os.fspath(source)
    options = target_option_text(target_options)
    if dims is not None and not path.endswith(".onnx"):
        raise TypeError("dims bounds the symbols of an ONNX file's dim_params; a graph file "
                        "declares its own")
    if path.endswith(".onnx"):
        from ube.onnx_import import import_onnx
        with tempfile.TemporaryDirectory() as tmp:
            graph = os.path.join(tmp, "model.json")
            import_onnx(path, graph, dims=dims)
            image = _compiler().compile_file(graph, target, options, "exe", fused_kernels)
    else:
        image = _compiler().compile_file(path, target, options, "exe", fused_kernels)
    release_freed_memory()
    device = device or _device_of(target)
    if output is None:
        return Executable(image, device, name=path)
    pathlib.Path(output).write_bytes(image)
    return Executable(image, device, name=os.fspath(output), source=output)


def compile_isolated(path, output, target="cpu"):
    """compile() of graph file `path` in a child process, the executable
    written to `output` and loaded from it: the compiler's libraries (LLVM
    and MLIR, about 120 MB resident once used) and its heap never enter
    this process, which a training run keeps for its whole length. The
    child starts without torch (ube/_isolated_compile.py): about 0.1 s."""
    script = pathlib.Path(__file__).with_name("_isolated_compile.py")
    result = subprocess.run([sys.executable, os.fspath(script), os.fspath(path), target,
                             os.fspath(output)], capture_output=True, text=True)
    if result.returncode != 0:
        raise CompileError(result.stderr.strip() or
                           f"{os.fspath(path)}: the compiler's process exited with status "
                           f"{result.returncode}")
    return load(output, _device_of(target))
