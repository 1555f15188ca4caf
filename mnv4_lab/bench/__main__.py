"""``python -m mnv4_lab.bench`` = the ``mnv4-rl-bench`` console script."""

from . import main

main()
