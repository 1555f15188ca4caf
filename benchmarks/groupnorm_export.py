"""How a GroupNorm network's ONNX graph could be written, and what each form costs in ONNX Runtime.

From scratch, MobileNetV4 encoders normalise with GroupNorm, which depends on each observation
and so cannot be folded into the convolutions at export. This script exports one untrained PPO
Atari policy (4x84x84 uint8, 6 actions) with its GroupNorms written in several ONNX forms, checks
that each gives the same logits, and times them at batch 1 in ONNX Runtime, interleaved, next to
NatureCNN and the BatchNorm network (``norm="frozen"``, which folds: the floor for the family):

- ``exporter``: what ``torch.onnx.export`` writes (Reshape -> InstanceNormalization -> Reshape
  -> Mul -> Add, with the shapes computed at run time);
- ``static reshapes``: the same operators with constant shapes (no ``Shape`` nodes);
- ``shipped``: constant reshapes and the affine as one ``BatchNormalization``
  (:mod:`mnv4_rl.export.onnx_norms`), the form ``export_policy`` writes;
- ``shipped, 1x1 as Conv``: the same with the 1x1 convolutions as ``Conv`` nodes instead of
  matrix products;
- ``pooled means``: GroupNorm from per-channel means (GlobalAveragePool, then a block-diagonal
  1x1 conv averaging each group), so that ONNX Runtime's blocked-layout convolutions run
  without layout reorders around each norm;
- ``shipped, no layout transforms``: the shipped file in a session whose optimisation level is
  ``ORT_ENABLE_EXTENDED``, which leaves out the blocked (NCHWc) layout and so the reorders
  around every InstanceNormalization (and the blocked convolutions with them).

    python benchmarks/groupnorm_export.py --out docs/results/cpu-2core/groupnorm_export.md
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnxruntime
import torch
import torch.nn.functional as F
from export_latency import AtariShapes
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv
from torch import nn

from mnv4_lab.bench.encoders import parse_encoder, policy_kwargs
from mnv4_lab.bench.report import header, machine_info
from mnv4_rl.export import policy_program
from mnv4_rl.export.onnx_norms import with_onnx_group_norms


class _GroupNormStatic(torch.autograd.Function):
    """Normalisation without affine; exported with constant reshapes."""

    @staticmethod
    def forward(ctx, x, groups: int, eps: float, shape: tuple[int, int, int]):  # noqa: ANN001
        return F.group_norm(x, groups, eps=eps)

    @staticmethod
    def symbolic(g, x, groups: int, eps: float, shape: tuple[int, int, int]):  # noqa: ANN001
        # [0, G, -1]: 0 keeps the (dynamic) batch size.
        grouped = g.op("Reshape", x, g.op("Constant", value_t=torch.tensor([0, groups, -1])))
        normed = g.op(
            "InstanceNormalization",
            grouped,
            g.op("Constant", value_t=torch.ones(groups)),
            g.op("Constant", value_t=torch.zeros(groups)),
            epsilon_f=eps,
        )
        return g.op("Reshape", normed, g.op("Constant", value_t=torch.tensor([-1, *shape])))


class StaticReshapeGroupNorm(nn.Module):
    """A GroupNorm whose ONNX form has constant reshapes."""

    def __init__(self, norm: nn.GroupNorm) -> None:
        super().__init__()
        self.groups, self.eps = norm.num_groups, norm.eps
        self.weight, self.bias = norm.weight, norm.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = tuple(int(size) for size in x.shape[1:])
        normed = _GroupNormStatic.apply(x, self.groups, self.eps, shape)
        return normed * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class PooledMeansGroupNorm(nn.Module):
    """A GroupNorm from per-channel spatial means, averaged over each group by a 1x1 conv."""

    def __init__(self, norm: nn.GroupNorm) -> None:
        super().__init__()
        channels, per_group = norm.num_channels, norm.num_channels // norm.num_groups
        average = torch.full((per_group, per_group), 1.0 / per_group)
        blocks = torch.block_diag(*[average] * norm.num_groups)
        self.register_buffer("group_average", blocks.view(channels, channels, 1, 1))
        self.eps, self.weight, self.bias = norm.eps, norm.weight, norm.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = F.conv2d(F.adaptive_avg_pool2d(x, 1), self.group_average)
        centred = x - mean
        var = F.conv2d(F.adaptive_avg_pool2d(centred * centred, 1), self.group_average)
        scale = self.weight.view(1, -1, 1, 1) * torch.rsqrt(var + self.eps)
        return centred * scale + self.bias.view(1, -1, 1, 1)


def with_norms(program: nn.Module, form: type[nn.Module]) -> nn.Module:
    """A copy of ``program`` with every GroupNorm replaced by ``form``."""
    program = copy.deepcopy(program)
    for parent in list(program.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.GroupNorm):
                setattr(parent, name, form(child))
    return program


def with_conv_1x1(program: nn.Module) -> nn.Module:
    """A copy of ``program`` whose 1x1 convolutions run (and export) as convolutions."""
    program = copy.deepcopy(program)
    for module in program.modules():
        if hasattr(module, "pointwise_gemm"):
            module.pointwise_gemm = False
    return program


def ppo_program(encoder: str) -> nn.Module:
    """An exportable PPO program (actions, logits); GroupNorm affines made non-trivial."""
    kwargs = policy_kwargs(parse_encoder(encoder), "ppo")
    model = PPO("CnnPolicy", DummyVecEnv([AtariShapes]), policy_kwargs=kwargs)
    program, _ = policy_program(model, outputs=("logits",))
    with torch.no_grad():
        for module in program.modules():
            if isinstance(module, nn.GroupNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
    return program


def session(
    program: nn.Module, path: Path, layout_transforms: bool = True
) -> onnxruntime.InferenceSession:
    obs = torch.zeros(2, 4, 84, 84, dtype=torch.uint8)
    torch.onnx.export(
        program,
        (obs,),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=["obs"],
        output_names=["actions", "logits"],
        dynamic_axes={"obs": {0: "batch"}, "actions": {0: "batch"}, "logits": {0: "batch"}},
    )
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    if not layout_transforms:
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    return onnxruntime.InferenceSession(str(path), options, ["CPUExecutionProvider"])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--encoder", default="nano", help="a GroupNorm encoder (from scratch)")
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--calls", type=int, default=30, help="calls per form and round")
    p.add_argument("--out", default=None, help="a markdown file for the table")
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)

    program = ppo_program(args.encoder)
    programs = {
        "nature": ppo_program("nature"),
        f"{args.encoder}@norm=frozen": ppo_program(f"{args.encoder}@norm=frozen"),
        "exporter": program,
        "static reshapes": with_norms(program, StaticReshapeGroupNorm),
        "shipped": with_onnx_group_norms(program),
        "shipped, 1x1 as Conv": with_conv_1x1(with_onnx_group_norms(program)),
        "pooled means": with_norms(program, PooledMeansGroupNorm),
    }
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, (7, 4, 84, 84), dtype=np.uint8)
    with torch.no_grad():
        expected = program(torch.from_numpy(batch))[1].numpy()
    with tempfile.TemporaryDirectory() as folder:
        sessions = {
            name: session(prog, Path(folder) / f"{i}.onnx")
            for i, (name, prog) in enumerate(programs.items())
        }
        sessions["shipped, no layout transforms"] = session(
            programs["shipped"], Path(folder) / "extended.onnx", layout_transforms=False
        )
    for name in list(sessions)[2:]:
        logits = sessions[name].run(None, {"obs": batch})[1]
        error = float(np.abs(logits - expected).max() / np.abs(expected).max())
        if error > 1e-4:
            raise AssertionError(f"{name}: logits differ from torch's by {error:.1e} (relative)")

    obs = batch[:1]
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for run in sessions.values():
        for _ in range(10):
            run.run(None, {"obs": obs})
    for _ in range(args.rounds):
        for name, run in sessions.items():
            for _ in range(args.calls):
                start = time.perf_counter()
                run.run(None, {"obs": obs})
                times[name].append(time.perf_counter() - start)

    medians = {name: 1e3 * statistics.median(values) for name, values in times.items()}
    lines = [
        header(machine_info("cpu")),
        f"\n{args.encoder}, ONNX Runtime {onnxruntime.__version__}, batch 1, 1 thread, "
        f"{args.rounds} rounds x {args.calls} calls\n",
        "| graph | median ms | x NatureCNN | exporter / this |",
        "|---|---:|---:|---:|",
    ]
    for name, median in medians.items():
        ratio = medians["exporter"] / median
        lines.append(
            f"| {name} | {median:.3f} | {median / medians['nature']:.2f}x | {ratio:.2f}x |"
        )
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
