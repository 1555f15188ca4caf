"""rl-zoo3 config: A2C on Atari with the ``medium`` encoder (``-conf mnv4_rl.zoo.a2c_medium``)."""

from mnv4_rl.zoo import hyperparams_for

hyperparams = hyperparams_for("a2c", "medium")
