"""rl-zoo3 config: A2C on Atari with the ``small`` encoder (``-conf mnv4_rl.zoo.a2c_small``)."""

from mnv4_rl.zoo import hyperparams_for

hyperparams = hyperparams_for("a2c", "small")
