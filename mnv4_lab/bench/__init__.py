"""Throughput benchmark: MobileNetV4 encoders against SB3's NatureCNN (``mnv4-rl-bench``).

See :mod:`mnv4_lab.bench.cli` for what is measured and how.
"""

from .cli import BASELINE, BenchConfig, main, parse_args, run_benchmark
from .encoders import EncoderSpec, TimmMobileNetV4Extractor, parse_encoder, policy_kwargs
from .report import METRICS, csv_columns, markdown_table, median, ratio, summarise

__all__ = [
    "BASELINE",
    "METRICS",
    "BenchConfig",
    "EncoderSpec",
    "TimmMobileNetV4Extractor",
    "csv_columns",
    "main",
    "markdown_table",
    "median",
    "parse_args",
    "parse_encoder",
    "policy_kwargs",
    "ratio",
    "run_benchmark",
    "summarise",
]
