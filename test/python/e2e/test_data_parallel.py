"""Checkpoints, resumption and data parallelism of ube.distill / ube.fit:
an interrupted run resumes bit for bit; two ranks under torchrun (gloo,
loopback) give the parameters one process gives with the doubled batch; a
rank killed after a checkpoint is restarted by torchrun and the run ends
where an uninterrupted one does."""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import torch

from test_distill_api import Tiny, make_data, theseus_pair

WORKER = pathlib.Path(__file__).with_name("distributed_worker.py")


class Interrupted(Exception):
    pass


def config(ube_module, **kw):
    return ube_module.DistillConfig(**{
        "steps": 12, "log_every": 0, "optimizer": {"kind": "adamw", "lr": 0.03},
        "lr_schedule": "warmup_linear", "warmup_steps": 3, "feature_weight": 0.5,
        "layer_map": {1: 1}, **kw})


def interrupt_at(step):
    def on_step(i, terms):
        if i == step:
            raise Interrupted
    return on_step


def same(a, b):
    assert set(a.params) == set(b.params)
    for name in a.params:
        assert np.array_equal(a.params[name], b.params[name]), name


def test_an_interrupted_distillation_resumes_bit_for_bit(ube_module, tmp_path):
    data = make_data(2)
    torch.manual_seed(3)
    teacher, student = Tiny(12), Tiny(6)
    whole = ube_module.distill(teacher, student, data, config(ube_module))
    # Checkpoints every 4 steps; the process "dies" after step 6, so the run
    # resumes at step 5 from the step-4 checkpoint.
    with pytest.raises(Interrupted):
        ube_module.distill(teacher, student, data, config(
            ube_module, checkpoint_dir=str(tmp_path), checkpoint_every=4,
            on_step=interrupt_at(6)))
    assert (tmp_path / "latest").read_text() == "step-00000004"
    seen = []
    resumed = ube_module.distill(teacher, student, data, config(
        ube_module, on_step=lambda i, terms: seen.append(i)), resume=tmp_path)
    assert seen == list(range(5, 13))
    same(whole, resumed)
    assert resumed.history == whole.history
    # The projection (a width-mismatched feature term) was restored too.
    assert np.array_equal(resumed.projections["projection0"], whole.projections["projection0"])


def test_checkpoints_keep_the_newest_two_and_restarts_continue(ube_module, tmp_path):
    """A run whose checkpoint_dir already holds a checkpoint continues from
    it (what a restarted worker does); fit keeps the best of early stopping
    across the restart."""
    data, validation = make_data(1, batches=6), make_data(5, batches=2)
    torch.manual_seed(0)
    model = Tiny(8)
    settings = dict(steps=30, eval_every=3, patience=50, optimizer={"kind": "sgd", "lr": 0.5})
    whole = ube_module.fit(model, data, ube_module.DistillConfig(log_every=0, **settings),
                           validation=validation)
    cut = ube_module.DistillConfig(log_every=0, checkpoint_dir=str(tmp_path),
                                   checkpoint_every=5, on_step=interrupt_at(17), **settings)
    with pytest.raises(Interrupted):
        ube_module.fit(model, data, cut, validation=validation)
    assert sorted(p.name for p in tmp_path.glob("step-*")) == ["step-00000010", "step-00000015"]
    resumed = ube_module.fit(model, data, dataclass_replace(cut, on_step=None),
                             validation=validation)
    same(whole, resumed)
    assert resumed.validation == whole.validation
    assert sorted(p.name for p in tmp_path.glob("step-*")) == ["step-00000025", "step-00000030"]


def dataclass_replace(config, **kw):
    import dataclasses
    return dataclasses.replace(config, **kw)


def test_bad_checkpoints(ube_module, tmp_path):
    data = make_data(2)
    torch.manual_seed(3)
    teacher, student = Tiny(12), Tiny(6)
    with pytest.raises(ValueError, match=f"resume: {tmp_path / 'none'} holds no checkpoint"):
        ube_module.distill(teacher, student, data, config(ube_module), resume=tmp_path / "none")
    ube_module.distill(teacher, student, data, config(
        ube_module, steps=4, checkpoint_dir=str(tmp_path / "a"), checkpoint_every=2))
    # Another student (another width): a different run.
    with pytest.raises(ValueError, match="written by another training run"):
        ube_module.distill(teacher, Tiny(5), data, config(ube_module), resume=tmp_path / "a")
    with pytest.raises(ValueError, match="seed 0, this run has 1 and 5"):
        ube_module.distill(teacher, student, data, config(ube_module, seed=5),
                           resume=tmp_path / "a")
    (tmp_path / "a" / "step-00000004" / "state.safetensors").write_bytes(b"\x01")
    with pytest.raises(ValueError, match="step-00000004: cannot be read"):
        ube_module.distill(teacher, student, data, config(ube_module), resume=tmp_path / "a")


def torchrun(tools_dir, out, *args, restarts=0):
    env = dict(os.environ, UBE_PYTHON_DIR=str(tools_dir.parent / "python"), OMP_NUM_THREADS="1")
    torchrun = pathlib.Path(sys.executable).with_name("torchrun")
    command = [str(torchrun), "--standalone", "--nproc-per-node=2",
               f"--max-restarts={restarts}", str(WORKER), "--out", str(out), *map(str, args)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    from ube.safetensors import read_safetensors
    return (read_safetensors(out / "params.safetensors"),
            json.loads((out / "history.json").read_text()))


def one_process(ube_module, batch, steps):
    """The worker's run in this process (no process group: one rank)."""
    teacher, student = theseus_pair(6)
    trained = ube_module.distill(teacher, student, make_data(7, batches=3, batch=batch),
                                 ube_module.DistillConfig(
        steps=steps, log_every=0, seed=9, lr_schedule="warmup_linear", warmup_steps=2,
        optimizer={"kind": "adamw", "lr": 0.03}, attention_weight=0.5,
        attention_map={(1, 2): (1, 2)}, replace=[(["layers.0", "layers.1"], "layers.0")],
        replace_weight=1.0, transfer_slope=0.1, transfer_offset=0.3, eval_every=3),
        validation=make_data(8, batches=2, batch=batch))
    return trained


@pytest.fixture(scope="module")
def two_ranks(tools_dir, tmp_path_factory, ube_module):
    """Two ranks × 8 rows for 6 steps, uninterrupted."""
    return torchrun(tools_dir, tmp_path_factory.mktemp("two"), "--batch", 16, "--steps", 6)


def test_two_ranks_match_one_process_with_the_doubled_batch(ube_module, two_ranks):
    """Module replacement (its draws keyed by seed and step, not rank),
    attention transfer and AdamW: after 6 steps every parameter is within
    1e-5 relative of one process with 16 rows (the losses are shard means
    averaged over the ranks: the same mean, summed in another order)."""
    params, history = two_ranks
    single = one_process(ube_module, 16, 6)
    assert set(params) == set(single.params)
    for name, value in single.params.items():
        if name == "key.bias":
            # Its gradient is 0 up to rounding (a bias on the keys adds the
            # same q·b to every score of a row; the softmax ignores it), and
            # AdamW scales that rounding noise up to full-size steps.
            continue
        err = np.abs(params[name] - value).max() / max(np.abs(value).max(), 1e-30)
        assert err <= 1e-5, (name, err)
    assert not np.array_equal(params["layers.0.linear.weight"],
                              theseus_pair(6)[1].state_dict()["layers.0.linear.weight"].numpy())
    np.testing.assert_allclose(history["loss"], single.history["loss"], rtol=1e-5)
    assert history["replace_probability"] == single.history["replace_probability"]
    # Validation: each rank scores its rows, the counts summed over ranks.
    assert [tuple(v) for v in history["validation"]] == single.validation
    assert [step for step, _ in single.validation] == [3, 6]


def test_a_rank_that_dies_is_restarted_and_resumes(tools_dir, tmp_path, two_ranks):
    """Rank 1 dies after step 5 (the checkpoint of step 4 written); torchrun
    restarts both workers, which resume at step 5 from the checkpoint and
    end with the uninterrupted run's parameters, bit for bit."""
    params, history = torchrun(tools_dir, tmp_path / "out", "--batch", 16, "--steps", 6,
                               "--checkpoint-dir", tmp_path / "ckpt", "--checkpoint-every", 2,
                               "--fail-after-step", 5, restarts=1)
    assert history.pop("attempt") == 1  # the run that finished was the restart
    expected_params, expected_history = two_ranks
    for name, value in expected_params.items():
        assert np.array_equal(params[name], value), name
    assert history == {k: v for k, v in expected_history.items() if k != "attempt"}


def test_teacher_outputs_stored_by_two_ranks(ube_module, tools_dir, tmp_path):
    """The ranks share the teacher's batches (rank 0 writes all of them);
    distilling from the stored outputs on two ranks matches one process
    distilling from them with the doubled batch."""
    params, _ = torchrun(tools_dir, tmp_path / "out", "--batch", 16, "--steps", 6,
                         "--teacher-outputs", tmp_path / "teacher")
    stored = ube_module.TeacherOutputs(tmp_path / "teacher")
    assert stored.batches == 3 and stored.shapes[0] == (16, 3)
    teacher, student = theseus_pair(6)
    data = make_data(7, batches=3, batch=16)
    direct = [np.asarray(o) for o in ube_module.compile(
        teacher, example_inputs=(torch.from_numpy(data[2][0][0]),))(*data[2][0])]
    for got, expected in zip(stored.batch(2), direct):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    single = ube_module.distill(stored, student, data, ube_module.DistillConfig(
        steps=6, log_every=0, seed=9, lr_schedule="warmup_linear", warmup_steps=2,
        optimizer={"kind": "adamw", "lr": 0.03}, attention_weight=0.5,
        attention_map={(1, 2): (1, 2)}))
    for name, value in single.params.items():
        if name != "key.bias":  # rounding noise scaled up by AdamW (above)
            err = np.abs(params[name] - value).max() / np.abs(value).max()
            assert err <= 1e-5, (name, err)


def test_two_ranks_cut_their_rows_to_their_longest(ube_module, tools_dir, tmp_path):
    """variable_length on two ranks: each rank cuts its 8 rows to their own
    longest (up to 6 tokens on rank 0, 3 on rank 1), with module
    replacement, hidden-state and attention transfer and hard labels; the
    parameters and losses are those of the same two ranks on the padded
    rows (5e-5 relative: the same sums less the padded terms, which AdamW's
    first steps scale up), and so is the validation."""
    padded = torchrun(tools_dir, tmp_path / "padded", "--batch", 16, "--steps", 6, "--bert")
    cut = torchrun(tools_dir, tmp_path / "cut", "--batch", 16, "--steps", 6, "--bert",
                   "--variable-length")
    assert padded[1]["step_tokens"] == [8 * 8] * 6
    assert all(8 * 4 <= tokens <= 8 * 6 for tokens in cut[1]["step_tokens"])  # rank 0's
    for name, value in padded[0].items():
        if name.endswith("key.bias"):  # rounding noise scaled up by AdamW (above)
            continue
        err = np.abs(cut[0][name] - value).max() / max(np.abs(value).max(), 1e-30)
        assert err <= 5e-5, (name, err)
    for term in ("loss", "kd", "feature0", "attention0", "replace"):
        np.testing.assert_allclose(cut[1][term], padded[1][term], rtol=5e-5, atol=1e-7,
                                   err_msg=term)
    assert cut[1]["validation"] == padded[1]["validation"]
    assert cut[1]["replace_probability"] == padded[1]["replace_probability"]


def test_gradient_buckets_cut_on_gradient_boundaries(ube_module):
    from ube.data_parallel import GradientBuckets, shard
    buckets = GradientBuckets([(3, 5), (7,), (40,), (2, 2)], bucket_bytes=100)
    # Each gradient starts on a 64-byte boundary; a bucket closes once it
    # holds 100 bytes or more, at the end of a gradient.
    assert [v.ctypes.data - buckets.flat.ctypes.data for v in buckets.views] == [0, 64, 128, 320]
    assert [b.size for b in buckets.buckets] == [32, 48, 16]
    for i, view in enumerate(buckets.views):
        view[...] = i + 1
    assert sorted(set(buckets.flat.tolist())) == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert shard(np.arange(8), 1, 2).tolist() == [4, 5, 6, 7]
    with pytest.raises(ValueError, match="a batch of 7 rows does not split evenly over 2 ranks"):
        shard(np.arange(7), 0, 2)
