"""The README's code runs as written: the quick start on a fresh machine (no network, no files),
and the offline-weights step once its file is where the README says to save it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import cache_timm_weights, markdown_code


def _run(code: str, where: str) -> dict:
    namespace: dict = {}
    exec(compile(code, where, "exec"), namespace)
    return namespace


def test_quickstart_runs_with_nothing_prepared(tmp_path: Path, monkeypatch) -> None:
    # An empty weights cache and an empty working directory: what a reader has on a fresh clone.
    monkeypatch.setenv("MNV4_RL_WEIGHTS", str(tmp_path / "empty-cache"))
    monkeypatch.chdir(tmp_path)
    blocks = markdown_code("README.md", "quickstart")
    assert len(blocks) == 1, "the reader's first snippet is one block"
    namespace = _run(blocks[0], "README.md#quickstart")
    assert namespace["logits"].shape == (2, 1000)
    assert namespace["features"].shape == (8, 1280)
    assert [m.shape[-1] for m in namespace["maps"]] == [42, 21, 11, 6, 3]
    assert list(tmp_path.iterdir()) == []  # nothing written either


def test_offline_weights_step(tmp_path: Path, monkeypatch) -> None:
    """The shell step saves the file where the loader looks; then the Python step loads it."""
    (shell,) = markdown_code("README.md", "weights", "bash")
    hub_id = re.search(r"^HUB_ID=(\S+)$", shell, re.M).group(1)
    target = "~/.cache/mnv4_rl/$HUB_ID/model.safetensors"
    assert f"-o {target}" in shell
    assert "https://huggingface.co/$HUB_ID/resolve/main/model.safetensors" in shell

    cache = tmp_path / "cache"
    monkeypatch.setenv("MNV4_RL_WEIGHTS", str(cache))  # the README's other place for the file
    cache_timm_weights(cache, hub_id)
    monkeypatch.chdir(tmp_path)
    (code,) = markdown_code("README.md", "weights")
    with pytest.warns(UserWarning, match="classifier re-initialised"):
        namespace = _run(code, "README.md#weights")
    summary = namespace["model"].pretrained_summary
    assert summary.source == hub_id  # pretrained=True read the file the shell step saved
    assert summary.stem and summary.classifier  # both adaptations reported
