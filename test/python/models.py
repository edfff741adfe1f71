"""Small networks written twice: as PyTorch modules and as ube graph files
built from the modules' weights. Used by the end-to-end tests and bench/."""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ubetest import tensor_decl


class Functional(nn.Module):
    """A module computing `fn(x)`: PyTorch functions under test as modules."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class EncoderLayer(nn.Module):
    """A BERT-style layer: embeddings + LayerNorm, multi-head self-attention
    with a padding mask, residual + LayerNorm, GELU feed-forward, residual +
    LayerNorm."""

    def __init__(self, vocab=100, tokens=16, hidden=32, heads=4, ffn=64):
        super().__init__()
        self.heads = heads
        self.word = nn.Embedding(vocab, hidden)
        self.position = nn.Parameter(torch.randn(tokens, hidden) * 0.02)
        self.ln_embed = nn.LayerNorm(hidden, eps=1e-12)
        self.q, self.k, self.v, self.o = (nn.Linear(hidden, hidden) for _ in range(4))
        self.ln_attn = nn.LayerNorm(hidden, eps=1e-12)
        self.ff1, self.ff2 = nn.Linear(hidden, ffn), nn.Linear(ffn, hidden)
        self.ln_ffn = nn.LayerNorm(hidden, eps=1e-12)

    def forward(self, ids, mask):
        b, n = ids.shape
        d = self.position.shape[1] // self.heads
        x = self.ln_embed(self.word(ids) + self.position)

        def split(t):
            return t.view(b, n, self.heads, d).permute(0, 2, 1, 3)

        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d)
        scores = scores + (1.0 - mask[:, None, None, :].to(scores.dtype)) * -10000.0
        context = (scores.softmax(-1) @ v).permute(0, 2, 1, 3).reshape(b, n, -1)
        h = self.ln_attn(x + self.o(context))
        return self.ln_ffn(h + self.ff2(F.gelu(self.ff1(h))))


def encoder_layer_graph(module, batch):
    """The graph file (dict) and weights of `module` for a batch size."""
    tokens, hidden = module.position.shape
    heads = module.heads
    d = hidden // heads
    weights = {"word": module.word.weight, "position": module.position,
               "ln_embed.w": module.ln_embed.weight, "ln_embed.b": module.ln_embed.bias}
    for name in ["q", "k", "v", "o", "ff1", "ff2"]:
        layer = getattr(module, name)
        weights[f"{name}.w"], weights[f"{name}.b"] = layer.weight, layer.bias
    for name in ["ln_attn", "ln_ffn"]:
        ln = getattr(module, name)
        weights[f"{name}.w"], weights[f"{name}.b"] = ln.weight, ln.bias
    weights = {k: v.detach().float().numpy().copy() for k, v in weights.items()}

    def node(name, op, inputs, **fields):
        return {"name": name, "op": op, "inputs": inputs, **fields}

    nodes = [
        node("embedded", "gather", ["word", "ids"]),
        node("summed", "add", ["embedded", "position"]),
        node("x", "layer_norm", ["summed", "ln_embed.w", "ln_embed.b"], attrs={"epsilon": 1e-12}),
    ]
    for p in ["q", "k", "v"]:
        nodes += [node(f"{p}_flat", "linear", ["x", f"{p}.w", f"{p}.b"]),
                  node(f"{p}_split", "reshape", [f"{p}_flat"], shape=[batch, tokens, heads, d]),
                  node(f"{p}_heads", "transpose", [f"{p}_split"], attrs={"perm": [0, 2, 1, 3]})]
    nodes += [
        node("scores_raw", "matmul", ["q_heads", "k_heads"], attrs={"transpose_rhs": True}),
        {"name": "scale", "op": "constant", "dtype": "f32", "shape": [], "value": 1 / math.sqrt(d)},
        node("scores", "mul", ["scores_raw", "scale"]),
        node("mask_f", "cast", ["mask"], dtype="f32"),
        node("mask_4d", "reshape", ["mask_f"], shape=[batch, 1, 1, tokens]),
        {"name": "one", "op": "constant", "dtype": "f32", "shape": [], "value": 1.0},
        {"name": "neg_big", "op": "constant", "dtype": "f32", "shape": [], "value": -10000.0},
        node("masked_out", "sub", ["one", "mask_4d"]),
        node("mask_bias", "mul", ["masked_out", "neg_big"]),
        node("biased", "add", ["scores", "mask_bias"]),
        node("probs", "softmax", ["biased"], attrs={"axis": -1}),
        node("context_heads", "matmul", ["probs", "v_heads"]),
        node("context_t", "transpose", ["context_heads"], attrs={"perm": [0, 2, 1, 3]}),
        node("context", "reshape", ["context_t"], shape=[batch, tokens, hidden]),
        node("attn_out", "linear", ["context", "o.w", "o.b"]),
        node("attn_res", "add", ["x", "attn_out"]),
        node("h", "layer_norm", ["attn_res", "ln_attn.w", "ln_attn.b"], attrs={"epsilon": 1e-12}),
        node("ff_in", "linear", ["h", "ff1.w", "ff1.b"]),
        node("ff_act", "gelu", ["ff_in"]),
        node("ff_out", "linear", ["ff_act", "ff2.w", "ff2.b"]),
        node("ff_res", "add", ["h", "ff_out"]),
        node("out", "layer_norm", ["ff_res", "ln_ffn.w", "ln_ffn.b"], attrs={"epsilon": 1e-12}),
    ]
    graph = {"format": "ube.graph", "version": 1, "name": "encoder_layer",
             "inputs": [{"name": "ids", "dtype": "i64", "shape": [batch, tokens]},
                        {"name": "mask", "dtype": "i1", "shape": [batch, tokens]}],
             "parameters": [tensor_decl(k, v) for k, v in weights.items()],
             "nodes": nodes, "outputs": ["out"]}
    return graph, weights


class Bert(nn.Module):
    """A BERT-style encoder written the usual PyTorch way (the exporter's
    test case and the encoder benchmarks' model)."""

    def __init__(self, vocab=50, tokens=12, hidden=32, heads=4, layers=2, classes=3, ffn=None):
        super().__init__()
        self.heads = heads
        self.word = nn.Embedding(vocab, hidden)
        self.position = nn.Embedding(tokens, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.layers = nn.ModuleList()
        for _ in range(layers):
            self.layers.append(nn.ModuleDict({
                "q": nn.Linear(hidden, hidden), "k": nn.Linear(hidden, hidden),
                "v": nn.Linear(hidden, hidden), "out": nn.Linear(hidden, hidden),
                "ln1": nn.LayerNorm(hidden), "ff1": nn.Linear(hidden, ffn or 4 * hidden),
                "ff2": nn.Linear(ffn or 4 * hidden, hidden), "ln2": nn.LayerNorm(hidden),
                "drop": nn.Dropout(0.1)}))
        # classes=None: the encoder alone, returning every token's hidden state.
        self.classifier = nn.Linear(hidden, classes) if classes else None
        self.register_buffer("positions", torch.arange(tokens))

    def forward(self, ids, mask):
        b, n = ids.size(0), ids.size(1)  # fx cannot unpack a traced .shape
        h = self.norm(self.word(ids) + self.position(self.positions))
        d = h.size(-1) // self.heads
        for layer in self.layers:
            q = layer["q"](h).view(b, n, self.heads, d).transpose(1, 2)
            k = layer["k"](h).view(b, n, self.heads, d).transpose(1, 2)
            v = layer["v"](h).view(b, n, self.heads, d).permute(0, 2, 1, 3)
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d)
            scores = scores.masked_fill(~mask[:, None, None, :], -1e9)
            context = torch.matmul(F.softmax(scores, dim=-1), v)
            context = context.transpose(1, 2).contiguous().view(b, n, -1)
            h = layer["ln1"](h + layer["drop"](layer["out"](context)))
            h = layer["ln2"](h + layer["ff2"](F.gelu(layer["ff1"](h))))
        return self.classifier(h[:, 0]) if self.classifier is not None else h


class MlpClassifier(nn.Module):
    def __init__(self, features=16, hidden=32, classes=5):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(features, hidden), nn.Linear(hidden, classes)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def mlp_classifier_graph(module, batch):
    features = module.fc1.in_features
    weights = {"fc1.w": module.fc1.weight, "fc1.b": module.fc1.bias,
               "fc2.w": module.fc2.weight, "fc2.b": module.fc2.bias}
    weights = {k: v.detach().float().numpy().copy() for k, v in weights.items()}
    graph = {"format": "ube.graph", "version": 1, "name": "mlp_classifier",
             "inputs": [{"name": "x", "dtype": "f32", "shape": [batch, features]},
                        {"name": "labels", "dtype": "i64", "shape": [batch]}],
             "parameters": [tensor_decl(k, v) for k, v in weights.items()],
             "nodes": [
                 {"name": "h", "op": "linear", "inputs": ["x", "fc1.w", "fc1.b"]},
                 {"name": "a", "op": "relu", "inputs": ["h"]},
                 {"name": "logits", "op": "linear", "inputs": ["a", "fc2.w", "fc2.b"]},
                 {"name": "loss", "op": "cross_entropy", "inputs": ["logits", "labels"]},
             ],
             "functions": [{"name": "train_loss", "inputs": ["x", "labels"],
                            "outputs": ["logits", "loss"]},
                           {"name": "predict", "inputs": ["x"], "outputs": ["logits"]}]}
    return graph, weights
