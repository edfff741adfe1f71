"""The main job: train a BERT-style teacher with ube, distill it into a
smaller student, and compare with the same student trained from scratch.

The task (embedded, synthetic): sequences of 16 tokens from a vocabulary of
12 (token 0 is [CLS] in front); the class says which of tokens 1, 2 and 3
occurs most often (ties go to the smallest). The training labels are noisy:
40% of them are replaced by a random class, as in weakly labelled
data. The teacher (2 layers, 64 wide) is trained on those labels, one pass
over fresh examples; the
student (1 layer, 16 wide) is distilled from the teacher's soft labels
(kd_loss, T = 2) on the first part of the same inputs; the scratch student
is the same architecture trained on their noisy labels for the same number
of steps.
Accuracy is measured on clean held-out labels. A second compression route,
BERT-of-Theseus, trains one 64-wide layer in place of the teacher's two:
each step uses it instead of them with probability min(1, k·step + b),
logged as it rises to 1.

    .venv/bin/python examples/distill_demo.py [--out DIR] [--seed N]
"""
import argparse
import math
import pathlib
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "build" / "python"))
import ube  # noqa: E402

VOCAB, TOKENS, CLASSES, BATCH = 12, 17, 3, 32


class EncoderLayer(nn.Module):
    """One post-norm BERT layer: self-attention and a GELU feed-forward, each
    with its residual connection and layer norm."""

    def __init__(self, hidden, heads):
        super().__init__()
        self.heads = heads
        self.q, self.k = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
        self.v, self.out = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
        self.ln1, self.ln2 = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.ff1, self.ff2 = nn.Linear(hidden, 2 * hidden), nn.Linear(2 * hidden, hidden)

    def forward(self, h):
        b, n = h.size(0), h.size(1)
        d = h.size(-1) // self.heads
        q = self.q(h).view(b, n, self.heads, d).transpose(1, 2)
        k = self.k(h).view(b, n, self.heads, d).transpose(1, 2)
        v = self.v(h).view(b, n, self.heads, d).transpose(1, 2)
        attention = F.softmax(torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d), dim=-1)
        context = torch.matmul(attention, v).transpose(1, 2).contiguous().view(b, n, -1)
        h = self.ln1(h + self.out(context))
        return self.ln2(h + self.ff2(F.gelu(self.ff1(h))))


class BertClassifier(nn.Module):
    """A BERT-style encoder and a classifier on the [CLS] position."""

    def __init__(self, hidden, layers, heads):
        super().__init__()
        self.word = nn.Embedding(VOCAB, hidden)
        self.position = nn.Embedding(TOKENS, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.layers = nn.ModuleList(EncoderLayer(hidden, heads) for _ in range(layers))
        self.classifier = nn.Linear(hidden, CLASSES)
        self.register_buffer("positions", torch.arange(TOKENS))

    def forward(self, ids):
        h = self.norm(self.word(ids) + self.position(self.positions))
        for layer in self.layers:
            h = layer(h)
        return self.classifier(h[:, 0])


def make_data(rng, examples, noise):
    body = rng.integers(1, VOCAB, (examples, TOKENS - 1))
    ids = np.concatenate([np.zeros((examples, 1), np.int64), body], 1).astype(np.int64)
    counts = np.stack([(body == t).sum(1) for t in (1, 2, 3)], 1)
    labels = counts.argmax(1).astype(np.int64)
    noisy = labels.copy()
    flip = rng.random(examples) < noise
    noisy[flip] = rng.integers(0, CLASSES, flip.sum())
    return ids, labels, noisy


def batches(ids, labels):
    return [((ids[i:i + BATCH],), labels[i:i + BATCH])
            for i in range(0, len(ids) - BATCH + 1, BATCH)]


def accuracy(model, ids, labels):
    predictions = np.concatenate([model(ids[i:i + BATCH]).argmax(-1)
                                  for i in range(0, len(ids) - BATCH + 1, BATCH)])
    return float((predictions == labels[:len(predictions)]).mean())


def latency_ms(model, ids, runs=50):
    x = ids[:BATCH]
    model(x)
    start = time.perf_counter()
    for _ in range(runs):
        model(x)
    return (time.perf_counter() - start) / runs * 1e3


def size_kib(model):
    return sum(v.nbytes for v in model.weights.values()) / 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="demo-out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--teacher-steps", type=int, default=800)
    parser.add_argument("--student-steps", type=int, default=300)
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    # One pass over fresh examples: with 40% wrong labels, repeating a small
    # set would let a model memorize the noise.
    train_ids, _, train_noisy = make_data(rng, BATCH * args.teacher_steps, noise=0.4)
    test_ids, test_labels, _ = make_data(rng, 1024, noise=0.0)
    data = batches(train_ids, train_noisy)
    started = time.perf_counter()

    print(f"== teacher: 2 layers x 64, trained with ube on {len(train_ids)} noisy examples")
    student_data = data[:args.student_steps]
    teacher = ube.fit(BertClassifier(64, 2, 4), data, ube.DistillConfig(
        steps=args.teacher_steps, optimizer={"kind": "adamw", "lr": 2e-3, "weight_decay": 0.01},
        log_every=50, plot=str(out / "teacher_loss.png")))
    teacher_acc = accuracy(teacher, test_ids, test_labels)

    print("== student: 1 layer x 16, distilled from the teacher (kd_loss, T = 2)")
    torch.manual_seed(args.seed + 1)
    student = ube.distill(teacher, BertClassifier(16, 1, 2), student_data, ube.DistillConfig(
        steps=args.student_steps, temperature=2.0, kd_weight=1.0,
        optimizer={"kind": "adamw", "lr": 3e-3, "weight_decay": 0.01}, log_every=50,
        plot=str(out / "distill_loss.png"), save=str(out / "student.safetensors")))
    student_acc = accuracy(student, test_ids, test_labels)

    print("== scratch: the same student trained on the noisy labels, same steps")
    torch.manual_seed(args.seed + 1)
    scratch = ube.fit(BertClassifier(16, 1, 2), student_data, ube.DistillConfig(
        steps=args.student_steps, optimizer={"kind": "adamw", "lr": 3e-3, "weight_decay": 0.01},
        log_every=50, plot=str(out / "scratch_loss.png")))
    scratch_acc = accuracy(scratch, test_ids, test_labels)

    print("== theseus: the teacher's 2 layers replaced by 1 layer x 64 (BERT-of-Theseus), "
          "p = min(1, 0.0035 step + 0.3)")
    # The torch teacher with the weights ube trained; the successor starts as
    # the teacher's embeddings, first layer and classifier.
    teacher_module = BertClassifier(64, 2, 4)
    teacher_module.load_state_dict({k: torch.tensor(v) for k, v in teacher.weights.items()})
    successor = BertClassifier(64, 1, 4)
    successor.load_state_dict({k: v for k, v in teacher_module.state_dict().items()
                               if not k.startswith("layers.1.")})
    theseus = ube.distill(teacher_module, successor, student_data, ube.DistillConfig(
        steps=args.student_steps, temperature=2.0, replace=[(["layers.0", "layers.1"], "layers.0")],
        transfer_slope=0.0035, transfer_offset=0.3,
        optimizer={"kind": "adamw", "lr": 1e-3, "weight_decay": 0.01}, log_every=50,
        plot=str(out / "theseus_loss.png")))
    theseus_acc = accuracy(theseus, test_ids, test_labels)
    p = theseus.history["replace_probability"]
    print("replacement probability at steps 1, 100, 200, 300: " +
          ", ".join(f"{p[i - 1]:.4f}" for i in (1, 100, 200, 300) if i <= len(p)))

    print(f"\n== summary ({time.perf_counter() - started:.0f} s)")
    for name, model in [("teacher", teacher), ("student", student), ("scratch", scratch),
                        ("theseus", theseus)]:
        print(f"{name:8} {size_kib(model):8.1f} KiB of weights, "
              f"{latency_ms(model, test_ids):6.2f} ms per batch of {BATCH}")
    print(f"loss curves: {out / 'teacher_loss.png'}, {out / 'distill_loss.png'}, "
          f"{out / 'scratch_loss.png'}, {out / 'theseus_loss.png'}")
    print(f"student weights: {out / 'student.safetensors'}")
    # The same seed gives the same bits on every run and thread count.
    final = np.float32(student.history["loss"][-1])
    print(f"final distillation loss: {final:.6f} (bits {final.view(np.uint32):08x})")
    print(f"theseus accuracy: {theseus_acc:.4f}")
    print(f"teacher accuracy: {teacher_acc:.4f}")
    print(f"student accuracy: {student_acc:.4f}")
    print(f"scratch accuracy: {scratch_acc:.4f}")


if __name__ == "__main__":
    main()
