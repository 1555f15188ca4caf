"""rl-zoo3 config: PPO on Atari with the ``medium`` encoder (``-conf mnv4_rl.zoo.ppo_medium``)."""

from mnv4_rl.zoo import hyperparams_for

hyperparams = hyperparams_for("ppo", "medium")
