"""rl-zoo3 config: PPO on Atari with the ``impala`` encoder (``-conf mnv4_rl.zoo.ppo_impala``)."""

from mnv4_rl.zoo import hyperparams_for

hyperparams = hyperparams_for("ppo", "impala")
