"""rl-zoo3 config: QR-DQN on Atari with the ``nano_rl`` encoder (``-conf mnv4_rl.zoo.qrdqn_nano_rl``)."""

from mnv4_rl.zoo import hyperparams_for

hyperparams = hyperparams_for("qrdqn", "nano_rl")
