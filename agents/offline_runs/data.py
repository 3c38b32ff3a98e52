"""The data of an offline run: the log (synthetic or read from a file) split by user into
training and held-out episodes with behaviour propensities, and the simulator the agent is
evaluated in (the synthetic world itself, or one fitted to the training users).

Fitted parts are written into the run folder (`simulator/`, `behaviour/`, and the held-out
episodes in `heldout/`), so evaluation, `recgym ope` and resuming reuse them instead of
fitting again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.offline_runs.config import OfflineRunConfig
from offline_data.log import InteractionLog
from offline_data.log_options import read_log, reject_log_options
from offline_data.shared.errors import InputError
from recgym.envs.synthetic import DEFAULT_REWARD, make_world
from recgym.offline import (
    BehaviourConfig,
    BehaviourModel,
    TrajectoryDataset,
    episodes_from_log,
    fit_behaviour,
)
from recgym.rewards import check_reward_weights
from simulators.interface import UserSimulator
from simulators.policies import make_policy

logger = logging.getLogger(__name__)

SIMULATOR_FOLDER = "simulator"
BEHAVIOUR_FOLDER = "behaviour"
HELDOUT_FOLDER = "heldout"
SYNTHETIC_ENV = "RecGym/Synthetic-v0"
LOGGED_ENV = "RecGym/Logged-v0"


@dataclass
class OfflineData:
    """Training and held-out episodes, and where the agent is evaluated online."""

    train: TrajectoryDataset
    heldout: TrajectoryDataset
    env_id: str
    env_kwargs: dict[str, Any]
    """Arguments of `env_id` (objects, not paths: the world, the fitted simulator)."""
    truth_known: bool
    """Whether `env_id` is the world that wrote the log (its returns are the truth)."""
    behaviour_model: BehaviourModel | None = None
    """The fitted behaviour model (logs that did not record propensities)."""


def evaluation_env(config: OfflineRunConfig, folder: Path) -> tuple[str, dict[str, Any]]:
    """The environment id and JSON-ready arguments an offline run is evaluated in."""
    episode = dict(config.env_kwargs)
    if config.synthetic:
        episode.setdefault("reward_weights", dict(DEFAULT_REWARD))
        return SYNTHETIC_ENV, {"world": dict(config.world), "world_seed": config.world_seed,
                               **episode}
    return LOGGED_ENV, {"simulator": str(simulator_path(config, folder)), **episode}


def simulator_path(config: OfflineRunConfig, folder: Path) -> Path:
    """Where a run on a log from a file keeps its simulator: `--simulator`, else the
    one fitted into the run folder."""
    return Path(config.simulator) if config.simulator else folder / SIMULATOR_FOLDER


def saved_simulator(config: OfflineRunConfig, folder: Path) -> UserSimulator:
    """The simulator a run is evaluated in, as its config and run folder hold it (the
    synthetic world, or the saved fitted simulator)."""
    if config.synthetic:
        return make_world(config.world, config.world_seed)
    from simulators.logged import LoggedUserSimulator

    return LoggedUserSimulator.load(simulator_path(config, folder), device="cpu")


def read_run_log(config: OfflineRunConfig) -> InteractionLog:
    """The log of a run: a synthetic world's log, or the file `config.data`."""
    options = config.log_reader_options()
    if not config.synthetic:
        path = Path(config.data)
        if not path.exists():
            raise InputError(f"{path}: no such log file or folder; give the path of a log "
                             "or 'synthetic'")
        log = read_log(path, options)
        _check_log(config, log)
        return log
    reject_log_options(options, "to --data synthetic (the log is generated)")
    world = make_world(config.world, config.world_seed)
    check_reward_weights(config.env_kwargs.get("reward_weights"),
                         [sig.name for sig in world.signals], "the synthetic world")
    sessions = None if config.days is not None else config.env_config().max_sessions + 1
    policy = make_policy(config.behaviour, config.explore, **config.behaviour_kwargs)
    log = world.generate_log(policy, n_users=config.users,
                             n_days=config.days or 7.0, seed=config.seed,
                             max_sessions=sessions)
    _check_log(config, log)
    if np.all(log.interactions["propensity"].to_numpy() == 1.0):
        logger.warning("the behaviour policy %r chose deterministically: the log shows one "
                       "item per state, so other policies cannot be evaluated off-policy "
                       "(their estimates are 0); mix in exploration with --explore 0.1",
                       config.behaviour)
    return log


def prepare(config: OfflineRunConfig, folder: Path, *, reuse: bool = False,
            log: InteractionLog | None = None, progress: bool = True) -> OfflineData:
    """Build the run's data from its log (`log`, if already read); fitted parts are
    written into `folder` (with `reuse`, those already there are loaded instead of fitted
    again, as on resume); `progress` shows the simulator fit's progress bars."""
    log = read_run_log(config) if log is None else log
    train_log, heldout_log = log.split_by_user(config.heldout_fraction, seed=config.seed)
    env_id, env_json = evaluation_env(config, folder)
    saved = config.synthetic or config.simulator is not None or (
        reuse and (folder / SIMULATOR_FOLDER).is_dir())
    simulator = (saved_simulator(config, folder) if saved
                 else _fitted_simulator(config, train_log, folder / SIMULATOR_FOLDER,
                                        progress))
    env_config = config.env_config()
    weights = env_json.get("reward_weights")
    per_user = 1 if config.synthetic and config.days is None else None
    train = _episodes(train_log, env_config, weights, simulator, per_user, "training")
    heldout = _episodes(heldout_log, env_config, weights, simulator, per_user, "held-out")
    model = None
    if train.propensities is None:
        train, heldout, model = _fitted_propensities(config, train, heldout,
                                                     folder / BEHAVIOUR_FOLDER, reuse)
    if config.synthetic:  # the world object itself, not its config and seed
        env_kwargs = {k: v for k, v in env_json.items() if k != "world_seed"}
        env_kwargs["world"] = simulator
    else:
        env_kwargs = {**env_json, "simulator": simulator}
    return OfflineData(train, heldout, env_id, env_kwargs, truth_known=config.synthetic,
                       behaviour_model=model)


def _check_log(config: OfflineRunConfig, log: InteractionLog) -> None:
    """Refuse a log with nothing to learn from, and reward weights on rewards it does not
    have, before any fitting."""
    check_reward_weights(config.env_kwargs.get("reward_weights"), log.signal_names,
                         log.source)
    steps_per_user = log.interactions["user_id"].value_counts()
    if steps_per_user.max() < 2 * config.env_config().slate_size:
        raise InputError(f"{log.source}: no complete episode: every user has a single step, "
                         "which the end of the log cuts short (no transition to learn from); "
                         "give a log with longer histories")


def _episodes(log: InteractionLog, env_config: Any, weights: dict[str, float] | None,
              simulator: UserSimulator, per_user: int | None, part: str) -> TrajectoryDataset:
    data = episodes_from_log(log, env_config, weights, simulator=simulator,
                             episodes_per_user=per_user)
    if data.n_steps == 0:
        raise InputError(f"{log.source}: the {part} users' log gives no episode; give a "
                         "longer log or more users")
    return data


def _fitted_simulator(config: OfflineRunConfig, log: InteractionLog, folder: Path,
                      progress: bool) -> UserSimulator:
    """A simulator fitted to the training users' log, saved in `folder`."""
    from simulators import SimulatorConfig, fit

    settings = {"seed": config.seed, "progress": progress, **config.simulator_kwargs}
    logger.info("fitting a simulator to the training users' log (%d rows)", len(log))
    simulator = fit(log, SimulatorConfig().replace(**settings))
    simulator.save(folder, overwrite=True)
    return simulator


def _fitted_propensities(config: OfflineRunConfig, train: TrajectoryDataset,
                         heldout: TrajectoryDataset, folder: Path, reuse: bool
                         ) -> tuple[TrajectoryDataset, TrajectoryDataset, BehaviourModel]:
    """Propensities from a behaviour model fitted to the training episodes (the log did
    not record them)."""
    if reuse and folder.is_dir():
        model = BehaviourModel.load(folder, device="cpu")
        train = model.apply(train)
    else:
        settings = {"seed": config.seed, **config.behaviour_model}
        logger.info("fitting a behaviour model to %d training steps", train.n_steps)
        train, model = fit_behaviour(train, BehaviourConfig().replace(**settings))
        model.save(folder, overwrite=True)
    return train, model.apply(heldout), model
