"""The README's "Use with Stable-Baselines3" section runs as written (its budgets are tiny)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file

README = Path(__file__).resolve().parents[1] / "README.md"


def section_code(name: str) -> list[str]:
    """The ```python blocks between ``<!-- section:name -->`` and its closing marker."""
    text = README.read_text()
    match = re.search(rf"<!-- section:{name} -->(.*?)<!-- /section:{name} -->", text, re.S)
    assert match, f"README has no section {name!r}"
    return re.findall(r"```python\n(.*?)```", match.group(1), re.S)


def test_readme_sb3_section_runs(tmp_path, monkeypatch) -> None:
    blocks = section_code("sb3")
    assert len(blocks) == 2
    monkeypatch.chdir(tmp_path)  # the examples save files in the working directory
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a busy 2-core machine runs two spinning threads far slower
    # The checkpoint the second example names: timm's architecture, written here (no download).
    state = timm.create_model("mobilenetv4_conv_small_050").state_dict()
    save_file(state, "mobilenetv4_conv_small_050.safetensors")
    namespace: dict = {}
    try:
        exec(compile(blocks[0], "README.md[sb3 block 1]", "exec"), namespace)
        assert (tmp_path / "ppo_pong_mnv4.zip").exists()
        assert namespace["model"].num_timesteps >= 256
        with pytest.warns(UserWarning, match="frame rule: 4 RGB frame"):
            exec(compile(blocks[1], "README.md[sb3 block 2]", "exec"), namespace)
    finally:
        torch.set_num_threads(threads)
    extractor = namespace["model"].q_net.features_extractor
    assert extractor.frames.layout == "khwc" and extractor.norm == "frozen"
    assert namespace["model"].num_timesteps >= 256
