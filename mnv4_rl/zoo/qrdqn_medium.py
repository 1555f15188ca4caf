"""rl-zoo3 config: QR-DQN on Atari with the ``medium`` encoder (``-conf mnv4_rl.zoo.qrdqn_medium``)."""

from mnv4_rl.zoo import hyperparams_for

hyperparams = hyperparams_for("qrdqn", "medium")
