"""Build every MobileNetV4 variant and print a table of sizes, costs and output shapes.

Run with ``python -m mnv4_rl.demo`` (``make demo`` runs it first). ``--markdown`` prints the table
that README.md shows, so the README's numbers come from this code, not from typing.
"""

from __future__ import annotations

import argparse

import torch

from .models import OLD_PROJECT_NAMES, RL_VARIANTS, VARIANTS, create_model
from .profiling import count_macs, count_params
from .registry import PRETRAINED


def variant_rows(frame_stack: int = 4) -> list[dict[str, str]]:
    """One row per variant: names, parameters, MACs at 224 (RGB) and 84x84 (frame stack), shapes."""
    seed_names = {variant: seed for seed, variant in OLD_PROJECT_NAMES.items()}
    rows = []
    for name, spec in {**VARIANTS, **RL_VARIANTS}.items():
        model = create_model(name).eval()
        stack_model = create_model(name, in_channels=frame_stack, num_classes=0).eval()
        with torch.no_grad():
            maps = stack_model.forward_intermediates(torch.zeros(1, frame_stack, 84, 84))
            pooled = stack_model(torch.zeros(1, frame_stack, 84, 84))
        weights = PRETRAINED.get(name)
        rows.append(
            {
                "variant": name,
                "seed name": seed_names.get(name, ""),
                "params": f"{count_params(model):,}",
                "params (num_classes=0)": f"{count_params(create_model(name, num_classes=0)):,}",
                "MACs @224 RGB": f"{count_macs(model, (3, 224, 224)) / 1e6:,.1f} M",
                f"MACs @84x84x{frame_stack}": f"{count_macs(stack_model, (frame_stack, 84, 84)) / 1e6:,.1f} M",
                "feature maps @84 (C@side)": " ".join(f"{m.shape[1]}@{m.shape[2]}" for m in maps),
                "pooled": str(pooled.shape[1]),
                "attention": "MQA" if "hybrid" in spec.name else "",
                "timm weights": weights.hub_id.split("/", 1)[1].split(".", 1)[1]
                if weights
                else ("none (ours, RL-shaped)" if name in RL_VARIANTS else "none"),
            }
        )
    return rows


def format_table(rows: list[dict[str, str]], markdown: bool) -> str:
    """Render rows as a GitHub markdown table or as aligned plain text."""
    columns = list(rows[0])
    if markdown:
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(row[c] for c in columns) + " |" for row in rows]
        return "\n".join(lines)
    widths = {c: max(len(c), *(len(row[c]) for row in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines += ["  ".join(row[c].ljust(widths[c]) for c in columns) for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--frame-stack", type=int, default=4, help="channels of the 84x84 input")
    args = parser.parse_args(argv)
    print("MobileNetV4 family (MACs: convs, linears and attention matmuls, one input)")
    print(format_table(variant_rows(args.frame_stack), args.markdown))


if __name__ == "__main__":
    main()
