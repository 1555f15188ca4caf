"""Probe: how much would an RL-shaped stem buy at 84x84? (not a package variant yet)

At 84x84 the nano encoder (conv_small_050) spends most of its activations at 42x42: a stride-2
stem to 32 channels, then a stride-2 3x3 conv. The probe replaces both with one 4x4 stride-4
"patchify" conv to 16 channels (the width stage 1 expects) and keeps stages 1-4 and the head.
It is timed against nano and SB3's NatureCNN, interleaved, medians:

    python benchmarks/stem_probe.py --repeats 5

Learning quality of such a variant is not measured: it is a speed probe for a future ``nano_rl``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import NatureCNN
from torch import nn

import mnv4_rl
from mnv4_rl.models.specs import CONV_SMALL_050


def patchify_nano(in_channels: int) -> nn.Module:
    """nano without its first stage, behind a 4x4 stride-4 stem (84 -> 21)."""
    model = mnv4_rl.mobilenet_v4_custom(
        in_channels=in_channels,
        num_classes=0,
        stem_channels=16,
        stages=[list(stage) for stage in CONV_SMALL_050.stages[1:]],
        hidden_dim_classifier=1280,
        dropout=0.0,
    )
    model.stem.conv = nn.Conv2d(in_channels, 16, 4, stride=4, bias=False)
    model.min_input_size = 64
    return model.to(memory_format=torch.channels_last)


def rate(model: nn.Module, x: torch.Tensor, train: bool, iters: int) -> float:
    """Samples per second: eval forward under no_grad, or forward + backward + Adam step."""
    model.train(train)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-5)

    def step() -> None:
        if train:
            optimizer.zero_grad(set_to_none=True)
            model(x).square().mean().backward()
            optimizer.step()
        else:
            with torch.no_grad():
                model(x)

    step()
    start = time.perf_counter()
    for _ in range(iters):
        step()
    return iters * x.shape[0] / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    space = spaces.Box(0, 255, (4, 84, 84), np.uint8)
    models = {
        "nature": NatureCNN(space, 512),
        "nano": mnv4_rl.create_model("nano", in_channels=4, num_classes=0),
        "patchify-nano": patchify_nano(4),
    }
    for name in ("nano", "patchify-nano"):
        print(f"{name}: {mnv4_rl.count_macs(models[name], (4, 84, 84)) / 1e6:.1f} M MACs")
    batches = {
        "fwd b8": (torch.rand(8, 4, 84, 84), False, 50),
        "train b256": (torch.rand(256, 4, 84, 84), True, 3),
    }
    rates: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeats):
        for task, (x, train, iters) in batches.items():
            for name, model in models.items():
                rates.setdefault((name, task), []).append(rate(model, x, train, iters))
    print(
        "| encoder | " + " | ".join(f"{task} (samples/s, x NatureCNN)" for task in batches) + " |"
    )
    print("|---|" + "---|" * len(batches))
    for name in models:
        cells = []
        for task in batches:
            median = statistics.median(rates[(name, task)])
            cells.append(
                f"{median:,.0f} ({median / statistics.median(rates[('nature', task)]):.2f}x)"
            )
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
