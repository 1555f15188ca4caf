"""Seeded learning studies: ``mnv4-rl-study run`` trains a grid of game x encoder x seed with the
Atari examples, ``mnv4-rl-study report`` turns the finished runs into tables, curves and an
aggregate with confidence intervals."""

from .cli import main

__all__ = ["main"]
