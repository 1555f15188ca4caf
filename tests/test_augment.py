"""Random-shift augmentation (DrQ): the op, its module, and where it acts inside real SB3 PPO, DQN,
QR-DQN and SAC.

The SB3 tests run on an env of random-noise frames: every pixel differs, so the shift a sample got
can be read back exactly from the augmentation's input and output (:func:`offsets_of`).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from stable_baselines3 import DQN, PPO, SAC
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.torch_layers import NatureCNN
from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor
from torch import nn

from mnv4_rl.augment import (
    AUGMENTATIONS,
    Augmentation,
    RandomShift,
    make_augmentation,
    random_shift,
    set_augmentation_mode,
    strip_augmentations,
)
from mnv4_rl.frames import resolve_layout
from mnv4_rl.sb3.augmented import (
    AugmentedNatureCNN,
    DrQDQNPolicy,
    DrQQRDQNPolicy,
    DrQSACPolicy,
    drq_policy,
)

PAD = 4


def shift_by(x: torch.Tensor, dy: int, dx: int, pad: int = PAD) -> torch.Tensor:
    """The reference: replicate-pad by ``pad``, crop at ``(pad + dy, pad + dx)``; one sample."""
    height, width = x.shape[-2:]
    padded = F.pad(x.float().unsqueeze(0), (pad,) * 4, mode="replicate")[0]
    return padded[..., pad + dy : pad + dy + height, pad + dx : pad + dx + width]


def offsets_of(inputs: torch.Tensor, outputs: torch.Tensor, pad: int = PAD) -> list[tuple]:
    """The ``(dy, dx)`` each sample was shifted by (all its channels together), or None."""
    found = []
    for x, y in zip(inputs, outputs, strict=True):
        match = [
            (dy, dx)
            for dy in range(-pad, pad + 1)
            for dx in range(-pad, pad + 1)
            if torch.equal(shift_by(x, dy, dx, pad), y.float())
        ]
        found.append(match[0] if len(match) == 1 else None)
    return found


# ------------------------------------------------------------------------------------ the op
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_shift_is_replicate_pad_then_crop_per_sample(dtype):
    x = torch.randint(0, 256, (64, 4, 21, 19), dtype=torch.uint8).to(dtype)
    y = random_shift(x, PAD)
    assert y.dtype == dtype and y.shape == x.shape
    offsets = offsets_of(x, y)
    assert None not in offsets  # each sample is one pad-and-crop of itself, all channels alike
    assert len(set(offsets)) > 20  # each sample draws its own shift
    assert {dy for dy, _ in offsets} == set(range(-PAD, PAD + 1))  # the whole range is drawn


def test_constant_image_is_unchanged_and_stack_shares_the_shift():
    constant = torch.full((8, 3, 84, 84), 0.25)
    assert torch.equal(random_shift(constant, PAD), constant)
    # Two identical frames in one stack stay identical: the stack is one image.
    frame = torch.rand(16, 1, 30, 30)
    y = random_shift(torch.cat([frame, frame], 1), PAD)
    assert torch.equal(y[:, :1], y[:, 1:])


def test_module_acts_in_training_mode_only():
    shift = make_augmentation("shift", PAD)
    assert isinstance(shift, RandomShift) and isinstance(shift, Augmentation)
    x = torch.rand(8, 4, 84, 84)
    assert shift.training and not torch.equal(shift(x), x)
    shift.eval()
    assert shift(x) is x
    assert list(shift.state_dict()) == []  # checkpoints do not depend on it


def test_strip_augmentations_replaces_them_with_identity():
    net = nn.Sequential(make_augmentation("shift"), nn.Sequential(RandomShift(2), nn.Flatten()))
    before = net.state_dict()
    assert strip_augmentations(net) == 2
    assert not any(isinstance(m, Augmentation) for m in net.modules())
    assert net.state_dict().keys() == before.keys()
    x = torch.rand(2, 1, 8, 8)
    assert torch.equal(net.train()(x), x.flatten(1))


def test_deterministic_under_the_global_seed():
    x = torch.rand(32, 4, 84, 84)
    torch.manual_seed(7)
    first = random_shift(x, PAD)
    torch.manual_seed(7)
    assert torch.equal(random_shift(x, PAD), first)
    assert not torch.equal(random_shift(x, PAD), first)


def test_pad_zero_and_empty_batch_are_identity():
    x = torch.rand(4, 3, 10, 10)
    assert random_shift(x, 0) is x
    empty = torch.zeros(0, 3, 10, 10)
    assert random_shift(empty, PAD) is empty


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_the_reference():
    x = torch.randint(0, 256, (256, 4, 84, 84), dtype=torch.uint8, device="cuda")
    y = random_shift(x, PAD)
    assert y.device == x.device
    assert None not in offsets_of(x[:16].cpu(), y[:16].cpu())


# ------------------------------------------------------------------------------- bad input
def test_table_and_names():
    assert next(iter(AUGMENTATIONS)) == "shift"
    assert isinstance(make_augmentation(None), nn.Identity)
    assert isinstance(make_augmentation("none"), nn.Identity)
    with pytest.raises(ValueError, match="unknown augmentation 'crop'; known: 'shift'"):
        make_augmentation("crop")


@pytest.mark.parametrize("pad", [-1, 2.5, True, "4"])
def test_pad_must_be_a_non_negative_int(pad):
    with pytest.raises(ValueError, match="pad must be a non-negative integer"):
        make_augmentation("shift", pad)


def test_pad_must_be_smaller_than_the_frame():
    frames = resolve_layout((4, 84, 84))
    assert make_augmentation("shift", 83, frames).pad == 83
    with pytest.raises(ValueError, match=r"pad=84 must be smaller than the frame \(84x84\)"):
        make_augmentation("shift", 84, frames)
    with pytest.raises(ValueError, match="must be smaller than the frame"):
        random_shift(torch.zeros(2, 1, 8, 8), 8)
    with pytest.raises(ValueError, match="apply it after mnv4_rl.frames.FrameInput"):
        random_shift(torch.zeros(2, 8, 8), 1)


def test_non_image_space_names_the_fix():
    vector = gym.spaces.Box(-1.0, 1.0, (8,), np.float32)
    with pytest.raises(ValueError, match="not images; drop augment"):
        AugmentedNatureCNN(vector)


# ------------------------------------------------------------------------- SB3: NatureCNN
def test_augmented_nature_cnn_is_nature_cnn_in_eval_mode():
    space = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    augmented, plain = AugmentedNatureCNN(space), NatureCNN(space)
    assert list(augmented.state_dict()) == list(plain.state_dict())
    plain.load_state_dict(augmented.state_dict())
    x = torch.rand(3, 4, 84, 84)
    augmented.eval()
    assert torch.equal(augmented(x), plain(x))
    augmented.train()
    assert not torch.equal(augmented(x), plain(x))


class NoiseEnv(gym.Env):
    """Random-noise uint8 frames, two channels first (shifts are readable); reward for action 1."""

    def __init__(self, continuous: bool = False, size: int = 36) -> None:
        self.observation_space = gym.spaces.Box(0, 255, (2, size, size), np.uint8)
        self.action_space = (
            gym.spaces.Box(-1.0, 1.0, (1,), np.float32) if continuous else gym.spaces.Discrete(2)
        )
        self._t = 0

    def _obs(self) -> np.ndarray:
        return self.np_random.integers(0, 256, self.observation_space.shape, dtype=np.uint8)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._t = 0
        return self._obs(), {}

    def step(self, action):
        self._t += 1
        reward = float(np.asarray(action).ravel()[0] > 0.5)
        return self._obs(), reward, False, self._t >= 8, {}


class Phases(BaseCallback):
    """Names the phase SB3 is in: "rollout" while collecting, "train" after a rollout ends."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def _on_rollout_start(self) -> None:
        self.recorder.phase = "rollout"

    def _on_rollout_end(self) -> None:
        self.recorder.phase = "train"

    def _on_step(self) -> bool:
        return True


class Recorder:
    """Forward hooks on every augmentation of the named networks: who shifted what, when."""

    def __init__(self, networks: dict[str, nn.Module]) -> None:
        self.phase = "setup"
        self.calls: list[tuple[str, str, list]] = []
        for name, network in networks.items():
            found = [m for m in network.modules() if isinstance(m, Augmentation)]
            assert found, f"{name} has no augmentation"
            for module in found:
                module.register_forward_hook(self._hook(name))

    def _hook(self, name: str):
        def hook(module, inputs, output):
            self.calls.append((self.phase, name, offsets_of(inputs[0], output)))

        return hook

    def offsets(self, phase: str, name: str) -> list[tuple]:
        return [o for p, n, offs in self.calls if (p, n) == (phase, name) for o in offs]


def assert_unshifted(offsets: list[tuple]) -> None:
    assert offsets and set(offsets) == {(0, 0)}


def assert_shifted(offsets: list[tuple]) -> None:
    assert offsets and None not in offsets
    assert len(set(offsets)) > 10  # per-sample draws over the whole range


def vec_env(continuous: bool = False, n_envs: int = 2) -> DummyVecEnv:
    env = DummyVecEnv([lambda: NoiseEnv(continuous)] * n_envs)
    env.seed(0)
    return env


def nature(**kwargs) -> dict:
    return {
        "features_extractor_class": AugmentedNatureCNN,
        "features_extractor_kwargs": {"augment": "shift", "pad": PAD, **kwargs},
    }


def test_ppo_shifts_training_minibatches_only():
    model = PPO(
        "CnnPolicy", vec_env(), n_steps=16, batch_size=16, n_epochs=2, policy_kwargs=nature(),
        seed=0, device="cpu",
    )  # fmt: skip
    recorder = Recorder({"policy": model.policy})
    model.learn(64, callback=Phases(recorder))
    assert_unshifted(recorder.offsets("rollout", "policy"))
    assert_shifted(recorder.offsets("train", "policy"))
    # predict and evaluation after training: never shifted.
    recorder.phase = "predict"
    obs = model.get_env().reset()
    model.predict(obs, deterministic=True)
    evaluate_policy(model, VecMonitor(vec_env(n_envs=3)), n_eval_episodes=3)
    assert_unshifted(recorder.offsets("predict", "policy"))


def test_ppo_same_seed_same_run():
    def run(augment: str | None) -> torch.Tensor:
        model = PPO(
            "CnnPolicy", vec_env(), n_steps=16, batch_size=16, n_epochs=2, seed=3, device="cpu",
            policy_kwargs=nature() if augment else {
                "features_extractor_class": AugmentedNatureCNN,
                "features_extractor_kwargs": {"augment": None},
            },
        )  # fmt: skip
        model.learn(64)
        return torch.nn.utils.parameters_to_vector(model.policy.parameters()).detach()

    first = run("shift")
    assert torch.equal(run("shift"), first)
    assert not torch.equal(run(None), first)  # the shift did change the updates


@pytest.mark.parametrize("drq", [True, False], ids=["DrQDQNPolicy", "CnnPolicy"])
def test_dqn_shifts_online_and_target_with_drq_policy(drq):
    model = DQN(
        DrQDQNPolicy if drq else "CnnPolicy", vec_env(), learning_starts=16, batch_size=16,
        train_freq=4, buffer_size=500, policy_kwargs=nature(), seed=0, device="cpu",
    )  # fmt: skip
    assert type(model.policy) is (DrQDQNPolicy if drq else type(model.policy))
    recorder = Recorder({"online": model.q_net, "target": model.q_net_target})
    model.learn(40, callback=Phases(recorder))
    assert_unshifted(recorder.offsets("rollout", "online"))  # acting is never shifted
    assert_shifted(recorder.offsets("train", "online"))
    target = recorder.offsets("train", "target")
    if not drq:
        assert_unshifted(target)  # SB3 keeps the target in eval mode
        return
    assert_shifted(target)
    # Independent draws: the target's shifts are not the online network's of the same batch.
    online = recorder.offsets("train", "online")
    assert len(online) == len(target) and online != target
    # The target network itself stays in eval mode; only its augmentation follows training.
    assert not model.q_net_target.training
    recorder.phase = "predict"
    model.predict(model.get_env().reset(), deterministic=True)
    assert_unshifted(recorder.offsets("predict", "online"))
    assert not any(m.training for m in model.q_net_target.modules())


def test_qrdqn_target_is_shifted():
    from sb3_contrib import QRDQN

    model = QRDQN(
        DrQQRDQNPolicy, vec_env(), learning_starts=16, batch_size=16, train_freq=4,
        buffer_size=500, policy_kwargs=nature(), seed=0, device="cpu",
    )  # fmt: skip
    recorder = Recorder({"online": model.quantile_net, "target": model.quantile_net_target})
    model.learn(40, callback=Phases(recorder))
    assert_unshifted(recorder.offsets("rollout", "online"))
    assert_shifted(recorder.offsets("train", "online"))
    assert_shifted(recorder.offsets("train", "target"))


def test_sac_shifts_actor_critic_and_target():
    model = SAC(
        DrQSACPolicy, vec_env(continuous=True), learning_starts=16, batch_size=16,
        buffer_size=500, policy_kwargs={**nature(), "net_arch": [32]}, seed=0, device="cpu",
    )  # fmt: skip
    networks = {
        "actor": model.actor,
        "critic": model.critic,
        "target": model.critic_target,
    }
    recorder = Recorder(networks)
    model.learn(24, callback=Phases(recorder))
    assert_unshifted(recorder.offsets("rollout", "actor"))
    for name in networks:
        assert_shifted(recorder.offsets("train", name))


def test_drq_policy_by_algo_and_save_load(tmp_path):
    assert drq_policy("ppo") == "CnnPolicy" and drq_policy("QR-DQN") is DrQQRDQNPolicy
    with pytest.raises(ValueError, match="unknown algo 'td3'"):
        drq_policy("td3")
    model = DQN(DrQDQNPolicy, vec_env(), policy_kwargs=nature(), buffer_size=100, device="cpu")
    model.save(tmp_path / "dqn")
    loaded = DQN.load(tmp_path / "dqn", device="cpu")
    assert type(loaded.policy) is DrQDQNPolicy
    loaded.policy.set_training_mode(True)
    target = [m for m in loaded.q_net_target.modules() if isinstance(m, Augmentation)]
    assert target and all(m.training for m in target)
    assert set_augmentation_mode(loaded.q_net_target, False) == 1


# ---------------------------------------------------------------- SB3: every encoder name
@pytest.mark.parametrize("name", ["nature", "impala", "nano", "nano_rl"])
def test_every_encoder_shifts_training_minibatches_only(name):
    from mnv4_rl.sb3 import encoder_policy_kwargs

    kwargs = encoder_policy_kwargs(name, "ppo", augment="shift", features_dim=32)
    model = PPO(
        "CnnPolicy", vec_env(), n_steps=8, batch_size=16, n_epochs=1, policy_kwargs=kwargs,
        seed=0, device="cpu",
    )  # fmt: skip
    recorder = Recorder({"policy": model.policy})
    model.learn(16, callback=Phases(recorder))
    assert_unshifted(recorder.offsets("rollout", "policy"))
    assert_shifted(recorder.offsets("train", "policy"))
    # Without augment there is no augmentation module at all.
    plain = PPO("CnnPolicy", vec_env(), policy_kwargs=encoder_policy_kwargs(name, "ppo"))
    assert not any(isinstance(m, Augmentation) for m in plain.policy.modules())


def test_dqn_target_shift_with_a_mobilenet_encoder():
    from mnv4_rl.sb3 import encoder_policy_kwargs

    model = DQN(
        drq_policy("dqn"), vec_env(), learning_starts=16, batch_size=16, train_freq=4,
        buffer_size=500, seed=0, device="cpu",
        policy_kwargs=encoder_policy_kwargs("nano", "dqn", augment="shift", features_dim=32),
    )  # fmt: skip
    recorder = Recorder({"online": model.q_net, "target": model.q_net_target})
    model.learn(24, callback=Phases(recorder))
    assert_unshifted(recorder.offsets("rollout", "online"))
    assert_shifted(recorder.offsets("train", "online"))
    assert_shifted(recorder.offsets("train", "target"))


def test_bad_options_through_policy_kwargs():
    from mnv4_rl.sb3 import encoder_policy_kwargs

    env = vec_env()
    for name in ("nature", "nano"):
        with pytest.raises(ValueError, match="unknown augmentation 'flip'; known: 'shift'"):
            PPO("CnnPolicy", env, policy_kwargs=encoder_policy_kwargs(name, augment="flip"))
        with pytest.raises(ValueError, match=r"pad=36 must be smaller than the frame \(36x36\)"):
            PPO(
                "CnnPolicy", env, policy_kwargs=encoder_policy_kwargs(name, augment="shift", pad=36)
            )


# ----------------------------------------------------------------------------------- rl-zoo3
def test_rl_zoo_trains_dqn_with_shift_and_the_drq_policy(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "rl_zoo3.train", "--algo", "dqn", "--env",
         "BreakoutNoFrameskip-v4", "-conf", "mnv4_rl.zoo.dqn_nature_shift", "-n", "128",
         "--eval-freq", "-1", "-f", str(tmp_path), "--seed", "0", "--device", "cpu", "-params",
         "buffer_size:500", "learning_starts:64", "train_freq:4"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    run = tmp_path / "dqn" / "BreakoutNoFrameskip-v4_1"
    assert (
        "mnv4_rl.sb3.augmented.DrQDQNPolicy"
        in (run / "BreakoutNoFrameskip-v4" / "config.yml").read_text()
    )
    model = DQN.load(run / "BreakoutNoFrameskip-v4.zip", device="cpu")
    assert type(model.policy) is DrQDQNPolicy
    assert isinstance(model.policy.q_net.features_extractor, AugmentedNatureCNN)


# ------------------------------------------------------------------------------------ RLlib
def rllib_module(**options):
    from mnv4_rl.rllib import mnv4_module_spec

    env = NoiseEnv()
    spec = mnv4_module_spec(
        "nano", features_dim=16, augment="shift", observation_space=env.observation_space,
        action_space=env.action_space, **options,
    )  # fmt: skip
    return spec.build()


class RLlibRecorder:
    """Hooks on each encoder: the offsets between the latest ``preprocess`` output (of either
    encoder: a separate critic takes the policy encoder's frames in training) and what each
    backbone got."""

    def __init__(self, module: nn.Module) -> None:
        self.phase = "setup"
        self.calls: list[tuple[str, str, list]] = []
        self.latest: torch.Tensor | None = None
        for name in ("encoder", "critic_encoder"):
            encoder = getattr(module, name, None)
            if encoder is not None:
                self._watch(name, encoder)

    def _watch(self, name: str, encoder: nn.Module) -> None:
        def after_preprocess(module, inputs, output):
            self.latest = output

        def before_backbone(module, inputs):
            self.calls.append((self.phase, name, offsets_of(self.latest, inputs[0])))

        encoder.preprocess.register_forward_hook(after_preprocess)
        encoder.backbone.register_forward_pre_hook(before_backbone)

    def offsets(self, phase: str, name: str = "encoder") -> list[tuple]:
        return [o for p, n, offs in self.calls if (p, n) == (phase, name) for o in offs]


def test_rllib_module_shifts_in_forward_train_only():
    from ray.rllib.core.columns import Columns

    module = rllib_module(separate_critic=True)
    recorder = RLlibRecorder(module)
    env = NoiseEnv()
    env.reset(seed=0)
    obs = torch.as_tensor(np.stack([env.step(0)[0] for _ in range(24)]))
    batch = {Columns.OBS: obs}
    recorder.phase = "exploration"
    module.forward_exploration(batch)
    recorder.phase = "train"
    out = module.forward_train(batch)
    assert module.training  # RLlib leaves the module in training mode ...
    recorder.phase = "values"
    module.compute_values(batch)  # ... where the learner's GAE asks for values: not shifted
    recorder.phase = "inference"
    module.forward_inference(batch)
    for phase in ("exploration", "inference"):
        assert_unshifted(recorder.offsets(phase))
    assert_unshifted(recorder.offsets("values", "critic_encoder"))
    shifted = recorder.offsets("train")
    assert_shifted(shifted)
    # The critic's encoder sees the very same shifted frames (one draw per sample).
    assert recorder.offsets("train", "critic_encoder") == shifted
    assert Columns.EMBEDDINGS in out
    # APPO's target network never shifts.
    module.make_target_networks()
    recorder.phase = "target"
    assert not any(isinstance(m, Augmentation) for m in module._target_encoder.modules())


@pytest.mark.xdist_group("ray")
def test_rllib_ppo_learner_shifts_env_runner_does_not():
    import ray
    from ray.rllib.algorithms.ppo import PPOConfig

    from mnv4_rl.rllib import mnv4_module_spec

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        config = (
            PPOConfig()
            .environment(NoiseEnv)
            .env_runners(num_env_runners=0, num_envs_per_env_runner=1, rollout_fragment_length=32)
            .training(train_batch_size_per_learner=32, minibatch_size=16, num_epochs=1)
            .rl_module(rl_module_spec=mnv4_module_spec("nano", features_dim=16, augment="shift"))
            .debugging(seed=0)
        )
        algo = config.build_algo()
        learner_module = algo.learner_group._learner.module["default_policy"]
        runner_module = algo.env_runner.module
        assert learner_module is not runner_module
        learner, runner = RLlibRecorder(learner_module), RLlibRecorder(runner_module)
        runner.phase = "rollout"
        # The learner: GAE's value pass first, then the minibatch updates.
        forward_train = learner_module._forward_train

        def tagged(batch, **kwargs):
            learner.phase = "train"
            try:
                return forward_train(batch, **kwargs)
            finally:
                learner.phase = "values"

        learner.phase = "values"
        learner_module._forward_train = tagged
        algo.train()
        algo.stop()
    finally:
        if started:
            ray.shutdown()
    assert_unshifted(runner.offsets("rollout"))
    assert_unshifted(learner.offsets("values"))
    assert_shifted(learner.offsets("train"))


# ----------------------------------------------------------------------------------- export
@pytest.mark.parametrize("name", ["nature", "nano"])
def test_export_of_an_augmented_model_acts_as_predict(name, tmp_path):
    import onnxruntime as ort

    from mnv4_rl.export import export_policy, policy_program
    from mnv4_rl.sb3 import encoder_policy_kwargs

    model = PPO(
        "CnnPolicy", vec_env(), n_steps=16, batch_size=16, n_epochs=1, seed=0, device="cpu",
        policy_kwargs=encoder_policy_kwargs(name, "ppo", augment="shift", features_dim=32),
    )  # fmt: skip
    model.learn(32)
    program, example = policy_program(model, outputs=("logits",))
    # The program holds no augmentation that could act, even if someone sets training mode.
    program.train()
    obs = torch.as_tensor(np.stack([NoiseEnv().observation_space.sample() for _ in range(16)]))
    first = program(obs)[1]
    assert torch.equal(program(obs)[1], first)
    path = export_policy(model, tmp_path / "policy.onnx", outputs=("logits",))
    session = ort.InferenceSession(str(path))
    actions = session.run(None, {session.get_inputs()[0].name: obs.numpy()})[0]
    expected, _ = model.predict(obs.numpy(), deterministic=True)
    np.testing.assert_array_equal(actions, expected)


# ----------------------------------------------------------------------- bench / study specs
def test_bench_spec_syntax_takes_augment_and_pad():
    from mnv4_lab.bench.encoders import parse_encoder, policy_kwargs

    space = NoiseEnv().observation_space
    for spec in ("nature@augment=shift,pad=2", "nano@augment=shift,pad=2,features_dim=32"):
        kwargs = policy_kwargs(parse_encoder(spec), "ppo")
        extractor = kwargs["features_extractor_class"](space, **kwargs["features_extractor_kwargs"])
        shifts = [m for m in extractor.modules() if isinstance(m, RandomShift)]
        assert len(shifts) == 1 and shifts[0].pad == 2, spec
