"""The opt-in speed-ups: the compiled path gives the eager model's outputs and gradients and falls
back safely; tune_malloc changes where memory comes from."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from conftest import relative_error

import mnv4_rl


def test_compiled_rollouts_equal_eager_and_training_stays_eager() -> None:
    model = mnv4_rl.create_model("nano", in_channels=4, num_classes=0).eval()
    fast = mnv4_rl.compile_model(model)
    x = torch.rand(8, 4, 84, 84)
    with torch.inference_mode():
        eager, compiled = model(x), fast(x)
    assert not fast._failed
    assert relative_error(compiled, eager) < 1e-5
    assert fast.state_dict().keys() == {f"module.{k}" for k in model.state_dict()}
    assert fast.head_hidden_size == 1280  # attributes of the wrapped model are reachable

    # Training calls (autograd on) run the same parameters eagerly: same gradients.
    model.train()
    fast(x).square().mean().backward()
    compiled_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model(x).square().mean().backward()
    for got, expected in zip(compiled_grads, (p.grad for p in model.parameters()), strict=True):
        torch.testing.assert_close(got, expected)


def test_compiler_failure_falls_back_to_eager_with_a_warning() -> None:
    def broken_backend(graph_module, example_inputs):
        raise RuntimeError("no C++ compiler on this machine")

    model = mnv4_rl.create_model("nano", num_classes=0).eval()
    fast = mnv4_rl.compile_model(model, backend=broken_backend)
    x = torch.rand(2, 3, 64, 64)
    with pytest.warns(RuntimeWarning, match="torch.compile failed .*running the eager model"):
        with torch.no_grad():
            out = fast(x)
    assert fast._failed
    with torch.no_grad():
        torch.testing.assert_close(out, model(x))


def test_input_errors_are_not_swallowed_by_the_fallback() -> None:
    fast = mnv4_rl.compile_model(mnv4_rl.create_model("nano", in_channels=4).eval())
    with pytest.raises(ValueError, match="expected 4 input channels, got 3"), torch.no_grad():
        fast(torch.rand(1, 3, 64, 64))
    assert not fast._failed


def test_extractor_compile_option_keeps_outputs_and_state_dict() -> None:
    import copy
    import pickle

    import numpy as np
    from gymnasium import spaces

    from mnv4_rl.sb3 import MNv4NanoExtractor

    space = spaces.Box(0, 255, (4, 84, 84), np.uint8)
    eager = MNv4NanoExtractor(space).eval()
    fast = MNv4NanoExtractor(space, compile=True).eval()
    fast.load_state_dict(eager.state_dict())
    assert fast.state_dict().keys() == eager.state_dict().keys()
    obs = torch.randint(0, 256, (8, 4, 84, 84)).float()
    with torch.no_grad():
        assert relative_error(fast(obs), eager(obs)) < 1e-5
    assert fast._compiled is not None and not fast._compiled._failed
    clone = pickle.loads(pickle.dumps(fast))  # SB3 pickles policies (policy.save)
    assert clone._compiled is None and copy.deepcopy(fast)._compiled is None


FREE_64_MIB = """
import sys, torch, mnv4_lab

def rss_mib():
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmRSS:")) / 1024

applied = mnv4_lab.tune_malloc() if sys.argv[1] == "tuned" else None
block = torch.ones(16 * 2**20)  # 64 MiB, written
before = rss_mib()
del block
print(applied, before - rss_mib())
"""


@pytest.mark.parametrize("setting", ["default", "tuned"])
def test_tune_malloc_keeps_freed_blocks_for_reuse(setting: str) -> None:
    # Process-wide, so each setting runs in its own interpreter. glibc's default unmaps a freed
    # 64 MiB block (resident memory drops); tuned, the block stays in the heap for the next tensor.
    done = subprocess.run(
        [sys.executable, "-c", FREE_64_MIB, setting], capture_output=True, text=True, check=True
    )
    applied, released_mib = done.stdout.split()
    if setting == "default":
        assert float(released_mib) > 60
    else:
        assert applied == "True"
        assert float(released_mib) < 4
