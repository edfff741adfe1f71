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
    offsets = sum((coords[d] * strides[d] for d in range(len(data_shape)) if d != axis),
                  np.zeros(index_shape, np.int64))
    return np.asarray(offsets, np.int64).reshape(index_shape)


class ComputedSize(str):
    """A size the symbols fix without being a product of them (a
    convolution's output length over a symbolic input length, a padded
    symbolic size): a graph file names it as dimension `axis` of the value
    `value` that has it (GraphBuilder.emit writes {"size_of": value, "axis":
    axis})."""
    derived = True

    def __new__(cls, value, axis):
        size = super().__new__(cls, f"{value}.{axis}")
        size.reference = {"size_of": value, "axis": axis}
        return size


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
        shape = fields.get("shape")
        if shape is not None:
            fields["shape"] = self.written_sizes(shape, op)
        name = self.fresh(base)
        node = {"name": name, "op": op, "inputs": list(inputs)}
        if attrs:
            node["attrs"] = attrs
        node.update(fields)
        self.nodes.append(node)
        return name

    @staticmethod
    def written_sizes(shape, op):
        """A shape as a graph file writes it: a size computed from the symbols
        that is none of them (a convolution's output length) as the
        dimension of a value that has it ({"size_of": value, "axis": d}),
        or as a reshape's one -1."""
        derived = [d for d in shape if getattr(d, "derived", False)]
        unreferenced = [d for d in derived if d.reference is None]
        if not derived:
            return shape
        if unreferenced and (op != "reshape" or len(unreferenced) > 1):
            raise ValueError(f"its {op} writes the size {unreferenced[0]}, computed from the "
                             "symbols, which no value before it has")
        return [(d.reference if d.reference is not None else -1)
                if getattr(d, "derived", False) else d for d in shape]

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

    def pad(self, x, shape, dtype, pads, mode, value, name):
        """`x` padded per dimension by (before, after) pairs of `pads`
        (negative: cropped; a str: a size expression of the symbols, known
        at run time, for which ube.pad pads). "constant" concatenates blocks of `value`;
        "reflect", "edge" (replicate) and "wrap" (circular) gather along the
        dimension at indices computed here. Returns (value, new shape)."""
        shape = list(shape)
        if any(isinstance(a, str) for pair in pads for a in pair) or (mode == "constant" and any(
                isinstance(size, str) and min(pair) < 0 for size, pair in zip(shape, pads))):
            # Amounts known at run time (expressions of the symbols: "same"
            # padding of a symbolic size), or a symbolic size cropped (its
            # gradient): one ube.pad.
            if mode != "constant":
                raise ExportError(f"{mode} padding by amounts known at run time ({pads})")
            x = self.emit(f"{name}_pad", "pad", [x], {
                "low": [before for before, _ in pads], "high": [after for _, after in pads],
                "value": float(value)})
            return x, [size if not isinstance(size, str) and not any(
                isinstance(a, str) for a in pads[axis]) else ComputedSize(x, axis)
                for axis, size in enumerate(shape)]
        for axis, (before, after) in enumerate(pads):
            if not before and not after:
                continue
            if isinstance(shape[axis], str) and (mode != "constant" or before < 0 or after < 0):
                raise ExportError(f"{mode} padding of {before}, {after} on a symbolic dimension "
                                  f"('{shape[axis]}')")
            if before < 0 or after < 0:  # crop first
                start, limit = [0] * len(shape), list(shape)
                start[axis], limit[axis] = max(-before, 0), shape[axis] - max(-after, 0)
                x = self.emit(f"{name}_crop{axis}", "slice", [x], {
                    "start": start, "limit": limit, "stride": [1] * len(shape)})
                shape[axis] = limit[axis] - start[axis]
                before, after = max(before, 0), max(after, 0)
            size = shape[axis]
            if mode == "constant":
                parts = []
                for count, where in ((before, "before"), (after, "after")):
                    block = list(shape)
                    block[axis] = count
                    parts.append(self.emit(f"{name}_{where}{axis}", "broadcast_to",
                                           [self.constant(value, dtype)], shape=block)
                                 if count else None)
                x = self.emit(f"{name}_pad{axis}", "concat",
                              [p for p in (parts[0], x, parts[1]) if p], {"axis": axis})
            else:
                positions = np.arange(-before, size + after)
                if mode == "reflect":
                    if before >= size or after >= size:
                        raise ExportError(f"reflect padding of {before}, {after} over a "
                                          f"dimension of {size}")
                    period = 2 * (size - 1) if size > 1 else 1
                    positions = np.abs(positions) % period
                    index = np.where(positions >= size, period - positions, positions)
                elif mode == "edge":
                    index = np.clip(positions, 0, size - 1)
                elif mode == "wrap":
                    index = positions % size
                else:
                    raise ExportError(f"pad mode '{mode}'")
                x = self.emit(f"{name}_pad{axis}", "gather",
                              [x, self.array(index.astype(np.int64), f"{name}_index{axis}")],
                              {"axis": axis})
            # A symbolic size padded is no product of the symbols: the
            # padded value's own dimension.
            shape[axis] = ComputedSize(x, axis) if isinstance(size, str) else size + before + after
        return x, shape

    def tile(self, x, shape, repeats, name):
        """`x` repeated `repeats` times along each dimension (torch's repeat,
        ONNX's Tile; extra leading repeats add dimensions): a broadcast over
        interleaved unit dimensions, then merged."""
        shape = [1] * (len(repeats) - len(shape)) + list(shape)
        spread, broadcast, merged = [], [], []
        for size, r in zip(shape, repeats):
            spread += [1, size]
            broadcast += [r, size]
            merged.append(size * r if not isinstance(size, str) or r == 1 else None)
        if None in merged:
            raise ExportError(f"repeating a symbolic dimension: {shape} by {repeats}")
        x = self.emit(f"{name}_spread", "reshape", [x], shape=spread)
        x = self.emit(f"{name}_broadcast", "broadcast_to", [x], shape=broadcast)
        return self.emit(name, "reshape", [x], shape=merged)

    def take_along(self, x, shape, index, index_shape, axis, name):
        """x[..., index[..., j, ...], ...] along `axis` (numpy's
        take_along_axis; static shapes, indices in range): one gather from x
        flattened at index·stride + each position's offset from its other
        coordinates (a constant)."""
        stride = int(np.prod(shape[axis + 1:]))
        if stride != 1:
            index = self.emit(f"{name}_scaled", "mul", [index, self.constant(stride, "i64")])
        linear = self.emit(f"{name}_linear", "add", [
            index, self.array(offsets_along(index_shape, shape, axis), f"{name}_base")])
        flat = self.emit(f"{name}_flat", "reshape", [x], shape=[int(np.prod(shape))])
        return self.emit(name, "gather", [flat, linear])

    def flip(self, x, shape, axes, name):
        """`x` reversed along each of `axes` (a gather per axis)."""
        for axis in axes:
            if isinstance(shape[axis], str):
                raise ExportError(f"flipping a symbolic dimension ('{shape[axis]}')")
            x = self.emit(f"{name}_flip{axis}" if axis != axes[-1] else name, "gather",
                          [x, self.array(np.arange(shape[axis] - 1, -1, -1, dtype=np.int64),
                                         f"{name}_reversed{axis}")], {"axis": axis})
        return x

    def resample(self, x, shape, dtype, axis, sources, linear, name):
        """`x` resampled along `axis` at `sources`, one source coordinate per
        output position (computed by the frontend by its own conventions):
        the element at each (nearest: `sources` are indices), or the two
        neighbours weighted by distance (linear: coordinates clamped to the
        axis). Gathers of constant indices, so the gradient is a scatter-add."""
        size = shape[axis]
        if isinstance(size, str):
            raise ExportError(f"resizing a symbolic dimension ('{size}')")
        sources = np.asarray(sources, np.float64)
        if not linear:
            index = np.clip(sources, 0, size - 1).astype(np.int64)
            return self.emit(name, "gather", [x, self.array(index, f"{name}_index")],
                             {"axis": axis})
        sources = np.clip(sources, 0, size - 1)
        low = np.floor(sources).astype(np.int64)
        high = np.minimum(low + 1, size - 1)
        frac = sources - low
        along = [1] * len(shape)
        along[axis] = len(sources)
        weight = UBE_TO_NUMPY[dtype]
        y0 = self.emit(f"{name}_low", "gather", [x, self.array(low, f"{name}_low_index")],
                       {"axis": axis})
        if not frac.any():
            return y0
        y1 = self.emit(f"{name}_high", "gather", [x, self.array(high, f"{name}_high_index")],
                       {"axis": axis})
        w0 = self.array((1 - frac).astype(weight).reshape(along), f"{name}_w0")
        w1 = self.array(frac.astype(weight).reshape(along), f"{name}_w1")
        return self.emit(name, "add", [self.emit(f"{name}_a", "mul", [y0, w0]),
                                       self.emit(f"{name}_b", "mul", [y1, w1])])

    # -- normalizations over channels-first tensors [N, C, *S] ----------------
    def per_channel(self, value, shape, name):
        """A [C] vector viewed as [C, 1, ...] against an [N, C, *S] tensor."""
        return self.emit(name, "reshape", [value], shape=[shape[1]] + [1] * (len(shape) - 2)) \
            if len(shape) > 2 else value

    def normalized(self, x, axes, eps, dtype, name):
        """(x − mean)/√(var + eps) over `axes` (biased variance), with the
        mean, the variance and 1/√(var + eps) (kept dimensions)."""
        mean = self.emit(f"{name}_mean", "reduce_mean", [x], {"axes": axes, "keepdims": True})
        deviation = self.emit(f"{name}_dev", "sub", [x, mean])
        var = self.emit(f"{name}_var", "reduce_mean",
                        [self.emit(f"{name}_sq", "mul", [deviation, deviation])],
                        {"axes": axes, "keepdims": True})
        scale = self.emit(f"{name}_rstd", "rsqrt",
                          [self.emit(f"{name}_var_eps", "add", [var, self.constant(eps, dtype)])])
        return self.emit(f"{name}_norm", "mul", [deviation, scale]), mean, var, scale

    def affine(self, x, weight, bias, shape, name):
        """x·weight + bias with per-channel vectors (either may be None)."""
        if weight is not None:
            x = self.emit(f"{name}_scaled", "mul", [x, self.per_channel(weight, shape,
                                                                        f"{name}_w")])
        if bias is not None:
            x = self.emit(f"{name}_shifted", "add", [x, self.per_channel(bias, shape,
                                                                         f"{name}_b")])
        return x

    def batch_norm_inference(self, x, shape, mean, var, weight, bias, eps, dtype, name):
        """Batch normalization with running statistics: x·s + (b − mean·s)
        with s = weight/√(var + eps), per channel."""
        scale = self.emit(f"{name}_rstd", "rsqrt",
                          [self.emit(f"{name}_var_eps", "add", [var, self.constant(eps, dtype)])])
        if weight is not None:
            scale = self.emit(f"{name}_scale", "mul", [scale, weight])
        shift = self.emit(f"{name}_shift0", "neg", [self.emit(f"{name}_ms", "mul",
                                                              [mean, scale])])
        if bias is not None:
            shift = self.emit(f"{name}_shift", "add", [shift, bias])
        scaled = self.emit(f"{name}_x_scaled", "mul", [x, self.per_channel(scale, shape,
                                                                           f"{name}_s")])
        return self.emit(name, "add", [scaled, self.per_channel(shift, shape, f"{name}_t")])

    def group_norm(self, x, shape, groups, weight, bias, eps, dtype, name):
        """GroupNorm over [N, C, *S]: statistics per (sample, group of C/G
        channels), then the per-channel affine. Returns (the result, the
        mean and 1/√(var + eps) as [N, groups])."""
        # Symbolic planes: the group's size is the reshape's -1.
        per_group = (int(np.prod(shape[1:])) // groups
                     if all(isinstance(d, (int, np.integer)) for d in shape[1:]) else -1)
        grouped = self.emit(f"{name}_groups", "reshape", [x],
                            shape=[shape[0], groups, per_group])
        normed, mean, _, rstd = self.normalized(grouped, [2], eps, dtype, name)
        back = self.emit(f"{name}_back", "reshape", [normed], shape=list(shape))
        stats = [self.emit(f"{name}_{what}", "reshape", [v], shape=[shape[0], groups])
                 for what, v in (("mean_ng", mean), ("rstd_ng", rstd))]
        return (self.affine(back, weight, bias, shape, name), *stats)

    def floor_mod(self, a, b, dtype, name):
        """The remainder of a / b with the divisor's sign (Python's %,
        torch.remainder, ONNX Mod): fmod's, moved by b where it is nonzero
        and its sign differs from b's."""
        r = self.emit(f"{name}_fmod", "fmod", [a, b])
        fix = self._floor_differs(r, b, dtype, name)
        return self.emit(name, "where", [fix, self.emit(f"{name}_moved", "add", [r, b]), r])

    def floor_div(self, a, b, dtype, name):
        """a / b rounded toward -inf (Python's //, torch's rounding_mode
        "floor"): floor of the quotient for floats; for integers the
        truncated quotient, one less where flooring differs from truncating."""
        if dtype in FLOATS:
            return self.emit(name, "floor", [self.emit(f"{name}_q", "div", [a, b])])
        q = self.emit(f"{name}_trunc", "div", [a, b])
        fix = self._floor_differs(self.emit(f"{name}_fmod", "fmod", [a, b]), b, dtype, name)
        return self.emit(name, "where", [fix, self.emit(f"{name}_less", "sub", [
            q, self.constant(1, dtype)]), q])

    def _floor_differs(self, r, b, dtype, name):
        """Where truncating and flooring a / b differ: fmod's remainder `r`
        is nonzero and its sign is not b's."""
        zero = self.constant(0, dtype)
        nonzero = self.emit(f"{name}_nonzero", "compare", [r, zero], {"predicate": "ne"})
        differ = self.emit(f"{name}_differ", "compare", [
            self.emit(f"{name}_rneg", "compare", [r, zero], {"predicate": "lt"}),
            self.emit(f"{name}_bneg", "compare", [b, zero], {"predicate": "lt"})],
            {"predicate": "ne"})
        return self.emit(f"{name}_fix", "logical_and", [nonzero, differ])

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
