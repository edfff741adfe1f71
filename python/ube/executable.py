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
            device=None, fused_kernels=True, **target_options):
    """Compiles a graph file (.json), an MLIR file (.mlir), an ONNX file
    (.onnx, inputs in the ONNX graph's order; `dims` bounds the symbols of
    its inputs' dim_params, {"batch": {"max": 32}}) or a torch.nn.Module (exported
    with ube.export, which needs example_inputs; `dynamic_shapes`, torch.export
    Dims, make dimensions symbolic: one executable for any sizes within them)
    into an Executable loaded on `device` (default: the target's).
    `fused_kernels=False` compiles every op through the generic composition
    instead of the target's fused kernels.
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
                           **target_options)
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
        return Executable(image, device or _device_of(target), name=path)
    image = _compiler().compile_file(path, target, options, "exe", fused_kernels)
    return Executable(image, device or _device_of(target), name=path)
