"""SB3 zips saved before the frames/encoders refactor (commit 7b99903) still load in a fresh
process and act as they did: the extractor class paths, keyword arguments and state-dict keys
are kept. ``tests/data/legacy_sb3/make_legacy_zips.py`` says how the zips were made."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data" / "legacy_sb3"

LOAD = """
import sys
import numpy as np
from stable_baselines3 import DQN, PPO

name, data = sys.argv[1], sys.argv[2]
sys.path.insert(0, sys.argv[3])
from helpers import policy_scores

algo = {"ppo": PPO, "dqn": DQN}[name]
model = algo.load(f"{data}/{name}_custom.zip", device="cpu")
expected = np.load(f"{data}/{name}_expected.npz")
actions, scores = policy_scores(model, expected["obs"])
np.testing.assert_array_equal(actions, expected["actions"])
np.testing.assert_allclose(scores, expected["scores"], rtol=1e-5, atol=1e-6)
extractor = model.policy.features_extractor if name == "ppo" else model.q_net.features_extractor
print(type(extractor).__module__, type(extractor).__name__)
"""


@pytest.mark.parametrize("name", ["ppo", "dqn"])
def test_zips_saved_before_the_refactor_load_and_act_the_same(name: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", LOAD, name, str(DATA), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["mnv4_rl.sb3.extractors", "MobileNetV4Extractor"]
    assert np.load(DATA / f"{name}_expected.npz")["obs"].shape[0] == 5
