"""The runtime alone: load compiled .ube executables and run them.

    import ube.runtime
    exe = ube.runtime.load("model.ube")
    probs = exe(x)

Needs only the runtime extension (`_ube_runtime`): no LLVM or MLIR library
is loaded, so a deployment needs neither. `ube.load` and `ube.Executable`
are these.
"""
import hashlib
import os
import pathlib
import shutil

import numpy as np

from ube import _ube_runtime
from ube.errors import RuntimeError  # noqa: A004 - ube.RuntimeError by design

__all__ = ["Executable", "Function", "RuntimeError", "load"]


def _to_numpy(value):
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor
        value = value.detach().cpu()
        if str(value.dtype) == "torch.bfloat16":
            # numpy has no bfloat16: bf16 travels as the uint16 of its bits.
            import torch
            return value.contiguous().view(torch.int16).numpy().view(np.uint16)
        return value.numpy()
    return np.asarray(value)


class Function:
    """One entry point of an executable."""

    def __init__(self, executable, index, name):
        self._executable, self._index, self.name = executable, index, name

    @property
    def inputs(self):
        """[(name, dtype, shape)] of the inputs; -1 in a shape is a symbolic
        size (any the inputs agree on, within the symbol's bounds)."""
        return self._executable._loaded.signature(self._index, True)

    @property
    def outputs(self):
        return self._executable._loaded.signature(self._index, False)

    @property
    def in_place(self):
        """{output name: input name} of the outputs the executable may write
        over their input (updates in place; see TrainingStep)."""
        inputs, outputs = self.inputs, self.outputs
        return {outputs[o][0]: inputs[i][0]
                for o, i in self._executable._loaded.in_place(self._index).items()}

    def arena_bytes(self, *shapes):
        """The scratch memory in bytes a call with inputs of these shapes
        takes (one shape per input). An entry point with symbolic sizes may
        need more at larger ones: each call's arena grows to what its shapes
        need and is then reused."""
        return self._executable._loaded.arena_bytes(
            self._index, [[int(s) for s in shape] for shape in shapes])

    def output_shapes(self, *shapes):
        """The outputs' shapes when the inputs have these shapes (one per
        input): the symbols bound from the inputs, a disagreement or a size
        outside a symbol's bounds an error naming the inputs, as a call's."""
        return [tuple(shape) for shape in self._executable._loaded.output_shapes(
            self._index, [[int(s) for s in shape] for shape in shapes])]

    def __call__(self, *args, **kwargs):
        if kwargs:
            names = [name for name, _, _ in self.inputs]
            unknown = set(kwargs) - set(names)
            if unknown:
                raise TypeError(f"{self.name}() got unknown inputs {sorted(unknown)}; "
                                f"its inputs are {names}")
            args = list(args) + [kwargs[n] for n in names[len(args):] if n in kwargs]
        results = self._executable._loaded.invoke(self._index, [_to_numpy(a) for a in args])
        return results[0] if len(results) == 1 else tuple(results)

    def __repr__(self):
        sig = ", ".join(f"{n}: {d}{s}" for n, d, s in self.inputs)
        out = ", ".join(f"{n}: {d}{s}" for n, d, s in self.outputs)
        return f"<ube function {self.name}({sig}) -> ({out})>"


def _file_identity(path):
    """What changes when a file is replaced or rewritten."""
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class Executable:
    """A loaded .ube executable on a device."""

    def __init__(self, image, device="cpu", name="<memory>", *, source=None):
        """`source`: the file `image` was read from; then the bytes are not
        kept (the loaded code holds what it needs; weights would otherwise
        be resident twice) and save() copies the file."""
        image = bytes(image)
        self._device = _ube_runtime.Device(device)
        self._loaded = _ube_runtime.LoadedExecutable(self._device, image, name)
        self._image = None if source else image
        self._source = (pathlib.Path(source), _file_identity(source)) if source else None
        self.functions = {n: Function(self, i, n) for i, n in enumerate(self._loaded.functions)}

    @property
    def device(self):
        return self._device.name

    @property
    def threads(self):
        """Host threads that run this executable's parallel loops (cpu; 0 on
        devices whose code does not run on host threads). Defaults to
        UBE_NUM_THREADS, else every hardware thread; results do not depend
        on it."""
        return self._device.threads

    @threads.setter
    def threads(self, count):
        self._device.threads = count

    @property
    def target_info(self):
        return self._loaded.target_info

    @property
    def variant(self):
        """The build of a multi-ISA executable (ube.compile(..., cpu="portable"))
        this host runs: the most capable one it has, or the one the
        UBE_CPU_VARIANT environment variable names; "" for one build."""
        return self._loaded.variant

    def __call__(self, *args, **kwargs):
        return next(iter(self.functions.values()))(*args, **kwargs)

    def __getitem__(self, name):
        try:
            return self.functions[name]
        except KeyError:
            raise KeyError(f"no function '{name}' (it has: {', '.join(self.functions)})") from None

    def __getattr__(self, name):
        functions = self.__dict__.get("functions", {})
        if name in functions:
            return functions[name]
        raise AttributeError(f"executable has no function or attribute '{name}'")

    def save(self, path):
        if self._image is not None:
            pathlib.Path(path).write_bytes(self._image)
            return
        source, identity = self._source
        if _file_identity(source) != identity:
            raise ValueError(f"{source}: changed since this executable was loaded from it; "
                             "load it again to save it")
        if pathlib.Path(path).resolve() != source.resolve():
            shutil.copyfile(source, path)

    def __repr__(self):
        return f"<ube executable on {self.device}: {', '.join(self.functions)}>"


def load(path, device=None, *, sha256=None):
    """Loads a compiled .ube executable (on the device it was compiled for).

    Loading an executable runs its code (docs/security.md). With `sha256` (hex),
    the bytes read are checked against that digest before anything is loaded,
    and a mismatch raises ValueError.
    """
    data = pathlib.Path(path).read_bytes()
    if sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256.strip().lower():
            raise ValueError(f"{os.fspath(path)}: SHA-256 is {actual}, expected {sha256}; "
                             "refusing to load it")
    if device is None:
        # An unreadable file goes to the cpu device, whose loader reports
        # what is wrong with it.
        device = _ube_runtime.executable_target(data) or "cpu"
    return Executable(data, device, name=os.fspath(path), source=path)
