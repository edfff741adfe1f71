"""Compiled training steps (the graph format's "train", --ube-build-train-step,
ube.TrainingStep) against PyTorch's optimizers.

An MLP classifier starts from the same weights in both; each step sees the
same batch. After several steps the parameters and the losses must agree.
Tolerance: float32 on both sides with different summation orders; the error
grows a little with every step, and 2e-4 of the parameters' magnitude after
six steps leaves room for it while still catching a wrong update rule (a
missing bias correction or weight-decay term moves parameters by 1e-3 or
more here)."""
import json

import jsonschema

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ubetest import philox_uniforms, rel_error, tensor_decl

TOL = 2e-4
STEPS = 6
rng = np.random.default_rng(5)


def mlp_graph(shapes, batch, classes, optimizer):
    x = np.zeros((batch, shapes["w1"][1]), np.float32)
    y = np.zeros((batch,), np.int64)
    inputs = [tensor_decl("x", x), tensor_decl("y", y)] + [
        {"name": n, "dtype": "f32", "shape": list(s)} for n, s in shapes.items()]
    nodes = [{"name": "h", "op": "linear", "inputs": ["x", "w1", "b1"]},
             {"name": "a", "op": "gelu", "inputs": ["h"]},
             {"name": "logits", "op": "linear", "inputs": ["a", "w2", "b2"]},
             {"name": "loss", "op": "cross_entropy", "inputs": ["logits", "y"]}]
    return {"format": "ube.graph", "version": 1, "inputs": inputs, "nodes": nodes,
            "functions": [{"name": "train_step", "outputs": ["loss"],
                           "train": {"loss": "loss", "params": list(shapes),
                                     "optimizer": optimizer}}]}


def torch_optimizer(params, optimizer):
    settings = {k: v for k, v in optimizer.items() if k != "kind"}
    if optimizer["kind"] == "sgd":
        return torch.optim.SGD(params, **settings)
    if "epsilon" in settings:
        settings["eps"] = settings.pop("epsilon")
    betas = (settings.pop("beta1", 0.9), settings.pop("beta2", 0.999))
    return torch.optim.AdamW(params, betas=betas, **settings)


OPTIMIZERS = {
    "sgd": {"kind": "sgd", "lr": 0.1},
    "sgd_momentum_decay": {"kind": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 0.01},
    "sgd_nesterov": {"kind": "sgd", "lr": 0.05, "momentum": 0.8, "nesterov": True},
    "adamw": {"kind": "adamw", "lr": 0.01},
    "adamw_settings": {"kind": "adamw", "lr": 0.003, "beta1": 0.8, "beta2": 0.99,
                       "epsilon": 1e-6, "weight_decay": 0.1},
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_training_matches_torch(ube_module, source_root, tmp_path, name):
    optimizer = OPTIMIZERS[name]
    batch, features, hidden, classes = 16, 10, 24, 4
    shapes = {"w1": (hidden, features), "b1": (hidden,), "w2": (classes, hidden),
              "b2": (classes,)}
    init = {n: (rng.standard_normal(s) * 0.4).astype(np.float32) for n, s in shapes.items()}
    batches = [(rng.standard_normal((batch, features)).astype(np.float32),
                rng.integers(0, classes, (batch,)).astype(np.int64)) for _ in range(STEPS)]
    graph = mlp_graph(shapes, batch, classes, optimizer)
    jsonschema.validate(graph, json.loads((source_root / "docs/graph-format.schema.json")
                                          .read_text()))
    path = tmp_path / "mlp.json"
    path.write_text(json.dumps(graph))
    exe = ube_module.compile(path)
    step = ube_module.TrainingStep(exe.train_step, init)
    # Parameters (and, with momentum or Adam, their state) update in place:
    # the same arrays every step.
    assert set(init) <= step.in_place
    if optimizer["kind"] == "adamw" or optimizer.get("momentum"):
        assert step.in_place == set(step._current)
    arrays = {n: id(v) for n, v in step._current.items()}

    params = {n: torch.nn.Parameter(torch.from_numpy(v.copy())) for n, v in init.items()}
    opt = torch_optimizer(params.values(), optimizer)
    for x, y in batches:
        losses = step(x=x, y=y)
        opt.zero_grad()
        h = F.gelu(F.linear(torch.from_numpy(x), params["w1"], params["b1"]))
        loss = F.cross_entropy(F.linear(h, params["w2"], params["b2"]), torch.from_numpy(y))
        loss.backward()
        opt.step()
        assert rel_error(losses["loss"], loss.detach().numpy()) <= TOL
    assert all(id(step._current[n]) == arrays[n] for n in step.in_place)
    trained = step.params
    for n, p in params.items():
        assert rel_error(trained[n], p.detach().numpy()) <= TOL, n
        assert rel_error(trained[n], init[n]) > 1e-3, f"{n} did not move"
    assert step.step_number == STEPS + 1


def test_step_signature_and_state(ube_module, tmp_path):
    """AdamW adds two moments per parameter and a step counter; SGD one
    buffer; outputs reuse the input names so they feed back."""
    shapes = {"w1": (3, 2), "b1": (3,), "w2": (2, 3), "b2": (2,)}
    for optimizer, state in [({"kind": "adamw", "lr": 0.1}, ["exp_avg", "exp_avg_sq"]),
                             ({"kind": "sgd", "lr": 0.1, "momentum": 0.5}, ["momentum_buffer"])]:
        path = tmp_path / f"{optimizer['kind']}.json"
        path.write_text(json.dumps(mlp_graph(shapes, 4, 2, optimizer)))
        fn = ube_module.compile(path).train_step
        inputs = [n for n, _, _ in fn.inputs]
        outputs = [n for n, _, _ in fn.outputs]
        expected_state = [f"{p}.{s}" for p in shapes for s in state]
        assert inputs == ["x", "y", *shapes, *expected_state] + (
            ["step"] if optimizer["kind"] == "adamw" else [])
        assert outputs == ["loss", *shapes, *expected_state]


@pytest.mark.parametrize("keys", [6, 300])  # 300: flash-style key blocks
def test_dropout_masks_follow_the_step(ube_module, tmp_path, keys):
    """A training step gives its `step` to the dropouts without one (attention
    dropout included, forward and backward): step n draws Philox masks of
    (seed, n), as ube.dropout of the probabilities would."""
    rate, seed, lr = 0.25, 3, 0.1
    q, k, v = (rng.standard_normal(s).astype(np.float32)
               for s in [(1, 2, 5, 8), (1, 2, keys, 8), (1, 2, keys, 4)])
    r = rng.standard_normal((1, 2, 5, 4)).astype(np.float32)
    inputs = {"q": q, "k": k, "v": v, "r": r}
    graph = {"format": "ube.graph", "version": 1,
             "inputs": [tensor_decl(n, a) for n, a in inputs.items()],
             "nodes": [{"name": "y", "op": "scaled_dot_product_attention",
                        "inputs": ["q", "k", "v"], "attrs": {"dropout_p": rate, "seed": seed}},
                       {"name": "yr", "op": "mul", "inputs": ["y", "r"]},
                       {"name": "loss", "op": "reduce_sum", "inputs": ["yr"]}],
             "functions": [{"name": "train_step", "outputs": ["loss"],
                            "train": {"loss": "loss", "params": ["q"],
                                      "optimizer": {"kind": "sgd", "lr": lr}}}]}
    path = tmp_path / "attention.json"
    path.write_text(json.dumps(graph))
    fn = ube_module.compile(path).train_step
    assert [n for n, _, _ in fn.inputs] == ["q", "k", "v", "r", "q.momentum_buffer", "step"]
    step = ube_module.TrainingStep(fn, {"q": q})
    for n in (1, 2):
        query = torch.from_numpy(step.params["q"]).double().requires_grad_()
        kept = torch.from_numpy(philox_uniforms((1, 2, 5, keys), n, seed) >= rate)
        p = torch.softmax(query @ torch.from_numpy(k).double().transpose(-1, -2) / np.sqrt(8), -1)
        loss = ((p * kept / (1 - rate)) @ torch.from_numpy(v).double()
                * torch.from_numpy(r).double()).sum()
        loss.backward()
        out = step(k=k, v=v, r=r)
        assert rel_error(out["loss"], loss.item()) <= TOL
        expected = (query - lr * query.grad).detach().numpy()
        assert rel_error(step.params["q"], expected) <= TOL


def test_training_step_errors(ube_module, tmp_path):
    shapes = {"w1": (3, 2), "b1": (3,), "w2": (2, 3), "b2": (2,)}
    graph = mlp_graph(shapes, 4, 2, {"kind": "sgd", "lr": 0.1})
    cases = [({"kind": "lion", "lr": 0.1}, "unknown optimizer 'lion'"),
             ({"kind": "sgd"}, "needs a learning rate 'lr'"),
             ({"kind": "sgd", "lr": 0.1, "beta1": 0.9}, "unknown sgd setting 'beta1'"),
             ({"kind": "adamw", "lr": 0.1, "beta1": 1.5}, "beta1 must be in \\[0, 1\\)")]
    for optimizer, message in cases:
        graph["functions"][0]["train"]["optimizer"] = optimizer
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(graph))
        with pytest.raises(ube_module.CompileError, match=message):
            ube_module.compile(path)
    graph["functions"][0]["train"] = {"loss": "loss", "params": ["x", "nope"],
                                      "optimizer": {"kind": "sgd", "lr": 0.1}}
    path.write_text(json.dumps(graph))
    with pytest.raises(ube_module.CompileError, match="'nope' is not one of its inputs"):
        ube_module.compile(path)

    graph = mlp_graph(shapes, 4, 2, {"kind": "sgd", "lr": 0.1})
    path.write_text(json.dumps(graph))
    fn = ube_module.compile(path).train_step
    with pytest.raises(ValueError, match="no initial value for parameter 'b2'"):
        ube_module.TrainingStep(fn, {n: np.zeros(s, np.float32) for n, s in shapes.items()
                                     if n != "b2"})
    with pytest.raises(ValueError, match=r"\['x'\] are not parameters"):
        ube_module.TrainingStep(fn, {"x": np.zeros((4, 2), np.float32)})
    step = ube_module.TrainingStep(fn, {n: np.zeros(s, np.float32) for n, s in shapes.items()})
    with pytest.raises(TypeError, match="missing input 'y'"):
        step(x=np.zeros((4, 2), np.float32))


def test_output_arrays_are_checked(ube_module, tmp_path):
    """invoke(outputs=...) writes into the given arrays, and refuses arrays
    that alias an input (except the input an output updates in place) or
    have the wrong dtype or shape."""
    shapes = {"w1": (3, 2), "b1": (3,), "w2": (2, 3), "b2": (2,)}
    path = tmp_path / "g.json"
    path.write_text(json.dumps(mlp_graph(shapes, 4, 2, {"kind": "sgd", "lr": 0.1})))
    fn = ube_module.compile(path).train_step
    args = [np.ones((4, 2), np.float32), np.zeros(4, np.int64)] + [
        np.full(s, 0.1, np.float32) for s in shapes.values()] + [
        np.zeros(s, np.float32) for s in shapes.values()]
    loaded = fn._executable._loaded
    outs = [None, np.empty((3, 2), np.float32)] + [None] * 7
    results = loaded.invoke(fn._index, args, outs)
    assert results[1] is outs[1] or np.shares_memory(results[1], outs[1])
    # w1's update may overwrite w1 itself, not any other input. (Without
    # momentum the new buffer is the gradient, which a matmul computes: not
    # an elementwise update, so not in place.)
    assert fn.in_place == {n: n for n in shapes}
    in_place = loaded.invoke(fn._index, [a.copy() for a in args[:2]] + [args[2]] + args[3:],
                             [None, args[2]] + [None] * 7)
    assert in_place[1] is args[2] and np.array_equal(args[2], results[1])
    with pytest.raises(ValueError, match="shares memory with an input"):
        loaded.invoke(fn._index, args, [None] * 5 + [args[2]] + [None] * 3)
    # Overlap, not only the same array: an output that is part of an input's
    # buffer, and two outputs in one buffer; arrays side by side are fine.
    buffer = np.zeros(12, np.float32)
    shifted = [None, buffer[4:10].reshape(3, 2)] + [None] * 7
    inputs = args[:2] + [buffer[:6].reshape(3, 2)] + args[3:]
    with pytest.raises(ValueError, match="shares memory with an input"):
        loaded.invoke(fn._index, inputs, shifted)
    both = np.empty(12, np.float32)
    with pytest.raises(ValueError, match="shares memory with another output"):
        loaded.invoke(fn._index, args, [None, both[:6].reshape(3, 2), None,
                                        both[5:11].reshape(2, 3)] + [None] * 5)
    beside = [None, both[:6].reshape(3, 2), None, both[6:].reshape(2, 3)] + [None] * 5
    assert loaded.invoke(fn._index, args, beside)[3] is beside[3]
    with pytest.raises(ValueError, match="must be float32 with the output's shape"):
        loaded.invoke(fn._index, args, [None, np.empty((2, 3), np.float32)] + [None] * 7)
