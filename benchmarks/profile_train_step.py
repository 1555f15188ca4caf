"""Profile an encoder's training step at PPO's minibatch and print where the time goes.

The extractor as the benchmark builds it (``mnv4_lab.bench`` encoder specs: ``nano``,
``nano@norm=frozen``, ``timm-nano``...), 4x84x84 inputs, train mode, forward + backward + Adam step;
``torch.profiler`` over ``--steps`` steps after 3 warm-up steps, operators sorted by their own time:

    python benchmarks/profile_train_step.py --encoder nano --batch 256
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from gymnasium import spaces
from torch.profiler import profile

from mnv4_lab.bench.encoders import build_extractor, parse_encoder


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--encoder", default="nano")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--rows", type=int, default=15)
    args = parser.parse_args()

    space = spaces.Box(0, 255, (4, 84, 84), np.uint8)
    extractor = build_extractor(parse_encoder(args.encoder), space).train()
    optimizer = torch.optim.Adam(extractor.parameters(), lr=1e-6)
    x = torch.rand(args.batch, 4, 84, 84)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        extractor(x).square().mean().backward()
        optimizer.step()

    for _ in range(3):
        step()
    with profile() as profiler:
        for _ in range(args.steps):
            step()
    print(
        f"{args.encoder}, batch {args.batch}, {args.steps} steps, {torch.get_num_threads()} threads"
    )
    print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()
