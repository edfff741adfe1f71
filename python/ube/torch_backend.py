"""`torch.compile(model, backend="ube")` (PyTorch 2.0 and later).

Dynamo hands over an fx GraphModule and example inputs; it goes through the
same path as ube.compile(module, example_inputs): ube.export, then the
compiler, then the runtime. Outputs come back as torch tensors. Registered
when ube is imported and torch has torch.compile (Debian's torch 1.13 has not).
"""
import torch


def ube_backend(graph_module, example_inputs):
    from ube.executable import compile as ube_compile

    exe = ube_compile(graph_module, example_inputs=tuple(example_inputs))
    function = next(iter(exe.functions.values()))

    def run(*args):
        outputs = function(*args)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        return tuple(torch.from_numpy(o) for o in outputs)

    return run


def register():
    if not hasattr(torch, "compile"):
        return False
    from torch._dynamo import register_backend
    register_backend(name="ube")(ube_backend)
    return True
