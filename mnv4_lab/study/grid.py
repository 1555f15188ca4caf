"""The study grid: runs (game x encoder x seed), encoder spec strings, the named grids of the
studies, and the protocols (every setting a run's learning depends on).

Encoder specs are ``[frozen:]<name>[@key=value,...]``: ``nature``, ``impala``, ``nano``,
``nano@pretrained=true,encoder_lr_scale=0.1`` (ImageNet weights, fine-tuned at a tenth of the
learning rate), ``nano@augment=shift``,
``frozen:nano@pretrained=true`` (the pretrained encoder frozen outside the policy, as a
``mnv4_rl.sb3.VecFrozenEncoder`` over the env). ``pretrained`` is ``true`` (the variant's timm
weights, downloaded once into the Hugging Face cache), or a local ``.safetensors``/``.pth`` path.
Every other key is an extractor option (``norm=frozen``, ``augment=shift``...).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from ..envs import CARRACING, env_kind
from ..errors import UsageError

__all__ = [
    "CARRACING_PPO",
    "GRIDS",
    "EncoderSpec",
    "RunSpec",
    "make_grid",
    "parse_encoder_spec",
]

_OPTION = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class EncoderSpec:
    """A parsed encoder spec: ``name``, extractor ``options``, and whether it is ``frozen``."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    frozen: bool = False

    @property
    def pretrained(self) -> bool | str | None:
        return self.options.get("pretrained")


def _value(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def parse_encoder_spec(text: str) -> EncoderSpec:
    """``"frozen:nano@pretrained=true,norm=frozen"`` -> :class:`EncoderSpec`.

    Raises:
        UsageError: an empty name, an option without ``=``, or ``frozen:`` without pretrained
            weights (a frozen random encoder is not a row of the study).
    """
    frozen = text.startswith("frozen:")
    body = text.removeprefix("frozen:")
    name, _, rest = body.partition("@")
    if not name:
        raise UsageError(f"encoder spec {text!r} has no name; e.g. 'nano@pretrained=true'")
    options: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not _OPTION.match(key):
            raise UsageError(
                f"encoder spec {text!r}: {item!r} is not key=value (e.g. 'nano@augment=shift')"
            )
        options[key] = _value(value)
    if frozen and not options.get("pretrained"):
        raise UsageError(
            f"{text!r}: a frozen encoder needs pretrained weights, e.g. 'frozen:nano@pretrained=true'"
        )
    return EncoderSpec(name, options, frozen)


def folder_safe(text: str) -> str:
    """A spec as a folder-name part: ``frozen:nano@pretrained=true`` -> ``frozen-nano+pretrained``."""
    spec = parse_encoder_spec(text)
    parts = ["frozen-" + spec.name if spec.frozen else spec.name]
    for key, value in spec.options.items():
        if value is True:
            parts.append(key)
        else:
            parts.append(f"{key}-{re.sub(r'[^A-Za-z0-9.]+', '_', str(value))}")
    return "+".join(parts)


@dataclass(frozen=True)
class RunSpec:
    """One cell of the grid: an algorithm, a game (env), an encoder spec and a seed."""

    algo: str
    game: str
    encoder: str
    seed: int

    @property
    def name(self) -> str:
        """The run folder's name (the examples' ``<algo>_<env>_<encoder>_s<seed>`` for plain
        encoder names, so the first study's folders are the same runs)."""
        game = self.game.replace("/", "_").replace(":", "-")
        return f"{self.algo}_{game}_{folder_safe(self.encoder)}_s{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_grid(games: list[str], encoders: list[str], seeds: list[int], algo: str) -> list[RunSpec]:
    """Every (game, encoder, seed), seed by seed: a whole seed of every game and encoder is
    done before the next seed starts, so a study cut short still compares like with like.

    Raises:
        UsageError: a bad encoder spec or env name, or an algorithm other than PPO.
    """
    if algo != "ppo":
        raise UsageError(
            f"the study trains PPO only (got {algo!r}); DQN runs: examples/atari_dqn.py"
        )
    for encoder in encoders:
        parse_encoder_spec(encoder)
    for game in games:
        env_kind(game)
    return [RunSpec(algo, g, e, s) for s in seeds for g in games for e in encoders]


#: rl-zoo3 2.9.2's ``ppo.yml`` ``CarRacing-v3`` entry, with the study's differences (docs/studies.md):
#: RGB 96x96 frames instead of gray 64x64, the budget, and the encoder.
CARRACING_PPO: dict[str, Any] = {
    "n_envs": 8,
    "n_steps": 512,
    "batch_size": 128,
    "n_epochs": 10,
    "learning_rate": 1e-4,  # lin_1e-4: decayed linearly to 0
    "clip_range": 0.2,
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "ent_coef": 0.0,
    "vf_coef": 0.5,
    "max_grad_norm": 0.5,
    "use_sde": True,
    "sde_sample_freq": 4,
    "log_std_init": -2.0,
    "ortho_init": False,
    "activation_fn": "GELU",
    "net_arch": {"pi": [256], "vf": [256]},
    "normalize_reward": True,  # VecNormalize(norm_obs=False, norm_reward=True)
    "frame_skip": 2,
    "frame_stack": 2,
    "frames": "rgb96",
    "max_episode_steps": None,  # the env's own 1000 frames
    "eval_episodes": 10,
    "deterministic_eval": False,
}

_NANO_PRETRAINED = "nano@pretrained=true"
# Fine-tuned at a tenth of the heads' learning rate, so that the ImageNet weights are kept.
_NANO_FINE_TUNED = _NANO_PRETRAINED + ",encoder_lr_scale=0.1"

#: The studies' grids, in the issue's order: (games, encoder specs, seeds).
GRIDS: dict[str, tuple[list[str], list[str], list[int]]] = {
    "carracing": (
        [CARRACING],
        ["nature", "impala", "nano", _NANO_FINE_TUNED, "frozen:" + _NANO_PRETRAINED],
        [0, 1, 2],
    ),
    "carracing-augment": (
        [CARRACING],
        ["nature@augment=shift", "impala@augment=shift", "nano@augment=shift"],
        [0, 1, 2],
    ),
    # Added to the first study's 12 Breakout runs (nature, impala, nano, nano_rl x 3 seeds).
    "breakout-additions": (
        ["Breakout"],
        [
            "nature@augment=shift",
            "impala@augment=shift",
            "nano@augment=shift",
            "frozen:" + _NANO_PRETRAINED,
        ],
        [0, 1, 2],
    ),  # fmt: skip
}
