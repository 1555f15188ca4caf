"""rl-zoo3 config: DQN on Atari with the ``small`` encoder (``-conf mnv4_rl.zoo.dqn_small``)."""

from mnv4_rl.zoo import hyperparams_for

hyperparams = hyperparams_for("dqn", "small")
