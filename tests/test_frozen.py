"""A frozen pretrained encoder as an observation transform: the core encoder, the gymnasium
wrapper, SB3's VecFrozenEncoder inside real PPO / DQN / SAC, save/load in a fresh process, and
every bad input's error."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from helpers import SIZE, ColourEnv, timm_checkpoint
from stable_baselines3 import DQN, PPO, SAC
from stable_baselines3.common.vec_env import (
    DummyVecEnv,
    VecFrameStack,
    VecNormalize,
    VecTransposeImage,
)

from mnv4_rl.frozen import FeatureStack, FrozenFrameEncoder
from mnv4_rl.sb3 import VecFrozenEncoder, frozen_policy_kwargs
from mnv4_rl.wrappers import FrozenEncoderObservation

TESTS = Path(__file__).parent
RGB = gym.spaces.Box(0, 255, (SIZE, SIZE, 3), np.uint8)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> tuple[torch.nn.Module, Path]:
    """timm's conv_small_050 (our "nano") with non-trivial BatchNorm statistics, saved."""
    model, path = timm_checkpoint(tmp_path_factory.mktemp("ckpt"))
    return model.eval(), path


def _frames(n: int, shape=(SIZE, SIZE, 3), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8)


def _timm_features(model, frames_nchw: torch.Tensor, layer: int | None = None) -> np.ndarray:
    """The timm network's own output on [0, 1] frames normalised with its checkpoint's
    statistics (conv_small_050: mean 0.5, std 0.5)."""
    x = (frames_nchw.float() / 255.0 - 0.5) / 0.5
    with torch.no_grad():
        if layer is None:
            return model.forward_head(model.forward_features(x), pre_logits=True).numpy()
        x = model.bn1(model.conv_stem(x))
        for stage in model.blocks[: layer + 1]:
            x = stage(x)
        return x.mean(dim=(2, 3)).numpy()


def _quiet(**kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return FrozenFrameEncoder(**kwargs)


# ------------------------------------------------------------------------------------ features
def test_features_equal_the_pretrained_network_s_own_output(checkpoint) -> None:
    model, path = checkpoint
    encoder = _quiet(observation_space=RGB, encoder="nano", pretrained=path)
    frames = _frames(4)
    ours = encoder.encode(frames)
    theirs = _timm_features(model, torch.from_numpy(frames).permute(0, 3, 1, 2))
    assert ours.shape == (4, 1280) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)
    # An earlier stage, pooled: timm's own stage output averaged.
    stage = _quiet(observation_space=RGB, encoder="nano", pretrained=path, layer="blocks.2")
    theirs = _timm_features(model, torch.from_numpy(frames).permute(0, 3, 1, 2), layer=2)
    np.testing.assert_allclose(stage.encode(frames), theirs, rtol=1e-4, atol=1e-4)
    flat = _quiet(observation_space=RGB, encoder="nano", pretrained=path, layer=1, pool="flatten")
    assert flat.features_dim == 32 * (SIZE // 8) ** 2  # blocks.1 of conv_small_050: 32ch, /8


def test_channel_first_and_grey_frames_use_the_frame_rules(checkpoint) -> None:
    model, path = checkpoint
    frames = _frames(2)
    hwc = _quiet(observation_space=RGB, encoder="nano", pretrained=path)
    chw_space = gym.spaces.Box(0, 255, (3, SIZE, SIZE), np.uint8)
    chw = _quiet(observation_space=chw_space, encoder="nano", pretrained=path)
    np.testing.assert_allclose(
        chw.encode(frames.transpose(0, 3, 1, 2)), hwc.encode(frames), rtol=1e-5, atol=1e-5
    )
    # A grey frame gets the frame stem rule: the same response as the same grey RGB frame.
    grey = np.repeat(_frames(2, (SIZE, SIZE, 1)), 3, axis=-1)
    grey_space = gym.spaces.Box(0, 255, (SIZE, SIZE, 1), np.uint8)
    with pytest.warns(UserWarning, match="grayscale"):
        one_channel = FrozenFrameEncoder(grey_space, "nano", pretrained=path)
    np.testing.assert_allclose(
        one_channel.encode(grey[..., :1]), hwc.encode(grey), rtol=1e-3, atol=1e-3
    )


def test_bn_is_fused_once_and_nothing_trains(checkpoint) -> None:
    _, path = checkpoint
    encoder = _quiet(observation_space=RGB, encoder="nano", pretrained=path)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in encoder.net.modules())
    assert not any(p.requires_grad for p in encoder.net.parameters())
    assert not encoder.net.training


def test_feature_stack_matches_vec_frame_stack_on_vectors() -> None:
    """The late-fusion stack keeps vectors as VecFrameStack keeps frames: oldest first, zeros
    before the first, reset for the envs that are done, terminal stacks from the old vectors."""
    stack = FeatureStack(2, 3, 2)
    first = stack.reset(np.array([[1, 1], [2, 2]], np.float32))
    assert first.tolist() == [[0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 2, 2]]
    out, _ = stack.step(np.array([[3, 3], [4, 4]], np.float32), np.array([False, False]))
    assert out.tolist() == [[0, 0, 1, 1, 3, 3], [0, 0, 2, 2, 4, 4]]
    assert first.tolist()[0] == [0, 0, 0, 0, 1, 1]  # earlier results are not overwritten
    out, ended = stack.step(
        np.array([[5, 5], [6, 6]], np.float32),
        np.array([False, True]),
        {1: np.array([9, 9], np.float32)},
    )
    assert out.tolist() == [[1, 1, 3, 3, 5, 5], [0, 0, 0, 0, 6, 6]]
    assert ended[1].tolist() == [2, 2, 4, 4, 9, 9]


# ------------------------------------------------------------------------------- the wrappers
def test_vec_wrapper_encodes_each_frame_once_and_stacks_like_vec_frame_stack(checkpoint) -> None:
    _, path = checkpoint
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        venv = VecFrozenEncoder(DummyVecEnv([ColourEnv] * 2), "nano", pretrained=path, n_stack=3)
    reference = VecFrameStack(DummyVecEnv([ColourEnv] * 2), n_stack=3)  # frames, same seeds
    venv.seed(1), reference.seed(1)
    calls = []
    original = venv.encoder.encode
    venv.encoder.encode = lambda frames: calls.append(len(frames)) or original(frames)

    def encoded_stack(stacked: np.ndarray) -> np.ndarray:
        frames = stacked.reshape(len(stacked), SIZE, SIZE, 3, 3).transpose(0, 3, 1, 2, 4)
        vectors = original(frames.reshape(-1, SIZE, SIZE, 3)).reshape(len(stacked), 3, -1)
        blank = original(np.zeros((1, SIZE, SIZE, 3), np.uint8))[0]
        vectors[np.all(frames.reshape(len(stacked), 3, -1) == 0, axis=2)] = 0.0
        assert not np.allclose(blank, 0.0)  # zeros must come from padding, not black frames
        return vectors.reshape(len(stacked), -1)

    obs, ref = venv.reset(), reference.reset()
    assert obs.shape == (2, 3 * 1280) and venv.observation_space.shape == (3 * 1280,)
    np.testing.assert_allclose(obs, encoded_stack(ref), rtol=1e-5, atol=1e-5)
    for step in range(18):  # ColourEnv truncates at 16 steps: one episode end per env
        actions = np.array([step % 2, 1])
        obs, _, dones, infos = venv.step(actions)
        ref, _, ref_dones, ref_infos = reference.step(actions)
        assert (dones == ref_dones).all()
        np.testing.assert_allclose(obs, encoded_stack(ref), rtol=1e-5, atol=1e-5)
        for info, ref_info in zip(infos, ref_infos, strict=True):
            if "terminal_observation" in ref_info:
                terminal = encoded_stack(ref_info["terminal_observation"][None])[0]
                np.testing.assert_allclose(info["terminal_observation"], terminal, atol=1e-5)
    assert calls[0] == 2 and max(calls[1:]) <= 4  # one forward per step; ends join the batch


def test_gym_wrapper_shares_the_implementation(checkpoint) -> None:
    _, path = checkpoint
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = FrozenEncoderObservation(ColourEnv(), "nano", pretrained=path, n_stack=2)
    obs, _ = env.reset(seed=3)
    frame = env.env.unwrapped._obs()
    vector = env.encode(frame[None])[0]
    assert obs.shape == (2560,) and env.observation_space.contains(obs)
    np.testing.assert_allclose(obs, np.concatenate([np.zeros(1280, np.float32), vector]))
    obs2, *_ = env.step(1)
    np.testing.assert_allclose(obs2[:1280], vector)
    obs3, _ = env.reset()
    assert np.all(obs3[:1280] == 0.0)


@pytest.mark.parametrize("algo", [PPO, DQN, SAC])
def test_sb3_algorithms_train_on_the_features(checkpoint, algo, tmp_path: Path) -> None:
    _, path = checkpoint
    continuous = algo is SAC
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        venv = VecFrozenEncoder(
            DummyVecEnv([lambda: ColourEnv(continuous=continuous)] * 2),
            "nano",
            pretrained=path,
            n_stack=2,
            dtype=np.float16 if algo is DQN else np.float32,  # half the replay memory
        )
    kwargs = {
        PPO: dict(n_steps=16, batch_size=16, n_epochs=1),
        DQN: dict(learning_starts=8, buffer_size=200, batch_size=8, train_freq=4),
        SAC: dict(learning_starts=8, buffer_size=200, batch_size=8, train_freq=4),
    }[algo]
    model = algo(
        "MlpPolicy",
        VecNormalize(venv, norm_reward=False),  # wrappers on top are fine
        policy_kwargs=frozen_policy_kwargs(algo.__name__.lower(), features_dim=32),
        seed=0,
        **kwargs,
    )
    model.learn(48)
    if algo is DQN:
        assert model.replay_buffer.observations.dtype == np.float16
    obs = venv.reset()
    actions, _ = model.predict(model.get_env().normalize_obs(obs), deterministic=True)
    assert actions.shape[0] == 2


# ---------------------------------------------------------------------------------- save/load
def test_saved_wrapper_reloads_in_a_fresh_process_without_the_checkpoint(
    checkpoint, tmp_path: Path
) -> None:
    model, path = checkpoint
    weights = tmp_path / "weights.pth"
    weights.write_bytes(Path(path).read_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        venv = VecFrozenEncoder(
            DummyVecEnv([ColourEnv]), "nano", pretrained=weights, n_stack=2, layer="blocks.3"
        )
    saved = tmp_path / "frozen.pt"
    venv.save(saved)
    weights.unlink()  # the original pretrained file is gone
    frames = _frames(3)
    np.save(tmp_path / "frames.npy", frames)
    np.save(tmp_path / "expected.npy", venv.encode(frames))
    script = textwrap.dedent(
        f"""
        import sys, numpy as np
        sys.path.insert(0, {str(TESTS)!r})
        from helpers import ColourEnv
        from stable_baselines3.common.vec_env import DummyVecEnv
        from mnv4_rl.sb3 import VecFrozenEncoder
        venv = VecFrozenEncoder.load({str(saved)!r}, DummyVecEnv([ColourEnv]))
        assert venv.n_stack == 2 and venv.encoder.layer == "blocks.3"
        got = venv.encode(np.load({str(tmp_path / "frames.npy")!r}))
        expected = np.load({str(tmp_path / "expected.npy")!r})
        # Same weights, another process: equal up to float rounding of its thread schedule.
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
        assert venv.reset().shape == (1, 2 * venv.features_dim)
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-2000:]
    # The gymnasium wrapper reads the same file, n_stack included.
    env = FrozenEncoderObservation(ColourEnv(), saved)
    assert env.n_stack == 2 and env.observation_space.shape == (2 * venv.features_dim,)


# ---------------------------------------------------------------------------------- bad input
def test_bad_inputs_get_errors_that_name_the_fix(checkpoint, tmp_path: Path) -> None:
    _, path = checkpoint
    venv = DummyVecEnv([ColourEnv])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(TypeError, match="Box observation space of image frames"):
            VecFrozenEncoder(DummyVecEnv([lambda: ColourEnv(dict_obs=True)]), pretrained=path)
        vector_env = DummyVecEnv([lambda: gym.make("CartPole-v1")])
        with pytest.raises(ValueError, match="not an image frame"):
            VecFrozenEncoder(vector_env, pretrained=path)
        for bad in (0, -1, 1.5):
            with pytest.raises(ValueError, match="n_stack must be an integer >= 1"):
                VecFrozenEncoder(venv, pretrained=path, n_stack=bad)
            with pytest.raises(ValueError, match="n_stack must be an integer >= 1"):
                FrozenEncoderObservation(ColourEnv(), pretrained=path, n_stack=bad)
        with pytest.raises(ValueError, match=r"layer 'blocks.9' does not exist.*'blocks.4'"):
            VecFrozenEncoder(venv, pretrained=path, layer="blocks.9")
        with pytest.raises(ValueError, match="unknown pool"):
            VecFrozenEncoder(venv, pretrained=path, layer=1, pool="max")
        # On top of VecFrameStack: the order is named, with the n_stack to use instead.
        stacked = VecFrameStack(DummyVecEnv([ColourEnv]), n_stack=4)
        with pytest.raises(ValueError, match="on top of VecFrameStack.*n_stack"):
            VecFrozenEncoder(stacked, pretrained=path)
        with pytest.raises(ValueError, match="on top of VecFrameStack"):
            VecFrozenEncoder(VecTransposeImage(stacked), pretrained=path)
        gym_stack = gym.wrappers.FrameStackObservation(ColourEnv(), 4)
        with pytest.raises(ValueError, match="4 stacked frames.*n_stack=4"):
            FrozenEncoderObservation(gym_stack, pretrained=path)
        # A saved file meets other frames: shape and channel count are both named.
        encoder = VecFrozenEncoder(venv, pretrained=path)
    saved = tmp_path / "frozen.pt"
    encoder.save(saved)
    grey = DummyVecEnv([lambda: gym.wrappers.GrayscaleObservation(ColourEnv(), keep_dim=True)])
    with pytest.raises(ValueError, match=r"shape \(48, 48, 3\).*shape \(48, 48, 1\)"):
        VecFrozenEncoder.load(saved, grey)
    big = DummyVecEnv([lambda: gym.wrappers.ResizeObservation(ColourEnv(), (64, 64))])
    with pytest.raises(ValueError, match="same size, grey/RGB"):
        VecFrozenEncoder.load(saved, big)
    with pytest.raises(ValueError, match="not a saved frozen encoder"):
        VecFrozenEncoder.load(path, venv)  # a checkpoint is not a saved wrapper
    with pytest.raises(ValueError, match="expected a batch of frames of shape"):
        encoder.encode(_frames(1)[0])


# ------------------------------------------------------------------------------------- export
@pytest.mark.parametrize("suffix", [".onnx", ".pt"])
def test_exported_program_acts_as_predict_on_the_wrapper_s_features(
    checkpoint, suffix, tmp_path: Path
) -> None:
    """One program from the last n_stack raw frames to actions: the same actions as
    model.predict on VecFrozenEncoder's features, episode starts (zero padding) included."""
    from mnv4_rl.export import export_policy
    from mnv4_rl.export.formats import format_for

    _, path = checkpoint
    grey = lambda: gym.wrappers.GrayscaleObservation(ColourEnv(), keep_dim=True)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        venv = VecFrozenEncoder(DummyVecEnv([grey] * 2), "nano", pretrained=path, n_stack=3)
    model = PPO(
        "MlpPolicy", venv, n_steps=16, batch_size=16, n_epochs=1, seed=0,
        policy_kwargs=frozen_policy_kwargs(features_dim=16),
    )  # fmt: skip
    model.learn(32)
    saved = tmp_path / "frozen.pt"
    venv.save(saved)
    out = export_policy(model, tmp_path / f"policy{suffix}", frozen_encoder=saved)

    # Play both side by side: frames kept by hand as FrameStackObservation(3, zeros) would.
    venv.seed(5)
    obs = venv.reset()
    frames = np.zeros((2, 3, SIZE, SIZE), np.uint8)
    frames[:, -1] = np.stack([e.observation(e.env._obs()) for e in venv.venv.envs])[..., 0]
    for _ in range(20):
        expected, _ = model.predict(obs, deterministic=True)
        got = format_for(out).run(out, torch.from_numpy(frames))[0]
        assert np.array_equal(np.asarray(got).ravel(), expected)
        obs, _, dones, infos = venv.step(expected)
        frames = np.roll(frames, -1, axis=1)
        for i, env in enumerate(venv.venv.envs):
            if dones[i]:
                frames[i] = 0
            frames[i, -1] = env.observation(env.env._obs())[..., 0]
    with pytest.raises(ValueError, match="gives 2 x 1280"):
        wrong = VecFrozenEncoder(DummyVecEnv([grey]), FrozenFrameEncoder.load(saved), n_stack=2)
        export_policy(model, tmp_path / "wrong.onnx", frozen_encoder=wrong)
