"""ube.fit and ube.distill on small torch models: the compiled steps train,
the returned executables are the trained models, runs repeat bit for bit,
and the feature-map term with a projection trains too."""
import numpy as np
import pytest
import torch
import torch.nn as nn

from ubetest import rel_error


class Tiny(nn.Module):
    """Embedding, one hidden layer, logits; also returns the hidden state."""

    def __init__(self, hidden, vocab=11, tokens=6, classes=3):
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden)
        self.hidden = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, classes)

    def forward(self, ids):
        h = torch.tanh(self.hidden(self.embed(ids).mean(1)))
        return self.head(h), h


def make_data(seed, batches=4, batch=8):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(batches):
        ids = rng.integers(0, 11, (batch, 6)).astype(np.int64)
        out.append(((ids,), (ids.sum(1) % 3).astype(np.int64)))
    return out


def config(ube_module, **kw):
    return ube_module.DistillConfig(**{"steps": 12, "log_every": 0,
                                      "optimizer": {"kind": "adamw", "lr": 0.03}, **kw})


def test_fit_trains_and_returns_the_trained_model(ube_module):
    torch.manual_seed(0)
    model = Tiny(8)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    data = make_data(1)
    trained = ube_module.fit(model, data, config(ube_module, optimizer={"kind": "sgd", "lr": 0.5}))
    assert len(trained.history["loss"]) == 12
    assert trained.history["loss"][-1] < trained.history["loss"][0]
    # The executable is the torch model with the trained weights.
    model.load_state_dict({k: torch.from_numpy(trained.params[k]) for k in initial})
    ids = data[0][0][0]
    with torch.no_grad():
        expected = model(torch.from_numpy(ids))[0].numpy()
    assert rel_error(trained(ids), expected) <= 1e-5
    assert any(not np.array_equal(trained.params[k], initial[k].numpy()) for k in initial)


def test_distill_repeats_bit_for_bit(ube_module):
    data = make_data(2)
    runs = []
    for _ in range(2):
        torch.manual_seed(3)
        teacher, student = Tiny(12), Tiny(6)
        runs.append(ube_module.distill(teacher, student, data, config(ube_module)))
    assert runs[0].history["kd"] == runs[1].history["kd"]
    for name, value in runs[0].params.items():
        assert np.array_equal(value, runs[1].params[name])
    assert runs[0].history["kd"][-1] < runs[0].history["kd"][0]


def test_distill_from_a_trained_teacher_with_a_feature_map(ube_module, tmp_path):
    """A TrainedModel is a teacher; the hidden states (output 1) are matched
    through a trainable 6 -> 12 projection."""
    data = make_data(4)
    torch.manual_seed(5)
    teacher = ube_module.fit(Tiny(12), data, config(ube_module))
    teacher.save(tmp_path / "teacher.json")
    student = ube_module.distill(tmp_path / "teacher.json", Tiny(6), data, config(
        ube_module, feature_weight=0.5, layer_map={1: 1}, plot=str(tmp_path / "loss.png"),
        save=str(tmp_path / "student.safetensors")))
    assert set(student.history) == {"loss", "kd", "feature0"}
    assert student.history["feature0"][-1] < student.history["feature0"][0]
    np.testing.assert_allclose(
        student.history["loss"], np.float32(student.history["kd"]) +
        np.float32(0.5) * np.float32(student.history["feature0"]), rtol=1e-5)
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from ube.safetensors import read_safetensors
    saved = read_safetensors(tmp_path / "student.safetensors")
    assert set(saved) == set(student.params) and "projection0" not in str(list(saved))


def test_bad_input(ube_module):
    with pytest.raises(ValueError, match="empty"):
        ube_module.fit(Tiny(4), [], config(ube_module))
