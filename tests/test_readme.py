"""The README's quick start runs as written (with a checkpoint written here from timm)."""

from __future__ import annotations

import re
from pathlib import Path

import timm
from safetensors.torch import save_file

README = Path(__file__).resolve().parents[1] / "README.md"


def section_code(name: str) -> str:
    text = README.read_text()
    section = re.search(f"<!-- section:{name} -->(.*?)<!-- /section:{name} -->", text, re.S)
    assert section, f"README has no section {name!r}"
    blocks = re.findall(r"```python\n(.*?)```", section.group(1), re.S)
    assert blocks, f"README section {name!r} has no python code"
    return "\n".join(blocks)


def test_quickstart_runs(tmp_path: Path, monkeypatch) -> None:
    state = timm.create_model("mobilenetv4_conv_small").state_dict()
    save_file(state, str(tmp_path / "mobilenetv4_conv_small.safetensors"))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(section_code("quickstart"), "README.md#quickstart", "exec"), namespace)
    assert namespace["logits"].shape == (2, 1000)
    assert namespace["features"].shape == (8, 1280)
    assert [m.shape[-1] for m in namespace["maps"]] == [42, 21, 11, 6, 3]
    summary = namespace["model"].pretrained_summary
    assert summary.stem and summary.classifier  # both adaptations reported
