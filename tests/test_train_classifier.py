"""examples/train_classifier.py, run as a user runs it: in a fresh process (and under torchrun).

Small budgets (32 px images, conv_small_035, one thread per process) keep each test short.
"""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import markdown_code

import mnv4_rl
from mnv4_lab.data import ImageFolder, Normalize, ShapesDataset, save_image_folder

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "train_classifier.py"
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # 2 shared cores: one thread per process
SMALL = ["--model", "conv_small_035", "--img-size", "32", "--no-progress", "--seed", "0"]
IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])  # conv_small_035 has no weights


def run(*args: str, torchrun: int = 0, check: bool = True) -> subprocess.CompletedProcess:
    launcher = [sys.executable]
    if torchrun:
        with socket.socket() as s:  # a free port, so parallel test runs do not collide
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        launcher += [
            "-m",
            "torch.distributed.run",
            f"--nproc_per_node={torchrun}",
            f"--master_port={port}",
        ]
    result = subprocess.run(
        [*launcher, str(SCRIPT), *args], capture_output=True, text=True, env=ENV, timeout=600
    )
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def assert_same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_demo_run_learns_and_exports_best_model(tmp_path: Path) -> None:
    # 125 steps of 64 images, 6 classes: chance is 16.7%.
    out = tmp_path / "run"
    run(
        "--data",
        "demo",
        *SMALL,
        "--demo-classes",
        "6",
        "--demo-train-size",
        "1600",
        "--demo-val-size",
        "240",
        "--batch-size",
        "64",
        "--epochs",
        "5",
        "--lr",
        "2e-3",
        "--sched",
        "constant",
        "--warmup-epochs",
        "0",
        "--smoothing",
        "0",
        "--head-init-scale",
        "0",
        "--output",
        str(out),
    )
    rows = read_csv(out / "summary.csv")
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3, 4]
    assert all(int(r["val_samples"]) == 240 for r in rows)
    best_top1 = max(float(r["val_top1"]) for r in rows)
    assert best_top1 >= 2 * 100 / 6, rows
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))

    # best.pth is the best epoch's weights, loadable by the package: re-evaluate it here.
    best = load(out / "best.pth")
    assert best["top1"] == pytest.approx(best_top1)
    model = mnv4_rl.create_model("conv_small_035", num_classes=6, pretrained=out / "best.pth")
    val = ShapesDataset(240, 32, 6, split="val", transform=Normalize(*IMAGENET))
    images = torch.stack([val[i][0] for i in range(len(val))])
    labels = torch.tensor([val[i][1] for i in range(len(val))])
    with torch.no_grad():
        correct = (model.eval()(images).argmax(1) == labels).sum().item()
    assert abs(100 * correct / 240 - best_top1) <= 100 / 240 + 1e-6  # at most one image apart


def test_resume_continues_exactly_where_it_stopped(tmp_path: Path) -> None:
    common = [
        "--data",
        "demo",
        *SMALL,
        "--demo-train-size",
        "128",
        "--demo-val-size",
        "64",
        "--batch-size",
        "32",
        "--sched",
        "constant",
        "--ema",
        "--amp",
        "bf16",
        "--no-tensorboard",
    ]
    straight, split = tmp_path / "straight", tmp_path / "split"
    run(*common, "--epochs", "2", "--output", str(straight))
    run(*common, "--epochs", "1", "--output", str(split))
    assert load(split / "last.pth")["epoch"] == 1
    resumed = run(*common, "--epochs", "2", "--resume", str(split / "last.pth"))
    assert "1 of 2 epochs done" in resumed.stdout
    assert "epoch 1/2" not in resumed.stdout  # it did not train the first epoch again

    final = load(split / "last.pth")
    assert final["epoch"] == 2 and final["scheduler"]["step_count"] == 2 * 4
    # Model, EMA, optimizer, RNG and sampler state all restored: identical to an unbroken run.
    reference = load(straight / "last.pth")
    assert_same_tensors(final["model"], reference["model"])
    assert_same_tensors(final["ema"]["module"], reference["ema"]["module"])
    drop_time = [
        {k: v for k, v in row.items() if k != "epoch_time"}
        for row in read_csv(split / "summary.csv")
    ]
    assert drop_time == [
        {k: v for k, v in row.items() if k != "epoch_time"}
        for row in read_csv(straight / "summary.csv")
    ]

    # What --resume refuses, each in one line: weights-only best.pth, another model, a bad file.
    (tmp_path / "broken.pth").write_bytes((split / "last.pth").read_bytes()[:5000])
    for args, says in (
        (["--resume", str(split / "best.pth")], "it is a best.pth (weights only)"),
        (["--resume", str(split / "last.pth"), "--in-channels", "1"], "--in-channels 3, this"),
        (["--resume", str(tmp_path / "broken.pth")], "cannot read it"),
    ):
        failed = run(*common, "--epochs", "3", *args, check=False)
        assert failed.returncode == 2 and "Traceback" not in failed.stderr, failed.stderr
        assert says in failed.stderr and len(failed.stderr.strip().splitlines()) == 1


def test_torchrun_two_cpu_ranks_agree(tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    result = run(
        "--data",
        "demo",
        *SMALL,
        "--demo-train-size",
        "256",
        "--demo-val-size",
        "101",
        "--batch-size",
        "32",
        "--epochs",
        "2",
        "--ema",
        "--no-tensorboard",
        "--save-rank-state",
        "--output",
        str(out),
        torchrun=2,
    )
    assert "2 process(es) on cpu" in result.stdout
    assert "malloc: tuned" in result.stdout  # on by default (--no-tune-malloc)
    rank0, rank1 = load(out / "rank0.pth"), load(out / "rank1.pth")
    assert_same_tensors(rank0["model"], rank1["model"])
    assert_same_tensors(rank0["ema"]["module"], rank1["ema"]["module"])
    assert_same_tensors(rank0["model"], load(out / "last.pth")["model"])
    # 101 images over 2 ranks (51 + 50): summed counts, not a padded sampler or mean of means.
    rows = read_csv(out / "summary.csv")
    assert [int(r["val_samples"]) for r in rows] == [101, 101]
    for row in rows:
        assert (float(row["val_top1"]) * 101 / 100) == pytest.approx(
            round(float(row["val_top1"]) * 101 / 100), abs=1e-6
        )  # a whole number of correct images out of 101


def test_image_folder_with_pretrained_checkpoint_and_evaluate_only(tmp_path: Path) -> None:
    data = tmp_path / "shapes"
    save_image_folder(ShapesDataset(24, 40, 3, split="train"), data / "train")
    save_image_folder(ShapesDataset(12, 40, 3, split="val"), data / "val")
    assert ImageFolder(data / "train").classes == ["circle", "square", "triangle"]
    # A timm-layout ImageNet checkpoint (written here: no download) for the classifier re-init.
    checkpoint = tmp_path / "imagenet.pth"
    torch.save(mnv4_rl.create_model("conv_small_035").state_dict(), checkpoint)
    out = tmp_path / "run"
    result = run(
        "--data",
        str(data),
        *SMALL,
        "--pretrained",
        str(checkpoint),
        "--batch-size",
        "8",
        "--epochs",
        "1",
        "--workers",
        "1",
        "--no-tensorboard",
        "--output",
        str(out),
    )
    assert "classifier re-initialised: checkpoint has 1000 classes, model has 3" in result.stdout
    logged = read_csv(out / "summary.csv")[-1]
    assert int(logged["val_samples"]) == 12

    evaluated = run(
        "--data",
        str(data),
        *SMALL,
        "--evaluate-only",
        "--resume",
        str(out / "last.pth"),
        "--workers",
        "0",
    )
    assert f"top-1 {float(logged['val_top1']):.2f}%" in evaluated.stdout
    assert "(12 images)" in evaluated.stdout


@pytest.mark.parametrize("case", ["missing", "empty_class"])
def test_bad_dataset_gives_clear_error(tmp_path: Path, case: str) -> None:
    if case == "missing":
        data, expected = tmp_path / "nowhere", "does not exist"
    else:
        data = tmp_path / "data"
        save_image_folder(ShapesDataset(6, 32, 2), data / "train")
        save_image_folder(ShapesDataset(4, 32, 2, split="val"), data / "val")
        (data / "train" / "zebra").mkdir()
        expected = f"class folder {data / 'train' / 'zebra'} holds no images"
    result = run(
        "--data", str(data), *SMALL, "--epochs", "1", "--output", str(tmp_path / "o"), check=False
    )
    assert result.returncode == 2
    assert expected in result.stderr
    if case == "missing":  # the message names the fix
        assert "ImageFolder layout" in result.stderr and "--data demo" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_dataset_is_deterministic_and_balanced() -> None:
    a, b = ShapesDataset(12, 32, 6, seed=3), ShapesDataset(12, 32, 6, seed=3)
    assert all(torch.equal(a.render(i)[0], b.render(i)[0]) for i in range(12))
    val = ShapesDataset(12, 32, 6, seed=3, split="val")
    assert not torch.equal(a.render(0)[0], val.render(0)[0])
    assert [a[i][1] for i in range(12)] == [0, 1, 2, 3, 4, 5] * 2
    image = a.render(5)[0]
    assert image.shape == (3, 32, 32) and 0.0 <= image.min() and image.max() <= 1.0


def test_unknown_model_name_gives_clear_error() -> None:
    result = run("--data", "demo", "--model", "conv_tiny", "--epochs", "1", check=False)
    assert result.returncode == 2
    assert "unknown model 'conv_tiny'" in result.stderr and "conv_small" in result.stderr
    assert "Traceback" not in result.stderr


def test_readme_commands_parse() -> None:
    """Every command of docs/classifier.md is valid for the script's parser."""
    import importlib.util
    import shlex

    spec = importlib.util.spec_from_file_location("train_classifier", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    code = "\n".join(markdown_code("docs/classifier.md", "classifier", "bash"))
    commands = [c for c in code.replace("\\\n", " ").splitlines() if "train_classifier.py" in c]
    assert len(commands) >= 6
    for command in commands:
        words = shlex.split(command, comments=True)
        args = script.parse_args(words[words.index("examples/train_classifier.py") + 1 :])
        assert args.data
