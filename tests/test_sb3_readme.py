"""Every SB3 snippet of the README and docs/sb3.md runs as written, each on its own (a fresh
namespace, as a reader pastes it), with tiny budgets."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import cache_timm_weights, markdown_code

NANO_WEIGHTS = "timm/mobilenetv4_conv_small_050.e3000_r224_in1k"  # the family table's default


def test_readme_sb3_snippet_runs(tmp_path: Path, monkeypatch, one_thread) -> None:
    monkeypatch.setenv("MNV4_RL_WEIGHTS", str(tmp_path / "empty-cache"))  # needs no weights
    monkeypatch.chdir(tmp_path)  # the example saves a zip in the working directory
    (code,) = markdown_code("README.md", "sb3")
    namespace: dict = {}
    exec(compile(code, "README.md#sb3", "exec"), namespace)
    assert (tmp_path / "ppo_pong_mnv4.zip").exists()
    assert namespace["model"].num_timesteps >= 256


def test_docs_sb3_pretrained_snippet_runs(tmp_path: Path, monkeypatch, one_thread) -> None:
    # pretrained=True reads the variant's default checkpoint from the cache, as saved by the
    # README's offline-weights step (timm's architecture, written here: no download).
    cache = tmp_path / "cache"
    monkeypatch.setenv("MNV4_RL_WEIGHTS", str(cache))
    cache_timm_weights(cache, NANO_WEIGHTS)
    monkeypatch.chdir(tmp_path)
    (code,) = markdown_code("docs/sb3.md", "sb3-pretrained")
    namespace: dict = {}
    with pytest.warns(UserWarning, match="frame rule: 4 RGB frame"):
        exec(compile(code, "docs/sb3.md#sb3-pretrained", "exec"), namespace)
    extractor = namespace["model"].q_net.features_extractor
    assert extractor.frames.layout == "khwc" and extractor.norm == "frozen"
    assert extractor.pretrained_summary.source == NANO_WEIGHTS
    assert namespace["model"].num_timesteps >= 256
