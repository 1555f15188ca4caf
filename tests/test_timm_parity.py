"""The acceptance bar of the model family: exactly timm's networks, parameter for parameter,
and the same outputs after loading a timm state dict through our converter."""

from __future__ import annotations

import pytest
import timm
import torch
from conftest import relative_error

import mnv4_rl
from mnv4_rl import count_macs, count_params, create_model
from mnv4_rl.weights import convert_timm_state_dict

VARIANTS = list(mnv4_rl.VARIANTS)  # the paper's family as timm builds it; nano_rl is ours
TIMM_VARIANTS = [
    "conv_small",
    "conv_small_035",
    "conv_small_050",
    "conv_medium",
    "conv_large",
    "hybrid_medium",
    "hybrid_medium_075",
    "hybrid_large",
    "hybrid_large_075",
]


def _randomise_statistics(model: torch.nn.Module, in_channels: int = 3) -> None:
    """Make every tensor matter in a parity check, with activations of a realistic size.

    Fresh BatchNorms are near-identity maps and fresh layer scales are 1e-5, so a check on a fresh
    model would barely exercise them. Give BN affine params and layer scales random values, then
    calibrate the running statistics on random images, as a trained network's would be.
    """
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, tensor in model.named_parameters():
            if name.endswith("gamma"):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) * 0.05 + 0.05)
            elif tensor.ndim == 1 and not name.startswith("classifier"):  # BN weight and bias
                base = 1.0 if name.endswith("weight") else 0.0
                tensor.copy_(base + 0.1 * torch.randn(tensor.shape, generator=generator))
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.momentum = None  # cumulative average over the calibration batches
        model.train()
        for _ in range(2):
            model(torch.randn(8, in_channels, 64, 64, generator=generator))
        model.eval()
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                # A channel that was dead during calibration would get variance ~0 and amplify
                # float32 rounding by 1/sqrt(eps); keep the statistics well conditioned.
                module.running_var.clamp_(min=0.25)


def test_family_is_exactly_timms_list() -> None:
    assert sorted(VARIANTS) == sorted(TIMM_VARIANTS)
    assert mnv4_rl.list_models() == [*TIMM_VARIANTS, *mnv4_rl.RL_VARIANTS]
    for name in VARIANTS:
        assert f"mobilenetv4_{name}" in timm.list_models("mobilenetv4_*")


@pytest.mark.parametrize("name", TIMM_VARIANTS)
@pytest.mark.parametrize("in_channels,num_classes", [(3, 1000), (1, 10), (4, 0)])
def test_parameters_and_state_dict_shapes(name: str, in_channels: int, num_classes: int) -> None:
    ours = create_model(name, in_channels=in_channels, num_classes=num_classes)
    ref = timm.create_model(f"mobilenetv4_{name}", in_chans=in_channels, num_classes=num_classes)
    assert count_params(ours) == sum(p.numel() for p in ref.parameters())
    converted = convert_timm_state_dict(ref.state_dict())
    ours_shapes = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    ref_shapes = {k: tuple(v.shape) for k, v in converted.items()}
    assert ours_shapes == ref_shapes
    assert ours.num_features == ref.num_features
    assert ours.head_hidden_size == ref.head_hidden_size


def _timm_macs(model: torch.nn.Module, shape: tuple[int, int, int]) -> int:
    """Independent count on timm's model: conv + linear MACs (conv variants have no attention)."""
    total = 0

    def hook(module, _inputs, output):
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            kh, kw = module.kernel_size
            total += output[0].numel() * module.in_channels // module.groups * kh * kw
        else:
            total += output[0].numel() * module.in_features

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)
    ]
    with torch.no_grad():
        model.eval()(torch.zeros(1, *shape))
    for handle in handles:
        handle.remove()
    return total


@pytest.mark.parametrize("name", ["conv_small", "conv_small_050", "conv_medium"])
def test_macs_match_an_independent_count_on_timm(name: str) -> None:
    ours = create_model(name)
    ref = timm.create_model(f"mobilenetv4_{name}")
    for shape in [(3, 224, 224), (3, 84, 84)]:
        assert count_macs(ours, shape) == _timm_macs(ref, shape)


def test_hybrid_macs_add_the_attention_matmuls() -> None:
    # hybrid_medium @256: the architecture reference gives 41.9 M MACs in the attention matmuls;
    # at 256, stage-2 maps are 16x16 (K/V 8x8), stage-3 maps 8x8: 4*(4*256*64*128) + 4*(4*64*64*128).
    model = create_model("hybrid_medium")
    without_attention = _timm_macs(timm.create_model("mobilenetv4_hybrid_medium"), (3, 256, 256))
    expected_attention = 4 * (4 * 256 * 64 * 128) + 4 * (4 * 64 * 64 * 128)
    assert count_macs(model, (3, 256, 256)) == without_attention + expected_attention


def _parity(name: str, in_channels: int, sizes: list[tuple[int, int]], batch: int = 2) -> None:
    ref = timm.create_model(f"mobilenetv4_{name}", in_chans=in_channels, num_classes=1000)
    _randomise_statistics(ref, in_channels)
    ours = create_model(name, in_channels=in_channels, num_classes=1000).eval()
    summary = mnv4_rl.load_timm_weights(ours, ref.state_dict())
    assert summary.changes == []
    for height, width in sizes:
        x = torch.randn(batch, in_channels, height, width)
        with torch.no_grad():
            expected = ref(x)
            got = ours(x)
            expected_features = ref.forward_head(ref.forward_features(x), pre_logits=True)
            got_features = ours.forward_head(ours.forward_features(x), pre_logits=True)
        assert got.shape == expected.shape
        assert relative_error(got, expected) < 1e-5, (name, in_channels, height, width)
        assert relative_error(got_features, expected_features) < 1e-5


@pytest.mark.parametrize("name", TIMM_VARIANTS)
@pytest.mark.parametrize("in_channels", [1, 3, 4])
def test_outputs_equal_timm_at_84_and_non_square(name: str, in_channels: int) -> None:
    _parity(name, in_channels, [(84, 84), (96, 128)])


@pytest.mark.parametrize("name", TIMM_VARIANTS)
def test_outputs_equal_timm_at_224(name: str) -> None:
    for in_channels in (1, 3, 4):
        _parity(name, in_channels, [(224, 224)], batch=1)


@pytest.mark.parametrize("name", ["conv_small", "hybrid_medium"])
def test_train_mode_outputs_and_gradients_equal_timm(name: str) -> None:
    """Train mode (batch statistics, drop-path off): same outputs and the same gradients.

    Checked in float64: gradients through train-mode BatchNorm of a random network are badly
    conditioned (large terms cancel), so float32 would measure rounding, not the architecture."""
    ref = timm.create_model(f"mobilenetv4_{name}").double().train()
    ours = create_model(name).double().train()
    mnv4_rl.load_timm_weights(ours, ref.state_dict())
    x = torch.randn(4, 3, 96, 96, dtype=torch.float64)
    expected, got = ref(x), ours(x)
    assert relative_error(got, expected) < 1e-10
    expected.square().mean().backward()
    got.square().mean().backward()
    ref_grads = convert_timm_state_dict({n: p.grad for n, p in ref.named_parameters()})
    for param_name, param in ours.named_parameters():
        # Some gradients are exactly zero in theory (a BN bias before a train-mode BN): 1e-18 noise.
        torch.testing.assert_close(param.grad, ref_grads[param_name], rtol=1e-8, atol=1e-14)
    ours_stats = {k: v for k, v in ours.state_dict().items() if "running" in k}
    ref_stats = convert_timm_state_dict(ref.state_dict())
    for key, value in ours_stats.items():
        torch.testing.assert_close(value, ref_stats[key], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name", ["conv_small", "conv_medium", "hybrid_medium", "hybrid_large"])
def test_exact_in_float64(name: str) -> None:
    """In float64 the two networks agree to rounding error: the architecture is identical, and
    the float32 differences above are only summation order (BN folding, attention batching)."""
    ref = timm.create_model(f"mobilenetv4_{name}", in_chans=4)
    _randomise_statistics(ref, 4)
    ours = create_model(name, in_channels=4).eval()
    mnv4_rl.load_timm_weights(ours, ref.state_dict())
    ref.double(), ours.double()
    x = torch.randn(2, 4, 84, 100, dtype=torch.float64)
    with torch.no_grad():
        assert relative_error(ours(x), ref(x)) < 1e-12
