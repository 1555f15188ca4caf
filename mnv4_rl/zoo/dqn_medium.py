"""rl-zoo3 config: DQN on Atari with the ``medium`` encoder (``-conf mnv4_rl.zoo.dqn_medium``)."""

from mnv4_rl.zoo import hyperparams_for

hyperparams = hyperparams_for("dqn", "medium")
