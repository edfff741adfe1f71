"""A data-parallel distillation run for test_data_parallel.py, launched by
torchrun (or run alone: one process). Module replacement between a 2-layer
teacher and a 1-layer student, with attention transfer, AdamW under a
warm-up schedule; global batches of --batch rows. Rank 0 writes the trained
parameters and loss history to --out. --fail-after-step N: rank 1 dies
after step N on its first attempt (a deterministic fault: torchrun restarts
the workers and they resume from the last checkpoint). --bert: transformers
BERT models on rows padded to 8 tokens (2 to 6 in the first half of a
batch, 2 or 3 in the second), with hard labels and hidden-state transfer
besides; --variable-length: each rank's rows cut to their longest
(DistillConfig.variable_length). Rank 0 also writes the tokens of its
steps."""
import argparse
import dataclasses
import json
import os
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # ubetest
sys.path.insert(0, os.environ["UBE_PYTHON_DIR"])

import ube  # noqa: E402
from ube.safetensors import write_safetensors  # noqa: E402
from test_distill_api import make_data, theseus_pair  # noqa: E402


def bert_batches(hf_test, seed, batch):
    """3 batches of `batch` rows padded to 8 tokens: rows of 2 to 6 tokens,
    then rows of 2 or 3."""
    first, second = (hf_test.make_data(seed + i, batches=3, batch=batch // 2, shortest=2,
                                       longest=longest)
                     for i, longest in enumerate((6, 3)))
    return [(tuple(np.concatenate(pair) for pair in zip(a[0], b[0])),
             np.concatenate([a[1], b[1]])) for a, b in zip(first, second)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--checkpoint-dir")
    parser.add_argument("--checkpoint-every", type=int, default=0)
    parser.add_argument("--fail-after-step", type=int, default=0)
    parser.add_argument("--bert", action="store_true")
    parser.add_argument("--variable-length", action="store_true")
    parser.add_argument("--teacher-outputs",
                        help="store the teacher's outputs here first (the ranks share the "
                             "batches) and distill from them, without module replacement")
    args = parser.parse_args()
    rank = int(os.environ.get("RANK", 0))
    attempt = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", 0))

    def on_step(step, terms):
        if step == args.fail_after_step and rank == 1 and attempt == 0:
            os._exit(3)  # a crash: no cleanup, no exception handling

    teacher, student = theseus_pair(6)
    config = ube.DistillConfig(
        steps=args.steps, log_every=0, seed=9, lr_schedule="warmup_linear", warmup_steps=2,
        optimizer={"kind": "adamw", "lr": 0.03}, attention_weight=0.5,
        attention_map={(1, 2): (1, 2)}, replace=[(["layers.0", "layers.1"], "layers.0")],
        replace_weight=1.0, transfer_slope=0.1, transfer_offset=0.3, eval_every=3,
        checkpoint_dir=args.checkpoint_dir, checkpoint_every=args.checkpoint_every,
        on_step=on_step)
    data = make_data(7, batches=3, batch=args.batch)
    validation = make_data(8, batches=2, batch=args.batch)
    if args.bert:
        import test_hf_distill as hf_test
        teacher = hf_test.randomized(hf_test.bert(2, 32, seed=1), 5)
        student = hf_test.bert(1, 32, seed=2)
        config = dataclasses.replace(
            config, attention_map={0: 1}, hard_label_weight=0.5, feature_weight=1.0,
            layer_map={1: 2}, variable_length=args.variable_length,
            replace=[(["bert.encoder.layer.0", "bert.encoder.layer.1"], "bert.encoder.layer.0")])
        data, validation = (bert_batches(hf_test, seed, args.batch) for seed in (7, 17))
    if args.teacher_outputs:
        config = dataclasses.replace(config, replace=[], replace_weight=None)
        teacher = ube.save_teacher_outputs(teacher, data, args.teacher_outputs, config)
    trained = ube.distill(teacher, student, data, config, validation=validation)
    if rank == 0:
        out = pathlib.Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        write_safetensors(out / "params.safetensors", trained.params)
        (out / "history.json").write_text(json.dumps({**trained.history, "attempt": attempt,
                                                     "validation": trained.validation,
                                                     "step_tokens": trained.step_tokens}))


if __name__ == "__main__":
    main()
