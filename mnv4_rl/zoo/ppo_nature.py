"""rl-zoo3 config: PPO on Atari with the ``nature`` encoder (``-conf mnv4_rl.zoo.ppo_nature``)."""

from mnv4_rl.zoo import hyperparams_for

hyperparams = hyperparams_for("ppo", "nature")
