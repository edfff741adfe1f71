"""PyTorch frontend: torch.fx traces a module into a ube graph file.

    ube.export(module, example_inputs, "model.json")

writes model.json and model.safetensors. Every call_module / call_function /
call_method node maps to ube ops; shapes come from running the example
inputs through the traced graph (fx ShapeProp), so `view(-1, ...)`,
`size()` arithmetic and the like become static shapes. A construct without a
mapping is an ExportError naming the fx node and the line of the module's
source it came from. Modules export in their current mode: in eval mode
dropout is the identity.
"""
import math
import operator

import numpy as np
import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F
from torch.fx.passes.shape_prop import ShapeProp

from ube.graph_builder import GraphBuilder

TORCH_TO_UBE = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16",
                torch.int64: "i64", torch.int32: "i32", torch.bool: "i1"}


class ExportError(Exception):
    """A module construct ube cannot express (yet)."""


def replace_module_output(student, teacher, module_id, slope, offset, seed=0):
    """BERT-of-Theseus module replacement, as the frontend spells it: exports
    as `ube.bernoulli_select` between the two outputs, drawn per step from
    (seed, step, module_id) with probability `transfer_probability` =
    min(1, slope·step + offset); the graph gains an i64 scalar input `step`.
    Eager PyTorch (shape propagation) returns the student's output."""
    if student.shape != teacher.shape or student.dtype != teacher.dtype:
        raise ExportError(f"module replacement {module_id}: the student module gives "
                          f"{list(student.shape)} {student.dtype}, the teacher modules "
                          f"{list(teacher.shape)} {teacher.dtype}; they must match")
    return student


torch.fx.wrap("replace_module_output")


def _source_location(node):
    """' at File "model.py", line 12, in forward: <source line>' for a node
    traced with record_stack_traces (the first frame is the user's code)."""
    lines = [l.strip() for l in (node.meta.get("stack_trace") or "").splitlines() if l.strip()]
    for i, line in enumerate(lines):
        if line.startswith("File "):
            source = lines[i + 1] if i + 1 < len(lines) and not lines[i + 1].startswith(
                "File ") else ""
            return f" at {line}: {source}" if source else f" at {line}"
    return ""


class _Exporter:
    def __init__(self, module, example_inputs):
        self.module = module
        tracer = torch.fx.Tracer()
        tracer.record_stack_traces = True
        graph = tracer.trace(module)
        self.gm = torch.fx.GraphModule(module, graph)
        ShapeProp(self.gm).propagate(*example_inputs)
        self.graph = GraphBuilder()
        self.values = {}  # fx node -> ube value name, or a static Python value
        self.probabilities = {}  # (slope, offset) -> transfer_probability value

    # -- helpers ---------------------------------------------------------
    def meta(self, node):
        m = node.meta.get("tensor_meta")
        if m is None or not hasattr(m, "shape"):
            raise self.error(node, "has no single tensor result")
        if m.dtype not in TORCH_TO_UBE:
            raise self.error(node, f"produces {m.dtype}, which ube does not support")
        return list(m.shape), TORCH_TO_UBE[m.dtype]

    def error(self, node, what):
        target = node.target if isinstance(node.target, str) else getattr(
            node.target, "__name__", str(node.target))
        return ExportError(f"cannot export fx node '{node.name}' ({node.op} {target}): "
                           f"{what}{_source_location(node)}")

    def emit(self, base, op, inputs, attrs=None, **fields):
        return self.graph.emit(base, op, inputs, attrs, **fields)

    def constant(self, value, dtype):
        return self.graph.constant(value, dtype)

    def parameter(self, name, tensor):
        tensor = tensor.detach().cpu()
        if tensor.dtype not in TORCH_TO_UBE:
            raise ExportError(f"parameter '{name}' has unsupported dtype {tensor.dtype}")
        return self.graph.add_parameter(
            name, tensor if tensor.dtype == torch.bfloat16 else tensor.numpy())

    def value(self, arg, node, dtype=None):
        """The ube value of an fx argument; Python scalars become constants."""
        if isinstance(arg, torch.fx.Node):
            v = self.values[arg]
            if isinstance(v, str):
                return v
            arg = v
        if isinstance(arg, (bool, int, float)):
            return self.constant(arg, dtype or "f32")
        raise self.error(node, f"argument {arg!r} is not a tensor or a number")

    def static(self, arg):
        """A Python value known at export time (size() results and arithmetic)."""
        if isinstance(arg, torch.fx.Node):
            return self.values[arg]
        if isinstance(arg, (list, tuple)):
            return type(arg)(self.static(a) for a in arg)
        return arg

    def is_tensor(self, arg):
        return isinstance(arg, torch.fx.Node) and isinstance(self.values.get(arg), str)

    # -- nodes -----------------------------------------------------------
    def run(self, input_names):
        placeholders = [n for n in self.gm.graph.nodes if n.op == "placeholder"]
        for i, node in enumerate(self.gm.graph.nodes):
            if node.op == "placeholder":
                shape, dtype = self.meta(node)
                name = input_names[placeholders.index(node)] if input_names else node.name
                self.values[node] = self.graph.add_input(name, dtype, shape)
            elif node.op == "get_attr":
                self.values[node] = self.parameter(node.target, self.fetch_attr(node.target))
            elif node.op == "output":
                result = node.args[0]
                results = result if isinstance(result, (tuple, list)) else [result]
                for r in results:
                    if not self.is_tensor(r):
                        raise self.error(node, "outputs must be tensors (no dicts or numbers)")
                    self.graph.outputs.append(self.values[r])
            else:
                self.values[node] = self.convert(node)

    def fetch_attr(self, target):
        obj = self.module
        for part in target.split("."):
            obj = getattr(obj, part)
        return obj

    def convert(self, node):
        if node.op == "call_module":
            module = self.fetch_attr(node.target)
            handler = MODULES.get(type(module))
            if handler is None:
                raise self.error(node, f"module {type(module).__name__} is not supported")
            return handler(self, node, module)
        if node.op == "call_function":
            # Arithmetic on shapes stays Python.
            if not any(self.is_tensor(a) for a in node.args) and node.target in STATIC_FUNCTIONS:
                return node.target(*self.static(node.args), **self.static(node.kwargs))
            handler = FUNCTIONS.get(node.target)
            if handler is None:
                raise self.error(node, "function is not supported")
            return handler(self, node)
        if node.op == "call_method":
            handler = METHODS.get(node.target)
            if handler is None:
                raise self.error(node, f"tensor method '{node.target}' is not supported")
            return handler(self, node)
        raise self.error(node, "unexpected node kind")


# -- mappings ----------------------------------------------------------------

def _arg(node, index, name, default=None):
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def _unary(op):
    return lambda ex, node: ex.emit(node.name, op, [ex.value(node.args[0], node)])


def _binary(op):
    def handler(ex, node):
        a, b = _arg(node, 0, "input"), _arg(node, 1, "other")
        _, dtype = ex.meta(node)
        operands = []
        for x in (a, b):
            v = ex.value(x, node, dtype)
            if ex.is_tensor(x) and ex.meta(x)[1] != dtype:
                v = ex.emit(f"{node.name}_cast", "cast", [v], dtype=dtype)
            operands.append(v)
        if op == "rsub":
            operands.reverse()
        return ex.emit(node.name, "sub" if op == "rsub" else op, operands)
    return handler


def _compare(predicate):
    def handler(ex, node):
        a, b = node.args[0], node.args[1]
        dtype = ex.meta(a)[1] if ex.is_tensor(a) else ex.meta(b)[1]
        return ex.emit(node.name, "compare", [ex.value(a, node, dtype), ex.value(b, node, dtype)],
                       {"predicate": predicate})
    return handler


def _reshape(ex, node):
    shape, _ = ex.meta(node)
    return ex.emit(node.name, "reshape", [ex.value(node.args[0], node)], shape=shape)


def _identity(ex, node):
    return ex.value(node.args[0], node)


def _normalize_dim(dim, rank):
    return dim + rank if dim < 0 else dim


def _permute(ex, node):
    dims = node.args[1:] if len(node.args) > 2 or not isinstance(node.args[1], (list, tuple)) \
        else node.args[1]
    return ex.emit(node.name, "transpose", [ex.value(node.args[0], node)],
                   {"perm": [int(d) for d in ex.static(list(dims))]})


def _transpose(ex, node):
    x = node.args[0]
    rank = len(ex.meta(x)[0])
    perm = list(range(rank))
    if node.target in ("t",) or node.target is torch.t:
        perm = [1, 0] if rank == 2 else perm
    else:
        d0 = _normalize_dim(ex.static(node.args[1]), rank)
        d1 = _normalize_dim(ex.static(node.args[2]), rank)
        perm[d0], perm[d1] = perm[d1], perm[d0]
    return ex.emit(node.name, "transpose", [ex.value(x, node)], {"perm": perm})


def _matmul(ex, node):
    return ex.emit(node.name, "matmul", [ex.value(node.args[0], node), ex.value(node.args[1], node)])


def _softmax(op):
    def handler(ex, node):
        dim = _arg(node, 1, "dim")
        if dim is None:
            raise ex.error(node, "needs an explicit dim")
        return ex.emit(node.name, op, [ex.value(node.args[0], node)], {"axis": int(dim)})
    return handler


def _linear_function(ex, node):
    inputs = [ex.value(node.args[0], node), ex.value(_arg(node, 1, "weight"), node)]
    bias = _arg(node, 2, "bias")
    if bias is not None:
        inputs.append(ex.value(bias, node))
    return ex.emit(node.name, "linear", inputs)


def _gelu_function(ex, node):
    approximate = node.kwargs.get("approximate", "none")
    return ex.emit(node.name, "gelu", [ex.value(node.args[0], node)],
                   {"approximate": approximate} if approximate != "none" else None)


def _layer_norm_function(ex, node):
    shape = _arg(node, 1, "normalized_shape")
    weight, bias = _arg(node, 2, "weight"), _arg(node, 3, "bias")
    eps = _arg(node, 4, "eps", 1e-5)
    inputs = [ex.value(node.args[0], node)]
    if weight is not None:
        inputs.append(ex.value(weight, node))
        if bias is not None:
            inputs.append(ex.value(bias, node))
    elif bias is not None:
        raise ex.error(node, "a LayerNorm bias without a weight is not supported")
    return ex.emit(node.name, "layer_norm", inputs,
                   {"axis": -len(ex.static(shape)), "epsilon": float(eps)})


def _dropout_function(ex, node):
    if _arg(node, 2, "training", True) and ex.module.training:
        p = float(_arg(node, 1, "p", 0.5))
        return ex.emit(node.name, "dropout", [ex.value(node.args[0], node)], {"rate": p})
    return ex.value(node.args[0], node)


def _replace_module_output(ex, node):
    student, teacher, module_id, slope, offset = node.args[:5]
    seed = int(_arg(node, 5, "seed", 0))
    step = [i for i in ex.graph.inputs if i["name"] == "step"]
    if not step and "step" in ex.graph.used:
        raise ex.error(node, "needs an input named 'step', but a value has that name")
    if not step:
        ex.graph.add_input("step", "i64", [])
    elif step[0]["dtype"] != "i64" or step[0]["shape"]:
        raise ex.error(node, "the input 'step' must be an i64 scalar (the training step)")
    key = (float(slope), float(offset))
    if key not in ex.probabilities:
        ex.probabilities[key] = ex.emit("replace_probability", "transfer_probability", ["step"],
                                        {"slope": key[0], "offset": key[1]})
    return ex.emit(node.name, "bernoulli_select",
                   [ex.probabilities[key], "step", ex.value(student, node),
                    ex.value(teacher, node)], {"module_id": int(module_id), "seed": seed})


def _reduction_attrs(ex, node, dim_index=1, keep_index=2):
    dim = _arg(node, dim_index, "dim")
    keep = bool(_arg(node, keep_index, "keepdim", False))
    attrs = {"keepdims": keep} if keep else {}
    if dim is not None:
        dims = dim if isinstance(dim, (list, tuple)) else [dim]
        attrs["axes"] = [int(d) for d in ex.static(list(dims))]
    return attrs or None


def _reduce(op):
    def handler(ex, node):
        return ex.emit(node.name, op, [ex.value(node.args[0], node)], _reduction_attrs(ex, node))
    return handler


def _var(ex, node):
    """var(x, dim, unbiased|correction, keepdim): the mean of squared
    deviations from the mean over `dim`, times n / (n - correction) unless
    the correction is 0 (the biased variance, as LayerNorm and MobileBERT's
    feature-map terms use)."""
    x = ex.value(node.args[0], node)
    shape, _ = ex.meta(node.args[0])
    dim = _arg(node, 1, "dim")
    correction, keep = 1, bool(node.kwargs.get("keepdim", False))
    if len(node.args) > 2 and isinstance(node.args[2], bool):
        correction = int(node.args[2])
        keep = bool(_arg(node, 3, "keepdim", keep))
    elif "unbiased" in node.kwargs:
        correction = int(bool(node.kwargs["unbiased"]))
    elif node.kwargs.get("correction") is not None:
        correction = node.kwargs["correction"]
    dims = list(range(len(shape))) if dim is None else (
        [dim] if not isinstance(dim, (list, tuple)) else list(dim))
    axes = [int(d) for d in ex.static(dims)]
    n = node.name
    mean = ex.emit(f"{n}_mean", "reduce_mean", [x], {"axes": axes, "keepdims": True})
    deviation = ex.emit(f"{n}_dev", "sub", [x, mean])
    attrs = {"axes": axes, **({"keepdims": True} if keep else {})}
    count = int(np.prod([shape[a] for a in axes]))
    if not correction:
        return ex.emit(n, "reduce_mean", [ex.emit(f"{n}_sq", "mul", [deviation, deviation])],
                       attrs)
    if count <= correction:
        raise ex.error(node, f"var over {count} elements with correction {correction}")
    biased = ex.emit(f"{n}_biased", "reduce_mean",
                     [ex.emit(f"{n}_sq", "mul", [deviation, deviation])], attrs)
    return ex.emit(n, "mul", [biased, ex.constant(count / (count - correction), "f32")])


def _l1_loss(ex, node):
    """l1_loss(input, target): |input - target|, reduced (no ube op: the
    distillation fusion pass reads this form)."""
    n = node.name
    reduction = node.kwargs.get("reduction", "mean")
    terms = ex.emit(f"{n}_abs", "abs", [ex.emit(f"{n}_diff", "sub", [
        ex.value(node.args[0], node), ex.value(_arg(node, 1, "target"), node)])])
    if reduction == "none":
        return terms
    return ex.emit(n, "reduce_mean" if reduction == "mean" else "reduce_sum", [terms])


def _cross_entropy(ex, node):
    logits, labels = node.args[0], _arg(node, 1, "target")
    if len(ex.meta(logits)[0]) != 2:
        raise ex.error(node, "cross_entropy exports [N, C] logits only (classes on axis 1)")
    attrs = {"ignore_index": int(node.kwargs.get("ignore_index", -100)),
             "reduction": node.kwargs.get("reduction", "mean")}
    if node.kwargs.get("label_smoothing", 0.0):
        raise ex.error(node, "label_smoothing is not supported")
    return ex.emit(node.name, "cross_entropy", [ex.value(logits, node), ex.value(labels, node)],
                   attrs)


def _mse_loss(ex, node):
    return ex.emit(node.name, "mse_loss", [ex.value(node.args[0], node),
                                           ex.value(_arg(node, 1, "target"), node)],
                   {"reduction": node.kwargs.get("reduction", "mean")})


def _kl_div(ex, node):
    """kl_div(input=log q, target=p): sum of p (log p - input), as PyTorch
    (0 where p = 0), reduced; the ube graph keeps the primitive form for the
    distillation fusion pass to recognize."""
    log_q, target = ex.value(node.args[0], node), ex.value(_arg(node, 1, "target"), node)
    reduction = node.kwargs.get("reduction", "mean")
    log_target = node.kwargs.get("log_target", False)
    n = node.name
    if log_target:
        log_p, p = target, ex.emit(f"{n}_p", "exp", [target])
        terms = ex.emit(f"{n}_terms", "mul", [p, ex.emit(f"{n}_diff", "sub", [log_p, log_q])])
    else:
        zero = ex.constant(0.0, "f32")
        positive = ex.emit(f"{n}_pos", "compare", [target, zero], {"predicate": "gt"})
        log_p = ex.emit(f"{n}_logp", "log", [target])
        raw = ex.emit(f"{n}_raw", "mul", [target, ex.emit(f"{n}_diff", "sub", [log_p, log_q])])
        terms = ex.emit(f"{n}_terms", "where", [positive, raw, zero])
    shape, _ = ex.meta(node.args[0])
    if reduction == "none":
        return terms
    total = ex.emit(f"{n}_sum", "reduce_sum", [terms])
    if reduction == "sum":
        return total
    count = shape[0] if reduction == "batchmean" else int(np.prod(shape))
    return ex.emit(n, "div", [total, ex.constant(float(count), "f32")])


def _masked_fill(ex, node):
    x, mask, value = node.args[0], node.args[1], node.args[2]
    _, dtype = ex.meta(x)
    return ex.emit(node.name, "where", [ex.value(mask, node), ex.value(value, node, dtype),
                                        ex.value(x, node)])


def _where(ex, node):
    c, a, b = node.args
    _, dtype = ex.meta(node)
    return ex.emit(node.name, "where", [ex.value(c, node), ex.value(a, node, dtype),
                                        ex.value(b, node, dtype)])


def _cast(ex, node):
    _, dtype = ex.meta(node)
    x = node.args[0]
    if ex.meta(x)[1] == dtype:
        return ex.value(x, node)
    return ex.emit(node.name, "cast", [ex.value(x, node)], dtype=dtype)


def _expand(ex, node):
    shape, _ = ex.meta(node)
    return ex.emit(node.name, "broadcast_to", [ex.value(node.args[0], node)], shape=shape)


def _cat(ex, node):
    tensors = node.args[0]
    dim = int(_arg(node, 1, "dim", 0))
    return ex.emit(node.name, "concat", [ex.value(t, node) for t in tensors], {"axis": dim})


def _embedding_function(ex, node):
    return ex.emit(node.name, "gather", [ex.value(_arg(node, 1, "weight"), node),
                                         ex.value(node.args[0], node)])


def _pow(ex, node):
    _, dtype = ex.meta(node)
    return ex.emit(node.name, "pow", [ex.value(node.args[0], node, dtype),
                                      ex.value(node.args[1], node, dtype)])


def _getitem(ex, node):
    base, index = node.args
    if not ex.is_tensor(base):
        return ex.static(base)[ex.static(index)]
    shape, _ = ex.meta(base)
    index = index if isinstance(index, tuple) else (index,)
    if any(i is Ellipsis for i in index):
        at = index.index(Ellipsis)
        fill = len(shape) - (len(index) - 1 - sum(i is None for i in index))
        index = index[:at] + (slice(None),) * fill + index[at + 1:]
    start, limit, stride, d = [], [], [], 0
    for i in index:
        if i is None:
            continue
        if isinstance(i, torch.fx.Node):
            raise ex.error(node, "tensor indexing is not supported")
        if isinstance(i, int):
            i = slice(i, i + 1 if i != -1 else None)
        s, e, st = i.indices(shape[d])
        if st <= 0:
            raise ex.error(node, "negative steps are not supported")
        start.append(s), limit.append(max(s, e)), stride.append(st)
        d += 1
    for size in shape[d:]:
        start.append(0), limit.append(size), stride.append(1)
    sliced = ex.emit(f"{node.name}_slice", "slice", [ex.value(base, node)],
                     {"start": start, "limit": limit, "stride": stride})
    out_shape, _ = ex.meta(node)
    return ex.emit(node.name, "reshape", [sliced], shape=out_shape)


def _size(ex, node):
    shape, _ = ex.meta(node.args[0])
    dim = _arg(node, 1, "dim")
    return torch.Size(shape) if dim is None else shape[dim]


def _getattr(ex, node):
    """`x.shape` and `x.ndim` of a tensor: static, as size() is."""
    obj, attr = node.args[0], node.args[1]
    if ex.is_tensor(obj) and attr in ("shape", "ndim"):
        shape, _ = ex.meta(obj)
        return torch.Size(shape) if attr == "shape" else len(shape)
    raise ex.error(node, f"attribute '{attr}' is not supported")


def _module_linear(ex, node, m):
    inputs = [ex.value(node.args[0], node), ex.parameter(f"{node.target}.weight", m.weight)]
    if m.bias is not None:
        inputs.append(ex.parameter(f"{node.target}.bias", m.bias))
    return ex.emit(node.name, "linear", inputs)


def _module_layer_norm(ex, node, m):
    inputs = [ex.value(node.args[0], node)]
    if m.elementwise_affine:
        inputs.append(ex.parameter(f"{node.target}.weight", m.weight))
        if m.bias is not None:
            inputs.append(ex.parameter(f"{node.target}.bias", m.bias))
    return ex.emit(node.name, "layer_norm", inputs,
                   {"axis": -len(m.normalized_shape), "epsilon": float(m.eps)})


def _module_embedding(ex, node, m):
    if m.padding_idx is not None or m.max_norm is not None:
        pass  # forward lookups are plain gathers either way
    return ex.emit(node.name, "gather", [ex.parameter(f"{node.target}.weight", m.weight),
                                         ex.value(node.args[0], node)])


def _module_dropout(ex, node, m):
    if m.training and m.p > 0:
        return ex.emit(node.name, "dropout", [ex.value(node.args[0], node)], {"rate": float(m.p)})
    return ex.value(node.args[0], node)


def _module_simple(op, attrs=lambda m: None):
    return lambda ex, node, m: ex.emit(node.name, op, [ex.value(node.args[0], node)], attrs(m))


MODULES = {
    nn.Linear: _module_linear,
    nn.LayerNorm: _module_layer_norm,
    nn.Embedding: _module_embedding,
    nn.Dropout: _module_dropout,
    nn.Identity: lambda ex, node, m: ex.value(node.args[0], node),
    nn.ReLU: _module_simple("relu"),
    nn.Tanh: _module_simple("tanh"),
    nn.Sigmoid: _module_simple("sigmoid"),
    nn.GELU: _module_simple("gelu", lambda m: {"approximate": m.approximate}
                            if getattr(m, "approximate", "none") != "none" else None),
    nn.Softmax: _module_simple("softmax", lambda m: {"axis": int(m.dim)}),
    nn.LogSoftmax: _module_simple("log_softmax", lambda m: {"axis": int(m.dim)}),
}

STATIC_FUNCTIONS = {operator.add, operator.sub, operator.mul, operator.floordiv,
                    operator.truediv, operator.getitem, operator.neg, operator.pow, math.sqrt,
                    int, float}

FUNCTIONS = {
    getattr: _getattr,
    operator.add: _binary("add"), torch.add: _binary("add"),
    operator.sub: _binary("sub"), torch.sub: _binary("sub"),
    operator.mul: _binary("mul"), torch.mul: _binary("mul"),
    operator.truediv: _binary("div"), torch.div: _binary("div"),
    operator.pow: _pow, torch.pow: _pow,
    torch.maximum: _binary("maximum"), torch.minimum: _binary("minimum"),
    operator.neg: _unary("neg"), torch.neg: _unary("neg"),
    operator.invert: _unary("logical_not"), torch.logical_not: _unary("logical_not"),
    operator.and_: _binary("logical_and"), torch.logical_and: _binary("logical_and"),
    operator.or_: _binary("logical_or"), torch.logical_or: _binary("logical_or"),
    operator.matmul: _matmul, torch.matmul: _matmul, torch.bmm: _matmul,
    operator.getitem: _getitem,
    operator.lt: _compare("lt"), operator.le: _compare("le"), operator.gt: _compare("gt"),
    operator.ge: _compare("ge"), operator.eq: _compare("eq"), operator.ne: _compare("ne"),
    torch.exp: _unary("exp"), torch.log: _unary("log"), torch.sqrt: _unary("sqrt"),
    torch.rsqrt: _unary("rsqrt"), torch.tanh: _unary("tanh"), torch.sigmoid: _unary("sigmoid"),
    torch.relu: _unary("relu"), torch.abs: _unary("abs"), torch.erf: _unary("erf"),
    F.relu: _unary("relu"), F.gelu: _gelu_function, F.linear: _linear_function,
    F.softmax: _softmax("softmax"), torch.softmax: _softmax("softmax"),
    F.log_softmax: _softmax("log_softmax"), torch.log_softmax: _softmax("log_softmax"),
    F.layer_norm: _layer_norm_function, F.dropout: _dropout_function,
    F.embedding: _embedding_function,
    F.cross_entropy: _cross_entropy, F.mse_loss: _mse_loss, F.kl_div: _kl_div,
    F.l1_loss: _l1_loss, torch.var: _var,
    torch.where: _where, torch.cat: _cat, torch.reshape: _reshape, torch.flatten: _reshape,
    torch.transpose: _transpose, torch.t: _transpose, torch.permute: _permute,
    torch.sum: _reduce("reduce_sum"), torch.mean: _reduce("reduce_mean"),
    torch.amax: _reduce("reduce_max"), torch.unsqueeze: _reshape, torch.squeeze: _reshape,
    replace_module_output: _replace_module_output,
}

METHODS = {
    "view": _reshape, "reshape": _reshape, "flatten": _reshape, "unsqueeze": _reshape,
    "squeeze": _reshape, "permute": _permute, "transpose": _transpose, "t": _transpose,
    "contiguous": _identity, "size": _size, "matmul": _matmul,
    "masked_fill": _masked_fill, "softmax": _softmax("softmax"),
    "log_softmax": _softmax("log_softmax"), "add": _binary("add"), "sub": _binary("sub"),
    "mul": _binary("mul"), "div": _binary("div"), "pow": _pow, "exp": _unary("exp"),
    "log": _unary("log"), "sqrt": _unary("sqrt"), "rsqrt": _unary("rsqrt"),
    "tanh": _unary("tanh"), "sigmoid": _unary("sigmoid"), "relu": _unary("relu"),
    "abs": _unary("abs"), "neg": _unary("neg"), "sum": _reduce("reduce_sum"),
    "mean": _reduce("reduce_mean"), "amax": _reduce("reduce_max"), "var": _var, "float": _cast,
    "to": _cast, "type": _cast, "long": _cast, "int": _cast, "bool": _cast, "half": _cast,
    "expand": _expand, "expand_as": _expand,
}


def export(module, example_inputs, path, *, input_names=None, name=None):
    """Traces `module` with torch.fx on `example_inputs` (a tuple) and writes
    the graph file `path` and its weights (`<stem>.safetensors`). Returns the
    graph as a dict."""
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    example_inputs = tuple(torch.as_tensor(x) for x in example_inputs)
    exporter = _Exporter(module, example_inputs)
    exporter.run(input_names)
    return exporter.graph.write(path, name or type(module).__name__)
