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


def bert_in_training(attention, tokens=40):
    from transformers import BertConfig, BertModel
    torch.manual_seed(0)
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=4, intermediate_size=64,
                        max_position_embeddings=tokens, attn_implementation=attention,
                        attention_probs_dropout_prob=0.2, hidden_dropout_prob=0.1)
    return BertModel(config).train()


def test_attention_dropout_is_fused(ube_module, tmp_path):
    """In training, BERT's eager attention drops probabilities with
    nn.Dropout; fused, that is the op's dropout_p, with the dropout's seed.
    Its "sdpa" attention passes dropout_p to scaled_dot_product_attention.
    Each dropout draws its own seed in the order of the graph, the same in
    both: the compiled networks give the same output."""
    ids = torch.randint(0, 100, (2, 40), generator=torch.Generator().manual_seed(1))
    outputs = {}
    for attention in ("eager", "sdpa"):
        path = tmp_path / f"{attention}.json"
        graph = ube_module.export(bert_in_training(attention), (ids,), path)
        attentions = [n for n in graph["nodes"] if n["op"] == "scaled_dot_product_attention"]
        randoms = [n for n in graph["nodes"] if n["op"] in ("dropout",
                                                          "scaled_dot_product_attention")]
        assert len(attentions) == (0 if attention == "eager" else 2)
        assert all(n["attrs"]["dropout_p"] == 0.2 for n in attentions)
        seeds = [n["attrs"]["seed"] for n in randoms]
        assert len(set(seeds)) == len(seeds) == 1 + 2 * 3  # embeddings; 3 per layer
        out = ube_module.compile(path)(ids)
        outputs[attention] = out[0] if isinstance(out, tuple) else out
    assert rel_error(outputs["eager"], outputs["sdpa"]) <= 1e-5
    with torch.no_grad():
        reference = bert_in_training("sdpa").eval()(ids).last_hidden_state
    assert rel_error(outputs["sdpa"], reference) > 1e-2  # dropped, not the eval network
