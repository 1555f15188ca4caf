"""Model family behaviour beyond timm parity: names, seed factories, custom models, shapes,
feature maps, train-mode corner cases and clear errors."""

from __future__ import annotations

import pytest
import timm
import torch
from conftest import relative_error

import mnv4_rl
from mnv4_rl import create_model, mobilenet_v4_custom
from mnv4_rl.models import OLD_PROJECT_NAMES, resolve_name
from mnv4_rl.models.specs import SESpec, cn, fib, mqa, uib
from mnv4_rl.modules import SE, UIB, MobileMQA


@pytest.mark.parametrize(
    "name,variant",
    [
        ("conv_small", "conv_small"),
        ("nano", "conv_small_050"),
        ("mobilenet_v4_small", "conv_small"),
        ("mobilenetv4_conv_small", "conv_small"),
        ("mobilenetv4_hybrid_medium.ix_e550_r256_in1k", "hybrid_medium"),
        ("large", "conv_large"),
    ],
)
def test_every_spelling_resolves(name: str, variant: str) -> None:
    assert resolve_name(name)[0] == variant
    assert create_model(name, num_classes=7).spec.name == variant


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown model 'conv_tiny'.*conv_small.*nano"):
        create_model("conv_tiny")


@pytest.mark.parametrize("old_name", list(OLD_PROJECT_NAMES))
def test_seed_factories_keep_the_seed_signature(old_name: str) -> None:
    factory = getattr(mnv4_rl, f"mobilenet_v4_{old_name}")
    model = factory(in_channels=1, num_classes=10)
    reference = timm.create_model(
        f"mobilenetv4_{OLD_PROJECT_NAMES[old_name]}", in_chans=1, num_classes=10
    )
    assert mnv4_rl.count_params(model) == sum(p.numel() for p in reference.parameters())
    if old_name in ("nano", "small"):
        assert model.eval()(torch.randn(2, 1, 84, 84)).shape == (2, 10)


def test_custom_accepts_the_seed_keywords_and_has_residuals() -> None:
    model = mobilenet_v4_custom(
        in_channels=4,
        num_classes=6,
        base_channels=32,
        expanded_channels=64,
        squeeze_ratio=0.25,
        num_heads=4,
        hidden_dim_classifier=128,
        dropout=0.1,
        FusedIBs=2,
        UIB_and_ExtraDWs=2,
        SE_and_UIBs=1,
        SE_and_MobileMQAs=2,
    )
    blocks = [b for stage in model.blocks for b in stage]
    assert sum(isinstance(b, SE) for b in blocks) == 3
    assert sum(isinstance(b, MobileMQA) for b in blocks) == 2
    uibs = [b for b in blocks if isinstance(b, UIB)]
    assert len(uibs) == 5 and all(b.has_skip for b in uibs)
    assert model.head_hidden_size == 128 and model.drop_rate == 0.1
    assert model.min_input_size == 8  # stem and two FusedIBs each halve the resolution
    out = model(torch.randn(3, 4, 40, 56))
    assert out.shape == (3, 6)
    out.sum().backward()


def test_custom_default_and_general_form() -> None:
    assert mobilenet_v4_custom()(torch.randn(2, 3, 32, 32)).shape == (2, 1000)
    model = mobilenet_v4_custom(
        in_channels=2,
        num_classes=3,
        stem_channels=16,
        stages=[
            [fib(3, 2, 4.0, 24)],
            [uib(3, 5, 2, 4.0, 32), SESpec(0.5), mqa(2, 16, kv_stride=2)],
            [cn(1, 1, 64)],
        ],
        hidden_dim_classifier=0,
        layer_scale_init=1e-5,
    )
    assert model.head_hidden_size == 64
    assert model(torch.randn(2, 2, 48, 48)).shape == (2, 3)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(base_channels=20), "multiple of 8"),
        (dict(base_channels=16, num_heads=3), "num_heads .3. must divide base_channels .16."),
        (dict(expanded_channels=8), "expanded_channels .8. must be >= base_channels"),
        (dict(FusedIBs=-1), "FusedIBs must be >= 0"),
    ],
)
def test_custom_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mobilenet_v4_custom(**kwargs)


@pytest.mark.parametrize("name", ["conv_small", "hybrid_medium"])
def test_features_only_and_intermediates(name: str) -> None:
    model = create_model(name, in_channels=4, features_only=True).eval()
    reference = timm.create_model(f"mobilenetv4_{name}", in_chans=4, features_only=True)
    assert [f["reduction"] for f in model.feature_info] == [2, 4, 8, 16, 32]
    assert [f["num_chs"] for f in model.feature_info] == reference.feature_info.channels()
    maps = model(torch.randn(2, 4, 96, 128))
    assert [m.shape[1] for m in maps] == reference.feature_info.channels()
    assert [tuple(m.shape[-2:]) for m in maps] == [(48, 64), (24, 32), (12, 16), (6, 8), (3, 4)]
    full = create_model(name, in_channels=4)
    assert len(full.forward_intermediates(torch.randn(1, 4, 64, 64))) == 5


def test_num_classes_zero_gives_pooled_features() -> None:
    model = create_model("conv_small", num_classes=0).eval()
    x = torch.randn(2, 3, 84, 84)
    out = model(x)
    assert out.shape == (2, model.head_hidden_size) == (2, 1280)
    assert model.num_features == 960
    torch.testing.assert_close(out, model.forward_head(model.forward_features(x), pre_logits=True))


@pytest.mark.parametrize("name", ["nano", "hybrid_medium"])
def test_batch_size_one_in_train_mode(name: str) -> None:
    model = create_model(
        name, in_channels=4, num_classes=5, drop_rate=0.2, drop_path_rate=0.1
    ).train()
    out = model(torch.randn(1, 4, 84, 84))
    assert out.shape == (1, 5) and torch.isfinite(out).all()
    out.sum().backward()


def test_batch_norm_batch_one_train_mode_uses_running_statistics() -> None:
    model = create_model("nano", num_classes=0).train()
    stats = model.norm_head.running_mean.clone()
    model(torch.randn(1, 3, 64, 64))
    torch.testing.assert_close(model.norm_head.running_mean, stats)  # not updated from one value


def test_drop_path_schedule_is_linear_over_all_blocks() -> None:
    model = create_model("conv_medium", drop_path_rate=0.2)
    reference = timm.create_model("mobilenetv4_conv_medium", drop_path_rate=0.2)

    def residual_rates(net: torch.nn.Module, attr: str) -> dict[str, float]:
        return {
            f"{s}.{i}": getattr(block.drop_path, attr)
            for s, stage in enumerate(net.blocks)
            for i, block in enumerate(stage)
            if getattr(block, "has_skip", False)
        }

    ours, theirs = residual_rates(model, "rate"), residual_rates(reference, "drop_prob")
    assert len(ours) == 18 and ours == pytest.approx(theirs)


def test_any_size_that_survives_the_strides() -> None:
    model = create_model("hybrid_medium", num_classes=3).eval()
    for size in [(32, 32), (33, 47), (84, 84), (100, 60)]:
        assert model(torch.randn(2, 3, *size)).shape == (2, 3)


@pytest.mark.parametrize(
    "x,error,message",
    [
        (torch.randn(3, 84, 84), ValueError, r"4-D input .* got shape \(3, 84, 84\).*unsqueeze"),
        (torch.randn(2, 3, 84, 84), ValueError, "expected 4 input channels, got 3.*in_channels=3"),
        (
            torch.randn(2, 84, 84, 4),
            ValueError,
            "expected 4 input channels, got 84.*channels first",
        ),
        (
            torch.randn(2, 4, 16, 84),
            ValueError,
            "16x84 is too small.*at least 32.*ResizeObservation",
        ),
        (torch.zeros(2, 4, 84, 84, dtype=torch.uint8), TypeError, "floating-point.*x.float()"),
        *(
            (
                torch.zeros(2, 4, 84, 84, dtype=dtype),
                TypeError,
                rf"{dtype} but .*model.to\({dtype}\)",
            )
            for dtype in (torch.float64, torch.float16, torch.bfloat16)
        ),
    ],
)
def test_bad_input_errors_name_the_fix(x: torch.Tensor, error: type, message: str) -> None:
    model = create_model("nano", in_channels=4)
    with pytest.raises(error, match=message):
        model(x)


@pytest.mark.parametrize("option", ["drop_rate", "drop_path_rate"])
@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_rates_outside_zero_one_are_refused_at_build_time(option: str, rate: float) -> None:
    with pytest.raises(ValueError, match=rf"{option} must be in \[0, 1\), got {rate}"):
        create_model("nano", **{option: rate})


def test_uib_rejects_a_stride_without_depthwise() -> None:
    with pytest.raises(ValueError, match="strided UIB needs a start or mid depthwise"):
        UIB(16, 16, 0, 0, stride=2)


def test_mqa_any_shape_and_batch() -> None:
    block = MobileMQA(32, num_heads=4, key_dim=8, kv_stride=2).eval()
    for shape in [(1, 32, 5, 9), (3, 32, 8, 8), (2, 32, 1, 1)]:
        assert block(torch.randn(shape)).shape == shape


def test_bn_folding_is_exact_and_follows_parameter_updates() -> None:
    model = create_model("nano", num_classes=4).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        folded = model(x)
        plain = model.set_bn_folding(False)(x)
    model.set_bn_folding(True)
    assert relative_error(folded, plain) < 1e-5
    with torch.no_grad():  # cached fold must notice an in-place change (optimiser step, load)
        model.stem.bn.weight.mul_(2.0)
        after = model(x)
        plain_after = model.set_bn_folding(False)(x)
    assert relative_error(after, plain_after) < 1e-5
    assert not torch.allclose(after, folded)


def test_eval_mode_gradients_flow_through_folded_convs() -> None:
    model = create_model("nano", num_classes=4).eval()
    x = torch.randn(2, 3, 64, 64)
    model(x).square().sum().backward()
    folded = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    model.set_bn_folding(False)(x).square().sum().backward()
    for name, param in model.named_parameters():
        assert relative_error(folded[name], param.grad) < 1e-4, name


@pytest.mark.parametrize("name", ["nano", "hybrid_medium", "nano_rl"])
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_optimised_and_plain_paths_agree(name: str, mode: str) -> None:
    """Defaults (channels-last, BN folded in eval, 1x1 convs as GEMMs) against the plain path
    (NCHW, nn.Conv2d -> BatchNorm -> act):
    the same outputs and the same gradients. Train mode is compared in float64: gradients through
    train-mode BatchNorm of a random network cancel large terms, so float32 would measure rounding."""
    dtype = torch.float32 if mode == "eval" else torch.float64
    fast = create_model(name, in_channels=4, num_classes=5).to(dtype).train(mode == "train")
    plain = create_model(name, in_channels=4, num_classes=5, channels_last=False).to(dtype)
    plain.load_state_dict(fast.state_dict())
    plain.set_fast_paths(False).train(mode == "train")
    x = torch.rand(3, 4, 84, 84, dtype=dtype)
    out_fast, out_plain = fast(x), plain(x)
    tolerance = 1e-5 if mode == "eval" else 1e-10
    assert relative_error(out_fast, out_plain) < tolerance
    out_fast.square().mean().backward()
    out_plain.square().mean().backward()
    plain_grads = dict(plain.named_parameters())
    for param_name, param in fast.named_parameters():
        expected = plain_grads[param_name].grad
        # norm-wise; the small absolute floor covers gradients that are zero in theory
        difference = (param.grad - expected).double().norm().item()
        assert difference <= 10 * tolerance * expected.double().norm().item() + 1e-9, param_name
