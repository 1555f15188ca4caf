"""Does ``torch.compile`` speed up training on CPU? Measured at RL shapes, eager against compiled:

1. a whole training step (forward + backward + Adam) of an encoder at PPO's minibatch, as the
   benchmark builds it (``nano`` is ``norm="group"``, the from-scratch default): the compile time
   of the first step, then steps/s, eager and compiled taking turns;
2. GroupNorm + ReLU alone, forward + backward, at the shapes of nano's first layers (the
   operators a compiler would fuse), eager against ``torch.compile`` of the same function;
3. the optimiser step alone: ``torch.optim.Adam`` (SB3's optimiser) as a per-tensor loop, with
   ``foreach=True`` and with ``fused=True``, for NatureCNN's and the encoder's parameters.

    python benchmarks/compiled_training.py --encoder nano --repeats 5

In every comparison the contestants take turns (A B A B ...) and medians of ``--repeats`` turns are
reported. Compile times are cold: the script gives inductor an empty cache directory.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces

from mnv4_lab.bench.encoders import build_extractor, parse_encoder
from mnv4_lab.bench.report import header, machine_info

SPACE = spaces.Box(0, 255, (4, 84, 84), np.uint8)


def median_ms(fn: Callable[[], object], calls: int) -> float:
    """Median wall time of ``calls`` calls of ``fn`` in ms, after two warm-up calls."""
    fn(), fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def interleaved_ms(
    fns: dict[str, Callable[[], object]], calls: int, repeats: int
) -> dict[str, float]:
    """Median ms per call of each function, the functions taking turns (A B A B ...) ``repeats``
    times, ``calls`` calls a turn."""
    samples: dict[str, list[float]] = {label: [] for label in fns}
    for _ in range(repeats):
        for label, fn in fns.items():
            samples[label].append(median_ms(fn, calls))
    return {label: statistics.median(values) for label, values in samples.items()}


def whole_step(encoder: str, batch: int, repeats: int) -> list[str]:
    extractor = build_extractor(parse_encoder(encoder), SPACE).train()
    compiled = torch.compile(extractor)
    optimizer = torch.optim.Adam(extractor.parameters(), lr=1e-6)
    x = torch.rand(batch, *SPACE.shape)

    def step(model: torch.nn.Module) -> None:
        optimizer.zero_grad(set_to_none=True)
        model(x).square().mean().backward()
        optimizer.step()

    start = time.perf_counter()
    step(compiled)
    compile_s = time.perf_counter() - start
    ms = interleaved_ms(
        {"eager": lambda: step(extractor), "compiled": lambda: step(compiled)}, 3, repeats
    )
    e, c = batch / ms["eager"] * 1e3, batch / ms["compiled"] * 1e3
    return [
        f"| training step, {encoder}, batch {batch} (samples/s) | {e:,.0f} | {c:,.0f} "
        f"| {c / e:.2f}x | first compiled step {compile_s:.0f} s |"
    ]


def group_norm_relu(x: torch.Tensor, groups: int, w: torch.Tensor, b: torch.Tensor):
    return F.relu(F.group_norm(x, groups, w, b))


def norm_and_activation(repeats: int) -> list[str]:
    compiled = torch.compile(group_norm_relu)
    rows = []
    for shape in [(256, 32, 42, 42), (256, 16, 21, 21), (32, 32, 42, 42)]:
        channels = shape[1]
        w = torch.randn(channels, requires_grad=True)
        b = torch.randn(channels, requires_grad=True)
        x = torch.randn(shape).contiguous(memory_format=torch.channels_last).requires_grad_()
        grad = torch.randn_like(x)

        def run(fn: Callable) -> None:
            fn(x, channels // 8, w, b).backward(grad)  # noqa: B023 - called in this iteration

        start = time.perf_counter()
        run(compiled)
        compile_s = time.perf_counter() - start
        ms = interleaved_ms(
            {"eager": lambda: run(group_norm_relu), "compiled": lambda: run(compiled)}, 5, repeats
        )
        eager, fast = ms["eager"], ms["compiled"]
        rows.append(
            f"| GroupNorm + ReLU fwd+bwd, {tuple(shape)} channels-last (ms) | {eager:.1f} "
            f"| {fast:.1f} | {eager / fast:.2f}x | first compiled call {compile_s:.0f} s |"
        )
    return rows


def optimiser_step(encoder: str, repeats: int) -> list[str]:
    rows = []
    for name in ("nature", encoder):
        params = list(build_extractor(parse_encoder(name), SPACE).parameters())
        for p in params:
            p.grad = torch.randn_like(p)
        steps = {
            label: torch.optim.Adam(params, lr=1e-9, eps=1e-5, **kwargs).step
            for label, kwargs in (
                ("loop", {"foreach": False}),
                ("foreach", {"foreach": True}),
                ("fused", {"fused": True}),
            )
        }
        times = interleaved_ms(steps, 20, repeats)
        rows.append(
            f"| Adam step, {name} ({len(params)} tensors) (ms): loop / foreach / fused "
            f"| {times['loop']:.2f} | {times['foreach']:.2f} / {times['fused']:.2f} "
            f"| {times['loop'] / times['fused']:.2f}x (fused) | |"
        )
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--encoder", default="nano")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    # A fresh inductor cache: compile times are those of a first run, not of a cached rerun.
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="inductor-")
    print(f"{header(machine_info('cpu'))}\n")
    print("| measurement | eager | compiled (or foreach / fused) | speed-up | note |")
    print("|---|---:|---:|---:|---|")
    for rows in (
        optimiser_step(args.encoder, args.repeats),
        norm_and_activation(args.repeats),
        whole_step(args.encoder, args.batch, args.repeats),
    ):
        print("\n".join(rows), flush=True)


if __name__ == "__main__":
    main()
