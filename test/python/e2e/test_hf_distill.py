"""ube.fit and ube.distill on Hugging Face transformers models (ube.hf),
small ones built from configs: layer maps by hidden-state and attention
layer, the learning-rate schedule fed to the step, validation with early
stopping, the trained student back in transformers (and saved as a
directory that from_pretrained loads) agreeing with ube's compiled student,
and the errors a user meets."""
import pathlib

import numpy as np
import pytest
import torch

from ubetest import rel_error

transformers = pytest.importorskip("transformers")

VOCAB, TOKENS, CLASSES = 50, 8, 3
HERE = pathlib.Path(__file__).resolve().parent


def bert(layers, hidden, heads=4, seed=0):
    torch.manual_seed(seed)
    config = transformers.BertConfig(
        vocab_size=VOCAB, hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=heads, intermediate_size=2 * hidden, max_position_embeddings=32,
        num_labels=CLASSES, id2label={0: "net", 1: "games", 2: "text"},
        label2id={"net": 0, "games": 1, "text": 2})
    return transformers.BertForSequenceClassification(config).eval()


def randomized(model, seed):
    """Every float parameter redrawn at a larger scale than BERT's
    initialization (0.02), so the layers change the logits."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in model.parameters():
            tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.2)
    return model


def make_data(seed, batches=4, batch=8, mask_dtype=bool, shortest=3, longest=TOKENS):
    """Token ids padded to TOKENS, rows of `shortest` to `longest` tokens;
    the label is a function of the tokens."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(batches):
        ids = rng.integers(1, VOCAB, (batch, TOKENS)).astype(np.int64)
        lengths = rng.integers(shortest, longest + 1, batch)
        mask = np.arange(TOKENS)[None, :] < lengths[:, None]
        ids[~mask] = 0
        labels = (np.where(mask, ids, 0).sum(1) % CLASSES).astype(np.int64)
        out.append(((ids, mask.astype(mask_dtype)), labels))
    return out


def config(ube_module, **kw):
    return ube_module.DistillConfig(**{"steps": 8, "log_every": 0,
                                      "optimizer": {"kind": "adamw", "lr": 1e-3}, **kw})


def logits(model, inputs):
    with torch.no_grad():
        return model(input_ids=torch.from_numpy(inputs[0]),
                     attention_mask=torch.from_numpy(inputs[1])).logits.numpy()


def test_distill_hf_models_with_layer_and_attention_maps(ube_module, tmp_path):
    """KD, hidden-state transfer through a projection (32 -> 48 wide) and
    attention transfer of the last layers in one step; every term falls,
    and the student in transformers, reloaded from its saved directory,
    agrees with ube's compiled student within 1e-4."""
    from ube import hf
    teacher, student = bert(2, 48, seed=1), bert(1, 32, seed=2)
    data = make_data(3)
    trained = ube_module.distill(teacher, student, data, config(
        ube_module, steps=12, feature_weight=1.0, layer_map={1: 2}, attention_weight=1.0,
        attention_map={0: 1}))
    assert set(trained.history) == {"loss", "kd", "feature0", "attention0"}
    for term, values in trained.history.items():
        assert values[-1] < values[0], term
    saved = hf.save_pretrained(student, trained.params, tmp_path / "student")
    reloaded = transformers.AutoModelForSequenceClassification.from_pretrained(saved).eval()
    assert reloaded.config.id2label == {0: "net", 1: "games", 2: "text"}
    inputs = data[0][0]
    assert rel_error(trained(*inputs), logits(reloaded, inputs)) <= 1e-4
    moved = hf.with_params(student, trained.params)
    assert rel_error(logits(moved, inputs), logits(reloaded, inputs)) == 0


def test_fit_with_a_schedule_trains_like_torch(ube_module):
    """ube.fit with AdamW under the warm-up + linear-decay schedule (the
    rate fed to the compiled step each step) against torch.optim.AdamW with
    transformers' get_linear_schedule_with_warmup, four steps: the same
    parameters within float32 rounding of what the steps moved them."""
    model = bert(1, 16, seed=4)
    data = make_data(5, batches=4)
    lr, steps, warmup = 1e-2, 4, 2
    trained = ube_module.fit(model, data, config(
        ube_module, steps=steps, optimizer={"kind": "adamw", "lr": lr, "weight_decay": 0.01},
        lr_schedule="warmup_linear", warmup_steps=warmup))
    reference = bert(1, 16, seed=4).train()
    for module in reference.modules():  # the compiled step runs without dropout
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    initial = {k: v.clone() for k, v in reference.named_parameters()}
    optimizer = torch.optim.AdamW(reference.parameters(), lr=lr, weight_decay=0.01)
    scheduler = transformers.get_linear_schedule_with_warmup(optimizer, warmup, steps)
    for (ids, mask), labels in data:
        out = reference(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
        loss = torch.nn.functional.cross_entropy(out.logits, torch.from_numpy(labels))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    for name, value in reference.named_parameters():
        moved = (value - initial[name]).abs().max().item()
        # Unused rows (positions past TOKENS) do not move; the keys' bias has
        # a gradient of 0 but for rounding (softmax ignores a shift per row).
        if moved < 1e-6:
            continue
        got = trained.params["model." + name]
        assert np.abs(got - value.detach().numpy()).max() <= 2e-3 * moved, name


def test_learning_rate_schedule_matches_transformers(ube_module):
    from ube.distill import learning_rate
    steps, warmup, lr = 20, 5, 0.1
    cfg = config(ube_module, steps=steps, warmup_steps=warmup, lr_schedule="warmup_linear",
                 optimizer={"kind": "adamw", "lr": lr})
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    scheduler = transformers.get_linear_schedule_with_warmup(optimizer, warmup, steps)
    for step in range(1, steps + 1):
        assert learning_rate(cfg, step) == pytest.approx(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    with pytest.raises(ValueError, match="unknown lr_schedule 'cosine'"):
        learning_rate(config(ube_module, lr_schedule="cosine"), 1)


def test_validation_curve_and_early_stopping(ube_module):
    """Accuracy every 2 steps from the executable's predict entry point;
    with patience 1 and a learning rate that wrecks the model, training
    stops at the first evaluation that is not better, keeping the best
    parameters (the executable returned predicts with them)."""
    model = bert(1, 16, seed=6)
    data, validation = make_data(7), make_data(8, batches=2)
    trained = ube_module.fit(model, data, config(
        ube_module, steps=40, eval_every=2, patience=1,
        optimizer={"kind": "sgd", "lr": 50.0}), validation=validation)
    steps = [s for s, _ in trained.validation]
    accuracies = [a for _, a in trained.validation]
    assert steps == list(range(2, 2 * len(steps) + 1, 2)) and steps[-1] < 40
    assert accuracies[-1] <= max(accuracies[:-1])
    best = max(accuracies)
    from ube.distill import accuracy
    assert accuracy(lambda *a: trained(*a), validation) == pytest.approx(best)
    # Without patience the schedule runs out and the last parameters stay.
    last = ube_module.fit(model, data, config(
        ube_module, steps=6, eval_every=2, optimizer={"kind": "sgd", "lr": 50.0}),
        validation=validation)
    assert [s for s, _ in last.validation] == [2, 4, 6]
    assert accuracy(lambda *a: last(*a), validation) == pytest.approx(last.validation[-1][1])


def test_bad_input(ube_module):
    teacher, student = bert(2, 32, seed=1), bert(1, 16, seed=2)
    data = make_data(9)
    with pytest.raises(ValueError, match="hidden state 3 does not exist"):
        ube_module.distill(teacher, student, data, config(
            ube_module, feature_weight=1.0, layer_map={1: 3}))
    with pytest.raises(ValueError, match="attention layer 1 does not exist"):
        ube_module.distill(teacher, student, data, config(
            ube_module, attention_weight=1.0, attention_map={1: 1}))
    with pytest.raises(ValueError, match="hidden size is 16 and the teacher's 32"):
        ube_module.distill(teacher, student, data, config(
            ube_module, feature_weight=1.0, layer_map={1: 2}, project_features=False))
    with pytest.raises(ValueError, match="must be bool"):
        ube_module.distill(teacher, student, make_data(9, mask_dtype=np.int64), config(
            ube_module, attention_weight=1.0, attention_map={0: 1}))
    # Ids from another model's tokenizer: past this vocabulary.
    foreign = [((ids + VOCAB, mask), labels) for (ids, mask), labels in data]
    with pytest.raises(ValueError, match="vocabulary of 50 tokens.*tokenizer"):
        ube_module.distill(teacher, student, foreign, config(ube_module))
    with pytest.raises(ValueError, match="both be transformers models"):
        ube_module.distill(teacher, torch.nn.Linear(2, 2), data, config(ube_module))
    with pytest.raises(ValueError, match="empty"):
        ube_module.distill(teacher, student, [], config(ube_module))


def test_first_step_terms_match_pytorch(ube_module):
    """Each term of the first step (before any update) against the same
    term written in PyTorch float64 on the transformers models: KD at T = 2
    with hard labels, hidden-state transfer (non-affine layer norm, mean
    and variance terms) and MiniLM's attention transfer, both over the
    valid tokens. f32 against f64 through two encoders: 1e-4 relative."""
    import torch.nn.functional as F
    from ube import hf
    teacher, student = bert(2, 32, seed=11), bert(1, 32, seed=12)
    data = make_data(13)
    trained = ube_module.distill(teacher, student, data, config(
        ube_module, steps=1, temperature=2.0, hard_label_weight=0.5, feature_weight=1.0,
        layer_map={1: 2}, feature_mean_weight=1.0, feature_variance_weight=1.0,
        attention_weight=1.0, attention_map={0: 1}))
    (ids, mask), labels = data[0]
    t_out = hf.ModelOutputs(teacher.double(), [2], [1])(torch.from_numpy(ids),
                                                         torch.from_numpy(mask))
    s_out = hf.ModelOutputs(student.double(), [1], [0])(torch.from_numpy(ids),
                                                         torch.from_numpy(mask))
    with torch.no_grad():
        t_logits, t_hidden, t_q, t_k = t_out
        s_logits, s_hidden, s_q, s_k = s_out
        kd = F.kl_div(F.log_softmax(s_logits / 2, -1), F.softmax(t_logits / 2, -1),
                      reduction="batchmean") * 4 + \
            0.5 * F.cross_entropy(s_logits, torch.from_numpy(labels))

        def norm(h):
            return F.layer_norm(h, h.shape[-1:], eps=1e-5)
        tokens = torch.from_numpy(mask)  # the feature terms are over kept tokens
        s_rows, t_rows = s_hidden[tokens], t_hidden[tokens]
        feature = F.mse_loss(norm(s_rows), norm(t_rows)) + \
            ((t_rows.mean(-1) - s_rows.mean(-1)) ** 2).mean() + \
            (t_rows.var(-1, unbiased=False) - s_rows.var(-1, unbiased=False)).abs().mean()
        keys = torch.from_numpy(mask)[:, None, None, :]

        def attention(q, k):
            scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
            return torch.log_softmax(scores.masked_fill(~keys, float("-inf")), -1)
        log_t, log_s = attention(t_q, t_k), attention(s_q, s_k)
        kl = (log_t.exp() * (log_t - log_s)).nan_to_num().sum(-1)  # [batch, heads, queries]
        rows = torch.from_numpy(mask)[:, None, :].expand_as(kl)
        attention_term = kl[rows].mean()
    for term, expected in (("kd", kd), ("feature0", feature), ("attention0", attention_term)):
        got = trained.history[term][0]
        assert abs(got - expected.item()) <= 1e-4 * abs(expected.item()), term


def test_same_loss_bits_on_one_and_two_threads(ube_module, tools_dir, tmp_path):
    """The same seed gives the same losses, bit for bit, whatever the thread
    count (UBE_NUM_THREADS): tasks never split a reduction."""
    import json
    import os
    import subprocess
    import sys
    script = tmp_path / "run.py"
    script.write_text(
        "import json, sys\n"
        f"sys.path[:0] = [{str(tools_dir.parent / 'python')!r}, {str(HERE)!r}, "
        f"{str(HERE.parent)!r}]\n"
        "import ube\n"
        "from test_hf_distill import bert, make_data\n"
        "trained = ube.distill(bert(2, 32, seed=1), bert(1, 16, seed=2), make_data(3),\n"
        "    ube.DistillConfig(steps=6, log_every=0, feature_weight=1.0, layer_map={1: 2},\n"
        "                      attention_weight=1.0, attention_map={0: 1}))\n"
        "print(json.dumps(trained.history))\n")
    runs = []
    for threads in ("1", "2"):
        out = subprocess.run([sys.executable, str(script)], check=True, capture_output=True,
                             text=True, env=dict(os.environ, UBE_NUM_THREADS=threads)).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    assert runs[0] == runs[1]


def test_module_replacement_beside_the_student(ube_module):
    """Student (a)'s step: the student's own terms and BERT-of-Theseus in one
    step. Each student layer replaces two teacher layers in the hybrid
    with probability min(1, k·step + b); the hybrid's KD is one more term
    (replace_weight), and the modules it trains are the student's own
    parameters, so the returned student has them."""
    from ube import hf
    teacher, student = randomized(bert(2, 32), 21), randomized(bert(1, 32), 22)
    student.load_state_dict({k: v for k, v in teacher.state_dict().items()
                             if ".layer." not in k}, strict=False)
    data = make_data(23)
    slope, offset = 0.1, 0.3
    trained = ube_module.distill(teacher, student, data, config(
        ube_module, steps=10, feature_weight=1.0, layer_map={1: 2},
        replace=[(["bert.encoder.layer.0", "bert.encoder.layer.1"], "bert.encoder.layer.0")],
        replace_weight=1.0, transfer_slope=slope, transfer_offset=offset))
    assert set(trained.history) == {"loss", "kd", "feature0", "replace",
                                    "replace_probability"}
    np.testing.assert_allclose(trained.history["replace_probability"],
                               [min(1.0, slope * t + offset) for t in range(1, 11)], rtol=1e-6)
    np.testing.assert_allclose(
        trained.history["loss"], np.float32(trained.history["kd"]) +
        np.float32(trained.history["feature0"]) + np.float32(trained.history["replace"]),
        rtol=1e-5)
    assert trained.history["kd"][-1] < trained.history["kd"][0]
    moved = hf.with_params(student, trained.params)
    layer = "bert.encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(moved.state_dict()[layer], student.state_dict()[layer])
    inputs = data[0][0]
    assert rel_error(trained(*inputs), logits(moved, inputs)) <= 1e-4


def base_bert(layers, hidden, heads=4, seed=0):
    """A transformers BertModel (no task head): its first output in ube.hf
    is the sentence embedding."""
    torch.manual_seed(seed)
    return randomized(transformers.BertModel(transformers.BertConfig(
        vocab_size=VOCAB, hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=heads, intermediate_size=2 * hidden,
        max_position_embeddings=32), add_pooling_layer=False), seed).eval()


def embeddings(model, data):
    """Mean-pooled sentence embeddings (sentence-transformers' pooling), in
    PyTorch float64."""
    from ube import hf
    model = hf.ModelOutputs(model).double()
    with torch.no_grad():
        return torch.cat([model(torch.from_numpy(ids), torch.from_numpy(mask))[0]
                          for (ids, mask), _ in data])


def test_general_distillation_of_sentence_embeddings(ube_module):
    """Task-agnostic distillation of base models: the cosine distance of
    the sentence embeddings with attention transfer, no logits and no
    labels. The first step's embedding term matches 1 - cosine in PyTorch
    float64 (1e-5: f32 through two encoders), and training raises the
    teacher-student cosine on held-out sentences."""
    import torch.nn.functional as F
    from ube import hf
    teacher, student = base_bert(2, 32, seed=21), base_bert(1, 32, seed=22)
    data, heldout = make_data(23, batches=6), make_data(24)
    trained = ube_module.distill(teacher, student, data, config(
        ube_module, steps=60, kd_weight=0.0, embedding_weight=1.0, attention_weight=1.0,
        attention_map={0: 1}))
    assert set(trained.history) == {"loss", "embedding", "attention0"}
    (ids, mask), _ = data[0]
    first = 1 - F.cosine_similarity(embeddings(student, data[:1]),
                                    embeddings(teacher, data[:1])).mean()
    assert abs(trained.history["embedding"][0] - first.item()) <= 1e-5 * first.item()

    def cosine(model):
        return F.cosine_similarity(embeddings(model, heldout),
                                   embeddings(teacher, heldout)).mean().item()
    before, after = cosine(student), cosine(hf.with_params(student, trained.params))
    assert after > before + 0.1, (before, after)
    # The compiled student is the same sentence encoder.
    out = trained.executable(ids, mask)
    expected = embeddings(hf.with_params(student, trained.params), data[:1]).numpy()
    assert rel_error(out[0] if isinstance(out, tuple) else out, expected) < 1e-5


def test_general_distillation_into_a_narrower_student(ube_module):
    """A narrower student's embedding reaches the teacher's through a
    trainable projection; without one (project_features=False) the width
    mismatch is an error naming both widths; with every weight 0 there is
    nothing to distill."""
    teacher, student = base_bert(2, 48, seed=31), base_bert(1, 32, seed=32)
    data = make_data(33)
    trained = ube_module.distill(teacher, student, data, config(
        ube_module, steps=20, kd_weight=0.0, embedding_weight=1.0))
    assert trained.history["embedding"][-1] < trained.history["embedding"][0]
    assert trained.projections["projection_embedding"].shape == (32, 48)
    with pytest.raises(ValueError, match="32 wide and teacher output 0 48 wide"):
        ube_module.distill(teacher, student, data, config(
            ube_module, kd_weight=0.0, embedding_weight=1.0, project_features=False))
    with pytest.raises(ValueError, match="nothing to distill"):
        ube_module.distill(teacher, student, data, config(ube_module, kd_weight=0.0))


def assert_same_steps(cut, padded):
    """A variable_length run took the padded run's steps on rows of at most
    5 tokens: its losses within 2e-5 relative, its parameters within 1e-4.
    (atol: the attention KL, 3e-5 here, is a difference of terms near 1,
    so float32 rounding leaves about 1e-8 of it.)"""
    for term, values in padded.history.items():
        np.testing.assert_allclose(cut.history[term], values, rtol=2e-5, atol=1e-7,
                                   err_msg=term)
    for name, value in padded.params.items():
        assert np.abs(cut.params[name] - value).max() <= 1e-4 * max(1.0, np.abs(value).max()), \
            name
    assert all(tokens <= 8 * 5 for tokens in cut.step_tokens)


def test_distill_variable_length_matches_padded(ube_module, tmp_path):
    """variable_length: one step compiled with symbolic batch and length,
    each batch cut to its longest row. The attention mask makes the padded
    tail inert, and the feature terms count only the tokens it keeps, so
    the run takes the same steps as the padded one with every term (KD and
    hard labels, sentence embeddings, hidden states through a projection
    with the mean and variance terms, attention): equal losses (2e-5
    relative) and trained students, on fewer tokens per step; so does a run
    from the teacher's outputs stored under variable_length (their sequence
    axes cut with the batch); a batch of another size runs too, and so
    does the trained student."""
    teacher = randomized(bert(2, 32, seed=1), 5)
    data = make_data(4, batches=4, batch=8, shortest=2, longest=5)
    terms = dict(hard_label_weight=0.5, embedding_weight=0.5, feature_weight=1.0,
                 layer_map={1: 2}, feature_mean_weight=1.0, feature_variance_weight=1.0,
                 attention_weight=1.0, attention_map={0: 1})
    runs = {}
    for variable in (False, True):
        runs[variable] = ube_module.distill(teacher, bert(1, 16, seed=2), data, config(
            ube_module, steps=8, variable_length=variable, **terms))
    stored = ube_module.save_teacher_outputs(teacher, data, tmp_path / "stored", config(
        ube_module, variable_length=True, **terms))
    # Logits per sentence; hidden states [batch, seq, 32]; queries and keys
    # [batch, heads, seq, 8].
    assert stored.token_axes == [[], [1], [2], [2]]
    runs["stored"] = ube_module.distill(stored, bert(1, 16, seed=2), data, config(
        ube_module, steps=8, variable_length=True, **terms))
    padded = runs[False]
    assert set(padded.history) == {"loss", "kd", "embedding", "feature0", "attention0"}
    for cut in (runs[True], runs["stored"]):
        assert_same_steps(cut, padded)
    assert padded.step_tokens == [8 * TOKENS] * 8
    # Any batch size up to the first batch's, and the student on any shape.
    odd = make_data(6, batches=2, batch=3, shortest=2, longest=7) + data[:1]
    trained = ube_module.distill(teacher, bert(1, 16, seed=2), data[:1] + odd, config(
        ube_module, steps=3, variable_length=True))
    assert np.isfinite(trained.history["loss"]).all()
    (ids, mask), _ = data[0]
    np.testing.assert_allclose(trained(ids[:3, :5], mask[:3, :5]), trained(ids[:3], mask[:3]),
                               rtol=1e-4, atol=1e-5)
    static = ube_module.save_teacher_outputs(teacher, data, tmp_path / "static", config(
        ube_module))
    with pytest.raises(ValueError, match="stored at static shapes; store them with "
                                         "variable_length=True"):
        ube_module.distill(static, bert(1, 16, seed=2), data, config(
            ube_module, variable_length=True))


def test_module_replacement_on_variable_lengths(ube_module):
    """BERT-of-Theseus under variable_length: the hybrid (the teacher with
    the student's layer in place of two) is compiled on symbolic batch and
    length too, as the student part and as a term beside the student; each
    run takes the padded run's steps on its rows cut to their longest
    (losses 2e-5 relative, parameters 1e-4)."""
    teacher = randomized(bert(2, 32, seed=1), 5)
    data = make_data(4, batches=4, batch=8, shortest=2, longest=5)
    replace = dict(replace=[(["bert.encoder.layer.0", "bert.encoder.layer.1"],
                             "bert.encoder.layer.0")], transfer_slope=0.1, transfer_offset=0.3)
    for beside in (None, 0.5):
        padded, cut = (ube_module.distill(teacher, bert(1, 32, seed=2), data, config(
            ube_module, steps=6, variable_length=variable, replace_weight=beside, **replace))
            for variable in (False, True))
        assert "replace_probability" in cut.history
        assert ("replace" in cut.history) == (beside is not None)
        assert_same_steps(cut, padded)
