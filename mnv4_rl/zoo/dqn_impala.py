"""rl-zoo3 config: DQN on Atari with the ``impala`` encoder (``-conf mnv4_rl.zoo.dqn_impala``)."""

from mnv4_rl.zoo import hyperparams_for

hyperparams = hyperparams_for("dqn", "impala")
