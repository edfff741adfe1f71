"""Attention spelled out (softmax(q·kᵀ·c + mask)·v, as models written before
scaled_dot_product_attention have it) becomes one
ube.scaled_dot_product_attention (--ube-fuse-attention), flash-style past
256 keys: Hugging Face BERT with its "eager" attention, against float64
PyTorch (rel_error <= 1e-4, as for every whole network)."""
import subprocess

import torch

from ubetest import rel_error


def eager_bert(tokens):
    from transformers import BertConfig, BertModel
    torch.manual_seed(0)
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=4, intermediate_size=64,
                        max_position_embeddings=tokens, attn_implementation="eager")
    model = BertModel(config).eval()
    ids = torch.randint(0, 100, (2, tokens), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(2, tokens, dtype=torch.long)
    mask[1, tokens // 3:] = 0
    return model, (ids, mask)


def test_eager_bert_attention_is_fused(ube_module, tools_dir, tmp_path):
    model, inputs = eager_bert(300)
    path = tmp_path / "bert.json"
    ube_module.export(model, inputs, path)
    graph = subprocess.run([tools_dir / "ube-compile", path, "--emit=ube", "-o", "-"],
                           check=True, capture_output=True, text=True).stdout
    assert graph.count("ube.scaled_dot_product_attention") == 2  # one per layer
    assert "ube.softmax" not in graph
    out = ube_module.compile(path)(*inputs)
    out = out[0] if isinstance(out, tuple) else out
    with torch.no_grad():
        ref = model.double()(*inputs).last_hidden_state
    assert rel_error(out, ref) <= 1e-4
