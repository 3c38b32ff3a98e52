"""`RecGym/LoggedReplay-v0`: the DRR paper's offline protocol as an environment (users
answer with their logged ratings; see `simulators.replay`)."""

from __future__ import annotations

from typing import Any

from offline_data.log import InteractionLog
from offline_data.shared.errors import InputError
from recgym.envs.base import RecEnv
from recgym.envs.vector import RecVectorEnv
from simulators.replay import RatingReplay

EPISODE_STEPS = 20
"""Recommendations per test user (the protocol's @20 metrics)."""


def as_replay(replay: RatingReplay | None, log: InteractionLog | None,
              replay_kwargs: dict[str, Any]) -> RatingReplay:
    """The replay simulator given, or one built over `log` with `replay_kwargs`."""
    if replay is not None:
        if log is not None or replay_kwargs:
            raise InputError("give RecGym/LoggedReplay-v0 either replay= (a RatingReplay) "
                             "or log= with its settings, not both")
        return replay
    if log is None:
        raise InputError("RecGym/LoggedReplay-v0 needs replay= (a simulators.replay."
                         "RatingReplay) or log= (an InteractionLog with a rating signal)")
    return RatingReplay(log, **replay_kwargs)


def replay_settings(replay: RatingReplay, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The protocol's episode settings, under any the caller gave: one item per step
    among the user's unshown rated items, the state_size most recent positive items as
    the history, the normalised rating as the reward, `EPISODE_STEPS` steps, one session,
    episodes drawn from the replay's users."""
    defaults = {"slate_size": 1, "n_candidates": replay.max_choices,
                "history_len": replay.state_size, "max_steps": EPISODE_STEPS,
                "max_sessions": 1, "reward_weights": {replay.signal_name: 1.0},
                "users": tuple(int(u) for u in replay.users)}
    return {**defaults, **env_kwargs}


class LoggedReplayEnv(RecEnv):
    """Recommend, to one logged user per episode, among the items that user rated.

    ## Description
    The offline protocol of DRR (Liu et al. 2018): the answer to a recommendation is the
    user's logged rating, normalised (`scale`: 'centered' (r - 3) / 2, or 'unit' r / 5);
    an item is recommended once; the observation's history holds the user's most recent
    positively rated items (rating >= `positive`), starting from their first
    `state_size` positive ratings. Split the users (`offline_data` splits) and build one
    environment over the training users and one over the test users with the same
    `embeddings` (`simulators.replay.rating_embeddings` of the training users).

    ## Action Space
    A candidate index (`Discrete(n_candidates)`): the candidates are the user's rated items
    not yet recommended, in random order, repeated to fill the width.

    ## Observation Space
    As `RecGym/Synthetic-v0` in candidate mode, with one signal (the normalised rating).

    ## Rewards
    The normalised rating of the recommended item.

    ## Starting State
    A user drawn from the replay's users (or `options={"user_id": u}`).

    ## Episode End
    Truncated after `max_steps` (default 20) recommendations; terminated when the user
    has no rated item left.

    ## Arguments
    | argument | meaning |
    |---|---|
    | `replay` | a `simulators.replay.RatingReplay` |
    | `log`, `replay_kwargs` | or a log and the `RatingReplay` settings (`users`, `scale`, ...) |
    | episode arguments | see `recgym.EnvConfig` (defaults above) |

    ## Version History
    - v0: initial version.
    """

    def __init__(self, replay: RatingReplay | None = None, log: InteractionLog | None = None,
                 replay_kwargs: dict[str, Any] | None = None, **env_kwargs: Any) -> None:
        simulator = as_replay(replay, log, dict(replay_kwargs or {}))
        super().__init__(simulator, **replay_settings(simulator, env_kwargs))


def replay_vector_env(num_envs: int, replay: RatingReplay | None = None,
                      log: InteractionLog | None = None,
                      replay_kwargs: dict[str, Any] | None = None,
                      **env_kwargs: Any) -> RecVectorEnv:
    """Vector entry point of `RecGym/LoggedReplay-v0`."""
    simulator = as_replay(replay, log, dict(replay_kwargs or {}))
    return RecVectorEnv(simulator, num_envs, **replay_settings(simulator, env_kwargs))
