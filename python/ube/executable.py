"""Compiling: graph files, MLIR, ONNX and torch modules to executables."""
import os
import tempfile

from ube.runtime import Executable, load  # noqa: F401 - ube.executable.load, as before


def _compiler():
    """The compiler extension, loaded on first use: ube.runtime alone never
    loads LLVM or MLIR."""
    from ube import _ube_compiler
    return _ube_compiler


def _device_of(target):
    return target.split(":")[0]


def compile(source, target="cpu", *, cpu="native", cuda_path="/usr/local/cuda",
            example_inputs=None, device=None, fused_kernels=True):
    """Compiles a graph file (.json), an MLIR file (.mlir), an ONNX file
    (.onnx, inputs in the ONNX graph's order) or a torch.nn.Module (exported
    with ube.export, which needs example_inputs) into an Executable loaded on
    `device` (default: the target's). `fused_kernels=False` compiles every op
    through the generic composition instead of the target's fused kernels."""
    if hasattr(source, "forward") and hasattr(source, "parameters"):
        if example_inputs is None:
            raise TypeError("compiling a torch module needs example_inputs")
        from ube.torch_export import export
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "module.json")
            export(source, example_inputs, path)
            return compile(path, target, cpu=cpu, cuda_path=cuda_path, device=device,
                           fused_kernels=fused_kernels)
    path = os.fspath(source)
    if path.endswith(".onnx"):
        from ube.onnx_import import import_onnx
        with tempfile.TemporaryDirectory() as tmp:
            graph = os.path.join(tmp, "model.json")
            import_onnx(path, graph)
            image = _compiler().compile_file(graph, target, cpu, cuda_path, "exe", fused_kernels)
        return Executable(image, device or _device_of(target), name=path)
    image = _compiler().compile_file(path, target, cpu, cuda_path, "exe", fused_kernels)
    return Executable(image, device or _device_of(target), name=path)


