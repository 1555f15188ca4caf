"""Batch-1 latency of an exported policy: torch eager, torch.compile, ONNX Runtime, ExecuTorch.

A PPO policy for Atari frames (4x84x84 uint8, 6 actions; untrained: latency does not depend on
the weights) per encoder: SB3's NatureCNN and MobileNetV4s, from scratch (GroupNorm, the
default) and BatchNorm-normalised (``@norm=frozen``, the default with pretrained weights). Each is
timed as SB3 runs it (torch eager, ``policy._predict`` on a uint8 tensor), as the exported program
compiled with ``torch.compile``, as the ``.onnx`` file in ONNX Runtime and, where executorch
installs, as the ``.pte`` file. Every runtime takes the same uint8 observation and returns the
action.

Calls are interleaved: in each of ``--rounds`` rounds every (encoder, runtime) pair makes
``--calls`` calls in turn, so a busy machine slows all alike; the table gives the median and the
99th percentile of all calls, and ratios from the same run. With 1 thread and with the default
threads.

    python benchmarks/export_latency.py --out docs/results/cpu-2core/export_latency
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv

from mnv4_lab.bench.encoders import parse_encoder, policy_kwargs
from mnv4_lab.bench.report import header, machine_info
from mnv4_rl.export import export_policy, policy_program

# name[@key=value]: mnv4-rl-bench's encoder specs; "@norm=frozen" is a BatchNorm-normalised
# network (the default with pretrained weights), whose norms fuse into the convolutions.
ENCODERS = (
    "nature",
    "nano",
    "nano@norm=frozen",
    "nano_rl",
    "nano_rl@norm=frozen",
    "small",
    "hybrid_medium",
    "frozen_nano",  # VecFrozenEncoder("nano", n_stack=4) + MLP head: export_policy(frozen_encoder=)
)


class AtariShapes(gym.Env):
    """Only the spaces of an SB3 Atari policy: (4, 84, 84) uint8 frames, 6 actions."""

    observation_space = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    action_space = gym.spaces.Discrete(6)

    def reset(self, *, seed=None, options=None):
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--encoders", nargs="+", default=list(ENCODERS))
    p.add_argument("--threads", nargs="+", type=int, default=[1, torch.get_num_threads()])
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--calls", type=int, default=30, help="calls per pair and round")
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile (slow to build)")
    p.add_argument("--out", default=None, help="folder for latency.md and latency.json")
    return p.parse_args(argv)


def frozen_runtimes(folder: Path, compile_program: bool) -> dict:
    """The frozen-encoder policy: eager as SB3 runs it (one new frame encoded per step, the
    stack kept), and the exported program, which encodes all 4 frames of its input per call."""
    from mnv4_rl.sb3 import VecFrozenEncoder, frozen_policy_kwargs

    frames = gym.spaces.Box(0, 255, (84, 84), np.uint8)
    env = type("Frames", (AtariShapes,), {"observation_space": frames})
    venv = VecFrozenEncoder(DummyVecEnv([env]), "nano", pretrained=None, n_stack=4)
    model = PPO("MlpPolicy", venv, policy_kwargs=frozen_policy_kwargs("ppo"))
    policy = model.policy.eval()
    stack = np.zeros((1, 4 * venv.features_dim), np.float32)

    def eager(obs: np.ndarray) -> int:
        stack[:, :-1280] = stack[:, 1280:]
        stack[:, -1280:] = venv.encode(obs[:, -1])
        with torch.no_grad():
            return int(policy._predict(torch.from_numpy(stack), deterministic=True)[0])

    program, _ = policy_program(model)
    onnx_path = export_policy(model, folder / "frozen_nano.onnx", frozen_encoder=venv)
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(onnx_path), options, ["CPUExecutionProvider"])
    runtimes = {"torch eager": eager}
    if compile_program:
        from mnv4_rl.frozen import frozen_program

        full, _ = frozen_program(venv, program, torch.zeros(2, 4 * venv.features_dim))
        compiled = torch.compile(full)

        def torch_compiled(obs: np.ndarray) -> int:
            with torch.no_grad():
                return int(compiled(torch.from_numpy(obs))[0][0])

        torch_compiled(AtariShapes.observation_space.sample()[None])
        runtimes["torch compiled"] = torch_compiled
    runtimes["ONNX Runtime"] = lambda obs: int(session.run(None, {"obs": obs})[0][0])
    return runtimes


def build_runtimes(encoder: str, folder: Path, compile_program: bool) -> dict:
    """name -> a function of one uint8 observation (numpy) returning the action."""
    if encoder == "frozen_nano":
        return frozen_runtimes(folder, compile_program)
    kwargs = policy_kwargs(parse_encoder(encoder), "ppo")
    model = PPO("CnnPolicy", DummyVecEnv([AtariShapes]), policy_kwargs=kwargs)
    policy = model.policy.eval()
    runtimes = {}

    def eager(obs: np.ndarray) -> int:
        with torch.no_grad():
            return int(policy._predict(torch.from_numpy(obs), deterministic=True)[0])

    runtimes["torch eager"] = eager
    program, _ = policy_program(model)
    if compile_program:
        compiled = torch.compile(program)

        def torch_compiled(obs: np.ndarray) -> int:
            with torch.no_grad():
                return int(compiled(torch.from_numpy(obs))[0][0])

        torch_compiled(AtariShapes.observation_space.sample()[None])  # compile now, not timed
        runtimes["torch compiled"] = torch_compiled

    import onnxruntime

    onnx_path = export_policy(model, folder / f"{encoder.replace('@', '_')}.onnx")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(onnx_path), options, ["CPUExecutionProvider"])
    runtimes["ONNX Runtime"] = lambda obs: int(session.run(None, {"obs": obs})[0][0])

    if importlib.util.find_spec("executorch") is not None:
        from executorch.runtime import Runtime

        pte = export_policy(model, folder / f"{encoder.replace('@', '_')}.pte")
        method = Runtime.get().load_program(str(pte)).load_method("forward")
        runtimes["ExecuTorch"] = lambda obs: int(method.execute([torch.from_numpy(obs)])[0][0])
    return runtimes


def measure(args: argparse.Namespace, threads: int, folder: Path) -> dict:
    torch.set_num_threads(threads)
    # Each policy program is a new compilation of the same code; without a reset the second
    # thread setting would hit dynamo's recompile limit and run some programs eagerly.
    torch._dynamo.reset()
    runtimes = {
        encoder: build_runtimes(encoder, folder, not args.no_compile) for encoder in args.encoders
    }
    obs = AtariShapes.observation_space.sample()[None]
    times: dict[tuple[str, str], list[float]] = {}
    for call in (fn for rts in runtimes.values() for fn in rts.values()):
        for _ in range(5):  # warm-up
            call(obs)
    for _ in range(args.rounds):
        for encoder, rts in runtimes.items():
            for name, call in rts.items():
                spent = times.setdefault((encoder, name), [])
                for _ in range(args.calls):
                    start = time.perf_counter()
                    call(obs)
                    spent.append(time.perf_counter() - start)
    return {
        f"{encoder}|{name}": {
            "median_ms": 1e3 * statistics.median(values),
            "p99_ms": 1e3 * float(np.percentile(values, 99)),
            "calls": len(values),
        }
        for (encoder, name), values in times.items()
    }


def markdown(results: dict[int, dict]) -> str:
    lines = []
    for threads, table in results.items():
        runtimes = list(dict.fromkeys(key.split("|")[1] for key in table))
        encoders = list(dict.fromkeys(key.split("|")[0] for key in table))
        lines += [
            f"\n{threads} thread(s); each cell: median / p99 in ms, [median as a multiple of "
            "NatureCNN's in the same runtime]",
            "",
            "| encoder | " + " | ".join(runtimes) + " | eager / ONNX Runtime |",
            "|---|" + "---:|" * (len(runtimes) + 1),
        ]
        for encoder in encoders:
            cells = []
            for runtime in runtimes:
                cell = table.get(f"{encoder}|{runtime}")
                if cell is None:  # a runtime this encoder was not exported to
                    cells.append("-")
                    continue
                base = table.get(f"nature|{runtime}", cell)["median_ms"]
                cells.append(
                    f"{cell['median_ms']:.3f} / {cell['p99_ms']:.3f} "
                    f"[{cell['median_ms'] / base:.2f}x]"
                )
            speedup = (
                table[f"{encoder}|torch eager"]["median_ms"]
                / table[f"{encoder}|ONNX Runtime"]["median_ms"]
            )
            lines.append(f"| {encoder} | " + " | ".join(cells) + f" | {speedup:.2f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    warnings.filterwarnings("ignore")
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for threads in args.threads:
            results[threads] = measure(args, threads, Path(folder))
    info = machine_info("cpu")
    text = header(info) + "\n" + markdown(results)
    print(text)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "latency.md").write_text(text + "\n")
        config = vars(args)
        (out / "latency.json").write_text(
            json.dumps({"machine": info, "config": config, "results": results}, indent=2)
        )
    return results


if __name__ == "__main__":
    main()
