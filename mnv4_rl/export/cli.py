"""``mnv4-rl-export``: a trained policy to ONNX, TorchScript, ``torch.export`` or ExecuTorch.

mnv4-rl-export runs/ppo_Pong_nano_s0/final_model.zip --algo ppo --out policy.onnx
mnv4-rl-export runs/rllib/<run>/checkpoints/final --out policy.pt2 --outputs values
"""

from __future__ import annotations

import argparse
import sys

from . import FORMATS, export_policy


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("model", help="an SB3 .zip, or an RLlib checkpoint folder")
    p.add_argument("--out", required=True, help=f"the file to write: {', '.join(FORMATS)}")
    p.add_argument("--algo", help="the algorithm of an SB3 .zip: ppo, a2c, dqn, qrdqn or sac")
    p.add_argument("--outputs", nargs="*", default=[], help="extras: logits, q_values, values")
    p.add_argument("--channel-last", action="store_true", help="take the env's (H, W, C) frames")
    p.add_argument("--no-check", action="store_true", help="do not run the written file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        path = export_policy(
            args.model,
            args.out,
            algo=args.algo,
            outputs=args.outputs,
            channel_last=args.channel_last,
            check=not args.no_check,
        )
    except (ValueError, TypeError, FileNotFoundError, ImportError) as error:
        sys.exit(f"mnv4-rl-export: error: {error}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
