"""Exported policies act as the trained ones: every format, every algorithm, every variant.

Each file is run by its own runtime (ONNX Runtime, ``torch.jit.load``, ``torch.export.load``,
ExecuTorch) on real Atari observations (SB3's pipeline on ale-py) at batch sizes 1 and 7, and
compared with ``model.predict(obs, deterministic=True)`` and the policy's own logits / Q-values.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import ale_py
import gymnasium as gym
import numpy as np
import onnxruntime
import pytest
import torch
from helpers import colour_vec_env
from sb3_contrib import QRDQN, RecurrentPPO
from stable_baselines3 import DQN, PPO, SAC
from stable_baselines3.common.env_util import make_atari_env
from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack

from mnv4_rl import create_model, list_models
from mnv4_rl.export import OPTIONS_KEY, export_policy, read_metadata
from mnv4_rl.export.cli import main as export_main
from mnv4_rl.rllib import mnv4_module_spec
from mnv4_rl.sb3 import encoder_policy_kwargs, mnv4_policy_kwargs

gym.register_envs(ale_py)
ROOT = Path(__file__).resolve().parents[1]
FORMATS = (".onnx", ".pt", ".pt2", ".pte")


def run_file(path: Path, obs: np.ndarray) -> list[np.ndarray]:
    """The exported file run by its own runtime."""
    if path.suffix == ".onnx":
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {"obs": obs})
    tensor = torch.from_numpy(np.ascontiguousarray(obs))  # ExecuTorch ignores strides
    if path.suffix == ".pt":
        out = torch.jit.load(str(path))(tensor)
    elif path.suffix == ".pt2":
        out = torch.export.load(str(path)).module()(tensor)
    else:
        from executorch.runtime import Runtime

        out = Runtime.get().load_program(str(path)).load_method("forward").execute([tensor])
    return [o.detach().numpy() for o in out]


@pytest.fixture(scope="module")
def atari_obs() -> np.ndarray:
    """Seven real Pong observations from SB3's pipeline, as the policy sees them (4, 84, 84)."""
    env = VecFrameStack(make_atari_env("PongNoFrameskip-v4", n_envs=1, seed=0), n_stack=4)
    env.reset()
    frames = []
    rng = np.random.default_rng(0)
    for step in range(70):
        obs, *_ = env.step(rng.integers(0, 6, size=1))
        if step % 10 == 9:
            frames.append(obs[0].transpose(2, 0, 1))
    env.close()
    return np.stack(frames)


def _sharpen(model) -> None:
    """Scale the output heads so that no two actions tie within float noise (untrained heads
    start near zero); the test is about the export, not about learning."""
    policy = model.policy
    heads = {
        PPO: lambda: [policy.action_net],
        DQN: lambda: [policy.q_net.q_net[-1]],
        QRDQN: lambda: [policy.quantile_net.quantile_net[-1]],
    }[type(model)]()
    with torch.no_grad():
        for head in heads:
            head.weight.mul_(200.0)


def _atari_model(algo, encoder: str, norm: str = "frozen"):
    env = VecFrameStack(make_atari_env("PongNoFrameskip-v4", n_envs=1, seed=0), n_stack=4)
    short = {"buffer_size": 100} if algo is not PPO else {}
    kwargs = encoder_policy_kwargs(encoder, algo.__name__.lower(), norm=norm)
    model = algo("CnnPolicy", env, policy_kwargs=kwargs, seed=0, **short)
    _sharpen(model)
    return model


def _policy_scores(model, obs: np.ndarray) -> np.ndarray:
    """The policy's own logits (before softmax) or (mean) Q-values, in eager PyTorch."""
    policy = model.policy
    tensor = policy.obs_to_tensor(obs)[0]
    with torch.no_grad():
        if isinstance(model, PPO):
            latent = policy.mlp_extractor.forward_actor(policy.extract_features(tensor))
            return policy.action_net(latent).numpy()
        if isinstance(model, DQN):
            return policy.q_net(tensor).numpy()
        return policy.quantile_net(tensor).mean(dim=1).numpy()


@pytest.mark.parametrize("suffix", FORMATS)
@pytest.mark.parametrize(
    ("algo", "extra"), [(PPO, "logits"), (DQN, "q_values"), (QRDQN, "q_values")]
)
def test_discrete_policies_act_the_same_in_every_format(
    algo, extra, suffix, atari_obs, tmp_path
) -> None:
    # PPO with GroupNorm (the from-scratch default: it stays a norm layer), the others with
    # BatchNorm fused into the convolutions.
    model = _atari_model(algo, "nano_rl", norm="group" if algo is PPO else "frozen")
    path = export_policy(model, tmp_path / f"policy{suffix}", outputs=[extra])
    expected_scores = _policy_scores(model, atari_obs)
    for batch in (1, 7):
        obs = atari_obs[:batch]
        actions, scores = run_file(path, obs)
        np.testing.assert_array_equal(actions, model.predict(obs, deterministic=True)[0])
        relative = np.abs(scores - expected_scores[:batch]).max() / np.abs(expected_scores).max()
        assert relative < 1e-4, relative


@pytest.mark.parametrize("variant", ["conv_small", "hybrid_medium"])
def test_group_norms_export_in_onnx_runtimes_form(variant: str, atari_obs, tmp_path) -> None:
    """From scratch (GroupNorm), the ONNX graph has each norm as constant reshapes, an
    InstanceNormalization and one BatchNormalization for the affine, and computes the same."""
    import onnx

    model = _atari_model(PPO, variant, norm="group")
    norms = [m for m in model.policy.modules() if isinstance(m, torch.nn.GroupNorm)]
    with torch.no_grad():  # an affine that is not the identity, so that a mix-up shows
        for norm in norms:
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.5, 0.5)
    path = export_policy(model, tmp_path / "policy.onnx", outputs=["logits"])
    graph = onnx.load(str(path)).graph
    producer = {out: node for node in graph.node for out in node.output}
    constants = {i.name for i in graph.initializer} | {
        out for node in graph.node if node.op_type == "Constant" for out in node.output
    }
    for op in ("InstanceNormalization", "BatchNormalization"):
        nodes = [node for node in graph.node if node.op_type == op]
        assert len(nodes) == len(norms), op
        for node in nodes:  # each fed by a Reshape to a constant shape
            reshape = producer[node.input[0]]
            assert reshape.op_type == "Reshape" and reshape.input[1] in constants, op
    expected = _policy_scores(model, atari_obs)
    for batch in (1, 7):
        actions, logits = run_file(path, atari_obs[:batch])
        np.testing.assert_array_equal(
            actions, model.predict(atari_obs[:batch], deterministic=True)[0]
        )
        relative = np.abs(logits - expected[:batch]).max() / np.abs(expected).max()
        assert relative < 1e-4, relative


def test_sb3_program_compiles_as_one_graph(atari_obs) -> None:
    """SB3 decides /255 with numpy on every call; the program decides it once, so that
    ``torch.compile`` sees one graph (the "torch compiled" column of the latency benchmark)."""
    from mnv4_rl.export import policy_program

    model = _atari_model(PPO, "conv_small", norm="group")
    program, _ = policy_program(model, outputs=("logits",))
    explanation = torch._dynamo.explain(program)(torch.from_numpy(atari_obs[:1]))
    assert explanation.graph_break_count == 0, explanation.break_reasons
    torch._dynamo.reset()


def test_sac_actor_exports_the_rescaled_mean(tmp_path) -> None:
    env = colour_vec_env("hwc", n_envs=1, continuous=True)
    model = SAC(
        "CnnPolicy",
        env,
        policy_kwargs=mnv4_policy_kwargs("nano_rl", "sac", features_dim=32, norm="frozen"),
        buffer_size=100,
    )
    obs = np.stack([model.observation_space.sample() for _ in range(7)])
    for suffix in FORMATS:
        (actions,) = run_file(export_policy(model, tmp_path / f"sac{suffix}"), obs)
        np.testing.assert_allclose(
            actions, model.predict(obs, deterministic=True)[0], rtol=1e-4, atol=1e-5
        )


def test_ppo_box_actions_are_the_clipped_mean_and_values_come_along(tmp_path) -> None:
    env = colour_vec_env("chw", n_envs=1, continuous=True)
    model = PPO(
        "CnnPolicy",
        env,
        policy_kwargs=mnv4_policy_kwargs("nano_rl", features_dim=32, norm="frozen"),
    )
    with torch.no_grad():
        model.policy.action_net.weight.mul_(500.0)  # means beyond the bounds: clipping shows
    obs = np.stack([model.observation_space.sample() for _ in range(7)])
    actions, values = run_file(export_policy(model, tmp_path / "ppo.onnx", outputs=["values"]), obs)
    np.testing.assert_allclose(
        actions, model.predict(obs, deterministic=True)[0], rtol=1e-4, atol=1e-5
    )
    assert np.abs(actions).max() == 1.0  # clipped to the Box
    with torch.no_grad():
        expected = model.policy.predict_values(model.policy.obs_to_tensor(obs)[0]).numpy().ravel()
    np.testing.assert_allclose(values, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("variant", list_models())
def test_every_variant_exports(variant: str, tmp_path) -> None:
    """Every family member, the Mobile MQA hybrids included, as a policy encoder (checked by
    ONNX Runtime inside export_policy) and as a classifier."""
    env = colour_vec_env("chw", n_envs=1)
    kwargs = encoder_policy_kwargs(variant, "dqn", features_dim=16, norm="frozen")
    export_policy(DQN("CnnPolicy", env, policy_kwargs=kwargs, buffer_size=10), tmp_path / "p.onnx")
    export_policy(create_model(variant, num_classes=5).eval(), tmp_path / "c.onnx", image_size=64)


def test_rllib_module_and_checkpoint_export(tmp_path, monkeypatch) -> None:
    space = gym.spaces.Box(-1.0, 1.0, (64, 64, 4), np.float32)  # RLlib's Atari frames
    module = mnv4_module_spec(
        "nano_rl", features_dim=32, observation_space=space, action_space=gym.spaces.Discrete(6)
    ).build()
    with torch.no_grad():
        module.pi.weight.mul_(200.0)
    module.save_to_path(str((tmp_path / "module").resolve()))
    obs = np.stack([space.sample() for _ in range(7)])
    from ray.rllib.core.columns import Columns

    with torch.no_grad():
        logits = module.forward_inference({Columns.OBS: torch.as_tensor(obs)})[
            Columns.ACTION_DIST_INPUTS
        ]
    for source in (module, tmp_path / "module"):
        actions, values = run_file(
            export_policy(source, tmp_path / "rllib.pt2", outputs=["values"]), obs
        )
        np.testing.assert_array_equal(actions, logits.argmax(-1).numpy())
        assert values.shape == (7,)
    # A relative checkpoint path, as the README's command gives it (pyarrow took a relative
    # path for a URI with no scheme), through the CLI.
    monkeypatch.chdir(tmp_path)
    export_main(["module", "--out", "relative.pt", "--outputs", "values"])
    actions, _ = run_file(tmp_path / "relative.pt", obs)
    np.testing.assert_array_equal(actions, logits.argmax(-1).numpy())
    with pytest.raises(ValueError, match="holds no RLModule"):
        export_policy(tmp_path, tmp_path / "p.onnx")
    with pytest.raises(ValueError, match="drop channel_last"):
        export_policy(module, tmp_path / "p.onnx", channel_last=True)


@pytest.fixture(scope="module")
def saved_ppo(tmp_path_factory) -> tuple[Path, np.ndarray, np.ndarray]:
    folder = tmp_path_factory.mktemp("saved")
    env = colour_vec_env("chw", n_envs=1)
    model = PPO(
        "CnnPolicy",
        env,
        policy_kwargs=mnv4_policy_kwargs("nano_rl", features_dim=32),
        n_steps=16,
        batch_size=16,
    )
    _sharpen(model)
    model.save(folder / "ppo.zip")
    obs = np.stack([model.observation_space.sample() for _ in range(5)])
    return folder / "ppo.zip", obs, model.predict(obs, deterministic=True)[0]


def test_cli_round_trip_and_torchscript_without_the_package(saved_ppo, tmp_path) -> None:
    path, obs, expected = saved_ppo
    for out in ("p.onnx", "p.pt"):
        done = subprocess.run(
            [sys.executable, "-m", "mnv4_rl.export.cli", str(path), "--algo", "ppo", "--out", str(tmp_path / out)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0 and "wrote" in done.stdout, done.stderr[-2000:]
    np.testing.assert_array_equal(run_file(tmp_path / "p.onnx", obs)[0], expected)
    np.save(tmp_path / "obs.npy", obs)
    code = (
        "import sys; sys.modules['mnv4_rl'] = None; sys.modules['stable_baselines3'] = None\n"
        "import numpy as np, torch\n"
        f"program = torch.jit.load({str(tmp_path / 'p.pt')!r})\n"
        f"print(program(torch.from_numpy(np.load({str(tmp_path / 'obs.npy')!r})))[0].tolist())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str(expected.tolist())


def test_clear_errors(saved_ppo, tmp_path) -> None:
    path, _, _ = saved_ppo
    with pytest.raises(
        ValueError, match="unknown algorithm 'td3'; known: ppo, a2c, dqn, qrdqn, sac"
    ):
        export_policy(path, tmp_path / "p.onnx", algo="td3")
    (tmp_path / "notes.zip").write_bytes(b"PK\x05\x06" + b"\x00" * 18)  # an empty zip
    with pytest.raises(ValueError, match="not an SB3 model zip"):
        export_policy(tmp_path / "notes.zip", tmp_path / "p.onnx", algo="ppo")
    with pytest.raises(ValueError, match="pass algo="):
        export_policy(path, tmp_path / "p.onnx")
    with pytest.raises(ValueError, match="unknown export format '.tflite'"):
        export_policy(path, tmp_path / "p.tflite", algo="ppo")
    recurrent = RecurrentPPO(
        "CnnLstmPolicy", colour_vec_env("chw", n_envs=1), n_steps=8, batch_size=8
    )
    with pytest.raises(ValueError, match="cannot export a RecurrentPPO"):
        export_policy(recurrent, tmp_path / "r.onnx")
    dict_env = DummyVecEnv([lambda: __import__("helpers").ColourEnv(dict_obs=True)])
    with pytest.raises(ValueError, match="Dict observation space"):
        export_policy(
            PPO("MultiInputPolicy", dict_env, n_steps=8, batch_size=8), tmp_path / "d.onnx"
        )
    # A format whose runtime is missing names the extra to install.
    code = (
        "import sys; sys.modules['executorch'] = None\n"
        "from mnv4_rl.export import export_policy\n"
        f"export_policy({str(path)!r}, {str(tmp_path / 'p.pte')!r}, algo='ppo')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert "pip install 'mnv4_rl[executorch]'" in done.stderr


def test_play_exported_plays_atari_without_torch(tmp_path) -> None:
    model = _atari_model(PPO, "nano_rl")
    policy = export_policy(model, tmp_path / "pong.onnx")
    code = (
        "import runpy, sys; sys.modules['torch'] = None\n"
        "sys.argv = sys.argv[1:]\n"
        "runpy.run_path(sys.argv[0], run_name='__main__')\n"
        "assert not any(m == 'torch' or m.startswith('torch.') for m, v in sys.modules.items() if v is not None)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "examples" / "play_exported.py"), str(policy),
         "--env", "Pong", "--max-steps", "300"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "game 1: score" in done.stdout and "policy latency per step: median" in done.stdout


FRAMEWORKS = ("stable_baselines3", "sb3_contrib", "ray", "gymnasium")


def test_export_imports_no_framework_and_exports_a_classifier_without_them(tmp_path) -> None:
    """``mnv4_rl.export`` imports neither SB3 nor ray; with both (and gymnasium) missing, a
    classifier still exports, and a saved policy names the extra to install."""
    code = (
        "import sys\n"
        "import mnv4_rl.export\n"
        f"loaded = [m for m in sys.modules if m.split('.')[0] in {FRAMEWORKS!r}]\n"
        "assert not loaded, loaded\n"
        f"for name in {FRAMEWORKS!r}:  # as if not installed\n"
        "    sys.modules[name] = None\n"
        "from mnv4_rl import create_model\n"
        "from mnv4_rl.export import export_policy\n"
        "model = create_model('conv_small_035', num_classes=5).eval()\n"
        "print(export_policy(model, 'c.onnx', image_size=64))\n"
        "open('policy.zip', 'wb').write(b'PK')\n"
        "try:\n"
        "    export_policy('policy.zip', 'p.onnx', algo='ppo')\n"
        "except ValueError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "c.onnx").is_file()
    assert "pip install 'mnv4_rl[sb3]'" in done.stdout and "no adapter opens" in done.stdout


def test_programs_are_chosen_by_type_not_by_attributes(tmp_path) -> None:
    """An object that merely looks like an SB3 algorithm (``policy``, ``predict``) is refused."""

    class LooksLikeSB3:
        policy = None

        def predict(self, obs):
            return obs

    with pytest.raises(TypeError, match="cannot export a LooksLikeSB3"):
        export_policy(LooksLikeSB3(), tmp_path / "p.onnx")


def test_exported_files_record_the_encoder_options(tmp_path) -> None:
    """The options an encoder was built with travel into the exported file's metadata."""
    import json

    kwargs = encoder_policy_kwargs("nano", "ppo", features_dim=16, augment="shift")
    model = PPO("CnnPolicy", colour_vec_env("chw"), n_steps=16, batch_size=16, policy_kwargs=kwargs)
    for suffix in (".onnx", ".pt", ".pt2"):
        path = export_policy(model, tmp_path / f"policy{suffix}")
        (record,) = json.loads(read_metadata(path)[OPTIONS_KEY])
        assert (record["encoder"], record["augment"], record["features_dim"]) == (
            "conv_small_050", "shift", 16,
        ), suffix  # fmt: skip
    assert torch.jit.load(str(tmp_path / "policy.pt"))(torch.zeros(1, 6, 48, 48))[0].shape == (1,)
    nature = PPO("CnnPolicy", colour_vec_env("chw"), n_steps=16, batch_size=16)
    assert read_metadata(export_policy(nature, tmp_path / "nature.onnx")) == {}
