"""Medians, ratios to NatureCNN, and the outputs: markdown table, CSV, JSON and a PNG bar chart."""

from __future__ import annotations

import csv
import json
import os
import platform
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch


@dataclass(frozen=True)
class Metric:
    """One column of the comparison.

    Attributes:
        key: CSV/JSON column name (its ratio column is ``<key>_ratio``).
        title: markdown column title.
        unit_scale: the value is divided by this for the markdown table (e.g. 1e6 for "M").
        speed: True for throughputs (higher is better), False for costs (params, MACs, memory).
    """

    key: str
    title: str
    unit_scale: float = 1.0
    speed: bool = True


METRICS = (
    Metric("params", "params (M)", 1e6, speed=False),
    Metric("macs", "MACs/frame (M)", 1e6, speed=False),
    Metric("ppo_steps_per_s", "PPO steps/s"),
    Metric("dqn_steps_per_s", "DQN steps/s"),
    Metric("fwd_samples_per_s", "fwd samples/s"),
    Metric("train256_samples_per_s", "train b256 samples/s"),
    Metric("train32_samples_per_s", "train b32 samples/s"),
    Metric("ppo_peak_rss_mb", "PPO peak RSS (MB)", speed=False),
    Metric("dqn_peak_rss_mb", "DQN peak RSS (MB)", speed=False),
    Metric("ppo_cuda_peak_mb", "PPO peak CUDA (MB)", speed=False),
    Metric("dqn_cuda_peak_mb", "DQN peak CUDA (MB)", speed=False),
)


def median(values: list[float]) -> float:
    """Median of the repeats (``nan`` when there are none)."""
    return statistics.median(values) if values else float("nan")


def ratio(value: float, baseline: float) -> float:
    """``value / baseline``; ``nan`` when either is missing or the baseline is 0."""
    if baseline != baseline or value != value or baseline == 0:
        return float("nan")
    return value / baseline


def summarise(
    samples: dict[str, dict[str, list[float]]], baseline: str
) -> list[dict[str, float | str]]:
    """Rows of medians and ratios to ``baseline``, one per encoder, in the order of ``samples``.

    Args:
        samples: ``{encoder: {metric key: [value per repeat]}}``.
        baseline: the encoder whose medians are the denominators (NatureCNN).

    Returns:
        ``[{"encoder": name, key: median, key + "_ratio": median / baseline median, ...}]`` with
        only the metrics that were measured for the baseline.
    """
    if baseline not in samples:
        raise ValueError(f"baseline {baseline!r} was not measured; measured: {list(samples)}")
    keys = [m.key for m in METRICS if samples[baseline].get(m.key)]
    base = {key: median(samples[baseline][key]) for key in keys}
    rows = []
    for encoder, values in samples.items():
        row: dict[str, float | str] = {"encoder": encoder}
        for key in keys:
            row[key] = median(values.get(key, []))
            row[f"{key}_ratio"] = ratio(row[key], base[key])
        rows.append(row)
    return rows


#: The largest spread (max / min over rounds) of an encoder's per-round ratio to the baseline
#: for which the bench calls its ratios meaningful. Interleaving puts every encoder in each round,
#: so load that slows all encoders alike cancels in the per-round ratios; what is left is load that
#: changed between one encoder's measurement and the next. A spread of 1.25 (about +-12% around
#: the middle) is the run-to-run movement docs/performance.md records for single cells on a working
#: machine (+-15%); beyond it, load alone moves a ratio by as much as the comparisons the project
#: draws (targets of 1.3x, 1.5x), so the table cannot support them.
MAX_SPREAD = 1.25


def spread(values: list[float]) -> float:
    """``max / min`` of the repeats: 1.0 when they agree; ``nan`` for fewer than two or a value
    that is not positive."""
    if len(values) < 2 or min(values) <= 0:
        return float("nan")
    return max(values) / min(values)


def dispersion(
    samples: dict[str, dict[str, list[float]]], baseline: str
) -> dict[str, dict[str, dict[str, float]]]:
    """How much each speed measurement moved across the interleaved rounds.

    Args:
        samples: ``{encoder: {metric key: [value per round]}}``, rounds in order.
        baseline: the encoder every ratio is taken against.

    Returns:
        ``{encoder: {metric key: {"spread": s, "ratio_spread": r}}}`` for every speed metric
        measured in every round: ``s`` is the spread of the encoder's own values (for the baseline,
        how much the machine's speed changed between rounds), ``r`` the spread of its per-round
        ratios to the baseline (``nan`` for the baseline itself).
    """
    speeds = [m.key for m in METRICS if m.speed]
    base = samples[baseline]
    result: dict[str, dict[str, dict[str, float]]] = {}
    for encoder, values in samples.items():
        result[encoder] = {}
        for key in speeds:
            own, ref = values.get(key, []), base.get(key, [])
            if not own:
                continue
            ratios = [a / b for a, b in zip(own, ref, strict=False) if b > 0]
            result[encoder][key] = {
                "spread": spread(own),
                "ratio_spread": float("nan") if encoder == baseline else spread(ratios),
            }
    return result


@dataclass(frozen=True)
class Verdict:
    """Whether the run's ratios mean anything.

    Attributes:
        steady: True when every per-round ratio stayed within ``max_spread``; False when the
            machine was too busy; None when it cannot be told (one round).
        text: one plain sentence for the output and the report.
        worst: ``(encoder, metric key, ratio spread)`` of the least steady ratio (None if unknown).
    """

    steady: bool | None
    text: str
    worst: tuple[str, str, float] | None = None


def verdict(
    samples: dict[str, dict[str, list[float]]], baseline: str, max_spread: float = MAX_SPREAD
) -> Verdict:
    """Judge the run from the dispersion of its repeats (:func:`dispersion`).

    Args:
        samples: ``{encoder: {metric key: [value per round]}}``, rounds in order.
        baseline: the encoder every ratio is taken against.
        max_spread: the largest per-round ratio spread still called steady (:data:`MAX_SPREAD`).

    Returns:
        The :class:`Verdict`.
    """
    table = dispersion(samples, baseline)
    titles = {m.key: m.title for m in METRICS}
    spreads = [
        (encoder, key, cell["ratio_spread"])
        for encoder, cells in table.items()
        for key, cell in cells.items()
        if cell["ratio_spread"] == cell["ratio_spread"]
    ]
    if not spreads:
        return Verdict(
            None, "one round only: the noise of these ratios is unknown (use --repeats 3)"
        )
    encoder, key, worst = max(spreads, key=lambda item: item[2])
    base = table[baseline].get(key, {}).get("spread", float("nan"))
    where = (
        f"{encoder}'s {titles[key]} ratio to {baseline} varied {worst:.2f}x across rounds "
        f"({baseline}'s own {titles[key]} {base:.2f}x)"
    )
    if worst > max_spread and not base <= max_spread:
        return Verdict(
            False,
            f"MACHINE TOO BUSY, RATIOS NOT MEANINGFUL: {where}, more than the {max_spread:.2f}x "
            "a steady run stays within; rerun on a quiet machine",
            (encoder, key, worst),
        )
    if worst > max_spread:  # the baseline was steady: that measurement is too short to be stable
        return Verdict(
            False,
            f"RATIOS NOT STEADY: {where}, more than the {max_spread:.2f}x a steady run stays "
            f"within while {baseline} itself was steady; that measurement is too short (raise its "
            "steps) or the machine was busy for part of it",
            (encoder, key, worst),
        )
    return Verdict(
        True,
        f"steady: every ratio stayed within {worst:.2f}x across rounds (at most {max_spread:.2f}x "
        f"allowed); the least steady: {where}",
        (encoder, key, worst),
    )


def dispersion_table(samples: dict[str, dict[str, list[float]]], baseline: str) -> str:
    """A markdown table of the spreads: per encoder and speed metric, ``own spread / ratio
    spread`` (max / min over rounds)."""
    table = dispersion(samples, baseline)
    keys = [m for m in METRICS if m.speed and any(m.key in cells for cells in table.values())]
    lines = [
        "| encoder | " + " | ".join(m.title for m in keys) + " |",
        "|---|" + "---:|" * len(keys),
    ]
    for encoder, cells in table.items():
        row = []
        for m in keys:
            cell = cells.get(m.key)
            if cell is None:
                row.append("n/a")
                continue
            own, rel = _format(cell["spread"], 1.0), cell["ratio_spread"]
            row.append(own if rel != rel else f"{own} / {rel:.2f}")
        lines.append(f"| {encoder} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def _format(value: float, scale: float) -> str:
    if value != value:
        return "n/a"
    value /= scale
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """A markdown table: one row per encoder, each cell ``value (ratio x)``."""
    metrics = [m for m in METRICS if rows and m.key in rows[0]]
    lines = [
        "| encoder | " + " | ".join(m.title for m in metrics) + " |",
        "|---|" + "---:|" * len(metrics),
    ]
    for row in rows:
        cells = []
        for m in metrics:
            value, rel = row[m.key], row[f"{m.key}_ratio"]
            text = _format(value, m.unit_scale)
            cells.append(text if rel != rel else f"{text} ({rel:.2f}x)")
        lines.append(f"| {row['encoder']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def csv_columns(rows: list[dict[str, Any]]) -> list[str]:
    """CSV header: ``encoder`` (+ ``kind``, ``variant``, ``norm`` when known), then each measured
    metric followed by its ``_ratio`` column."""
    metrics = [m.key for m in METRICS if rows and m.key in rows[0]]
    labels = ["encoder"] + [k for k in ("kind", "variant", "norm") if rows and k in rows[0]]
    return labels + [name for key in metrics for name in (key, f"{key}_ratio")]


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    columns = csv_columns(rows)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def write_json(document: dict[str, Any], path: Path) -> None:
    # NaN is not JSON: missing values become null.
    def clean(value: Any) -> Any:
        if isinstance(value, float) and value != value:
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    path.write_text(json.dumps(clean(document), indent=2))


def plot_ratios(rows: list[dict[str, Any]], baseline: str, path: Path, title: str) -> None:
    """Bar charts of every encoder's ratios to the baseline (dashed line at 1): speeds on the left
    (higher is faster), costs on the right (parameters, MACs, memory: higher is bigger)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = [m for m in METRICS if rows and f"{m.key}_ratio" in rows[0]]
    groups = [
        ([m for m in measured if m.speed], "speed ratio (higher is faster)"),
        ([m for m in measured if not m.speed], "cost ratio (higher is bigger)"),
    ]
    groups = [(metrics, label) for metrics, label in groups if metrics]
    others = [row for row in rows if row["encoder"] != baseline]
    widths = [len(metrics) for metrics, _ in groups]
    fig, axes = plt.subplots(
        1, len(groups), figsize=(min(16, 3 + 1.3 * sum(widths)), 4.8), width_ratios=widths
    )
    axes = axes if len(groups) > 1 else [axes]
    width = 0.8 / max(1, len(others))
    for ax, (metrics, label) in zip(axes, groups, strict=True):
        for i, row in enumerate(others):
            xs = [j + (i - (len(others) - 1) / 2) * width for j in range(len(metrics))]
            values = [row[f"{m.key}_ratio"] for m in metrics]
            bars = ax.bar(xs, values, width, label=row["encoder"])
            ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], fontsize=7)
        ax.axhline(1.0, color="black", linestyle="--", linewidth=1)
        ax.set_xticks(range(len(metrics)))
        ax.set_xticklabels([m.title for m in metrics], rotation=25, ha="right", fontsize=8)
        ax.set_ylabel(f"{label}; {baseline} = 1", fontsize=8)
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_info(device: str) -> dict[str, Any]:
    """What the numbers were measured on."""
    import stable_baselines3

    info: dict[str, Any] = {
        "cpu": cpu_model(),
        # The vector ISA PyTorch dispatches to (AVX2, AVX512...): machines sold under one name
        # differ in it, and runtimes' speeds (and ratios between networks) with it.
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "stable_baselines3": stable_baselines3.__version__,
        "python": platform.python_version(),
    }
    return info


def header(info: dict[str, Any]) -> str:
    gpu = info["gpu"] or "none"
    return (
        f"{info['cpu']} ({info.get('cpu_capability', '?')}), {info['logical_cpus']} logical CPUs, "
        f"{info['torch_threads']} torch threads, GPU: {gpu}, device: {info['device']}, "
        f"torch {info['torch']}, SB3 {info['stable_baselines3']}"
    ) + (", tuned malloc" if info.get("malloc") == "tuned" else "")
