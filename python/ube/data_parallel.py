"""Data parallelism around compiled training steps, on torch.distributed.

Under `torchrun` (an initialized default process group with more than one
rank), ube.fit and ube.distill split the one-call step into two entry points
of one executable: `gradients` (the forward, the losses and the gradients on
this rank's shard of the batch) and `update` (the compiled optimizer, its
gradients given as inputs: the graph format's `"train": {"gradients": ...}`).
Between them the gradients are averaged over the ranks with
torch.distributed.all_reduce in buckets, so every rank applies the same
update to the same parameters. The executable writes its gradients straight
into the buckets (one flat buffer, no copies).

Every rank reads the same global batches and takes its rows: rank r of W
gets rows [r·B/W, (r+1)·B/W) of each batch of B rows, so the data order
depends on the global sample index only, and W ranks with batch B/W each see
what one process sees with batch B. The losses are means over the shard;
their average over ranks is the mean over the batch when every row weighs
the same (a masked attention-transfer term divides by the shard's own count
of tokens)."""
import os
import sys
import time

import numpy as np

BUCKET_BYTES = 25 << 20  # PyTorch DDP's default bucket size
_ALIGN = 16  # elements: each gradient starts on a 64-byte boundary


def world():
    """(rank, size) of the default torch.distributed process group when it
    has more than one rank, else None. Under torchrun (WORLD_SIZE > 1 in
    the environment) without a process group yet, a gloo group is started
    from the environment; for NCCL, start one before calling ube."""
    if int(os.environ.get("WORLD_SIZE", "1")) < 2 and "torch.distributed" not in sys.modules:
        return None  # a single process: torch need not be imported
    import torch.distributed as dist
    if not dist.is_available():
        return None
    if not dist.is_initialized():
        if int(os.environ.get("WORLD_SIZE", "1")) < 2:
            return None
        # torchrun's store outlives a restart: keys of the attempt before
        # (the dead workers' addresses) would be read as this one's.
        store, rank, size = next(dist.rendezvous("env://"))
        attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
        dist.init_process_group("gloo", store=dist.PrefixStore(f"ube/attempt{attempt}", store),
                                rank=rank, world_size=size)
    if dist.get_world_size() < 2:
        return None
    return dist.get_rank(), dist.get_world_size()


def shard(array, rank, size):
    """Rank `rank`'s rows of a global batch (axis 0)."""
    rows = np.asarray(array).shape[0] if np.ndim(array) else 0
    if rows % size:
        raise ValueError(f"a batch of {rows} rows does not split evenly over {size} ranks")
    per = rows // size
    return np.asarray(array)[rank * per:(rank + 1) * per]


def split_step(graph, train, params):
    """The training graph's one-call step `train` (its function entry) as
    two functions of the same graph: `gradients` and `update`. Adds one
    input `grad.<param>` per parameter; returns (graph, [gradients, update])."""
    inputs = {d["name"]: d for d in graph["inputs"]}
    step_inputs = [d["name"] for d in graph["inputs"] if d["name"] != "lr"]
    grads = [f"grad.{p}" for p in params]
    graph = dict(graph, inputs=graph["inputs"] + [dict(inputs[p], name=g)
                                                 for p, g in zip(params, grads)])
    optimizer = train["train"]["optimizer"]
    gradients = {"name": "gradients", "inputs": step_inputs, "outputs": train["outputs"],
                 "gradient": {"loss": train["train"]["loss"], "wrt": params}}
    update = {"name": "update",
              "inputs": params + grads + (["lr"] if optimizer["lr"] == "lr" else []),
              "outputs": [], "train": {"gradients": grads, "params": params,
                                       "optimizer": optimizer}}
    return graph, [gradients, update]


class GradientBuckets:
    """One flat f32 buffer holding every gradient, cut into buckets of about
    BUCKET_BYTES that are all-reduced (summed, then scaled by 1/size)."""

    def __init__(self, shapes, dtype=np.float32, bucket_bytes=BUCKET_BYTES):
        offsets, end = [], 0
        for shape in shapes:
            offsets.append(end)
            end += -(-int(np.prod(shape)) // _ALIGN) * _ALIGN
        self.flat = np.zeros(end, dtype)
        self.views = [self.flat[o:o + int(np.prod(s))].reshape(s)
                      for o, s in zip(offsets, shapes)]
        per = max(1, bucket_bytes // self.flat.itemsize)
        self.buckets, start = [], 0
        for o in offsets[1:] + [end]:  # bucket edges on gradient boundaries
            if o - start >= per or o == end:
                self.buckets.append(self.flat[start:o])
                start = o

    def all_reduce(self, size):
        """Averages the buffer over the ranks (every bucket in flight at once).
        NCCL reduces device tensors: the buckets go to this rank's GPU and
        back (the executable's outputs arrive on the host)."""
        import torch
        import torch.distributed as dist
        tensors = [torch.from_numpy(b) for b in self.buckets]
        if dist.get_backend() == "nccl":
            tensors = [t.cuda(non_blocking=True) for t in tensors]
        works = [dist.all_reduce(t, async_op=True) for t in tensors]
        for work in works:
            work.wait()
        for bucket, t in zip(self.buckets, tensors):
            if t.device.type != "cpu":
                bucket[...] = t.cpu().numpy()
        self.flat *= np.float32(1.0 / size)


def total(values):
    """The sums over ranks of a few scalars (in float64)."""
    import torch
    import torch.distributed as dist
    t = torch.tensor([float(v) for v in values], dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def average(values, size):
    """The means over ranks of a few scalars (the logged loss terms)."""
    return [v / size for v in total(values)]


def barrier():
    import torch.distributed as dist
    dist.barrier()


class DataParallelStep:
    """One data-parallel step with ube.TrainingStep's interface: the
    `gradients` entry point on this rank's shard, the all-reduce, then the
    `update` entry point (a TrainingStep of its own, which carries the
    parameters and optimizer state). Returns the loss terms averaged over
    the ranks."""

    def __init__(self, executable, params, state=None, first_step=1):
        from ube.dtypes import UBE_TO_NUMPY
        from ube.training import TrainingStep
        _, self.size = world()
        self.update = TrainingStep(executable.update, params, state, first_step)
        self.gradients = executable.gradients
        self._inputs = [name for name, _, _ in self.gradients.inputs]
        self._grads = [n for n, _, _ in self.update.function.inputs if n.startswith("grad.")]
        outputs = self.gradients.outputs
        self._terms = [name for name, _, _ in outputs[:len(outputs) - len(self._grads)]]
        shapes = [shape for _, _, shape in outputs[len(self._terms):]]
        dtypes = {np.dtype(UBE_TO_NUMPY[dtype]) for _, dtype, _ in outputs[len(self._terms):]}
        if dtypes != {np.dtype(np.float32)}:
            raise ValueError("data parallelism needs f32 parameters, not "
                             f"{sorted(str(d) for d in dtypes)}")
        self.buckets = GradientBuckets(shapes)
        self.communication_seconds = []  # the all-reduce of each step

    @property
    def step_number(self):
        return self.update.step_number

    @property
    def current(self):
        return self.update.current

    @property
    def params(self):
        return self.update.params

    def __call__(self, **batch):
        current = self.update.current
        args = []
        for name in self._inputs:
            if name in current:
                args.append(current[name])
            elif name == "step":
                args.append(np.array(self.update.step_number, dtype=np.int64))
            elif name in batch:
                args.append(batch[name])
            else:
                raise TypeError(f"gradients: missing input '{name}'")
        outputs = [None] * len(self._terms) + self.buckets.views
        invoke = self.gradients._executable._loaded.invoke
        results = invoke(self.gradients._index, args, outputs)
        before = time.perf_counter()
        self.buckets.all_reduce(self.size)
        self.communication_seconds.append(time.perf_counter() - before)
        feed = dict(zip(self._grads, self.buckets.views))
        if "lr" in batch:
            feed["lr"] = batch["lr"]
        self.update(**feed)
        terms = average(results[:len(self._terms)], self.size)
        return {name: np.float32(v) for name, v in zip(self._terms, terms)}


def gather(parts):
    """{key: value} dicts of every rank merged (all_gather_object)."""
    import torch.distributed as dist
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, parts)
    return {k: v for part in gathered for k, v in part.items()}
