"""PyTorch frontend: torch.export, the ATen core opset, a ube graph file.

    ube.export(module, example_inputs, "model.json")

writes model.json and model.safetensors. `torch.export.export` traces the
module (non-strict: its Python runs as written, so `B, N = ids.shape`,
`q, k, v = x.chunk(3, -1)` and control flow on shapes work) into an
ExportedProgram, which is decomposed to the ATen core opset except for the
ops in KEPT_WHOLE: those ube has whole, with fused kernels or better forms
than their decompositions (linear, layer_norm, softmax, the losses, ...).
Every ATen op of the result maps to ube ops (ATEN_OPS); shapes are static,
taken from the example inputs, except the dimensions `dynamic_shapes` makes
symbolic (torch.export's `Dim`s): the graph file names them by the Dims'
names, with their bounds (graph format version 2), and one compiled
executable then runs at any sizes within them. Parameters and buffers keep
their state-dict names. An op without a mapping is an ExportError naming the op, the module it
came from (`nn_module_stack`) and the line of the user's source. Modules
export in their current mode: in eval mode dropout is the identity.
"""
import inspect
import math
import logging
import operator
import os
import warnings

import numpy as np
import sympy
import torch
from torch._subclasses.fake_tensor import unset_fake_temporarily
from torch.export.graph_signature import InputKind, OutputKind

from ube.dtypes import FLOATS, torch_to_ube
from ube.graph_builder import ExportError, GraphBuilder, offsets_along

aten = torch.ops.aten

TORCH_TO_UBE = torch_to_ube()

# Ops kept out of the core-ATen decomposition: ube has them whole.
# Resizes (both overloads): {ATen op: mode}. torch.export keeps them whole;
# AOT autograd (torch.compile) decomposes them into index and index_put.
RESIZES = {}
for _name, _mode in [("upsample_nearest1d", "nearest"), ("upsample_nearest2d", "nearest"),
                     ("upsample_nearest3d", "nearest"),
                     ("_upsample_nearest_exact1d", "nearest-exact"),
                     ("_upsample_nearest_exact2d", "nearest-exact"),
                     ("upsample_linear1d", "linear"), ("upsample_bilinear2d", "linear"),
                     ("upsample_trilinear3d", "linear")]:
    RESIZES[getattr(aten, _name).default] = RESIZES[getattr(aten, _name).vec] = _mode

KEPT_WHOLE = [
    aten.linear.default,            # ube.linear: matmul kernels with a bias epilogue
    aten.matmul.default,            # ube.matmul broadcasts batches itself
    aten.layer_norm.default,        # row kernels; feature-map fusion reads it
    aten.rms_norm.default,          # row kernels
    aten.softmax.int, aten.log_softmax.int,  # row kernels; KD/attention fusion reads them
    aten.dropout.default,           # ube.dropout: Philox masks, the same on every device
    aten.kl_div.default,            # the KD and attention-transfer fusion reads its form
    aten.mse_loss.default, aten.l1_loss.default,  # feature-map fusion
    aten.cross_entropy_loss.default,  # ube.cross_entropy: one streaming pass
    aten.scaled_dot_product_attention.default,  # one op, grouped-query heads without copies
    aten.pad.default,               # reflect/replicate/circular as one gather per dimension
    aten.hardswish.default, aten.hardsigmoid.default, aten.mish.default,  # ube ops
    aten.softplus.default, aten.elu.default, aten.leaky_relu.default, aten.hardtanh.default,
    aten.celu.default,
    *RESIZES,  # per-axis gathers of constant indices (not index tensors)
]


# -- BERT-of-Theseus module replacement ----------------------------------------

@torch.library.custom_op("ube::replace_module_output", mutates_args=())
def _replace_module_output_op(student: torch.Tensor, teacher: torch.Tensor, module_id: int,
                           slope: float, offset: float, seed: int) -> torch.Tensor:
    return student.clone()


@_replace_module_output_op.register_fake
def _(student, teacher, module_id, slope, offset, seed):
    return torch.empty_like(student)


def _replace_backward(ctx, grad):
    return grad, None, None, None, None, None


_replace_module_output_op.register_autograd(_replace_backward)


def replace_module_output(student, teacher, module_id, slope, offset, seed=0):
    """BERT-of-Theseus module replacement, as the frontend spells it: exports
    as `ube.bernoulli_select` between the two outputs, drawn per step from
    (seed, step, module_id) with probability `transfer_probability` =
    min(1, slope·step + offset); the graph gains an i64 scalar input `step`.
    Eager PyTorch returns (a copy of) the student's output. A custom op
    (`torch.ops.ube.replace_module_output`), so torch.export keeps it whole."""
    if student.shape != teacher.shape or student.dtype != teacher.dtype:
        raise ExportError(f"module replacement {module_id}: the student module gives "
                          f"{list(student.shape)} {student.dtype}, the teacher modules "
                          f"{list(teacher.shape)} {teacher.dtype}; they must match")
    return _replace_module_output_op(student, teacher, int(module_id), float(slope),
                                  float(offset), int(seed))


# -- where a node came from ----------------------------------------------------

_TORCH_DIR = os.path.dirname(torch.__file__)


def _source_location(node):
    """' at File "model.py", line 12, in forward: <source line>': the
    innermost frame of the node's stack trace outside PyTorch itself."""
    lines = [l.strip() for l in (node.meta.get("stack_trace") or "").splitlines() if l.strip()]
    found = ""
    for i, line in enumerate(lines):
        if line.startswith("File ") and _TORCH_DIR not in line:
            source = lines[i + 1] if i + 1 < len(lines) and not lines[i + 1].startswith(
                "File ") else ""
            found = f" at {line}: {source}" if source else f" at {line}"
    return found


def _module_path(node):
    """" in module 'layers.0.attn' (Attention)" from the node's nn_module_stack."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    path, kind = list(stack.values())[-1]
    path = path.replace("L['self'].", "").replace("L['self']", "")
    name = getattr(kind, "__name__", None) or str(kind).rsplit(".", 1)[-1].rstrip("'>")
    return f" in module '{path}' ({name})" if path else f" in the root module ({name})"


def _op_name(target):
    if isinstance(target, torch._ops.OpOverload):
        return f"{target.namespace}.{target._schema.name.split('::')[-1]}" + (
            f".{target._overloadname}" if target._overloadname != "default" else "")
    return getattr(target, "__name__", str(target))


# -- the exporter --------------------------------------------------------------

# Multi-result ops of which ube computes only some results (by index): a graph
# that uses another keeps the op in PyTorch (torch.compile's partitioner).
PARTIAL_RESULTS = {aten._scaled_dot_product_flash_attention_for_cpu.default: {0},
                   aten.native_dropout.default: {0}}

# Values computed at export time from buffers and constants alone are kept
# as tensors (position ids, token-type ids, causal masks, rotary tables...);
# one larger than this many elements is computed at run time instead.
FOLD_LIMIT = 1 << 20
# Ops never evaluated at export time: random draws and module replacement.
NEVER_FOLD = {aten.dropout.default, aten.native_dropout.default, aten.bernoulli.default,
              aten.bernoulli.p, aten.rand.default, aten.randn.default,
              aten.randint.default, aten.randint.low}


class _Folded:
    """A tensor known at export time; it becomes a constant (inline when
    small, else a parameter of the weights file) where a computed value
    uses it."""

    def __init__(self, tensor, name):
        self.tensor, self.name, self.ube = tensor, name, None


class SymbolicSize(str):
    """A size known only at run time (a `sym_size` of a dynamic dimension):
    the name of its symbol, distinct from the names of ube values."""


class DerivedSize(SymbolicSize):
    """A size the symbols fix without being a symbol or a product of them (a
    convolution's output length, ((s0 - 3)//2) + 1): the executable computes
    it. A graph file names it as a dimension of a value that has it
    (`reference`, {"size_of": value, "axis": d}), or as a reshape's -1
    (GraphBuilder.emit)."""
    derived = True
    reference = None


def symbol_product(expr):
    """A sympy size as (integer, symbols) when it is a product of symbols and
    at most one positive integer below 2^20 (s0*s1, 17*s0), as a graph file
    names a size; None otherwise."""
    if not expr.is_Mul:
        return None
    numbers = [f for f in expr.args if f.is_number]
    factors = [f for f in expr.args if not f.is_number]
    if len(numbers) > 1 or not all(f.is_symbol for f in factors) or not all(
            f.is_integer and 0 < int(f) < 2 ** 20 for f in numbers):
        return None
    return (int(numbers[0]) if numbers else 1), factors


# Python arithmetic on sizes in traced graphs (a view's s0 * s1, "same"
# padding's max(0, 3 - h % 2)): a size the symbols compute.
SIZE_ARITHMETIC = (operator.add, operator.sub, operator.mul, operator.floordiv, operator.mod,
                   operator.neg, torch.sym_max, torch.sym_min, torch.sym_sum)


def size_expression(expr, symbols):
    """A sympy size as a graph file's size expression over the names
    `symbols` gives ({str(sympy expression): name}; a subexpression that
    is a named size is its name): "(s1 - 1) // 2 + 1",
    "max(0, 3 - s1 % 2)". None where it has other symbols or operations.
    A remainder needs a non-negative dividend and a positive constant
    divisor, where the graph format's `%` and Python's agree."""
    from torch.utils._sympy import functions as fn
    from torch.utils._sympy.value_ranges import bound_sympy

    def text(e):
        if str(e) in symbols:
            return symbols[str(e)]
        if e.is_Integer:
            return str(int(e))
        if e.is_Symbol:
            return None
        parts = [text(a) for a in e.args]
        if any(p is None for p in parts):
            return None
        if isinstance(e, sympy.Add):
            return "(" + " + ".join(parts) + ")"
        if isinstance(e, sympy.Mul):
            return "(" + " * ".join(parts) + ")"
        if isinstance(e, fn.FloorDiv):
            return f"({parts[0]} // {parts[1]})"
        if isinstance(e, fn.CeilDiv):
            return f"ceildiv({parts[0]}, {parts[1]})"
        if isinstance(e, (fn.Mod, fn.PythonMod, sympy.Mod)):
            divisor = e.args[1]
            if not (divisor.is_Integer and int(divisor) > 0
                    and bound_sympy(e.args[0]).lower >= 0):
                return None
            return f"({parts[0]} % {parts[1]})"
        if isinstance(e, (fn.Max, fn.Min, sympy.Max, sympy.Min)):
            call = "max" if isinstance(e, (fn.Max, sympy.Max)) else "min"
            out = parts[0]
            for p in parts[1:]:
                out = f"{call}({out}, {p})"
            return out
        return None

    return text(expr)


class _Exporter:
    """One ATen graph to a ube graph: an ExportedProgram's (parameters,
    buffers and user inputs from its signature), or a bare GraphModule's
    (`program` None: every placeholder an input, every output a result, as
    torch.compile hands them over). `symbols` maps torch's symbols of
    dynamic dimensions (`str(sympy expression)`) to the graph's names."""

    def __init__(self, gm, program=None, symbols=None):
        self.program = program
        self.gm = gm
        self.symbols = symbols or {}
        # The sympy symbols those are made of (s0 of "20*s0"): what a derived
        # size may be computed from.
        self.symbol_bases = {str(s) for k in self.symbols for s in sympy.sympify(k).free_symbols}
        # Sizes computed from the symbols -> (a value that has one, its axis).
        self.size_sources = {}
        self.graph = GraphBuilder()
        self.values = {}  # fx node -> ube value name, a list of them, or a static value
        self.probabilities = {}  # (slope, offset) -> transfer_probability value
        self.weights = {}  # parameter placeholder -> (its name, its tensor)
        self.folded_norms = set()  # batch norms folded into the convolution before them
        self.random_ops = 0  # dropouts so far: each draws its own masks (seed)

    # -- helpers ---------------------------------------------------------
    def val(self, node):
        return node.meta.get("val")

    def meta(self, node):
        """(shape, ube dtype) of a node's single tensor result."""
        v = self.val(node)
        if not isinstance(v, torch.Tensor):
            raise self.error(node, "has no single tensor result")
        if v.dtype not in TORCH_TO_UBE:
            raise self.error(node, f"produces {v.dtype}, which ube does not support")
        return [self.size(d, node) for d in v.shape], TORCH_TO_UBE[v.dtype]

    def size(self, d, node):
        """A dimension's size: an int, or the SymbolicSize of a dynamic one."""
        if isinstance(d, int):
            return d
        expr = d.node.expr
        if expr.is_number:
            return int(expr)
        name = self.symbols.get(str(expr))
        if name is not None:
            return SymbolicSize(name)
        if expr.is_Mul and all(f.is_number or str(f) in self.symbols for f in expr.args):
            # A product of named sizes and at most one positive integer below
            # 2^20: a view merging batch and length, a ViT's 17·batch token
            # rows, the planes of a strided convolution's output (H'·W',
            # derived symbols in a partition).
            scale = [int(f) for f in expr.args if f.is_number]
            if len(scale) <= 1 and all(0 < v < 2 ** 20 for v in scale):
                return SymbolicSize("*".join([str(v) for v in scale if v > 1] + [
                    self.symbols[str(f)] for f in expr.args if not f.is_number]))
        if not self.symbols:
            raise self.error(node, f"has a symbolic dimension ({d}); export with "
                                   "dynamic_shapes (torch.export Dims) or static shapes")
        if {str(s) for s in expr.free_symbols} <= self.symbol_bases:
            size = DerivedSize(str(expr))
            size.reference = self.size_sources.get(str(expr))
            return size
        names = ", ".join(sorted(set(self.symbols.values())))
        raise self.error(node, f"has a dimension of size {expr}, which is not computed from "
                               f"the inputs' symbols ({names})")

    def amount(self, arg, node):
        """An integer argument (a pad amount): an int, or where the symbols
        compute it ("same" padding of a symbolic size), its size expression."""
        v = self.val(arg) if isinstance(arg, torch.fx.Node) else arg
        if not isinstance(v, torch.SymInt):
            return int(v)
        expr = v.node.expr
        if expr.is_number:
            return int(expr)
        text = size_expression(expr, self.symbols)
        if text is None:
            names = ", ".join(sorted(set(self.symbols.values())))
            raise self.error(node, f"takes {expr}, which is no size expression of the "
                                   f"inputs' symbols ({names})")
        return text

    def error(self, node, what):
        return ExportError(f"cannot export {_op_name(node.target)} (node '{node.name}'): "
                           f"{what}{_module_path(node)}{_source_location(node)}")

    def emit(self, base, op, inputs, attrs=None, **fields):
        return self.graph.emit(base, op, inputs, attrs, **fields)

    def constant(self, value, dtype):
        return self.graph.constant(value, dtype)

    def next_seed(self):
        """A seed for the next random op: dropouts of equal shapes in two
        layers must not share their masks."""
        self.random_ops += 1
        return self.random_ops

    def parameter(self, name, tensor):
        with unset_fake_temporarily():  # real tensors under torch.compile's fake mode too
            tensor = tensor.detach().cpu().contiguous()
            if tensor.dtype not in TORCH_TO_UBE:
                raise ExportError(f"parameter '{name}' has unsupported dtype {tensor.dtype}")
            return self.graph.add_parameter(
                name, tensor if tensor.dtype == torch.bfloat16 else tensor.numpy())

    def materialize(self, folded):
        if folded.ube is not None:
            return folded.ube
        with unset_fake_temporarily():
            tensor = folded.tensor.detach().cpu().contiguous()
            if tensor.dtype not in TORCH_TO_UBE:
                raise ExportError(f"'{folded.name}': a constant of dtype {tensor.dtype}, "
                                  "which ube does not support")
            if tensor.numel() <= 64 and tensor.dtype != torch.bfloat16:
                folded.ube = self.graph.constant(tensor.numpy(), TORCH_TO_UBE[tensor.dtype],
                                                 folded.name)
            else:
                folded.ube = self.parameter(self.graph.fresh(folded.name), tensor)
        return folded.ube

    def value(self, arg, node, dtype=None):
        """The ube value of an argument; Python scalars become constants."""
        if isinstance(arg, torch.fx.Node):
            v = self.values[arg]
            if isinstance(v, SymbolicSize):
                return self.size_tensor(v, node, dtype or "f32")
            if isinstance(v, str):
                return v
            if isinstance(v, _Folded):
                return self.materialize(v)
            arg = v
        if isinstance(arg, (bool, int, float)):
            return self.constant(arg, dtype or "f32")
        raise self.error(node, f"argument {arg!r} is not a tensor or a number")

    def size_tensor(self, size, node, dtype):
        """A symbolic size as a scalar tensor (a mean's gradient divided by
        the planes' count): the sum of that many ones, counted at run time."""
        if getattr(size, "derived", False) and size.reference is None:
            raise self.error(node, f"uses the size {size}, computed from the symbols, as a "
                                   "tensor, and no value before it has that size")
        # A product of sizes (N·C·H·W): the product of its factors' counts.
        if getattr(size, "derived", False) or "*" not in size:
            return self.count_tensor([size], node, dtype)
        return self.count_tensor([int(f) if f.isdigit() else SymbolicSize(f)
                                  for f in size.split("*")], node, dtype)

    def count_tensor(self, sizes, node, dtype):
        """The product of `sizes` (ints and symbolic sizes) as a scalar tensor:
        each symbolic one the sum of that many ones, counted at run time."""
        counted = None
        for i, size in enumerate(sizes):
            if isinstance(size, str):
                ones = self.emit(f"{node.name}_ones_{i}", "broadcast_to",
                                 [self.constant(1, dtype)], dtype=dtype, shape=[size])
                term = self.emit(f"{node.name}_count_{i}", "reduce_sum", [ones])
            else:
                term = self.constant(size, dtype)
            counted = term if counted is None else self.emit(
                f"{node.name}_product_{i}", "mul", [counted, term])
        return counted

    def value_as(self, arg, node, dtype):
        """The ube value of an argument in `dtype` (cast when a tensor has another)."""
        v = self.value(arg, node, dtype)
        if self.is_tensor(arg):
            # (A quotient of sizes is an f32 scalar.)
            is_quotient = isinstance(self.val(arg), torch.SymFloat)
            if (self.meta(arg)[1] if not is_quotient else "f32") != dtype:
                v = self.emit(f"{node.name}_cast", "cast", [v], dtype=dtype)
        return v

    def static(self, arg):
        """A value known at export time (a list of ints, a number)."""
        if isinstance(arg, torch.fx.Node):
            return self.values[arg]
        if isinstance(arg, (list, tuple)):
            return type(arg)(self.static(a) for a in arg)
        return arg

    def is_tensor(self, arg):
        v = self.values.get(arg) if isinstance(arg, torch.fx.Node) else None
        return isinstance(v, (str, _Folded)) and not isinstance(v, SymbolicSize)

    def folded(self, arg):
        """The value of an argument known at export time (a numpy array), or None."""
        v = self.values.get(arg) if isinstance(arg, torch.fx.Node) else None
        if not isinstance(v, _Folded):
            return None
        with unset_fake_temporarily():
            return v.tensor.detach().cpu().numpy()

    # -- the graph -------------------------------------------------------
    def run(self, input_names=None):
        signature = self.program.graph_signature if self.program else None
        specs = {spec.arg.name: spec for spec in signature.input_specs} if signature else {}
        user = 0
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                spec = specs.get(node.name)
                kind = spec.kind if spec else InputKind.USER_INPUT
                self.placeholder(node, kind, spec.target if spec else None, input_names, user)
                user += kind == InputKind.USER_INPUT
            elif node.op == "output":
                self.output(node, signature)
            elif node.op == "call_function":
                self.values[node] = self.convert(node)
                self.note_sizes(node)
            elif node.op != "get_attr":
                raise self.error(node, f"unexpected node kind {node.op}")

    def note_sizes(self, node):
        """Remembers the node's value as where each size it has that the
        symbols compute (not name) can be read."""
        v, name = self.val(node), self.values.get(node)
        if not isinstance(v, torch.Tensor) or not isinstance(name, str):
            return
        for axis, d in enumerate(v.shape):
            if isinstance(d, torch.SymInt) and not d.node.expr.is_number:
                self.size_sources.setdefault(str(d.node.expr), {"size_of": name, "axis": axis})

    def placeholder(self, node, kind, target, input_names, index):
        if kind == InputKind.USER_INPUT:
            if isinstance(self.val(node), torch.SymInt):
                # A symbol's size (dynamo passes them as inputs): named, not an input.
                self.values[node] = self.size(self.val(node), node)
                return
            if not isinstance(self.val(node), torch.Tensor):
                self.values[node] = self.val(node)  # a number, specialized by torch.export
                return
            shape, dtype = self.meta(node)
            name = input_names[index] if input_names else node.name
            self.values[node] = self.graph.add_input(name, dtype, shape)
        elif kind == InputKind.PARAMETER:
            self.values[node] = self.parameter(target, self.program.state_dict[target])
            self.weights[node] = (self.values[node], self.program.state_dict[target])
        elif kind in (InputKind.BUFFER, InputKind.CONSTANT_TENSOR):
            tensor = self.program.state_dict.get(target)
            if tensor is None:  # a non-persistent buffer or a lifted constant
                tensor = self.program.constants[target]
            self.values[node] = _Folded(tensor, target)
        else:
            raise self.error(node, f"input of kind {kind.name} is not supported")

    def output(self, node, signature):
        results = node.args[0] if isinstance(node.args[0], (tuple, list)) else [node.args[0]]
        specs = signature.output_specs if signature else [None] * len(results)
        for spec, result in zip(specs, results):
            if spec is None:
                self.graph.outputs.append(self.value(result, node))
                continue
            if spec.kind in (OutputKind.BUFFER_MUTATION, OutputKind.USER_INPUT_MUTATION,
                             OutputKind.PARAMETER_MUTATION):
                raise self.error(node, f"the module writes '{spec.target}' in forward (a "
                                       "BatchNorm in training mode?); export it in eval mode")
            if spec.kind != OutputKind.USER_OUTPUT:
                continue
            if not self.is_tensor(result):
                raise self.error(node, "outputs must be tensors (no numbers or None)")
            self.graph.outputs.append(self.value(result, node))

    def convert(self, node):
        handler = ATEN_OPS.get(node.target)
        if handler is _nothing:
            return None
        folded = self.fold(node)
        if folded is not None:
            return folded
        if handler is None:
            raise self.error(node, "no ube mapping for this operator")
        try:
            return handler(self, node)
        except ExportError:
            raise
        except (TypeError, ValueError) as error:
            # A handler's arithmetic on a symbolic size (a str) it does not take.
            if any(isinstance(d, SymbolicSize) for n in [node, *node.all_input_nodes]
                   if isinstance(n.meta.get("val"), torch.Tensor)
                   for d in self.meta(n)[0]):
                raise self.error(node, "is not supported on symbolic sizes yet "
                                       f"({type(error).__name__}: {error})") from error
            raise

    def fold(self, node):
        """The node's result computed now, when every input is known at
        export time (and the result is not too large); else None."""
        if node.target in NEVER_FOLD or not (
                isinstance(node.target, torch._ops.OpOverload) or node.target is operator.getitem):
            return None
        if getattr(node.target, "namespace", None) == "ube":
            return None
        for n in node.all_input_nodes:
            v = self.values.get(n)
            if isinstance(v, (str, list)) or (isinstance(v, tuple) and not all(
                    isinstance(x, _Folded) for x in v)):
                return None

        def real(n):
            v = self.values[n]
            if isinstance(v, _Folded):
                return v.tensor
            if isinstance(v, tuple):
                return tuple(x.tensor for x in v)
            return v

        try:
            # Real tensors, also where a tracer's fake mode is active (torch.compile).
            with torch.no_grad(), unset_fake_temporarily():
                result = node.target(*torch.fx.node.map_arg(node.args, real),
                                     **torch.fx.node.map_arg(node.kwargs, real))
        except Exception:  # computed at run time, or reported by its handler
            return None
        if isinstance(result, torch.Tensor):
            return _Folded(result, node.name) if result.numel() <= FOLD_LIMIT else None
        if isinstance(result, (tuple, list)) and all(isinstance(r, torch.Tensor) for r in result):
            if sum(r.numel() for r in result) > FOLD_LIMIT:
                return None
            return tuple(_Folded(r, f"{node.name}_{i}") for i, r in enumerate(result))
        return None


# -- arguments by schema -------------------------------------------------------

def _args(node):
    """The node's arguments by name, defaults filled in, from the op schema."""
    target = node.target
    if not isinstance(target, torch._ops.OpOverload):
        return dict(enumerate(node.args))
    values = {}
    for i, arg in enumerate(target._schema.arguments):
        if i < len(node.args) and not arg.kwarg_only:
            values[arg.name] = node.args[i]
        elif arg.name in node.kwargs:
            values[arg.name] = node.kwargs[arg.name]
        elif arg.has_default_value():
            values[arg.name] = arg.default_value
        else:
            values[arg.name] = None
    return values


def _first(node):
    return node.args[0]


REDUCTIONS = {0: "none", 1: "mean", 2: "sum"}  # at::Reduction


# -- elementwise ---------------------------------------------------------------

def _unary(op):
    return lambda ex, node: ex.emit(node.name, op, [ex.value(_first(node), node)])


def _binary(op, reverse=False):
    """A binary op on tensors and numbers, operands cast to the result's
    dtype (ATen's type promotion); `alpha` scales the second operand (rsub,
    `reverse`: other - alpha·self, the first)."""
    def handler(ex, node):
        a, b = node.args[0], node.args[1]
        alpha = node.kwargs.get("alpha", node.args[2] if len(node.args) > 2 else 1)
        _, dtype = ex.meta(node)
        operands = [ex.value_as(x, node, dtype) for x in (a, b)]
        if reverse:
            operands.reverse()
        if alpha != 1:
            operands[1] = ex.emit(f"{node.name}_alpha", "mul",
                                  [operands[1], ex.constant(alpha, dtype)])
        return ex.emit(node.name, op, operands)
    return handler


def _scaled_unary(op, factor, before=False):
    """op(x)·factor, or op(x·factor) with `before` (log2, exp2)."""
    def handler(ex, node):
        _, dtype = ex.meta(node)
        x = ex.value(_first(node), node)
        c = ex.constant(factor, dtype)
        if before:
            return ex.emit(node.name, op, [ex.emit(f"{node.name}_scaled", "mul", [x, c])])
        return ex.emit(node.name, "mul", [ex.emit(f"{node.name}_{op}", op, [x]), c])
    return handler


def _isnan(ex, node):
    x = ex.value(_first(node), node)
    return ex.emit(node.name, "compare", [x, x], {"predicate": "ne"})


def _isinf(ex, node):
    x = ex.value(_first(node), node)
    _, dtype = ex.meta(_first(node))
    if dtype not in FLOATS:
        return ex.emit(node.name, "compare", [x, x], {"predicate": "ne"})  # never
    return ex.emit(node.name, "compare", [ex.emit(f"{node.name}_abs", "abs", [x]),
                                          ex.constant(float("inf"), dtype)], {"predicate": "eq"})


def _clamp_tensor(ex, node):
    """clamp with tensor bounds: maximum, then minimum (either may be None)."""
    args = _args(node)
    _, dtype = ex.meta(node)
    x = ex.value_as(args["self"], node, dtype)
    if args.get("min") is not None:
        x = ex.emit(f"{node.name}_lo" if args.get("max") is not None else node.name, "maximum",
                    [x, ex.value_as(args["min"], node, dtype)])
    if args.get("max") is not None:
        x = ex.emit(node.name, "minimum", [x, ex.value_as(args["max"], node, dtype)])
    return x


def _rounding(op):
    """floor/ceil/round/trunc: integers are whole already."""
    def handler(ex, node):
        x = ex.value(_first(node), node)
        return x if ex.meta(node)[1] not in FLOATS else ex.emit(node.name, op, [x])
    return handler


def _remainder(ex, node):
    """torch.remainder: the divisor's sign (floor_mod)."""
    _, dtype = ex.meta(node)
    a, b = (ex.value_as(v, node, dtype) for v in node.args[:2])
    return ex.graph.floor_mod(a, b, dtype, node.name)


def _div_mode(ex, node):
    """torch.div with rounding_mode: "trunc" toward zero, "floor" toward
    -inf (//), None the true quotient."""
    _, dtype = ex.meta(node)
    a, b = (ex.value_as(v, node, dtype) for v in node.args[:2])
    mode = _args(node).get("rounding_mode")
    if mode == "floor":
        return ex.graph.floor_div(a, b, dtype, node.name)
    if mode == "trunc" and dtype in FLOATS:
        return ex.emit(node.name, "trunc", [ex.emit(f"{node.name}_q", "div", [a, b])])
    return ex.emit(node.name, "div", [a, b])  # integers divide truncating


def _flip(ex, node):
    args = _args(node)
    shape, _ = ex.meta(args["self"])
    try:
        return ex.graph.flip(ex.value(args["self"], node), shape,
                             [d % len(shape) for d in args["dims"]], node.name)
    except ExportError as e:
        raise ex.error(node, str(e)) from None


def _resize_sources(mode, size, out, scale, align):
    """PyTorch's source coordinates of `out` positions resized from `size`
    (area_pixel_compute_source_index), and whether they interpolate."""
    dst = np.arange(out, dtype=np.float64)
    if mode == "nearest":
        return np.floor(dst * scale), False
    if mode == "nearest-exact":
        return np.floor((dst + 0.5) * scale), False
    if align:
        return dst * ((size - 1) / (out - 1) if out > 1 else 0.0), True
    return np.maximum((dst + 0.5) * scale - 0.5, 0.0), True


def _upsample(mode):
    """upsample_nearest*d / upsample_(bi|tri)linear*d: per resized spatial
    axis, GraphBuilder.resample at PyTorch's source coordinates."""
    def handler(ex, node):
        args = _args(node)
        source = args.get("input", args.get("self"))
        x = ex.value(source, node)
        shape, dtype = ex.meta(source)
        out_shape, _ = ex.meta(node)
        rank = len(shape) - 2
        # The scale factors given (the .vec overloads' list, the others' one per axis).
        scales = args.get("scale_factors") or [
            args.get(k) for k in (["scales"] if rank == 1 else
                                  ["scales_d", "scales_h", "scales_w"][3 - rank:])]
        align = bool(args.get("align_corners"))
        axes = [d for d in range(2, len(shape))
                if shape[d] != out_shape[d] or scales[d - 2] not in (None, 1)]
        for i, d in enumerate(axes):
            size, out = shape[d], out_shape[d]
            if isinstance(size, SymbolicSize) or isinstance(out, SymbolicSize):
                raise ex.error(node, "resizing a symbolic dimension is not supported")
            scale = 1.0 / scales[d - 2] if scales[d - 2] else size / out
            sources, linear = _resize_sources(mode, size, out, scale, align)
            name = node.name if i == len(axes) - 1 else f"{node.name}_axis{d}"
            x = ex.graph.resample(x, shape, dtype, d, sources, linear, name)
            shape = shape[:d] + [out] + shape[d + 1:]
        return x
    return handler


def _compare(predicate):
    def handler(ex, node):
        a, b = node.args[0], node.args[1]
        vals = [ex.val(x) if isinstance(x, torch.fx.Node) else x for x in (a, b)]
        common = TORCH_TO_UBE[torch.result_type(*vals)]
        return ex.emit(node.name, "compare", [ex.value_as(x, node, common) for x in (a, b)],
                       {"predicate": predicate})
    return handler


def _logical(op):
    """Boolean `&`, `|`, `~` (bitwise ops on bool tensors are logical)."""
    def handler(ex, node):
        for x in node.args:
            if ex.is_tensor(x) and ex.meta(x)[1] != "i1":
                raise ex.error(node, "bitwise operations on integers are not supported")
        return ex.emit(node.name, op, [ex.value(x, node, "i1") for x in node.args])
    return handler


def _where(ex, node):
    c, a, b = node.args
    _, dtype = ex.meta(node)
    return ex.emit(node.name, "where", [ex.value(c, node)] + [ex.value_as(x, node, dtype)
                                                              for x in (a, b)])


def _masked_fill(ex, node):
    x, mask, value = node.args[0], node.args[1], node.args[2]
    _, dtype = ex.meta(node)
    return ex.emit(node.name, "where", [ex.value(mask, node), ex.value(value, node, dtype),
                                        ex.value(x, node)])


def _reciprocal(ex, node):
    _, dtype = ex.meta(node)
    return ex.emit(node.name, "div", [ex.constant(1.0, dtype), ex.value(_first(node), node)])


def _clamp(ex, node):
    """clamp / hardtanh with number bounds: ube.clamp; tensor bounds:
    maximum and minimum."""
    args = _args(node)
    _, dtype = ex.meta(node)
    x = ex.value(args["self"], node)
    low = args.get("min", args.get("min_val"))
    high = args.get("max", args.get("max_val"))
    if all(b is None or isinstance(b, (int, float)) for b in (low, high)):
        bounds = {k: float(v) for k, v in (("min", low), ("max", high)) if v is not None}
        return ex.emit(node.name, "clamp", [x], bounds or None)
    if low is not None:
        x = ex.emit(f"{node.name}_min", "maximum", [x, ex.value(low, node, dtype)])
    if high is not None:
        x = ex.emit(f"{node.name}_max", "minimum", [x, ex.value(high, node, dtype)])
    return x


def _activation(op, **fields):
    """An activation with number parameters: {ube attr: ATen argument}."""
    def handler(ex, node):
        args = _args(node)
        attrs = {k: float(args[a]) for k, a in fields.items()}
        return ex.emit(node.name, op, [ex.value(_first(node), node)], attrs or None)
    return handler


def _celu(ex, node):
    alpha = float(_args(node)["alpha"])
    return ex.emit(node.name, "elu", [ex.value(_first(node), node)],
                   {"alpha": alpha, "input_scale": 1.0 / alpha})


def _vector_norm(ex, node):
    """linalg_vector_norm(x, ord, dim, keepdim): (Σ|x|^ord)^(1/ord); ord 2
    as √Σx², ∞ as max|x|."""
    args = _args(node)
    x = ex.value(args["self"], node)
    _, dtype = ex.meta(node)
    attrs = _reduction_attrs(ex, node, args)
    n, order = node.name, float(args["ord"])
    if order == float("inf"):
        return ex.emit(n, "reduce_max", [ex.emit(f"{n}_abs", "abs", [x])], attrs)
    if order == 2:
        squares = ex.emit(f"{n}_sq", "mul", [x, x])
        return ex.emit(n, "sqrt", [ex.emit(f"{n}_sum", "reduce_sum", [squares], attrs)])
    if order <= 0:
        raise ex.error(node, f"vector norm of order {order} is not supported")
    powered = ex.emit(f"{n}_pow", "pow", [ex.emit(f"{n}_abs", "abs", [x]),
                                          ex.constant(order, dtype)])
    return ex.emit(n, "pow", [ex.emit(f"{n}_sum", "reduce_sum", [powered], attrs),
                              ex.constant(1.0 / order, dtype)])


def _gelu(ex, node):
    approximate = _args(node)["approximate"]
    return ex.emit(node.name, "gelu", [ex.value(_first(node), node)],
                   {"approximate": approximate} if approximate != "none" else None)


def _cast(ex, node):
    _, dtype = ex.meta(node)
    x = _first(node)
    if ex.meta(x)[1] == dtype:
        return ex.value(x, node)
    return ex.emit(node.name, "cast", [ex.value(x, node)], dtype=dtype)


def _identity(ex, node):
    return ex.value(_first(node), node)


def _nothing(ex, node):
    return None


def _sym_size(ex, node):
    """x.shape[d], or arithmetic on such sizes: an int, or the symbol of a
    dynamic dimension (or a size computed from the symbols), which the
    shape arguments of views, expansions and slices then name."""
    if not isinstance(ex.val(node), (int, torch.SymInt)):
        raise ex.error(node, "is arithmetic on values that are not sizes")
    return ex.size(ex.val(node), node)


def _size_quotient(ex, node):
    """a / b of sizes or numbers (batch norm's gradient scales by 1 / (N·H·W)):
    a scalar f32 tensor, the sizes counted at run time."""
    a, b = node.args
    return ex.emit(node.name, "div", [ex.value(a, node, "f32"), ex.value(b, node, "f32")])


# -- creation ------------------------------------------------------------------

def _full(ex, node):
    """full / scalar_tensor / zeros / ones: a scalar constant broadcast."""
    shape, dtype = ex.meta(node)
    args = _args(node)
    fill = args.get("fill_value", args.get("s"))
    if fill is None:
        fill = 1 if node.target in (aten.ones.default,) else 0
    scalar = ex.constant(fill, dtype)
    return ex.emit(node.name, "broadcast_to", [scalar], shape=shape) if shape else scalar


def _full_like(ex, node):
    shape, dtype = ex.meta(node)
    fill = {aten.zeros_like.default: 0, aten.ones_like.default: 1}.get(
        node.target, _args(node).get("fill_value"))
    return ex.emit(node.name, "broadcast_to", [ex.constant(fill, dtype)], shape=shape)


def _arange(ex, node):
    """arange with static bounds: the values, computed here; of a symbolic
    length (the positions of a batch or a sequence): a ube.arange of it."""
    shape, dtype = ex.meta(node)
    v = ex.val(node)
    args = _args(node)
    start = ex.static(args.get("start", 0)) or 0
    step = ex.static(args.get("step", 1)) or 1
    if isinstance(shape[0], SymbolicSize):
        if not all(isinstance(a, (int, float)) for a in (start, step)):
            raise ex.error(node, f"arange of symbolic length '{shape[0]}' needs a constant "
                                 "start and step")
        return ex.emit(node.name, "arange", [], {"start": float(start), "step": float(step)},
                       dtype=dtype, shape=shape)
    values = start + step * np.arange(shape[0])
    return ex.constant(values.astype(np.float64 if v.dtype.is_floating_point else np.int64),
                       dtype)


# -- data movement -------------------------------------------------------------

def _reshape(ex, node):
    shape, _ = ex.meta(node)
    x = _first(node)
    if ex.meta(x)[0] == shape:
        return ex.value(x, node)
    return ex.emit(node.name, "reshape", [ex.value(x, node)], shape=shape)


def _permute(ex, node):
    x = _first(node)
    rank = len(ex.meta(x)[0])
    perm = [d % rank if rank else 0 for d in ex.static(node.args[1])]
    if perm == list(range(rank)):
        return ex.value(x, node)
    return ex.emit(node.name, "transpose", [ex.value(x, node)], {"perm": perm})


def _transpose(ex, node):
    x = _first(node)
    rank = len(ex.meta(x)[0])
    perm = list(range(rank))
    if node.target in (aten.t.default, aten.numpy_T.default):
        perm.reverse()
    else:
        d0, d1 = (ex.static(node.args[i]) % rank for i in (1, 2))
        perm[d0], perm[d1] = perm[d1], perm[d0]
    if perm == list(range(rank)):
        return ex.value(x, node)
    return ex.emit(node.name, "transpose", [ex.value(x, node)], {"perm": perm})


def _expand(ex, node):
    shape, _ = ex.meta(node)
    x = _first(node)
    if ex.meta(x)[0] == shape:
        return ex.value(x, node)
    return ex.emit(node.name, "broadcast_to", [ex.value(x, node)], shape=shape)


def _slice(ex, node, dim, start, end, step):
    """x[..., start:end:step, ...] along `dim`; the identity when it selects
    everything."""
    x = _first(node)
    shape, _ = ex.meta(x)
    dim %= len(shape)
    if isinstance(shape[dim], SymbolicSize):
        # All of it (x[:], or x[:seq] of a seq-sized dimension) is x itself.
        if _is_whole_slice({"start": start, "end": end, "step": step}) or (
                (start or 0) == 0 and end == shape[dim] and step == 1):
            return ex.value(x, node)
        # Up to the dimension's size less a constant (x[..., :-1]): a limit
        # read from x at run time.
        if isinstance(end, int) and end < 0 and (start or 0) >= 0 and (step or 1) >= 1:
            starts, limits, strides = [0] * len(shape), list(shape), [1] * len(shape)
            starts[dim], strides[dim] = start or 0, step or 1
            limits[dim] = {"size_of": ex.value(x, node), "axis": dim, "add": end}
            limits = [{"size_of": ex.value(x, node), "axis": d} if isinstance(size, str) and d
                      != dim else size for d, size in enumerate(limits)]
            return ex.emit(node.name, "slice", [ex.value(x, node)],
                           {"start": starts, "limit": limits, "stride": strides})
        raise ex.error(node, f"slices dimension {dim} of symbolic size '{shape[dim]}', "
                             "which is not supported yet")
    if isinstance(end, SymbolicSize) or isinstance(start, SymbolicSize):
        return _slice_to_symbol(ex, node, x, shape, dim, start, end, step)
    begin, stop, step = slice(start, end, step).indices(shape[dim])
    if step <= 0:
        raise ex.error(node, "negative steps are not supported")
    if begin == 0 and stop >= shape[dim] and step == 1:
        return ex.value(x, node)
    starts = [0] * len(shape)
    limits = list(shape)
    strides = [1] * len(shape)
    starts[dim], limits[dim], strides[dim] = begin, max(begin, stop), step
    return ex.emit(f"{node.name}", "slice", [ex.value(x, node)],
                   {"start": starts, "limit": limits, "stride": strides})


def _slice_to_symbol(ex, node, x, shape, dim, start, end, step):
    """x[..., start:symbol:step, ...] of a static dimension (the first `seq`
    rows of a position table): a slice whose limit is the symbol's size."""
    if isinstance(start, SymbolicSize) or (start or 0) < 0 or step < 1:
        raise ex.error(node, "a slice up to a symbolic size takes a constant, non-negative "
                             "start and a positive step")
    starts, limits, strides = [0] * len(shape), list(shape), [1] * len(shape)
    starts[dim], limits[dim], strides[dim] = start or 0, end, step
    return ex.emit(node.name, "slice", [ex.value(x, node)],
                   {"start": starts, "limit": limits, "stride": strides})


def _slice_tensor(ex, node):
    args = _args(node)
    return _slice(ex, node, args["dim"], ex.static(args["start"]), ex.static(args["end"]),
                  ex.static(args["step"]))


def _select(ex, node):
    args = _args(node)
    shape, _ = ex.meta(_first(node))
    dim = args["dim"] % len(shape)
    if isinstance(shape[dim], SymbolicSize):
        # x.select(d, i) of a symbolic dimension (BERT's pooler: the first
        # token) is a gather of the one index, which drops the dimension.
        index = ex.static(args["index"])
        if not isinstance(index, int) or index < 0:
            raise ex.error(node, f"selects index {index} of dimension {dim}, of symbolic size "
                                 f"'{shape[dim]}': only constant, non-negative indices are "
                                 "supported there")
        return ex.emit(node.name, "gather", [ex.value(_first(node), node),
                                             ex.constant(index, "i64")], {"axis": dim})
    index = args["index"] % shape[args["dim"] % len(shape)]
    sliced = _slice(ex, node, args["dim"], index, index + 1, 1)
    out_shape, _ = ex.meta(node)
    return ex.emit(f"{node.name}_select", "reshape", [sliced], shape=out_shape)


def _split(ex, node):
    """split / split_with_sizes: a list of slices (getitem picks them)."""
    args = _args(node)
    x = _first(node)
    shape, _ = ex.meta(x)
    dim = args["dim"] % len(shape)
    sizes = args.get("split_sizes") or args.get("split_size")
    if isinstance(sizes, int):
        sizes = [min(sizes, shape[dim] - s) for s in range(0, shape[dim], sizes)]
    results, at = [], 0
    for i, size in enumerate(sizes):
        starts, limits = [0] * len(shape), list(shape)
        starts[dim], limits[dim] = at, at + size
        results.append(ex.emit(f"{node.name}_{i}", "slice", [ex.value(x, node)],
                               {"start": starts, "limit": limits, "stride": [1] * len(shape)}))
        at += size
    return results


def _unbind(ex, node):
    x = _first(node)
    shape, _ = ex.meta(x)
    dim = _args(node)["dim"] % len(shape)
    out = shape[:dim] + shape[dim + 1:]
    results = []
    for i in range(shape[dim]):
        starts, limits = [0] * len(shape), list(shape)
        starts[dim], limits[dim] = i, i + 1
        piece = ex.emit(f"{node.name}_{i}_slice", "slice", [ex.value(x, node)],
                        {"start": starts, "limit": limits, "stride": [1] * len(shape)})
        results.append(ex.emit(f"{node.name}_{i}", "reshape", [piece], shape=out))
    return results


def _getitem(ex, node):
    base, index = node.args
    values = ex.values[base]
    if isinstance(values, list):
        if values[index] is None:
            raise ex.error(node, "uses a result ube does not compute")
        return values[index]
    raise ex.error(node, "indexes a value that is not a list")


def _cat(ex, node):
    args = _args(node)
    tensors = [t for t in args["tensors"] if ex.meta(t)[0] != [0]]
    shape, dtype = ex.meta(node)
    inputs = [ex.value_as(t, node, dtype) for t in tensors]
    if len(inputs) == 1:
        return inputs[0]
    return ex.emit(node.name, "concat", inputs, {"axis": args["dim"] % len(shape)})


def _embedding(ex, node):
    args = _args(node)
    return ex.emit(node.name, "gather", [ex.value(args["weight"], node),
                                         ex.value(args["indices"], node)])


def _index_select(ex, node):
    args = _args(node)
    shape, _ = ex.meta(args["self"])
    return ex.emit(node.name, "gather", [ex.value(args["self"], node),
                                         ex.value(args["index"], node)],
                   {"axis": args["dim"] % len(shape)})


def _index_term(ex, node, index, size, stride, tag):
    """An index tensor as i64, negative entries counted from the end of a
    dimension of `size`, times `stride` (one term of a linear index)."""
    v = ex.value_as(index, node, "i64")
    negative = ex.emit(f"{node.name}_neg_{tag}", "compare", [v, ex.constant(0, "i64")],
                       {"predicate": "lt"})
    v = ex.emit(f"{node.name}_wrap_{tag}", "where", [
        negative, ex.emit(f"{node.name}_up_{tag}", "add", [v, ex.constant(size, "i64")]), v])
    if stride != 1:
        v = ex.emit(f"{node.name}_stride_{tag}", "mul", [v, ex.constant(stride, "i64")])
    return v


def _linear_index(ex, node, indices, shape):
    """Σ i_d·stride_d over index tensors on x's leading dimensions (negative
    entries counted from the end), the index into x with those dimensions
    flattened."""
    strides = [int(np.prod(shape[d + 1:len(indices)])) for d in range(len(indices))]
    linear = None
    for d, i in enumerate(indices):
        v = _index_term(ex, node, i, shape[d], strides[d], d)
        linear = v if linear is None else ex.emit(f"{node.name}_linear_{d}", "add", [linear, v])
    return linear


def _is_whole_slice(args):
    """Whether slice arguments take all of a dimension (x[0:], x[:])."""
    end = args.get("end")
    return (args.get("start") or 0) == 0 and (args.get("step") or 1) == 1 and (
        end is None or (isinstance(end, int) and end >= 2**62))


def _arange_extent(node):
    """The n of arange(n) (start 0, step 1), through unsqueezes and + 0, as the
    fx argument it was given; else None."""
    while isinstance(node, torch.fx.Node):
        if node.target == aten.unsqueeze.default:
            node = node.args[0]
        elif node.target == aten.add.Tensor and node.args[1] == 0:
            node = node.args[0]
        elif node.target == aten.slice.Tensor and _is_whole_slice(_args(node)):
            node = node.args[0]
        elif node.target in (aten.arange.default, aten.arange.start, aten.arange.start_step):
            args = _args(node)
            if (args.get("start", 0) or 0) != 0 or (args.get("step", 1) or 1) != 1:
                return None
            return args["end"]
        else:
            return None
    return None


def _is_outer_arange_index(ex, indices, shape):
    """Whether index tensor d is arange(shape[d]) laid along one axis of the
    broadcast index shape, those axes increasing with d and every other axis
    of size 1: x[indices] is then x's elements in order."""
    axes = []
    for d, index in enumerate(indices):
        extent = _arange_extent(index)
        if extent is None or ex.static(extent) != shape[d]:
            return False
        index_shape, _ = ex.meta(index)
        along = [a for a, size in enumerate(index_shape) if size != 1]
        if len(along) > 1 or len(index_shape) != len(ex.meta(indices[0])[0]):
            return False
        axes.append(along[0] if along else None)
    placed = [a for a in axes if a is not None]
    return placed == sorted(set(placed))


def _leading_slices(ex, node, indices):
    """The count p of full slices (None) before the index tensors, which must
    then be adjacent: x[:, :, i, j]. (Returns p and the index tensors.)"""
    indices = list(indices)
    while indices and indices[-1] is None:
        indices.pop()
    p = 0
    while p < len(indices) and indices[p] is None:
        p += 1
    if not indices[p:] or any(i is None for i in indices[p:]):
        raise ex.error(node, "index tensors separated by full slices are not supported")
    return p, indices[p:]


def _moved_first(p, k, rank):
    """The permutation bringing dims [p, p + k) to the front."""
    return list(range(p, p + k)) + list(range(p)) + list(range(p + k, rank))


def _index(ex, node):
    """x[..., i0, i1, ...] with adjacent index tensors after full slices: one
    gather from x with its indexed dimensions flattened (and moved first),
    at the linear index Σ i_d·stride_d (the index tensors broadcast
    together; negative indices count from the end)."""
    x, (p, indices) = node.args[0], _leading_slices(ex, node, node.args[1])
    shape, _ = ex.meta(x)
    out_shape, _ = ex.meta(node)
    k = len(indices)
    if not p and _is_outer_arange_index(ex, indices, shape):
        # x[arange(n0)[:, None, ...], arange(n1)[None, :, ...]]: every element
        # in order, with size-1 dimensions between (the masks transformers
        # builds with vmap); a reshape, whatever the sizes.
        return ex.emit(node.name, "reshape", [ex.value(x, node)], shape=out_shape)
    value = ex.value(x, node)
    if p:
        perm = _moved_first(p, k, len(shape))
        value = ex.emit(f"{node.name}_moved", "transpose", [value], {"perm": perm})
        shape = [shape[d] for d in perm]
    constant = [ex.folded(i) for i in indices]
    if all(c is not None for c in constant):
        strides = [int(np.prod(shape[d + 1:k])) for d in range(k)]
        linear = sum(np.where(c < 0, c + shape[d], c).astype(np.int64) * strides[d]
                     for d, c in enumerate(constant))
        flat_index = ex.graph.array(linear, f"{node.name}_index")
    else:
        if any(ex.meta(i)[1] == "i1" for i in indices):
            raise ex.error(node, "boolean mask indexing is not supported")
        flat_index = _linear_index(ex, node, indices, shape)
    flat = ex.emit(f"{node.name}_flat", "reshape", [value],
                   shape=[int(np.prod(shape[:k]))] + shape[k:])
    gathered = ex.emit(f"{node.name}_gather", "gather", [flat, flat_index])
    if not p:
        return ex.emit(node.name, "reshape", [gathered], shape=out_shape)
    # [*index, *leading, *rest] back to [*leading, *index, *rest].
    b = len(out_shape) - len(shape) + k
    moved = out_shape[p:p + b] + out_shape[:p] + out_shape[p + b:]
    gathered = ex.emit(f"{node.name}_shaped", "reshape", [gathered], shape=moved)
    return ex.emit(node.name, "transpose", [gathered], {
        "perm": list(range(b, b + p)) + list(range(b)) + list(range(b + p, len(out_shape)))})


def _gather_along(ex, node):
    """torch.gather(x, dim, index): out[..., j, ...] = x[..., index[..., j, ...], ...]
    along `dim`, as one gather from x flattened at base + index·stride (the
    base, every other coordinate's offset, is a constant)."""
    args = _args(node)
    x, index = args["self"], args["index"]
    shape, _ = ex.meta(x)
    index_shape, _ = ex.meta(index)
    dim = args["dim"] % len(shape)
    n = node.name
    if all(size == 1 for d, size in enumerate(shape) if d != dim):
        # Every other dimension of x has one entry (a [1, 512] table of
        # token types): x's row, at the indices; no offsets, and the index
        # may have symbolic sizes.
        v = _index_term(ex, node, index, shape[dim], 1, "dim")
        flat = ex.emit(f"{n}_flat", "reshape", [ex.value(x, node)], shape=[shape[dim]])
        return ex.emit(n, "gather", [flat, v])
    if any(isinstance(size, SymbolicSize) for size in list(shape) + list(index_shape)):
        raise ex.error(node, "gathers along a dimension of tensors with symbolic sizes, "
                             "which is not supported yet")
    v = _index_term(ex, node, index, shape[dim], int(np.prod(shape[dim + 1:])), "dim")
    offsets = ex.graph.array(offsets_along(index_shape, shape, dim), f"{n}_base")
    linear = ex.emit(f"{n}_linear", "add", [v, offsets])
    flat = ex.emit(f"{n}_flat", "reshape", [ex.value(x, node)], shape=[int(np.prod(shape))])
    return ex.emit(n, "gather", [flat, linear])


# -- contractions and normalizations -------------------------------------------

def _matmul(ex, node):
    return ex.emit(node.name, "matmul", [ex.value(node.args[0], node),
                                         ex.value(node.args[1], node)])


def _linear(ex, node):
    args = _args(node)
    inputs = [ex.value(args["input"], node), ex.value(args["weight"], node)]
    if args["bias"] is not None:
        inputs.append(ex.value(args["bias"], node))
    return ex.emit(node.name, "linear", inputs)


def _addmm(ex, node):
    """beta·bias + alpha·(a @ b)."""
    args = _args(node)
    _, dtype = ex.meta(node)
    product = ex.emit(f"{node.name}_mm", "matmul", [ex.value(args["mat1"], node),
                                                     ex.value(args["mat2"], node)])
    if args["alpha"] != 1:
        product = ex.emit(f"{node.name}_alpha", "mul", [product, ex.constant(args["alpha"],
                                                                             dtype)])
    bias = ex.value(args["self"], node)
    if args["beta"] != 1:
        bias = ex.emit(f"{node.name}_beta", "mul", [bias, ex.constant(args["beta"], dtype)])
    return ex.emit(node.name, "add", [product, bias])


def _scaled_dot_product_attention(ex, node):
    """ube.scaled_dot_product_attention: PyTorch's semantics (boolean masks
    keep, float masks add, top-left causal triangle, rows without a key give
    zeros); grouped-query heads (`enable_gqa`) are the op's own."""
    args = _args(node)
    q, k = args["query"], args["key"]
    (q_shape, _), (k_shape, _) = ex.meta(q), ex.meta(k)
    if len(q_shape) >= 3 and k_shape[-3] != q_shape[-3] and not args.get("enable_gqa"):
        raise ex.error(node, f"query heads ({q_shape[-3]}) and key heads ({k_shape[-3]}) "
                             "differ without enable_gqa")
    inputs = [ex.value(args[name], node) for name in ("query", "key", "value")]
    if args.get("attn_mask") is not None:
        inputs.append(ex.value(args["attn_mask"], node))
    attrs = {}
    if args.get("is_causal"):
        attrs["is_causal"] = True
    if args.get("scale") is not None:
        attrs["scale"] = float(args["scale"])
    if args.get("dropout_p"):  # in training: ube's masks (Philox), not PyTorch's
        attrs.update(dropout_p=float(args["dropout_p"]), seed=ex.next_seed())
    return ex.emit(node.name, "scaled_dot_product_attention", inputs, attrs or None)


def _flash_attention_output(ex, node):
    """PyTorch's CPU flash attention (what scaled_dot_product_attention becomes
    under torch.compile): its output, as scaled_dot_product_attention; its
    logsumexp (for the flash backward kernel) is not computed (PARTIAL_RESULTS)."""
    return [_scaled_dot_product_attention(ex, node), None]


# -- convolution, pooling, normalization over channels ------------------------

def _window_list(value, rank):
    """An ATen window argument (an int or a list; [] for a default) as one
    value per spatial dimension, or None when absent."""
    if value is None or value == []:
        return None
    value = list(value) if isinstance(value, (list, tuple)) else [value]
    return value * rank if len(value) == 1 else value


PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge",
             "circular": "wrap"}


def _pad(ex, node):
    """pad / constant_pad_nd(x, pad, [mode,] value): pad lists (before,
    after) pairs from the last dimension backwards."""
    args = _args(node)
    shape, dtype = ex.meta(args["self"])
    pad = list(args["pad"])
    mode = args.get("mode") or "constant"
    if mode not in PAD_MODES:
        raise ex.error(node, f"pad mode '{mode}' is not supported")
    pairs = [(0, 0)] * len(shape)
    amounts = [ex.amount(a, node) for a in pad]
    for i in range(len(pad) // 2):
        pairs[len(shape) - 1 - i] = (amounts[2 * i], amounts[2 * i + 1])
    try:
        value, _ = ex.graph.pad(ex.value(args["self"], node), shape, dtype, pairs,
                                PAD_MODES[mode], args["value"] or 0, node.name)
    except ExportError as e:
        raise ex.error(node, str(e)) from None
    return value


def _repeat(ex, node):
    args = _args(node)
    shape, _ = ex.meta(args["self"])
    try:
        return ex.graph.tile(ex.value(args["self"], node), shape, list(args["repeats"]),
                             node.name)
    except ExportError as e:
        raise ex.error(node, str(e)) from None


def _conv_attrs(ex, node, args, rank):
    """ube.conv's window attributes from ATen's convolution arguments
    (symmetric padding)."""
    padding = _window_list(args["padding"], rank) or [0] * rank
    attrs = {"stride": _window_list(args["stride"], rank), "padding": padding + padding,
             "dilation": _window_list(args["dilation"], rank), "groups": args["groups"]}
    return {k: v for k, v in attrs.items() if v}


def _folded_batch_norm(ex, node, args):
    """[weight, bias] of the convolution `node` with the inference batch norm
    that alone reads it folded in (w·s, (b − mean)·s + β with s = γ/√(var +
    ε)), when every tensor involved is known now; None otherwise. The
    unfolded weights leave the weights file when nothing else reads them."""
    users = list(node.users)
    if len(users) != 1 or users[0].target != aten._native_batch_norm_legit_no_training.default:
        return None
    norm = _args(users[0])
    if norm["input"] is not node:
        return None
    known = {}
    for owner, key in [(args, "weight"), (args, "bias"), (norm, "weight"), (norm, "bias"),
                       (norm, "running_mean"), (norm, "running_var")]:
        arg = owner[key]
        if arg is None:
            known[owner is norm, key] = None
        elif arg in ex.weights:
            known[owner is norm, key] = ex.weights[arg][1].detach().double()
        elif (value := ex.folded(arg)) is not None:
            known[owner is norm, key] = torch.from_numpy(value).double()
        else:
            return None
    if known[False, "weight"] is None or known[True, "running_mean"] is None or \
            known[True, "running_var"] is None:
        return None
    weight = known[False, "weight"]
    scale = torch.rsqrt(known[True, "running_var"] + float(norm["eps"]))
    if known[True, "weight"] is not None:
        scale = scale * known[True, "weight"]
    bias = known[False, "bias"] if known[False, "bias"] is not None else torch.zeros_like(scale)
    bias = (bias - known[True, "running_mean"]) * scale
    if known[True, "bias"] is not None:
        bias = bias + known[True, "bias"]
    weight = weight * scale.reshape([-1] + [1] * (weight.dim() - 1))
    dtype = ex.weights[args["weight"]][1].dtype
    for owner, key in [(args, "weight"), (args, "bias"), (norm, "weight"), (norm, "bias")]:
        arg = owner[key]
        if arg in ex.weights and len(arg.users) == 1:
            ex.graph.parameters.pop(ex.weights[arg][0], None)
    ex.folded_norms.add(users[0])
    return [ex.parameter(ex.graph.fresh(f"{node.name}_folded_weight"), weight.to(dtype)),
            ex.parameter(ex.graph.fresh(f"{node.name}_folded_bias"), bias.to(dtype))]


def _convolution(ex, node):
    """A convolution (with the inference batch norm after it folded in, when
    its statistics are known); a transposed one as the input gradient of
    the convolution it transposes (output_padding is in the result's
    shape)."""
    args = _args(node)
    shape, _ = ex.meta(args["input"])
    rank = len(shape) - 2
    attrs = _conv_attrs(ex, node, args, rank)
    inputs = [ex.value(args["input"], node), ex.value(args["weight"], node)]
    if not args["transposed"]:
        folded = _folded_batch_norm(ex, node, args)
        if folded:
            return ex.emit(node.name, "conv", [inputs[0], *folded], attrs)
        if args["bias"] is not None:
            inputs.append(ex.value(args["bias"], node))
        return ex.emit(node.name, "conv", inputs, attrs)
    out_shape, _ = ex.meta(node)
    n = node.name if args["bias"] is None else f"{node.name}_unbiased"
    y = ex.emit(n, "conv_input_grad", inputs, {**attrs, "input_spatial": out_shape[2:]})
    if args["bias"] is None:
        return y
    bias = ex.emit(f"{node.name}_bias", "reshape", [ex.value(args["bias"], node)],
                   shape=[out_shape[1]] + [1] * rank)
    return ex.emit(node.name, "add", [y, bias])


def _input_spatial(ex, node, x, shape):
    """An input gradient's input_spatial: the forward input's planes, each
    symbolic one named as that input's dimension (read at each call)."""
    return [{"size_of": ex.value(x, node), "axis": 2 + d} if isinstance(size, str) else size
            for d, size in enumerate(shape[2:])]


def _convolution_backward(ex, node):
    """convolution_backward: [grad_input, grad_weight, grad_bias] as
    output_mask asks (torch.compile's backward graphs)."""
    args = _args(node)
    shape, _ = ex.meta(args["input"])
    weight_shape, _ = ex.meta(args["weight"])
    rank = len(shape) - 2
    attrs = _conv_attrs(ex, node, args, rank)
    g = ex.value(args["grad_output"], node)
    want_input, want_weight, want_bias = args["output_mask"]
    n = node.name
    if args["transposed"]:  # the forward op was conv_input_grad(input, weight)
        return [
            ex.emit(f"{n}_input", "conv", [g, ex.value(args["weight"], node)], attrs)
            if want_input else None,
            ex.emit(f"{n}_weight", "conv_weight_grad", [g, ex.value(args["input"], node)],
                    {**attrs, "kernel": weight_shape[2:]}) if want_weight else None,
            ex.emit(f"{n}_bias", "reduce_sum", [g], {"axes": [0] + list(range(2, rank + 2))})
            if want_bias else None]
    return [
        ex.emit(f"{n}_input", "conv_input_grad", [g, ex.value(args["weight"], node)],
                {**attrs, "input_spatial": _input_spatial(ex, node, args["input"], shape)})
        if want_input else None,
        ex.emit(f"{n}_weight", "conv_weight_grad", [ex.value(args["input"], node), g],
                {**attrs, "kernel": weight_shape[2:]}) if want_weight else None,
        ex.emit(f"{n}_bias", "reduce_sum", [g], {"axes": [0] + list(range(2, rank + 2))})
        if want_bias else None]


def _pool_attrs(ex, node, args, rank, op):
    """ube.max_pool's ("max") or avg_pool's ("avg") attributes from ATen's
    pooling arguments (a stride of [] is the kernel)."""
    if op == "avg" and args.get("divisor_override") is not None:
        raise ex.error(node, "avg_pool with divisor_override is not supported")
    kernel = _window_list(args["kernel_size"], rank)
    padding = _window_list(args["padding"], rank) or [0] * rank
    attrs = {"kernel": kernel, "stride": _window_list(args["stride"], rank) or kernel,
             "padding": padding + padding, "ceil_mode": bool(args["ceil_mode"])}
    if op == "max":
        attrs["dilation"] = _window_list(args["dilation"], rank)
    else:
        attrs["count_include_pad"] = bool(args["count_include_pad"])
    return {k: v for k, v in attrs.items() if v}


def _weight_norm_backward(ex, node):
    """_weight_norm_interface_backward for w = g·v/‖v‖ (norms over every
    dimension but `dim`, kept): [d_v, d_g] with d_g = Σ(d_w·v)/‖v‖ and
    d_v = (g/‖v‖)·(d_w − v·d_g/‖v‖)."""
    args = _args(node)
    shape, _ = ex.meta(args["saved_v"])
    dim = args["dim"] % len(shape)
    n = node.name
    gw, v = ex.value(args["grad_w"], node), ex.value(args["saved_v"], node)
    g, norms = ex.value(args["saved_g"], node), ex.value(args["saved_norms"], node)
    axes = [d for d in range(len(shape)) if d != dim]
    dot = ex.emit(f"{n}_dot", "reduce_sum", [ex.emit(f"{n}_wv", "mul", [gw, v])],
                  {"axes": axes, "keepdims": True})
    d_g = ex.emit(f"{n}_g", "div", [dot, norms])
    inner = ex.emit(f"{n}_inner", "sub", [gw, ex.emit(f"{n}_vdg", "mul", [
        v, ex.emit(f"{n}_dg_norm", "div", [d_g, norms])])])
    d_v = ex.emit(f"{n}_v", "mul", [ex.emit(f"{n}_scale", "div", [g, norms]), inner])
    return [d_v, d_g]


def _slice_scatter(ex, node):
    """slice_scatter with step 1: the input with `src` in place of its slice
    (a concatenation of the parts around it)."""
    args = _args(node)
    shape, _ = ex.meta(args["self"])
    dim = args["dim"] % len(shape)
    size = shape[dim]
    if isinstance(size, str) or (args["step"] or 1) != 1:
        raise ex.error(node, "slice_scatter with a step or over a symbolic dimension")
    start = min(max((args["start"] or 0) + (size if (args["start"] or 0) < 0 else 0), 0), size)
    end = size if args["end"] is None else args["end"]
    end = min(max(end + (size if end < 0 else 0), start), size)
    x = ex.value(args["self"], node)
    parts = []
    for begin, stop in ((0, start), (end, size)):
        if stop > begin:
            s, limit = [0] * len(shape), list(shape)
            s[dim], limit[dim] = begin, stop
            parts.append(ex.emit(f"{node.name}_part", "slice", [x], {
                "start": s, "limit": limit, "stride": [1] * len(shape)}))
        else:
            parts.append(None)
    pieces = [p for p in (parts[0], ex.value(args["src"], node), parts[1]) if p]
    return pieces[0] if len(pieces) == 1 else ex.emit(node.name, "concat", pieces, {"axis": dim})


def _max_pool_backward(ex, node):
    """max_pool*_with_indices_backward: recomputed from the input (the
    indices are not read)."""
    args = _args(node)
    shape, _ = ex.meta(args["self"])
    return ex.emit(node.name, "max_pool_grad", [ex.value(args["self"], node),
                                                ex.value(args["grad_output"], node)],
                   _pool_attrs(ex, node, args, len(shape) - 2, "max"))


def _avg_pool_backward(ex, node):
    args = _args(node)
    shape, _ = ex.meta(args["self"])
    attrs = _pool_attrs(ex, node, args, len(shape) - 2, "avg")
    return ex.emit(node.name, "avg_pool_grad", [ex.value(args["grad_output"], node)],
                   {**attrs, "input_spatial": _input_spatial(ex, node, args["self"], shape)})


def _max_pool(ex, node):
    """max_pool*_with_indices: [values, indices] (the indices computed only
    where the graph uses them)."""
    args = _args(node)
    shape, _ = ex.meta(args["self"])
    attrs = _pool_attrs(ex, node, args, len(shape) - 2, "max")
    x = ex.value(args["self"], node)
    return [ex.emit(node.name, "max_pool", [x], attrs),
            ex.emit(f"{node.name}_indices", "max_pool_indices", [x], attrs)]


def _avg_pool(ex, node):
    args = _args(node)
    shape, _ = ex.meta(args["self"])
    return ex.emit(node.name, "avg_pool", [ex.value(args["self"], node)],
                   _pool_attrs(ex, node, args, len(shape) - 2, "avg"))


def _adaptive_avg_pool(ex, node):
    """adaptive_avg_pool to sizes that divide the input's: an avg_pool whose
    kernel and stride are the ratio (the windows PyTorch takes then)."""
    args = _args(node)
    shape, _ = ex.meta(_first(node))
    out = _window_list(args["output_size"], len(shape) - 2)
    spatial = shape[2:]
    if any(isinstance(s, str) or s % o for s, o in zip(spatial, out)):
        raise ex.error(node, f"adaptive_avg_pool from {spatial} to {out}: only output sizes "
                             "that divide the input's are supported")
    kernel = [s // o for s, o in zip(spatial, out)]
    return ex.emit(node.name, "avg_pool", [ex.value(_first(node), node)],
                   {"kernel": kernel, "stride": kernel})


def _batch_norm_no_training(ex, node):
    """_native_batch_norm_legit_no_training: [out, None, None] (the saved
    statistics are training's)."""
    args = _args(node)
    if node in ex.folded_norms:  # into the convolution before it
        return [ex.values[args["input"]], None, None]
    shape, dtype = ex.meta(args["input"])
    opt = lambda a: ex.value(args[a], node) if args[a] is not None else None  # noqa: E731
    out = ex.graph.batch_norm_inference(
        ex.value(args["input"], node), shape, ex.value(args["running_mean"], node),
        ex.value(args["running_var"], node), opt("weight"), opt("bias"), float(args["eps"]),
        dtype, node.name)
    return [out, None, None]


def _batch_norm_batch_stats(ex, node):
    """Batch normalization on the batch's statistics (training mode, and
    instance norm's no_stats form): [out, mean, rstd, new running mean, new
    running var] (the running statistics when the op has them: momentum·
    batch + (1 − momentum)·running, the variance unbiased)."""
    args = _args(node)
    shape, dtype = ex.meta(args["input"])
    axes = [0] + list(range(2, len(shape)))
    n = node.name
    x = ex.value(args["input"], node)
    normed, mean, var, rstd = ex.graph.normalized(x, axes, float(args["eps"]), dtype, n)
    opt = lambda a: ex.value(args[a], node) if args.get(a) is not None else None  # noqa: E731
    out = ex.graph.affine(normed, opt("weight"), opt("bias"), shape, n)
    channels = [shape[1]]
    mean_c = ex.emit(f"{n}_mean_c", "reshape", [mean], shape=channels)
    var_c = ex.emit(f"{n}_var_c", "reshape", [var], shape=channels)
    results = [out, mean_c, ex.emit(f"{n}_rstd_c", "reshape", [rstd], shape=channels)]
    if args.get("running_mean") is not None:
        m = float(args["momentum"])
        sizes = [shape[a] for a in axes]
        if any(isinstance(s, str) for s in sizes):
            # Symbolic: the count n is counted at run time, and the
            # correction n / max(n - 1, 1) a tensor.
            count = ex.count_tensor(sizes, node, dtype)
            fewer = ex.emit(f"{n}_count_less_one", "maximum", [
                ex.emit(f"{n}_count_minus_one", "sub", [count, ex.constant(1, dtype)]),
                ex.constant(1, dtype)])
            correction = ex.emit(f"{n}_correction", "div", [count, fewer])
        else:
            count = int(np.prod(sizes))
            correction = ex.constant(count / max(count - 1, 1), dtype)
        unbiased = ex.emit(f"{n}_var_unbiased", "mul", [var_c, correction])
        for stat, batch in (("running_mean", mean_c), ("running_var", unbiased)):
            kept = ex.emit(f"{n}_{stat}_kept", "mul", [ex.value(args[stat], node),
                                                        ex.constant(1 - m, dtype)])
            results.append(ex.emit(f"{n}_{stat}_new", "add", [kept, ex.emit(
                f"{n}_{stat}_batch", "mul", [batch, ex.constant(m, dtype)])]))
    return results


def _group_norm(ex, node):
    """native_group_norm: [out, mean, rstd] (statistics [N, groups])."""
    args = _args(node)
    shape, dtype = ex.meta(args["input"])
    opt = lambda a: ex.value(args[a], node) if args[a] is not None else None  # noqa: E731
    return list(ex.graph.group_norm(ex.value(args["input"], node), shape, args["group"],
                                    opt("weight"), opt("bias"), float(args["eps"]), dtype,
                                    node.name))


def _softmax(op):
    def handler(ex, node):
        x = _first(node)
        shape, _ = ex.meta(x)
        dim = node.args[1] % max(len(shape), 1)
        return ex.emit(node.name, op, [ex.value(x, node)], {"axis": dim})
    return handler


def _layer_norm(ex, node):
    args = _args(node)
    inputs = [ex.value(args["input"], node)]
    if args["weight"] is not None:
        inputs.append(ex.value(args["weight"], node))
        if args["bias"] is not None:
            inputs.append(ex.value(args["bias"], node))
    elif args["bias"] is not None:
        raise ex.error(node, "a LayerNorm bias without a weight is not supported")
    return ex.emit(node.name, "layer_norm", inputs,
                   {"axis": -len(args["normalized_shape"]), "epsilon": float(args["eps"])})


def _rms_norm(ex, node):
    args = _args(node)
    inputs = [ex.value(args["input"], node)]
    if args["weight"] is not None:
        inputs.append(ex.value(args["weight"], node))
    # eps=None is the input dtype's machine epsilon, as torch.
    eps = args["eps"] if args["eps"] is not None else torch.finfo(ex.val(_first(node)).dtype).eps
    return ex.emit(node.name, "rms_norm", inputs,
                   {"axis": -len(args["normalized_shape"]), "epsilon": float(eps)})


def _dropout(ex, node):
    args = _args(node)
    if args["train"] is not False and args["p"] > 0:
        return ex.emit(node.name, "dropout", [ex.value(args["input"], node)],
                       {"rate": float(args["p"]), "seed": ex.next_seed()})
    return ex.value(args["input"], node)


def _native_dropout(ex, node):
    """What training-mode torch.export records for nn.Dropout: the output (the
    keep-mask result is not computed: PARTIAL_RESULTS)."""
    return [_dropout(ex, node), None]


# -- reductions ----------------------------------------------------------------

def _axes(ex, node, dims):
    shape, _ = ex.meta(_first(node))
    if dims is None or (isinstance(dims, (list, tuple)) and not dims):
        return None
    dims = dims if isinstance(dims, (list, tuple)) else [dims]
    return [int(d) % max(len(shape), 1) for d in dims]


def _reduction_attrs(ex, node, args):
    """A reduction's ube attributes from ATen's `dim` and `keepdim` (None
    when both are defaults)."""
    attrs = {}
    axes = _axes(ex, node, args.get("dim"))
    if axes is not None:
        attrs["axes"] = axes
    if args.get("keepdim"):
        attrs["keepdims"] = True
    return attrs or None


def _reduce(op):
    def handler(ex, node):
        args = _args(node)
        x = ex.value(_first(node), node)
        _, dtype = ex.meta(node)
        if ex.meta(_first(node))[1] != dtype:  # sum of bools or of ints widened
            x = ex.emit(f"{node.name}_cast", "cast", [x], dtype=dtype)
        attrs = _reduction_attrs(ex, node, args)
        return ex.emit(node.name, op, [x], attrs)
    return handler


def _arg_reduce(op):
    """argmax/argmin over `dim`, or over the flattened tensor without one."""
    def handler(ex, node):
        args = _args(node)
        x = ex.value(args["self"], node)
        shape, _ = ex.meta(args["self"])
        out_shape, _ = ex.meta(node)
        if args["dim"] is None:
            x = ex.emit(f"{node.name}_flat", "reshape", [x], shape=[-1] if not shape else
                        [int(np.prod(shape))])
            flat = ex.emit(f"{node.name}_flat_index", op, [x], {"axis": 0})
            return ex.emit(node.name, "reshape", [flat], shape=out_shape)
        return ex.emit(node.name, op, [x], {"axis": args["dim"] % max(len(shape), 1),
                                           "keepdims": bool(args["keepdim"])})
    return handler


def _extreme_along(reduce_op, arg_op):
    """max.dim / min.dim: [values, indices]."""
    def handler(ex, node):
        args = _args(node)
        x = ex.value(args["self"], node)
        shape, _ = ex.meta(args["self"])
        axis, keep = args["dim"] % max(len(shape), 1), bool(args["keepdim"])
        return [ex.emit(node.name, reduce_op, [x], {"axes": [axis], "keepdims": keep}),
                ex.emit(f"{node.name}_indices", arg_op, [x], {"axis": axis, "keepdims": keep})]
    return handler


def _topk(ex, node):
    """topk / sort: [values, indices], ube.topk's positions and the input
    taken along the axis at them (sort: k the whole axis, descending the
    largest first; stable either way)."""
    args = _args(node)
    x = args["self"]
    shape, _ = ex.meta(x)
    if not shape:
        raise ex.error(node, "of a scalar")
    if any(isinstance(d, SymbolicSize) for d in shape):
        raise ex.error(node, "on symbolic sizes is not supported yet")
    axis = args["dim"] % len(shape)
    if node.target in (aten.topk.default,):
        k, largest = int(args["k"]), bool(args["largest"])
    else:
        k, largest = shape[axis], bool(args["descending"])
    value = ex.value(x, node)
    indices = ex.emit(f"{node.name}_indices", "topk", [value],
                      {"k": k, "axis": axis, "largest": largest})
    out_shape = shape[:axis] + [k] + shape[axis + 1:]
    return [ex.graph.take_along(value, shape, indices, out_shape, axis, node.name), indices]


def _any_all(kind):
    """any(x, dim) = max over dim of x as integers (and `all`, through not any(not x))."""
    def handler(ex, node):
        args = _args(node)
        x = ex.value(_first(node), node)
        if ex.meta(_first(node))[1] != "i1":
            x = ex.emit(f"{node.name}_nonzero", "compare",
                        [x, ex.value(0, node, ex.meta(_first(node))[1])], {"predicate": "ne"})
        if kind == "all":
            x = ex.emit(f"{node.name}_not", "logical_not", [x])
        attrs = _reduction_attrs(ex, node, args)
        wide = ex.emit(f"{node.name}_i32", "cast", [x], dtype="i32")
        reduced = ex.emit(f"{node.name}_max", "reduce_max", [wide], attrs)
        result = ex.emit(f"{node.name}_any" if kind == "all" else node.name, "cast", [reduced],
                         dtype="i1")
        return ex.emit(node.name, "logical_not", [result]) if kind == "all" else result
    return handler


def _var_mean(ex, node):
    """var_mean: [var, mean] (the normalization decompositions' statistics)."""
    var, mean, axes = _variance(ex, node, f"{node.name}_var")
    if not _args(node)["keepdim"]:
        shape, _ = ex.meta(_first(node))
        mean = ex.emit(f"{node.name}_mean_out", "reshape", [mean],
                       shape=[d for i, d in enumerate(shape) if i not in axes])
    return [var, mean]


def _index_put(ex, node):
    """index_put(x, indices, values, accumulate=True): x + the values added
    at the indexed positions (the gradient of embedding, of indexing and of
    resizes), as one ube.scatter_add over x's indexed dimensions flattened
    (moved first when full slices come before them)."""
    args = _args(node)
    x, values = args["self"], args["values"]
    if not args["accumulate"]:
        raise ex.error(node, "index_put without accumulate (an overwrite) is not supported")
    p, indices = _leading_slices(ex, node, args["indices"])
    shape, dtype = ex.meta(x)
    k, n = len(indices), node.name
    index_shape = ex.meta(indices[0])[0]
    for i in indices[1:]:
        index_shape = list(np.broadcast_shapes(tuple(index_shape), tuple(ex.meta(i)[0])))
    updates = ex.value(values, node, dtype)
    full = shape[:p] + index_shape + shape[p + k:]  # the shape of x[..., indices, ...]
    if ex.meta(values)[0] != full:
        updates = ex.emit(f"{n}_spread", "broadcast_to", [updates], shape=full)
    perm = _moved_first(p, k, len(shape))
    if p:
        updates = ex.emit(f"{n}_values_moved", "transpose", [updates],
                          {"perm": _moved_first(p, len(index_shape), len(full))})
    moved = [shape[d] for d in perm]
    count, rows = int(np.prod(index_shape)), moved[k:]
    linear = _linear_index(ex, node, indices, moved)
    if ex.meta(indices[0])[0] != index_shape or len(indices) > 1:
        linear = ex.emit(f"{n}_index", "broadcast_to", [linear], shape=index_shape)
    linear = ex.emit(f"{n}_flat_index", "reshape", [linear], shape=[count])
    updates = ex.emit(f"{n}_updates", "reshape", [updates], shape=[count] + rows)
    added = ex.emit(f"{n}_scatter", "scatter_add", [updates, linear],
                    shape=[int(np.prod(moved[:k]))] + rows)
    added = ex.emit(f"{n}_added", "reshape", [added], shape=moved)
    if p:
        added = ex.emit(f"{n}_added_back", "transpose", [added],
                        {"perm": [perm.index(d) for d in range(len(shape))]})
    return ex.emit(n, "add", [ex.value(x, node), added])


def _cumsum(ex, node):
    """cumsum along `dim` (ube.cumsum), in the result's dtype."""
    args = _args(node)
    x = _first(node)
    shape, _ = ex.meta(x)
    _, dtype = ex.meta(node)
    v = ex.value_as(x, node, dtype)
    if not shape:
        return v
    return ex.emit(node.name, "cumsum", [v], {"axis": args["dim"] % len(shape)})


def _variance(ex, node, name):
    """var / var_mean(x, dim, correction, keepdim): the mean of squared
    deviations from the mean over `dim`, times n / (n - correction) unless the
    correction is 0 (the biased variance, as LayerNorm and MobileBERT's
    feature-map terms use). Returns (the variance, named `name`; the mean with
    kept dimensions; the reduced axes)."""
    args = _args(node)
    x = ex.value(_first(node), node)
    shape, _ = ex.meta(_first(node))
    correction = 1 if args["correction"] is None else args["correction"]
    axes = _axes(ex, node, args["dim"]) or list(range(len(shape)))
    n = node.name
    mean = ex.emit(f"{n}_mean", "reduce_mean", [x], {"axes": axes, "keepdims": True})
    deviation = ex.emit(f"{n}_dev", "sub", [x, mean])
    attrs = {"axes": axes, **({"keepdims": True} if args["keepdim"] else {})}
    count = int(np.prod([shape[a] for a in axes]))
    if correction and count <= correction:
        raise ex.error(node, f"var over {count} elements with correction {correction}")
    squares = ex.emit(f"{n}_sq", "mul", [deviation, deviation])
    if not correction:
        return ex.emit(name, "reduce_mean", [squares], attrs), mean, axes
    biased = ex.emit(f"{n}_biased", "reduce_mean", [squares], attrs)
    return (ex.emit(name, "mul", [biased, ex.constant(count / (count - correction), "f32")]),
            mean, axes)


def _var(ex, node):
    return _variance(ex, node, node.name)[0]


# -- losses --------------------------------------------------------------------

def _reduced(ex, node, terms, reduction):
    if reduction == "none":
        return terms
    return ex.emit(node.name, "reduce_mean" if reduction == "mean" else "reduce_sum", [terms])


def _l1_loss(ex, node):
    """|input - target|, reduced (no ube op: the distillation fusion pass
    reads this form)."""
    args = _args(node)
    n = node.name
    terms = ex.emit(f"{n}_abs", "abs", [ex.emit(f"{n}_diff", "sub", [
        ex.value(args["self"], node), ex.value(args["target"], node)])])
    return _reduced(ex, node, terms, REDUCTIONS[args["reduction"]])


def _mse_loss(ex, node):
    args = _args(node)
    return ex.emit(node.name, "mse_loss", [ex.value(args["self"], node),
                                           ex.value(args["target"], node)],
                   {"reduction": REDUCTIONS[args["reduction"]]})


def _cross_entropy(ex, node):
    args = _args(node)
    logits, labels = args["self"], args["target"]
    if len(ex.meta(logits)[0]) != 2 or len(ex.meta(labels)[0]) != 1:
        raise ex.error(node, "cross_entropy exports [N, C] logits and [N] class indices only")
    if args["weight"] is not None:
        raise ex.error(node, "class weights are not supported")
    if args["label_smoothing"]:
        raise ex.error(node, "label_smoothing is not supported")
    return ex.emit(node.name, "cross_entropy", [ex.value(logits, node), ex.value(labels, node)],
                   {"ignore_index": int(args["ignore_index"]),
                    "reduction": REDUCTIONS[args["reduction"]]})


def _kl_div(ex, node):
    """kl_div(input=log q, target=p): p (log p - input) where p > 0, else 0,
    as PyTorch, reduced; ube keeps this primitive form for the distillation
    fusion pass to recognize (F.kl_div's "batchmean" is this sum divided by
    the batch, which the fusion reads too)."""
    args = _args(node)
    log_q, target = ex.value(args["self"], node), ex.value(args["target"], node)
    n = node.name
    if args["log_target"]:
        log_p, p = target, ex.emit(f"{n}_p", "exp", [target])
        terms = ex.emit(f"{n}_terms", "mul", [p, ex.emit(f"{n}_diff", "sub", [log_p, log_q])])
    else:
        zero = ex.constant(0.0, "f32")
        positive = ex.emit(f"{n}_pos", "compare", [target, zero], {"predicate": "gt"})
        log_p = ex.emit(f"{n}_logp", "log", [target])
        raw = ex.emit(f"{n}_raw", "mul", [target, ex.emit(f"{n}_diff", "sub", [log_p, log_q])])
        terms = ex.emit(f"{n}_terms", "where", [positive, raw, zero])
    reduction = REDUCTIONS[args["reduction"]]
    if reduction == "none":
        return terms
    total = ex.emit(f"{n}_sum", "reduce_sum", [terms])
    if reduction == "sum":
        return total
    count = int(np.prod(ex.meta(args["self"])[0]))
    return ex.emit(n, "div", [total, ex.constant(float(count), "f32")])


# -- module replacement --------------------------------------------------------

def _bernoulli_select(ex, node):
    student, teacher, module_id, slope, offset, seed = node.args[:6]
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
                    ex.value(teacher, node)], {"module_id": int(module_id), "seed": int(seed)})


ATEN_OPS = {
    # elementwise
    aten.add.Tensor: _binary("add"), aten.add.Scalar: _binary("add"),
    aten.sub.Tensor: _binary("sub"), aten.sub.Scalar: _binary("sub"),
    aten.rsub.Scalar: _binary("sub", reverse=True), aten.rsub.Tensor: _binary("sub", reverse=True),
    aten.mul.Tensor: _binary("mul"), aten.mul.Scalar: _binary("mul"),
    aten.div.Tensor: _binary("div"), aten.div.Scalar: _binary("div"),
    aten.div.Tensor_mode: _div_mode, aten.div.Scalar_mode: _div_mode,
    aten.pow.Tensor_Scalar: _binary("pow"), aten.pow.Tensor_Tensor: _binary("pow"),
    aten.pow.Scalar: _binary("pow"),
    aten.maximum.default: _binary("maximum"), aten.minimum.default: _binary("minimum"),
    aten.neg.default: _unary("neg"), aten.exp.default: _unary("exp"),
    aten.log.default: _unary("log"), aten.sqrt.default: _unary("sqrt"),
    aten.rsqrt.default: _unary("rsqrt"), aten.tanh.default: _unary("tanh"),
    aten.sigmoid.default: _unary("sigmoid"), aten.relu.default: _unary("relu"),
    aten.abs.default: _unary("abs"), aten.erf.default: _unary("erf"),
    aten.reciprocal.default: _reciprocal, aten.clamp.default: _clamp,
    aten.hardtanh.default: _clamp, aten.linalg_vector_norm.default: _vector_norm,
    aten.leaky_relu.default: _activation("leaky_relu", alpha="negative_slope"),
    aten.elu.default: _activation("elu", alpha="alpha", scale="scale",
                                  input_scale="input_scale"),
    aten.softplus.default: _activation("softplus", beta="beta", threshold="threshold"),
    aten.mish.default: _activation("mish"), aten.hardswish.default: _activation("hard_swish"),
    aten.celu.default: _celu,
    aten.hardsigmoid.default: _activation("hard_sigmoid"),
    aten.gelu.default: _gelu, aten.silu.default: _unary("silu"),
    aten.sin.default: _unary("sin"), aten.cos.default: _unary("cos"),
    **{getattr(aten, name).default: _unary(name)
       for name in ("log1p", "expm1", "tan", "atan", "asin", "acos", "sinh", "cosh", "asinh",
                    "acosh", "atanh")},
    aten.atan2.default: _binary("atan2"), aten.log2.default: _scaled_unary("log", 1 / math.log(2)),
    aten.exp2.default: _scaled_unary("exp", math.log(2), before=True),
    aten.isnan.default: _isnan, aten.isinf.default: _isinf,
    aten.clamp.Tensor: _clamp_tensor,
    aten.floor.default: _rounding("floor"), aten.ceil.default: _rounding("ceil"),
    aten.round.default: _rounding("round"), aten.trunc.default: _rounding("trunc"),
    aten.sign.default: _unary("sign"), aten.fmod.Tensor: _binary("fmod"),
    aten.fmod.Scalar: _binary("fmod"), aten.remainder.Tensor: _remainder,
    aten.remainder.Scalar: _remainder,
    aten.eq.Tensor: _compare("eq"), aten.eq.Scalar: _compare("eq"),
    aten.ne.Tensor: _compare("ne"), aten.ne.Scalar: _compare("ne"),
    aten.lt.Tensor: _compare("lt"), aten.lt.Scalar: _compare("lt"),
    aten.le.Tensor: _compare("le"), aten.le.Scalar: _compare("le"),
    aten.gt.Tensor: _compare("gt"), aten.gt.Scalar: _compare("gt"),
    aten.ge.Tensor: _compare("ge"), aten.ge.Scalar: _compare("ge"),
    aten.logical_not.default: _logical("logical_not"),
    aten.bitwise_not.default: _logical("logical_not"),
    aten.logical_and.default: _logical("logical_and"),
    aten.bitwise_and.Tensor: _logical("logical_and"),
    aten.logical_or.default: _logical("logical_or"),
    aten.bitwise_or.Tensor: _logical("logical_or"),
    aten.where.self: _where, aten.masked_fill.Scalar: _masked_fill,
    aten.masked_fill.Tensor: _masked_fill,
    aten._to_copy.default: _cast, aten.clone.default: _identity, aten.alias.default: _identity,
    aten.lift_fresh_copy.default: _identity, aten.detach.default: _identity,
    # creation
    aten.full.default: _full, aten.scalar_tensor.default: _full, aten.zeros.default: _full,
    aten.ones.default: _full, aten.full_like.default: _full_like,
    aten.zeros_like.default: _full_like, aten.ones_like.default: _full_like,
    aten.arange.default: _arange, aten.arange.start: _arange, aten.arange.start_step: _arange,
    # data movement
    aten.view.default: _reshape, aten._unsafe_view.default: _reshape,
    aten.reshape.default: _reshape, aten.unsqueeze.default: _reshape,
    aten.squeeze.dim: _reshape, aten.squeeze.dims: _reshape, aten.squeeze.default: _reshape,
    aten.permute.default: _permute, aten.transpose.int: _transpose, aten.t.default: _transpose,
    aten.expand.default: _expand, aten.slice.Tensor: _slice_tensor, aten.select.int: _select,
    aten.split.Tensor: _split, aten.split_with_sizes.default: _split,
    aten.unbind.int: _unbind, operator.getitem: _getitem, aten.cat.default: _cat,
    aten.embedding.default: _embedding, aten.index_select.default: _index_select,
    aten.index.Tensor: _index, aten.gather.default: _gather_along,
    # contractions and normalizations
    aten.matmul.default: _matmul, aten.mm.default: _matmul, aten.bmm.default: _matmul,
    aten.linear.default: _linear, aten.addmm.default: _addmm,
    aten.softmax.int: _softmax("softmax"), aten._softmax.default: _softmax("softmax"),
    aten.log_softmax.int: _softmax("log_softmax"),
    aten._log_softmax.default: _softmax("log_softmax"),
    aten.layer_norm.default: _layer_norm, aten.rms_norm.default: _rms_norm,
    aten.convolution.default: _convolution,
    aten.convolution_backward.default: _convolution_backward,
    aten._weight_norm_interface_backward.default: _weight_norm_backward,
    aten.slice_scatter.default: _slice_scatter,
    aten.max_pool2d_with_indices_backward.default: _max_pool_backward,
    aten.max_pool3d_with_indices_backward.default: _max_pool_backward,
    aten.avg_pool2d_backward.default: _avg_pool_backward,
    aten.avg_pool3d_backward.default: _avg_pool_backward,
    aten.flip.default: _flip,
    **{op: _upsample(mode) for op, mode in RESIZES.items()},
    aten.constant_pad_nd.default: _pad, aten.pad.default: _pad, aten.repeat.default: _repeat,
    aten.max_pool1d_with_indices.default: _max_pool,
    aten.max_pool2d_with_indices.default: _max_pool,
    aten.max_pool3d_with_indices.default: _max_pool,
    aten.avg_pool1d.default: _avg_pool, aten.avg_pool2d.default: _avg_pool,
    aten.avg_pool3d.default: _avg_pool,
    aten._adaptive_avg_pool2d.default: _adaptive_avg_pool,
    aten._adaptive_avg_pool3d.default: _adaptive_avg_pool,
    aten.adaptive_avg_pool1d.default: _adaptive_avg_pool,
    aten._native_batch_norm_legit_no_training.default: _batch_norm_no_training,
    aten._native_batch_norm_legit.no_stats: _batch_norm_batch_stats,
    aten._native_batch_norm_legit_functional.default: _batch_norm_batch_stats,
    aten.native_group_norm.default: _group_norm,
    aten.dropout.default: _dropout,
    aten.native_dropout.default: _native_dropout,
    aten.scaled_dot_product_attention.default: _scaled_dot_product_attention,
    aten._scaled_dot_product_flash_attention_for_cpu.default: _flash_attention_output,
    # reductions
    aten.sum.dim_IntList: _reduce("reduce_sum"), aten.sum.default: _reduce("reduce_sum"),
    aten.mean.dim: _reduce("reduce_mean"), aten.mean.default: _reduce("reduce_mean"),
    aten.amax.default: _reduce("reduce_max"), aten.var.correction: _var,
    aten.amin.default: _reduce("reduce_min"),
    aten.max.default: _reduce("reduce_max"), aten.min.default: _reduce("reduce_min"),
    aten.max.dim: _extreme_along("reduce_max", "argmax"),
    aten.min.dim: _extreme_along("reduce_min", "argmin"),
    aten.argmax.default: _arg_reduce("argmax"), aten.argmin.default: _arg_reduce("argmin"),
    aten.topk.default: _topk, aten.sort.default: _topk, aten.sort.stable: _topk,
    aten.cumsum.default: _cumsum, aten.var_mean.correction: _var_mean,
    aten.index_put.default: _index_put,
    aten.any.dim: _any_all("any"), aten.any.dims: _any_all("any"),
    aten.any.default: _any_all("any"), aten.all.dim: _any_all("all"),
    aten.all.dims: _any_all("all"), aten.all.default: _any_all("all"),
    # losses
    aten.kl_div.default: _kl_div, aten.mse_loss.default: _mse_loss,
    aten.l1_loss.default: _l1_loss, aten.cross_entropy_loss.default: _cross_entropy,
    # bookkeeping torch.export leaves in the graph
    aten._assert_tensor_metadata.default: _nothing, aten._assert_scalar.default: _nothing,
    aten._assert_async.msg: _nothing,
    aten.sym_size.int: _sym_size, aten.sym_constrain_range_for_size.default: _nothing,
    # Size arithmetic (a decomposition's shapes): the size it computes.
    operator.add: _sym_size, operator.sub: _sym_size, operator.mul: _sym_size,
    operator.floordiv: _sym_size, operator.mod: _sym_size, operator.neg: _sym_size,
    torch.sym_max: _sym_size, torch.sym_min: _sym_size, torch.sym_sum: _sym_size,
    operator.truediv: _size_quotient,
    torch._C._set_grad_enabled: _nothing,
    torch.ops.ube.replace_module_output.default: _bernoulli_select,
}


def exported_program(module, example_inputs, kwargs=None, dynamic_shapes=None):
    """The module through torch.export and the core-ATen decompositions,
    KEPT_WHOLE left whole."""
    table = torch.export.default_decompositions()
    for op in KEPT_WHOLE:
        table.pop(op, None)
    # A failing op logs its traceback from the fake-tensor layer besides raising; the
    # error reaches the user once, as an ExportError.
    fake_log = logging.getLogger("torch._subclasses.fake_tensor")
    level = fake_log.level
    fake_log.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            # torch's own deprecation noise from copying its pytree specs.
            warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
            program = torch.export.export(module, tuple(example_inputs), kwargs or {},
                                          dynamic_shapes=dynamic_shapes, strict=False)
            return program.run_decompositions(table)
    finally:
        fake_log.setLevel(level)


def _symbols(program, module, dynamic_shapes):
    """torch's symbols of the dynamic dimensions (`str(expr)`) -> the names of
    the Dims that made them, and the graph's `dims` (each symbol's bounds)."""
    specs = dynamic_shapes
    if isinstance(specs, dict):  # by the forward's argument names
        order = list(inspect.signature(module.forward).parameters)
        specs = [specs.get(name) for name in order]
    placeholders = [node for node in program.graph.nodes if node.op == "placeholder"]
    user = [spec.arg.name for spec in program.graph_signature.input_specs
            if spec.kind == InputKind.USER_INPUT]
    by_name = {node.name: node for node in placeholders}
    symbols, dims = {}, {}
    for i, spec in enumerate(specs or []):
        if spec is None or i >= len(user):
            continue
        items = spec.items() if isinstance(spec, dict) else enumerate(spec)
        shape = by_name[user[i]].meta["val"].shape
        for d, dim in items:
            if dim is None or isinstance(dim, int) or not hasattr(dim, "__name__"):
                continue
            size = shape[d]
            if isinstance(size, int):
                raise ExportError(f"input {i}: dimension {d} ('{dim.__name__}') was "
                                  f"specialized to {size} by torch.export (an example of "
                                  "size 0 or 1, or code that fixes it)")
            expr = size.node.expr
            # A Dim, or a multiple of one (samples = 20 * Dim("_samples"),
            # which torch.export suggests for strided convolutions): then
            # a graph symbol that is a multiple of the factor.
            product = symbol_product(expr)
            if not expr.is_symbol and not (product and len(product[1]) == 1):
                raise ExportError(f"input {i}: dimension {d} is {expr}, derived from another "
                                  "Dim; ube names symbols and their multiples, not other "
                                  "expressions of them")
            base, factor = (expr, 1) if expr.is_symbol else (product[1][0], product[0])
            # (A multiple's Dim is named by its expression, "20*_samples":
            # the symbol is the root's name and the factor, "_samples_x20".)
            name = dim.__name__ if factor == 1 else f"{getattr(dim, 'root', dim).__name__}_x{factor}"
            symbols.setdefault(str(expr), name)
            name = symbols[str(expr)]
            bounds = program.range_constraints.get(base)
            entry = {"min": 1, "max": 0, "multiple_of": factor}
            if bounds is not None:
                entry["min"] = max(1, int(bounds.lower)) * factor
                try:
                    entry["max"] = int(bounds.upper) * factor if bounds.upper.is_finite else 0
                except (TypeError, AttributeError, OverflowError):
                    entry["max"] = 0
            dims[name] = {k: v for k, v in entry.items()
                          if (k, v) not in (("min", 1), ("max", 0), ("multiple_of", 1))}
    return symbols, dims


def export(module, example_inputs, path, *, input_names=None, name=None, kwargs=None,
           dynamic_shapes=None):
    """Exports `module` with torch.export on `example_inputs` (a tuple; and
    `kwargs`) and writes the graph file `path` and its weights
    (`<stem>.safetensors`). `dynamic_shapes` (torch.export's: per input, a
    dict or list of `torch.export.Dim`s by dimension) makes those dimensions
    symbols of the graph, named as the Dims are. Returns the graph as a
    dict."""
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    example_inputs = tuple(torch.as_tensor(x) for x in example_inputs)
    try:
        program = exported_program(module, example_inputs, kwargs, dynamic_shapes)
    except ExportError:
        raise
    except Exception as e:  # torch.export's own errors, with its explanation
        raise ExportError(f"torch.export could not trace {type(module).__name__}: "
                          f"{type(e).__name__}: {e}") from e
    symbols, dims = _symbols(program, module, dynamic_shapes)
    exporter = _Exporter(program.graph_module, program, symbols)
    exporter.graph.dims = dims
    exporter.run(input_names)
    return exporter.graph.write(path, name or type(module).__name__)
