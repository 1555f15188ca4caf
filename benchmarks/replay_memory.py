"""DQN replay memory: frozen-encoder features against pixels, bytes per transition and peak RSS.

SB3's ``ReplayBuffer`` as DQN builds it for rl-zoo's Atari settings (1 env, observations and
next observations stored, ``optimize_memory_usage=False``), filled with ``--size`` random
transitions, each variant in a fresh process:

- ``pixels``: ``VecFrameStack(4)`` of 84x84 grey frames, ``(4, 84, 84)`` uint8 (NatureCNN's input);
- ``pixels, optimize_memory_usage``: SB3's option that stores each observation once;
- ``features nano x4``: ``VecFrozenEncoder("nano", n_stack=4)``, ``(5120,)`` float32;
- ``features nano x4 float16``: the same with ``dtype=np.float16``;
- ``features nano x1``: ``n_stack=1``, ``(1280,)`` float32.

Peak RSS is the process's ``ru_maxrss`` after filling, minus its RSS before the buffer was made.
Writes ``--out`` .json and .md::

    python benchmarks/replay_memory.py --size 10000 --out docs/results/cpu-2core/replay_memory
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

VARIANTS = {
    "pixels (4, 84, 84) uint8": ("pixels", False),
    "pixels, optimize_memory_usage=True": ("pixels", True),
    "features nano x4 (5120,) float32": ("features4", False),
    "features nano x4 (5120,) float16": ("features4h", False),
    "features nano x1 (1280,) float32": ("features1", False),
}


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure(kind: str, optimize: bool, size: int) -> dict:
    """Fill one buffer in this process; bytes per transition and the RSS it added."""
    import numpy as np
    from gymnasium import spaces
    from stable_baselines3.common.buffers import ReplayBuffer

    if kind == "pixels":
        space = spaces.Box(0, 255, (4, 84, 84), np.uint8)
    else:
        width = 1280 * (1 if kind == "features1" else 4)
        dtype = np.float16 if kind == "features4h" else np.float32
        space = spaces.Box(-np.inf, np.inf, (width,), dtype)
    actions = spaces.Discrete(4)
    rng = np.random.default_rng(0)
    sample = (
        rng.integers(0, 256, (1, *space.shape), dtype=np.uint8)
        if kind == "pixels"
        else rng.standard_normal((1, *space.shape)).astype(space.dtype)
    )
    before = _rss_mb()
    buffer = ReplayBuffer(
        size,
        space,
        actions,
        device="cpu",
        n_envs=1,
        optimize_memory_usage=optimize,
        handle_timeout_termination=not optimize,  # SB3 allows only one of the two
    )
    for i in range(size):
        sample[0, :8] = i % 251  # a little change per transition; pages are all written
        buffer.add(sample, sample, np.array([1]), np.array([0.5]), np.array([False]), [{}])
    arrays = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")
    stored = sum(getattr(buffer, a).nbytes for a in arrays if getattr(buffer, a, None) is not None)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "bytes_per_transition": stored / size,
        "buffer_mb": stored / 2**20,
        "peak_rss_added_mb": peak - before,
        "size": size,
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--size", type=int, default=10_000, help="transitions in the buffer")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--one", nargs=2, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:  # the child process: one variant
        print(json.dumps(measure(args.one[0], args.one[1] == "1", args.size)))
        return {}
    result = {}
    for name, (kind, optimize) in VARIANTS.items():
        out = subprocess.run(
            [sys.executable, __file__, "--size", str(args.size), "--one", kind, str(int(optimize))],
            capture_output=True,
            text=True,
            check=True,
        )
        result[name] = json.loads(out.stdout.strip().splitlines()[-1])
        print(name, result[name], flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
        lines = [
            f"SB3 ReplayBuffer, {args.size} transitions, 1 env (DQN, rl-zoo Atari settings).",
            "",
            "| stored observation | bytes / transition | buffer MB | peak RSS added MB |",
            "|---|---:|---:|---:|",
        ]
        lines += [
            f"| {name} | {r['bytes_per_transition']:.0f} | {r['buffer_mb']:.0f} | "
            f"{r['peak_rss_added_mb']:.0f} |"
            for name, r in result.items()
        ]
        args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return result


if __name__ == "__main__":
    main()
