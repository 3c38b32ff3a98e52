"""Helpers shared by the baselines: checked batches, ranking scores into choices, the
action formats of single and vector environments, and the items a step showed.

Slates: the reward vector sums a signal over the slate, so per-item feedback is read from
the next observation, whose first `slate_size` history slots hold the slate (reversed) with
each item's own feedback.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.base import CountingOnly, batch_of, unwrap_env
from offline_data.shared.errors import InputError
from recgym.masking import seen_mask
from recgym.spaces import ObsSpec
from recgym.wrappers.continuous import top_k_by_score


def checked_batch(obs: Any, spec: ObsSpec) -> dict[str, np.ndarray]:
    """A checked, batched observation."""
    if not isinstance(obs, dict) or "history_items" not in obs:
        raise InputError("predict takes a recgym observation dict (keys user_id, "
                         "history_items, ...), one or a batch")
    batch = batch_of(obs)
    if spec.n_candidates is not None and "candidates" not in batch:
        raise InputError("this agent was built for candidate mode (n_candidates="
                         f"{spec.n_candidates}) but the observation has no 'candidates'")
    return batch


def n_choices(spec: ObsSpec) -> int:
    """How many choices an action picks from: candidates, or all items."""
    return spec.n_candidates if spec.n_candidates is not None else spec.n_items


def rank(scores: np.ndarray, batch: dict[str, np.ndarray], spec: ObsSpec,
         exclude_seen: bool = False) -> np.ndarray:
    """The `slate_size` best choices per row (B, k) from item scores (B, n_items): item
    ids, or candidate indices in candidate mode; `exclude_seen` ranks the items of the
    user's recent history last."""
    if spec.n_candidates is not None:
        candidates = np.asarray(batch["candidates"], dtype=np.int64)
        scores = np.take_along_axis(scores, candidates, axis=1)
    return top_k_by_score(excluding_seen(scores, batch, spec, exclude_seen), spec.slate_size)


def excluding_seen(scores: np.ndarray, batch: dict[str, np.ndarray], spec: ObsSpec,
                   enabled: bool) -> np.ndarray:
    """Choice scores (B, choices) with the recently shown items set to -inf."""
    if not enabled:
        return scores
    return np.where(seen_mask(batch, spec.n_items), -np.inf, scores)


def as_action(choice: np.ndarray, batched: bool, slate_size: int) -> Any:
    """(B, k) choices -> the action format of a vector env (batched) or a single env."""
    out = np.asarray(choice, dtype=np.int64)
    out = out[:, 0] if slate_size == 1 else out
    if batched:
        return out
    return int(out[0]) if slate_size == 1 else out[0]


def shown(next_batch: dict[str, np.ndarray], stepped: np.ndarray, spec: ObsSpec
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, items, primary feedback) of every item shown in the step just taken, read
    from the next observation's first slate_size history slots (only rows that stepped;
    with history_len < slate_size, only the last history_len items of the slate)."""
    m = min(spec.slate_size, spec.history_len)
    items = np.asarray(next_batch["history_items"])[:, :m]
    feedback = np.asarray(next_batch["history_feedback"], dtype=np.float64)[:, :m, 0]
    valid = stepped[:, None] & (items < spec.n_items)
    rows = np.broadcast_to(np.arange(len(items))[:, None], items.shape)
    return rows[valid], items[valid].astype(np.int64), feedback[valid]


def attached_core(name: str, env: Any, batch: dict[str, np.ndarray]) -> Any:
    """The `RecCore` of the environment an agent that reads hidden state is attached to,
    after checking that `batch` is that environment's current observation."""
    from agents.base import unwrap_env

    core = unwrap_env(env).core
    users = np.asarray(batch["user_id"]).reshape(-1)
    if len(users) != core.n or not np.array_equal(users, core.user):
        raise InputError(f"{name}: the observation ({len(users)} row(s)) is not the "
                         f"current one of the attached environment ({core.n} row(s)); "
                         "predict on the latest observation of that environment")
    return core


class ReadsHiddenState(CountingOnly):
    """Base of the baselines that read the hidden state of the environment they act in
    (the oracle, the planner): built attached (`create`), re-attached by evaluation
    (`observe`); `fit` only counts steps."""

    def __init__(self, spec: ObsSpec, config: Any = None) -> None:
        super().__init__(spec, config)
        self.env: Any = None

    @classmethod
    def create(cls, env: Any, config: Any = None) -> Any:
        """A new agent attached to `env`."""
        agent = cls(unwrap_env(env).core.spec, config)
        agent.attach(env)
        return agent

    def observe(self, env: Any) -> None:
        """Act in `env` from now on (evaluation calls this): read its hidden state."""
        self.attach(env)

    def attach(self, env: Any) -> Any:
        """Read the hidden state of `env` (an instance) from now on; returns it."""
        self.check_spaces(env)
        self.env = env
        return env

    def attached(self, obs: Any) -> tuple[dict[str, np.ndarray], Any]:
        """(the checked batch of `obs`, the attached environment's core); `InputError` if
        no environment is attached."""
        if self.env is None:
            raise InputError(f"the {self.name} reads the environment's hidden state: attach "
                             "it to the environment first (agent.attach(env)), or build it "
                             f"with make_agent('{self.name}', env)")
        batch = checked_batch(obs, self.spec)
        return batch, attached_core(self.name, self.env, batch)
