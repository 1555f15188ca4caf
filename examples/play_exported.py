"""Play Atari with an exported policy: ONNX Runtime and numpy only, no torch.

    mnv4-rl-export runs/ppo_Pong_nano_s0/final_model.zip --algo ppo --out policy.onnx
    python examples/play_exported.py policy.onnx --env Pong --episodes 3

The frames are made as SB3's Atari pipeline makes them, with gymnasium's own wrappers: noop
reset, frame skip 4 with max-pooling, 84x84 grey, FIRE at reset, a stack of 4 (zeros before the
first frame, as SB3's ``VecFrameStack``), channel-first uint8 ``(4, 84, 84)``: the exported
program's input (also of a frozen-encoder policy exported with ``export_policy(...,
frozen_encoder=...)``, which takes the same stacks). Full games, raw scores. Prints each game's score and the per-step latency of
the policy (median and 99th percentile).
"""

from __future__ import annotations

import argparse
import time

import ale_py
import gymnasium as gym
import numpy as np
import onnxruntime


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("policy", help="an .onnx file from mnv4-rl-export / export_policy")
    p.add_argument("--env", default="Pong", help="game name (NoFrameskip-v4 rules)")
    p.add_argument("--episodes", type=int, default=1)
    p.add_argument("--max-steps", type=int, default=27_000, help="agent steps per game at most")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


class FireOnReset(gym.Wrapper):
    """Press FIRE after a reset (games that wait for it), as SB3's AtariWrapper does."""

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        obs, _, terminated, truncated, info = self.env.step(1)
        if terminated or truncated:
            obs, info = self.env.reset(**kwargs)
        return obs, info


def make_env(game: str) -> gym.Env:
    gym.register_envs(ale_py)
    env = gym.make(f"{game}NoFrameskip-v4")
    env = gym.wrappers.AtariPreprocessing(env, noop_max=30, frame_skip=4, screen_size=84)
    if "FIRE" in env.unwrapped.get_action_meanings():
        env = FireOnReset(env)
    return gym.wrappers.FrameStackObservation(env, 4, padding_type="zero")


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = onnxruntime.InferenceSession(args.policy, options, ["CPUExecutionProvider"])
    channel_last = session.get_inputs()[0].shape[-1] == 4  # exported with channel_last=True
    env = make_env(args.env)
    scores, latencies = [], []
    for episode in range(args.episodes):
        obs, _ = env.reset(seed=args.seed + episode)
        score = 0.0
        for _ in range(args.max_steps):
            batch = np.asarray(obs, dtype=np.uint8)[None]
            if channel_last:
                batch = batch.transpose(0, 2, 3, 1)
            start = time.perf_counter()
            action = int(session.run(None, {"obs": batch})[0][0])
            latencies.append(time.perf_counter() - start)
            obs, reward, terminated, truncated, _ = env.step(action)
            score += float(reward)
            if terminated or truncated:
                break
        scores.append(score)
        print(f"game {episode + 1}: score {score:g}")
    median, p99 = 1e3 * np.median(latencies), 1e3 * np.percentile(latencies, 99)
    print(
        f"mean score {np.mean(scores):g} over {len(scores)} game(s); policy latency per step: "
        f"median {median:.3f} ms, p99 {p99:.3f} ms ({len(latencies)} steps, {args.threads} thread)"
    )
    env.close()
    return {"scores": scores, "median_ms": median, "p99_ms": p99}


if __name__ == "__main__":
    main()
