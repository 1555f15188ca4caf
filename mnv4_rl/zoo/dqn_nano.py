"""rl-zoo3 config: DQN on Atari with the ``nano`` encoder (``-conf mnv4_rl.zoo.dqn_nano``)."""

from mnv4_rl.zoo import hyperparams_for

hyperparams = hyperparams_for("dqn", "nano")
