"""``python -m mnv4_lab.study`` = the ``mnv4-rl-study`` console script."""

from . import main

main()
