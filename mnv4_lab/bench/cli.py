"""``mnv4-rl-bench``: MobileNetV4 encoders against NatureCNN, measured in one run.

For each encoder (NatureCNN always included as the baseline), interleaved round by round
(A B C, A B C, ...), median over ``--repeats``:

* end-to-end SB3 training throughput, PPO and DQN with rl-zoo's Atari hyperparameters, agent steps
  per wall second with updates included (SB3's ``time/fps``; DQN after ``learning_starts``), each
  run in a fresh subprocess whose peak resident memory (``VmHWM``) is reported too;
* encoder only: eval-mode forward samples/s at the rollout batch (``--n-envs``), training-step
  (forward + backward + Adam) samples/s at PPO's minibatch (256) and DQN's batch (32);
* parameters and MACs per frame at the env's resolution (4x84x84), both including the 512-wide
  projection that the policy heads see.

Every figure is also given as a ratio to NatureCNN's from the same run. The spread of the repeats
(max / min over rounds) says whether those ratios mean anything: when an encoder's per-round ratio
to NatureCNN moves by more than ``--max-spread`` (1.25), the output says plainly that the machine
was too busy. Outputs in ``--out``: ``results.md`` (the table, the verdict and the spreads, also
printed), ``results.csv``, ``results.json`` (with every repeat and the machine) and ``ratios.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from mnv4_rl.profiling import count_macs, count_params

from ..malloc import tune_malloc
from .encoders import EncoderSpec, build_extractor, parse_encoder
from .measure import (
    EndToEndConfig,
    end_to_end_in_subprocess,
    forward_samples_per_second,
    train_samples_per_second,
)
from .report import (
    MAX_SPREAD,
    dispersion,
    dispersion_table,
    header,
    machine_info,
    markdown_table,
    plot_ratios,
    summarise,
    verdict,
    write_csv,
    write_json,
)

BASELINE = "nature"
OBS_SHAPE = (4, 84, 84)  # AtariWrapper (84x84 gray) + VecFrameStack(4)


@dataclass
class BenchConfig:
    """Everything a benchmark run depends on (the CLI's arguments; see ``--help``)."""

    encoders: list[str] = field(default_factory=lambda: ["nano", "small"])
    env: str = "Pong"
    device: str = "cpu"
    repeats: int = 3
    n_envs: int = 8
    ppo_steps: int = 2048
    dqn_steps: int = 2000
    dqn_learning_starts: int = 1000
    encoder_seconds: float = 1.0
    algos: list[str] = field(default_factory=lambda: ["ppo", "dqn"])
    encoder_only: bool = True
    extractor_kwargs: dict[str, Any] = field(default_factory=dict)
    torch_threads: int = 0
    tune_malloc: bool = False
    seed: int = 0
    max_spread: float = MAX_SPREAD
    out: str = "results/bench"


def parse_args(argv: list[str] | None = None) -> BenchConfig:
    p = argparse.ArgumentParser(
        prog="mnv4-rl-bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    d = BenchConfig()
    p.add_argument(
        "--encoders",
        nargs="+",
        default=d.encoders,
        help="impala nano nano_rl small medium large hybrid_medium hybrid_large, timm-<variant> (timm's model "
        "in the same shell), name@key=value,... for per-encoder kwargs; 'nature' is always added",
    )
    p.add_argument("--env", default=d.env, help="Atari game or NoFrameskip-v4 id")
    p.add_argument("--device", default=d.device, choices=["cpu", "cuda"])
    p.add_argument("--repeats", type=int, default=d.repeats, help="rounds; medians are reported")
    p.add_argument("--n-envs", type=int, default=d.n_envs, help="PPO envs = rollout batch")
    p.add_argument("--ppo-steps", type=int, default=d.ppo_steps, help="per PPO run (x1024)")
    p.add_argument("--dqn-steps", type=int, default=d.dqn_steps, help="measured DQN steps")
    p.add_argument("--dqn-learning-starts", type=int, default=d.dqn_learning_starts)
    p.add_argument(
        "--encoder-seconds", type=float, default=d.encoder_seconds, help="per encoder timing"
    )
    p.add_argument("--algos", nargs="*", default=d.algos, choices=["ppo", "dqn"])
    p.add_argument("--no-encoder-only", action="store_true", help="skip the encoder timings")
    p.add_argument(
        "--extractor-kwargs",
        type=json.loads,
        default={},
        help='JSON kwargs for every MobileNetV4 extractor, e.g. \'{"norm": "frozen"}\'',
    )
    p.add_argument("--torch-threads", type=int, default=0, help="0: torch's default")
    p.add_argument(
        "--tune-malloc",
        action="store_true",
        help="call mnv4_lab.tune_malloc() in every run (glibc keeps freed memory for reuse)",
    )
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument(
        "--max-spread",
        type=float,
        default=d.max_spread,
        help="largest max/min of a per-round ratio still called steady (default %(default)s)",
    )
    p.add_argument("--out", default=d.out, help="output directory")
    a = p.parse_args(argv)
    if a.repeats < 1:
        p.error(f"--repeats must be at least 1, got {a.repeats}")
    if a.max_spread < 1:
        p.error(f"--max-spread is a max/min ratio, at least 1; got {a.max_spread}")
    if not isinstance(a.extractor_kwargs, dict):
        p.error(f"--extractor-kwargs must be a JSON object, got {a.extractor_kwargs!r}")
    return BenchConfig(
        encoders=a.encoders,
        env=a.env,
        device=a.device,
        repeats=a.repeats,
        n_envs=a.n_envs,
        ppo_steps=a.ppo_steps,
        dqn_steps=a.dqn_steps,
        dqn_learning_starts=a.dqn_learning_starts,
        encoder_seconds=a.encoder_seconds,
        algos=a.algos,
        encoder_only=not a.no_encoder_only,
        extractor_kwargs=a.extractor_kwargs,
        torch_threads=a.torch_threads,
        tune_malloc=a.tune_malloc,
        seed=a.seed,
        max_spread=a.max_spread,
        out=a.out,
    )


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_benchmark(config: BenchConfig) -> dict[str, Any]:
    """Measure, write ``results.{md,csv,json}`` and ``ratios.png`` into ``config.out``; return the
    JSON document (``machine``, ``config``, ``rows`` of medians and ratios, ``samples`` per repeat).
    """
    if config.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda, but torch sees no CUDA device; use --device cpu")
    if config.tune_malloc:
        tune_malloc()  # process-wide: the encoder-only timings run in this process
    threads = torch.get_num_threads()
    if config.torch_threads > 0:
        torch.set_num_threads(config.torch_threads)
    try:
        return _run(config)
    finally:
        torch.set_num_threads(threads)


def _run(config: BenchConfig) -> dict[str, Any]:
    from gymnasium import spaces

    labels = [BASELINE] + [e for e in config.encoders if e != BASELINE]
    specs: list[EncoderSpec] = [parse_encoder(e, config.extractor_kwargs) for e in labels]
    device = torch.device(config.device)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    samples: dict[str, dict[str, list[float]]] = {s.label: {} for s in specs}
    details: dict[str, dict[str, Any]] = {}

    def add(label: str, key: str, value: float) -> None:
        samples[label].setdefault(key, []).append(value)

    # Static figures and the encoders for the in-process timings.
    space = spaces.Box(0, 255, OBS_SHAPE, dtype="uint8")
    extractors = {}
    for spec in specs:
        extractor = build_extractor(spec, space)
        add(spec.label, "params", float(count_params(extractor)))
        add(spec.label, "macs", float(count_macs(extractor, OBS_SHAPE)))
        details[spec.label] = {
            "kind": spec.kind,
            "variant": spec.variant,
            "kwargs": spec.kwargs,
            "norm": getattr(extractor, "norm", None),
            "class": type(extractor).__name__,
        }
        if spec.kind == "timm" and "hybrid" in spec.variant:
            details[spec.label]["macs_note"] = "timm attention matmuls not counted"
        extractors[spec.label] = extractor.to(device)

    start = time.perf_counter()
    for repeat in range(config.repeats):
        _log(f"round {repeat + 1}/{config.repeats}")
        if config.encoder_only:
            for spec in specs:
                net, secs = extractors[spec.label], config.encoder_seconds
                fwd = forward_samples_per_second(net, config.n_envs, OBS_SHAPE, device, secs)
                add(spec.label, "fwd_samples_per_s", fwd)
                for batch in (256, 32):
                    train = train_samples_per_second(net, batch, OBS_SHAPE, device, secs)
                    add(spec.label, f"train{batch}_samples_per_s", train)
                _log(f"  encoder {spec.label}: fwd {fwd:.0f}/s, train b32 {train:.0f}/s")
        for algo in config.algos:
            for spec in specs:
                run = EndToEndConfig(
                    algo=algo,
                    encoder=spec.label,
                    extractor_kwargs=config.extractor_kwargs,
                    env=config.env,
                    n_envs=config.n_envs,
                    steps=config.ppo_steps if algo == "ppo" else config.dqn_steps,
                    learning_starts=config.dqn_learning_starts,
                    device=config.device,
                    seed=config.seed,
                    torch_threads=config.torch_threads,
                    tune_malloc=config.tune_malloc,
                )
                result = end_to_end_in_subprocess(run)
                add(spec.label, f"{algo}_steps_per_s", result["steps_per_second"])
                add(spec.label, f"{algo}_peak_rss_mb", result["peak_rss_mb"])
                if "cuda_peak_mb" in result:
                    add(spec.label, f"{algo}_cuda_peak_mb", result["cuda_peak_mb"])
                _log(f"  {algo} {spec.label}: {result['steps_per_second']:.1f} steps/s")

    info = machine_info(config.device)
    rows = summarise(samples, BASELINE)
    for row in rows:
        row.update({k: v for k, v in details[row["encoder"]].items() if k != "kwargs"})
    table = markdown_table(rows)
    info["malloc"] = "tuned" if config.tune_malloc else "glibc default"
    title = f"{header(info)}; {config.env}, {config.repeats} repeats (medians)"
    judged = verdict(samples, BASELINE, config.max_spread)
    document = {
        "machine": info,
        "config": asdict(config),
        "command": " ".join(sys.argv),
        "seconds": time.perf_counter() - start,
        "encoders": details,
        "rows": rows,
        "samples": samples,
        "dispersion": dispersion(samples, BASELINE),
        "verdict": {"steady": judged.steady, "text": judged.text, "worst": judged.worst},
    }
    spreads = dispersion_table(samples, BASELINE)
    (out / "results.md").write_text(
        f"{title}\n\n{table}\n\n**{judged.text}**\n\nSpread of the repeats (max / min over "
        f"rounds): own values / per-round ratio to {BASELINE}\n\n{spreads}\n"
    )
    write_csv(rows, out / "results.csv")
    write_json(document, out / "results.json")
    plot_ratios(rows, BASELINE, out / "ratios.png", title)
    return document


def main(argv: list[str] | None = None) -> None:
    """Console script ``mnv4-rl-bench``."""
    config = parse_args(argv)
    document = run_benchmark(config)
    out = Path(config.out)
    print(f"# {header(document['machine'])}")
    print(f"# {config.env}, medians of {config.repeats} interleaved repeats; (x) = ratio to nature")
    print(markdown_table(document["rows"]))
    print(f"\n{document['verdict']['text']}")
    print(
        f"\nfiles: {out / 'results.md'}, {out / 'results.csv'}, {out / 'results.json'}, "
        f"{out / 'ratios.png'}"
    )


if __name__ == "__main__":
    main()
