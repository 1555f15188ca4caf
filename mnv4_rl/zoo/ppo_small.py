"""rl-zoo3 config: PPO on Atari with the ``small`` encoder (``-conf mnv4_rl.zoo.ppo_small``)."""

from mnv4_rl.zoo import hyperparams_for

hyperparams = hyperparams_for("ppo", "small")
