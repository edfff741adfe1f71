"""Checkpoints of a training run (ube.fit, ube.distill): the parameters and
optimizer state in safetensors, the rest of the run's state in a small JSON.

A checkpoint directory holds `step-<N>/` directories, each with
`state.safetensors` and `checkpoint.json`, and `latest`, a text file naming
the newest. A checkpoint is written into a temporary directory and renamed
into place, then `latest` is replaced (os.replace), so a process killed at
any moment leaves the previous checkpoint intact; only the newest two are
kept. One process writes (rank 0 of a data-parallel run)."""
import json
import os
import pathlib
import shutil
import struct

import numpy as np

from ube.safetensors import read_safetensors, write_safetensors

FORMAT = "ube.checkpoint"
VERSION = 1
KEEP = 2


def _fsync(path):
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def save(directory, step, arrays, state):
    """Writes checkpoint `step`: `arrays` ({name: numpy array}) and `state`
    (JSON-serializable: the step counter, data position, loss history...)."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    name = f"step-{step:08d}"
    temporary = directory / f".{name}.tmp"
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir()
    write_safetensors(temporary / "state.safetensors", arrays)
    (temporary / "checkpoint.json").write_text(json.dumps(
        {"format": FORMAT, "version": VERSION, "step": step, **state}))
    for f in ("state.safetensors", "checkpoint.json"):
        _fsync(temporary / f)
    shutil.rmtree(directory / name, ignore_errors=True)
    os.replace(temporary, directory / name)
    (directory / "latest.tmp").write_text(name)
    _fsync(directory / "latest.tmp")
    os.replace(directory / "latest.tmp", directory / "latest")
    kept = sorted(p for p in directory.glob("step-*") if p.is_dir())
    for old in kept[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)


def latest(directory):
    """The newest checkpoint in `directory` as (arrays, state), or None when
    it holds none. A damaged or foreign one is a ValueError naming it."""
    directory = pathlib.Path(directory)
    pointer = directory / "latest"
    if not pointer.is_file():
        return None
    path = directory / pointer.read_text().strip()
    try:
        state = json.loads((path / "checkpoint.json").read_text())
        arrays = read_safetensors(path / "state.safetensors")
    except (OSError, ValueError, KeyError, struct.error) as e:
        raise ValueError(f"checkpoint {path}: cannot be read ({e})") from e
    if state.get("format") != FORMAT or state.get("version") != VERSION:
        raise ValueError(f"checkpoint {path}: not a {FORMAT} version {VERSION} checkpoint")
    return {name: np.array(a) for name, a in arrays.items()}, state
