"""`torch.compile(model, backend="ube")`: inference and training.

Dynamo hands over a graph; `aot_autograd` turns it into a forward and (when
gradients are needed) a backward graph of ATen ops, decomposed to the core
opset (normalizations and their backward passes to statistics ube maps).
Each graph is partitioned: the largest connected groups of nodes that
ube.torch_export maps (`ATEN_OPS`, ube's dtypes; static shapes, or dynamo's
symbolic sizes under `dynamic=True`, each a symbol of the partition's graph
file, so one executable serves every size) become one compiled ube
executable each; the rest runs as eager PyTorch between them,
and one warning names those ops. So `loss.backward()` on a compiled module
runs ube's forward and backward kernels, and a model with an op ube lacks
still runs. Guard failures recompile as PyTorch's own backends do.

`compiled_graphs()` reports, per graph handed to ube, how many ATen nodes it
had and how many ube compiled (tests and users check what ran where).
"""
import copy
import operator
import os
import tempfile
import warnings

import torch
from torch.fx.passes.operator_support import OperatorSupportBase

from ube.errors import CompileError
from ube.graph_builder import ExportError

_REPORTS = []  # one dict per compiled graph: kind, nodes, compiled, eager ops


def compiled_graphs():
    """What the backend did with each graph so far: a list of dicts with
    `graph` ("forward"/"backward"), `nodes` (ATen ops in it), `compiled`
    (of them, run by ube), `partitions` (ube executables) and `eager`
    (the ops left to PyTorch)."""
    return list(_REPORTS)


def reset_report():
    _REPORTS.clear()


def _decompositions():
    from torch._decomp import core_aten_decompositions, get_decompositions
    aten = torch.ops.aten
    table = dict(core_aten_decompositions())
    # Backward and normalization ops down to what ube maps.
    table.update(get_decompositions([
        aten.native_layer_norm, aten.native_layer_norm_backward,
        aten._softmax_backward_data, aten._log_softmax_backward_data, aten.gelu_backward,
        aten.embedding_dense_backward, aten.threshold_backward, aten.silu_backward,
        aten.sigmoid_backward, aten.tanh_backward, aten.native_dropout_backward]))
    # PyTorch's decomposition of its CPU flash attention returns a logsumexp that
    # the flash backward kernel (which has no decomposition) does not expect:
    # gradients come out wrong. The op stays whole: ube computes its output where
    # the logsumexp is unused (inference); in training PyTorch runs it and its
    # backward.
    table.pop(aten._scaled_dot_product_flash_attention_for_cpu.default, None)
    # Pooling gradients have ube ops (recomputing the maxima: the indices of
    # the forward pass are not read).
    table.pop(aten.max_pool2d_with_indices_backward.default, None)
    table.pop(aten.max_pool3d_with_indices_backward.default, None)
    return table


def _plain_size(size, computed=True):
    """Whether a size is an int, one of dynamo's symbols (s0) or a product of
    them, as a graph file names them, or (`computed`) another expression of
    the symbols (17*s0, a convolution's ((s1 - 3)//2) + 1), which a
    partition computes from its inputs' symbols."""
    from ube.torch_export import symbol_product
    if isinstance(size, int):
        return True
    if isinstance(size, torch.SymInt):
        expr = size.node.expr
        if expr.is_symbol or expr.is_number:
            return True
        product = symbol_product(expr)
        return computed or (product is not None and product[0] == 1)
    return False


def _partition_symbols(values):
    """Dynamo's symbols among a partition's example inputs: {str(expr): name},
    each named after itself (s0), and the graph's `dims` (no bounds). An
    input size computed from those symbols (the gradient of a strided
    convolution's output, ((s1 - 1)//2) + 1) is a derived symbol: its
    `size` the expression, which the call checks."""
    from ube.torch_export import size_expression
    sizes = [size for value in values
             for size in (value.shape if isinstance(value, torch.Tensor) else [value])
             if isinstance(size, torch.SymInt)]
    symbols = {str(s.node.expr): str(s.node.expr) for s in sizes if s.node.expr.is_symbol}
    dims = {name: {} for name in symbols.values()}
    given = dict(symbols)
    # (Only tensors' sizes: a derived symbol is bound by the input naming it.)
    for size in (size for value in values if isinstance(value, torch.Tensor)
                 for size in value.shape if isinstance(size, torch.SymInt)):
        expr = size.node.expr
        text = None if str(expr) in symbols else size_expression(expr, given)
        if text is not None:
            name = f"derived_{len(symbols) - len(given)}"  # (dynamo's are s0, u0, ...)
            symbols[str(expr)] = name
            dims[name] = {"size": text}
    return symbols, dims


def _dropout_p(node):
    """The attention dropout of an SDPA node (keyword or positional)."""
    from ube.torch_export import _args
    return bool(_args(node).get("dropout_p"))


_RANDOM_OPS = {  # target -> whether a node of it draws random masks
    torch.ops.aten.dropout.default: lambda node: True,
    torch.ops.aten.native_dropout.default: lambda node: True,
    torch.ops.aten.scaled_dot_product_attention.default: _dropout_p,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu.default: _dropout_p,
}


class _Supported(OperatorSupportBase):
    """Nodes ube can run: a mapped op on tensors of ube's dtypes whose sizes
    are ints or dynamo's symbols. `reasons` collects why the others cannot
    ({op: reason})."""

    def __init__(self, computed_sizes=True):
        super().__init__()
        self.reasons = {}
        # Sizes computed from symbols (a ViT's 17*s0 rows, a convolution's
        # output length) run inside a partition, but not at its inputs (which
        # name symbols): where one would be, the graph is partitioned again
        # without them.
        self.computed_sizes = computed_sizes
        self.saw_computed_sizes = False

    def plain(self, size):
        if _plain_size(size, computed=False):
            return True
        if self.computed_sizes and _plain_size(size):
            self.saw_computed_sizes = True
            return True
        return False

    def is_node_supported(self, submodules, node):
        from ube.torch_export import ATEN_OPS, PARTIAL_RESULTS, TORCH_TO_UBE, _nothing
        handler = ATEN_OPS.get(node.target)
        if node.op != "call_function" or handler is _nothing or _is_size_arithmetic(node):
            return False
        if handler is None:
            self.reasons[str(node.target)] = "no ube mapping"
            return False
        if node.target is torch.ops.aten.sym_size.int and any(
                user.op == "output" for user in node.users):
            # A size the graph returns (saved for the backward graph) is read
            # from a tensor there: an executable returns tensors.
            return False
        if node.target in PARTIAL_RESULTS and any(
                user.target is not operator.getitem
                or user.args[1] not in PARTIAL_RESULTS[node.target] for user in node.users):
            self.reasons[str(node.target)] = "a result ube does not compute is used"
            return False
        if node.target in _RANDOM_OPS and _RANDOM_OPS[node.target](node):
            # Each call of a compiled graph would draw the same masks (no step
            # counter here): PyTorch's generator runs it instead.
            self.reasons[str(node.target)] = "random masks (dropout) drawn per call"
            return False
        values = [(node.meta.get("val"), node)] + [(a.meta.get("val"), a)
                                                   for a in node.all_input_nodes]
        for v, producer in values:
            for t in v if isinstance(v, (list, tuple)) else [v]:
                if isinstance(t, torch.Tensor):
                    if t.dtype not in TORCH_TO_UBE:
                        self.reasons[str(node.target)] = f"dtype {t.dtype}"
                        return False
                    if not all(self.plain(d) for d in t.shape):
                        self.reasons[str(node.target)] = "sizes derived from symbols"
                        return False
                elif isinstance(t, torch.SymInt):
                    if not self.plain(t):
                        self.reasons[str(node.target)] = "sizes derived from symbols"
                        return False
                elif isinstance(t, torch.SymFloat) and producer.target is operator.truediv:
                    # A quotient of sizes (batch norm's gradient's 1 / (N·H·W)),
                    # which the partition computes as a scalar tensor.
                    continue
                elif t is not None and not isinstance(t, (int, float, bool)):
                    self.reasons[str(node.target)] = "symbolic values"
                    return False
        return True


class _UbeCall:
    """A partition compiled by ube, called with torch tensors."""

    def __init__(self, executable, name, single, strides, carriers=0):
        self.function = next(iter(executable.functions.values()))
        self.executable = executable
        self.single = single  # the partition returns one tensor, not a tuple
        self.strides = strides  # per output: the strides PyTorch's graph expects, or None
        self.carriers = carriers  # the last arguments: sizes passed as tensors' lengths
        self.__name__ = name  # fx names the call after it

    def __call__(self, *args):
        # Numbers (dynamo's sizes of symbolic dimensions) are not inputs of the
        # executable: it binds its symbols from the tensors' shapes, the
        # sizes no tensor has from empty tensors of their lengths.
        sizes = args[len(args) - self.carriers:]
        args = args[:len(args) - self.carriers]
        outputs = self.function(*[a.detach() for a in args if isinstance(a, torch.Tensor)],
                                *[torch.empty(int(size), dtype=torch.bool) for size in sizes])
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        results = []
        for array, strides in zip(outputs, self.strides):
            tensor = torch.from_numpy(array)
            # Eager ops after the partition (a saved tensor read by a native
            # backward kernel) may rely on the layout the graph recorded: a
            # permuted one is restored (an expanded view's is not a layout to copy into).
            if strides is not None and tuple(tensor.stride()) != strides and _dense(
                    tensor.shape, strides):
                laid_out = torch.empty_strided(tensor.shape, strides, dtype=tensor.dtype)
                laid_out.copy_(tensor)
                tensor = laid_out
            results.append(tensor)
        return results[0] if self.single else tuple(results)


def _dense(shape, strides):
    """Whether strides lay the shape out densely, each element once (a
    permutation of a contiguous layout)."""
    expected = 1
    for size, stride in sorted((p for p in zip(shape, strides) if p[0] != 1),
                               key=lambda p: p[1]):
        if stride != expected:
            return False
        expected *= size
    return True


def _size_carriers(graph, values):
    """The nodes of `graph` that give the sizes of dynamo's symbols which a
    partition's tensors' sizes (or the sizes it takes as numbers) are
    computed from but which none of its tensors has (a backward graph's
    activations after "same" padding are
    (s1 + Max(0, 3 - Mod(s1, 2)) - 3)//2 + 1 high, none s1): the executable
    binds its symbols from its inputs' shapes, so each is passed as the
    length of an empty tensor."""
    named, needed = set(), set()
    for value in values:
        if isinstance(value, torch.SymInt):  # a size the partition computes with
            needed.update(value.node.expr.free_symbols)
        for d in value.shape if isinstance(value, torch.Tensor) else []:
            if isinstance(d, torch.SymInt) and d.node.expr.is_symbol:
                named.add(d.node.expr)
            elif isinstance(d, torch.SymInt):
                needed.update(d.node.expr.free_symbols)
    sources = {}
    for node in graph.nodes:
        v = node.meta.get("val")
        if node.op == "placeholder" and isinstance(v, torch.SymInt) and \
                v.node.expr in needed - named:
            sources.setdefault(v.node.expr, node)
    return [sources[s] for s in sorted(sources, key=str)]


def _compile_partition(submodule, example_values, name, carried=()):
    """A fused partition (an fx GraphModule of ATen ops) as a ube executable;
    `carried`: sizes (SymInts) its last inputs carry as empty tensors'
    lengths."""
    from ube.executable import compile as ube_compile
    from ube.torch_export import _Exporter
    placeholders = [n for n in submodule.graph.nodes if n.op == "placeholder"]
    for node, value in zip(placeholders, example_values):
        node.meta["val"] = value
    symbols, dims = _partition_symbols(list(example_values) + list(carried))
    exporter = _Exporter(submodule, symbols=symbols)
    exporter.graph.dims = dims
    exporter.run()
    for size in carried:
        symbol = symbols[str(size.node.expr)]
        exporter.graph.add_input(f"size_of_{symbol}", "i1", [symbol])
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "partition.json")
        exporter.graph.write(path, "partition")
        output = next(n for n in submodule.graph.nodes if n.op == "output")
        single = not isinstance(output.args[0], (tuple, list))
        results = [output.args[0]] if single else list(output.args[0])
        strides = []
        for result in results:
            val = result.meta.get("val") if isinstance(result, torch.fx.Node) else None
            stride = tuple(val.stride()) if isinstance(val, torch.Tensor) else None
            # (A symbolic layout is left as the executable writes it.)
            strides.append(stride if stride and all(isinstance(s, int) for s in stride)
                           else None)
        return _UbeCall(ube_compile(path), name, single, strides, len(carried))


class _ComputedSizeAtEdge(Exception):
    """A partition failed to compile, with sizes computed from symbols
    allowed: it is partitioned again without them."""


def _compile_graph(kind):
    def compiler(gm, example_inputs):
        try:
            return partitioned(copy.deepcopy(gm), _Supported(computed_sizes=True))
        except _ComputedSizeAtEdge:
            return partitioned(gm, _Supported(computed_sizes=False))

    def partitioned(gm, support):
        from torch._functorch.aot_autograd import make_boxed_func
        from torch.fx.passes.infra.partitioner import CapabilityBasedPartitioner
        ops = [n for n in gm.graph.nodes if n.op == "call_function"
               and not _is_size_arithmetic(n)]
        partitioner = CapabilityBasedPartitioner(gm, support,
                                                 allows_single_node_partition=True)
        partitions = partitioner.propose_partitions()
        # A partition that only moves data (views, copies) is not worth a call.
        partitions = [p for p in partitions if any(
            not _is_data_movement(n) for n in p.nodes)]
        compiled = sum(len(p.nodes) for p in partitions)
        # (A size read from a tensor is no work left to PyTorch.)
        eager = sorted({str(n.target) for n in ops
                        if not any(n in p.nodes for p in partitions)
                        and not _is_data_movement(n)
                        and n.target is not torch.ops.aten.sym_size.int})
        fused = partitioner.fuse_partitions(partitions)
        for node in list(fused.graph.nodes):
            if node.op != "call_module":
                continue
            submodule = getattr(fused, node.target)
            values = [a.meta.get("val") for a in node.args]
            carriers = _size_carriers(fused.graph, values)
            try:
                call = _compile_partition(submodule, values, f"ube_{node.target}",
                                          [c.meta["val"] for c in carriers])
            except (ExportError, CompileError) as error:
                if support.saw_computed_sizes:
                    raise _ComputedSizeAtEdge() from error
                # (A symbol no input of the partition has, say.) PyTorch runs it.
                nodes = sum(n.op == "call_function" for n in submodule.graph.nodes)
                compiled -= nodes
                eager.append(f"{nodes} ops of {node.target}")
                support.reasons[eager[-1]] = f"not compiled: {error}"
                continue
            with fused.graph.inserting_before(node):
                new = fused.graph.call_function(call, tuple(node.args) + tuple(carriers))
            new.meta = dict(node.meta)
            node.replace_all_uses_with(new)
            fused.graph.erase_node(node)
            delattr(fused, node.target)
        fused.graph.lint()
        fused.recompile()
        _REPORTS.append({"graph": kind, "nodes": len(ops), "compiled": compiled,
                         "partitions": len(partitions), "eager": eager})
        if eager:
            by_reason = {}
            for op in eager:
                by_reason.setdefault(support.reasons.get(op, "no ube mapping"), []).append(op)
            why = "; ".join(f"{reason}: {', '.join(names)}" for reason, names in by_reason.items())
            hint = (" (torch.compile(..., dynamic=False) keeps shapes static; "
                    "torch._dynamo.mark_dynamic(x, 0) makes only the batch a symbol)"
                    if "sizes derived from symbols" in by_reason else "")
            warnings.warn(f"ube: the {kind} graph runs {len(ops) - compiled} of its {len(ops)} "
                          f"ATen ops in PyTorch ({why}){hint}", stacklevel=2)
        return make_boxed_func(fused.forward)
    return compiler


def _is_size_arithmetic(node):
    """Python arithmetic on dynamo's sizes (s0 * s1 for a view): it runs
    where it is, and is no op for ube to compile."""
    from ube.torch_export import SIZE_ARITHMETIC
    return node.target in SIZE_ARITHMETIC and isinstance(node.meta.get("val"), torch.SymInt)


def _is_data_movement(node):
    aten = torch.ops.aten
    return node.target in (aten.view.default, aten._unsafe_view.default, aten.permute.default,
                           aten.t.default, aten.clone.default, aten.alias.default,
                           aten.unsqueeze.default, aten.squeeze.dim, aten.expand.default,
                           aten.slice.Tensor, aten.select.int) or node.target is operator.getitem


def ube_backend(graph_module, example_inputs):
    from torch._dynamo.backends.common import aot_autograd
    from torch.nn.attention import SDPBackend, sdpa_kernel
    backend = aot_autograd(fw_compiler=_compile_graph("forward"),
                           bw_compiler=_compile_graph("backward"),
                           decompositions=_decompositions())
    training = torch.is_grad_enabled() and any(
        isinstance(x, torch.Tensor) and x.requires_grad for x in example_inputs)
    if not training:
        return backend(graph_module, example_inputs)
    # In training, attention is traced with PyTorch's math backend (matmuls
    # and a softmax, with their backward): the flash kernels' backward needs
    # a logsumexp ube does not compute, and would keep both in PyTorch.
    with sdpa_kernel([SDPBackend.MATH]):
        return backend(graph_module, example_inputs)


def register():
    from torch._dynamo import register_backend
    register_backend(name="ube")(ube_backend)
    return True
