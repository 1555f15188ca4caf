"""The encoder learning-rate scale holds for the whole run: through SB3's learning-rate updates
(every group's lr overwritten before each update), schedules, save/load, in real PPO, DQN and SAC.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from helpers import ColourEnv, timm_checkpoint
from stable_baselines3 import DQN, PPO, SAC
from stable_baselines3.common.vec_env import DummyVecEnv
from torch import nn

from mnv4_rl.lr_scale import (
    LRScaledAdam,
    apply_encoder_lr_scale,
    effective_lrs,
    lr_scaled,
    mark_lr_scale,
)
from mnv4_rl.sb3 import load_model, mnv4_policy_kwargs

SCALE = 0.1


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return timm_checkpoint(tmp_path_factory.mktemp("ckpt"))[1]


@pytest.fixture
def adam_lrs(monkeypatch) -> list[list[tuple[float, int]]]:
    """Every ``torch.optim.Adam.step`` call's (lr, number of parameters) per group: the rates
    Adam itself used, after the scaled optimiser applied its scales."""
    calls: list[list[tuple[float, int]]] = []
    original = torch.optim.Adam.step

    def recording(self, *args, **kwargs):
        calls.append([(float(g["lr"]), len(g["params"])) for g in self.param_groups])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", recording)
    return calls


def test_scaled_adam_equals_adam_with_a_scaled_group_whatever_lr_is_set_to() -> None:
    torch.manual_seed(0)
    encoder, head = nn.Linear(4, 4), nn.Linear(4, 2)
    ref_encoder, ref_head = nn.Linear(4, 4), nn.Linear(4, 2)
    ref_encoder.load_state_dict(encoder.state_dict()), ref_head.load_state_dict(head.state_dict())
    mark_lr_scale(encoder, SCALE)
    params = [*encoder.parameters(), *head.parameters()]
    scaled = LRScaledAdam(params, lr=1e-2, eps=1e-5)
    reference = torch.optim.Adam(
        [
            {"params": ref_encoder.parameters(), "lr": 1e-2 * SCALE},
            {"params": ref_head.parameters(), "lr": 1e-2},
        ],
        eps=1e-5,
    )
    x = torch.randn(8, 4)
    for step, lr in enumerate([1e-2, 5e-3, 5e-3, 1e-3]):  # a schedule, as SB3 writes it
        for group in scaled.param_groups:
            group["lr"] = lr  # SB3's update_learning_rate: every group, the same value
        reference.param_groups[0]["lr"], reference.param_groups[1]["lr"] = lr * SCALE, lr
        for opt, (e, h) in ((scaled, (encoder, head)), (reference, (ref_encoder, ref_head))):
            opt.zero_grad()
            h(torch.relu(e(x))).square().mean().backward()
            opt.step()
        assert effective_lrs(scaled) == pytest.approx([lr * SCALE, lr]), step
        assert [g["lr"] for g in scaled.param_groups] == [lr, lr]  # lr itself is left alone
        theirs_all = [*ref_encoder.parameters(), *ref_head.parameters()]
        for mine, theirs in zip(params, theirs_all, strict=True):
            torch.testing.assert_close(mine, theirs, rtol=0, atol=0)


def _assert_scaled_for_the_whole_run(calls, schedule_values: set, encoder_params: int) -> None:
    """Every Adam step ran the encoder's group at SCALE x the heads' rate, over >1 rate."""
    assert len(calls) >= 3
    head_rates = set()
    for groups in calls:
        (enc_lr, enc_n), (head_lr, _) = groups
        assert enc_n == encoder_params
        assert enc_lr == pytest.approx(SCALE * head_lr, rel=1e-12)
        head_rates.add(head_lr)
    assert len(head_rates) >= 2  # the schedule moved the rate between updates
    assert head_rates <= schedule_values | {max(schedule_values)}


@pytest.mark.parametrize("how", ["keyword", "apply"])
@pytest.mark.parametrize("algo", [PPO, DQN])
def test_scale_holds_through_a_real_run_with_a_schedule_and_a_reload(
    algo, how, checkpoint, adam_lrs, tmp_path: Path
) -> None:
    seen: set[float] = set()

    def schedule(remaining: float) -> float:
        seen.add(1e-3 * remaining)
        return 1e-3 * remaining

    kwargs = (
        dict(n_steps=16, batch_size=8, n_epochs=2)
        if algo is PPO
        else dict(learning_starts=8, train_freq=4, buffer_size=100, batch_size=8)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = algo(
            "CnnPolicy",
            DummyVecEnv([ColourEnv]),
            learning_rate=schedule,
            policy_kwargs=mnv4_policy_kwargs(
                "nano",
                algo.__name__.lower(),
                pretrained=checkpoint,
                features_dim=16,
                **({"encoder_lr_scale": SCALE} if how == "keyword" else {}),
            ),
            seed=0,
            **kwargs,
        )
    backbone = model.policy.q_net if algo is DQN else model.policy
    n_encoder = len(list(backbone.features_extractor.backbone.parameters()))
    if how == "apply":
        assert apply_encoder_lr_scale(model, SCALE) >= n_encoder
    assert isinstance(model.policy.optimizer, LRScaledAdam)
    if algo is PPO:  # the eps SB3 gives PPO's plain Adam
        assert model.policy.optimizer.defaults["eps"] == 1e-5
    model.learn(32)
    _assert_scaled_for_the_whole_run(adam_lrs, seen, n_encoder)

    # Saved and loaded: SB3 rebuilds the optimiser from a flat parameter list; the scaled
    # class splits it again from the saved state, and the scale keeps holding.
    model.save(tmp_path / "model.zip")
    adam_lrs.clear()
    loaded = load_model(algo, tmp_path / "model.zip", env=DummyVecEnv([ColourEnv]))
    assert isinstance(loaded.policy.optimizer, LRScaledAdam)
    assert [g["lr_scale"] for g in loaded.policy.optimizer.param_groups] == [SCALE, 1.0]
    loaded.learning_rate = schedule
    loaded._setup_lr_schedule()
    loaded.learn(32, reset_num_timesteps=True)
    _assert_scaled_for_the_whole_run(adam_lrs, seen, n_encoder)


def test_sac_scales_its_actor_and_critic_encoders(checkpoint, adam_lrs) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SAC(
            "CnnPolicy",
            DummyVecEnv([lambda: ColourEnv(continuous=True)]),
            learning_rate=lambda remaining: 1e-3 * remaining,
            learning_starts=8,
            train_freq=4,
            buffer_size=100,
            batch_size=8,
            policy_kwargs=mnv4_policy_kwargs("nano", "sac", pretrained=checkpoint, features_dim=8),
            seed=0,
        )
    apply_encoder_lr_scale(model, SCALE)
    model.learn(32)
    scaled = [groups for groups in adam_lrs if len(groups) == 2]
    assert scaled and all(e == pytest.approx(SCALE * h) for (e, _), (h, _) in scaled)
    assert len({h for (_, _), (h, _) in scaled}) >= 2


def test_bad_scales_and_policies_without_an_encoder_are_named() -> None:
    for bad in (0, -0.1, "0.1", True):
        with pytest.raises(ValueError, match="encoder_lr_scale must be a number > 0"):
            mark_lr_scale(nn.Linear(2, 2), bad)
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=8, batch_size=8)
    with pytest.raises(ValueError, match="no pretrained encoder"):
        apply_encoder_lr_scale(model, SCALE)
    assert lr_scaled(torch.optim.Adam) is LRScaledAdam and lr_scaled(LRScaledAdam) is LRScaledAdam
    other = lr_scaled(torch.optim.Adagrad)
    assert issubclass(other, torch.optim.Adagrad) and lr_scaled(torch.optim.Adagrad) is other


@pytest.mark.xdist_group("ray")
def test_rllib_ppo_learner_holds_the_scale_through_its_lr_schedule(checkpoint, adam_lrs) -> None:
    """A tiny PPO on a local Ray (local learner and env runner: the recording sees its steps)."""
    import ray
    from helpers import PixelEnvForRLlib
    from ray.rllib.algorithms.ppo import PPOConfig

    from mnv4_rl.rllib import mnv4_module_spec
    from mnv4_rl.rllib.lr_scale import ScaledLRPPOTorchLearner

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            algo = (
                PPOConfig()
                .environment(PixelEnvForRLlib, env_config={})
                .env_runners(num_env_runners=0, rollout_fragment_length=32)
                .training(
                    train_batch_size_per_learner=32,
                    minibatch_size=16,
                    num_epochs=1,
                    lr=[[0, 1e-3], [64, 1e-4]],  # RLlib's piecewise schedule over env steps
                )
                .learners(learner_class=ScaledLRPPOTorchLearner)
                .rl_module(  # the option lives in the module config
                    rl_module_spec=mnv4_module_spec(
                        "nano", pretrained=checkpoint, features_dim=8, encoder_lr_scale=SCALE
                    )
                )
                .debugging(seed=0)
                .build_algo()
            )
        for _ in range(3):
            algo.train()
        module = algo.get_module()
        n_encoder = len(list(module.encoder.backbone.parameters()))
        algo.stop()
    finally:
        ray.shutdown()
    assert len(adam_lrs) >= 3
    head_rates = set()
    for groups in adam_lrs:
        (enc_lr, enc_n), (head_lr, _) = groups
        assert enc_n == n_encoder and enc_lr == pytest.approx(SCALE * head_lr, rel=1e-6)
        head_rates.add(round(head_lr, 12))
    assert len(head_rates) >= 2  # the schedule moved the rate
