"""What folding BatchNorm at every call costs: the folded fast path (weights folded from the live
parameters at each call, as every network here runs in eval mode or with ``norm="frozen"``)
against a copy whose BatchNorm is fused into the convolutions once (``fuse_for_inference``:
the speed a cache of folded weights would give, without the risk of going stale).

Eval mode, ``no_grad``, 4x84x84 inputs, batch 8 (acting) and 256 (a PPO minibatch); the two
take turns round by round; medians.

    python benchmarks/fold_cost.py --out docs/results/cpu-2core/fold_cost.md
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path

import torch

import mnv4_rl
from mnv4_lab.bench.report import header, machine_info


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--variants", nargs="+", default=["nano", "nano_rl", "small"])
    p.add_argument("--batches", nargs="+", type=int, default=[8, 256])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--out", default=None)
    return p.parse_args(argv)


def timed(model: torch.nn.Module, x: torch.Tensor, calls: int) -> float:
    with torch.no_grad():
        start = time.perf_counter()
        for _ in range(calls):
            model(x)
    return (time.perf_counter() - start) / calls


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    rows = [
        "| variant | batch | folded at every call (ms) | fused once (ms) | overhead |",
        "|---|---:|---:|---:|---:|",
    ]
    for variant in args.variants:
        model = mnv4_rl.create_model(variant, in_channels=4, num_classes=0, norm="frozen").eval()
        fused = copy.deepcopy(model).fuse_for_inference()
        for batch in args.batches:
            x = torch.rand(batch, 4, 84, 84)
            calls = 30 if batch <= 32 else 3
            timed(model, x, 2), timed(fused, x, 2)  # warm-up
            per_call, once = [], []
            for _ in range(args.rounds):
                per_call.append(timed(model, x, calls))
                once.append(timed(fused, x, calls))
            a, b = 1e3 * statistics.median(per_call), 1e3 * statistics.median(once)
            rows.append(f"| {variant} | {batch} | {a:.2f} | {b:.2f} | {100 * (a / b - 1):+.1f}% |")
    text = header(machine_info("cpu")) + "\n\n" + "\n".join(rows)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    return text


if __name__ == "__main__":
    main()
