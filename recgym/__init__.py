"""recgym: Gymnasium environments for reinforcement-learning recommendation.

`import recgym` registers `RecGym/Synthetic-v0`, `RecGym/Logged-v0`, `RecGym/SimSet-v0`,
`RecGym/KuaiRand-v0` and `RecGym/MovieLens-v0`; `recgym.make_vec` builds their natively
batched vector environments.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
from typing import TYPE_CHECKING, Any

from recgym.env_config import EnvConfig
from recgym.registration import ENVIRONMENTS, register_environments

if TYPE_CHECKING:
    from recgym.envs.vector import RecVectorEnv

__version__ = "0.1.0"

register_environments()

if importlib.util.find_spec("gym") is not None:
    # d3rlpy depends on the legacy `gym` package and stable-baselines3 probes for it; its
    # import prints a deprecation banner on every command, so it is imported here quietly
    with contextlib.redirect_stderr(io.StringIO()):
        import gym  # noqa: F401


def make_vec(env_id: str, num_envs: int, **kwargs: Any) -> RecVectorEnv:
    """A natively batched `gymnasium.vector.VectorEnv` of `num_envs` users for `env_id`
    (one simulator call per step for all of them); `num_envs` may be of any integral
    type, `render_mode` "ansi" or "rgb_array" renders every sub-environment."""
    import difflib

    import gymnasium as gym

    from offline_data.shared.errors import InputError
    from offline_data.shared.numbers import as_int

    if env_id not in ENVIRONMENTS:
        close = difflib.get_close_matches(env_id, ENVIRONMENTS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InputError(f"unknown recgym environment {env_id!r}{hint} Known: "
                         f"{', '.join(ENVIRONMENTS)}")
    from recgym.envs.vector import RecVectorEnv

    vec = gym.make_vec(env_id, num_envs=as_int(num_envs, "num_envs", minimum=1),
                       vectorization_mode="vector_entry_point", **kwargs)
    assert isinstance(vec, RecVectorEnv)
    return vec


__all__ = ["ENVIRONMENTS", "EnvConfig", "make_vec"]
