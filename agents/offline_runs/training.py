"""Offline runs (`recgym offline`): learn from a log's training users, evaluate
periodically, write the same run folder as `recgym train`.

Each evaluation measures the agent online in the simulator (the synthetic world itself for
a synthetic log, else the simulator fitted to the training users: `total_return`, `ctr`,
...) and off-policy on the held-out users' logged episodes (`ope_<estimator>` with its
interval in `ope_<estimator>_lo` / `_hi`). The folder holds `config.json` (with
`"kind": "offline"`), `metrics.csv`, `tb/`, `checkpoints/step-N/`, `agent/` and the fitted
parts of the data (`simulator/`, `behaviour/`) and the held-out episodes (`heldout/`).
"""

from __future__ import annotations

import inspect
import logging
import shutil
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from agents.base import Agent
from agents.checkpoint import load_state, restore_rng
from agents.offline.session_ranking import can_rank, session_ranking
from agents.offline_runs.config import OfflineRunConfig, offline_config_from
from agents.offline_runs.data import HELDOUT_FOLDER, OfflineData, prepare, read_run_log
from agents.registry import agent_class, load_agent
from agents.resume import check_resume
from agents.run_folder import AGENT_FOLDER, RNG_FILE, latest_checkpoint
from agents.training import reported_metrics, train_in_chunks
from offline_data.shared.atomic import check_output_dir
from offline_data.shared.errors import InputError
from offline_data.shared.jsonfile import read_json_object
from recgym.evaluate import RewardListener
from recgym.offline import TrajectoryDataset
from recgym.offline.ope import estimate
from recgym.offline.sessions import immediate_index
from recgym.runs import CONFIG_FILE, RunWriter

logger = logging.getLogger(__name__)

MAY_CHANGE = ("steps", "eval_every", "name")
"""What may change when an offline run is resumed; everything else must match."""
OPE_BOOTSTRAP = 100
"""Bootstrap resamples of the periodic off-policy estimates."""
RANKING_K = 10
"""List length of the held-out ranking metrics (hr@10, ndcg@10, precision@10)."""


def read_offline_config(out: str | Path) -> OfflineRunConfig:
    """The `OfflineRunConfig` of a run folder (or checkpoint)."""
    path = Path(out)
    data = read_json_object(path / CONFIG_FILE, hint="the run cannot be read",
                            missing=f"{out}: no {CONFIG_FILE} (was it written by "
                            "`recgym offline`?)")
    return offline_config_from(data, path)


def agent_settings(config: OfflineRunConfig) -> dict[str, Any]:
    """The agent's settings: `agent_kwargs`, plus the run's seed and encoder where its
    config has those fields, and the behaviour policy of a synthetic log."""
    config_class = agent_class(config.algo).config_class
    known = {f.name for f in fields(config_class)} if is_dataclass(config_class) else set()
    settings = dict(config.agent_kwargs)
    settings.setdefault("seed", config.seed)
    if config.encoder is not None:
        if "encoder" not in known:
            raise InputError(f"agent {config.algo!r} takes no encoder; leave --encoder out")
        settings.setdefault("encoder", config.encoder)
    if "rtg_prompt" in settings and "rtg_prompt" not in known:
        raise InputError(f"agent {config.algo!r} is not a decision transformer and takes no "
                         "RTG prompt; leave --rtg-prompt out (dt4ier, dt and d3rlpy_dt take one)")
    if config.algo == "behaviour":
        if not config.synthetic:
            raise InputError("--algo behaviour replays the synthetic world's logging policy; "
                             "for a log from a file its fitted behaviour model is in the run's "
                             "behaviour/ folder (BehaviourAgent.from_model)")
        settings.setdefault("policy", config.behaviour)
        settings.setdefault("policy_kwargs", config.behaviour_kwargs)
        settings.setdefault("explore", config.explore)
    return settings


def check_settings_against_log(algo: str, settings: dict[str, Any],
                               signals: list[str]) -> None:
    """Refuse agent settings that cannot work on the log before anything is fitted: the
    agent's config is built (bad values, unknown fields) and a named immediate signal
    must be one of the log's."""
    agent_class(algo).config_class().replace(**settings)
    immediate_index(signals, settings.get("immediate_signal"))


def new_agent(algo: str, data: OfflineData, settings: dict[str, Any]) -> Agent:
    """A new agent for the training episodes; agents that act in item-embedding space
    (IQL) take the evaluation simulator's item embeddings."""
    cls = agent_class(algo)
    agent_config = cls.config_class().replace(**settings)
    if "embeddings" in inspect.signature(cls.create).parameters:
        simulator = data.env_kwargs.get("world", data.env_kwargs.get("simulator"))
        return cls.create(data.train, agent_config, embeddings=simulator)  # type: ignore[call-arg]
    return cls.create(data.train, agent_config)


def train_offline(config: OfflineRunConfig, out: str | Path, *, resume: bool = False,
                  overwrite: bool = False, progress: bool = True,
                  stop_after: int | None = None,
                  on_eval: Callable[[int, dict[str, float]], None] | None = None) -> Agent:
    """Run (or resume) an offline run into `out`; returns the trained agent.

    `stop_after` stops once that many gradient steps are done (after a checkpoint, as an
    interruption would); `on_eval(step, metrics)` sees every evaluation."""
    out = Path(out)
    checkpoint = latest_checkpoint(out) if resume else None
    if resume:
        check_resume(out, config, checkpoint, read=read_offline_config, may_change=MAY_CHANGE)
    else:
        check_output_dir(out, overwrite=overwrite, marker=CONFIG_FILE)
    settings = agent_settings(config)
    log = read_run_log(config)  # a bad log or bad settings fail here, before anything is removed
    check_settings_against_log(config.algo, settings, log.signal_names)
    if not resume and out.exists() and overwrite:
        shutil.rmtree(out)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        data = prepare(config, out, reuse=resume, log=log, progress=progress)
        if checkpoint is not None:
            agent = load_agent(checkpoint / AGENT_FOLDER)
            restore_rng(load_state(checkpoint / RNG_FILE))
        else:
            agent = new_agent(config.algo, data, settings)
    except InputError:
        if created:  # bad data found while fitting or reading it: leave nothing behind
            shutil.rmtree(out, ignore_errors=True)
        raise
    writer = RunWriter(out, config.to_dict(), resume=resume)
    if not (out / HELDOUT_FOLDER).is_dir():
        data.heldout.to_parquet(out / HELDOUT_FOLDER)
    if not agent.learns:  # a baseline: one evaluation
        writer.log(0, evaluation(agent, config, data))
        agent.save(out / AGENT_FOLDER, overwrite=True)
        writer.close()
        return agent
    return train_in_chunks(
        agent, out, config, writer, fit_chunk=lambda n: agent.fit(data.train, n),
        measure=lambda: evaluation(agent, config, data), first=checkpoint is None,
        desc=f"{config.algo} on {Path(config.data).name}", progress=progress,
        stop_after=stop_after, on_eval=on_eval)


def evaluation(agent: Agent, config: OfflineRunConfig, data: OfflineData
               ) -> dict[str, float]:
    """Online metrics in the simulator, off-policy estimates and ranking metrics
    (`hr@10`, `ndcg@10`, `precision@10`) on the held-out users' logged sessions."""
    metrics = reported_metrics(agent, data.env_id, config.eval_users, config.eval_seed,
                               data.env_kwargs)
    metrics.update(off_policy(agent, data, config.ope, n_bootstrap=OPE_BOOTSTRAP,
                              seed=config.seed))
    if can_rank(agent):
        ranking = session_ranking(agent, data.heldout, RANKING_K)
        metrics.update({k: v for k, v in ranking.items() if k != "ranked_sessions"})
    return metrics


def off_policy(agent: Agent, data: OfflineData, estimators: tuple[str, ...], *,
               n_bootstrap: int, seed: int) -> dict[str, float]:
    """`ope_<name>`, `ope_<name>_lo`, `ope_<name>_hi` of each estimator on the held-out
    episodes; nothing for agents that give no item probabilities off-line."""
    if not estimators or not ope_applicable(agent, data.heldout):
        return {}
    results = estimate(data.heldout, agent, estimators, n_bootstrap=n_bootstrap, seed=seed)
    out: dict[str, float] = {}
    for name, result in results.items():
        out[f"ope_{name}"] = result.value
        out[f"ope_{name}_lo"], out[f"ope_{name}_hi"] = result.ci95
    return out


def ope_applicable(agent: Agent, episodes: TrajectoryDataset) -> bool:
    """Off-policy evaluation needs one item per step and item probabilities from the
    observation alone (the synthetic behaviour policy reads the world's hidden state; a
    policy that conditions on the rewards it received, such as a decision transformer,
    chooses from its episode so far)."""
    return (episodes.actions.ndim == 1 and agent.name != "behaviour"
            and hasattr(agent, "action_probabilities")
            and not isinstance(agent, RewardListener))
