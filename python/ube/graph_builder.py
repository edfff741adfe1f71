"""Building ube graph files (docs/graph-format.md) from Python: the part the
frontends (torch_export, onnx_import) share."""
import json
import math
import pathlib

import numpy as np

from ube.dtypes import FLOATS, NUMPY_TO_UBE, UBE_TO_NUMPY
from ube.safetensors import write_safetensors


class ExportError(Exception):
    """A framework graph that ube cannot express (yet): the frontend names the
    op, where it came from, and why."""


def json_scalar(value, dtype):
    """A constant element as the graph format writes it."""
    if dtype in FLOATS:
        value = float(value)
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    return bool(value) if dtype == "i1" else int(value)


def offsets_along(index_shape, data_shape, axis):
    """For a gather along `axis` from data flattened (torch.gather,
    GatherElements): each index position's offset from its other coordinates,
    Σ_{d ≠ axis} coord_d·stride_d, as an int64 array of `index_shape`."""
    strides = [int(np.prod(data_shape[d + 1:])) for d in range(len(data_shape))]
    coords = np.indices(index_shape, dtype=np.int64)
    offsets = sum(coords[d] * strides[d] for d in range(len(data_shape)) if d != axis)
    return np.asarray(offsets, np.int64).reshape(index_shape)


class GraphBuilder:
    """Accumulates inputs, parameters and nodes with unique value names."""

    def __init__(self):
        self.inputs, self.nodes, self.outputs = [], [], []
        self.parameters = {}  # name -> array (numpy, or torch for bfloat16)
        self.dims = {}  # symbol -> bounds ({"min", "max"}), for symbolic shapes
        self.used = set()

    def fresh(self, base):
        name, i = base or "v", 0
        while name in self.used:
            i += 1
            name = f"{base}_{i}"
        self.used.add(name)
        return name

    def add_input(self, name, dtype, shape):
        self.used.add(name)
        self.inputs.append({"name": name, "dtype": dtype, "shape": list(shape)})
        return name

    def add_parameter(self, name, array):
        """A named tensor stored in the weights file; returns its value name."""
        if name not in self.parameters:
            self.used.add(name)
            self.parameters[name] = array
        return name

    def emit(self, base, op, inputs, attrs=None, **fields):
        """Appends a node; returns the name of its result."""
        name = self.fresh(base)
        node = {"name": name, "op": op, "inputs": list(inputs)}
        if attrs:
            node["attrs"] = attrs
        node.update(fields)
        self.nodes.append(node)
        return name

    def constant(self, value, dtype, base="const"):
        """An inline constant node: a scalar, or a (small) array."""
        array = np.asarray(value)
        flat = [json_scalar(v, dtype) for v in array.reshape(-1).tolist()]
        return self.emit(base, "constant", [], dtype=dtype, shape=list(array.shape),
                         value=flat if array.ndim else flat[0])

    def array(self, array, base="const"):
        """A constant tensor: an inline constant node when small (at most 64
        elements), else a parameter in the weights file."""
        array = np.asarray(array)
        if array.size > 64:
            return self.add_parameter(self.fresh(base), np.ascontiguousarray(array))
        return self.constant(array, NUMPY_TO_UBE[array.dtype], base)

    def scan(self, value, shape, axis, dtype, name, exclusive=False, reverse=False):
        """The cumulative sum of `value` (`shape`, `dtype`) along `axis`: a
        product with a triangular matrix of ones (exact for integers; an O(n²)
        plain form until ube has a scan op). Returns the result's name."""
        rank, n = len(shape), shape[axis]
        # scan[i, j] = 1 where input i adds into output j.
        scan = np.triu(np.ones((n, n), UBE_TO_NUMPY[dtype]), 1 if exclusive else 0)
        if reverse:
            scan = np.ascontiguousarray(scan.T)
        perm = [d for d in range(rank) if d != axis] + [axis]
        moved = perm != list(range(rank))
        if moved:
            value = self.emit(f"{name}_last", "transpose", [value], {"perm": perm})
        value = self.emit(f"{name}_scan" if moved else name, "matmul",
                          [value, self.array(scan, f"{name}_triangle")])
        if moved:
            value = self.emit(name, "transpose", [value],
                              {"perm": [perm.index(d) for d in range(rank)]})
        return value

    def write(self, path, name):
        """Writes `path` (JSON) and, with parameters, `<stem>.safetensors`."""
        path = pathlib.Path(path)
        # Version 2 holds symbolic shapes; version 1 every other graph.
        graph = {"format": "ube.graph", "version": 2 if self.dims else 1, "name": name}
        if self.dims:
            graph["dims"] = self.dims
        if self.parameters:
            weights = path.with_suffix(".safetensors")
            write_safetensors(weights, self.parameters)
            graph["weights"] = weights.name
            graph["parameters"] = [{"name": k, "dtype": _dtype_of(v), "shape": list(v.shape)}
                                   for k, v in self.parameters.items()]
        graph["inputs"] = self.inputs
        graph["nodes"] = self.nodes
        graph["outputs"] = self.outputs
        path.write_text(json.dumps(graph, indent=1))
        return graph


def _dtype_of(array):
    if str(array.dtype) == "torch.bfloat16":
        return "bf16"
    if hasattr(array, "numpy"):  # a torch tensor
        array = array.numpy()
    return NUMPY_TO_UBE[np.dtype(array.dtype)]
