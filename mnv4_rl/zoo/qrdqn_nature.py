"""rl-zoo3 config: QR-DQN on Atari with the ``nature`` encoder (``-conf mnv4_rl.zoo.qrdqn_nature``)."""

from mnv4_rl.zoo import hyperparams_for

hyperparams = hyperparams_for("qrdqn", "nature")
