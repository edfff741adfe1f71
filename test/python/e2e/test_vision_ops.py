"""Convolutions, pooling, normalizations over channels, padding and the
activations of convolutional networks: PyTorch's own nn modules through
ube.export, against the same module in float64, and the errors for what
ube does not take.

Tolerance: relative error (rel_error) <= 1e-5: float32 accumulation over at
most a few hundred products per output."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from models import Functional
from ubetest import rel_error

TOL = 1e-5


# name -> (module, input shape)
MODULES = {
    "conv2d_stride_pad": (lambda: nn.Conv2d(3, 8, 3, stride=2, padding=1), (2, 3, 17, 15)),
    "conv2d_groups_dilation": (lambda: nn.Conv2d(4, 8, 3, padding=2, dilation=2, groups=2),
                               (2, 4, 9, 9)),
    "conv2d_depthwise": (lambda: nn.Conv2d(6, 6, 5, padding=2, groups=6, bias=False),
                         (1, 6, 8, 8)),
    "conv2d_1x1": (lambda: nn.Conv2d(16, 8, 1), (2, 16, 7, 7)),
    # Depthwise convolutions (the cpu target's plane kernels): rows of two
    # vectors and a ragged one (the last vector overlapping), tiles of rows
    # past the plane's end, strides 2 and 3 (lanes gathered by a shuffle),
    # dilation, a 7×7 kernel, padding differing by axis, a 1-D one, and a
    # stride past what a shuffle gathers (left to the sum of taps).
    "conv2d_depthwise_3x3_s2": (lambda: nn.Conv2d(5, 5, 3, stride=2, padding=1, groups=5),
                                (2, 5, 13, 43)),
    "conv2d_depthwise_3x3_rows": (lambda: nn.Conv2d(3, 3, 3, padding=(0, 1), groups=3),
                                  (2, 3, 11, 37)),
    "conv2d_depthwise_7x7_dilated": (
        lambda: nn.Conv2d(4, 4, 7, padding=(5, 3), dilation=(2, 1), groups=4), (1, 4, 17, 50)),
    "conv2d_depthwise_stride3": (
        lambda: nn.Conv2d(2, 2, (2, 5), stride=(1, 3), padding=(1, 2), groups=2), (3, 2, 6, 61)),
    "conv2d_depthwise_stride5": (lambda: nn.Conv2d(3, 3, 5, stride=5, groups=3),
                                 (1, 3, 20, 45)),
    # A zero pad before a convolution folds into its padding (asymmetric
    # here, as TensorFlow's "same" padding in transformers' MobileNetV2).
    "zero_pad_conv2d": (lambda: nn.Sequential(nn.ZeroPad2d((2, 1, 0, 1)),
                                              nn.Conv2d(3, 5, 3, padding=1)), (2, 3, 9, 11)),
    "zero_pad_depthwise_s2": (lambda: nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)),
                                                    nn.Conv2d(4, 4, 3, stride=2, groups=4)),
                              (2, 4, 20, 36)),
    # Activations on the depthwise kernel's outputs in registers.
    "depthwise_relu6_hardswish": (lambda: nn.Sequential(
        nn.Conv2d(6, 6, 3, padding=1, groups=6), nn.ReLU6(), nn.Hardswish()), (2, 6, 12, 20)),
    "conv1d_depthwise_stride2": (lambda: nn.Conv1d(6, 6, 4, stride=2, padding=3, dilation=2,
                                                   groups=6, bias=False), (2, 6, 70)),
    # Strided 2-D convolutions gather their patches' panels (implicit
    # im2col): several panels of 32 positions and a ragged one, stride and
    # dilation differing by axis, groups, and a strided pointwise one.
    "conv2d_stem_7x7_stride2": (lambda: nn.Conv2d(3, 16, 7, stride=2, padding=3),
                                (2, 3, 30, 26)),
    "conv2d_stride_2_3_dilation": (
        lambda: nn.Conv2d(4, 6, (3, 2), stride=(2, 3), padding=(1, 2), dilation=(2, 1)),
        (2, 4, 13, 17)),
    "conv2d_groups_stride2": (lambda: nn.Conv2d(8, 12, 3, stride=2, padding=1, groups=4),
                              (2, 8, 11, 11)),
    "conv2d_1x1_stride2": (lambda: nn.Conv2d(16, 8, 1, stride=2), (2, 16, 9, 9)),
    # Small planes: the batch's positions side by side in one matrix.
    "conv2d_small_planes": (lambda: nn.Conv2d(16, 24, 3, padding=1), (8, 16, 4, 4)),
    "conv2d_small_planes_stride2": (lambda: nn.Conv2d(8, 16, 3, stride=2, padding=1),
                                    (6, 8, 7, 7)),
    "conv1d_same_even_kernel": (lambda: nn.Conv1d(5, 7, 4, padding="same"), (3, 5, 20)),
    # 1-D convolutions as planes of height 1 (implicit im2col): strided and
    # dilated, Wav2Vec2's first feature layer, grouped.
    "conv1d_stride_dilation": (lambda: nn.Conv1d(5, 7, 5, stride=3, padding=2, dilation=2),
                               (3, 5, 40)),
    "conv1d_wav2vec2_first": (lambda: nn.Conv1d(1, 16, 10, stride=5, bias=False),
                              (2, 1, 400)),
    "conv1d_groups_stride2": (lambda: nn.Conv1d(8, 12, 3, stride=2, padding=1, groups=4),
                              (2, 8, 33)),
    "conv3d": (lambda: nn.Conv3d(2, 3, (2, 3, 3), stride=(1, 2, 1)), (2, 2, 5, 7, 6)),
    "max_pool2d": (lambda: nn.MaxPool2d(3, 2, 1), (2, 3, 11, 11)),
    "max_pool2d_ceil": (lambda: nn.MaxPool2d(3, 2, ceil_mode=True), (2, 3, 10, 10)),
    "max_pool1d_dilation": (lambda: nn.MaxPool1d(3, 2, 1, dilation=2), (2, 3, 17)),
    "max_pool3d": (lambda: nn.MaxPool3d(2), (1, 2, 4, 6, 6)),
    "avg_pool2d": (lambda: nn.AvgPool2d(3, 2, 1), (2, 3, 11, 11)),
    "avg_pool2d_ceil_exclude_pad": (
        lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False), (2, 3, 10, 10)),
    "avg_pool2d_ceil_include_pad": (
        lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=True), (2, 3, 10, 10)),
    "avg_pool1d": (lambda: nn.AvgPool1d(4, 3), (2, 3, 14)),
    "adaptive_avg_pool2d": (lambda: nn.AdaptiveAvgPool2d((2, 3)), (2, 3, 8, 9)),
    "global_avg_pool": (lambda: nn.AdaptiveAvgPool2d(1), (2, 3, 7, 7)),
    "batch_norm_eval": (lambda: nn.BatchNorm2d(3), (2, 3, 5, 5)),
    "group_norm": (lambda: nn.GroupNorm(2, 6), (2, 6, 5, 4)),
    "instance_norm": (lambda: nn.InstanceNorm1d(3, affine=True), (2, 3, 9)),
    "pad_constant": (lambda: Functional(lambda x: F.pad(x, (1, 2, 0, 3), value=0.5)),
                     (2, 3, 4, 5)),
    "pad_reflect": (lambda: Functional(lambda x: F.pad(x, (2, 1, 3, 0), mode="reflect")),
                    (2, 3, 4, 5)),
    "pad_replicate": (lambda: Functional(lambda x: F.pad(x, (2, 1, 3, 0), mode="replicate")),
                      (2, 3, 4, 5)),
    "pad_circular": (lambda: Functional(lambda x: F.pad(x, (2, 1, 3, 0), mode="circular")),
                     (2, 3, 4, 5)),
    "pad_negative_crops": (lambda: Functional(lambda x: F.pad(x, (-1, 2))), (2, 3, 4, 5)),
    "repeat": (lambda: Functional(lambda x: x.repeat(2, 1, 3, 1)), (3, 4, 5)),
    "relu6": (nn.ReLU6, (3, 40)), "hardswish": (nn.Hardswish, (3, 40)),
    "hardsigmoid": (nn.Hardsigmoid, (3, 40)), "mish": (nn.Mish, (3, 40)),
    "softplus": (lambda: nn.Softplus(beta=2.0, threshold=5.0), (3, 40)),
    "leaky_relu": (lambda: nn.LeakyReLU(0.1), (3, 40)), "elu": (lambda: nn.ELU(0.5), (3, 40)),
    "selu": (nn.SELU, (3, 40)), "celu": (lambda: nn.CELU(1.5), (3, 40)),
    "hardtanh": (lambda: nn.Hardtanh(-0.5, 2.0), (3, 40)),
    "conv_transpose2d": (lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1,
                                                    output_padding=1, groups=2), (2, 4, 5, 6)),
    "conv_transpose1d_dilation": (lambda: nn.ConvTranspose1d(3, 2, 4, stride=3, dilation=2),
                                  (2, 3, 7)),
}


def randomized(module):
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, tensor in list(module.named_parameters()) + list(module.named_buffers()):
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
            elif tensor.is_floating_point():
                tensor.copy_(torch.randn(tensor.shape, generator=generator))
    return module.eval()


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module(ube_module, name):
    build, shape = MODULES[name]
    module = randomized(build())
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1)) * 4  # past ±3, 6
    out = ube_module.compile(module, example_inputs=(x,))(x)
    with torch.no_grad():
        ref = module.double()(x.double())
    assert tuple(out.shape) == tuple(ref.shape)
    assert rel_error(out, ref) <= TOL


def test_max_pool_indices_match_pytorch(ube_module):
    """max_pool's indices (what MaxUnpool and PyTorch's backward read): the
    flat position of each window's first maximum in its channel's plane."""
    x = torch.randn(2, 3, 9, 8, generator=torch.Generator().manual_seed(2))
    x[0, 0, :3, :3] = 1.0  # a window of ties: the first one wins
    module = Functional(lambda x: F.max_pool2d(x, 3, 2, 1, return_indices=True))
    values, indices = ube_module.compile(module, example_inputs=(x,))(x)
    ref_values, ref_indices = module(x)
    assert (values == ref_values.numpy()).all()
    assert (indices == ref_indices.numpy()).all()


def test_unsupported_forms_are_named(ube_module):
    x = torch.randn(1, 2, 7, 7)
    with pytest.raises(Exception, match="aten.adaptive_max_pool2d .*no ube mapping"):
        ube_module.compile(nn.AdaptiveMaxPool2d(3), example_inputs=(x,))
    with pytest.raises(Exception, match="only output sizes that divide"):
        ube_module.compile(nn.AdaptiveAvgPool2d(3), example_inputs=(torch.randn(1, 2, 8, 8),))


def test_batch_norm_folds_into_the_convolution(ube_module, tmp_path):
    """An inference BatchNorm right after a convolution becomes part of the
    convolution's weight and bias at export (the statistics are known):
    no per-channel arithmetic left, the unfolded weights out of the weights
    file, the result as PyTorch's in float64. A BatchNorm after something
    else, or reading a convolution that another op also reads, stays."""
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Conv2d(8, 4, 1, bias=False), nn.BatchNorm2d(4))
    model = randomized(model)
    x = torch.randn(2, 3, 9, 9, generator=torch.Generator().manual_seed(8))
    graph = ube_module.export(model, (x,), tmp_path / "net.json")
    ops = [n["op"] for n in graph["nodes"]]
    assert ops.count("conv") == 2 and "rsqrt" not in ops and "mul" not in ops, ops
    assert len(graph["parameters"]) == 4  # two folded weights, two folded biases
    out = ube_module.compile(tmp_path / "net.json")(x)
    with torch.no_grad():
        ref = model.double()(x.double())
    assert rel_error(out, ref) <= TOL

    class Shared(nn.Module):  # the convolution's output read twice: not folded
        def __init__(self):
            super().__init__()
            self.conv, self.norm = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)

        def forward(self, x):
            y = self.conv(x)
            return self.norm(y) + y

    shared = randomized(Shared())
    graph = ube_module.export(shared, (x,), tmp_path / "shared.json")
    assert "rsqrt" in [n["op"] for n in graph["nodes"]]
    with torch.no_grad():
        ref = shared.double()(x.double())
    assert rel_error(ube_module.compile(tmp_path / "shared.json")(x), ref) <= TOL
