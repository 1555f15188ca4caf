"""Random-shift augmentation (DrQ) in Stable-Baselines3: NatureCNN with the shift in front, and the
policies that also augment the target network's next observations.

Where augmentation happens in SB3 (the shift module is active in training mode only):

- PPO / A2C: ``train()`` puts the policy in training mode, so every minibatch that
  ``evaluate_actions`` sees is shifted; rollouts, ``predict`` and evaluation run in eval mode and
  are not. No policy class is needed.
- DQN / QR-DQN / SAC: ``train()`` puts the online networks in training mode, but SB3 keeps the
  target network in eval mode, so with ``"CnnPolicy"`` only the online side is shifted. DrQ also
  shifts the next observations the target sees (an independent draw per sample): the policies
  :class:`DrQDQNPolicy`, :class:`DrQQRDQNPolicy` and :class:`DrQSACPolicy` do that, switching the
  target's augmentation (and nothing else of the target) with the policy's training mode.

Saved models store these classes by module and name: keep them here.
"""

from __future__ import annotations

import torch
from gymnasium import spaces
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.torch_layers import NatureCNN
from stable_baselines3.dqn.policies import CnnPolicy as _DQNCnnPolicy
from stable_baselines3.sac.policies import CnnPolicy as _SACCnnPolicy

from ..augment import DEFAULT_PAD, make_augmentation, set_augmentation_mode
from ..frames import FrameLayout

__all__ = [
    "DRQ_POLICIES",
    "AugmentedNatureCNN",
    "DrQDQNPolicy",
    "DrQQRDQNPolicy",
    "DrQSACPolicy",
    "check_augmentable",
    "drq_policy",
]


def check_augmentable(
    observation_space: spaces.Space, owner: str, augment: str | None, normalized_image: bool
) -> None:
    """Raise unless ``observation_space`` holds images that ``augment`` can shift.

    Args:
        observation_space: the extractor's space.
        owner: the class named in the message.
        augment: the augmentation name (``None``: nothing to check).
        normalized_image: SB3's flag (float images already in range).

    Raises:
        ValueError: ``augment`` is set on a space that is not images; the message names the fix.
    """
    if augment is None or augment == "none":
        return
    if not (
        isinstance(observation_space, spaces.Box)
        and is_image_space(
            observation_space, check_channels=False, normalized_image=normalized_image
        )
    ):
        raise ValueError(
            f"{owner}: augment={augment!r} shifts images, but the observation space is "
            f"{observation_space}, not images; drop augment (use an MLP policy for vector "
            "observations), or pass normalized_image=True if these floats are images"
        )


class AugmentedNatureCNN(NatureCNN):
    """SB3's NatureCNN, unchanged, with a random shift in front (active in training mode only).

    The layers, their names and their initialisation are NatureCNN's own, so the state dict is
    NatureCNN's: a model trained with this loads into a plain NatureCNN and back.

    Args:
        observation_space: a channel-first image ``Box`` (SB3 transposes channel-last images
            with ``VecTransposeImage`` before NatureCNN sees them).
        features_dim: the width of the last layer (NatureCNN's 512).
        normalized_image: SB3's flag: float images already in ``[0, 1]``.
        augment: a name of :data:`mnv4_rl.augment.AUGMENTATIONS` (``"shift"``), or ``None``.
        pad: the largest shift in pixels (DrQ: 4 at 84x84).

    Raises:
        ValueError: an unknown augmentation, a bad ``pad``, or a space that is not images.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        features_dim: int = 512,
        normalized_image: bool = False,
        augment: str | None = "shift",
        pad: int = DEFAULT_PAD,
    ) -> None:
        check_augmentable(observation_space, type(self).__name__, augment, normalized_image)
        super().__init__(observation_space, features_dim, normalized_image)
        channels, height, width = observation_space.shape
        frames = FrameLayout("chw", 1, channels, height, width)
        self.augment = make_augmentation(augment, pad, frames)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return super().forward(self.augment(observations))


class _TargetAugmentation:
    """Mixin for SB3 policies with a target network: its augmentation follows training mode."""

    _target_name: str

    def set_training_mode(self, mode: bool) -> None:
        super().set_training_mode(mode)  # type: ignore[misc]
        # The target stays in eval mode (SB3's rule); only its augmentation follows the policy,
        # so the next observations of a training step are shifted with draws of their own.
        set_augmentation_mode(getattr(self, self._target_name), mode)


class DrQDQNPolicy(_TargetAugmentation, _DQNCnnPolicy):
    """DQN's ``CnnPolicy`` whose target network shifts the next observations too (DrQ).

    Use it in place of ``"CnnPolicy"`` with an augmenting extractor::

        DQN(DrQDQNPolicy, env, policy_kwargs=encoder_policy_kwargs("nature", "dqn", augment="shift"))
    """

    _target_name = "q_net_target"


class DrQSACPolicy(_TargetAugmentation, _SACCnnPolicy):
    """SAC's ``CnnPolicy`` whose target critic shifts the next observations too (DrQ)."""

    _target_name = "critic_target"


try:  # sb3-contrib is an optional dependency (the ``zoo`` extra)
    from sb3_contrib.qrdqn.policies import CnnPolicy as _QRDQNCnnPolicy
except ImportError:  # pragma: no cover - exercised only without sb3-contrib
    _QRDQNCnnPolicy = None

if _QRDQNCnnPolicy is not None:

    class DrQQRDQNPolicy(_TargetAugmentation, _QRDQNCnnPolicy):
        """QR-DQN's ``CnnPolicy`` whose target network shifts the next observations too (DrQ)."""

        _target_name = "quantile_net_target"


#: The algorithm key -> the policy class that augments targets as DrQ does.
DRQ_POLICIES: dict[str, str] = {
    "dqn": "DrQDQNPolicy",
    "qrdqn": "DrQQRDQNPolicy",
    "sac": "DrQSACPolicy",
}


def drq_policy(algo: str) -> type | str:
    """The policy to pass with an augmenting extractor: DrQ's for algorithms with a target network.

    Args:
        algo: ``"ppo"``, ``"a2c"``, ``"dqn"``, ``"qrdqn"`` or ``"sac"``.

    Returns:
        ``"CnnPolicy"`` for PPO and A2C (no target network); the DrQ policy class otherwise.

    Raises:
        ValueError: an unknown algorithm.
        ImportError: ``"qrdqn"`` without sb3-contrib installed.
    """
    key = algo.lower().replace("-", "").replace("_", "")
    if key in ("ppo", "a2c"):
        return "CnnPolicy"
    if key not in DRQ_POLICIES:
        raise ValueError(f"unknown algo {algo!r}; known: ppo, a2c, {', '.join(DRQ_POLICIES)}")
    if key == "qrdqn" and _QRDQNCnnPolicy is None:
        raise ImportError("DrQQRDQNPolicy needs sb3-contrib: pip install 'mnv4_rl[zoo]'")
    return globals()[DRQ_POLICIES[key]]
