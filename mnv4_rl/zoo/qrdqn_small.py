"""rl-zoo3 config: QR-DQN on Atari with the ``small`` encoder (``-conf mnv4_rl.zoo.qrdqn_small``)."""

from mnv4_rl.zoo import hyperparams_for

hyperparams = hyperparams_for("qrdqn", "small")
