"""Training runs: chunks of training, periodic evaluation, metrics, checkpoints, resume.

A run folder holds `config.json`, `metrics.csv` (step, wall time and every metric after
each evaluation), TensorBoard events in `tb/`, `checkpoints/step-N/` (the agent with its
training state, the environment state and the random states; written atomically, the last
two kept) and, at the end, the trained agent in `agent/`. Resuming loads the last
checkpoint and continues exactly as an uninterrupted run would.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

import recgym
from agents.base import Agent
from agents.checkpoint import capture_rng, load_state, restore_rng, save_state
from agents.registry import agent_class, load_agent, make_agent
from offline_data.shared.atomic import atomic_directory, check_output_dir
from offline_data.shared.config import ConfigMixin
from offline_data.shared.errors import InputError
from offline_data.shared.jsonfile import read_json_object
from recgym.evaluate import evaluate
from recgym.runs import CONFIG_FILE, RunWriter

CHECKPOINTS = "checkpoints"
AGENT_FOLDER = "agent"
KEEP_CHECKPOINTS = 2
REPORTED = ("ctr", "like_rate", "watch_time", "reward_per_step", "total_return", "steps",
            "sessions", "depth", "return_gap", "retention", "churn_rate")


@dataclass(frozen=True)
class TrainConfig(ConfigMixin):
    """What `recgym train` runs (CLI flags map onto these fields)."""

    agent: str = "ppo"
    """Agent name (see `agents.AGENT_NAMES`)."""
    env: str = "RecGym/Synthetic-v0"
    env_kwargs: dict[str, Any] = field(default_factory=dict, hash=False)
    steps: int = 20_000
    """Environment steps to train for."""
    seed: int = 0
    encoder: str | None = None
    """State encoder for agents that take one (default: the agent's own)."""
    n_envs: int = 8
    """Parallel users in the training vector environment."""
    eval_every: int = 5_000
    """Steps between evaluations (and checkpoints)."""
    eval_users: int = 200
    eval_seed: int = 10_000
    """Seed of the evaluation users (the same for every agent and every evaluation)."""
    agent_kwargs: dict[str, Any] = field(default_factory=dict, hash=False)
    """Further agent settings (fields of its config)."""
    name: str | None = None
    """A label for plots and tables (default: the agent name)."""

    def __post_init__(self) -> None:
        for name in ("steps", "n_envs", "eval_every", "eval_users"):
            if getattr(self, name) <= 0:
                raise InputError(f"{name} must be positive, got {getattr(self, name)}")
        agent_class(self.agent)  # unknown names fail here, with a hint


def build_agent(config: TrainConfig, env: Any) -> Agent:
    """The agent of a run, with the run's seed, env count and encoder."""
    cls = agent_class(config.agent)
    settings = {**config.agent_kwargs}
    known = {f.name for f in fields(cls.config_class)} if hasattr(cls.config_class,
                                                                  "__dataclass_fields__") else set()
    for name, value in (("seed", config.seed), ("n_envs", config.n_envs),
                        ("encoder", config.encoder)):
        if value is not None and name in known:
            settings.setdefault(name, value)
    if config.encoder is not None and "encoder" not in known:
        raise InputError(f"agent {config.agent!r} takes no encoder; leave --encoder out")
    return make_agent(config.agent, env, None, **settings)


def checkpoints(out: Path) -> list[Path]:
    """The checkpoint folders of a run, oldest first (names are zero-padded steps)."""
    folder = out / CHECKPOINTS
    return sorted(folder.glob("step-*")) if folder.is_dir() else []


def latest_checkpoint(out: Path) -> Path | None:
    """The newest checkpoint folder of a run, if any."""
    found = checkpoints(out)
    return found[-1] if found else None


def train(config: TrainConfig, out: str | Path, *, resume: bool = False,
          overwrite: bool = False, progress: bool = True, stop_after: int | None = None,
          on_eval: Callable[[int, dict[str, float]], None] | None = None) -> Agent:
    """Run (or resume) a training run into `out`; returns the trained agent.

    `stop_after` stops once that many steps are done (as an interruption would, after a
    checkpoint); `on_eval(step, metrics)` sees every evaluation.
    """
    out = Path(out)
    if resume:
        saved = read_config(out)
        if saved != config:
            diff = sorted(k for k in saved.to_dict() if saved.to_dict()[k] != config.to_dict()[k])
            raise InputError(f"{out} was started with other settings ({', '.join(diff)}); "
                             "resume it with the same ones, or start a new run")
    else:
        check_output_dir(out, overwrite=overwrite, marker=CONFIG_FILE)
    env = recgym.make_vec(config.env, config.n_envs, **config.env_kwargs)
    checkpoint = latest_checkpoint(out) if resume else None
    if checkpoint is not None:
        agent = load_agent(checkpoint / AGENT_FOLDER, env=env)
        restore_rng(load_state(checkpoint / "rng.pt"))
    else:
        agent = build_agent(config, env)  # bad settings fail here, before anything is removed
        if out.exists() and overwrite:
            shutil.rmtree(out)
    writer = RunWriter(out, config.to_dict(), resume=resume)
    bar = tqdm(total=config.steps, initial=min(agent.num_steps, config.steps), unit="step",
               desc=f"{config.agent} on {config.env}", disable=not progress)
    try:
        if checkpoint is None and agent.learns:  # where learning starts from
            writer.log(0, evaluation(agent, config))
        while agent.num_steps < config.steps:
            before = agent.num_steps
            agent.fit(env, min(config.eval_every, config.steps - agent.num_steps),
                      budget=config.steps)
            bar.update(min(agent.num_steps, config.steps) - before)
            metrics = evaluation(agent, config)
            writer.log(agent.num_steps, metrics)
            bar.set_postfix(ret=f"{metrics['total_return']:.1f}", ctr=f"{metrics['ctr']:.3f}")
            if on_eval is not None:
                on_eval(agent.num_steps, metrics)
            save_checkpoint(out, agent)
            if stop_after is not None and agent.num_steps >= stop_after:
                return agent
        agent.save(out / AGENT_FOLDER, overwrite=True)
    finally:
        bar.close()
        writer.close()
    return agent


def evaluation(agent: Agent, config: TrainConfig) -> dict[str, float]:
    """The reported metrics (means over the evaluation users)."""
    table = evaluate(agent, config.env, n_users=config.eval_users, seed=config.eval_seed,
                     **config.env_kwargs)
    return {m: float(table.loc[m, "mean"]) for m in REPORTED if m in table.index}


def save_checkpoint(out: Path, agent: Agent) -> Path:
    """Write `checkpoints/step-N` atomically and keep only the newest ones."""
    folder = out / CHECKPOINTS / f"step-{agent.num_steps:010d}"
    with atomic_directory(folder, overwrite=True, marker="rng.pt") as tmp:
        agent.save(tmp / AGENT_FOLDER, training_state=True)
        save_state(tmp / "rng.pt", capture_rng())
    for old in checkpoints(out)[:-KEEP_CHECKPOINTS]:
        shutil.rmtree(old, ignore_errors=True)
    return folder


def read_config(out: Path) -> TrainConfig:
    """The `TrainConfig` a run folder was started with."""
    data = read_json_object(out / CONFIG_FILE, hint="the run cannot be resumed",
                            missing=f"cannot resume {out}: no {CONFIG_FILE} (was it written "
                            "by `recgym train`?)")
    known = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in data.items() if k in known})
