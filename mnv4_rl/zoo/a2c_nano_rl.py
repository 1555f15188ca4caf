"""rl-zoo3 config: A2C on Atari with the ``nano_rl`` encoder (``-conf mnv4_rl.zoo.a2c_nano_rl``)."""

from mnv4_rl.zoo import hyperparams_for

hyperparams = hyperparams_for("a2c", "nano_rl")
