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


class Block(nn.Module):
    """A residual block: it maps a hidden state to the next one, as module
    replacement requires."""

    def __init__(self, hidden):
        super().__init__()
        self.linear = nn.Linear(hidden, hidden)

    def forward(self, h):
        return h + torch.tanh(self.linear(h))


class Stack(nn.Module):
    """Embedding, `layers` residual blocks of one width, logits; also
    returns one layer's queries and keys ([batch, heads, tokens, d]) for
    attention transfer."""

    def __init__(self, hidden, layers, heads=2, vocab=11, classes=3):
        super().__init__()
        self.heads = heads
        self.embed = nn.Embedding(vocab, hidden)
        self.layers = nn.ModuleList(Block(hidden) for _ in range(layers))
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, classes)

    def forward(self, ids):
        h = self.embed(ids)
        for layer in self.layers:
            h = layer(h)
        b, n, w = h.size(0), h.size(1), h.size(2)
        q = self.query(h).view(b, n, self.heads, w // self.heads).transpose(1, 2)
        k = self.key(h).view(b, n, self.heads, w // self.heads).transpose(1, 2)
        return self.head(h.mean(1)), q, k


def theseus_pair(seed):
    """A 2-layer teacher and a 1-layer student that starts from the
    teacher's embedding, projections and classifier (as in BERT-of-Theseus)."""
    torch.manual_seed(seed)
    teacher, student = Stack(8, 2), Stack(8, 1)
    shared = {k: v for k, v in teacher.state_dict().items() if not k.startswith("layers.")}
    student.load_state_dict(shared, strict=False)
    return teacher, student


def test_module_replacement_follows_the_schedule_and_the_draws(ube_module):
    """Replacing teacher layers 0-1 by the student's layer 0 with p = 0.5:
    where the draw (Philox of seed, step, module 0) keeps the teacher, the
    hybrid is the teacher and kd is 0; where it picks the student, kd > 0."""
    from ubetest import philox_uniform
    teacher, student = theseus_pair(6)
    data = make_data(7)
    trained = ube_module.distill(teacher, student, data, config(
        ube_module, steps=16, seed=9, replace=[(["layers.0", "layers.1"], "layers.0")],
        transfer_slope=0.0, transfer_offset=0.5))
    assert trained.history["replace_probability"] == [0.5] * 16
    kd = np.array(trained.history["kd"])
    chosen = [philox_uniform(0, step, 9) < 0.5 for step in range(1, 17)]
    assert 0 < sum(chosen) < 16
    assert np.all(kd[np.array(chosen)] > 1e-4)
    assert np.all(np.abs(kd[~np.array(chosen)]) < 1e-6)
    # Only the student's replacing module was trained.
    assert set(trained.params) == {"layers.0.linear.weight", "layers.0.linear.bias"}
    before = student.state_dict()
    assert not np.array_equal(trained.params["layers.0.linear.weight"],
                              before["layers.0.linear.weight"])
    assert np.array_equal(trained.weights["head.weight"], before["head.weight"].numpy())


def test_module_replacement_schedule_and_full_replacement(ube_module):
    """p = min(1, k·step + b) per step; with p = 1 from the start the first
    step's kd is that of the student's layer inside the teacher (torch), and
    the returned executable is the student with its trained layer."""
    teacher, student = theseus_pair(8)
    data = make_data(9)
    schedule = ube_module.distill(teacher, student, data, config(
        ube_module, steps=8, replace=[(["layers.0", "layers.1"], "layers.0")],
        transfer_slope=0.1, transfer_offset=0.25))
    np.testing.assert_allclose(schedule.history["replace_probability"],
                               [min(1.0, 0.1 * t + 0.25) for t in range(1, 9)], rtol=1e-6)

    full = ube_module.distill(teacher, student, data, config(
        ube_module, steps=3, temperature=2.0, replace=[(["layers.0", "layers.1"], "layers.0")],
        transfer_slope=0.0, transfer_offset=1.0))
    ids = torch.from_numpy(data[0][0][0])
    with torch.no_grad():
        s = student(ids)[0] / 2
        t = teacher(ids)[0] / 2
        kd = torch.nn.functional.kl_div(torch.log_softmax(s, -1), torch.softmax(t, -1),
                                        reduction="batchmean") * 4
    assert abs(full.history["kd"][0] - kd.item()) <= 1e-5 * max(1.0, kd.item())
    student.load_state_dict({k: torch.from_numpy(v) for k, v in full.params.items()},
                            strict=False)
    with torch.no_grad():
        expected = student(ids)[0].numpy()
    assert rel_error(full(data[0][0][0]), expected) <= 1e-5


class NormBlock(nn.Module):
    """A post-norm feed-forward block: LN(h + W2 gelu(W1 h))."""

    def __init__(self, hidden):
        super().__init__()
        self.up, self.down = nn.Linear(hidden, 2 * hidden), nn.Linear(2 * hidden, hidden)
        self.norm = nn.LayerNorm(hidden)

    def forward(self, h):
        return self.norm(h + self.down(torch.nn.functional.gelu(self.up(h))))


class NormStack(nn.Module):
    """Embedding, `layers` NormBlocks, a classifier on the first token."""

    def __init__(self, hidden, layers, vocab=11, classes=3):
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden)
        self.layers = nn.ModuleList(NormBlock(hidden) for _ in range(layers))
        self.head = nn.Linear(hidden, classes)

    def forward(self, ids):
        h = self.embed(ids)
        for layer in self.layers:
            h = layer(h)
        return self.head(h[:, 0])


def test_module_replacement_trains_like_torch(ube_module):
    """With p = 1 every step trains the student's layer inside the teacher;
    three SGD steps give torch's parameters. The hybrid's output (a select
    between the teacher's and the student's last layer norm) is read by the
    backward long after both layer norms ran: the memory plan must keep both
    alive (it once let a later gradient overwrite one, silently)."""
    torch.manual_seed(12)
    teacher, student = NormStack(16, 2), NormStack(16, 1)
    student.load_state_dict({k: v for k, v in teacher.state_dict().items()
                             if not k.startswith("layers.1.")})
    data = make_data(13, batches=3, batch=16)
    lr = 0.5
    trained = ube_module.distill(teacher, student, data, config(
        ube_module, steps=3, temperature=2.0, optimizer={"kind": "sgd", "lr": lr},
        replace=[(["layers.0", "layers.1"], "layers.0")], transfer_slope=0.0,
        transfer_offset=1.0))

    initial = {k: v.clone() for k, v in student.layers[0].state_dict().items()}
    optimizer = torch.optim.SGD(student.layers[0].parameters(), lr=lr)
    for (ids,), _ in data:
        ids = torch.from_numpy(ids)
        with torch.no_grad():
            t = teacher(ids) / 2
        s = teacher.head(student.layers[0](teacher.embed(ids))[:, 0]) / 2
        kd = torch.nn.functional.kl_div(torch.log_softmax(s, -1), torch.softmax(t, -1),
                                        reduction="batchmean") * 4
        optimizer.zero_grad()
        kd.backward()
        optimizer.step()
    for name, value in student.layers[0].state_dict().items():
        expected, moved = value.numpy(), (value - initial[name]).abs().max().item()
        assert moved > 0, name
        # float32 rounding of the gradients, relative to how far SGD moved.
        assert np.abs(trained.params["layers.0." + name] - expected).max() <= 1e-4 * moved, name


def test_attention_transfer_term(ube_module):
    """An attention-transfer term between the students' and the teacher's
    (query, key) outputs trains down, and the total is the weighted sum."""
    torch.manual_seed(10)
    data = make_data(11)
    trained = ube_module.distill(Stack(8, 2), Stack(4, 1), data, config(
        ube_module, steps=15, attention_weight=2.0, attention_map={(1, 2): (1, 2)}))
    assert set(trained.history) == {"loss", "kd", "attention0"}
    assert trained.history["attention0"][-1] < trained.history["attention0"][0]
    np.testing.assert_allclose(
        trained.history["loss"], np.float32(trained.history["kd"]) +
        np.float32(2.0) * np.float32(trained.history["attention0"]), rtol=1e-5)


def test_module_replacement_bad_input(ube_module, tmp_path):
    teacher, student = theseus_pair(1)
    data = make_data(2)
    with pytest.raises(ValueError, match="no module 'layers.5'"):
        ube_module.distill(teacher, student, data, config(
            ube_module, replace=[(["layers.5"], "layers.0")]))
    with pytest.raises(ValueError, match="mapped twice"):
        ube_module.distill(teacher, student, data, config(
            ube_module, replace=[(["layers.0"], "layers.0"), (["layers.0"], "layers.0")]))
    with pytest.raises(ValueError, match="k >= 0"):
        ube_module.distill(teacher, student, data, config(
            ube_module, replace=[(["layers.0"], "layers.0")], transfer_slope=-1.0))
    wide = Stack(12, 1)
    with pytest.raises(ValueError, match="fails on the first batch: .*(mat1 and mat2|same reduction dim)"):
        ube_module.distill(teacher, wide, data, config(
            ube_module, replace=[(["layers.0"], "layers.0")]))
    with pytest.raises(ValueError, match="attention_map: output 7"):
        ube_module.distill(teacher, student, data, config(
            ube_module, attention_weight=1.0, attention_map={(7, 2): (1, 2)}))
    trained = ube_module.fit(Stack(8, 1), data, config(ube_module, steps=1))
    trained.save(tmp_path / "t.json")
    with pytest.raises(TypeError, match="torch.nn.Modules"):
        ube_module.distill(tmp_path / "t.json", student, data, config(
            ube_module, replace=[(["layers.0"], "layers.0")]))
