"""rl-zoo3 config: QR-DQN on Atari with the ``impala`` encoder (``-conf mnv4_rl.zoo.qrdqn_impala``)."""

from mnv4_rl.zoo import hyperparams_for

hyperparams = hyperparams_for("qrdqn", "impala")
