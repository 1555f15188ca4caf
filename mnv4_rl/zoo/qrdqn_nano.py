"""rl-zoo3 config: QR-DQN on Atari with the ``nano`` encoder (``-conf mnv4_rl.zoo.qrdqn_nano``)."""

from mnv4_rl.zoo import hyperparams_for

hyperparams = hyperparams_for("qrdqn", "nano")
