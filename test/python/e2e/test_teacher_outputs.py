"""Offline teacher outputs (ube.save_teacher_outputs, ube.TeacherOutputs):
the teacher run once over the data, its outputs stored; distillation from
them follows the run that computes the teacher in its step, on torch and
Hugging Face models, with top-k logits and f16 storage; the errors of
outputs that do not fit the data or the config."""
import dataclasses
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import test_hf_distill as hfd
from test_distill_api import Tiny, make_data

SGD = {"kind": "sgd", "lr": 0.2}


def close(a, b, rtol):
    for name, value in a.params.items():
        if name.endswith("key.bias"):
            # Its gradient is 0 up to rounding (a bias on the keys shifts every
            # score of a row alike): it stays at rounding noise either way.
            continue
        err = np.abs(b.params[name] - value).max() / max(np.abs(value).max(), 1e-30)
        assert err <= rtol, (name, err)


def test_torch_teacher_outputs_match_the_teacher_in_the_step(ube_module, tmp_path):
    """KD and a projected feature term, SGD: the parameters after 12 steps
    from stored outputs are within 1e-5 relative of the online run (the
    teacher's forward compiled on its own instead of inside the step may
    round differently)."""
    data = make_data(2)
    torch.manual_seed(3)
    teacher, student = Tiny(12), Tiny(6)
    config = ube_module.DistillConfig(steps=12, log_every=0, optimizer=SGD, feature_weight=0.5,
                                      layer_map={1: 1})
    online = ube_module.distill(teacher, student, data, config)
    stored = ube_module.save_teacher_outputs(teacher, data, tmp_path / "t", config)
    assert stored.batches == 4 and stored.shapes == [(8, 3), (8, 12)]
    offline = ube_module.distill(stored, student, data, config)
    close(online, offline, 1e-5)
    np.testing.assert_allclose(offline.history["kd"], online.history["kd"], rtol=1e-5)


def test_transformers_teacher_outputs_with_top_k_and_f16(ube_module, tmp_path):
    """A 2-layer BERT teacher, 1-layer student: the stored outputs are the
    logits, the mapped hidden state and the last layer's queries and keys;
    f32 storage follows the online run, f16 halves the bytes and stays
    within 1e-2, top-2 of 3 logits feeds KD the renormalized top 2."""
    teacher, student = hfd.bert(2, 48, seed=1), hfd.bert(1, 32, seed=2)
    data = hfd.make_data(3)
    config = hfd.config(ube_module, steps=8, optimizer=SGD, feature_weight=1.0,
                        layer_map={1: 2}, attention_weight=1.0, attention_map={0: 1})
    online = ube_module.distill(teacher, student, data, config)
    f32 = ube_module.save_teacher_outputs(teacher, data, tmp_path / "f32", config)
    # logits, hidden state 2, layer 1's queries and keys [batch, heads, tokens, d]
    assert f32.shapes == [(8, 3), (8, 8, 48), (8, 4, 8, 12), (8, 4, 8, 12)]
    close(online, ube_module.distill(f32, student, data, config), 1e-5)

    f16 = ube_module.save_teacher_outputs(teacher, data, tmp_path / "f16", config, dtype="f16")
    size = {d: sum(f.stat().st_size for f in (tmp_path / d).glob("*.npy"))
            for d in ("f32", "f16")}
    assert size["f16"] < 0.51 * size["f32"] + 1024
    close(online, ube_module.distill(f16, student, data, config), 1e-2)

    top = ube_module.save_teacher_outputs(teacher, data, tmp_path / "top", config, top_k=2)
    full = f32.batch(0)[0]
    logits = top.batch(0)[0]
    kept = np.argsort(-full, axis=1)[:, :2]
    np.testing.assert_array_equal(np.take_along_axis(logits, kept, 1),
                                  np.take_along_axis(full, kept, 1))
    assert (np.sort(logits, axis=1)[:, 0] == -1e4).all()
    # The first step's KD is against the teacher renormalized over its top 2.
    trained = ube_module.distill(top, student, data, dataclasses.replace(config, steps=1))
    ids, mask = (torch.from_numpy(a) for a in data[0][0])
    with torch.no_grad():
        s_logits = student.double()(input_ids=ids, attention_mask=mask).logits
        student.float()
    t = torch.from_numpy(logits).double() / 2
    kd = F.kl_div(F.log_softmax(s_logits / 2, -1), F.softmax(t, -1), reduction="batchmean") * 4
    assert abs(trained.history["kd"][0] - kd.item()) <= 1e-5 * kd.item()


def test_bad_teacher_outputs(ube_module, tmp_path):
    data = make_data(2)
    torch.manual_seed(3)
    teacher, student = Tiny(12), Tiny(6)
    config = ube_module.DistillConfig(steps=4, log_every=0)
    stored = ube_module.save_teacher_outputs(teacher, data, tmp_path / "t", config)
    with pytest.raises(ValueError, match="batch 0 of the data differs"):
        ube_module.distill(stored, student, make_data(3), config)
    with pytest.raises(ValueError, match="stored for 4 batches, the data has more"):
        ube_module.distill(stored, student, make_data(2, batches=5), config.__class__(
            steps=5, log_every=0))
    with pytest.raises(ValueError, match="module replacement runs the teacher's modules"):
        ube_module.distill(stored, student, data, ube_module.DistillConfig(
            replace=[(["hidden"], "hidden")]))
    with pytest.raises(ValueError, match="top_k=3: the logits have 3 classes"):
        ube_module.save_teacher_outputs(teacher, data, tmp_path / "k", config, top_k=3)
    manifest = tmp_path / "t" / "manifest.json"
    manifest.write_text(json.dumps(dict(json.loads(manifest.read_text()), version=7)))
    with pytest.raises(ValueError, match="not a ube.teacher_outputs version 1 directory"):
        ube_module.TeacherOutputs(tmp_path / "t")
    with pytest.raises(ValueError, match="no readable manifest.json"):
        ube_module.TeacherOutputs(tmp_path / "missing")
    # Transformers outputs saved for other maps.
    hteacher, hstudent = hfd.bert(2, 48, seed=1), hfd.bert(1, 32, seed=2)
    hdata = hfd.make_data(3)
    saved = ube_module.save_teacher_outputs(hteacher, hdata, tmp_path / "h", hfd.config(
        ube_module, feature_weight=1.0, layer_map={1: 2}))
    with pytest.raises(ValueError, match=r"stored for the teacher's hidden states \[2\]"):
        ube_module.distill(saved, hstudent, hdata, hfd.config(
            ube_module, feature_weight=1.0, layer_map={1: 1}))


def test_sequence_axes_of_stored_outputs(ube_module):
    """Under variable_length the stored outputs' sequence axes come from
    the teacher's output shapes at two lengths: an axis as long as the
    sequence at both is one (anywhere in the shape), a static one is not,
    and one that changes otherwise (the sequence folded into the batch
    axis) is refused, naming the output and the axis; a one-token batch is
    probed at two tokens instead of zero."""
    import importlib
    distill = importlib.import_module("ube.distill")

    class Teacher:
        def __init__(self, folded):
            self.folded = folded

        def output_shapes(self, ids, mask):
            batch, tokens = ids
            shapes = [(batch, 3), (batch, tokens, 8), (batch, 2, tokens, 4)]
            return shapes + ([(batch * tokens, 8)] if self.folded else [])

    inputs = (np.zeros((4, 6), np.int64), np.ones((4, 6), bool))
    assert distill._token_axes(Teacher(False), inputs) == [[], [1], [2]]
    one = tuple(a[:, :1] for a in inputs)
    assert distill._token_axes(Teacher(False), one) == [[], [1], [2]]
    with pytest.raises(ValueError, match="teacher output 3 has 24 entries on axis 0 at 6 "
                                         "tokens and 20 at 5"):
        distill._token_axes(Teacher(True), inputs)
