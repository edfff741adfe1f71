"""ube: compile deep-learning graphs to executables and run them.

    import ube
    exe = ube.compile("model.json")            # a graph file, an .mlir file,
    probs = exe.predict(x)                     # or a torch.nn.Module (ube.export)
    exe = ube.load("model.ube")                # a compiled executable

`ube.runtime` is the runtime alone (load and run, no LLVM or MLIR library
loaded); the compiler extension loads on the first compile.

Executables are callable: ``exe(*inputs)`` runs the first function,
``exe.NAME(*inputs)`` / ``exe["NAME"](*inputs)`` any other. Inputs are numpy
arrays or CPU torch tensors; outputs are numpy arrays (a single array, or a
tuple when the function has several outputs).
"""
from ube.errors import CompileError, RuntimeError  # noqa: A004 - ube.RuntimeError by design
from ube.executable import compile  # noqa: A004
from ube.runtime import Executable, load
from ube.graph_builder import ExportError
from ube.training import TrainingStep
from ube.distill import DistillConfig, TrainedModel, distill, fit, save_teacher_outputs
from ube.teacher_outputs import TeacherOutputs

__all__ = ["CompileError", "ExportError", "RuntimeError", "Executable", "TrainingStep", "DistillConfig",
           "TrainedModel", "TeacherOutputs", "compile", "distill", "fit", "load", "export",
           "import_onnx", "save_teacher_outputs"]


def export(module, example_inputs, path, **kwargs):
    """Writes a PyTorch module as a ube graph file (see ube.torch_export)."""
    from ube.torch_export import export as _export
    return _export(module, example_inputs, path, **kwargs)


def import_onnx(model, path, **kwargs):
    """Writes an ONNX model (ModelProto or path) as a ube graph file (see
    ube.onnx_import)."""
    from ube.onnx_import import import_onnx as _import
    return _import(model, path, **kwargs)


def _register_torch_backend():
    try:
        from ube.torch_backend import register
        register()
    except ImportError:  # no torch: the rest of ube works without it
        pass


_register_torch_backend()
