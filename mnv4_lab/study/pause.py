"""Pause a study while something needs a quiet machine (a benchmark), and resume it.

``mnv4-rl-study pause RUNS`` stops (SIGSTOP) every study runner training into ``RUNS`` and all its
runs; ``resume`` continues them (SIGCONT). Each interval goes into ``RUNS/pauses.json``, and the
runs' training seconds leave it out (:func:`mnv4_lab.runs.read_episodes`). Linux only (``/proc``).
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from ..runs import PAUSES

__all__ = ["pause", "resume"]


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        found[int(entry.name)] = (parent, cmdline)
    return found


def _study_tree(runs_dir: Path) -> list[int]:
    """The study runners training into ``runs_dir`` and every process below them."""
    processes = _processes()
    target = str(runs_dir.resolve())
    roots = {
        pid
        for pid, (_, cmd) in processes.items()
        if "study" in cmd and " run " in f" {cmd} " and target in cmd and pid != os.getpid()
    }
    tree, frontier = set(roots), set(roots)
    while frontier:
        frontier = {pid for pid, (parent, _) in processes.items() if parent in frontier} - tree
        tree |= frontier
    return sorted(tree)


def _log(runs_dir: Path) -> list[list[float]]:
    path = runs_dir / PAUSES
    return json.loads(path.read_text()) if path.exists() else []


def pause(runs_dir: Path) -> list[int]:
    """Stop the study's processes; returns their pids."""
    pids = _study_tree(runs_dir)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    intervals = _log(runs_dir)
    intervals.append([time.time(), None])
    (runs_dir / PAUSES).write_text(json.dumps(intervals))
    return pids


def resume(runs_dir: Path) -> list[int]:
    """Continue the study's processes and close the open pause interval; returns their pids."""
    pids = _study_tree(runs_dir)
    for pid in pids:
        os.kill(pid, signal.SIGCONT)
    intervals = _log(runs_dir)
    if intervals and intervals[-1][1] is None:
        intervals[-1][1] = time.time()
        (runs_dir / PAUSES).write_text(json.dumps(intervals))
    return pids
