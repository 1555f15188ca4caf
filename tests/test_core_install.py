"""The core installs and works alone: ``pip install mnv4_rl`` without extras gives a working
classifier, with no SB3, gymnasium or any other integration's package; the library never imports
the lab."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]

# Every integration's packages, and the lab: the core must run with all of them missing.
NOT_CORE = [
    "stable_baselines3", "sb3_contrib", "gymnasium", "ale_py", "ray", "onnx", "onnxruntime",
    "executorch", "rl_zoo3", "timm", "torchvision", "safetensors", "huggingface_hub", "scipy",
    "matplotlib", "rliable", "cv2", "mnv4_lab",
]  # fmt: skip

CORE_USE = """
import sys
blocked = sys.argv[1:]
for name in blocked:  # as if not installed: import fails, importlib.util.find_spec gives None
    sys.modules[name] = None
import torch, mnv4_rl
from mnv4_rl import create_model, encoders, frames, profiling, weights

model = create_model("conv_small_035", num_classes=10).eval()
torch.save(model.state_dict(), "own.pth")
again = create_model("conv_small_035", num_classes=10, pretrained="own.pth").eval()
x = torch.rand(2, 3, 64, 64)
assert torch.equal(model(x), again(x))
assert profiling.count_macs(model, (3, 64, 64)) > 0
try:
    import mnv4_rl.sb3
except ImportError as error:
    assert "pip install 'mnv4_rl[sb3]'" in str(error), error
else:
    raise AssertionError("mnv4_rl.sb3 imported without stable_baselines3")
loaded = sorted(m for m, v in sys.modules.items() if v is not None and m.split(".")[0] in blocked)
assert not loaded, loaded
print("core ok")
"""


def test_core_dependencies_are_torch_and_numpy_only() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = sorted(dep.split(">")[0].split("=")[0].split("<")[0] for dep in project["dependencies"])
    assert names == ["numpy", "torch"]
    assert {"sb3", "atari", "hub", "rllib", "export", "zoo"} <= set(
        project["optional-dependencies"]
    )


def test_the_core_runs_without_any_integration_package(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CORE_USE, *NOT_CORE],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0 and "core ok" in done.stdout, done.stderr[-3000:]


def test_the_library_never_imports_the_lab() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "mnv4_rl").rglob("*.py")
        if "mnv4_lab" in path.read_text()
    ]
    assert not offenders, offenders


LAB_COMMAND = """
import sys
for name in sys.argv[2:]:
    sys.modules[name] = None
command = sys.argv[1]
sys.argv = [command, "--help"]
# What pip's console-script wrapper runs.
if command == "mnv4-rl-bench":
    from mnv4_lab.bench import main
else:
    from mnv4_lab.study import main
sys.exit(main())
"""


@pytest.mark.parametrize("command", ["mnv4-rl-bench", "mnv4-rl-study"])
def test_the_lab_commands_name_the_extras_on_a_core_install(command: str, tmp_path: Path) -> None:
    """On ``pip install mnv4_rl`` (no extras), the lab's commands exit with one line naming the
    extras to install, not a traceback."""
    blocked = [name for name in NOT_CORE if name != "mnv4_lab"]
    done = subprocess.run(
        [sys.executable, "-c", LAB_COMMAND, command, *blocked],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, (done.returncode, done.stderr[-3000:])
    assert done.stderr.strip().splitlines() == [
        f"{command} needs the stable_baselines3 package: pip install 'mnv4_rl[atari,examples]'"
    ]
