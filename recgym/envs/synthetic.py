"""`RecGym/Synthetic-v0`: recommendation in the ground-truth synthetic world."""

from __future__ import annotations

from typing import Any

from offline_data.shared.numbers import as_int
from recgym.envs.base import RecEnv
from recgym.envs.vector import RecVectorEnv
from simulators.synthetic import SyntheticWorld
from simulators.world_config import WorldConfig


def make_world(world: SyntheticWorld | WorldConfig | dict[str, Any] | None, world_seed: int
               ) -> SyntheticWorld:
    """A `SyntheticWorld` from an instance, a config, a dict of config fields or None."""
    if isinstance(world, SyntheticWorld):
        return world
    if isinstance(world, dict):
        world = WorldConfig().replace(**world)
    return SyntheticWorld(world, seed=as_int(world_seed, "world_seed"))


DEFAULT_REWARD = {"click": 1.0, "like": 1.0, "watch_ratio": 1.0, "retention": 5.0}
"""Immediate engagement (click, like, watch ratio) and retention; the world's watch and like
signals reveal the quality that clicks alone hide."""


class SyntheticEnv(RecEnv):
    """Recommend items to users of the ground-truth synthetic world (no files needed).

    ## Description
    Users with drifting interests, boredom from repetition, clickbait that draws clicks
    but disappoints, and leave / return behaviour that punishes myopic recommendation
    (`simulators.SyntheticWorld`). Each episode follows one user over several sessions.

    ## Action Space
    `Discrete(n_items)`: the item to show; `MultiDiscrete([n_items] * k)` with
    `slate_size=k`; with `n_candidates=C`, indices into the observed candidate list.

    ## Observation Space
    `Dict`: `user_id`, `user_features` (noisy activity level, one-hot segment),
    `history_items` (last `history_len` items, `n_items` = empty), `history_feedback`
    (click, like, watch_ratio per item), `history_mask`, `session_step`, `session_index`
    and, in candidate mode, `candidates`.

    ## Rewards
    `info["reward_vector"]` = (click, like, watch_ratio, depth, retention) summed over the
    slate; retention is paid when a session ends, `max(0, 1 - gap / churn_after_h)`. The
    reward is the `reward_weights`-weighted sum, by default
    `click + like + watch_ratio + 5 * retention` (`DEFAULT_REWARD`).

    ## Starting State
    A user drawn uniformly from the population (or `options={"user_id": u}`), fresh
    interests, no boredom, empty history.

    ## Episode End
    Terminated when a return gap exceeds `churn_after_h` (the user churned); truncated
    after `max_sessions` sessions or `max_steps` steps.

    ## Arguments
    | argument | default | meaning |
    |---|---|---|
    | `world` | None | a `SyntheticWorld`, a `WorldConfig` or a dict of its fields |
    | `world_seed` | 0 | seed of the world's users and items |
    | episode arguments | see `recgym.EnvConfig` | `slate_size`, `history_len`, `n_candidates`, |
    | | | `max_sessions`, `max_steps`, `churn_after_h`, `reward_weights`, `users` |
    | `render_mode` | None | "ansi", "human" or "rgb_array" (see `RecEnv`) |

    ## Version History
    - v0: initial version. Later additions that leave episodes unchanged: `render_mode`,
      `ResetNeededError` when stepping after the end, numpy integer arguments.

    >>> import gymnasium as gym, recgym
    >>> env = gym.make("RecGym/Synthetic-v0", world={"n_users": 50, "n_items": 30})
    >>> obs, info = env.reset(seed=0)
    >>> obs["history_items"].shape
    (10,)
    >>> text = gym.make("RecGym/Synthetic-v0", render_mode="ansi").unwrapped
    >>> _ = text.reset(seed=0)
    >>> text.render().splitlines()[0].startswith("user ")
    True
    """

    def __init__(self, world: SyntheticWorld | WorldConfig | dict[str, Any] | None = None,
                 world_seed: int = 0, **env_kwargs: Any) -> None:
        env_kwargs.setdefault("reward_weights", dict(DEFAULT_REWARD))
        super().__init__(make_world(world, world_seed), **env_kwargs)


def synthetic_vector_env(num_envs: int, world: Any = None, world_seed: int = 0,
                         **env_kwargs: Any) -> RecVectorEnv:
    """Vector entry point of `RecGym/Synthetic-v0`."""
    env_kwargs.setdefault("reward_weights", dict(DEFAULT_REWARD))
    return RecVectorEnv(make_world(world, world_seed), num_envs, **env_kwargs)
