"""Offline teacher outputs: the teacher run once over the training data and
its outputs stored, so distillation reads them instead of recomputing the
teacher's forward every step.

    ube.save_teacher_outputs(teacher, data, "teacher-out", config)
    student = ube.distill(ube.TeacherOutputs("teacher-out"), student, data, config)

The directory holds `manifest.json` and one `out<i>.npy` per teacher output
the config's terms read ([batches, *batch shape], f32 or f16), memory-mapped
when read. With `top_k`, the logits are stored as their k largest values
(`out0.values.npy`) and class indices (`out0.indices.npy`); the other classes
are fed as -1e4, so KD compares against the teacher's distribution
renormalized over its top k. Each batch's inputs are hashed (SHA-256) at
save time; distillation checks every batch it feeds against them, so the
outputs cannot drift from the data. Storage per token is 4 bytes (f32) or
2 (f16) times the sum of the stored widths per token: each hidden state
(hidden size) and each attention layer's queries and keys (2 × hidden
size); the logits add classes (or 2·k with top-k) per sequence.

Stored with DistillConfig(variable_length=True), the teacher runs compiled
on symbolic batch and length, and the manifest's `token_axes` lists each
output's sequence axes: distillation with variable_length cuts them with
the batch's inputs to its longest row."""
import hashlib
import json
import pathlib

import numpy as np

FORMAT = "ube.teacher_outputs"
VERSION = 1
_FILL = np.float32(-1e4)  # logits outside the top k: exp(-1e4 / T) is 0 in f32


def batch_digest(inputs):
    """SHA-256 of one batch's input arrays (dtype, shape and bytes)."""
    h = hashlib.sha256()
    for a in inputs:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


class TeacherOutputs:
    """A directory written by save_teacher_outputs, usable as ube.distill's
    teacher. `batch(k)` gives the outputs of the data's batch k (dense f32
    arrays in the teacher's output order)."""

    def __init__(self, directory):
        self.directory = pathlib.Path(directory)
        try:
            manifest = json.loads((self.directory / "manifest.json").read_text())
        except (OSError, ValueError) as e:
            raise ValueError(f"teacher outputs {self.directory}: no readable manifest.json "
                             f"({e})") from e
        if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
            raise ValueError(f"teacher outputs {self.directory}: not a {FORMAT} version "
                             f"{VERSION} directory")
        self.manifest = manifest
        self.digests = manifest["digests"]
        self.top_k = manifest.get("top_k")
        self._arrays = {}
        for f in manifest["files"]:
            path = self.directory / f
            try:
                self._arrays[f] = np.load(path, mmap_mode="r")
            except (OSError, ValueError) as e:
                raise ValueError(f"teacher outputs {path}: cannot be read ({e})") from e
            if self._arrays[f].shape[0] != len(self.digests):
                raise ValueError(f"teacher outputs {path}: {self._arrays[f].shape[0]} batches, "
                                 f"the manifest lists {len(self.digests)}")

    @property
    def batches(self):
        return len(self.digests)

    @property
    def shapes(self):
        """The shape of each output for one batch."""
        return [tuple(s) for s in self.manifest["shapes"]]

    @property
    def token_axes(self):
        """Per output, the axes as long as the batch's sequence (stored
        under variable_length, which cuts them with the batch), or None
        when the outputs were stored at static shapes."""
        return self.manifest.get("token_axes")

    def alongside(self, data):
        """`data` (re-iterable) with each batch's stored outputs appended to
        its inputs."""
        return _Alongside(self, data)

    def batch(self, k, inputs=None):
        """The outputs of batch k; with `inputs`, checked to be that batch."""
        if inputs is not None and batch_digest(inputs) != self.digests[k]:
            raise ValueError(f"teacher outputs {self.directory}: batch {k} of the data differs "
                             "from the one its outputs were computed on (another data set, "
                             "order or batch size)")
        out = []
        for i, shape in enumerate(self.shapes):
            if i == 0 and self.top_k:
                values = self._arrays["out0.values.npy"][k].astype(np.float32)
                indices = self._arrays["out0.indices.npy"][k]
                logits = np.full(shape, _FILL, np.float32)
                np.put_along_axis(logits, indices.astype(np.int64), values, axis=-1)
                out.append(logits)
            else:
                out.append(np.asarray(self._arrays[f"out{i}.npy"][k], dtype=np.float32))
        return out


def write(directory, outputs, digests, top_k, dtype, extra):
    """Writes per-batch `outputs` ([[array per output] per batch]) as a
    TeacherOutputs directory."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    store = np.dtype({"f32": np.float32, "f16": np.float16}[dtype])
    files = []
    for i in range(len(outputs[0])):
        stacked = np.stack([batch[i] for batch in outputs])
        if i == 0 and top_k:
            if not 0 < top_k < stacked.shape[-1]:
                raise ValueError(f"top_k={top_k}: the logits have {stacked.shape[-1]} classes")
            indices = np.argsort(-stacked, axis=-1, kind="stable")[..., :top_k]
            values = np.take_along_axis(stacked, indices, axis=-1)
            np.save(directory / "out0.values.npy", values.astype(store))
            np.save(directory / "out0.indices.npy", indices.astype(np.int32))
            files += ["out0.values.npy", "out0.indices.npy"]
        else:
            np.save(directory / f"out{i}.npy", stacked.astype(store))
            files.append(f"out{i}.npy")
    manifest = {"format": FORMAT, "version": VERSION, "dtype": dtype, "top_k": top_k,
                "shapes": [list(a.shape) for a in outputs[0]], "files": files,
                "digests": digests, **extra}
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=1))


class _Alongside:
    def __init__(self, outputs, data):
        self.outputs, self.data = outputs, data

    def __iter__(self):
        for k, (inputs, labels) in enumerate(self.data):
            if k >= self.outputs.batches:
                raise ValueError(f"teacher outputs {self.outputs.directory}: stored for "
                                 f"{self.outputs.batches} batches, the data has more")
            inputs = tuple(np.asarray(a) for a in inputs)
            yield inputs + tuple(self.outputs.batch(k, inputs)), labels
