"""Running compiled training steps (--ube-build-train-step, the graph
format's "train"): the step's outputs that share a name with one of its
inputs (parameters, optimizer state) are fed back as those inputs."""
import numpy as np

from ube.dtypes import UBE_TO_NUMPY


class TrainingStep:
    """Calls a training-step function step after step.

    `params` maps parameter names to their initial values; optimizer state
    not given in `state` starts at zeros (what PyTorch's optimizers start
    from) of its parameter's shape. A parameter of symbolic shape (a size
    named by a symbol) is trained at the sizes of its initial value, which
    the batch's inputs naming the same symbols must agree with. An i64
    scalar input named `step` is the step counter, counted from
    `first_step`. Where the executable updates a parameter or state in
    place (Function.in_place: the compiler proved it safe), its one array is
    both input and output; any other lives in two arrays that trade places
    every step. Either way a step allocates nothing for them."""

    def __init__(self, function, params, state=None, first_step=1):
        self.function = function
        inputs = {name: (UBE_TO_NUMPY[dtype], shape) for name, dtype, shape in function.inputs}
        outputs = [name for name, _, _ in function.outputs]
        self._input_names = [name for name, _, _ in function.inputs]
        self._output_names = outputs
        self._carried = [name for name in outputs if name in inputs]
        given = {**(state or {}), **params}
        unknown = set(given) - set(self._carried)
        if unknown:
            raise ValueError(f"{sorted(unknown)} are not parameters or optimizer state of "
                             f"'{function.name}' (those are {self._carried})")
        self._current = {}
        for name in self._carried:
            dtype, shape = inputs[name]
            if name in given:
                value = np.array(given[name], dtype=dtype, order="C", copy=True)
                if not _conforms(value.shape, shape):
                    raise ValueError(f"'{name}' has shape {list(value.shape)}, "
                                     f"the step expects {_shape_text(shape)}")
            elif "." in name:  # optimizer state, of its parameter's shape
                owner = max((p for p in given if name.startswith(p + ".")), key=len,
                            default=None)
                if -1 in shape and owner is None:
                    raise ValueError(f"no initial value for '{name}', whose shape "
                                     f"{_shape_text(shape)} is its parameter's")
                value = np.zeros(shape if owner is None else np.shape(given[owner]),
                                 dtype=dtype)
            else:
                raise ValueError(f"no initial value for parameter '{name}'")
            self._current[name] = value
        self.in_place = {name for name, source in function.in_place.items()
                         if name == source and name in self._current}
        self._spare = {name: np.empty_like(value) for name, value in self._current.items()
                       if name not in self.in_place}
        self._has_step = "step" in inputs and "step" not in self._carried
        self.step_number = first_step

    @property
    def current(self):
        """The live parameters and state (not copies: the next step changes
        them)."""
        return self._current

    @property
    def params(self):
        """The current parameters and state (copies)."""
        return {name: value.copy() for name, value in self._current.items()}

    def __call__(self, **batch):
        """Runs one step on `batch` (the other inputs, by name); returns the
        step's other outputs (loss terms) by name."""
        args = []
        for name in self._input_names:
            if name in self._current:
                args.append(self._current[name])
            elif name == "step" and self._has_step:
                args.append(np.array(self.step_number, dtype=np.int64))
            elif name in batch:
                args.append(batch[name])
            else:
                raise TypeError(f"{self.function.name}: missing input '{name}'")
        outputs = [self._current[name] if name in self.in_place else self._spare.get(name)
                   for name in self._output_names]
        results = self.function._executable._loaded.invoke(self.function._index, args, outputs)
        for name in self._spare:
            self._current[name], self._spare[name] = self._spare[name], self._current[name]
        self.step_number += 1
        return {name: value for name, value in zip(self._output_names, results)
                if name not in self._current}


def _conforms(shape, expected):
    """Whether `shape` is `expected`'s, where -1 (a symbol) takes any size."""
    return len(shape) == len(expected) and all(
        want in (-1, got) for got, want in zip(shape, expected))


def _shape_text(shape):
    return "[" + ", ".join("?" if size == -1 else str(size) for size in shape) + "]"
