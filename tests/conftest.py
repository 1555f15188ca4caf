"""Shared fixtures. Tests run on the CPU, single-threaded pieces kept small for 2-core CI."""

from __future__ import annotations

import pytest
import torch

# One thread: CI runs on 2 cores, and tests that start subprocesses (torchrun, save/load) or run
# beside each other stay fast only when torch does not oversubscribe the cores.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def one_thread():
    """One torch thread for the test, restored after it (code under test may change it): on a busy
    2-core machine, two threads spin against each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """||a - b|| / ||b|| in float64."""
    a, b = a.double(), b.double()
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()
