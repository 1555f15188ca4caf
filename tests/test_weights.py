"""The timm checkpoint loader, tested with checkpoints written here from timm models (no downloads)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import timm
import torch
from conftest import relative_error
from safetensors.torch import save_file

import mnv4_rl
from mnv4_rl import create_model, load_timm_weights
from mnv4_rl.weights import CheckpointError, WeightsNotFoundError, is_hub_id


@pytest.fixture(scope="module")
def timm_nano() -> torch.nn.Module:
    torch.manual_seed(0)
    model = timm.create_model("mobilenetv4_conv_small_050").eval()
    with torch.no_grad():  # non-trivial statistics, so that a wrong mapping would show
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    return model


@pytest.fixture(scope="module")
def checkpoint_files(timm_nano: torch.nn.Module, tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("ckpt")
    state = timm_nano.state_dict()
    files = {
        "safetensors": folder / "model.safetensors",
        "pth": folder / "model.pth",
        "bin": folder / "pytorch_model.bin",
        "wrapped": folder / "train_checkpoint.pth",
    }
    save_file({k: v.contiguous() for k, v in state.items()}, str(files["safetensors"]))
    torch.save(state, files["pth"])
    torch.save(state, files["bin"])
    torch.save({"epoch": 3, "state_dict": state}, files["wrapped"])
    return files


@pytest.mark.parametrize("kind", ["safetensors", "pth", "bin", "wrapped"])
def test_files_load_and_reproduce_timm(kind: str, checkpoint_files: dict, timm_nano) -> None:
    model = create_model("nano", pretrained=checkpoint_files[kind]).eval()
    assert model.pretrained_summary.changes == []
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        assert relative_error(model(x), timm_nano(x)) < 1e-5


def test_state_dict_and_module_sources(timm_nano) -> None:
    for source in (timm_nano.state_dict(), timm_nano):
        model = create_model("nano")
        summary = load_timm_weights(model, source)
        assert summary.loaded == len(timm_nano.state_dict())
    own = create_model("nano")
    load_timm_weights(own, model.state_dict())  # our own key names pass through unchanged
    torch.testing.assert_close(own.state_dict(), model.state_dict())


def test_grayscale_stem_sums_rgb(timm_nano) -> None:
    """A grey image through the 1-channel model = the same grey image as RGB through timm's."""
    with pytest.warns(UserWarning, match="stem, generic rule: RGB kernels summed to 1 channel"):
        model = create_model("nano", in_channels=1, pretrained=timm_nano.state_dict()).eval()
    grey = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        assert relative_error(model(grey), timm_nano(grey.expand(-1, 3, -1, -1))) < 1e-5


def test_frame_stack_stem_repeats_and_rescales(timm_nano) -> None:
    """k input channels: the RGB kernel repeated and scaled by 3/k. For a stack of RGB frames
    (k = 6), two copies of one RGB image give exactly that image's output."""
    with pytest.warns(
        UserWarning, match=r"generic rule: RGB kernel repeated to 6 channels and scaled by 3/6"
    ):
        model = create_model("nano", in_channels=6, pretrained=timm_nano.state_dict()).eval()
    rgb = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert relative_error(model(torch.cat([rgb, rgb], dim=1)), timm_nano(rgb)) < 1e-5
    rgb_kernel = timm_nano.conv_stem.weight.detach()
    with pytest.warns(
        UserWarning, match=r"generic rule: RGB kernel repeated to 4 channels and scaled by 3/4"
    ):
        four = create_model("nano", in_channels=4, pretrained=timm_nano.state_dict())
    expected = torch.cat([rgb_kernel, rgb_kernel[:, :1]], dim=1) * 0.75
    torch.testing.assert_close(four.stem.conv.weight.detach(), expected)


def test_new_classifier_is_reported_and_backbone_kept(timm_nano) -> None:
    with pytest.warns(
        UserWarning, match="classifier re-initialised: checkpoint has 1000 classes, model has 10"
    ):
        model = create_model("nano", num_classes=10, pretrained=timm_nano.state_dict()).eval()
    assert "classifier re-initialised" in str(model.pretrained_summary)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ours = model.forward_head(model.forward_features(x), pre_logits=True)
        theirs = timm_nano.forward_head(timm_nano.forward_features(x), pre_logits=True)
    assert relative_error(ours, theirs) < 1e-5


def test_headless_models_drop_the_head_and_say_so(timm_nano) -> None:
    features = create_model("nano", num_classes=0, pretrained=timm_nano.state_dict())
    assert features.pretrained_summary.changes == ["model has no classifier: dropped 2 tensors"]
    maps = create_model("nano", features_only=True, pretrained=timm_nano.state_dict())
    assert maps.pretrained_summary.changes == [
        "model has no classifier: dropped 2 tensors",
        "model has no head conv (features_only): dropped 6 tensors",
    ]


def test_group_norm_model_reports_ignored_statistics(timm_nano) -> None:
    model = create_model("nano", norm="group", pretrained=timm_nano.state_dict())
    assert model.pretrained_summary.changes == [
        "BatchNorm running statistics ignored (the model uses norm='group')"
    ]


def test_frozen_norm_loads_unchanged(timm_nano) -> None:
    model = create_model("nano", norm="frozen", pretrained=timm_nano.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():  # frozen BN computes the eval-mode function even in train mode
        assert relative_error(model.train()(x), timm_nano(x)) < 1e-5


def test_wrong_variant_names_the_first_mismatch(timm_nano) -> None:
    with pytest.raises(
        ValueError,
        match=r"at 'blocks.0.0.conv.weight': checkpoint \(16, 32, 3, 3\), model \(32, 32, 3, 3\)",
    ):
        load_timm_weights(create_model("conv_small"), timm_nano.state_dict())
    with pytest.raises(ValueError, match="missing key 'blocks.0.0.expand.conv.weight'"):
        load_timm_weights(create_model("conv_medium"), timm_nano.state_dict())


def test_missing_file_says_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(WeightsNotFoundError, match="no checkpoint file at .*nothing.pth"):
        create_model("nano", pretrained=tmp_path / "nothing.pth")


@pytest.mark.parametrize(
    "source", ["weights/nope.safetensors", "runs/last.ckpt", "./nope", "a/b/c", "~/x/y.bin"]
)
def test_missing_local_paths_are_never_taken_for_hub_ids(source: str) -> None:
    """A path with a file suffix or more than one folder fails at once, naming the file (no
    network retries, no download hint)."""
    started = time.perf_counter()
    with pytest.raises(WeightsNotFoundError, match="no checkpoint file at") as caught:
        create_model("nano", pretrained=source)
    assert "huggingface" not in str(caught.value)
    assert time.perf_counter() - started < 5
    assert is_hub_id("timm/mobilenetv4_conv_small.e2400_r224_in1k")
    assert not is_hub_id(source)


def test_bad_checkpoint_files_name_the_file_and_the_fix(tmp_path: Path, timm_nano) -> None:
    good = tmp_path / "good.pth"
    torch.save(timm_nano.state_dict(), good)
    (tmp_path / "truncated.pth").write_bytes(good.read_bytes()[:4096])
    (tmp_path / "empty.pth").write_bytes(b"")
    torch.save(timm_nano, tmp_path / "module.pth")  # a whole pickled nn.Module
    (tmp_path / "bad.safetensors").write_bytes(b"\xff" * 64)
    torch.save({"epoch": 3}, tmp_path / "no_tensors.pth")
    for name, says in (
        ("truncated.pth", "cannot read .*truncated.pth as a PyTorch checkpoint"),
        ("empty.pth", "empty.pth is empty"),
        ("module.pth", "module.pth holds pickled Python objects.*model.state_dict"),
        ("bad.safetensors", "cannot read .*bad.safetensors as a .safetensors file"),
        ("no_tensors.pth", "no_tensors.pth holds a dict with no state dict"),
    ):
        with pytest.raises(CheckpointError, match=says):
            create_model("nano", pretrained=tmp_path / name)


def test_offline_hub_id_names_the_file_and_where_to_put_it(tmp_path: Path) -> None:
    """Offline (as here and in CI), a hub id fails with the URL and the local path to use."""
    code = (
        "import mnv4_rl\n"
        "try:\n"
        "    mnv4_rl.create_model('conv_small', pretrained=True)\n"
        "except mnv4_rl.WeightsNotFoundError as e:\n"
        "    print(e)\n"
    )
    env = {
        "HF_HUB_OFFLINE": "1",
        "MNV4_RL_WEIGHTS": str(tmp_path),
        "HF_HOME": str(tmp_path / "hf"),
        "PATH": "",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    expected_url = "https://huggingface.co/timm/mobilenetv4_conv_small.e2400_r224_in1k/resolve/main/model.safetensors"
    assert expected_url in out.stdout
    assert (
        str(tmp_path / "timm/mobilenetv4_conv_small.e2400_r224_in1k/model.safetensors")
        in out.stdout
    )


def test_hub_id_is_read_from_the_local_cache(tmp_path: Path, timm_nano, monkeypatch) -> None:
    hub_id = mnv4_rl.PRETRAINED["conv_small_050"].hub_id
    target = tmp_path / hub_id / "model.safetensors"
    target.parent.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in timm_nano.state_dict().items()}, str(target))
    monkeypatch.setenv("MNV4_RL_WEIGHTS", str(tmp_path))
    model = create_model("nano", pretrained=True).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert relative_error(model(x), timm_nano(x)) < 1e-5


def test_untrained_variant_has_no_default_weights() -> None:
    with pytest.raises(
        ValueError, match="'conv_small_035' has no pretrained weights.*with weights: conv_small,"
    ):
        create_model("conv_small_035", pretrained=True)
