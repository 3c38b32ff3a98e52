"""Everything recgym reads or writes inside stable-baselines3 beyond its public API.

Training goes through SB3's public surface: `learn(total_timesteps, callback,
reset_num_timesteps=False)` trains one chunk, `set_env`, `get_parameters` /
`set_parameters`. Three things need SB3's private state, and all live here:

- schedules over the whole budget: `learn` sets the horizon of its schedules (DQN's
  exploration, off-policy learning-rate schedules) to the chunk it is given, and SB3 has no
  public way to say "this chunk is part of a longer run"; `BudgetHorizon`, a callback, sets
  `_total_timesteps` to the budget when the chunk starts. (A callback that stops the chunk
  instead, with `_on_step` returning False over a `learn` of the whole budget, cannot end
  it exactly: SB3 calls `_on_step` after `env.step`, and returning False drops that step.)
- per-group learning rates: SB3 sets every optimiser group to the schedule's rate before
  each update (`_update_learning_rate`); `scale_group_rates`, called after it, multiplies
  groups that carry an `lr_scale` (Sim2Rec's context extractor learns at its own rate).
- exact resumption: the last observation, episode starts, update and episode counters,
  DQN's target-update counter, the replay buffer's contents, the action space's generator
  and torch variables such as SAC's `log_ent_coef` (`training_state` / `restore_training`).
  SB3's own `save` / `load_replay_buffer` unpickle files, which recgym never does.

These attributes are those of stable-baselines3 2.9 (`SB3_SERIES`): pyproject pins
`stable-baselines3~=2.9`, and tests/test_agents.py checks the pin and the round trip (a
run interrupted and resumed equals an uninterrupted one) for every SB3 agent.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from stable_baselines3 import DQN
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.buffers import DictReplayBuffer, ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

SB3_SERIES = "2.9"
"""The stable-baselines3 minor version whose private attributes this module uses."""

_BUFFER_ARRAYS = ("actions", "rewards", "dones", "timeouts")


class BudgetHorizon(BaseCallback):
    """Makes a `learn` call that trains one chunk schedule over the whole `budget`, so a
    run split into chunks trains exactly as one uninterrupted run."""

    def __init__(self, budget: int) -> None:
        super().__init__()
        self.budget = budget

    def _on_training_start(self) -> None:
        self.model._total_timesteps = max(self.budget, self.model.num_timesteps + 1)

    def _on_step(self) -> bool:
        return True


def scale_group_rates(optimizers: Any) -> None:
    """After SB3's `_update_learning_rate`: each optimiser group with an `lr_scale` key
    gets the schedule's rate times that scale."""
    for optimizer in optimizers if isinstance(optimizers, list) else [optimizers]:
        for group in optimizer.param_groups:
            group["lr"] *= group.get("lr_scale", 1.0)


def torch_variables(model: BaseAlgorithm) -> dict[str, torch.Tensor]:
    """The model's torch variables outside its modules and optimisers (SAC's
    `log_ent_coef`), by name."""
    _, names = model._get_torch_save_params()
    return {name: getattr(model, name).detach().cpu() for name in names}


def set_torch_variables(model: BaseAlgorithm, variables: dict[str, torch.Tensor]) -> None:
    """Inverse of `torch_variables`."""
    for name, value in variables.items():
        getattr(model, name).data.copy_(value.to(model.device))


def training_state(model: BaseAlgorithm) -> dict[str, Any]:
    """SB3's own state needed to continue training exactly (the caller adds the
    environment's state and the global random states)."""
    state: dict[str, Any] = {
        "num_timesteps": model.num_timesteps, "n_updates": model._n_updates,
        "episode_num": model._episode_num, "last_obs": model._last_obs,
        "last_episode_starts": model._last_episode_starts,
        # warm-up and epsilon-greedy actions come from the action space's own generator
        "action_space_rng": model.action_space.np_random.bit_generator.state,
    }
    if isinstance(model, DQN):
        state["n_calls"] = model._n_calls
        state["exploration_rate"] = model.exploration_rate
    if isinstance(model, OffPolicyAlgorithm) and model.replay_buffer is not None:
        state["last_original_obs"] = model._last_original_obs
        state["replay"] = _buffer_state(model.replay_buffer)
    return state


def restore_training(model: BaseAlgorithm, state: dict[str, Any]) -> None:
    """Inverse of `training_state`."""
    model.num_timesteps = int(state["num_timesteps"])
    model._n_updates = int(state["n_updates"])
    model._episode_num = int(state["episode_num"])
    model._last_obs = state["last_obs"]
    model._last_episode_starts = state["last_episode_starts"]
    model.action_space.np_random.bit_generator.state = state["action_space_rng"]
    if isinstance(model, DQN):
        model._n_calls = int(state["n_calls"])
        model.exploration_rate = float(state["exploration_rate"])
    if "replay" in state and isinstance(model, OffPolicyAlgorithm):
        assert model.replay_buffer is not None
        model._last_original_obs = state["last_original_obs"]
        _restore_buffer(model.replay_buffer, state["replay"])


def _buffer_state(buffer: ReplayBuffer) -> dict[str, Any]:
    state: dict[str, Any] = {"pos": buffer.pos, "full": buffer.full}
    size = buffer.buffer_size if buffer.full else buffer.pos
    for key in _BUFFER_ARRAYS:
        state[key] = getattr(buffer, key)[:size].copy()
    if isinstance(buffer, DictReplayBuffer):
        state["observations"] = {k: v[:size].copy() for k, v in buffer.observations.items()}
        state["next_observations"] = {k: v[:size].copy()
                                      for k, v in buffer.next_observations.items()}
    return state


def _restore_buffer(buffer: ReplayBuffer, state: dict[str, Any]) -> None:
    size = len(state["rewards"])
    for key in _BUFFER_ARRAYS:
        getattr(buffer, key)[:size] = state[key]
    for key in ("observations", "next_observations"):
        stored: dict[str, np.ndarray] = getattr(buffer, key)
        for name, values in state.get(key, {}).items():
            stored[name][:size] = values
    buffer.pos, buffer.full = int(state["pos"]), bool(state["full"])
