"""MobileNetV4 extractors on their own: layouts, scaling, pretrained weights, norms, bad input."""

from __future__ import annotations

import contextlib
import warnings
from functools import partial

import numpy as np
import pytest
import timm
import torch
from gymnasium import spaces
from helpers import timm_checkpoint
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.preprocessing import preprocess_obs

from mnv4_rl import create_model
from mnv4_rl.sb3 import (
    MNv4HybridLargeExtractor,
    MNv4HybridMediumExtractor,
    MNv4LargeExtractor,
    MNv4MediumExtractor,
    MNv4NanoExtractor,
    MNv4SmallExtractor,
    MobileNetV4CombinedExtractor,
    MobileNetV4Extractor,
    default_norm,
    resolve_layout,
)
from mnv4_rl.weights import convert_timm_state_dict

K, C, S = 4, 3, 32  # frames, channels per frame, height = width


def u8(shape: tuple[int, ...]) -> spaces.Box:
    return spaces.Box(0, 255, shape, np.uint8)


def f32(shape: tuple[int, ...]) -> spaces.Box:
    return spaces.Box(0.0, 1.0, shape, np.float32)


def stacks(frames: np.ndarray) -> dict[str, tuple[spaces.Box, np.ndarray, dict]]:
    """One batch of frame stacks ``(B, k, H, W, c)`` uint8 in every layout, with its space.

    Values are what SB3 puts in the observation; float spaces hold exactly what SB3 computes for
    uint8 ones (float32 division by 255).
    """
    b, k, h, w, c = frames.shape
    chw = frames.transpose(0, 1, 4, 2, 3).reshape(b, k * c, h, w)  # VecFrameStack order
    hwc = chw.transpose(0, 2, 3, 1)
    as_float = (torch.from_numpy(hwc).float() / 255.0).numpy()
    return {
        "chw": (u8((k * c, h, w)), chw, {}),
        "hwc": (u8((h, w, k * c)), hwc, {}),
        "hwc_float": (f32((h, w, k * c)), as_float, {"normalized_image": True}),
        "khwc": (u8((k, h, w, c)), frames, {}),
        "kchw": (u8((k, c, h, w)), frames.transpose(0, 1, 4, 2, 3).copy(), {}),
    }


def features(extractor: MobileNetV4Extractor, space: spaces.Box, obs: np.ndarray) -> torch.Tensor:
    """The extractor's output on what SB3 would feed it."""
    with torch.no_grad():
        return extractor(preprocess_obs(torch.as_tensor(obs), space))


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("pretrained", [False, True])
def test_same_frames_same_features_in_every_layout(c: int, pretrained: bool, tmp_path) -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, K, S, S, c), dtype=np.uint8)
    checkpoint = None
    if pretrained:
        checkpoint = tmp_path / "ckpt.pth"
        torch.save(timm.create_model("mobilenetv4_conv_small_050").state_dict(), checkpoint)
    out = {}
    reference = None
    for name, (space, obs, kwargs) in stacks(frames).items():
        with pytest.warns(UserWarning) if pretrained else contextlib.nullcontext():
            extractor = MobileNetV4Extractor(space, pretrained=checkpoint, **kwargs).eval()
        if reference is None:
            reference = extractor.state_dict()
        extractor.load_state_dict(reference)
        assert extractor.frames.channels == K * c
        out[name] = features(extractor, space, obs)
    for name, value in out.items():
        assert value.shape == (2, 512)
        torch.testing.assert_close(value, out["chw"], rtol=0, atol=0, msg=name)
    assert out["chw"].abs().sum() > 0


def test_layout_guessing() -> None:
    assert resolve_layout((4, 84, 84)).layout == "chw"
    assert resolve_layout((84, 84, 4)).layout == "hwc"
    assert resolve_layout((4, 210, 160, 3)).layout == "khwc"
    assert resolve_layout((4, 3, 64, 64)).layout == "kchw"
    assert resolve_layout((84, 84)).layout == "hw"
    gray = resolve_layout((4, 84, 84))
    assert (gray.frames, gray.frame_channels) == (4, 1) and "grayscale" in gray.guessed
    rgb = resolve_layout((64, 64, 12))
    assert (rgb.frames, rgb.frame_channels) == (4, 3) and "frame_channels=1" in rgb.guessed
    assert resolve_layout((64, 64, 12), frame_channels=1).frames == 12


def test_uint8_scaling_matches_sb3_for_every_rank() -> None:
    """SB3 divides 3-D uint8 images only; the extractor divides 2-D and 4-D ones itself."""
    obs = np.full((1, S, S), 255, np.uint8)
    two_d = MobileNetV4Extractor(u8((S, S)))
    three_d = MobileNetV4Extractor(u8((1, S, S)))
    assert two_d.preprocess.value_range.divisor == 255
    assert three_d.preprocess.value_range.divisor == 1  # SB3 divided already
    x2 = two_d.preprocess(preprocess_obs(torch.as_tensor(obs), u8((S, S))))
    x3 = three_d.preprocess(preprocess_obs(torch.as_tensor(obs[:, None]), u8((1, S, S))))
    assert x2.shape == x3.shape == (1, 1, S, S)
    assert x2.max() == x3.max() == 1.0


@pytest.mark.parametrize(
    ("space", "divisor", "offset", "warns"),
    [
        (f32((4, S, S)), 1.0, 0.0, False),  # [0, 1] floats: as given
        (spaces.Box(-1.0, 1.0, (S, S, 4), np.float32), 2.0, 0.5, False),  # RLlib's Atari frames
        (spaces.Box(-10.0, 10.0, (4, S, S), np.float32), 1.0, 0.0, True),  # VecNormalize's
        (spaces.Box(0, 255, (4, S, S), np.float32), 1.0, 0.0, True),  # float [0, 255]: no /255
        (spaces.Box(0, 1, (4, S, S), np.uint8), 1.0, 0.0, False),  # uint8 masks: in [0, 1]
    ],
)
def test_float_spaces_are_used_as_given_and_odd_bounds_are_reported(
    space, divisor, offset, warns
) -> None:
    """SB3 tells a custom extractor nothing about normalize_images: a float space is used as it
    is (never divided by 255), and bounds that are no image range are reported once."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        extractor = MobileNetV4Extractor(space)
    said = [w for w in caught if "not an image range" in str(w.message)]
    assert bool(said) == warns, [str(w.message) for w in caught]
    assert (extractor.preprocess.value_range.divisor, extractor.preprocess.value_range.offset) == (
        divisor,
        offset,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MobileNetV4Extractor(space, normalized_image=True)  # the user says: fine as it is


ALL_LAYOUTS = ("chw", "hwc", "hwc_float", "khwc", "kchw")


@pytest.mark.parametrize(
    ("cls", "layouts"),
    [
        (MNv4NanoExtractor, ALL_LAYOUTS),
        (MNv4SmallExtractor, ALL_LAYOUTS),
        (MNv4MediumExtractor, ALL_LAYOUTS),
        (MNv4LargeExtractor, ALL_LAYOUTS),
        (MNv4HybridMediumExtractor, ALL_LAYOUTS),
        (MNv4HybridLargeExtractor, ALL_LAYOUTS),
    ],
)
def test_every_subclass_forward_backward(cls: type, layouts: tuple[str, ...]) -> None:
    """Built with the space as only argument; forward and backward at 32x32, 2 RGB frames."""
    frames = np.random.default_rng(0).integers(0, 256, (2, 2, S, S, 3), dtype=np.uint8)
    weights = None
    for name in layouts:
        space, obs, kwargs = stacks(frames)[name]
        extractor = cls(space, **kwargs)
        assert extractor.variant in cls.__doc__
        if weights is None:
            weights = extractor.state_dict()
        extractor.load_state_dict(weights)
        out = extractor(preprocess_obs(torch.as_tensor(obs), space))
        assert out.shape == (2, 512), name
        out.square().mean().backward()
        grad = extractor.backbone.stem.conv.weight.grad
        assert grad is not None and grad.abs().sum() > 0, name


@pytest.mark.parametrize("norm", ["batch", "group", "frozen"])
def test_batch_size_one_train_and_eval(norm: str) -> None:
    extractor = MobileNetV4Extractor(u8((K, S, S)), norm=norm)
    x = torch.rand(1, K, S, S)
    extractor.train()
    out = extractor(x)
    out.sum().backward()
    assert out.shape == (1, 512) and torch.isfinite(out).all()
    extractor.eval()
    with torch.no_grad():
        assert torch.isfinite(extractor(x)).all()


def test_frozen_and_group_compute_the_same_in_train_and_eval() -> None:
    x = torch.rand(4, K, S, S)
    for norm in ("frozen", "group"):
        extractor = MobileNetV4Extractor(u8((K, S, S)), norm=norm)
        train = extractor.train()(x)
        evaluation = extractor.eval()(x)
        torch.testing.assert_close(train, evaluation, rtol=1e-4, atol=1e-5)
    batch = MobileNetV4Extractor(u8((K, S, S)), norm="batch")
    assert not torch.allclose(batch.train()(x), batch.eval()(x))


def test_default_norm() -> None:
    assert default_norm(None) == "group" and default_norm("x.pth") == "frozen"
    assert MobileNetV4Extractor(u8((K, S, S))).norm == "group"


def test_pretrained_rgb_stack_matches_timm_on_one_frame(tmp_path) -> None:
    """k equal RGB frames give timm's pooled features of that frame (normalised as timm does)."""
    model, path = timm_checkpoint(tmp_path)
    with pytest.warns(UserWarning, match="frame rule: 4 RGB frame"):
        extractor = MobileNetV4Extractor(u8((S, S, 12)), pretrained=path).eval()
    assert extractor.norm == "frozen"
    frame = torch.rand(2, 3, S, S)
    mean = torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1)  # nano: inception statistics
    with torch.no_grad():
        expected = model.eval().forward_head(model.forward_features((frame - mean) / 0.5), True)
        stacked = frame.repeat(1, 4, 1, 1).permute(0, 2, 3, 1)  # (B, H, W, 12)
        got = extractor.backbone(extractor.preprocess(stacked))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    assert any("4 RGB frame" in c for c in extractor.pretrained_summary.changes)


def test_pretrained_gray_stack_matches_timm_on_a_gray_frame(tmp_path) -> None:
    model, path = timm_checkpoint(tmp_path, "mobilenetv4_conv_small")  # ImageNet mean/std
    with pytest.warns(UserWarning, match="grayscale"):
        extractor = MobileNetV4Extractor(u8((K, S, S)), "small", pretrained=path).eval()
    gray = torch.rand(2, 1, S, S)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = model.eval().forward_features((gray.expand(-1, 3, -1, -1) - mean) / std)
        got = extractor.backbone.forward_features(extractor.preprocess(gray.repeat(1, K, 1, 1)))
    # Exact up to the per-channel mean offset (std-weighted colour sum), a small difference.
    assert (got - expected).norm() / expected.norm() < 0.04  # 0.021 measured


@pytest.mark.parametrize(("frames", "channels"), [(4, 1), (2, 3), (1, 1)])
def test_classifier_and_extractor_build_the_same_stem(frames: int, channels: int, tmp_path) -> None:
    """One stem rule: create_model(frame_channels=c) and the extractor adapt a checkpoint alike."""
    _, path = timm_checkpoint(tmp_path, "mobilenetv4_conv_small")
    with pytest.warns(UserWarning, match="frame rule" if frames * channels != 3 else "loaded"):
        extractor = MobileNetV4Extractor(u8((frames * channels, S, S)), "small", pretrained=path)
    in_channels = frames * channels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = create_model("small", in_channels, 0, pretrained=path, frame_channels=channels)
    stem = model.stem.conv.weight
    assert torch.equal(extractor.backbone.stem.conv.weight, stem)
    assert model.pretrained_summary.stem == extractor.pretrained_summary.stem
    if in_channels != 3:
        assert "frame rule" in model.pretrained_summary.stem


def test_ortho_init_leaves_backbone_alone(tmp_path) -> None:
    extractor = MobileNetV4Extractor(u8((K, S, S)))
    backbone = {k: v.clone() for k, v in extractor.backbone.state_dict().items()}
    projection = extractor.projection[0].weight.clone()
    extractor.apply(partial(ActorCriticPolicy.init_weights, gain=np.sqrt(2)))
    for key, value in extractor.backbone.state_dict().items():
        assert torch.equal(value, backbone[key]), key
    assert not torch.equal(extractor.projection[0].weight, projection)


def test_combined_extractor_for_dict_spaces() -> None:
    space = spaces.Dict(
        {
            "pixels": u8((K, S, S, 3)),
            "state": spaces.Box(-1.0, 1.0, (5,), np.float32),
            "mode": spaces.Discrete(3),
        }
    )
    extractor = MobileNetV4CombinedExtractor(space, cnn_output_dim=64)
    assert extractor.image_keys == ["pixels"]
    assert extractor.features_dim == 64 + 5 + 3
    obs = {k: torch.as_tensor(np.stack([s.sample() for _ in range(2)])) for k, s in space.items()}
    out = extractor(preprocess_obs(obs, space))
    assert out.shape == (2, 72)
    out.sum().backward()


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("space", "kwargs", "error", "match"),
    [
        (spaces.Discrete(4), {}, TypeError, "needs a gymnasium.spaces.Box"),
        (spaces.Dict({"a": u8((4, 64, 64))}), {}, TypeError, "MobileNetV4CombinedExtractor"),
        (f32((8,)), {}, ValueError, "is not an image"),
        (u8((4, 16, 16)), {}, ValueError, r"at least 32.*ResizeObservation"),
        (u8((84, 84, 4)), {"frame_channels": 3}, ValueError, "expected k\\*1 or k\\*3"),
        (u8((4, 64, 64, 4)), {}, ValueError, "in_channels=16"),
        (u8((4, 64, 64, 3)), {"in_channels": 4}, ValueError, "has 12 channels"),
        (u8((64, 2, 64)), {}, ValueError, "layout='chw'"),
        (u8((4, 64, 64)), {"layout": "khwc"}, ValueError, r"\(k, H, W, c\)"),
        (u8((4, 64, 64)), {"layout": "nhwc"}, ValueError, "known: 'auto', 'chw'"),
        (u8((4, 64, 64)), {"encoder": "tiny"}, ValueError, "unknown encoder 'tiny'"),
        (u8((4, 64, 64)), {"norm": "layer"}, ValueError, "unknown norm"),
        (u8((4, 64, 64)), {"features_dim": 0}, ValueError, "features_dim must be a positive"),
        (
            u8((4, 64, 64)),
            {"drop_path_rate": 1.0},
            ValueError,
            r"drop_path_rate must be in \[0, 1\)",
        ),
    ],
)
def test_bad_input_raises_a_clear_error(space, kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        MobileNetV4Extractor(space, **kwargs)


def test_explicit_in_channels_accepts_rgba_frames() -> None:
    extractor = MobileNetV4Extractor(u8((2, S, S, 4)), in_channels=8)
    assert extractor(torch.rand(1, 2, S, S, 4) * 255).shape == (1, 512)


def test_combined_extractor_errors() -> None:
    with pytest.raises(TypeError, match="use MobileNetV4Extractor"):
        MobileNetV4CombinedExtractor(u8((4, 64, 64)))
    with pytest.raises(ValueError, match="no image key"):
        MobileNetV4CombinedExtractor(spaces.Dict({"s": f32((3,))}))


def test_backbone_weights_match_checkpoint_after_loading(tmp_path) -> None:
    model, path = timm_checkpoint(tmp_path)
    with pytest.warns(UserWarning):
        extractor = MobileNetV4Extractor(u8((3, S, S)), pretrained=path)
    expected = convert_timm_state_dict(model.state_dict())
    for key, value in extractor.backbone.state_dict().items():
        torch.testing.assert_close(value, expected[key], rtol=0, atol=0, msg=key)
