"""Knowledge distillation and supervised training with compiled steps.

    student = ube.distill(teacher, student, data, config)

Teacher and student are torch.nn.Modules (exported with ube.export, in eval
mode) or graph files (.json with their .safetensors) taking the same inputs
and returning logits first, then optionally hidden states. One graph holds
both: the teacher's weights stay constants (frozen), the student's become
trainable inputs; the losses and the optimizer step are compiled into one
executable entry point (the graph format's "train"), run step after step by
ube.TrainingStep. `ube.fit` trains one model on its labels the same way.
"""
import dataclasses
import gc
import hashlib
import json
import os
import pathlib
import sys
import tempfile
import time

import numpy as np

from ube import checkpoint, data_parallel
from ube.executable import compile as _compile, compile_isolated, release_freed_memory
from ube.safetensors import read_safetensors, write_safetensors
from ube.teacher_outputs import TeacherOutputs
from ube.training import TrainingStep


@dataclasses.dataclass
class DistillConfig:
    """What to distill and how.

    `layer_map` pairs student outputs with teacher outputs (indices into the
    models' outputs, 0 being the logits) for feature-map losses; a width
    mismatch gets a trainable projection. `attention_map` pairs (query,
    key) outputs of the student, each [batch, heads, tokens, d], with the
    teacher's for attention-transfer losses. `embedding_weight` weighs the
    cosine distance (1 - cosine, mean over the batch) between the first
    outputs, for models whose first output is an embedding (a base
    transformers model's sentence embedding: general, task-agnostic
    distillation, usually with kd_weight 0). `replace` lists (teacher module
    paths, student module path) pairs for BERT-of-Theseus module
    replacement (ube.theseus; torch modules only): the student's modules
    train inside the teacher, each used with probability
    min(1, transfer_slope·step + transfer_offset), and the step also
    returns that probability. With `replace_weight`, the hybrid is a term
    of its own instead (its KD against the teacher, weighted) beside the
    student's own terms, the student's modules shared between the two.
    `optimizer` is the graph format's optimizer
    object; with `lr_schedule="warmup_linear"` its `lr` is the peak of a
    linear warm-up over `warmup_steps` and a linear decay to 0 at `steps`,
    fed to the compiled step as an input each step. `steps` counts
    optimizer steps; the data is cycled. Given validation data, the
    student's accuracy is measured every `eval_every` steps (an entry point
    of the same executable, on the current parameters); with `patience`,
    training stops after that many evaluations without a better accuracy,
    and the best parameters are kept (without, the last ones).

    With `checkpoint_dir` and `checkpoint_every`, the parameters, optimizer
    state, step, data position and loss history are saved every that many
    steps (ube.checkpoint); a run started with a checkpoint already in
    `checkpoint_dir` (a restarted worker) continues from it, bit-identically
    to an uninterrupted run. Under torch.distributed with several ranks the
    step is data-parallel (ube.data_parallel). `on_step(step, terms)` is
    called after each step and its checkpoint.

    For Hugging Face models (ube.hf), `layer_map` pairs hidden-state
    indices (0: embeddings, i: layer i's output) and `attention_map` layer
    indices, student to teacher; the attention mask is their second input."""
    steps: int = 100
    temperature: float = 2.0
    kd_weight: float = 1.0
    embedding_weight: float = 0.0  # 1 - cosine of the first outputs (sentence embeddings)
    hard_label_weight: float = 0.0
    feature_weight: float = 0.0
    layer_map: dict = dataclasses.field(default_factory=dict)
    project_features: bool = True  # False: a width mismatch in layer_map is an error
    feature_mean_weight: float = 0.0      # β: the per-token mean term of feature_map_loss
    feature_variance_weight: float = 0.0  # γ: its per-token variance term
    attention_weight: float = 0.0
    attention_map: dict = dataclasses.field(default_factory=dict)
    # index of an i1 [batch, tokens] input (true = keep): attention and
    # feature terms count only the tokens it keeps (transformers models: input 1)
    attention_mask: int = None
    replace: list = dataclasses.field(default_factory=list)
    transfer_slope: float = 0.0  # k in p = min(1, k·step + b)
    transfer_offset: float = 0.3  # b
    replace_weight: float = None  # None: the hybrid is the student part; else a term beside it
    optimizer: dict = dataclasses.field(
        default_factory=lambda: {"kind": "adamw", "lr": 1e-3, "weight_decay": 0.01})
    lr_schedule: str = None      # "warmup_linear": see learning_rate()
    warmup_steps: int = 0
    eval_every: int = 0          # steps between validation accuracies (0: at the end only)
    patience: int = None         # evaluations without a better one before stopping early
    seed: int = 0
    log_every: int = 10
    plot: str = None             # a PNG of the loss curves
    save: str = None             # the trained student (.safetensors)
    checkpoint_dir: str = None   # where checkpoints go; one there already is resumed
    checkpoint_every: int = 0    # steps between checkpoints (the last step too)
    # Batches of any size and length: the step is compiled once with
    # symbolic batch and sequence sizes (at most the first batch's), and
    # each batch is cut to its longest row (by the attention mask, input 1).
    variable_length: bool = False
    on_step: object = None       # called after each step as on_step(step, {term: value})
    target: str = "cpu"


def _write_graph(path, graph, weights):
    """Writes graph file `path` and, when there are weights, its
    .safetensors beside it; returns the path."""
    path = pathlib.Path(path)
    graph = {k: v for k, v in graph.items() if k != "weights"}
    if weights:
        write_safetensors(path.with_suffix(".safetensors"), weights)
        graph["weights"] = path.with_suffix(".safetensors").name
    path.write_text(json.dumps(graph))
    return path


@dataclasses.dataclass
class TrainedModel:
    """A trained model: its executable for inference, its parameters, the
    loss history ({term: [value per step]}), the wall time of each step in
    seconds, and its graph (a graph file's content; `weights` holds every
    tensor it names). It can be passed to distill() or fit() again as a
    teacher or a model."""
    executable: object
    params: dict
    history: dict
    graph: dict
    weights: dict
    step_seconds: list = dataclasses.field(default_factory=list)
    step_tokens: list = dataclasses.field(default_factory=list)  # batch × length of each step
    validation: list = dataclasses.field(default_factory=list)  # [(step, accuracy)]
    # The trained projections of width-mismatched terms: projection_embedding
    # (embedding_weight) and projection<i> (the i-th layer_map pair).
    projections: dict = dataclasses.field(default_factory=dict)
    # Data-parallel runs: the gradient all-reduce of each step, in seconds.
    communication_seconds: list = dataclasses.field(default_factory=list)

    def __call__(self, *inputs):
        """The model's first output (the logits) for `inputs`."""
        out = self.executable(*inputs)
        return out[0] if isinstance(out, tuple) else out

    def save(self, path):
        """Writes the graph file `path` and its weights beside it."""
        _write_graph(path, self.graph, self.weights)


class _Graph:
    """A model as a graph file's content plus its weights (read again from
    the graph's file `path`, if it has one, after release_weights())."""

    def __init__(self, graph, weights, path=None):
        self.graph, self._weights, self.path = graph, weights, path

    @property
    def weights(self):
        if self._weights is None:
            self._weights = read_safetensors(self.path.parent / self.graph["weights"])
        return self._weights

    def release_weights(self):
        """Lets go of the weights where the graph's file can give them again."""
        if self.path is not None and "weights" in self.graph:
            self._weights = None

    @classmethod
    def load(cls, model, example_inputs, workdir, name, dynamic_shapes=None):
        """`dynamic_shapes` (torch.export's) exports a torch module with
        symbolic sizes; a graph given as a file or TrainedModel must have
        them already."""
        if isinstance(model, TrainedModel):
            return cls._checked(cls(model.graph, model.weights), dynamic_shapes, name)
        if isinstance(model, (str, os.PathLike)):
            path = pathlib.Path(model)
            graph = json.loads(path.read_text())
            weights = read_safetensors(path.parent / graph["weights"]) if "weights" in graph \
                else {}
            return cls._checked(cls(graph, weights, path), dynamic_shapes, name)
        from ube.torch_export import export
        from ube import hf
        import torch
        if hf.is_transformers_model(model):
            model = hf.ModelOutputs(model)  # (input_ids, attention_mask) -> logits
        was_training = model.training
        model.eval()
        path = pathlib.Path(workdir) / f"{name}.json"
        with torch.no_grad():
            export(model, tuple(torch.from_numpy(np.asarray(a)) for a in example_inputs), path,
                   dynamic_shapes=dynamic_shapes)
        model.train(was_training)
        return cls.load(path, None, workdir, name, dynamic_shapes)

    @staticmethod
    def _checked(graph, dynamic_shapes, name):
        if dynamic_shapes is not None and "dims" not in graph.graph:
            raise ValueError(f"variable_length: the {name}'s graph has static shapes; give "
                             "the torch module, which is exported with symbolic sizes")
        return graph

    @property
    def outputs(self):
        if "functions" in self.graph:
            return self.graph["functions"][0]["outputs"]
        return self.graph["outputs"]

    def prefixed(self, prefix, inputs):
        """Nodes, parameters and outputs with every name prefixed; the
        graph's inputs renamed to `inputs` (shared by both models)."""
        rename = {d["name"]: inputs[i] for i, d in enumerate(self.graph.get("inputs", []))}
        for decl in self.graph.get("parameters", []):
            rename[decl["name"]] = prefix + decl["name"]
        for node in self.graph.get("nodes", []):
            rename[node["name"]] = prefix + node["name"]
        nodes = [dict(n, name=rename[n["name"]], inputs=[rename[i] for i in n["inputs"]])
                 for n in self.graph.get("nodes", [])]
        params = [dict(d, name=rename[d["name"]]) for d in self.graph.get("parameters", [])]
        weights = {rename[k]: v for k, v in self.weights.items() if k in rename}
        return nodes, params, weights, [rename[o] for o in self.outputs]


def _batches(data, world=None):
    """Cycles through data: an iterable of (inputs tuple, labels); with a
    data-parallel world (rank, size), this rank's rows of each batch."""
    def part(a):
        return data_parallel.shard(a, *world) if world else np.asarray(a)
    while True:
        empty = True
        for inputs, labels in data:
            empty = False
            yield tuple(part(a) for a in inputs), part(labels)
        if empty:
            raise ValueError("the training data is empty")


def _tensor(name, array, symbols=()):
    """An input declaration of `array`'s dtype and shape, its leading
    dimensions named by `symbols` (batch, then sequence) when given; a None
    symbol keeps that dimension's size."""
    from ube.dtypes import NUMPY_TO_UBE
    shape = list(np.asarray(array).shape)
    for d, symbol in enumerate(symbols[:len(shape)]):
        if symbol is not None:
            shape[d] = symbol
    return {"name": name, "dtype": NUMPY_TO_UBE[np.asarray(array).dtype], "shape": shape}


_SYMBOLS = ("batch", "seq")


def _variable_length_shapes(config, first_inputs):
    """torch.export dynamic_shapes for the models' inputs under
    variable_length (batch and sequence symbolic, at most the first
    batch's), or None."""
    if not config.variable_length:
        return None
    import torch
    if any(np.asarray(a).ndim < 2 for a in first_inputs):
        raise ValueError("variable_length: every model input must be [batch, sequence, ...]")
    batch, length = np.asarray(first_inputs[0]).shape[:2]
    dims = (torch.export.Dim("batch", max=max(2, int(batch))),
            torch.export.Dim("seq", max=max(2, int(length))))
    return tuple({0: dims[0], 1: dims[1]} for _ in first_inputs)


def _stored_symbols(rank, token_axes):
    """The symbols of a stored teacher output's axes under variable_length:
    the batch on axis 0, the sequence on its `token_axes`."""
    return tuple(_SYMBOLS[0] if d == 0 else _SYMBOLS[1] if d in token_axes else None
                 for d in range(rank))


def _cut_to_longest(inputs, labels, token_axes=None, mask_index=1):
    """A batch's inputs cut to its longest row: the last column any row of
    the attention mask (input `mask_index`) keeps. `token_axes`: per input,
    the axes that are the sequence (None: axis 1 of every input)."""
    mask = np.asarray(inputs[mask_index])
    kept = np.flatnonzero(mask.reshape(mask.shape[0], -1).any(0)) if mask.ndim >= 2 else []
    length = int(kept[-1]) + 1 if len(kept) else 1
    token_axes = token_axes or [(1,)] * len(inputs)
    return tuple(np.ascontiguousarray(np.asarray(a)[tuple(
        slice(length) if d in axes else slice(None) for d in range(np.ndim(a)))])
        for a, axes in zip(inputs, token_axes)), labels


def _token_axes(function, inputs):
    """Per output of `function` (an entry point with symbolic batch and
    sequence), the axes that are the sequence: those the outputs' shapes at
    two lengths of the `inputs` ([batch, sequence, ...] each) give as the
    length. An axis that changes otherwise (the sequence folded into
    another axis) cannot be cut with the batch: refused."""
    shapes = [np.shape(a) for a in inputs]
    length = shapes[0][1]
    lengths = (length, length - 1 if length > 1 else length + 1)
    at = [function.output_shapes(*[(s[0], n, *s[2:]) for s in shapes]) for n in lengths]
    axes = []
    for i, (first, second) in enumerate(zip(*at)):
        axes.append([d for d, sizes in enumerate(zip(first, second)) if sizes == lengths])
        for d, (a, b) in enumerate(zip(first, second)):
            if a != b and d not in axes[-1]:
                raise ValueError(f"variable_length: teacher output {i} has {a} entries on "
                                 f"axis {d} at {lengths[0]} tokens and {b} at {lengths[1]}; "
                                 "only axes as long as the sequence can be cut with it")
    return axes


def _progress(step, steps, terms, started):
    """A progress bar on stderr, redrawn in place on a terminal and one line
    per report otherwise (a log keeps every report)."""
    rate = step / max(time.perf_counter() - started, 1e-9)
    text = "  ".join(f"{k} {float(v):.4f}" for k, v in terms.items())
    bar = "#" * int(20 * step / steps)
    live = sys.stderr.isatty() and step < steps
    print(f"\r[{bar:<20}] step {step}/{steps}  {text}  {rate:.1f} steps/s",
          end="" if live else "\n", file=sys.stderr, flush=True)


def _plot(history, path):
    """Loss curves as a PNG (matplotlib, without a display); the module
    replacement probability, when there is one, on a second axis."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    for term, values in history.items():
        if term != "replace_probability":
            ax.plot(np.arange(1, len(values) + 1), values, label=term)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    if "replace_probability" in history:
        values = history["replace_probability"]
        right = ax.twinx()
        right.plot(np.arange(1, len(values) + 1), values, "k--", label="replace probability")
        right.set_ylim(0, 1.05)
        right.set_ylabel("replace probability")
        right.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def learning_rate(config, step):
    """The learning rate of optimizer step `step` (from 1): the optimizer's
    `lr`, or under "warmup_linear" that peak reached linearly over
    `warmup_steps` and decayed linearly to 0 at `steps` (as transformers'
    get_linear_schedule_with_warmup)."""
    peak = float(config.optimizer["lr"])
    if config.lr_schedule is None:
        return peak
    if config.lr_schedule != "warmup_linear":
        raise ValueError(f"unknown lr_schedule '{config.lr_schedule}' (warmup_linear)")
    t = step - 1  # transformers counts from 0
    if t < config.warmup_steps:
        return peak * t / max(1, config.warmup_steps)
    return peak * max(0.0, (config.steps - t) / max(1, config.steps - config.warmup_steps))


def accuracy(function, batches, params=None, world=None):
    """The accuracy of the first output's argmax against the labels, over
    (inputs, labels) batches; `params` feeds the function's other inputs by
    name. With a data-parallel world (rank, size), each rank scores its rows
    of every batch and the counts are summed over the ranks."""
    names = [name for name, _, _ in function.inputs] if params is not None else []
    right = total = 0
    for inputs, labels in batches:
        if world:
            inputs = [data_parallel.shard(a, *world) for a in inputs]
            labels = data_parallel.shard(labels, *world)
        args = list(inputs) + [params[n] for n in names[len(inputs):]]
        out = function(*args)
        logits = np.asarray(out[0] if isinstance(out, tuple) else out)
        right += int((logits.argmax(-1) == np.asarray(labels)).sum())
        total += np.asarray(labels).size
    if world:
        right, total = (round(v) for v in data_parallel.total([right, total]))
    if not total:
        raise ValueError("the validation data is empty")
    return right / total


def _input_name(j, teacher_outputs_from):
    """The step's name for input j of a batch: the model's inputs, then
    (from index `teacher_outputs_from`) offline teacher outputs."""
    if teacher_outputs_from is None or j < teacher_outputs_from:
        return f"input{j}"
    return f"teacher.out{j - teacher_outputs_from}"


def _run(graph, weights, init, data, config, workdir, outputs, student, trained_as,
         validation=None, logits=None, resume=None, first=None, token_axes=None):
    """Compiles the training graph (its constants `weights` and initial
    parameters `init`: both dicts are emptied once the step holds its own
    copies, so that a run keeps one copy of each array), runs config.steps
    steps, builds the
    inference executable of `student` with the trained parameters
    (`trained_as` maps the step's parameter names to the student's). With
    `validation` data, the graph's output `logits` (the student's) is also
    an entry point, `predict`, on the current parameters. Under a
    torch.distributed world of several ranks the step is data-parallel
    (ube.data_parallel). Checkpoints go to config.checkpoint_dir; `resume`
    (or a checkpoint already in checkpoint_dir) continues from the newest.
    `first`: the index of the first offline teacher output among a batch's
    inputs (ube.teacher_outputs), if any; `token_axes`: per input, the axes
    variable_length cuts (None: axis 1 of each)."""
    world = data_parallel.world()
    graph = dict(graph)
    train = dict(graph["functions"][0])
    train["train"] = dict(train["train"], optimizer=dict(train["train"]["optimizer"]))
    if config.lr_schedule is not None:
        graph["inputs"] = graph["inputs"] + [{"name": "lr", "dtype": "f32", "shape": []}]
        train["train"]["optimizer"]["lr"] = "lr"
        learning_rate(config, 1)  # an unknown schedule fails before compiling
    functions = [train]
    if world is not None:
        graph, functions = data_parallel.split_step(graph, train, list(init))
    if validation is not None:
        functions.append({"name": "predict", "outputs": [logits],
                          "inputs": [d["name"] for d in graph["inputs"]
                                     if d["name"] not in ("labels", "lr")
                                     and not d["name"].startswith(("grad.", "teacher."))]})
    graph["functions"] = functions
    fingerprint = hashlib.sha256(json.dumps(graph, sort_keys=True).encode()).hexdigest()
    run = _Progress.start(config, resume, fingerprint, world, outputs)
    # Compiled in a child process and loaded from its file: neither the
    # compiler nor the image (the teacher's weights among its constants)
    # stays in this process for the run.
    exe = compile_isolated(_write_graph(pathlib.Path(workdir) / "train.json", graph, weights),
                           pathlib.Path(workdir) / "train.ube", config.target)
    params = init if run.state is None else {k: run.state[k] for k in init}
    if world is None:
        step = TrainingStep(exe.train_step, params, run.state, run.step + 1)
    else:
        step = data_parallel.DataParallelStep(exe, params, run.state, run.step + 1)
    init_names = list(init)
    weights.clear()
    init.clear()
    del params
    # torch.export leaves its graphs in reference cycles (MiniLM's teacher
    # and student: 175 MB) that the step loop, allocating little, would
    # keep until the end of training; freed, they go back to the system
    # with the arrays let go above.
    gc.collect()
    release_freed_memory()
    batches = _batches(data, world)
    for _ in range(run.step):  # the data position: one batch per step
        next(batches)
    started = time.perf_counter()
    for i in range(run.step + 1, config.steps + 1):
        inputs, labels = next(batches)
        if config.variable_length:
            inputs, labels = _cut_to_longest(inputs, labels, token_axes)
        run.tokens.append(int(np.prod(np.asarray(inputs[0]).shape[:2])))
        feed = {_input_name(j, first): a for j, a in enumerate(inputs)}
        if config.lr_schedule is not None:
            feed["lr"] = np.float32(learning_rate(config, i))
        before = time.perf_counter()
        out = step(labels=labels, **feed)
        run.seconds.append(time.perf_counter() - before)
        for t in outputs:
            run.history[t].append(float(out[t]))
        if config.log_every and (i % config.log_every == 0 or i == config.steps) and run.leader:
            _progress(i, config.steps, {t: out[t] for t in outputs}, started)
        stop = False
        if validation is not None and ((config.eval_every and i % config.eval_every == 0)
                                       or i == config.steps):
            current = {**step.current, "step": np.array(i, dtype=np.int64)}
            scored = validation if not config.variable_length else \
                [_cut_to_longest(*batch) for batch in validation]
            run.curve.append((i, accuracy(exe.predict, scored, current, world)))
            if run.leader:
                print(f"  step {i}: validation accuracy {run.curve[-1][1]:.4f}",
                      file=sys.stderr, flush=True)
            if run.best is None or run.curve[-1][1] > run.best[0]:
                run.best = (run.curve[-1][1], {n: step.current[n].copy() for n in init_names},
                            len(run.curve))
            elif config.patience is not None and len(run.curve) - run.best[2] >= config.patience:
                stop = True
        if config.checkpoint_dir and config.checkpoint_every and (
                i % config.checkpoint_every == 0 or i == config.steps or stop):
            run.save(config.checkpoint_dir, i, step.current)
        if config.on_step is not None:
            config.on_step(i, {t: float(out[t]) for t in outputs})
        if stop:
            break
    # Early stopping keeps the best parameters; a fixed schedule ends with
    # its last (picking among noisy validation scores would add variance).
    current = run.best[1] if run.best is not None and config.patience is not None \
        else step.params
    trained = {name: current[param] for param, name in trained_as.items()}
    if config.plot and run.leader:
        _plot(run.history, config.plot)
    if config.save and run.leader:
        write_safetensors(config.save, trained)
    # Inference: the student's own graph with the trained weights.
    weights = {**student.weights, **trained}
    graph = {k: v for k, v in student.graph.items() if k != "weights"}
    infer = _write_graph(pathlib.Path(workdir) / "student_trained.json", graph, weights)
    projections = {p[len("student."):]: current[p] for p in init_names
                   if p.startswith("student.projection")}
    return TrainedModel(_compile(infer, config.target), trained, run.history, graph, weights,
                        run.seconds, run.tokens, run.curve, projections,
                        getattr(step, "communication_seconds", []))


@dataclasses.dataclass
class _Progress:
    """A run's state beside its parameters: the step reached, the loss
    history, the validation curve and the best evaluation; what a
    checkpoint holds (ube.checkpoint) and resuming restores."""
    fingerprint: str
    world_size: int
    seed: int
    leader: bool
    step: int = 0
    state: dict = None
    history: dict = None
    seconds: list = dataclasses.field(default_factory=list)
    tokens: list = dataclasses.field(default_factory=list)  # batch × length of each step
    curve: list = dataclasses.field(default_factory=list)
    best: tuple = None  # (accuracy, parameters, evaluation number)

    @classmethod
    def start(cls, config, resume, fingerprint, world, outputs):
        run = cls(fingerprint, world[1] if world else 1, config.seed,
                  world is None or world[0] == 0,
                  history={t: [] for t in outputs})
        source = resume or config.checkpoint_dir
        found = checkpoint.latest(source) if source else None
        if found is None:
            if resume:
                raise ValueError(f"resume: {resume} holds no checkpoint")
            return run
        arrays, saved = found
        where = f"checkpoint {pathlib.Path(source) / 'latest'}"
        if saved.get("world_size") != run.world_size or saved.get("seed") != config.seed:
            raise ValueError(f"{where}: written with world size {saved.get('world_size')} and "
                             f"seed {saved.get('seed')}, this run has {run.world_size} and "
                             f"{config.seed}")
        if saved.get("fingerprint") != fingerprint:
            raise ValueError(f"{where}: written by another training run (a different model, "
                             "data shape, loss or optimizer); pass another checkpoint_dir")
        run.step, run.history, run.seconds = saved["step"], saved["history"], saved["seconds"]
        run.tokens = saved.get("tokens", [])  # older checkpoints have none
        run.curve = [tuple(c) for c in saved["validation"]]
        run.state = {k: v for k, v in arrays.items() if not k.startswith("best/")}
        if saved.get("best"):
            accuracy, evaluation = saved["best"]
            run.best = (accuracy, {k[len("best/"):]: v for k, v in arrays.items()
                                   if k.startswith("best/")}, evaluation)
        if run.leader:
            print(f"resuming at step {run.step + 1} from {where}", file=sys.stderr, flush=True)
        return run

    def save(self, directory, step, current):
        """Checkpoint `step` (rank 0 writes; every rank waits for it)."""
        if self.leader:
            arrays = dict(current)
            if self.best is not None:
                arrays.update({f"best/{k}": v for k, v in self.best[1].items()})
            checkpoint.save(directory, step, arrays, {
                "fingerprint": self.fingerprint, "world_size": self.world_size,
                "seed": self.seed, "history": self.history, "seconds": self.seconds,
                "tokens": self.tokens, "validation": self.curve,
                "best": [self.best[0], self.best[2]] if self.best is not None else None})
        if self.world_size > 1:
            data_parallel.barrier()


def _student_part(student, names, is_trainable=lambda name: True):
    """The student's nodes with its float parameters as trainable inputs
    (those `is_trainable` accepts, by their own name); the others stay
    constants. Names are prefixed with "student."."""
    nodes, params, weights, outputs = student.prefixed("student.", names)
    trainable = [p for p in params if p["dtype"] in ("f32", "f16", "bf16")
                 and is_trainable(p["name"][len("student."):])]
    frozen = [p for p in params if p not in trainable]
    init = {p["name"]: weights[p["name"]] for p in trainable}
    constants = {p["name"]: weights[p["name"]] for p in frozen}
    return nodes, trainable, init, outputs, frozen, constants


def fit(model, data, config=None, validation=None, resume=None):
    """Trains `model` on its labels (cross-entropy on its first output) with
    a compiled training step; returns a TrainedModel. `validation`:
    (inputs, labels) batches for the accuracy curve and early stopping
    (DistillConfig.eval_every, patience). `resume`: a checkpoint directory
    to continue from (DistillConfig.checkpoint_dir)."""
    config = config or DistillConfig()
    first_inputs, first_labels = next(_batches(data, data_parallel.world()))
    from ube import hf
    if hf.is_transformers_model(model):
        hf.check_token_ids(model, first_inputs, "model")
    with tempfile.TemporaryDirectory() as workdir:
        graph = _Graph.load(model, first_inputs, workdir, "model")
        names = [f"input{j}" for j in range(len(first_inputs))]
        nodes, params, init, outputs, frozen, constants = _student_part(graph, names)
        nodes.append({"name": "loss", "op": "cross_entropy", "inputs": [outputs[0], "labels"]})
        inputs = [_tensor(n, a) for n, a in zip(names, first_inputs)]
        inputs += [_tensor("labels", first_labels)] + params
        train = {"format": "ube.graph", "version": 1, "inputs": inputs, "parameters": frozen,
                 "nodes": nodes,
                 "functions": [{"name": "train_step", "outputs": ["loss"],
                                "train": {"loss": "loss", "params": [p["name"] for p in params],
                                          "optimizer": config.optimizer}}]}
        trained_as = {p: p[len("student."):] for p in init}
        graph.release_weights()  # the run holds `init` and `constants` alone
        return _run(train, constants, init, data, config, workdir, ["loss"], graph,
                    trained_as, validation, outputs[0], resume)


def _weighted_sum(nodes, weighted):
    """Appends nodes computing Σ weight · term as the scalar "loss"."""
    total = None
    for k, (term, weight) in enumerate(weighted):
        nodes.append({"name": f"w{k}", "op": "constant", "inputs": [],
                      "value": float(weight), "dtype": "f32", "shape": []})
        nodes.append({"name": f"wt{k}", "op": "mul", "inputs": [term, f"w{k}"]})
        if total is None:
            total = f"wt{k}"
        else:
            nodes.append({"name": f"sum{k}", "op": "add", "inputs": [total, f"wt{k}"]})
            total = f"sum{k}"
    nodes.append({"name": "loss", "op": "reshape", "inputs": [total], "shape": []})


def _cosine_distance(nodes, name, student, teacher):
    """Appends nodes computing `name` = 1 - mean over rows of the cosine
    similarity of `student` and `teacher` [batch, width] (the teacher a
    constant to the gradient, as in the other terms)."""
    def node(suffix, op, *operands, **attrs):
        nodes.append({"name": f"{name}_{suffix}", "op": op, "inputs": list(operands),
                      **({"attrs": attrs} if attrs else {})})
        return f"{name}_{suffix}"
    rows = {"axes": [1]}
    dot = node("dot", "reduce_sum", node("st", "mul", student, teacher), **rows)
    ss = node("ss", "reduce_sum", node("s2", "mul", student, student), **rows)
    tt = node("tt", "reduce_sum", node("t2", "mul", teacher, teacher), **rows)
    nodes.append({"name": f"{name}_eps", "op": "constant", "inputs": [], "value": 1e-12,
                  "dtype": "f32", "shape": []})
    norms = node("norms", "rsqrt", node("nn", "add", node("stt", "mul", ss, tt), f"{name}_eps"))
    cosine = node("mean", "reduce_mean", node("cos", "mul", dot, norms))
    nodes.append({"name": f"{name}_one", "op": "constant", "inputs": [], "value": 1.0,
                  "dtype": "f32", "shape": []})
    node("distance", "sub", f"{name}_one", cosine)
    nodes.append({"name": name, "op": "reshape", "inputs": [f"{name}_distance"], "shape": []})


def _kept_tokens(nodes, mask, shape):
    """Appends nodes for the feature terms' token mask `mask` (true or
    nonzero = a token, else padding): the names of the mask as [..., 1]
    booleans, of the fraction of tokens kept (at least 1e-12) and of a
    zero. Padded
    positions zeroed on both sides add nothing to feature_map_loss's sums,
    so its mean over all tokens divided by that fraction is the mean over
    the kept ones, whatever the padding."""
    nodes += [
        {"name": "feature_mask_f32", "op": "cast", "inputs": [mask], "dtype": "f32"},
        {"name": "feature_mask_rows", "op": "reshape", "inputs": ["feature_mask_f32"],
         "shape": list(shape) + [1]},
        {"name": "feature_zero", "op": "constant", "inputs": [], "value": 0.0, "dtype": "f32",
         "shape": []},
        {"name": "feature_keep", "op": "compare", "inputs": ["feature_mask_rows", "feature_zero"],
         "attrs": {"predicate": "ne"}},
        {"name": "feature_kept_mean", "op": "reduce_mean", "inputs": ["feature_mask_f32"]},
        {"name": "feature_tiny", "op": "constant", "inputs": [], "value": 1e-12, "dtype": "f32",
         "shape": []},
        {"name": "feature_kept", "op": "maximum", "inputs": ["feature_kept_mean",
                                                            "feature_tiny"]}]
    return "feature_keep", "feature_kept", "feature_zero"


def _masked(nodes, name, hidden, kept):
    """Appends `name` = `hidden` with the padded tokens of `kept`
    (_kept_tokens) zeroed."""
    keep, _, zero = kept
    nodes.append({"name": name, "op": "where", "inputs": [keep, hidden, zero]})
    return name


def _output(outputs, index, what):
    if not -len(outputs) <= index < len(outputs):
        raise ValueError(f"{what}: output {index} does not exist (the model has "
                         f"{len(outputs)} outputs)")
    return outputs[index]


def _map_indices(config):
    """The hidden-state and attention-layer indices of transformers models
    the maps name: (student hidden, teacher hidden, student layers, teacher
    layers), each sorted."""
    layer_map = sorted(config.layer_map.items()) if config.feature_weight else []
    attention_map = sorted(config.attention_map.items()) if config.attention_weight else []
    s_hidden, t_hidden = (sorted({pair[k] for pair in layer_map}) for k in (0, 1))
    s_layers, t_layers = (sorted({pair[k] for pair in attention_map}) for k in (0, 1))
    return s_hidden, t_hidden, s_layers, t_layers


def _transformers_models(teacher, student, config, first_inputs):
    """Hugging Face teacher and student as ube.hf.ModelOutputs with the
    hidden states and attention layers the maps name; the maps (layer
    indices) become output indices. An offline teacher (TeacherOutputs)
    stays as it is, its stored outputs checked against the maps."""
    from ube import hf
    offline = isinstance(teacher, TeacherOutputs)
    kinds = [teacher.manifest.get("transformers", False) if offline
             else hf.is_transformers_model(teacher), hf.is_transformers_model(student)]
    if not any(kinds):
        return teacher, student, config, None
    if not all(kinds):
        raise ValueError("teacher and student must both be transformers models, or neither "
                         "(the layer maps of transformers models name layers)")
    if not offline:
        hf.check_token_ids(teacher, first_inputs, "teacher")
    hf.check_token_ids(student, first_inputs, "student")
    layer_map = sorted(config.layer_map.items()) if config.feature_weight else []
    attention_map = sorted(config.attention_map.items()) if config.attention_weight else []
    s_hidden, t_hidden, s_layers, t_layers = _map_indices(config)
    if offline and (teacher.manifest["hidden_states"] != t_hidden or
                    teacher.manifest["attention_layers"] != t_layers):
        raise ValueError(f"teacher outputs {teacher.directory}: stored for the teacher's hidden "
                         f"states {teacher.manifest['hidden_states']} and attention layers "
                         f"{teacher.manifest['attention_layers']}; the maps need {t_hidden} and "
                         f"{t_layers} (save them with this config)")
    widths = [student.config.hidden_size,
              teacher.manifest["hidden_size"] if offline else teacher.config.hidden_size]
    if layer_map and widths[0] != widths[1] and not config.project_features:
        raise ValueError(f"layer_map {dict(layer_map)}: the student's hidden size is {widths[0]} "
                         f"and the teacher's {widths[1]}, and project_features is off (no "
                         "projection between them)")
    if attention_map and np.asarray(first_inputs[1]).dtype != np.bool_:
        raise ValueError("attention transfer: the attention mask (input 1) must be bool "
                         f"(true = keep), not {np.asarray(first_inputs[1]).dtype}")

    def qk(layers, hidden, layer):
        first = 1 + len(hidden) + 2 * layers.index(layer)
        return first, first + 1
    config = dataclasses.replace(
        config,
        layer_map={1 + s_hidden.index(s): 1 + t_hidden.index(t) for s, t in layer_map},
        attention_map={qk(s_layers, s_hidden, s): qk(t_layers, t_hidden, t)
                       for s, t in attention_map},
        attention_mask=1 if attention_map or layer_map else config.attention_mask)
    if offline:
        return teacher, hf.ModelOutputs(student, s_hidden, s_layers), config, None
    if config.replace:  # the hybrid of the logits-only models: paths under ModelOutputs
        config = dataclasses.replace(config, replace=[
            ([f"model.{p}" for p in ([paths] if isinstance(paths, str) else paths)],
             f"model.{path}") for paths, path in config.replace])
    hybrid_models = (hf.ModelOutputs(teacher), hf.ModelOutputs(student))
    return (hf.ModelOutputs(teacher, t_hidden, t_layers),
            hf.ModelOutputs(student, s_hidden, s_layers), config, hybrid_models)


def save_teacher_outputs(teacher, data, directory, config=None, top_k=None, dtype="f32"):
    """Runs `teacher` (compiled by ube) once over each batch of `data` and
    stores the outputs `config`'s terms read (for transformers models: the
    logits, the hidden states of layer_map and the queries and keys of
    attention_map), for ube.distill(TeacherOutputs(directory), ...). Under
    torch.distributed the ranks share the batches and rank 0 writes.
    `top_k` keeps the k largest logits; `dtype` "f16" halves the storage.
    Returns the TeacherOutputs."""
    from ube import hf, teacher_outputs
    config = config or DistillConfig()
    batches = [tuple(np.asarray(a) for a in inputs) for inputs, _ in data]
    if not batches:
        raise ValueError("the training data is empty")
    extra = {"transformers": False}
    if hf.is_transformers_model(teacher):
        hf.check_token_ids(teacher, batches[0], "teacher")
        _, t_hidden, _, t_layers = _map_indices(config)
        extra = {"transformers": True, "hidden_size": teacher.config.hidden_size,
                 "hidden_states": t_hidden, "attention_layers": t_layers}
        teacher = hf.ModelOutputs(teacher, t_hidden, t_layers)
    world = data_parallel.world()
    rank, size = world or (0, 1)
    dynamic = _variable_length_shapes(config, batches[0])
    with tempfile.TemporaryDirectory() as workdir:
        t = _Graph.load(teacher, batches[0], workdir, "teacher", dynamic)
        exe = _compile(_write_graph(pathlib.Path(workdir) / "teacher_run.json", t.graph,
                                    t.weights), config.target)
        if dynamic is not None:
            extra["token_axes"] = _token_axes(next(iter(exe.functions.values())), batches[0])
        mine = {}
        for k in range(rank, len(batches), size):
            out = exe(*batches[k])
            mine[k] = [np.array(o) for o in (out if isinstance(out, tuple) else (out,))]
    if world:
        mine = data_parallel.gather(mine)
    if rank == 0:
        teacher_outputs.write(directory, [mine[k] for k in range(len(batches))],
                              [teacher_outputs.batch_digest(b) for b in batches], top_k, dtype,
                              extra)
    if world:
        data_parallel.barrier()
    return TeacherOutputs(directory)


def distill(teacher, student, data, config=None, validation=None, resume=None):
    """Distills `teacher` into `student` (see the module docstring); returns
    the trained student as a TrainedModel. `validation`: (inputs, labels)
    batches for the student's accuracy curve and early stopping. `resume`:
    a checkpoint directory to continue from (DistillConfig.checkpoint_dir)."""
    config = config or DistillConfig()
    offline = isinstance(teacher, TeacherOutputs)
    if offline:
        if config.replace:
            raise ValueError("module replacement runs the teacher's modules inside the step: "
                             "it needs the teacher itself, not its stored outputs")
        data = teacher.alongside(data)
    first_inputs, first_labels = next(_batches(data, data_parallel.world()))
    count = len(first_inputs) - (len(teacher.shapes) if offline else 0)
    stored, first_inputs = first_inputs[count:], first_inputs[:count]
    teacher, student, config, hybrid_models = _transformers_models(teacher, student, config,
                                                                   first_inputs)
    dynamic = _variable_length_shapes(config, first_inputs)
    symbols = _SYMBOLS if dynamic is not None else ()
    token_axes = None
    if offline and dynamic is not None:
        if teacher.token_axes is None:
            raise ValueError(f"variable_length: the teacher outputs in {teacher.directory} were "
                             "stored at static shapes; store them with variable_length=True "
                             "in save_teacher_outputs' config")
        token_axes = [(1,)] * count + [tuple(axes) for axes in teacher.token_axes]
    with tempfile.TemporaryDirectory() as workdir:
        s = _Graph.load(student, first_inputs, workdir, "student", dynamic)
        names = [f"input{j}" for j in range(len(first_inputs))]
        inputs = [_tensor(n, a, symbols) for n, a in zip(names, first_inputs)]
        inputs.append(_tensor("labels", first_labels, symbols[:1]))
        if offline:  # the teacher's outputs are inputs of the step
            t_nodes, t_params, t_weights = [], [], {}
            t_out = [_input_name(count + i, count) for i in range(len(stored))]
            inputs += [_tensor(n, a, _stored_symbols(np.ndim(a), token_axes[count + i])
                               if symbols else ()) for i, (n, a) in enumerate(zip(t_out, stored))]
        else:
            t = _Graph.load(teacher, first_inputs, workdir, "teacher", dynamic)
            t_nodes, t_params, t_weights, t_out = t.prefixed("teacher.", names)
        hybrid = None
        if config.replace:
            # The student's modules train inside the teacher (BERT-of-Theseus).
            hybrid, prefixes = _hybrid(hybrid_models or (teacher, student), config, first_inputs,
                                       workdir, dynamic)
            inputs.append(_tensor("step", np.int64(1)))
        if config.replace and config.replace_weight is None:
            s_nodes, s_params, s_weights, s_out, s_frozen, s_constants = _student_part(
                hybrid, names + ["step"], lambda n: n.startswith(tuple(prefixes)))
            trained_as = {}
            for p in s_weights:
                for prefix, renamed in prefixes.items():
                    if p.startswith("student." + prefix):
                        trained_as[p] = renamed + p[len("student." + prefix):]
            hybrid = None
        else:
            s_nodes, s_params, s_weights, s_out, s_frozen, s_constants = _student_part(s, names)
            trained_as = {p: p[len("student."):] for p in s_weights}
        if hybrid is not None:
            # The hybrid beside the student: its copies of the student's
            # modules are the student's own parameters.
            h_nodes, h_params, h_weights, h_out = hybrid.prefixed("hybrid.", names + ["step"])
            shared = {}
            for p in h_params:
                for prefix, renamed in prefixes.items():
                    if p["name"].startswith("hybrid." + prefix):
                        shared[p["name"]] = "student." + renamed + \
                            p["name"][len("hybrid." + prefix):]
            for node in h_nodes:
                node["inputs"] = [shared.get(i, i) for i in node["inputs"]]
            s_nodes = s_nodes + h_nodes
            s_frozen = s_frozen + [p for p in h_params if p["name"] not in shared]
            s_constants = {**s_constants,
                           **{k: v for k, v in h_weights.items() if k not in shared}}
        nodes = t_nodes + s_nodes
        inputs += s_params
        student_init = dict(s_weights)
        terms, weighted = [], []
        kd_attrs = {"temperature": float(config.temperature),
                    "alpha": float(config.hard_label_weight)}
        if config.kd_weight:
            nodes.append({"name": "kd", "op": "kd_loss",
                          "inputs": [s_out[0], t_out[0], "labels"], "attrs": kd_attrs})
            terms.append("kd")
            weighted.append(("kd", config.kd_weight))
        rng = np.random.default_rng(config.seed)
        layer_map = sorted(config.layer_map.items()) if config.feature_weight else []
        if layer_map or config.embedding_weight:
            s_shapes = _output_shapes(s, first_inputs, workdir, "student")
            t_shapes = [a.shape for a in stored] if offline else \
                _output_shapes(t, first_inputs, workdir, "teacher")

        def projection(s_index, t_index, what, name):
            """A trainable projection `name` from student output s_index to
            teacher output t_index's width, or None when they match."""
            s_width, t_width = s_shapes[s_index][-1], t_shapes[t_index][-1]
            if s_width == t_width:
                return None
            if not config.project_features:
                raise ValueError(f"{what}: student output {s_index} is {s_width} wide and "
                                 f"teacher output {t_index} {t_width} wide, and "
                                 "project_features is off (no projection between them)")
            proj = (rng.standard_normal((s_width, t_width)) / np.sqrt(s_width)).astype(np.float32)
            inputs.append(_tensor(name, proj))
            student_init[name] = proj
            return name
        if config.embedding_weight:
            embedding = s_out[0]
            proj = projection(0, 0, "embedding", "student.projection_embedding")
            if proj:
                nodes.append({"name": "student_embedding", "op": "matmul",
                              "inputs": [embedding, proj]})
                embedding = "student_embedding"
            _cosine_distance(nodes, "embedding", embedding, t_out[0])
            terms.append("embedding")
            weighted.append(("embedding", config.embedding_weight))
        kept = None
        if layer_map and config.attention_mask is not None:
            mask = names[config.attention_mask]
            kept = _kept_tokens(nodes, mask, inputs[config.attention_mask]["shape"])
        for i, (s_index, t_index) in enumerate(layer_map):
            operands = [_output(s_out, s_index, "layer_map"), _output(t_out, t_index, "layer_map")]
            if kept:
                operands = [_masked(nodes, f"feature{i}_{side}", h, kept)
                            for side, h in zip(("student", "teacher"), operands)]
            proj = projection(s_index, t_index, "layer_map", f"student.projection{i}")
            operands += [proj] if proj else []
            nodes.append({"name": f"feature{i}" + ("_all" if kept else ""),
                          "op": "feature_map_loss", "inputs": operands,
                          "attrs": {"beta": float(config.feature_mean_weight),
                                    "gamma": float(config.feature_variance_weight)}})
            if kept:  # the mean over all tokens, as one over the kept ones
                nodes.append({"name": f"feature{i}", "op": "div",
                              "inputs": [f"feature{i}_all", kept[1]]})
            terms.append(f"feature{i}")
            weighted.append((f"feature{i}", config.feature_weight))
        attention_map = sorted(config.attention_map.items()) if config.attention_weight else []
        for i, ((s_query, s_key), (t_query, t_key)) in enumerate(attention_map):
            operands = [_output(s_out, s_query, "attention_map"),
                        _output(s_out, s_key, "attention_map"),
                        _output(t_out, t_query, "attention_map"),
                        _output(t_out, t_key, "attention_map")]
            if config.attention_mask is not None:
                operands.append(names[config.attention_mask])
            nodes.append({"name": f"attention{i}", "op": "attention_transfer_loss",
                          "inputs": operands})
            terms.append(f"attention{i}")
            weighted.append((f"attention{i}", config.attention_weight))
        if hybrid is not None:
            nodes.append({"name": "replace", "op": "kd_loss",
                          "inputs": [h_out[0], t_out[0], "labels"], "attrs": kd_attrs})
            terms.append("replace")
            weighted.append(("replace", config.replace_weight))
        if not weighted:
            raise ValueError("nothing to distill: kd_weight, embedding_weight, feature_weight, "
                             "attention_weight and replace_weight are all 0")
        _weighted_sum(nodes, weighted)
        outputs = ["loss", *terms]
        if config.replace:
            nodes.append({"name": "replace_probability", "op": "reshape", "shape": [],
                          "inputs": [next(n["name"] for n in s_nodes
                                          if n["op"] == "transfer_probability")]})
            outputs.append("replace_probability")
        graph = {"format": "ube.graph", "version": 1, "inputs": inputs,
                 "parameters": t_params + s_frozen, "nodes": nodes,
                 **({"version": 2, "dims": s.graph["dims"]} if dynamic is not None else {}),
                 "functions": [{"name": "train_step", "outputs": outputs,
                                "train": {"loss": "loss", "params": list(student_init),
                                          "optimizer": config.optimizer}}]}
        # The step's constants and parameters: what else holds them here
        # lets go, so that the run keeps one copy of each array (the graphs
        # read their weights again from their files when asked).
        weights = {**t_weights, **s_constants}
        del t_weights, s_constants, s_weights
        s.release_weights()
        if not offline:
            t.release_weights()
        return _run(graph, weights, student_init, data, config, workdir, outputs, s,
                    trained_as, validation, s_out[0], resume, count if offline else None,
                    token_axes)


def _hybrid(models, config, first_inputs, workdir, dynamic_shapes=None):
    """The teacher with the student's modules in place (ube.theseus) as a
    graph, and {hybrid parameter prefix: student parameter prefix}."""
    from ube import theseus
    model, prefixes = theseus.hybrid(*models, config.replace, config.transfer_slope,
                                     config.transfer_offset, config.seed)
    try:
        return _Graph.load(model, first_inputs, workdir, "hybrid", dynamic_shapes), prefixes
    except Exception as e:  # shape propagation wraps the first failure
        cause = e
        while cause.__cause__ or cause.__context__:
            cause = cause.__cause__ or cause.__context__
        cause = str(cause).splitlines()[0]
        raise ValueError("module replacement: the teacher with the student's modules "
                         f"in place fails on the first batch: {cause}") from e


def _output_shapes(model, inputs, workdir, name):
    """The shapes of a model's outputs, by running its graph once (compiled
    in a child process, as the step is)."""
    path = _write_graph(pathlib.Path(workdir) / f"{name}_shapes.json", model.graph, model.weights)
    out = compile_isolated(path, path.with_suffix(".ube"))(*inputs)
    return [np.asarray(o).shape for o in (out if isinstance(out, tuple) else (out,))]
