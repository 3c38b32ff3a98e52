"""Training runs: chunks of training, periodic evaluation, metrics, checkpoints, resume.

A run folder holds `config.json`, `metrics.csv` (step, wall time and every metric after
each evaluation), TensorBoard events in `tb/`, `checkpoints/step-N/` (the agent with its
training state, the environment state, the run's config and the random states; written
atomically, the last two kept) and, at the end, the trained agent in `agent/`. Resuming
checks that the last checkpoint belongs to the run's config, loads it and continues exactly
as an uninterrupted run would.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

import recgym
from agents.base import Agent
from agents.checkpoint import capture_rng, load_state, restore_rng, save_state
from agents.registry import load_agent, make_agent
from agents.resume import check_resume, check_spec
from agents.run_folder import (
    AGENT_FOLDER,
    CHECKPOINTS,
    RNG_FILE,
    checkpoints,
    latest_checkpoint,
    trained_agent,
)
from agents.train_config import TrainConfig, agent_settings, read_config
from offline_data.shared.atomic import atomic_directory, check_output_dir
from recgym.evaluate import evaluate
from recgym.runs import CONFIG_FILE, RunWriter, write_config

__all__ = ["AGENT_FOLDER", "CHECKPOINTS", "TrainConfig", "build_agent", "checkpoints",
           "latest_checkpoint", "read_config", "save_checkpoint", "train", "trained_agent"]

KEEP_CHECKPOINTS = 2
REPORTED = ("ctr", "like_rate", "watch_time", "reward_per_step", "total_return", "steps",
            "sessions", "depth", "return_gap", "retention", "long_term_return",
            "churn_rate")


def build_agent(config: TrainConfig, env: Any) -> Agent:
    """The agent of a run, with the run's seed, env count and encoder."""
    return make_agent(config.agent, env, None, **agent_settings(config))


def train(config: TrainConfig, out: str | Path, *, resume: bool = False,
          overwrite: bool = False, progress: bool = True, stop_after: int | None = None,
          on_eval: Callable[[int, dict[str, float]], None] | None = None) -> Agent:
    """Run (or resume) a training run into `out`; returns the trained agent.

    Resuming continues the last checkpoint, which must have been trained with `config`'s
    settings (see `agents.resume`; `steps`, `eval_every` and `name` may change).
    `stop_after` stops once that many steps are done (as an interruption would, after a
    checkpoint); `on_eval(step, metrics)` sees every evaluation.
    """
    out = Path(out)
    checkpoint = latest_checkpoint(out) if resume else None
    if resume:
        check_resume(out, config, checkpoint)
    else:
        check_output_dir(out, overwrite=overwrite, marker=CONFIG_FILE)
    env = recgym.make_vec(config.env, config.n_envs, **config.env_kwargs)
    if checkpoint is not None:
        check_spec(out, checkpoint, env.core.spec)
        agent = load_agent(checkpoint / AGENT_FOLDER, env=env)
        restore_rng(load_state(checkpoint / RNG_FILE))
    else:
        agent = build_agent(config, env)  # bad settings fail here, before anything is removed
        if out.exists() and overwrite:
            shutil.rmtree(out)
    writer = RunWriter(out, config.to_dict(), resume=resume)
    return train_in_chunks(
        agent, out, config, writer, fit_chunk=lambda n: agent.fit(env, n, budget=config.steps),
        measure=lambda: evaluation(agent, config), first=checkpoint is None and agent.learns,
        desc=f"{config.agent} on {config.env}", progress=progress, stop_after=stop_after,
        on_eval=on_eval)


def train_in_chunks(agent: Agent, out: Path, config: Any, writer: RunWriter, *,
                    fit_chunk: Callable[[int], object], measure: Callable[[], dict[str, float]],
                    first: bool, desc: str, progress: bool, stop_after: int | None,
                    on_eval: Callable[[int, dict[str, float]], None] | None) -> Agent:
    """The loop of every run (online and offline): `fit_chunk(n)` trains `n` more steps,
    up to `eval_every` at a time until `config.steps`; after each chunk the metrics of
    `measure()` go to `writer` and a checkpoint is saved; `first` measures the starting
    point too. At the end the agent is saved in `agent/`; `writer` is closed."""
    bar = tqdm(total=config.steps, initial=min(agent.num_steps, config.steps), unit="step",
               desc=desc, disable=not progress)
    try:
        if first:  # where learning starts from
            writer.log(agent.num_steps, measure())
        while agent.num_steps < config.steps:
            before = agent.num_steps
            fit_chunk(min(config.eval_every, config.steps - agent.num_steps))
            bar.update(min(agent.num_steps, config.steps) - before)
            metrics = measure()
            writer.log(agent.num_steps, metrics)
            bar.set_postfix(ret=f"{metrics.get('total_return', float('nan')):.1f}",
                            ctr=f"{metrics.get('ctr', float('nan')):.3f}")
            if on_eval is not None:
                on_eval(agent.num_steps, metrics)
            save_checkpoint(out, agent, config)
            if stop_after is not None and agent.num_steps >= stop_after:
                return agent
        agent.save(out / AGENT_FOLDER, overwrite=True)
    finally:
        bar.close()
        writer.close()
    return agent


def evaluation(agent: Agent, config: TrainConfig) -> dict[str, float]:
    """The reported metrics (means over the evaluation users) and the agent's training
    metrics."""
    return {**reported_metrics(agent, config.env, config.eval_users, config.eval_seed,
                               config.env_kwargs), **agent.training_metrics()}


def reported_metrics(agent: Agent, env: str, users: int, seed: int,
                     env_kwargs: dict[str, Any]) -> dict[str, float]:
    """The means over `users` evaluation users (seeded by `seed`) of the metrics a run
    reports (`REPORTED`)."""
    means = evaluate(agent, env, n_users=users, seed=seed, **env_kwargs)["mean"].to_dict()
    return {m: float(means[m]) for m in REPORTED if m in means}


def save_checkpoint(out: Path, agent: Agent, config: Any) -> Path:
    """Write `checkpoints/step-N` atomically (the agent with its training state, the run's
    config and the random states) and keep only the newest ones."""
    folder = out / CHECKPOINTS / f"step-{agent.num_steps:010d}"
    with atomic_directory(folder, overwrite=True, marker=RNG_FILE) as tmp:
        agent.save(tmp / AGENT_FOLDER, training_state=True)
        write_config(tmp, config.to_dict())
        save_state(tmp / RNG_FILE, capture_rng())
    for old in checkpoints(out)[:-KEEP_CHECKPOINTS]:
        shutil.rmtree(old, ignore_errors=True)
    return folder
