"""`RecGym/Logged-v0` and `RecGym/SimSet-v0`: environments over simulators fitted to logs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from offline_data.shared.errors import InputError
from recgym.envs.base import RecEnv
from recgym.envs.vector import RecVectorEnv
from simulators.logged import LoggedUserSimulator
from simulators.mixture import SimulatorMixture
from simulators.sim_set import SimulatorSet


def as_simulator(simulator: LoggedUserSimulator | str | Path | None) -> LoggedUserSimulator:
    """A fitted simulator, or one loaded from a folder written by `save` / `fit-sim`."""
    if simulator is None:
        raise InputError("RecGym/Logged-v0 needs simulator= (a LoggedUserSimulator or a saved "
                         "simulator folder, e.g. from `recgym fit-sim`)")
    if isinstance(simulator, LoggedUserSimulator):
        return simulator
    return LoggedUserSimulator.load(simulator)


def as_mixture(simulator_set: SimulatorSet | str | Path | None,
               members: str | Sequence[int] = "train") -> SimulatorMixture:
    """A mixture over the chosen members ('train', 'heldout', 'all' or indices)."""
    if simulator_set is None:
        raise InputError("RecGym/SimSet-v0 needs simulator_set= (a SimulatorSet or a saved "
                         "set folder, e.g. OUT/set from `recgym fit-sim --set K`)")
    sims = simulator_set if isinstance(simulator_set, SimulatorSet) else SimulatorSet.load(
        simulator_set)
    if isinstance(members, str):
        chosen = {"train": sims.train_indices, "heldout": sims.heldout,
                  "all": tuple(range(len(sims)))}.get(members)
        if chosen is None:
            raise InputError(f"members must be 'train', 'heldout', 'all' or a list of "
                             f"indices, got {members!r}")
        if not chosen:
            raise InputError(f"the set has no {members!r} members")
        members = chosen
    return SimulatorMixture(sims, list(members))


class LoggedEnv(RecEnv):
    """Recommend items to users simulated by a `LoggedUserSimulator` fitted to a log.

    ## Description
    Responses, leaving and returning come from models fitted to real interactions
    (`simulators.fit`, `recgym fit-sim`). Episodes start from each user's last logged
    history.

    ## Action Space
    As `RecGym/Synthetic-v0`: an item id, a slate, or candidate indices.

    ## Observation Space
    As `RecGym/Synthetic-v0`, with the log's signals (primary signal first) and encoded user
    features.

    ## Rewards
    The log's signals, `depth` and `retention`; by default `primary + 5 * retention`.

    ## Starting State
    A user drawn from the log's users (or `options={"user_id": u}`).

    ## Episode End
    As `RecGym/Synthetic-v0`.

    ## Arguments
    | argument | meaning |
    |---|---|
    | `simulator` | a `LoggedUserSimulator` or a folder written by `save` / `recgym fit-sim` |
    | episode arguments | see `recgym.EnvConfig` |
    | `render_mode` | "ansi", "human" or "rgb_array" (see `RecEnv`) |

    ## Version History
    - v0: initial version.
    """

    def __init__(self, simulator: LoggedUserSimulator | str | Path | None = None,
                 **env_kwargs: Any) -> None:
        super().__init__(as_simulator(simulator), **env_kwargs)


def logged_vector_env(num_envs: int, simulator: Any = None, **env_kwargs: Any) -> RecVectorEnv:
    """Vector entry point of `RecGym/Logged-v0`."""
    return RecVectorEnv(as_simulator(simulator), num_envs, **env_kwargs)


class SimSetEnv(RecEnv):
    """Each episode's user follows one member of a Sim2Rec `SimulatorSet`.

    ## Description
    The member is drawn per episode from `members` ('train': the training members,
    'heldout': the unseen ones, 'all', or a list of indices); in a vector environment each
    row draws its own when its episode starts. `info["member"]` tells which and
    `info["member_params"]` gives its parameter vector (`SimulatorSet.params`, in the order
    of `simulators.sim_set.PARAM_NAMES`); neither is ever in the observation. Agents
    trained on the training members and tested on the held-out ones measure robustness to
    user behaviour they have not seen (`agents.sim2rec`).

    ## Action Space / Observation Space / Rewards / Episode End
    As `RecGym/Logged-v0`.

    ## Arguments
    | argument | meaning |
    |---|---|
    | `simulator_set` | a `SimulatorSet` or a folder written by `SimulatorSet.save` |
    | `members` | 'train' (default), 'heldout', 'all' or a list of member indices |
    | episode arguments | see `recgym.EnvConfig` |
    | `render_mode` | "ansi", "human" or "rgb_array" (see `RecEnv`) |

    ## Version History
    - v0: initial version.
    """

    def __init__(self, simulator_set: SimulatorSet | str | Path | None = None,
                 members: str | Sequence[int] = "train", **env_kwargs: Any) -> None:
        super().__init__(as_mixture(simulator_set, members), **env_kwargs)


def simset_vector_env(num_envs: int, simulator_set: Any = None,
                      members: str | Sequence[int] = "train", **env_kwargs: Any
                      ) -> RecVectorEnv:
    """Vector entry point of `RecGym/SimSet-v0`."""
    return RecVectorEnv(as_mixture(simulator_set, members), num_envs, **env_kwargs)
