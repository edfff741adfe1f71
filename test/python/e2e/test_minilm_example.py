"""The real-model example's student construction (examples/distill_minilm.py)
on small transformers models built from configs: which teacher layers a
student starts from, the narrower student cut to width head by head, module
replacement's groups, and the general-distilled encoder moved into the
classifier."""
import importlib.util
import pathlib

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

EXAMPLE = pathlib.Path(__file__).resolve().parents[3] / "examples" / "distill_minilm.py"


@pytest.fixture(scope="module")
def example(ube_module):
    spec = importlib.util.spec_from_file_location("distill_minilm", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def teacher(cls=transformers.BertForSequenceClassification, layers=6, hidden=48, heads=4):
    torch.manual_seed(0)
    return cls(transformers.BertConfig(
        vocab_size=40, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=4 * hidden, max_position_embeddings=16, num_labels=3)).eval()


def test_student_starts_from_the_named_teacher_layers(example):
    big = teacher()
    student = example.student_from(big, [0, 2, 5])
    assert student.config.num_hidden_layers == 3
    t, s = big.state_dict(), student.state_dict()
    for i, layer in enumerate([0, 2, 5]):
        name = "attention.self.query.weight"
        assert torch.equal(s[f"bert.encoder.layer.{i}.{name}"],
                           t[f"bert.encoder.layer.{layer}.{name}"])
    for name in ("bert.embeddings.word_embeddings.weight", "classifier.weight"):
        assert torch.equal(s[name], t[name])


def test_narrow_student_keeps_each_heads_first_dimensions(example):
    big = teacher()
    student = example.narrow_student_from(big, [0, 2, 5], 24)
    config = student.config
    assert (config.hidden_size, config.num_attention_heads, config.intermediate_size) == \
        (24, 4, 96)
    t, s = big.state_dict(), student.state_dict()
    query = t["bert.encoder.layer.2.attention.self.query.weight"]  # [48 out, 48 in]
    # Head h keeps its first 6 of 12 dimensions; the input keeps features 0..23.
    rows = np.concatenate([h * 12 + np.arange(6) for h in range(4)])
    assert torch.equal(s["bert.encoder.layer.1.attention.self.query.weight"],
                       query[rows][:, :24])
    out = t["bert.encoder.layer.2.attention.output.dense.weight"]
    assert torch.equal(s["bert.encoder.layer.1.attention.output.dense.weight"],
                       out[:24][:, rows])
    ids = torch.randint(1, 40, (2, 8))
    assert student(input_ids=ids).logits.shape == (2, 3)


@pytest.mark.parametrize("layers", [[0, 2, 5], [1, 3, 5], [0, 5]])
def test_replacement_groups_partition_the_teacher(example, layers):
    groups = example.replaced_groups(layers, 6)
    assert [student for _, student in groups] == \
        [f"bert.encoder.layer.{i}" for i in range(len(layers))]
    covered = [int(path.rsplit(".", 1)[1]) for paths, _ in groups for path in paths]
    assert covered == list(range(6))
    for (paths, _), layer in zip(groups, layers):  # each group holds its student's origin
        assert f"bert.encoder.layer.{layer}" in paths


def test_general_distilled_encoder_moves_into_the_classifier(example):
    classifier = example.student_from(teacher(), [0, 2, 5])
    base = teacher(transformers.BertModel, layers=3)
    params = {f"model.{k}": v.numpy() + 1.0 for k, v in base.state_dict().items()}
    moved = example.with_encoder(classifier, params)
    state = moved.state_dict()
    name = "encoder.layer.1.output.dense.weight"
    assert torch.equal(state[f"bert.{name}"], torch.from_numpy(params[f"model.{name}"]))
    assert torch.equal(state["classifier.weight"], teacher().state_dict()["classifier.weight"])
    with pytest.raises(SystemExit, match="lacks"):
        example.with_encoder(classifier, {k: v for k, v in params.items() if "layer.2" not in k})
