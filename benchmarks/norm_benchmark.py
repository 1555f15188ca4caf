"""Time the three ``norm`` choices side by side: ``python benchmarks/norm_benchmark.py``.

For each norm, the backbone + projection of :class:`~mnv4_rl.sb3.MobileNetV4Extractor` is timed on
a training step (forward + backward, train mode, batch 256) and on an acting step (eval-mode
forward under ``no_grad``, batch 8), on 4 stacked 84x84 frames. The norms are interleaved round by
round and the median is reported, so a busy machine slows all of them alike.

Two properties are printed with the times, on the same random frames: the mean absolute pooled
backbone output at initialisation (its scale), and the gap between train-mode and eval-mode
features, ``||f_train - f_eval|| / ||f_eval||`` (what PPO sees between collecting a rollout in eval
mode and its first training epoch), measured after the timing rounds updated the statistics.
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import numpy as np
import torch

from .extractors import MobileNetV4Extractor

NORMS = ("batch", "group", "frozen")


def _train_step(extractor: MobileNetV4Extractor, x: torch.Tensor) -> float:
    extractor.train()
    start = time.perf_counter()
    extractor(x).sum().backward()
    return time.perf_counter() - start


def _act_step(extractor: MobileNetV4Extractor, x: torch.Tensor) -> float:
    extractor.eval()
    start = time.perf_counter()
    with torch.no_grad():
        extractor(x)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="nano")
    parser.add_argument("--train-batch", type=int, default=256)
    parser.add_argument("--act-batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=84, help="frame height and width")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    space = gym.spaces.Box(0, 255, (4, args.size, args.size), np.uint8)
    extractors = {n: MobileNetV4Extractor(space, args.variant, norm=n) for n in NORMS}
    train_x = torch.rand(args.train_batch, 4, args.size, args.size)
    act_x = torch.rand(args.act_batch, 4, args.size, args.size)
    times: dict[str, dict[str, list[float]]] = {n: {"train": [], "act": []} for n in NORMS}
    with torch.no_grad():
        scale = {
            n: e.eval().backbone(train_x[:32]).abs().mean().item() for n, e in extractors.items()
        }
    for extractor in extractors.values():  # warm-up
        _train_step(extractor, train_x[:16])
        _act_step(extractor, act_x)
    for _ in range(args.rounds):
        for norm, extractor in extractors.items():
            times[norm]["train"].append(_train_step(extractor, train_x))
            times[norm]["act"].append(_act_step(extractor, act_x))

    print(
        f"{args.variant}, 4x{args.size}x{args.size}, torch threads {torch.get_num_threads()}, "
        f"median of {args.rounds} interleaved rounds"
    )
    gap = {}
    with torch.no_grad():
        for norm, extractor in extractors.items():
            f_train = extractor.train()(train_x[:64])
            f_eval = extractor.eval()(train_x[:64])
            gap[norm] = ((f_train - f_eval).norm() / f_eval.norm()).item()
    train_head, act_head = f"train fwd+bwd b{args.train_batch}", f"act fwd b{args.act_batch}"
    print(
        f"{'norm':8} {train_head:>22} {act_head:>14} {'|features| at init':>19} {'train/eval gap':>15}"
    )
    for norm in NORMS:
        train = statistics.median(times[norm]["train"]) * 1e3
        act = statistics.median(times[norm]["act"]) * 1e3
        print(f"{norm:8} {train:19.1f} ms {act:11.2f} ms {scale[norm]:19.3f} {gap[norm]:15.3f}")


if __name__ == "__main__":
    main()
