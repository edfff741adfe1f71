"""ONNX frontend: an ONNX model to a ube graph file.

    ube.import_onnx("model.onnx", "model.json")

Initializers become parameters (in model.safetensors), Constant nodes
constants, and the graph inputs (less initializers) the inputs of the entry
function `main`, in the ONNX order. Operands ube needs at compile time
(Reshape's shape, Slice's starts, Unsqueeze's axes...) must be initializers
or Constant nodes; `static_inputs` ({name: array}) supplies the values of
graph inputs used that way (they stay inputs of the executable). An operator
without a mapping raises UnsupportedError naming it and the node.

Inputs' `dim_param`s become symbols of the graph (format version 2, bounds
from `dims`): one executable for any sizes. Shape computations on them
(Shape, Gather, Slice, Concat, Squeeze, Unsqueeze, Mul, Div) are evaluated
here on symbolic sizes ("batch", "batch*seq", "4*batch"), and what they
feed (Reshape, Expand, Slice ends, Range limits, ConstantOfShape) takes
sizes of symbols.
"""
import functools
import re

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference

from ube.dtypes import FLOATS, NUMPY_TO_UBE, UBE_TO_NUMPY, onnx_to_ube
from ube.graph_builder import ComputedSize, GraphBuilder, offsets_along

ONNX_TO_UBE = onnx_to_ube()


class UnsupportedError(Exception):
    """The model uses something ube cannot express (yet)."""


# -- symbolic sizes -----------------------------------------------------------
# A size is an int, or a string as the graph format writes a product of
# symbols and a positive integer: "batch", "batch*seq", "4*batch".

def _monomial(size):
    """(integer factor, sorted symbols) of a size."""
    if isinstance(size, ComputedSize):
        return 1, (size,)
    if not isinstance(size, str):
        return int(size), ()
    factor, symbols = 1, []
    for part in size.split("*"):
        if part.isdigit():
            factor *= int(part)
        else:
            symbols.append(part)
    return factor, tuple(sorted(symbols))


def _size(factor, symbols):
    if not symbols or factor == 0:
        return factor
    if factor == 1 and len(symbols) == 1:
        return symbols[0]
    computed = [s for s in symbols if isinstance(s, ComputedSize)]
    if computed:
        raise UnsupportedError(f"a product with the computed size '{computed[0]}' (a graph "
                               "file names such a size only as a value's dimension)")
    return "*".join(([str(factor)] if factor != 1 else []) + list(symbols))


def size_mul(a, b):
    (fa, sa), (fb, sb) = _monomial(a), _monomial(b)
    return _size(fa * fb, tuple(sorted(sa + sb)))


def size_div(a, b):
    """a / b when it is a size (exact), else None."""
    (fa, sa), (fb, sb) = _monomial(a), _monomial(b)
    rest = list(sa)
    for symbol in sb:
        if symbol not in rest:
            return None
        rest.remove(symbol)
    if fb == 0 or fa % fb:
        return None
    return _size(fa // fb, tuple(rest))


def size_prod(sizes):
    return functools.reduce(size_mul, sizes, 1)


def _broadcast(a, b):
    """The numpy broadcast of two shapes of sizes, or None."""
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x == 1 or x == y:
            out.append(y)
        elif y == 1:
            out.append(x)
        else:
            return None
    return out[::-1]


class _Unknown:
    """A size ONNX's shape inference left unknown, by the name it gave it
    (None without one)."""

    def __init__(self, name):
        self.name = name


class SymbolicSizes:
    """The value of a shape computation on symbolic sizes: an object array
    of sizes (ints and strings)."""

    def __init__(self, array):
        self.array = np.asarray(array, dtype=object)


def _sizes_value(array):
    """An int64 array when every size is static, else SymbolicSizes."""
    array = np.asarray(array, dtype=object)
    if all(not isinstance(v, str) for v in array.flat):
        return np.asarray(array.astype(np.int64))
    return SymbolicSizes(array)


class _Importer:
    def __init__(self, model, static_inputs, dims=None):
        model = fold_batch_norms(fold_constants(model))
        self.model = model
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                          13)
        self.static_inputs = static_inputs or {}
        self.consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        # The inputs' dim_params are the graph's symbols; other dims shape
        # inference could not size (its "unk__N") are unknown (None).
        self.symbols = {}
        for vi in model.graph.input:
            if vi.name not in self.consts and vi.type.HasField("tensor_type"):
                for d in vi.type.tensor_type.shape.dim:
                    if d.HasField("dim_param"):
                        self.symbols[d.dim_param] = _symbol_name(d.dim_param)
        bounds = dict(dims or {})
        unknown = set(bounds) - set(self.symbols.values())
        if unknown:
            raise ValueError(f"dims: {sorted(unknown)} are not symbols of the model's inputs "
                             f"(its symbols: {sorted(self.symbols.values())})")
        self.types = {}
        # Sizes shape inference (or the exporter) named but could not size
        # (unk__N, Clip_dim_0): each is one size wherever it appears, which
        # the import learns where it computes a shape that holds one.
        self.unknowns = {}  # name -> its size, once learned
        for vi in list(model.graph.input) + list(model.graph.value_info) + list(
                model.graph.output):
            t = vi.type.tensor_type
            if vi.type.HasField("tensor_type") and t.HasField("shape"):
                dims_ = [d.dim_value if d.HasField("dim_value") else
                         self._param_size(d.dim_param) or _Unknown(d.dim_param or None)
                         for d in t.shape.dim]
                self.types[vi.name] = (dims_, t.elem_type)
        self.sizes = {}  # ONNX value name -> SymbolicSizes (shape computations)
        self.computed_sizes = set()  # values of shape computations here, static or not
        self.iotas = {}  # value name -> the axis its elements count along
        self.grids = {}  # value name -> the axes its index components count along
        self.initializers = set(self.consts)
        self.graph = GraphBuilder()
        self.graph.dims = {symbol: dict(bounds.get(symbol, {}))
                           for symbol in dict.fromkeys(self.symbols.values())}
        self.names = {}  # ONNX value name -> ube value name

    # -- helpers ---------------------------------------------------------
    def emit(self, base, op, inputs, attrs=None, **fields):
        return self.graph.emit(base, op, inputs, attrs, **fields)

    def constant(self, array, base="const", parameter=False):
        """A ube value holding `array`: a parameter (weights file) for
        initializers and large arrays, an inline constant node otherwise."""
        array = np.asarray(array)
        if NUMPY_TO_UBE.get(array.dtype) is None:
            raise UnsupportedError(f"constant of dtype {array.dtype}")
        if parameter:
            return self.graph.add_parameter(self.graph.fresh(base), array)
        return self.graph.array(array, base)

    def _param_size(self, dim_param):
        """A dim_param as a size: an input's symbol, or a product of them and
        integers as exporters write it ("batch*seq", "4*batch"); None for
        anything else (a sum, or shape inference's unk__N)."""
        factors = [f.strip() for f in dim_param.split("*")] if dim_param else []
        if not factors or not all(f.isdigit() or f in self.symbols for f in factors):
            return None
        return size_prod(int(f) if f.isdigit() else self.symbols[f] for f in factors)

    def shape(self, name):
        """Its sizes: ints, and symbolic sizes (strings)."""
        dims, _ = self.types.get(name, (None, None))
        if dims is None and name in self.consts:  # an initializer not listed as an input
            dims = list(self.consts[name].shape)
        if dims is not None:
            dims = [self.unknowns.get(d.name) if isinstance(d, _Unknown) else d for d in dims]
        if dims is None or any(d is None for d in dims):
            raise UnsupportedError(f"'{name}' has no known shape")
        return dims

    def known_shape(self, name):
        """shape(name), or None where a size is not known."""
        try:
            return self.shape(name)
        except UnsupportedError:
            return None

    def static_shape(self, name, what):
        dims = self.shape(name)
        if any(isinstance(d, str) for d in dims):
            raise UnsupportedError(f"{what} of symbolic shape {dims}")
        return dims

    def set_shape(self, name, dims):
        """Records a shape computed here (where ONNX's inference had none),
        and so the sizes of the unknowns its inferred shape named."""
        before, elem = self.types.get(name, (None, None))
        for old, new in zip(before or [], dims if len(before or []) == len(dims) else []):
            if isinstance(old, _Unknown) and old.name and new is not None and not isinstance(
                    new, _Unknown):
                self.unknowns.setdefault(old.name, new)
        self.types[name] = (list(dims), elem)

    def _name_computed_sizes(self, name):
        """The sizes of `name` that neither ONNX's inference nor the import
        could write as products of the symbols (ComputedSize): its own
        dimensions, once its ube value exists."""
        dims, _ = self.types.get(name, (None, None))
        if dims is None or self.known_shape(name) is not None:
            return

        def resolved(axis, size):
            if not isinstance(size, _Unknown):
                return size
            learned = self.unknowns.get(size.name)
            return learned if learned is not None else ComputedSize(self.names[name], axis)
        # (set_shape teaches the other values of the same unknown this size.)
        self.set_shape(name, [resolved(axis, d) for axis, d in enumerate(dims)])

    def sizes_operand(self, name, what):
        """The sizes a shape operand holds: a constant or a shape computation."""
        if name in self.sizes:
            return list(self.sizes[name].array.reshape(-1))
        return [int(v) for v in np.asarray(self.static(name, what)).reshape(-1)]

    def dtype(self, name):
        if name in self.consts:
            return NUMPY_TO_UBE.get(self.consts[name].dtype)
        _, elem = self.types.get(name, (None, None))
        return ONNX_TO_UBE.get(elem)

    def value(self, name):
        """The ube value of an ONNX value name (constants materialized)."""
        if name in self.names:
            return self.names[name]
        if name in self.sizes:
            raise UnsupportedError(f"'{name}' holds the sizes {list(self.sizes[name].array.flat)}"
                                   " as a tensor (only shape operands may)")
        if name in self.consts:
            self.names[name] = self.constant(self.consts[name], name,
                                             parameter=name in self.initializers)
            return self.names[name]
        raise UnsupportedError(f"value '{name}' is not defined")

    def static(self, name, what):
        """A compile-time value: initializer, Constant output or static input."""
        if name in self.consts:
            return self.consts[name]
        if name in self.static_inputs:
            return np.asarray(self.static_inputs[name])
        raise UnsupportedError(f"{what} must be a constant")

    # -- graph -----------------------------------------------------------
    def run(self):
        graph = self.model.graph
        for vi in graph.input:
            if vi.name in self.consts:
                continue
            dtype = self.dtype(vi.name)
            if dtype is None:
                raise UnsupportedError(f"input '{vi.name}' has an unsupported element type")
            if self.known_shape(vi.name) is None:
                raise UnsupportedError(f"input '{vi.name}' has a dimension of unknown size "
                                       "(neither a number nor a dim_param)")
            self.names[vi.name] = self.graph.add_input(vi.name, dtype, self.shape(vi.name))
        # Zero-size values inside the graph are ordinary tensors; an executable's
        # arguments and results are not (the bare-pointer calling convention).
        for vi in list(graph.input) + list(graph.output):
            if vi.name not in self.consts and 0 in (self.known_shape(vi.name) or []):
                raise UnsupportedError(f"'{vi.name}' has zero elements (an executable's inputs "
                                       "and outputs are non-empty)")
        for node in graph.node:
            handler = OPS.get(node.op_type)
            if handler is None or node.domain not in ("", "ai.onnx"):
                raise UnsupportedError(f"operator {node.op_type} (node '{node.name}')")
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            try:
                # A shape computation: on symbolic sizes, or on what one of
                # them gave (a static size of a value's symbolic shape).
                def computed(name):
                    return name in self.sizes or name in self.computed_sizes
                if node.op_type in SIZE_OPS and (computed(node.input[0]) or (
                        node.op_type in ("Concat", "Mul", "Div", "Equal", "Where") and
                        any(computed(i) for i in node.input))):
                    results = _evaluate_sizes(self, node, attrs)
                    self.computed_sizes.update(o for o in node.output if o)
                else:
                    results = handler(self, node, attrs)
                    if node.op_type == "Shape":
                        self.computed_sizes.add(node.output[0])
                    _track_indices(self, node, attrs)
                    _infer_unknown_shape(self, node, attrs)
            except UnsupportedError as e:
                raise UnsupportedError(f"{node.op_type} (node '{node.name}'): {e}") from None
            results = results if isinstance(results, (list, tuple)) else [results]
            for out, value in zip(node.output, results):
                if out and value is not None:
                    if isinstance(value, np.ndarray):
                        self.consts[out] = value
                    elif isinstance(value, SymbolicSizes):
                        self.sizes[out] = value
                    else:
                        self.names[out] = value
                        self._name_computed_sizes(out)
            for out in node.output[len(results):]:
                if out and any(out in n.input for n in graph.node) or out in [
                        o.name for o in graph.output]:
                    raise UnsupportedError(f"{node.op_type}: output '{out}' is not supported")
        for o in graph.output:
            value = self.value(o.name)
            # Outputs get their ONNX names, so callers find them.
            if value != o.name and o.name not in self.graph.used:
                value = self.emit(o.name, "reshape", [value], shape=self.shape(o.name))
            self.graph.outputs.append(value)


# Operators never evaluated at import time: random draws.
NEVER_FOLD = {"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike",
              "Bernoulli", "Multinomial", "Dropout"}


def fold_constants(model):
    """Shape inference and constant folding to a fixed point, before import:
    every node whose inputs are all constants (initializers, Constant nodes,
    what was folded before), and every Shape of a statically shaped value,
    is computed with ONNX's reference implementation and replaced by a
    Constant node; then shapes are inferred again, which may make more
    shapes static (a Reshape to a computed shape) and more nodes foldable.
    This is what makes the shape arithmetic torch.onnx.export writes for
    transformers import when the inputs' shapes are static."""
    from onnx.reference import ReferenceEvaluator
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
    for _ in range(16):
        model = shape_inference.infer_shapes(model, data_prop=True)
        graph = model.graph
        shapes = {}
        for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
            t = vi.type.tensor_type
            if vi.type.HasField("tensor_type") and t.HasField("shape") and all(
                    d.HasField("dim_value") for d in t.shape.dim):
                shapes[vi.name] = [d.dim_value for d in t.shape.dim]
        consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        nodes, changed = [], False
        for node in graph.node:
            inputs = [i for i in node.input if i]
            if node.op_type == "Constant":
                try:
                    consts[node.output[0]] = ReferenceEvaluator(node).run(None, {})[0]
                except Exception:
                    pass
                nodes.append(node)
                continue
            foldable = node.domain in ("", "ai.onnx") and node.op_type not in NEVER_FOLD and (
                (node.op_type == "Shape" and node.input[0] in shapes)
                or (inputs and all(i in consts for i in inputs)))
            results = None
            if foldable:
                feeds = {i: consts[i] for i in inputs if i in consts}
                if node.op_type == "Shape":
                    feeds = {node.input[0]: np.zeros(shapes[node.input[0]], np.float32)}
                try:
                    results = ReferenceEvaluator(node, opsets={"": opset}).run(None, feeds)
                except Exception:  # left to the operator's mapping and its message
                    results = None
            if results is None or not all(isinstance(r, np.ndarray) for r in results):
                nodes.append(node)
                continue
            for out, r in zip(node.output, results):
                if out:
                    consts[out] = np.asarray(r)
                    nodes.append(onnx.helper.make_node(
                        "Constant", [], [out], name=f"{node.name or out}_folded",
                        value=numpy_helper.from_array(np.asarray(r), out)))
            changed = True
        if not changed:
            return _without_dead_nodes(model)
        del graph.node[:]
        graph.node.extend(nodes)
    return _without_dead_nodes(model)


def fold_batch_norms(model):
    """Each inference BatchNormalization that alone reads a Conv's output,
    with every parameter of both an initializer or a Constant, folded into
    the Conv's weight and bias (w·s, (b − mean)·s + β with s = γ/√(var +
    ε)), as onnxruntime's graph optimizations do. Returns the model."""
    graph = model.graph
    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and any(a.name == "value" for a in node.attribute):
            consts[node.output[0]] = numpy_helper.to_array(
                next(a.t for a in node.attribute if a.name == "value"))
    readers = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}
    removed = set()
    for conv in graph.node:
        if conv.op_type != "Conv" or conv.output[0] in outputs:
            continue
        users = readers.get(conv.output[0], [])
        norm = users[0] if len(users) == 1 else None
        if norm is None or norm.op_type != "BatchNormalization" or norm.input[0] != conv.output[0]:
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in norm.attribute}
        if attrs.get("training_mode", 0) or any(o for o in norm.output[1:]):
            continue
        names = list(conv.input) + [""] * (3 - len(conv.input))
        if not all(n in consts for n in [names[1], *norm.input[1:5]]) or (
                names[2] and names[2] not in consts):
            continue
        weight = consts[names[1]]
        scale, beta, mean, var = (consts[n].astype(np.float64) for n in norm.input[1:5])
        factor = scale / np.sqrt(var + float(attrs.get("epsilon", 1e-5)))
        bias = consts[names[2]].astype(np.float64) if names[2] else np.zeros_like(factor)
        folded_weight = (weight.astype(np.float64)
                         * factor.reshape([-1] + [1] * (weight.ndim - 1))).astype(weight.dtype)
        folded_bias = ((bias - mean) * factor + beta).astype(weight.dtype)
        base = conv.name or conv.output[0]
        new_names = [f"{base}_bn_folded_weight", f"{base}_bn_folded_bias"]
        graph.initializer.extend([numpy_helper.from_array(folded_weight, new_names[0]),
                                  numpy_helper.from_array(folded_bias, new_names[1])])
        del conv.input[:]
        conv.input.extend([names[0], *new_names])
        conv.output[0] = norm.output[0]
        removed.add(id(norm))
    if removed:
        kept = [n for n in graph.node if id(n) not in removed]
        del graph.node[:]
        graph.node.extend(kept)
    return model


def _without_dead_nodes(model):
    """The model less the nodes no output depends on (what folding left
    behind: shape computations whose results are now constants)."""
    graph = model.graph
    live = {o.name for o in graph.output}
    kept = []
    for node in reversed(graph.node):
        if any(o in live for o in node.output if o):
            kept.append(node)
            live.update(i for i in node.input if i)
            for attribute in node.attribute:  # names a subgraph reads from outside
                if attribute.type == onnx.AttributeProto.GRAPH:
                    live.update(i for n in attribute.g.node for i in n.input if i)
    if len(kept) != len(graph.node):
        kept.reverse()
        del graph.node[:]
        graph.node.extend(kept)
    return model


def _symbol_name(dim_param):
    """A dim_param as a graph-format symbol (an identifier)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", dim_param)
    return name if re.match(r"[A-Za-z_]", name) else "_" + name


# -- shape computations on symbolic sizes ---------------------------------------

SIZE_OPS = {"Squeeze", "Unsqueeze", "Concat", "Gather", "Slice", "Cast", "Identity", "Mul",
            "Div", "Reshape", "Equal", "Where"}


def _axes(im, node, attrs, index):
    if "axes" in attrs:
        return list(attrs["axes"])
    if len(node.input) > index and node.input[index]:
        return [int(a) for a in im.static(node.input[index], "axes")]
    return None


def _evaluate_sizes(im, node, attrs):
    """A shape computation with symbolic sizes among its operands, evaluated
    here: its value as SymbolicSizes (or constants, when they all are)."""
    def operand(name):
        if name in im.sizes:
            return im.sizes[name].array
        return np.asarray(im.static(name, f"operand '{name}' of a shape computation"),
                          dtype=object)
    x = operand(node.input[0])
    op = node.op_type
    if op in ("Cast", "Identity"):
        return _sizes_value(x)
    if op == "Squeeze":
        axes = _axes(im, node, attrs, 1)
        return _sizes_value(np.squeeze(x, tuple(axes)) if axes else np.squeeze(x))
    if op == "Unsqueeze":
        axes = _axes(im, node, attrs, 1)
        rank = x.ndim + len(axes)
        return _sizes_value(np.expand_dims(x, tuple(a % rank for a in axes)))
    if op == "Concat":
        return _sizes_value(np.concatenate([np.atleast_1d(operand(i)) for i in node.input],
                                           attrs.get("axis", 0)))
    if op == "Gather":
        indices = np.asarray(im.static(node.input[1], "the indices of a shape"), np.int64)
        return _sizes_value(np.take(x, indices, attrs.get("axis", 0)))
    if op == "Reshape":
        target = [int(v) for v in im.static(node.input[1], "the target shape")]
        return _sizes_value(x.reshape(target))
    if op == "Slice":
        starts, ends = (np.asarray(im.static(node.input[i], "slice bounds"), np.int64)
                        for i in (1, 2))
        axes = im.static(node.input[3], "axes") if len(node.input) > 3 and node.input[3] \
            else range(len(starts))
        steps = im.static(node.input[4], "steps") if len(node.input) > 4 and node.input[4] \
            else [1] * len(starts)
        index = [slice(None)] * x.ndim
        for start, end, axis, step in zip(starts, ends, axes, steps):
            index[int(axis)] = slice(int(start), int(min(end, 2 ** 62)), int(step))
        return _sizes_value(x[tuple(index)])
    if op == "Where":  # torch.onnx's expand(n, -1, -1): the -1s replaced by 1s
        condition = np.asarray(x, dtype=bool)
        return _sizes_value(np.where(condition, operand(node.input[1]), operand(node.input[2])))
    y = operand(node.input[1])
    if op == "Equal":
        return np.asarray(np.frompyfunc(_sizes_equal, 2, 1)(x, y), dtype=bool)
    # Mul, Div
    fn = np.frompyfunc(size_mul if op == "Mul" else size_div, 2, 1)
    result = fn(x, y)
    if any(v is None for v in np.asarray(result).flat):
        raise UnsupportedError(f"{list(x.flat)} / {list(y.flat)} is not a product of sizes")
    return _sizes_value(result)


def _sizes_equal(a, b):
    """Whether two sizes are equal, where that is known at import: a
    symbolic size is itself, and never a number below 1."""
    if isinstance(a, str) or isinstance(b, str):
        if a == b:
            return True
        other = b if isinstance(a, str) else a
        if not isinstance(other, str) and other < 1:
            return False
        raise UnsupportedError(f"whether {a} equals {b} is known only at run time")
    return a == b


def _track_indices(im, node, attrs):
    """Follows integer tensors that count along one axis (Range, unsqueezed
    and expanded) and their concatenation into index grids, so a GatherND
    over such a grid (transformers' mask indexing) becomes a reshape."""
    op, out = node.op_type, node.output[0] if node.output else None
    if op == "Range" and all(
            i in im.consts and float(im.consts[i]) == v
            for i, v in zip((node.input[0], node.input[2]), (0, 1))):
        im.iotas[out] = 0
    elif op in ("Unsqueeze", "Expand", "Cast") and node.input[0] in im.iotas:
        axis = im.iotas[node.input[0]]
        rank_in = len(im.shape(node.input[0]))
        if op == "Unsqueeze":
            inserted = _axes(im, node, attrs, 1)
            for a in sorted(a % (rank_in + len(inserted)) for a in inserted):
                axis += a <= axis
        elif op == "Expand":
            axis += len(im.shape(out)) - rank_in
        im.iotas[out] = axis
    elif op == "Concat" and node.input and all(i in im.iotas for i in node.input):
        rank = len(im.shape(out))
        if attrs.get("axis", 0) % rank == rank - 1 and all(
                im.shape(i)[-1] == 1 and im.iotas[i] < rank - 1 for i in node.input):
            im.grids[out] = [im.iotas[i] for i in node.input]


# Operators whose output has their (first) input's leading, batch, size.
_KEEP_BATCH = {"Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool", "GlobalAveragePool",
               "GlobalMaxPool", "BatchNormalization", "InstanceNormalization", "LRN",
               "Resize", "Upsample", "DepthToSpace", "SpaceToDepth"}


def _infer_unknown_shape(im, node, attrs):
    """Sizes ONNX's inference left unknown (a dim it named unk__N) that
    follow from the operands' shapes computed here: it gives the output of
    a Pad, an elementwise op or a convolution of symbolic operands a new
    unknown even where the size is an operand's (the batch of a CNN's
    "same" pads and residual adds), which every value downstream carries."""
    out = node.output[0] if node.output else None
    if not out or im.known_shape(out) is not None:
        return
    shapes = [im.known_shape(i) for i in node.input if i]
    if not shapes or shapes[0] is None:
        return
    inferred = im.types.get(out, (None, None))[0]
    if node.op_type == "Transpose":
        perm = attrs.get("perm", list(range(len(shapes[0])))[::-1])
        im.set_shape(out, [shapes[0][p] for p in perm])
    elif node.op_type in ELEMENTWISE and all(shape is not None for shape in shapes):
        shape = functools.reduce(lambda a, b: a and _broadcast(a, b), shapes)
        if shape:
            im.set_shape(out, shape)
    elif node.op_type == "Pad" and inferred and len(node.input) > 1:
        pads = im.sizes_operand(node.input[1], "pads") if node.input[1] in im.consts else None
        axes = list(range(len(shapes[0])))
        if len(node.input) > 3 and node.input[3]:
            axes = [int(a) % len(axes) for a in im.static(node.input[3], "axes").reshape(-1)]
        if pads is None or len(pads) != 2 * len(axes):
            return
        padded = {axis: pads[i] + pads[i + len(axes)] for i, axis in enumerate(axes)}
        # (Padding a symbolic size would make a sum of it: not a size here.)
        if all(isinstance(size, int) or not padded.get(axis)
               for axis, size in enumerate(shapes[0])):
            im.set_shape(out, [size + padded[axis] if padded.get(axis) else size
                               for axis, size in enumerate(shapes[0])])
    elif node.op_type == "MatMul" and len(shapes) == 2 and shapes[1] is not None and min(
            len(shapes[0]), len(shapes[1])) >= 2:
        batch = _broadcast(shapes[0][:-2], shapes[1][:-2])
        if batch is not None:
            im.set_shape(out, batch + [shapes[0][-2], shapes[1][-1]])
    elif node.op_type in _KEEP_BATCH and shapes[0] and inferred:
        im.set_shape(out, [shapes[0][0]] + list(inferred[1:]))


# -- operators ----------------------------------------------------------------

def _out(node):
    return node.output[0]


def _binary(op):
    def handler(im, node, attrs):
        return im.emit(_out(node), op, [im.value(node.input[0]), im.value(node.input[1])])
    return handler


def _variadic(op, mean=False):
    def handler(im, node, attrs):
        acc = im.value(node.input[0])
        for other in node.input[1:]:
            acc = im.emit(_out(node) + "_acc", op, [acc, im.value(other)])
        if mean:
            dtype = im.dtype(node.input[0])
            n = im.constant(np.array(len(node.input), UBE_TO_NUMPY[dtype]))
            acc = im.emit(_out(node), "div", [acc, n])
        return acc
    return handler


def _unary(op, **attrs_):
    return lambda im, node, attrs: im.emit(_out(node), op, [im.value(node.input[0])],
                                           attrs_ or None)


def _compare(predicate):
    return lambda im, node, attrs: im.emit(_out(node), "compare",
                                           [im.value(node.input[0]), im.value(node.input[1])],
                                           {"predicate": predicate})


def _scalar(im, node, value):
    return im.constant(np.array(value, UBE_TO_NUMPY[im.dtype(node.input[0])]))


def _reciprocal(im, node, attrs):
    return im.emit(_out(node), "div", [_scalar(im, node, 1.0), im.value(node.input[0])])


def _activation(op, **defaults):
    """An activation whose ONNX attributes map to ube's ({ube: (ONNX name,
    default)})."""
    def handler(im, node, attrs):
        values = {k: float(attrs.get(name, default)) for k, (name, default) in defaults.items()}
        return im.emit(_out(node), op, [im.value(node.input[0])], values or None)
    return handler


def _celu(im, node, attrs):
    alpha = float(attrs.get("alpha", 1.0))
    return im.emit(_out(node), "elu", [im.value(node.input[0])],
                   {"alpha": alpha, "input_scale": 1.0 / alpha})


def _clip(im, node, attrs):
    """ube.clamp with constant bounds; maximum/minimum with runtime ones."""
    x = im.value(node.input[0])
    if im.opset < 11:
        bounds = {k: attrs[k] for k in ("min", "max") if k in attrs}
    else:
        names = dict(zip(("min", "max"), list(node.input[1:]) + ["", ""]))
        if all(not n or n in im.consts for n in names.values()):
            bounds = {k: im.consts[n].item() for k, n in names.items() if n}
        else:
            bounds = None
    if bounds is not None:
        return im.emit(_out(node), "clamp", [x], {k: float(v) for k, v in bounds.items()} or None)
    lo = im.value(node.input[1]) if len(node.input) > 1 and node.input[1] else None
    hi = im.value(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    if lo is not None:
        x = im.emit(_out(node) + "_lo", "maximum", [x, lo])
    if hi is not None:
        x = im.emit(_out(node) + "_hi", "minimum", [x, hi])
    return x


def _softmax(op):
    def handler(im, node, attrs):
        x = im.value(node.input[0])
        rank = len(im.shape(node.input[0]))
        if im.opset >= 13:
            return im.emit(_out(node), op, [x], {"axis": attrs.get("axis", -1)})
        # Before opset 13: over the input coerced to 2-D at `axis`.
        axis = attrs.get("axis", 1)
        axis = axis + rank if axis < 0 else axis
        shape = im.static_shape(node.input[0], "Softmax before opset 13")
        flat = im.emit(_out(node) + "_2d", "reshape", [x],
                       shape=[int(np.prod(shape[:axis])), int(np.prod(shape[axis:]))])
        y = im.emit(_out(node) + "_sm", op, [flat], {"axis": -1})
        return im.emit(_out(node), "reshape", [y], shape=shape)
    return handler


def _layer_norm(im, node, attrs):
    """ube.layer_norm; the Mean and InvStdDev outputs, when used, computed
    beside it in the stash type (f32 unless the input is f64)."""
    inputs = [im.value(node.input[0]), im.value(node.input[1])]
    if len(node.input) > 2 and node.input[2]:
        inputs.append(im.value(node.input[2]))
    axis, eps = attrs.get("axis", -1), float(attrs.get("epsilon", 1e-5))
    y = im.emit(_out(node), "layer_norm", inputs, {"axis": axis, "epsilon": eps})
    if not any(node.output[1:]):
        return y
    rank = len(im.shape(node.input[0]))
    axis = axis % rank
    dtype = im.dtype(node.input[0])
    stash = {1: "f32", 11: "f64"}.get(attrs.get("stash_type", 1))
    if stash is None:
        raise UnsupportedError(f"stash_type {attrs['stash_type']}")
    x = inputs[0] if dtype == stash else im.emit(f"{_out(node)}_stash", "cast", [inputs[0]],
                                                 dtype=stash)
    _, mean, _, rstd = im.graph.normalized(x, list(range(axis, rank)), eps, stash,
                                           f"{_out(node)}_stats")
    return [y, mean, rstd]


def _rms_norm(im, node, attrs):
    """RMSNormalization (opset 23): a scale of the normalized shape is the
    op's weight; one that only broadcasts to it multiplies the result."""
    x_shape, scale_shape = im.shape(node.input[0]), im.shape(node.input[1])
    axis = attrs.get("axis", -1)
    axis = axis + len(x_shape) if axis < 0 else axis
    scale = im.value(node.input[1])
    fits = list(scale_shape) == list(x_shape[axis:])
    y = im.emit(_out(node) if fits else _out(node) + "_rms", "rms_norm",
                [im.value(node.input[0])] + ([scale] if fits else []),
                {"axis": axis - len(x_shape), "epsilon": float(attrs.get("epsilon", 1e-5))})
    return y if fits else im.emit(_out(node), "mul", [y, scale])


def _attention(im, node, attrs):
    """Attention (opsets 23-25) as ube.scaled_dot_product_attention: 4-D
    [B, H, L, E] operands, or 3-D [B, L, H·E] ones with q_num_heads and
    kv_num_heads; grouped-query heads, boolean and float masks, is_causal,
    scale and sliding windows. The KV cache (past_key/past_value), softcap
    and the qk_matmul output are not supported."""
    inputs = list(node.input) + [""] * (7 - len(node.input))
    if inputs[4] or inputs[5]:
        raise UnsupportedError("past_key/past_value (a KV cache)")
    if inputs[6]:
        raise UnsupportedError("nonpad_kv_seqlen")
    if attrs.get("softcap", 0.0):
        raise UnsupportedError("softcap")
    out = _out(node)
    q_shape, k_shape, v_shape = (im.shape(n) for n in inputs[:3])
    operands = [im.value(n) for n in inputs[:3]]
    three_d = len(q_shape) == 3
    if three_d:
        q_heads, kv_heads = attrs.get("q_num_heads"), attrs.get("kv_num_heads")
        if not q_heads or not kv_heads:
            raise UnsupportedError("3-D inputs need q_num_heads and kv_num_heads")
        # [B, L, H·E] -> [B, H, L, E]
        for i, (shape, heads) in enumerate(zip((q_shape, k_shape, v_shape),
                                               (q_heads, kv_heads, kv_heads))):
            split = im.emit(f"{out}_split{i}", "reshape", [operands[i]],
                            shape=[shape[0], shape[1], heads, shape[2] // heads])
            operands[i] = im.emit(f"{out}_heads{i}", "transpose", [split],
                                  {"perm": [0, 2, 1, 3]})
    elif len(q_shape) != 4:
        raise UnsupportedError(f"query of rank {len(q_shape)} (3 or 4)")
    mask = im.value(inputs[3]) if inputs[3] else None
    left, right = attrs.get("left_window_size", -1), attrs.get("right_window_size", -1)
    if left >= 0 or right >= 0:
        # Query i sees keys i - left <= j <= i + right (-1: unbounded).
        rows, cols = q_shape[-2], k_shape[-2]
        offset = np.arange(rows)[:, None] - np.arange(cols)[None, :]
        allowed = np.ones((rows, cols), bool)
        if left >= 0:
            allowed &= offset <= left
        if right >= 0:
            allowed &= -offset <= right
        window = im.graph.array(allowed, f"{out}_window")
        if mask is None:
            mask = window
        elif im.dtype(inputs[3]) == "i1":
            mask = im.emit(f"{out}_mask", "logical_and", [mask, window])
        else:
            mask = im.emit(f"{out}_mask", "where", [window, mask, im.constant(
                np.array(-np.inf, UBE_TO_NUMPY[im.dtype(inputs[0])]))])
    if mask is not None:
        operands.append(mask)
    op_attrs = {}
    if attrs.get("is_causal"):
        op_attrs["is_causal"] = True
    if attrs.get("scale") is not None:
        op_attrs["scale"] = float(attrs["scale"])
    y = im.emit(out + "_4d" if three_d else out, "scaled_dot_product_attention", operands,
                op_attrs or None)
    if not three_d:
        return y
    merged = im.emit(f"{out}_merge", "transpose", [y], {"perm": [0, 2, 1, 3]})
    return im.emit(out, "reshape", [merged], shape=[q_shape[0], q_shape[1],
                                                     attrs["q_num_heads"] * v_shape[2]
                                                     // attrs["kv_num_heads"]])


def _gelu(im, node, attrs):
    approximate = attrs.get("approximate", b"none")
    approximate = approximate.decode() if isinstance(approximate, bytes) else approximate
    if approximate not in ("none", "tanh"):
        raise UnsupportedError(f"approximate='{approximate}'")
    return im.emit(_out(node), "gelu", [im.value(node.input[0])], {"approximate": approximate})


def _swish(im, node, attrs):
    alpha = float(attrs.get("alpha", 1.0))
    x = im.value(node.input[0])
    if alpha == 1.0:
        return im.emit(_out(node), "silu", [x])
    scaled = im.emit(_out(node) + "_ax", "mul", [x, _scalar(im, node, alpha)])
    gate = im.emit(_out(node) + "_gate", "sigmoid", [scaled])
    return im.emit(_out(node), "mul", [x, gate])


def _gemm(im, node, attrs):
    a, b = im.value(node.input[0]), im.value(node.input[1])
    y = im.emit(_out(node) + "_ab", "matmul", [a, b],
                {"transpose_lhs": bool(attrs.get("transA", 0)),
                 "transpose_rhs": bool(attrs.get("transB", 0))})
    alpha, beta = attrs.get("alpha", 1.0), attrs.get("beta", 1.0)
    if alpha != 1.0:
        y = im.emit(_out(node) + "_alpha", "mul", [y, _scalar(im, node, alpha)])
    if len(node.input) > 2 and node.input[2]:
        c = im.value(node.input[2])
        if beta != 1.0:
            c = im.emit(_out(node) + "_beta", "mul", [c, _scalar(im, node, beta)])
        y = im.emit(_out(node), "add", [y, c])
    return y


def _pow(im, node, attrs):
    """Pow allows an exponent of another type; the result has the base's.
    ube.pow is floating point: integer powers go through f32 (exact below
    2**24)."""
    base, exponent = im.value(node.input[0]), im.value(node.input[1])
    base_type, exp_type = im.dtype(node.input[0]), im.dtype(node.input[1])
    compute = base_type if base_type in ("f32", "f64", "f16") else "f32"
    if base_type != compute:
        base = im.emit(_out(node) + "_base", "cast", [base], dtype=compute)
    if exp_type != compute:
        exponent = im.emit(_out(node) + "_exp", "cast", [exponent], dtype=compute)
    result = im.emit(_out(node) + ("_f" if compute != base_type else ""), "pow", [base, exponent])
    if compute != base_type:
        result = im.emit(_out(node), "cast", [result], dtype=base_type)
    return result


def _matmul(im, node, attrs):
    return im.emit(_out(node), "matmul", [im.value(node.input[0]), im.value(node.input[1])])


def _transpose(im, node, attrs):
    rank = len(im.shape(node.input[0]))
    perm = list(attrs.get("perm", range(rank - 1, -1, -1)))
    return im.emit(_out(node), "transpose", [im.value(node.input[0])], {"perm": perm})


def _reshape_to(im, node, shape):
    im.set_shape(_out(node), shape)
    return im.emit(_out(node), "reshape", [im.value(node.input[0])], shape=list(shape))


def _reshape(im, node, attrs):
    """Reshape to a constant or computed shape: 0 copies the input's size
    (unless allowzero), -1 is what the element count leaves."""
    target = im.sizes_operand(node.input[1], "the target shape")
    shape = im.shape(node.input[0])
    out = [shape[i] if d == 0 and not attrs.get("allowzero", 0) else d
           for i, d in enumerate(target)]
    if -1 in out:
        if any(isinstance(d, ComputedSize) for d in list(shape) + out):
            # The element count is no product of the symbols: the graph's
            # reshape computes the -1 (GroupNorm's [N, G, -1] of a signal
            # of any length).
            value = im.emit(_out(node), "reshape", [im.value(node.input[0])], shape=out)
            im.set_shape(_out(node), [ComputedSize(value, axis) if d == -1 else d
                                      for axis, d in enumerate(out)])
            return value
        rest = size_div(size_prod(shape), size_prod(d for d in out if d != -1))
        if rest is None:
            raise UnsupportedError(f"the size -1 of {target} for {shape} is not a product of "
                                   "sizes")
        out[out.index(-1)] = rest
    return _reshape_to(im, node, out)


def _squeeze_like(im, node, attrs):
    shape = im.shape(node.input[0])
    axes = _axes(im, node, attrs, 1)
    if node.op_type == "Unsqueeze":
        out = list(shape)
        for a in sorted(a % (len(shape) + len(axes)) for a in axes):
            out.insert(a, 1)
    else:
        axes = [a % len(shape) for a in axes] if axes else \
            [d for d, size in enumerate(shape) if size == 1]
        out = [size for d, size in enumerate(shape) if d not in axes]
    return _reshape_to(im, node, out)


def _concat(im, node, attrs):
    return im.emit(_out(node), "concat", [im.value(i) for i in node.input],
                   {"axis": attrs["axis"]})


def _slice(im, node, attrs):
    shape = im.shape(node.input[0])
    rank = len(shape)
    if im.opset < 10:
        starts, ends = attrs["starts"], attrs["ends"]
        axes, steps = attrs.get("axes", list(range(len(starts)))), [1] * len(starts)
    else:
        starts = im.static(node.input[1], "starts").tolist()
        ends = im.sizes_operand(node.input[2], "ends")
        axes = im.static(node.input[3], "axes").tolist() if len(node.input) > 3 and \
            node.input[3] else list(range(len(starts)))
        steps = im.static(node.input[4], "steps").tolist() if len(node.input) > 4 and \
            node.input[4] else [1] * len(starts)
    start, limit, stride = [0] * rank, list(shape), [1] * rank
    for s, e, a, st in zip(starts, ends, axes, steps):
        a = a + rank if a < 0 else a
        if st <= 0:
            raise UnsupportedError("negative slice steps")
        if isinstance(shape[a], str):  # all of a symbolic dimension, or unsupported
            if s == 0 and st == 1 and (e == shape[a] or (isinstance(e, int) and e >= 2 ** 31)):
                continue
            # Up to the size less a constant (x[..., :-1]): a limit read from
            # the input at run time.
            if isinstance(e, int) and e < 0 and isinstance(s, int) and s >= 0:
                start[a], stride[a] = int(s), int(st)
                limit[a] = {"size_of": im.value(node.input[0]), "axis": a, "add": int(e)}
                continue
            raise UnsupportedError(f"slicing dimension {a} of symbolic size '{shape[a]}'")
        if isinstance(e, str):  # up to a symbol's size (the first `seq` positions)
            if s < 0:
                raise UnsupportedError("a slice up to a symbolic size from a negative start")
            start[a], limit[a], stride[a] = int(s), e, int(st)
            continue
        s, e, _ = slice(int(s), int(min(e, 2 ** 62)), int(st)).indices(shape[a])
        start[a], limit[a], stride[a] = s, max(s, e), int(st)
    if start == [0] * rank and limit == list(shape) and stride == [1] * rank:
        return im.value(node.input[0])
    limit = [size.reference if isinstance(size, ComputedSize) else size for size in limit]
    return im.emit(_out(node), "slice", [im.value(node.input[0])],
                   {"start": start, "limit": limit, "stride": stride})


def _gather(im, node, attrs):
    data, indices = node.input[0], node.input[1]
    axis = attrs.get("axis", 0)
    shape = im.shape(data)
    size = shape[axis + len(shape) if axis < 0 else axis]
    if indices in im.consts and (np.asarray(im.consts[indices]) >= 0).all():
        return im.emit(_out(node), "gather", [im.value(data), im.value(indices)],
                       {"axis": axis})
    if isinstance(size, str):
        raise UnsupportedError(f"indices that may be negative into a dimension of symbolic "
                               f"size '{size}'")
    idx = im.value(indices)
    # ONNX counts negative indices from the end; ube.gather clamps.
    dtype = im.dtype(indices)
    zero = im.constant(np.array(0, UBE_TO_NUMPY[dtype]))
    negative = im.emit(_out(node) + "_neg", "compare", [idx, zero], {"predicate": "lt"})
    wrapped = im.emit(_out(node) + "_wrapped", "add",
                      [idx, im.constant(np.array(size, UBE_TO_NUMPY[dtype]))])
    idx = im.emit(_out(node) + "_idx", "where", [negative, wrapped, idx])
    return im.emit(_out(node), "gather", [im.value(data), idx], {"axis": axis})


def _split(im, node, attrs):
    """Split into static pieces: `split` (an input from opset 13, an attribute
    before) or `num_outputs` equal parts (the last one smaller)."""
    shape = im.static_shape(node.input[0], "Split")
    axis = attrs.get("axis", 0) % len(shape)
    if len(node.input) > 1 and node.input[1]:
        sizes = [int(v) for v in im.static(node.input[1], "split sizes")]
    elif "split" in attrs:
        sizes = list(attrs["split"])
    else:
        parts = attrs.get("num_outputs", len(node.output))
        step = -(-shape[axis] // parts)
        sizes = [min(step, shape[axis] - i * step) for i in range(parts)]
    results, at = [], 0
    for out, size in zip(node.output, sizes):
        start, limit = [0] * len(shape), list(shape)
        start[axis], limit[axis] = at, at + size
        results.append(im.emit(out, "slice", [im.value(node.input[0])],
                               {"start": start, "limit": limit, "stride": [1] * len(shape)}))
        at += size
    return results


def _cumsum(im, node, attrs):
    """CumSum along a constant axis (ube.cumsum)."""
    rank = len(im.shape(node.input[0]))
    axis = int(im.static(node.input[1], "axis")) % rank
    if im.dtype(node.input[0]) == "i1":
        raise UnsupportedError("CumSum of booleans")
    return im.emit(_out(node), "cumsum", [im.value(node.input[0])], {
        "axis": axis, "exclusive": bool(attrs.get("exclusive", 0)),
        "reverse": bool(attrs.get("reverse", 0))})


def _isnan(im, node, attrs):
    x = im.value(node.input[0])
    return im.emit(_out(node), "compare", [x, x], {"predicate": "ne"})


def _gather_nd(im, node, attrs):
    """GatherND (batch_dims 0): indices [..., k] pick slices of data's first k
    dimensions; one gather from data with those dimensions flattened, at the
    linear index Σ i_d·stride_d (negative indices counted from the end)."""
    if attrs.get("batch_dims", 0):
        raise UnsupportedError("GatherND with batch_dims")
    shape, index_shape = im.shape(node.input[0]), im.shape(node.input[1])
    k, out = index_shape[-1], _out(node)
    grid = im.grids.get(node.input[1])
    if grid is not None and grid == sorted(set(grid)) and all(
            index_shape[axis] == shape[c] for c, axis in enumerate(grid)):
        # Component c counts along grid axis grid[c], over data's dimension
        # c: out[p] = data[p[grid[0]], p[grid[1]], ...], data's dimensions
        # laid along those axes and broadcast over the others.
        laid = [1] * (len(index_shape) - 1) + list(shape[k:])
        for c, axis in enumerate(grid):
            laid[axis] = shape[c]
        view = im.emit(out + "_laid", "reshape", [im.value(node.input[0])], shape=laid)
        result = index_shape[:-1] + list(shape[k:])
        im.set_shape(out, result)
        return view if laid == result else im.emit(out, "broadcast_to", [view], shape=result)
    shape = im.static_shape(node.input[0], "GatherND's data")
    index_shape = im.static_shape(node.input[1], "GatherND's indices")
    strides = [int(np.prod(shape[d + 1:k])) for d in range(k)]
    if node.input[1] in im.consts:
        idx = np.asarray(im.consts[node.input[1]], np.int64)
        idx = np.where(idx < 0, idx + np.array(shape[:k]), idx)
        linear = im.constant((idx * np.array(strides)).sum(-1), out + "_index")
    else:
        idx = im.value(node.input[1])
        if im.dtype(node.input[1]) != "i64":
            idx = im.emit(out + "_i64", "cast", [idx], dtype="i64")
        sizes = im.constant(np.array(shape[:k], np.int64), out + "_sizes")
        negative = im.emit(out + "_neg", "compare", [idx, im.constant(np.array(0, np.int64))],
                           {"predicate": "lt"})
        idx = im.emit(out + "_wrap", "where", [
            negative, im.emit(out + "_up", "add", [idx, sizes]), idx])
        scaled = im.emit(out + "_scaled", "mul", [
            idx, im.constant(np.array(strides, np.int64), out + "_strides")])
        linear = im.emit(out + "_linear", "reduce_sum", [scaled], {"axes": [-1]})
    flat = im.emit(out + "_flat", "reshape", [im.value(node.input[0])],
                   shape=[int(np.prod(shape[:k]))] + shape[k:])
    gathered = im.emit(out + "_gather", "gather", [flat, linear])
    return im.emit(out, "reshape", [gathered], shape=im.shape(out))


def _gather_elements(im, node, attrs):
    """GatherElements: out[..., j, ...] = data[..., indices[..., j, ...], ...]
    along `axis`, as one gather from data flattened at base + index·stride
    (the base, every other coordinate's offset, a constant)."""
    shape, index_shape = im.shape(node.input[0]), im.shape(node.input[1])
    axis, out = attrs.get("axis", 0) % len(shape), _out(node)
    if any(isinstance(d, str) for d in shape + index_shape):
        # Symbolic: only along the one dimension of both that is not 1 (a
        # position table's row), where it is a gather.
        if any(d != 1 for i, d in enumerate(shape) if i != axis) or any(
                d != 1 for i, d in enumerate(index_shape) if i != axis):
            raise UnsupportedError(f"GatherElements of symbolic shapes {shape} and "
                                   f"{index_shape} beyond one dimension")
        flat = im.emit(out + "_flat", "reshape", [im.value(node.input[0])],
                       shape=[shape[axis]])
        return im.emit(out, "gather", [flat, im.value(node.input[1])])
    stride = int(np.prod(shape[axis + 1:]))
    idx = im.value(node.input[1])
    if im.dtype(node.input[1]) != "i64":
        idx = im.emit(out + "_i64", "cast", [idx], dtype="i64")
    negative = im.emit(out + "_neg", "compare", [idx, im.constant(np.array(0, np.int64))],
                       {"predicate": "lt"})
    idx = im.emit(out + "_wrap", "where", [negative, im.emit(out + "_up", "add", [
        idx, im.constant(np.array(shape[axis], np.int64))]), idx])
    linear = im.emit(out + "_linear", "add", [
        im.emit(out + "_stride", "mul", [idx, im.constant(np.array(stride, np.int64))]),
        im.constant(offsets_along(index_shape, shape, axis), out + "_base")])
    flat = im.emit(out + "_flat", "reshape", [im.value(node.input[0])],
                   shape=[int(np.prod(shape))])
    return im.emit(out, "gather", [flat, linear])


def _class_loss(im, node, attrs, log_prob, out):
    """NegativeLogLikelihoodLoss of `log_prob` [N, C, d...] (classes on axis
    1) at `node`'s target [N, d...], with its optional class weights and
    ignore_index: -log_prob[t]·w[t] per element, then reduced ("mean"
    divides by the sum of the weights taken, as ONNX does)."""
    shape = im.shape(node.input[0])
    rank = len(shape)
    dtype = im.dtype(node.input[0])
    if dtype is None or dtype not in UBE_TO_NUMPY or not dtype.startswith(("f", "bf")):
        raise UnsupportedError(f"a loss over {dtype}")
    np_dtype = UBE_TO_NUMPY[dtype]
    zero = im.constant(np.array(0, np_dtype))
    classes_last = log_prob if rank == 2 else im.emit(
        out + "_classes_last", "transpose", [log_prob],
        {"perm": [0] + list(range(2, rank)) + [1]})
    target = im.value(node.input[1])
    target_dtype = im.dtype(node.input[1])
    classes = im.emit(out + "_classes", "arange", [], {"start": 0.0, "step": 1.0},
                      dtype=target_dtype, shape=[shape[1]])
    column = im.emit(out + "_target_col", "reshape", [target],
                     shape=list(im.shape(node.input[1])) + [1])
    picks = im.emit(out + "_onehot", "compare", [column, classes], {"predicate": "eq"})
    if "ignore_index" in attrs:
        kept = im.emit(out + "_kept", "compare", [
            column, im.constant(np.array(attrs["ignore_index"], UBE_TO_NUMPY[target_dtype]))],
            {"predicate": "ne"})
        picks = im.emit(out + "_picks", "logical_and", [picks, kept])
    weight = None
    if len(node.input) > 2 and node.input[2]:
        weight = im.value(node.input[2])
        classes_last = im.emit(out + "_weighted", "mul", [classes_last, weight])
    loss = im.emit(out + "_loss", "neg", [im.emit(out + "_picked", "reduce_sum", [
        im.emit(out + "_masked", "where", [picks, classes_last, zero])], {"axes": [-1]})])
    reduction = attrs.get("reduction", b"mean")
    reduction = reduction.decode() if isinstance(reduction, bytes) else reduction
    if reduction == "none":
        return im.emit(out, "reshape", [loss], shape=list(im.shape(node.input[1])))
    total = im.emit(out + "_sum" if reduction == "mean" else out, "reduce_sum", [loss])
    if reduction == "sum":
        return total
    one = im.constant(np.array(1, np_dtype))
    taken = im.emit(out + "_taken", "reduce_sum", [im.emit(out + "_taken_w", "where", [
        picks, weight if weight is not None else one, zero])])
    return im.emit(out, "div", [total, taken])


def _nll_loss(im, node, attrs):
    return _class_loss(im, node, attrs, im.value(node.input[0]), _out(node))


def _softmax_cross_entropy(im, node, attrs):
    """SoftmaxCrossEntropyLoss: log_softmax over the classes (axis 1), then
    the NLL loss; the optional second output is the log-probabilities."""
    log_prob = im.emit(node.output[1] if len(node.output) > 1 and node.output[1]
                       else _out(node) + "_log_prob",
                       "log_softmax", [im.value(node.input[0])], {"axis": 1})
    return [_class_loss(im, node, attrs, log_prob, _out(node)), log_prob]


def _softsign(im, node, attrs):
    x, out = im.value(node.input[0]), _out(node)
    one = _scalar(im, node, 1.0)
    return im.emit(out, "div", [x, im.emit(f"{out}_den", "add", [
        one, im.emit(f"{out}_abs", "abs", [x])])])


def _thresholded_relu(im, node, attrs):
    x, out = im.value(node.input[0]), _out(node)
    above = im.emit(f"{out}_above", "compare", [x, _scalar(im, node, attrs.get("alpha", 1.0))],
                    {"predicate": "gt"})
    return im.emit(out, "where", [above, x, _scalar(im, node, 0.0)])


def _shrink(im, node, attrs):
    """x + bias below −lambd, x − bias above lambd, 0 between."""
    x, out = im.value(node.input[0]), _out(node)
    lambd, bias = float(attrs.get("lambd", 0.5)), float(attrs.get("bias", 0.0))
    below = im.emit(f"{out}_below", "compare", [x, _scalar(im, node, -lambd)],
                    {"predicate": "lt"})
    above = im.emit(f"{out}_above", "compare", [x, _scalar(im, node, lambd)],
                    {"predicate": "gt"})
    shifted_up = im.emit(f"{out}_up", "add", [x, _scalar(im, node, bias)])
    shifted_down = im.emit(f"{out}_down", "sub", [x, _scalar(im, node, bias)])
    middle = im.emit(f"{out}_mid", "where", [above, shifted_down, _scalar(im, node, 0.0)])
    return im.emit(out, "where", [below, shifted_up, middle])


def _arg_reduce(op):
    def handler(im, node, attrs):
        return im.emit(_out(node), op, [im.value(node.input[0])], {
            "axis": int(attrs.get("axis", 0)), "keepdims": bool(attrs.get("keepdims", 1)),
            "select_last_index": bool(attrs.get("select_last_index", 0))})
    return handler


def _topk(im, node, attrs):
    """TopK with a constant K: [values, indices] (sorted either way)."""
    shape = im.static_shape(node.input[0], "TopK")
    k = int(np.asarray(im.static(node.input[1], "K")).reshape(-1)[0])
    axis = attrs.get("axis", -1) % len(shape)
    x = im.value(node.input[0])
    indices = im.emit(node.output[1] or f"{_out(node)}_indices", "topk", [x], {
        "k": k, "axis": axis, "largest": bool(attrs.get("largest", 1))})
    out_shape = shape[:axis] + [k] + shape[axis + 1:]
    return [im.graph.take_along(x, shape, indices, out_shape, axis, _out(node)), indices]


def _hardmax(im, node, attrs):
    """1 at the first maximum along `axis`, 0 elsewhere (opset 13: one axis)."""
    if im.opset < 13:
        raise UnsupportedError("Hardmax before opset 13 (over the input coerced to 2-D)")
    shape = im.static_shape(node.input[0], "Hardmax")
    axis = attrs.get("axis", -1) % len(shape)
    out = _out(node)
    index = im.emit(f"{out}_index", "argmax", [im.value(node.input[0])],
                    {"axis": axis, "keepdims": True})
    along = [1] * len(shape)
    along[axis] = shape[axis]
    positions = im.constant(np.arange(shape[axis], dtype=np.int64).reshape(along))
    hit = im.emit(f"{out}_hit", "compare", [positions, index], {"predicate": "eq"})
    return im.emit(out, "cast", [hit], dtype=im.dtype(node.input[0]))


def _trilu(im, node, attrs):
    """Trilu: x where the diagonal offset j − i is ≥ k (upper) or ≤ k
    (lower), else 0; k may be a runtime input."""
    shape = im.static_shape(node.input[0], "Trilu")
    rows, cols = shape[-2:]
    out = _out(node)
    offsets = im.constant(np.arange(cols)[None, :] - np.arange(rows)[:, None])
    if len(node.input) > 1 and node.input[1]:
        k = im.value(node.input[1])
    else:
        k = im.constant(np.array(0, np.int64))
    upper = bool(attrs.get("upper", 1))
    keep = im.emit(f"{out}_keep", "compare", [offsets, k], {"predicate": "ge" if upper else "le"})
    zero = im.constant(np.zeros((), UBE_TO_NUMPY[im.dtype(node.input[0])]))
    return im.emit(out, "where", [keep, im.value(node.input[0]), zero])


def _mod(im, node, attrs):
    """Mod: C's fmod with `fmod` = 1, else the remainder with the divisor's
    sign (integers only, as ONNX allows)."""
    a, b = im.value(node.input[0]), im.value(node.input[1])
    if attrs.get("fmod", 0):
        return im.emit(_out(node), "fmod", [a, b])
    return im.graph.floor_mod(a, b, im.dtype(node.input[0]), _out(node))


def _lp_normalization(im, node, attrs):
    p = attrs.get("p", 2)
    if p not in (1, 2):
        raise UnsupportedError(f"p = {p}")
    x, out = im.value(node.input[0]), _out(node)
    axis = {"axes": [attrs.get("axis", -1)], "keepdims": True}
    if p == 1:
        norm = im.emit(f"{out}_norm", "reduce_sum", [im.emit(f"{out}_abs", "abs", [x])], axis)
    else:
        norm = im.emit(f"{out}_norm", "sqrt", [im.emit(
            f"{out}_sumsq", "reduce_sum", [im.emit(f"{out}_sq", "mul", [x, x])], axis)])
    zero = im.constant(np.zeros((), UBE_TO_NUMPY[im.dtype(node.input[0])]))
    empty = im.emit(f"{out}_zero_norm", "compare", [norm, zero], {"predicate": "eq"})
    return im.emit(out, "where", [empty, zero, im.emit(f"{out}_scaled", "div", [x, norm])])


def _space_to_depth(im, node, attrs):
    n, c, h, w = im.static_shape(node.input[0], "SpaceToDepth")
    b, out = attrs["blocksize"], _out(node)
    mode = attrs.get("mode", b"DCR")
    crd = (mode.decode() if isinstance(mode, bytes) else mode) == "CRD"
    x = im.emit(f"{out}_blocks", "reshape", [im.value(node.input[0])],
                shape=[n, c, h // b, b, w // b, b])
    x = im.emit(f"{out}_moved", "transpose", [x],
                {"perm": [0, 1, 3, 5, 2, 4] if crd else [0, 3, 5, 1, 2, 4]})
    return im.emit(out, "reshape", [x], shape=[n, c * b * b, h // b, w // b])


def _depth_to_space(im, node, attrs):
    n, c, h, w = im.static_shape(node.input[0], "DepthToSpace")
    b, out = attrs["blocksize"], _out(node)
    mode = attrs.get("mode", b"DCR")
    if (mode.decode() if isinstance(mode, bytes) else mode) == "CRD":
        split, perm = [n, c // (b * b), b, b, h, w], [0, 1, 4, 2, 5, 3]
    else:
        split, perm = [n, b, b, c // (b * b), h, w], [0, 3, 4, 1, 5, 2]
    x = im.emit(f"{out}_blocks", "reshape", [im.value(node.input[0])], shape=split)
    x = im.emit(f"{out}_moved", "transpose", [x], {"perm": perm})
    return im.emit(out, "reshape", [x], shape=[n, c // (b * b), h * b, w * b])


def _eye_like(im, node, attrs):
    rows, cols = im.static_shape(node.input[0], "EyeLike")
    elem = attrs.get("dtype")
    dtype = ONNX_TO_UBE.get(elem) if elem is not None else im.dtype(node.input[0])
    if dtype is None:
        raise UnsupportedError(f"EyeLike to element type {elem}")
    return np.eye(rows, cols, attrs.get("k", 0), dtype=UBE_TO_NUMPY[dtype])


def _prelu(im, node, attrs):
    x, slope, out = im.value(node.input[0]), im.value(node.input[1]), _out(node)
    zero = im.constant(np.zeros((), UBE_TO_NUMPY[im.dtype(node.input[0])]))
    negative = im.emit(f"{out}_negative", "compare", [x, zero], {"predicate": "lt"})
    return im.emit(out, "where", [negative, im.emit(f"{out}_scaled", "mul", [x, slope]), x])


def _isinf(im, node, attrs):
    x, out = im.value(node.input[0]), _out(node)
    dtype = UBE_TO_NUMPY[im.dtype(node.input[0])]
    tests = []
    if attrs.get("detect_positive", 1):
        tests.append(im.emit(f"{out}_pos", "compare", [x, im.constant(np.array(np.inf, dtype))],
                             {"predicate": "eq"}))
    if attrs.get("detect_negative", 1):
        tests.append(im.emit(f"{out}_neg", "compare", [x, im.constant(np.array(-np.inf, dtype))],
                             {"predicate": "eq"}))
    if not tests:
        return im.emit(out, "broadcast_to", [im.constant(np.array(False))],
                       shape=im.shape(node.input[0]))
    return tests[0] if len(tests) == 1 else im.emit(out, "logical_or", tests)


def _onnx_window(im, node, attrs, shape, kernel, runtime_pads=False):
    """ONNX window attributes as ube's: strides, dilations, and pads
    ([begin..., end...]) from `pads` or `auto_pad` (SAME_UPPER puts the odd
    padding at the end, SAME_LOWER at the beginning). With `runtime_pads`,
    "same" pads of a symbolic size at a stride above 1 may be size
    expressions."""
    rank = len(shape) - 2
    strides = list(attrs.get("strides", [1] * rank))
    dilations = list(attrs.get("dilations", [1] * rank))
    pads = list(attrs.get("pads", [0] * (2 * rank)))
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pads = [0] * (2 * rank)
        for d in range(rank):
            size, stride, span = shape[d + 2], strides[d], dilations[d] * (kernel[d] - 1) + 1
            if isinstance(size, str) and stride > 1:
                # The amounts depend on the size: size expressions, for which
                # a convolution pads first (`runtime_pads`).
                if not runtime_pads:
                    raise UnsupportedError(f"auto_pad over a symbolic size '{size}' "
                                           f"with stride {stride}")
                total = f"max((ceildiv({size}, {stride}) - 1) * {stride} + {span} - {size}, 0)"
                small, large = f"({total}) // 2", f"{total} - ({total}) // 2"
            else:
                # (At stride 1 the output keeps the size: span - 1 in all.)
                total = max(span - 1 if isinstance(size, str) else
                            (-(-size // stride) - 1) * stride + span - size, 0)
                small, large = total // 2, total - total // 2
            pads[d], pads[d + rank] = (small, large) if auto_pad == "SAME_UPPER" else (large, small)
    elif auto_pad == "VALID":
        pads = [0] * (2 * rank)
    return {"stride": strides, "padding": pads, "dilation": dilations}


def _conv(im, node, attrs):
    shape = im.shape(node.input[0])
    kernel = im.static_shape(node.input[1], "Conv's weight")[2:]
    inputs = [im.value(i) for i in node.input if i]
    window = _onnx_window(im, node, attrs, shape, kernel, runtime_pads=True)
    pads = window["padding"]
    if any(isinstance(p, str) for p in pads):
        rank = len(pads) // 2
        inputs[0], _ = im.graph.pad(inputs[0], shape, im.dtype(node.input[0]),
                                    [(0, 0)] * 2 + list(zip(pads[:rank], pads[rank:])),
                                    "constant", 0, _out(node))
        window["padding"] = [0] * len(pads)
    return im.emit(_out(node), "conv", inputs, {**window, "groups": attrs.get("group", 1)})


def _conv_transpose(im, node, attrs):
    """ConvTranspose as the input gradient of the convolution it transposes
    (weight [C_in, C_out / group, *K]); output_shape and auto_pad fix the
    padding as ONNX specifies."""
    shape = im.static_shape(node.input[0], "ConvTranspose")
    kernel = im.static_shape(node.input[1], "ConvTranspose's weight")[2:]
    rank = len(shape) - 2
    strides = list(attrs.get("strides", [1] * rank))
    dilations = list(attrs.get("dilations", [1] * rank))
    extra = list(attrs.get("output_padding", [0] * rank))
    pads = list(attrs.get("pads", [0] * (2 * rank)))
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    full = [strides[d] * (shape[d + 2] - 1) + extra[d] + dilations[d] * (kernel[d] - 1) + 1
            for d in range(rank)]
    wanted = list(attrs.get("output_shape", []))[-rank:]
    if not wanted and auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        wanted = [shape[d + 2] * strides[d] for d in range(rank)]
    if wanted:
        for d in range(rank):
            total = full[d] - wanted[d]
            small, large = total // 2, total - total // 2
            pads[d], pads[d + rank] = (small, large) if auto_pad == "SAME_UPPER" else (large,
                                                                                      small)
    spatial = [full[d] - pads[d] - pads[d + rank] for d in range(rank)]
    if any(p < 0 for p in pads) or any(e >= s for e, s in zip(extra, strides)):
        raise UnsupportedError(f"pads {pads} with output_padding {extra} and strides {strides}")
    out = _out(node)
    groups = attrs.get("group", 1)
    y = im.emit(out if len(node.input) < 3 or not node.input[2] else f"{out}_unbiased",
                "conv_input_grad", [im.value(node.input[0]), im.value(node.input[1])],
                {"input_spatial": spatial, "stride": strides, "padding": pads,
                 "dilation": dilations, "groups": groups})
    if len(node.input) < 3 or not node.input[2]:
        return y
    channels = im.static_shape(node.input[1], "ConvTranspose's weight")[1] * groups
    bias = im.emit(f"{out}_bias", "reshape", [im.value(node.input[2])],
                   shape=[channels] + [1] * rank)
    return im.emit(out, "add", [y, bias])


def _text(value, default):
    value = value if value is not None else default
    return value.decode() if isinstance(value, bytes) else value


def _resize_sources(attrs, size, out, scale):
    """ONNX Resize's source coordinate of each of `out` positions along an
    axis of `size` (coordinate_transformation_mode), rounded to an index for
    mode "nearest" (nearest_mode); whether they interpolate."""
    x = np.arange(out, dtype=np.float64)
    length = size * scale  # the resized length before rounding (ONNX's length_resized)
    mode = _text(attrs.get("coordinate_transformation_mode"), "half_pixel")
    if mode == "half_pixel":
        src = (x + 0.5) / scale - 0.5
    elif mode == "pytorch_half_pixel":
        src = (x + 0.5) / scale - 0.5 if length > 1 else np.zeros(out)
    elif mode == "align_corners":
        src = x * ((size - 1) / (length - 1) if length > 1 else 0.0)
    elif mode == "asymmetric":
        src = x / scale
    elif mode == "half_pixel_symmetric":
        adjustment = out / (scale * size)
        src = size / 2 * (1 - adjustment) + (x + 0.5) / scale - 0.5
    else:
        raise UnsupportedError(f"coordinate_transformation_mode '{mode}'")
    if _text(attrs.get("mode"), "nearest") == "linear":
        return src, True
    rounding = _text(attrs.get("nearest_mode"), "round_prefer_floor")
    rounded = {"round_prefer_floor": lambda v: np.ceil(v - 0.5),
               "round_prefer_ceil": lambda v: np.floor(v + 0.5),
               "floor": np.floor, "ceil": np.ceil}.get(rounding)
    if rounded is None:
        raise UnsupportedError(f"nearest_mode '{rounding}'")
    return rounded(src), False


def _resize(im, node, attrs):
    """Resize (nearest and linear; constant scales or sizes) as per-axis
    GraphBuilder.resample."""
    mode = _text(attrs.get("mode"), "nearest")
    if mode not in ("nearest", "linear"):
        raise UnsupportedError(f"mode '{mode}'")
    if attrs.get("antialias", 0):
        raise UnsupportedError("antialias")
    if _text(attrs.get("keep_aspect_ratio_policy"), "stretch") != "stretch":
        raise UnsupportedError("keep_aspect_ratio_policy other than stretch")
    shape = im.static_shape(node.input[0], "Resize")
    if im.opset < 11:  # Resize(X, scales)
        names = {"scales": node.input[1]}
    else:
        names = dict(zip(("roi", "scales", "sizes"), list(node.input[1:]) + ["", "", ""]))
    axes = [a % len(shape) for a in attrs.get("axes", range(len(shape)))]
    scales, sizes = [1.0] * len(shape), list(shape)
    if names.get("sizes"):
        for a, v in zip(axes, im.static(names["sizes"], "sizes").tolist()):
            sizes[a], scales[a] = int(v), int(v) / shape[a]
    elif names.get("scales"):
        for a, v in zip(axes, im.static(names["scales"], "scales").tolist()):
            scales[a], sizes[a] = float(v), int(np.floor(shape[a] * float(v)))
    else:
        raise UnsupportedError("neither scales nor sizes")
    dtype, out = im.dtype(node.input[0]), _out(node)
    x, resized = im.value(node.input[0]), [d for d in range(len(shape)) if sizes[d] != shape[d]
                                           or scales[d] != 1]
    current = list(shape)
    for i, d in enumerate(resized):
        sources, linear = _resize_sources(attrs, shape[d], sizes[d], scales[d])
        x = im.graph.resample(x, current, dtype, d, sources, linear,
                              out if i == len(resized) - 1 else f"{out}_axis{d}")
        current[d] = sizes[d]
    im.set_shape(out, sizes)
    return x


def _pool(op):
    def handler(im, node, attrs):
        shape = im.shape(node.input[0])
        kernel = list(attrs["kernel_shape"])
        window = _onnx_window(im, node, attrs, shape, kernel)
        result = {"kernel": kernel, "stride": window["stride"], "padding": window["padding"],
                  "ceil_mode": bool(attrs.get("ceil_mode", 0))}
        result["dilation"] = window["dilation"]
        if op == "max_pool":
            if len(node.output) > 1 and node.output[1]:
                raise UnsupportedError("MaxPool's Indices output")
        else:
            result["count_include_pad"] = bool(attrs.get("count_include_pad", 0))
        dtype = im.dtype(node.input[0])
        if op == "max_pool" and dtype not in FLOATS:
            # Integer MaxPool (opset 12): the window maximum of exact floats
            # (8 and 16-bit integers are exact in f32).
            if dtype not in ("i8", "u8", "i16", "u16"):
                raise UnsupportedError(f"MaxPool on {dtype}")
            x = im.emit(_out(node) + "_f32", "cast", [im.value(node.input[0])], dtype="f32")
            pooled = im.emit(_out(node) + "_pooled", op, [x], result)
            return im.emit(_out(node), "cast", [pooled], dtype=dtype)
        return im.emit(_out(node), op, [im.value(node.input[0])], result)
    return handler


def _lp_pool(im, node, attrs):
    """LpPool: (Σ over each window of |x|^p)^(1/p), the window sums as a
    depthwise convolution with a kernel of ones."""
    if attrs.get("ceil_mode", 0):
        raise UnsupportedError("ceil_mode")
    shape = im.static_shape(node.input[0], "LpPool")
    kernel = list(attrs["kernel_shape"])
    window = _onnx_window(im, node, attrs, shape, kernel)
    p, out, dtype = float(attrs.get("p", 2)), _out(node), UBE_TO_NUMPY[im.dtype(node.input[0])]
    x = im.emit(f"{out}_abs", "abs", [im.value(node.input[0])])
    powered = im.emit(f"{out}_pow", "pow", [x, im.constant(np.array(p, dtype))])
    ones = im.constant(np.ones([shape[1], 1] + kernel, dtype))
    sums = im.emit(f"{out}_sums", "conv", [powered, ones], {**window, "groups": shape[1]})
    return im.emit(out, "pow", [sums, im.constant(np.array(1.0 / p, dtype))])


def _global_pool(op):
    def handler(im, node, attrs):
        rank = len(im.shape(node.input[0]))
        return im.emit(_out(node), op, [im.value(node.input[0])],
                       {"axes": list(range(2, rank)), "keepdims": True})
    return handler


def _batch_norm(im, node, attrs):
    if attrs.get("training_mode", 0):
        raise UnsupportedError("training_mode")
    shape, dtype = im.shape(node.input[0]), im.dtype(node.input[0])
    x, scale, bias, mean, var = [im.value(i) for i in node.input[:5]]
    return im.graph.batch_norm_inference(x, shape, mean, var, scale, bias,
                                         float(attrs.get("epsilon", 1e-5)), dtype, _out(node))


def _instance_norm(im, node, attrs):
    shape, dtype = im.shape(node.input[0]), im.dtype(node.input[0])
    name = _out(node)
    normed, *_ = im.graph.normalized(im.value(node.input[0]), list(range(2, len(shape))),
                                     float(attrs.get("epsilon", 1e-5)), dtype, name)
    return im.graph.affine(normed, im.value(node.input[1]), im.value(node.input[2]), shape,
                           name)


def _group_norm(im, node, attrs):
    """GroupNormalization (opset 21: per-channel scale and bias)."""
    if im.opset < 21:
        raise UnsupportedError("GroupNormalization before opset 21 (per-group scale)")
    shape, dtype = im.shape(node.input[0]), im.dtype(node.input[0])
    return im.graph.group_norm(im.value(node.input[0]), shape, attrs["num_groups"],
                               im.value(node.input[1]), im.value(node.input[2]),
                               float(attrs.get("epsilon", 1e-5)), dtype, _out(node))[0]


def _pad(im, node, attrs):
    shape, dtype = im.shape(node.input[0]), im.dtype(node.input[0])
    mode = attrs.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if im.opset < 11:
        pads, value = list(attrs["pads"]), attrs.get("value", 0.0)
        axes = list(range(len(shape)))
    else:
        pads = [int(v) for v in im.static(node.input[1], "pads")]
        value = im.static(node.input[2], "the constant value").item() \
            if len(node.input) > 2 and node.input[2] else 0
        axes = [int(a) % len(shape) for a in im.static(node.input[3], "axes")] \
            if len(node.input) > 3 and node.input[3] else list(range(len(shape)))
    pairs = [(0, 0)] * len(shape)
    for i, axis in enumerate(axes):
        pairs[axis] = (pads[i], pads[i + len(axes)])
    value, out_shape = im.graph.pad(im.value(node.input[0]), shape, dtype, pairs, mode, value,
                                    _out(node))
    im.set_shape(_out(node), out_shape)
    return value


def _tile(im, node, attrs):
    repeats = [int(v) for v in im.static(node.input[1], "repeats")]
    return im.graph.tile(im.value(node.input[0]), im.shape(node.input[0]), repeats, _out(node))


def _cast(im, node, attrs, dtype=None):
    dtype = dtype or ONNX_TO_UBE.get(attrs["to"])
    if dtype is None:
        raise UnsupportedError(f"cast to {onnx.TensorProto.DataType.Name(attrs['to'])}")
    if im.dtype(node.input[0]) is None:
        raise UnsupportedError("cast from an unsupported type")
    if dtype == im.dtype(node.input[0]):
        return im.value(node.input[0])
    return im.emit(_out(node), "cast", [im.value(node.input[0])], dtype=dtype)


def _cast_like(im, node, attrs):
    dtype = im.dtype(node.input[1])
    if dtype is None:
        raise UnsupportedError("cast to an unsupported type")
    return _cast(im, node, attrs, dtype)


def _where(im, node, attrs):
    return im.emit(_out(node), "where", [im.value(i) for i in node.input])


def _expand(im, node, attrs):
    target = im.sizes_operand(node.input[1], "the target shape")
    shape = _broadcast(im.shape(node.input[0]), target)
    if shape is None:
        raise UnsupportedError(f"{im.shape(node.input[0])} does not broadcast to {target}")
    im.set_shape(_out(node), shape)
    if shape == im.shape(node.input[0]):
        return im.value(node.input[0])
    return im.emit(_out(node), "broadcast_to", [im.value(node.input[0])], shape=shape)


def _flatten(im, node, attrs):
    shape = im.shape(node.input[0])
    axis = attrs.get("axis", 1)
    axis = axis + len(shape) if axis < 0 else axis
    return _reshape_to(im, node, [size_prod(shape[:axis]), size_prod(shape[axis:])])


def _range(im, node, attrs):
    """Range(0, n, 1) of a symbolic n: a ube.arange of that length (static
    ranges were folded before)."""
    start, limit, delta = node.input
    dtype = im.dtype(start)
    n = im.sizes_operand(limit, "the limit")[0]
    if [float(im.static(start, "the start")), float(im.static(delta, "the step"))] != [0, 1]:
        raise UnsupportedError("a range of symbolic length that does not start at 0 by 1")
    im.set_shape(_out(node), [n])
    return im.emit(_out(node), "arange", [], {"start": 0.0, "step": 1.0}, dtype=dtype,
                   shape=[n])


def _constant_of_shape(im, node, attrs):
    shape = im.sizes_operand(node.input[0], "the shape")
    value = numpy_helper.to_array(attrs["value"]).reshape(()) if "value" in attrs else \
        np.float32(0)
    im.set_shape(_out(node), shape)
    scalar = im.constant(np.asarray(value))
    return im.emit(_out(node), "broadcast_to", [scalar], shape=shape)


def _reduce(op):
    def handler(im, node, attrs):
        keep = bool(attrs.get("keepdims", 1))
        axes = attrs.get("axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            axes = im.static(node.input[1], "axes").tolist()
        if not axes and attrs.get("noop_with_empty_axes", 0):
            return im.value(node.input[0])
        result = {"keepdims": keep}
        if axes:
            result["axes"] = [int(a) for a in axes]
        x = im.value(node.input[0])
        if im.dtype(node.input[0]) == "i1" and op in ("reduce_max", "reduce_min"):
            # The max (min) of booleans is their "any" ("all"): reduced as integers.
            wide = im.emit(f"{_out(node)}_i32", "cast", [x], dtype="i32")
            reduced = im.emit(f"{_out(node)}_reduced", op, [wide], result)
            return im.emit(_out(node), "cast", [reduced], dtype="i1")
        return im.emit(_out(node), op, [x], result)
    return handler


def _identity(im, node, attrs):
    return im.value(node.input[0])


def _dropout(im, node, attrs):
    """Inference-mode Dropout: the input, and a mask of all true."""
    if len(node.input) > 2 and node.input[2]:
        if bool(im.static(node.input[2], "training_mode")):
            raise UnsupportedError("training-mode dropout")
    x = im.value(node.input[0])
    if len(node.output) < 2 or not node.output[1]:
        return x
    mask = im.emit(f"{node.output[1]}", "broadcast_to", [im.constant(np.array(True))],
                   shape=im.shape(node.input[0]))
    return [x, mask]


def _constant(im, node, attrs):
    if "value" in attrs:
        return numpy_helper.to_array(attrs["value"])
    for key, dtype in [("value_float", np.float32), ("value_int", np.int64),
                       ("value_floats", np.float32), ("value_ints", np.int64)]:
        if key in attrs:
            return np.array(attrs[key], dtype)
    raise UnsupportedError("this kind of Constant")


def _shape(im, node, attrs):
    start, end = attrs.get("start", 0), attrs.get("end", None)
    return _sizes_value(np.array(im.shape(node.input[0]), dtype=object)[start:end])


def _not(im, node, attrs):
    return im.emit(_out(node), "logical_not", [im.value(node.input[0])])


def _xor(im, node, attrs):
    return im.emit(_out(node), "compare", [im.value(node.input[0]), im.value(node.input[1])],
                   {"predicate": "ne"})


OPS = {
    "Add": _binary("add"), "Sub": _binary("sub"), "Mul": _binary("mul"), "Div": _binary("div"),
    "Pow": _pow, "Max": _variadic("maximum"), "Min": _variadic("minimum"),
    "Sum": _variadic("add"), "Mean": _variadic("add", mean=True),
    "And": _binary("logical_and"), "Or": _binary("logical_or"), "Xor": _xor, "Not": _not,
    "Equal": _compare("eq"), "Less": _compare("lt"), "LessOrEqual": _compare("le"),
    "Greater": _compare("gt"), "GreaterOrEqual": _compare("ge"),
    "Abs": _unary("abs"), "Neg": _unary("neg"), "Exp": _unary("exp"), "Log": _unary("log"),
    "Sqrt": _unary("sqrt"), "Tanh": _unary("tanh"), "Sigmoid": _unary("sigmoid"),
    "Relu": _unary("relu"), "Erf": _unary("erf"), "Gelu": _gelu, "Reciprocal": _reciprocal,
    "Sin": _unary("sin"), "Cos": _unary("cos"), "Swish": _swish,
    "LeakyRelu": _activation("leaky_relu", alpha=("alpha", 0.01)),
    "Elu": _activation("elu", alpha=("alpha", 1.0)),
    "Selu": _activation("elu", alpha=("alpha", 1.67326319217681884765625),
                        scale=("gamma", 1.05070102214813232421875)),
    "Celu": _celu, "HardSigmoid": _activation("hard_sigmoid", alpha=("alpha", 0.2),
                                              beta=("beta", 0.5)),
    "HardSwish": _activation("hard_swish"), "Mish": _activation("mish"),
    "Softplus": _activation("softplus"), "Clip": _clip,
    "Softmax": _softmax("softmax"), "LogSoftmax": _softmax("log_softmax"),
    "LayerNormalization": _layer_norm, "RMSNormalization": _rms_norm,
    "Attention": _attention, "Gemm": _gemm, "MatMul": _matmul,
    "Transpose": _transpose, "Reshape": _reshape, "Squeeze": _squeeze_like,
    "Unsqueeze": _squeeze_like, "Flatten": _flatten, "Concat": _concat, "Slice": _slice,
    "Gather": _gather, "Cast": _cast, "CastLike": _cast_like, "Where": _where, "Expand": _expand,
    "ReduceSum": _reduce("reduce_sum"), "ReduceMean": _reduce("reduce_mean"),
    "ReduceMax": _reduce("reduce_max"), "Identity": _identity, "Dropout": _dropout,
    "Constant": _constant, "Shape": _shape, "Split": _split, "CumSum": _cumsum,
    "Range": _range, "ConstantOfShape": _constant_of_shape,
    "NegativeLogLikelihoodLoss": _nll_loss, "SoftmaxCrossEntropyLoss": _softmax_cross_entropy,
    "Conv": _conv, "MaxPool": _pool("max_pool"), "AveragePool": _pool("avg_pool"),
    "GlobalAveragePool": _global_pool("reduce_mean"), "GlobalMaxPool": _global_pool("reduce_max"),
    "BatchNormalization": _batch_norm, "InstanceNormalization": _instance_norm,
    "GroupNormalization": _group_norm, "Pad": _pad, "Tile": _tile,
    "IsNaN": _isnan, "GatherND": _gather_nd, "GatherElements": _gather_elements,
    "ArgMax": _arg_reduce("argmax"), "ArgMin": _arg_reduce("argmin"), "Hardmax": _hardmax,
    "TopK": _topk,
    "ReduceMin": _reduce("reduce_min"), "Trilu": _trilu, "Mod": _mod,
    **{name: _unary(name.lower()) for name in ("Tan", "Atan", "Asin", "Acos", "Sinh", "Cosh",
                                                "Asinh", "Acosh", "Atanh")},
    "Softsign": _softsign, "ThresholdedRelu": _thresholded_relu, "Shrink": _shrink,
    "Floor": _unary("floor"), "Ceil": _unary("ceil"), "Round": _unary("round"),
    "Sign": _unary("sign"), "LpNormalization": _lp_normalization,
    "SpaceToDepth": _space_to_depth, "DepthToSpace": _depth_to_space, "EyeLike": _eye_like,
    "PRelu": _prelu, "IsInf": _isinf, "ConvTranspose": _conv_transpose, "Resize": _resize,
    "LpPool": _lp_pool,
    "Upsample": _resize,
}


def import_onnx(model, path, *, static_inputs=None, dims=None):
    """Writes the ONNX `model` (a ModelProto or a path) as the graph file
    `path` (and `<stem>.safetensors` for initializers). Returns the graph.
    `dims` bounds the symbols of the inputs' dim_params ({"batch": {"max":
    32}}; without, a symbol is unbounded)."""
    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(model))
    importer = _Importer(model, static_inputs, dims)
    importer.run()
    return importer.graph.write(path, model.graph.name or "onnx")

# Operators whose result has the broadcast shape of their operands.
ELEMENTWISE = {
    "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "And", "Or", "Xor", "Not",
    "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "Abs", "Neg", "Exp", "Log",
    "Sqrt", "Tanh", "Sigmoid", "Relu", "Erf", "Gelu", "Reciprocal", "Sin", "Cos", "Swish", "LeakyRelu",
    "Elu", "Selu", "Celu", "HardSigmoid", "HardSwish", "Mish", "Softplus", "Clip", "Softmax",
    "LogSoftmax", "Where",
    "Cast", "IsNaN", "Identity", "LayerNormalization", "Mod", "Floor", "Ceil", "Round", "Sign",
    "PRelu", "IsInf", "Trilu", "Tan", "Atan", "Asin", "Acos", "Sinh", "Cosh", "Asinh", "Acosh",
    "Atanh", "Softsign", "ThresholdedRelu", "Shrink",
}
