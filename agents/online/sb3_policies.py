"""stable-baselines3 policies that never pick an item of the user's recent history.

The mask comes from the observation itself (`history_items`, and `candidates` in
candidate mode), so it is the same when acting and when training: masked logits or
Q-values are constants (no gradient), and the policy's probabilities and targets only
range over the allowed items (invalid-action masking, Huang & Ontanon 2022).
"""

from __future__ import annotations

from typing import Any

import torch
from stable_baselines3.common.distributions import (
    CategoricalDistribution,
    Distribution,
    MultiCategoricalDistribution,
)
from stable_baselines3.common.policies import MultiInputActorCriticPolicy
from stable_baselines3.dqn.policies import MultiInputPolicy as DQNMultiInputPolicy
from stable_baselines3.dqn.policies import QNetwork

from recgym.masking import seen_mask_tensor

MASKED = -1e9


def _n_items(observation_space: Any) -> int:
    return round(float(observation_space["history_items"].high.max()))


class MaskedActorCriticPolicy(MultiInputActorCriticPolicy):
    """PPO / A2C policy whose action logits exclude recently shown items (each slate
    position alike)."""

    _mask: torch.Tensor | None = None

    def _remember(self, obs: Any) -> None:
        self._mask = seen_mask_tensor(obs, _n_items(self.observation_space))

    def forward(self, obs: Any, deterministic: bool = False) -> Any:
        self._remember(obs)
        return super().forward(obs, deterministic)

    def evaluate_actions(self, obs: Any, actions: torch.Tensor) -> Any:
        self._remember(obs)
        return super().evaluate_actions(obs, actions)

    def get_distribution(self, obs: Any) -> Distribution:
        self._remember(obs)
        return super().get_distribution(obs)

    def _get_action_dist_from_latent(self, latent_pi: torch.Tensor) -> Distribution:
        logits = self.action_net(latent_pi)
        mask = self._mask
        if mask is not None and isinstance(self.action_dist, (CategoricalDistribution,
                                                              MultiCategoricalDistribution)):
            repeats = logits.shape[1] // mask.shape[1]
            logits = logits.masked_fill(mask.repeat(1, repeats), MASKED)
            return self.action_dist.proba_distribution(action_logits=logits)
        return super()._get_action_dist_from_latent(latent_pi)


class MaskedQNetwork(QNetwork):
    """Q-values with recently shown items set to a constant -1e9: greedy actions and the
    bootstrap maximum both skip them."""

    def forward(self, obs: Any) -> torch.Tensor:
        q = super().forward(obs)
        return q.masked_fill(seen_mask_tensor(obs, _n_items(self.observation_space)), MASKED)


class MaskedDQNPolicy(DQNMultiInputPolicy):
    """DQN policy built on `MaskedQNetwork`."""

    def make_q_net(self) -> QNetwork:
        net_args = self._update_features_extractor(self.net_args, features_extractor=None)
        return MaskedQNetwork(**net_args).to(self.device)
