"""An encoder learning-rate scale for RLlib's new API stack (PPO, APPO, IMPALA learners).

RLlib's learning-rate scheduler writes one ``lr`` into every parameter group of a module's
optimiser before each update, so a plain group with a smaller ``lr`` loses it. The learners
here build the module's Adam as :class:`mnv4_rl.lr_scale.LRScaledAdam`: the pretrained
backbone's parameters form a group with ``lr_scale``, applied at step time, so the backbone
steps at ``scale x lr`` whatever the schedule writes::

    from mnv4_rl.rllib.lr_scale import ScaledLRPPOTorchLearner
    config = (
        PPOConfig()
        .rl_module(rl_module_spec=mnv4_module_spec("nano", pretrained=True))
        .learners(learner_class=ScaledLRPPOTorchLearner,
                  learner_config_dict={"encoder_lr_scale": 0.1})
    )

The scale is read from the module's ``model_config["encoder_lr_scale"]`` when the module has
that option, else from ``learner_config_dict["encoder_lr_scale"]`` (default 1.0: no scaling).
"""

from __future__ import annotations

from typing import Any

from .._extras import require

require("ray", "rllib", "the RLlib adapter")

from ray.rllib.algorithms.appo.torch.appo_torch_learner import APPOTorchLearner  # noqa: E402
from ray.rllib.algorithms.impala.torch.impala_torch_learner import (  # noqa: E402
    IMPALATorchLearner,
)
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner  # noqa: E402

from ..lr_scale import LRScaledAdam, check_lr_scale, encoder_parameters, mark_lr_scale  # noqa: E402

__all__ = [
    "ScaledLRAPPOTorchLearner",
    "ScaledLRIMPALATorchLearner",
    "ScaledLRPPOTorchLearner",
    "encoder_lr_scale_of",
    "lr_scaled_learner",
]


def encoder_lr_scale_of(module: Any, config: Any) -> float:
    """The scale for ``module``: its ``model_config["encoder_lr_scale"]``, else the learner
    config's ``learner_config_dict["encoder_lr_scale"]``, else 1.0."""
    scale = (getattr(module, "model_config", None) or {}).get("encoder_lr_scale")
    if scale is None:
        scale = (getattr(config, "learner_config_dict", None) or {}).get("encoder_lr_scale", 1.0)
    return check_lr_scale(scale)


class _ScaledLRMixin:
    def configure_optimizers_for_module(self, module_id: str, config: Any = None) -> None:
        """RLlib's default (one Adam per module, lr from the config's ``lr`` or schedule), with
        the backbone's parameters in a group that steps at ``encoder_lr_scale x lr``."""
        module = self._module[module_id]
        scale = encoder_lr_scale_of(module, config)
        if scale != 1.0:
            encoder = encoder_parameters(module)
            if not encoder:
                raise ValueError(
                    f"module {module_id!r} ({type(module).__name__}) has no pretrained encoder "
                    "(no submodule named 'backbone'): encoder_lr_scale needs "
                    "mnv4_rl.rllib.MobileNetV4RLModule"
                )
            mark_lr_scale(encoder, scale)
        params = self.get_parameters(module)
        optimizer = LRScaledAdam(params)
        self.register_optimizer(
            module_id=module_id, optimizer=optimizer, params=params, lr_or_lr_schedule=config.lr
        )


_CACHE: dict[type, type] = {}


def lr_scaled_learner(learner_class: type) -> type:
    """``learner_class`` (an RLlib ``TorchLearner``) with the encoder learning-rate scale."""
    if issubclass(learner_class, _ScaledLRMixin):
        return learner_class
    if learner_class not in _CACHE:
        _CACHE[learner_class] = type(
            f"ScaledLR{learner_class.__name__}", (_ScaledLRMixin, learner_class), {}
        )
    return _CACHE[learner_class]


class ScaledLRPPOTorchLearner(_ScaledLRMixin, PPOTorchLearner):
    """RLlib's PPO learner with the encoder learning-rate scale (see the module docstring)."""


class ScaledLRAPPOTorchLearner(_ScaledLRMixin, APPOTorchLearner):
    """RLlib's APPO learner with the encoder learning-rate scale."""


class ScaledLRIMPALATorchLearner(_ScaledLRMixin, IMPALATorchLearner):
    """RLlib's IMPALA learner with the encoder learning-rate scale."""


_CACHE.update(
    {
        PPOTorchLearner: ScaledLRPPOTorchLearner,
        APPOTorchLearner: ScaledLRAPPOTorchLearner,
        IMPALATorchLearner: ScaledLRIMPALATorchLearner,
    }
)
