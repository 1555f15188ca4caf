"""Encoder speed at RL shapes: mnv4_rl against timm's implementation of the same network.

Same architecture, same weights (timm's state dict loaded through our converter), same input
(a 4x84x84 frame stack). Measured, interleaved A B A B ... and reported as medians:

- rollout inference: eval mode, ``torch.inference_mode``, batch 8 (one step of 8 envs);
- training step: train mode, forward + backward + AdamW step, batch 256 (a PPO minibatch).

Usage::

    python benchmarks/encoder_speed.py --variants conv_small nano --repeats 5 --out results/encoder_speed.json

Prints a markdown table with samples/s and each ratio to timm; the machine is named in the header.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import timm
import torch

import mnv4_rl
from mnv4_rl.models import resolve_name
from mnv4_rl.modules import ConvNormAct


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {torch.get_num_threads()} threads, {gpu}, torch {torch.__version__}"


def build(kind: str, variant: str, in_channels: int, state: dict | None) -> torch.nn.Module:
    """``timm``: timm's model. ``ours``: create_model defaults (channels-last, BN folded in eval).
    ``ours-plain``: none of the fast paths, NCHW. ``ours-nofold``: without BN folding.
    ``ours-nogemm``: without the 1x1-conv-as-GEMM path.
    ``ours-frozen``: ``norm="frozen"`` (BN folded in train mode too). ``ours-compiled``: the
    opt-in compiled path (rollouts compiled, training eager)."""
    name = resolve_name(variant)[0]
    if kind == "timm":
        model = timm.create_model(f"mobilenetv4_{name}", in_chans=in_channels, num_classes=0)
        if state is not None:
            model.load_state_dict(state)
        return model
    model = mnv4_rl.create_model(
        name,
        in_channels=in_channels,
        num_classes=0,
        channels_last=(kind != "ours-plain"),
        norm="frozen" if kind == "ours-frozen" else "batch",
    )
    if state is not None:
        mnv4_rl.load_timm_weights(model, state, verbose=False)
    if kind == "ours-plain":
        model.set_fast_paths(False)
    if kind == "ours-nofold":
        model.set_bn_folding(False)
    if kind == "ours-nogemm":
        for module in model.modules():
            if isinstance(module, ConvNormAct):
                module.pointwise_gemm = False
    if kind == "ours-compiled":
        model = mnv4_rl.compile_model(model)
    return model


def time_inference(model: torch.nn.Module, x: torch.Tensor, iters: int) -> float:
    model.eval()
    with torch.inference_mode():
        for _ in range(3):
            model(x)
        start = time.perf_counter()
        for _ in range(iters):
            model(x)
        return iters * x.shape[0] / (time.perf_counter() - start)


def time_training(model: torch.nn.Module, x: torch.Tensor, iters: int) -> float:
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        model(x).square().mean().backward()
        optimizer.step()

    step()
    start = time.perf_counter()
    for _ in range(iters):
        step()
    return iters * x.shape[0] / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variants", nargs="+", default=["conv_small", "nano"])
    parser.add_argument(
        "--kinds", nargs="+", default=["timm", "ours", "ours-plain", "ours-compiled"]
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rollout-batch", type=int, default=8)
    parser.add_argument("--train-batch", type=int, default=256)
    parser.add_argument("--rollout-iters", type=int, default=30)
    parser.add_argument("--train-iters", type=int, default=2)
    parser.add_argument("--in-channels", type=int, default=4)
    parser.add_argument("--size", type=int, default=84)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    results: dict = {"machine": machine(), "rows": []}
    shape = (args.in_channels, args.size, args.size)
    print(f"# Encoder speed, {'x'.join(map(str, shape))} input\n\nMachine: {results['machine']}\n")
    print(
        f"| variant | implementation | rollout b{args.rollout_batch} eval (samples/s) | x timm "
        f"| train step b{args.train_batch} (samples/s) | x timm |"
    )
    print("|---|---|---|---|---|---|")
    for variant in args.variants:
        name = resolve_name(variant)[0]
        state = timm.create_model(
            f"mobilenetv4_{name}", in_chans=args.in_channels, num_classes=0
        ).state_dict()
        models = {kind: build(kind, variant, args.in_channels, state) for kind in args.kinds}
        rollout_x = torch.rand(args.rollout_batch, *shape)
        train_x = torch.rand(args.train_batch, *shape)
        check_same_function(models, rollout_x)
        rates: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.repeats):  # interleaved: every implementation once per repeat
            for kind, model in models.items():
                rate = time_inference(model, rollout_x, args.rollout_iters)
                rates.setdefault((kind, "rollout"), []).append(rate)
            for kind, model in models.items():
                rate = time_training(model, train_x, args.train_iters)
                rates.setdefault((kind, "train"), []).append(rate)
        median = {key: statistics.median(values) for key, values in rates.items()}
        for kind in args.kinds:
            row = dict(variant=variant, kind=kind)
            cells = []
            for task in ("rollout", "train"):
                row[task] = median[(kind, task)]
                base = median.get(("timm", task))
                row[f"{task}_vs_timm"] = row[task] / base if base else None
                cells += [f"{row[task]:,.1f}", f"{row[task] / base:.2f}" if base else "-"]
            results["rows"].append(row)
            print(f"| {variant} | {kind} | " + " | ".join(cells) + " |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))


def check_same_function(models: dict[str, torch.nn.Module], x: torch.Tensor) -> None:
    """Same weights must give the same outputs: we compare implementations of one function."""
    if "timm" not in models:
        return
    with torch.inference_mode():
        expected = models["timm"].eval()(x)
        for kind, model in models.items():
            got = model.eval()(x)
            error = ((got - expected).norm() / expected.norm()).item()
            assert error < 1e-4, f"{kind} differs from timm: relative error {error:.2e}"


if __name__ == "__main__":
    main()
