"""rl-zoo3 config: DQN on Atari with the ``nature`` encoder (``-conf mnv4_rl.zoo.dqn_nature``)."""

from mnv4_rl.zoo import hyperparams_for

hyperparams = hyperparams_for("dqn", "nature")
