"""What :func:`mnv4_lab.tune_malloc` changes: each measurement with glibc's default malloc and with
the tuned one, every run in a fresh subprocess (the allocator is process-wide, and so is peak
memory), runs taking turns for ``--repeats`` rounds; medians are printed as markdown tables.

- RL end to end: SB3 PPO and DQN with rl-zoo's Atari settings (``mnv4_lab.bench.worker``), agent
  steps/s and peak resident memory per encoder;
- classifier training: one training step (forward, cross-entropy, backward, SGD) of an ImageNet
  classifier at 224x224, batch 32, images/s.

    python benchmarks/malloc_ab.py --encoders nature nano nano_rl small --models nano conv_small \\
        --repeats 3 --out docs/results/cpu-2core/malloc_ab
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

import mnv4_lab
import mnv4_rl
from mnv4_lab.bench.measure import EndToEndConfig, end_to_end_in_subprocess
from mnv4_lab.bench.report import header, machine_info

SETTINGS = {"default": False, "tuned": True}


def classifier_images_per_second(model_name: str, tuned: bool, steps: int = 7) -> float:
    """Median images/s of a classifier training step at 224x224, batch 32 (in this process)."""
    if tuned:
        mnv4_lab.tune_malloc()
    torch.manual_seed(0)
    model = mnv4_rl.create_model(model_name, num_classes=1000)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    images, labels = torch.rand(32, 3, 224, 224), torch.randint(0, 1000, (32,))
    seconds = []
    for _ in range(2 + steps):  # two warm-up steps
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()
        seconds.append(time.perf_counter() - start)
    return 32 / statistics.median(seconds[2:])


def classifier_in_subprocess(model_name: str, setting: str) -> float:
    command = [sys.executable, __file__, "--child-classifier", model_name, setting]
    return float(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--encoders", nargs="*", default=["nature", "nano", "nano_rl", "small"])
    p.add_argument("--algos", nargs="*", default=["ppo", "dqn"], choices=["ppo", "dqn"])
    p.add_argument("--models", nargs="*", default=["nano", "conv_small"], help="classifiers")
    p.add_argument("--env", default="Pong")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--ppo-steps", type=int, default=1024)
    p.add_argument("--dqn-steps", type=int, default=300)
    p.add_argument("--dqn-learning-starts", type=int, default=300)
    p.add_argument("--out", default=None, help="also write the tables and samples (.md, .json)")
    p.add_argument("--child-classifier", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child_classifier:
        model_name, setting = args.child_classifier
        print(classifier_images_per_second(model_name, SETTINGS[setting]))
        return

    samples: dict[str, list] = {}
    for repeat in range(args.repeats):
        for algo in args.algos:
            for encoder in args.encoders:
                for setting, tuned in SETTINGS.items():
                    config = EndToEndConfig(
                        algo=algo,
                        encoder=encoder,
                        extractor_kwargs={},
                        env=args.env,
                        steps=args.ppo_steps if algo == "ppo" else args.dqn_steps,
                        learning_starts=args.dqn_learning_starts,
                        tune_malloc=tuned,
                    )
                    result = end_to_end_in_subprocess(config)
                    samples.setdefault(f"{algo} {encoder} {setting}", []).append(result)
                    print(
                        f"round {repeat + 1} {algo} {encoder} {setting}: "
                        f"{result['steps_per_second']:.1f} steps/s, {result['peak_rss_mb']:.0f} MB",
                        flush=True,
                    )
        for model_name in args.models:
            for setting in SETTINGS:
                speed = classifier_in_subprocess(model_name, setting)
                samples.setdefault(f"classifier {model_name} {setting}", []).append(speed)
                print(f"round {repeat + 1} classifier {model_name} {setting}: {speed:.1f} img/s")

    def median(key: str, field: str | None = None) -> float:
        return statistics.median(r[field] if field else r for r in samples[key])

    lines = [
        f"{header(machine_info('cpu'))}; medians of {args.repeats} interleaved rounds",
        "",
        f"RL end to end ({args.env}, rl-zoo settings): agent steps/s and peak resident memory",
        "",
        "| algo | encoder | steps/s default | steps/s tuned | tuned / default "
        "| x nature (default) | x nature (tuned) | peak RSS MB default | peak RSS MB tuned |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for algo in args.algos:
        for encoder in args.encoders:
            speed = {s: median(f"{algo} {encoder} {s}", "steps_per_second") for s in SETTINGS}
            rss = {s: median(f"{algo} {encoder} {s}", "peak_rss_mb") for s in SETTINGS}
            base = speed
            if "nature" in args.encoders:
                base = {s: median(f"{algo} nature {s}", "steps_per_second") for s in SETTINGS}
            lines.append(
                f"| {algo} | {encoder} | {speed['default']:.1f} | {speed['tuned']:.1f} "
                f"| {speed['tuned'] / speed['default']:.2f}x "
                f"| {speed['default'] / base['default']:.2f}x "
                f"| {speed['tuned'] / base['tuned']:.2f}x | {rss['default']:.0f} | {rss['tuned']:.0f} |"
            )
    lines += [
        "",
        "Classifier training step (224x224, batch 32, SGD): images/s",
        "",
        "| model | default | tuned | tuned / default |",
        "|---|---:|---:|---:|",
    ]
    for model_name in args.models:
        speed = {s: median(f"classifier {model_name} {s}") for s in SETTINGS}
        lines.append(
            f"| {model_name} | {speed['default']:.1f} | {speed['tuned']:.1f} "
            f"| {speed['tuned'] / speed['default']:.2f}x |"
        )
    table = "\n".join(lines)
    print(table)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".md").write_text(table + "\n")
        document = {"args": vars(args), "samples": samples}
        out.with_suffix(".json").write_text(json.dumps(document, indent=1))


if __name__ == "__main__":
    main()
