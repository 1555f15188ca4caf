"""rl-zoo3 config: DQN on Atari with the ``nano_rl`` encoder (``-conf mnv4_rl.zoo.dqn_nano_rl``)."""

from mnv4_rl.zoo import hyperparams_for

hyperparams = hyperparams_for("dqn", "nano_rl")
