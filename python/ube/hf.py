"""Hugging Face `transformers` models in ube.distill and ube.fit.

A sequence-classification model (BertForSequenceClassification and its
family: BERT, RoBERTa, MiniLM, ELECTRA; DistilBERT) is traced as
`model(input_ids, attention_mask)` with its logits first, then the hidden
states and the attention queries and keys the distillation losses name:

    outputs = ModelOutputs(model, hidden_states=[2, 4], attention_layers=[5])
    outputs(ids, mask)  # (logits, hidden_states[2], hidden_states[4], q5, k5)

Hidden state 0 is the embeddings' output and i the output of layer i (as
`output_hidden_states` counts them); queries and keys are [batch, heads,
tokens, head size]. A base model without a task head (BertModel, as
`AutoModel` loads all-MiniLM-L6-v2) gives its sentence embedding first
instead of logits: the mean of the last hidden states over the attention
mask, as sentence-transformers pools it (general distillation). `save_pretrained` writes a trained student back as a
directory that `AutoModelForSequenceClassification.from_pretrained` loads.
"""
import copy
import pathlib

import numpy as np
import torch
import torch.nn as nn


def is_transformers_model(model):
    try:
        from transformers import PreTrainedModel
    except ImportError:
        return False
    return isinstance(model, PreTrainedModel)


def _layers(model):
    """The model's encoder layers, and the query and key projections of one."""
    base = model.base_model
    if hasattr(base, "encoder") and hasattr(base.encoder, "layer"):  # BERT family
        return list(base.encoder.layer), lambda layer: (layer.attention.self.query,
                                                        layer.attention.self.key)
    if hasattr(base, "transformer") and hasattr(base.transformer, "layer"):  # DistilBERT
        return list(base.transformer.layer), lambda layer: (layer.attention.q_lin,
                                                            layer.attention.k_lin)
    raise ValueError(f"{type(model).__name__}: not an encoder ube.hf knows (BERT family, "
                     "DistilBERT): its layers' attention is not found")


def layer_count(model):
    return len(_layers(model)[0])


class ModelOutputs(nn.Module):
    """`model`'s logits, then the hidden states and the attention queries
    and keys named (see the module docstring)."""

    def __init__(self, model, hidden_states=(), attention_layers=()):
        super().__init__()
        self.model = model
        self.hidden_states = list(hidden_states)
        self.attention_layers = list(attention_layers)
        self.train(model.training)
        layers, _ = _layers(model)
        name = type(model).__name__
        for i in self.hidden_states:
            if not 0 <= i <= len(layers):
                raise ValueError(f"{name} has {len(layers)} layers: hidden state {i} does not "
                                 f"exist (0 is the embeddings, 1..{len(layers)} the layers)")
        for i in self.attention_layers:
            if not 0 <= i < len(layers):
                raise ValueError(f"{name} has {len(layers)} layers: attention layer {i} does "
                                 f"not exist (0..{len(layers) - 1})")

    def forward(self, input_ids, attention_mask):
        layers, projections = _layers(self.model)
        captured, hooks = {}, []
        for i in self.attention_layers:
            for kind, module in zip(("query", "key"), projections(layers[i])):
                hooks.append(module.register_forward_hook(
                    lambda module, args, out, key=(i, kind): captured.__setitem__(key, out)))
        try:
            out = self.model(input_ids=input_ids, attention_mask=attention_mask,
                             output_hidden_states=bool(self.hidden_states), return_dict=True)
        finally:
            for hook in hooks:
                hook.remove()
        first = out.logits if "logits" in out else \
            sentence_embedding(out.last_hidden_state, attention_mask)
        results = [first] + [out.hidden_states[i] for i in self.hidden_states]
        heads = self.model.config.num_attention_heads
        for i in self.attention_layers:
            for kind in ("query", "key"):
                x = captured[(i, kind)]
                results.append(x.view(x.shape[0], x.shape[1], heads, -1).transpose(1, 2))
        return tuple(results)


def sentence_embedding(hidden, attention_mask):
    """The mean of `hidden` [batch, tokens, width] over the tokens the
    mask keeps (sentence-transformers' mean pooling)."""
    keep = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * keep).sum(1) / keep.sum(1).clamp(min=1e-9)


def check_token_ids(model, inputs, what):
    """Token ids must index the model's embeddings: a tokenizer of another
    model gives ids past its vocabulary."""
    ids = np.asarray(inputs[0])
    vocab = model.config.vocab_size
    if ids.size and (ids.min() < 0 or ids.max() >= vocab):
        raise ValueError(f"the {what} ({type(model).__name__}) has a vocabulary of {vocab} "
                         f"tokens, but the data has token id {int(ids.max())}: were the texts "
                         "tokenized with this model's tokenizer?")


def with_params(model, params, prefix="model."):
    """A copy of `model` holding the trained `params` (graph parameter
    names: state-dict names after `prefix`; ube.fit and ube.distill name a
    transformers model's parameters "model.<state-dict name>")."""
    trained = copy.deepcopy(model)
    state = trained.state_dict()
    loaded = {name[len(prefix):]: torch.from_numpy(np.array(value))
              for name, value in params.items()
              if name.startswith(prefix) and name[len(prefix):] in state}
    missing = [n for n, _ in trained.named_parameters() if n not in loaded]
    if missing:
        raise ValueError(f"the trained parameters lack {missing[:3]} ({len(missing)} of "
                         f"{type(model).__name__}'s parameters)")
    trained.load_state_dict(loaded, strict=False)
    return trained.eval()


def save_pretrained(model, params, directory, tokenizer=None, prefix="model."):
    """Writes `model` with the trained `params` (as with_params) as a Hugging
    Face directory, with the tokenizer's files when one is given; returns
    the directory."""
    directory = pathlib.Path(directory)
    with_params(model, params, prefix).save_pretrained(directory)
    if tokenizer is not None:
        tokenizer.save_pretrained(directory)
    return directory
