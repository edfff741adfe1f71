"""Indexing, ordering, rounding and resampling ops of the ATen core set
(argmax/argmin, max/min along a dim, topk, sort, cumsum, flip, roll, tril/triu,
one_hot, floor/ceil/round/trunc/sign, fmod/remainder, interpolate) through
ube.export, against PyTorch in float64.

Tolerance: index and integer results exactly; float results rel_error <=
1e-5 (at most a few float32 roundings per element: the interpolation
weights and a short running sum)."""
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from models import Functional
from ubetest import rel_error

TOL = 1e-5


CASES = {
    "argmax_flat": lambda x: x.argmax(),
    "argmax_dim": lambda x: x.argmax(-1),
    "argmin_keepdim": lambda x: x.argmin(1, keepdim=True),
    "max_dim": lambda x: x.max(2),
    "min_dim_keepdim": lambda x: x.min(0, keepdim=True),
    "max_all": lambda x: x.max(),
    "amin": lambda x: x.amin((1, 3)),
    "topk": lambda x: x.topk(3, dim=1),
    "topk_smallest_last_axis": lambda x: x.topk(2, largest=False),
    "sort": lambda x: x.sort(2),
    "sort_descending": lambda x: x.sort(-1, descending=True),
    "argsort": lambda x: x.argsort(0),
    "cumsum": lambda x: x.cumsum(2),
    "cumsum_of_bools": lambda x: (x > 0).cumsum(-1),
    "flip": lambda x: x.flip(1, 3),
    "roll": lambda x: x.roll((1, -2), (1, 3)),
    "tril": lambda x: x.tril(1),
    "triu": lambda x: x.triu(-1),
    "one_hot": lambda x: F.one_hot(x.argmax(-1), 6),
    "log1p": lambda x: torch.log1p(x.abs()), "expm1": torch.expm1, "log2": lambda x: x.abs().log2(),
    "exp2": torch.exp2, "tan": lambda x: torch.tan(x * 0.4), "atan": torch.atan,
    "asin": lambda x: torch.asin(x.tanh() * 0.9), "acos": lambda x: torch.acos(x.tanh() * 0.9),
    "sinh": torch.sinh, "cosh": torch.cosh, "asinh": torch.asinh,
    "acosh": lambda x: torch.acosh(x.abs() + 1), "atanh": lambda x: torch.atanh(x.tanh() * 0.9),
    "atan2": lambda x: torch.atan2(x, x.flip(0)),
    "isnan_isinf": lambda x: torch.isnan(x.log()) | torch.isinf(1 / x.floor()),
    "nan_to_num": lambda x: torch.nan_to_num(x.log(), posinf=1.0, neginf=-1.0),
    "clamp_tensor": lambda x: x.clamp(min=x.mean(0), max=x.amax(1, keepdim=True) - 1),
    "floor": torch.floor, "ceil": torch.ceil, "round": torch.round, "trunc": torch.trunc,
    "sign": torch.sign,
    "fmod": lambda x: torch.fmod(x, x.flip(0) + 0.5),
    "remainder": lambda x: torch.remainder(x, -0.7),
    "remainder_int": lambda x: torch.remainder((x * 4).long(), 3),
    "floor_divide": lambda x: torch.div(x, x.flip(0) + 0.5, rounding_mode="floor"),
    "floor_divide_int": lambda x: (x * 4).long() // (x.flip(0) * 3).long().clamp(1) * -1,
    "trunc_divide": lambda x: torch.div(x * 3, 0.7, rounding_mode="trunc"),
    "uint8_pixels": lambda x: (x * 60 + 128).clamp(0, 255).to(torch.uint8).amax(0) // 3,
    "nearest_up": lambda x: F.interpolate(x, scale_factor=2),
    "nearest_down": lambda x: F.interpolate(x, size=(3, 4)),
    "bilinear": lambda x: F.interpolate(x, size=(7, 11), mode="bilinear"),
    "bilinear_align_corners": lambda x: F.interpolate(x, size=(7, 11), mode="bilinear",
                                                      align_corners=True),
    "bilinear_scale": lambda x: F.interpolate(x, scale_factor=1.5, mode="bilinear"),
    "bilinear_down": lambda x: F.interpolate(x, size=(2, 3), mode="bilinear"),
    "linear_1d": lambda x: F.interpolate(x.flatten(2), size=17, mode="linear"),
    "bicubic": lambda x: F.interpolate(x, size=(7, 5), mode="bicubic"),  # decomposed by torch
    "upsample_module": nn.Upsample(scale_factor=(2, 3), mode="nearest"),
}


def as_float64(value):
    return value.double() if value.is_floating_point() else value


@pytest.mark.parametrize("name", sorted(CASES))
def test_op(ube_module, name):
    fn = CASES[name]
    module = fn if isinstance(fn, nn.Module) else Functional(fn)
    x = torch.randn(2, 3, 4, 6, generator=torch.Generator().manual_seed(3)) * 3
    x[0, 0, 0, :2] = 5.0  # a tie: the first (or last) position wins as PyTorch's
    out = ube_module.compile(module, example_inputs=(x,))(x)
    with torch.no_grad():
        ref = module(x.double())
    outs = out if isinstance(out, (list, tuple)) else [out]
    refs = ref if isinstance(ref, (list, tuple)) else [ref]
    assert len(outs) == len(refs)
    for o, r in zip(outs, refs):
        assert tuple(np.shape(o)) == tuple(r.shape)
        if r.is_floating_point():
            assert rel_error(o, r) <= TOL
        else:
            assert (np.asarray(o) == r.numpy()).all()


def test_topk_orders_ties_and_nan_as_pytorch(ube_module):
    """NaN is larger than every number; in a stable sort equal values keep
    their order (topk's order of ties is PyTorch's own choice, so only its
    values, and that its positions hold them, are compared)."""
    x = torch.tensor([[1.0, 3.0, 3.0, float("nan"), -2.0, 3.0],
                      [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]])
    module = Functional(lambda x: (x.sort(stable=True, dim=-1), x.topk(4)))
    out = ube_module.compile(module, example_inputs=(x,))(x)  # the outputs flattened
    (ref_values, ref_order), (ref_top, ref_top_index) = module(x)
    for got, want in zip(out, [ref_values, ref_order, ref_top]):
        np.testing.assert_array_equal(got, want.numpy())
    np.testing.assert_array_equal(np.take_along_axis(x.numpy(), out[3], -1), ref_top.numpy())


def test_argmax_takes_nan_as_the_maximum(ube_module):
    x = torch.randn(3, 5, generator=torch.Generator().manual_seed(4))
    x[1, 3] = float("nan")
    module = Functional(lambda x: (x.argmax(1), x.argmin(1)))
    out = ube_module.compile(module, example_inputs=(x,))(x)
    ref = module(x)
    assert (out[0] == ref[0].numpy()).all() and (out[1] == ref[1].numpy()).all()


class Decoder(nn.Module):
    """A segmentation-style head: a transposed convolution, a bilinear
    resize, a nearest one, a cumulative sum and a flip."""

    def __init__(self):
        super().__init__()
        self.up = nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1)
        self.conv = nn.Conv2d(3, 2, 3, padding=1)

    def forward(self, x):
        y = F.interpolate(self.up(x), size=(13, 11), mode="bilinear")
        y = F.interpolate(self.conv(y), scale_factor=2, mode="nearest")
        return y.cumsum(2).flip(3)


def test_decoder_gradients_through_torch_compile(ube_module):
    """loss.backward() through torch.compile(backend="ube") on the decoder:
    every parameter's gradient against torch.autograd in float64 (rel_error
    <= 1e-4), and both graphs run whole in ube."""
    import copy
    import warnings
    from ube.torch_backend import compiled_graphs, reset_report
    torch.manual_seed(6)
    model = Decoder()
    reference = copy.deepcopy(model).double()
    x = torch.randn(2, 4, 5, 4)
    torch._dynamo.reset()
    reset_report()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = torch.compile(model, backend="ube", dynamic=False)(x)
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(7))
    (out * weights).sum().backward()
    (reference(x.double()) * weights.double()).sum().backward()
    got = torch.cat([p.grad.flatten().double() for p in model.parameters()])
    want = torch.cat([q.grad.flatten() for q in reference.parameters()])
    assert rel_error(got, want) <= 1e-4
    reports = compiled_graphs()
    assert {r["graph"] for r in reports} == {"forward", "backward"}
    for report in reports:
        assert report["eager"] == [] and report["partitions"] == 1, report


def test_uint8_images_through_both_frontends(ube_module):
    """uint8 inputs (an image as a camera or decoder hands it over) through
    ube.export and torch.compile: scaled to floats, compared and divided as
    unsigned (values past 127 included), outputs as PyTorch's."""
    from ube.torch_backend import compiled_graphs, reset_report

    class Preprocess(nn.Module):
        def forward(self, image, floor):
            x = image.float() / 255.0
            return x.mean((-1, -2)), torch.maximum(image, floor), image // 3, image.amax(-1)

    generator = torch.Generator().manual_seed(8)
    image = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8, generator=generator)
    floor = torch.full((8,), 200, dtype=torch.uint8)
    reference = Preprocess()(image, floor)
    reset_report()
    for out in (ube_module.compile(Preprocess(), example_inputs=(image, floor))(image, floor),
                torch.compile(Preprocess(), backend="ube")(image, floor)):
        assert rel_error(out[0], reference[0].double()) <= TOL
        for o, r in zip(out[1:], reference[1:]):
            assert np.asarray(o).dtype == np.uint8 and (np.asarray(o) == r.numpy()).all()
    [report] = compiled_graphs()
    assert report["compiled"] == report["nodes"]


def test_uint8_weights(ube_module):
    """A uint8 buffer large enough to travel in the weights file (safetensors
    U8) keeps its bits: unsigned order against it, its float values summed."""

    class Table(nn.Module):
        def __init__(self):
            super().__init__()
            table = torch.arange(256, dtype=torch.int64).flip(0).to(torch.uint8)
            self.register_buffer("table", table.reshape(16, 16).repeat(5, 1))

        def forward(self, x):
            return torch.maximum(x, self.table), (x.float() + self.table.float()).sum(0)

    x = torch.randint(0, 256, (80, 16), dtype=torch.uint8,
                      generator=torch.Generator().manual_seed(9))
    out = ube_module.compile(Table(), example_inputs=(x,))(x)
    reference = Table()(x)
    assert (np.asarray(out[0]) == reference[0].numpy()).all()
    assert (np.asarray(out[1]) == reference[1].numpy()).all()
