"""rl-zoo3 config: PPO on Atari with the ``nano`` encoder (``-conf mnv4_rl.zoo.ppo_nano``)."""

from mnv4_rl.zoo import hyperparams_for

hyperparams = hyperparams_for("ppo", "nano")
