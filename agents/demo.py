"""The demo (`recgym demo`, the README's first command): train and compare agents on the
synthetic world, then write `table.csv` and `curves.png`."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from agents.determinism import deterministic_torch
from agents.registry import load_agent
from agents.training import AGENT_FOLDER, TrainConfig, train
from offline_data.shared.atomic import atomic_write_bytes, replace_output_dir
from recgym.evaluate import evaluate
from recgym.plot import plot_runs

MARKER = "demo.json"
ENV = "RecGym/Synthetic-v0"
TABLE_METRICS = ("ctr", "like_rate", "watch_time", "reward_per_step", "depth", "sessions",
                 "return_gap", "retention", "churn_rate", "total_return")


@dataclass(frozen=True)
class DemoAgent:
    """One contestant: agent name, label, encoder and training steps."""

    agent: str
    label: str
    steps: int
    encoder: str | None = None
    settings: dict[str, Any] = field(default_factory=dict, hash=False)
    """Agent settings (fields of its config)."""


FULL = (
    DemoAgent("ppo", "ppo (drr_att)", 400_000, "drr_att"),
    DemoAgent("dqn", "dqn (drr_att)", 50_000, "drr_att"),
    DemoAgent("deers", "deers", 30_000),
    DemoAgent("drr", "drr (drr_att)", 30_000, "drr_att"),
    DemoAgent("linucb", "linucb", 20_000),
    DemoAgent("popular", "most popular", 10_000),
    DemoAgent("oracle", "click-greedy oracle", 1),
    DemoAgent("random", "random", 1),
)


def run_demo(out: str | Path = "runs/demo", *, quick: bool = False, seed: int = 0,
             progress: bool = True, eval_users: int | None = None) -> pd.DataFrame:
    """Train every demo agent briefly, evaluate all on the same users and write
    `table.csv` (means and 95% intervals) and `curves.png` (return, CTR, retention and
    depth while training). `quick` shrinks budgets to seconds (a smoke test). Torch runs
    with one thread and fixed CPU code paths (`agents.determinism.deterministic_torch`),
    so the table repeats bit for bit across machines with the same library versions."""
    deterministic_torch(1)
    out = replace_output_dir(out, MARKER, {"complete": False})
    started = time.perf_counter()
    users = eval_users or (16 if quick else 300)
    env_kwargs = {"world": {"n_users": 300, "n_items": 60}} if quick else {}
    runs, rows = [], []
    for contestant in FULL:
        folder = out / contestant.agent
        table = train_and_evaluate(contestant, folder, seed=seed, quick=quick,
                                   eval_users=users, env_kwargs=env_kwargs, progress=progress)
        runs.append(folder)
        rows.append(table_row(contestant, table))
    frame = pd.DataFrame(rows).set_index("agent")
    atomic_write_bytes(out / "table.csv", frame.to_csv().encode())
    plot_runs(runs, out / "curves.png", ("total_return", "ctr", "retention", "depth"),
              title="recgym demo: synthetic world (evaluated on the same users)")
    seconds = round(time.perf_counter() - started, 1)
    (out / MARKER).write_text(json.dumps({"complete": True, "quick": quick, "seed": seed,
                                          "seconds": seconds}))
    return frame


def train_and_evaluate(contestant: DemoAgent, folder: Path, *, seed: int, quick: bool,
                       eval_users: int, env_kwargs: dict[str, Any], progress: bool,
                       final_users: int | None = None) -> pd.DataFrame:
    """Train one contestant into `folder` (a run folder) and evaluate the trained agent on
    `final_users` users (default 2 x eval_users) drawn with seed + 50,000."""
    steps = max(min(contestant.steps, 256), 1) if quick else contestant.steps
    config = TrainConfig(agent=contestant.agent, env=ENV, env_kwargs=env_kwargs, steps=steps,
                         seed=seed, encoder=contestant.encoder, name=contestant.label,
                         eval_every=max(steps // 5, 1), eval_users=eval_users, n_envs=8,
                         agent_kwargs={**contestant.settings, **(_small(contestant.agent)
                                                                if quick else {})})
    train(config, folder, progress=progress)
    agent = load_agent(folder / AGENT_FOLDER)
    table = evaluate(agent, ENV, n_users=final_users or 2 * eval_users, seed=seed + 50_000,
                     **env_kwargs)
    table.attrs["steps"] = steps
    return table


def table_row(contestant: DemoAgent, table: pd.DataFrame) -> dict[str, Any]:
    """One line of the comparison table: means, and the 95% interval of the return."""
    row: dict[str, Any] = {"agent": contestant.label, "steps": table.attrs.get("steps")}
    means = table["mean"].to_dict()
    for metric in TABLE_METRICS:
        if metric in means:
            row[metric] = round(float(means[metric]), 4)
    low = float(table["ci95_lo"].to_dict()["total_return"])
    high = float(table["ci95_hi"].to_dict()["total_return"])
    row["total_return_ci95"] = f"[{low:.1f}, {high:.1f}]"
    return row


def _small(agent: str) -> dict[str, Any]:
    """Settings that let each agent learn something in a quick run."""
    settings: dict[str, dict[str, Any]] = {
        "dqn": {"algo_kwargs": {"learning_starts": 64, "buffer_size": 2000}},
        "sac": {"algo_kwargs": {"learning_starts": 64, "buffer_size": 2000}},
        "td3": {"algo_kwargs": {"learning_starts": 64, "buffer_size": 2000}},
        "ppo": {"algo_kwargs": {"n_steps": 16, "batch_size": 64}},
        "deers": {"learning_starts": 64, "buffer_size": 2000},
        "drr": {"learning_starts": 64, "buffer_size": 2000}}
    return settings.get(agent, {})
