"""The folded fast path computes with the weights a network holds, however RL code changed them.

BatchNorm is folded into the convolutions whenever it uses running statistics (eval mode,
``norm="frozen"``). RL code changes weights in many ways: SB3's ``polyak_update`` writes through
``param.data`` (no version-counter bump), optimisers step in place, ``load_state_dict`` copies,
EMA code lerps, ``.to()`` converts. Each is checked on the model, then inside real SB3 / sb3-contrib
algorithms: DQN and QR-DQN target networks (tau 1 and tau < 1), SAC and TD3 soft updates.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from helpers import colour_vec_env, timm_checkpoint
from sb3_contrib import QRDQN
from stable_baselines3 import DQN, SAC, TD3
from stable_baselines3.common.utils import get_parameters_by_name, polyak_update

from mnv4_rl import create_model
from mnv4_rl.sb3 import mnv4_policy_kwargs


def _plain(model: torch.nn.Module) -> torch.nn.Module:
    """The same weights on the unfused path (conv -> BatchNorm -> act, no GEMM shortcuts)."""
    return copy.deepcopy(model).set_fast_paths(False)


def _other_weights(model: torch.nn.Module) -> torch.nn.Module:
    other = copy.deepcopy(model)
    with torch.no_grad():
        for tensor in [*other.parameters(), *other.buffers()]:
            if tensor.is_floating_point():
                tensor.mul_(0.5).add_(0.01)
    return other


def _data_mul(model, other) -> None:
    for p in model.parameters():
        p.data.mul_(0.5)


def _data_add_out(model, other) -> None:  # polyak_update's own idiom
    for p, q in zip(model.parameters(), other.parameters(), strict=True):
        torch.add(p.data, q.data, alpha=0.3, out=p.data)


def _data_copy(model, other) -> None:
    for p, q in zip(model.parameters(), other.parameters(), strict=True):
        p.data.copy_(q.data)


def _buffer_data(model, other) -> None:  # running statistics copied through .data
    for b, c in zip(model.buffers(), other.buffers(), strict=True):
        if b.is_floating_point():
            b.data.copy_(c.data)


def _no_grad_in_place(model, other) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(0.7)


def _load_state_dict(model, other) -> None:
    model.load_state_dict(other.state_dict())


def _sb3_polyak(model, other) -> None:  # as SB3's DQN updates its target (and its statistics)
    polyak_update(other.parameters(), model.parameters(), tau=0.4)
    stats = ["running_"]
    polyak_update(get_parameters_by_name(other, stats), get_parameters_by_name(model, stats), 1.0)


def _optimizer_step(model, other) -> None:
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    model(torch.rand(2, 4, 64, 64)).square().mean().backward()
    optimizer.step()


def _ema_lerp(model, other) -> None:
    with torch.no_grad():
        for p, q in zip(model.parameters(), other.parameters(), strict=True):
            p.data.lerp_(q.data, 0.5)


def _averaged_model(model, other) -> None:
    averaged = torch.optim.swa_utils.AveragedModel(model)
    averaged.update_parameters(other)  # writes the average into its copy...
    model.load_state_dict(averaged.module.state_dict())  # ...which the model then takes


UPDATES = [
    _data_mul,
    _data_add_out,
    _data_copy,
    _buffer_data,
    _no_grad_in_place,
    _load_state_dict,
    _sb3_polyak,
    _optimizer_step,
    _ema_lerp,
    _averaged_model,
]


@pytest.mark.parametrize("update", UPDATES, ids=lambda f: f.__name__.strip("_"))
@pytest.mark.parametrize("norm", ["frozen", "batch"])
def test_folded_forward_sees_every_weight_update(update, norm: str) -> None:
    model = create_model("nano", in_channels=4, num_classes=10, norm=norm).eval()
    other = _other_weights(model)
    x = torch.rand(3, 4, 64, 64)
    with torch.no_grad():
        before = model(x)  # the no-grad path runs first, as a target network's does
    update(model, other)
    model.eval()
    with torch.no_grad():
        after = model(x)
        reference = _plain(model)(x)
    assert not torch.allclose(after, before), "the update changed nothing: the test is void"
    torch.testing.assert_close(after, reference, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(model(x), reference, rtol=1e-4, atol=1e-5)  # grad mode


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_folded_forward_follows_dtype_changes(dtype) -> None:
    model = create_model("nano", in_channels=4, num_classes=10, norm="frozen").eval()
    x = torch.rand(2, 4, 64, 64)
    with torch.no_grad():
        model(x)
        model.to(dtype)
        got = model(x.to(dtype))
        reference = _plain(model)(x.to(dtype))
    assert got.dtype == dtype
    tolerance = 1e-10 if dtype == torch.float64 else 5e-2
    torch.testing.assert_close(got, reference, rtol=tolerance, atol=tolerance)


def test_the_minimal_repro_of_the_stale_fold() -> None:
    """The issue's repro: a no-grad forward, then p.data.mul_(0.5) everywhere."""
    model = create_model("nano", num_classes=10, norm="frozen").eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        before = model(x)
        for p in model.parameters():
            p.data.mul_(0.5)
        after = model(x)
    assert not torch.allclose(after, before)
    torch.testing.assert_close(after, model(x), rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------- inside real algorithms
def _q_values(net, obs: torch.Tensor, grad: bool) -> torch.Tensor:
    if grad:
        return net(obs).detach()
    with torch.no_grad():
        return net(obs)


def _dqn_like(algo, tmp_path, extractor: dict, tau: float):
    env = colour_vec_env("chw", n_envs=1)
    model = algo(
        "CnnPolicy",
        env,
        policy_kwargs=mnv4_policy_kwargs(
            "nano", algo.__name__.lower(), features_dim=32, **extractor
        ),
        learning_starts=16,
        buffer_size=500,
        batch_size=8,
        train_freq=1,
        target_update_interval=4,
        tau=tau,
        seed=0,
    )
    model.learn(total_timesteps=48)
    return model


def _pretrained(tmp_path) -> dict:
    return {"pretrained": timm_checkpoint(tmp_path)[1]}


@pytest.mark.parametrize("tau", [1.0, 0.3])
@pytest.mark.parametrize("algo", [DQN, QRDQN])
@pytest.mark.parametrize("kind", ["pretrained_frozen", "batch"])
@pytest.mark.filterwarnings("ignore:MobileNetV4Extractor")
def test_target_networks_compute_with_the_weights_they_hold(algo, kind, tau, tmp_path) -> None:
    extractor = _pretrained(tmp_path) if kind == "pretrained_frozen" else {"norm": "batch"}
    model = _dqn_like(algo, tmp_path, extractor, tau)
    online = model.q_net if algo is DQN else model.quantile_net
    target = model.q_net_target if algo is DQN else model.quantile_net_target
    assert target.features_extractor.norm == ("frozen" if kind != "batch" else "batch")
    obs = torch.as_tensor(np.stack([model.observation_space.sample() for _ in range(4)]))
    obs = obs.float() / 255.0
    held_before = _q_values(target, obs, grad=True)
    # SB3's own target update (polyak_update through .data, then the BatchNorm statistics):
    # _on_step updates every target_update_interval calls.
    for _ in range(model.target_update_interval):
        model._on_step()
    target_no_grad = _q_values(target, obs, grad=False)
    target_grad = _q_values(target, obs, grad=True)
    assert not torch.allclose(target_grad, held_before), "no target update happened"
    torch.testing.assert_close(target_no_grad, target_grad, rtol=1e-4, atol=1e-5)
    if tau == 1.0:  # a hard update: the target now is the online network
        online.set_training_mode(False)
        torch.testing.assert_close(
            target_no_grad, _q_values(online, obs, grad=False), rtol=1e-4, atol=1e-5
        )


def _target_outputs(model, obs: torch.Tensor, grad: bool) -> torch.Tensor:
    """The target networks' encoder features (critic target; TD3's actor target too), with or
    without autograd. Features, not actions: tanh-squashed actions can hide a stale encoder."""
    targets = [model.critic_target] + ([model.actor_target] if isinstance(model, TD3) else [])
    with torch.set_grad_enabled(grad):
        outputs = [target.features_extractor(obs) for target in targets]
    return torch.cat(outputs, dim=1).detach()


@pytest.mark.parametrize("algo", [SAC, TD3])
def test_soft_updated_targets_compute_with_the_weights_they_hold(algo) -> None:
    """SAC's critic target and TD3's actor and critic targets after SB3's soft updates. (SB3's
    critics run a separate extractor with autograd on even under no_grad; TD3's actor target
    runs without it, as DQN's target does.)"""
    env = colour_vec_env("hwc", n_envs=1, continuous=True)
    model = algo(
        "CnnPolicy",
        env,
        policy_kwargs=mnv4_policy_kwargs("nano", "sac", features_dim=32, norm="frozen"),
        learning_starts=16,
        buffer_size=300,
        batch_size=8,
        train_freq=1,
        learning_rate=3e-3,  # the online networks move away from their targets...
        tau=0.5,  # ...and the targets follow in large soft steps
        seed=0,
    )
    model.learn(total_timesteps=24)
    obs = torch.as_tensor(np.stack([model.observation_space.sample() for _ in range(4)]))
    obs = obs.float() / 255.0
    before = _target_outputs(model, obs, grad=False)  # a no-grad pass first, as train() does
    model.train(gradient_steps=4, batch_size=8)  # soft updates through .data
    no_grad = _target_outputs(model, obs, grad=False)
    assert not torch.allclose(no_grad, before, rtol=1e-3, atol=1e-3), "no soft update happened"
    torch.testing.assert_close(
        no_grad, _target_outputs(model, obs, grad=True), rtol=1e-4, atol=1e-5
    )
