"""Baselines for offline learning on the same data: the behaviour policy that wrote the log
(`BehaviourAgent`), and most-popular counted from the dataset (`popular_from_dataset`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from agents.base import CountingOnly, is_batched, unwrap_env
from agents.offline.base import spec_of
from agents.online.baselines.common import as_action, attached_core, checked_batch
from agents.online.baselines.popular import PopularAgent, PopularConfig
from agents.settings import store_ints, store_plain
from offline_data.shared.config import ConfigMixin
from offline_data.shared.errors import InputError
from recgym.offline import TrajectoryDataset
from recgym.offline.policy import StochasticPolicy
from recgym.spaces import ObsSpec
from recgym.wrappers.continuous import top_k_by_score
from simulators.policies import BehaviourPolicy, make_policy
from simulators.synthetic import SyntheticWorld


@dataclass(frozen=True)
class BehaviourConfig(ConfigMixin):
    """Settings of `BehaviourAgent`."""

    policy: str = "softmax"
    """The synthetic world's behaviour policy that wrote the log (`simulators.policies`:
    random, popularity, softmax, epsilon_greedy, click_greedy, diversity_aware)."""
    policy_kwargs: dict[str, Any] = field(default_factory=dict, hash=False)
    """Its arguments, as given to `generate_log` (e.g. {"temperature": 0.05})."""
    explore: float = 0.0
    """Uniform exploration mixed in, as the log had it (`simulators.make_policy`)."""
    seed: int = 0
    """Seed of the agent's random choices."""

    def __post_init__(self) -> None:
        store_ints(self, {"seed": 0})
        store_plain(self, "policy_kwargs")
        make_policy(self.policy, self.explore, **self.policy_kwargs)  # names the bad setting


class BehaviourAgent(CountingOnly):
    """The behaviour policy of a log, as an agent: the baseline every offline agent must
    beat on the same data.

    - For a synthetic log (`SyntheticWorld.generate_log(policy, ...)`) it acts as the
      logging policy did: `config.policy` (with `policy_kwargs`) reads the world's hidden
      user state, so, like the oracle, it must be attached to the environment whose
      observations it gets (`observe(env)`, which evaluation calls; `make_agent` with an
      environment attaches it). It always samples (the logging policy is stochastic), and
      its generator's state is saved with it.
    - For any other log, wrap a fitted behaviour model (anything with
      `action_probabilities(observations) -> (B, n_items)`, e.g. the classifier of
      `recgym.offline.behaviour`): `BehaviourAgent.from_model(model, dataset)`; it samples
      items from the model's probabilities (slates without replacement). Save the model
      itself; an agent over a model is not saved by `save`.

    `fit` does nothing but count steps. `action_probabilities` gives the policy's
    probability of every item (for the attached environment's current users, or from
    the model).
    """

    name: ClassVar[str] = "behaviour"
    config_class: ClassVar[type] = BehaviourConfig
    config: BehaviourConfig
    offline: ClassVar[bool] = True

    def __init__(self, spec: ObsSpec, config: BehaviourConfig | None = None,
                 model: StochasticPolicy | None = None) -> None:
        super().__init__(spec, config)
        if spec.n_candidates is not None:
            raise InputError("behaviour: candidate mode is not supported; leave n_candidates "
                             "out")
        try:
            self.policy: BehaviourPolicy = make_policy(
                self.config.policy, self.config.explore, **self.config.policy_kwargs)
        except InputError as exc:
            raise InputError(f"behaviour: {exc}") from None
        if model is not None and not isinstance(model, StochasticPolicy):
            raise InputError("behaviour: the model must have action_probabilities("
                             f"observations), got {type(model).__name__}")
        self.model = model
        self.rng = np.random.default_rng(self.config.seed)
        self.env: Any = None

    @classmethod
    def create(cls, env: Any, config: Any = None) -> BehaviourAgent:
        """A new agent for a dataset (attach it later) or an environment (attached)."""
        agent = cls(spec_of(env), config)
        if not isinstance(env, (TrajectoryDataset, ObsSpec)):
            agent.attach(env)
        return agent

    @classmethod
    def from_model(cls, model: StochasticPolicy, source: Any,
                   config: BehaviourConfig | None = None) -> BehaviourAgent:
        """An agent that samples from a fitted behaviour model's item probabilities;
        `source` is the dataset (or environment) whose spaces the model was fitted on."""
        return cls(spec_of(source), config, model=model)

    # ------------------------------------------------------------------ environment
    def observe(self, env: Any) -> None:
        """Act in `env` from now on (evaluation calls this)."""
        if self.model is None:
            self.attach(env)
        else:
            self.check_spaces(env)

    def attach(self, env: Any) -> Any:
        """Read the hidden state of `env` (an instance of the synthetic world's
        environment) from now on; returns it."""
        self.check_spaces(env)
        if not isinstance(unwrap_env(env).core.sim, SyntheticWorld):
            raise InputError("behaviour: replaying a synthetic behaviour policy needs the "
                             "synthetic world's environment (RecGym/Synthetic-v0); for other "
                             "logs use BehaviourAgent.from_model(fitted behaviour model, "
                             "dataset)")
        self.env = env
        return env

    def _state(self, batch: dict[str, np.ndarray]) -> tuple[SyntheticWorld, Any]:
        if self.env is None:
            raise InputError("behaviour reads the synthetic world's hidden state: attach it "
                             "to the environment first (agent.observe(env)), or build it "
                             "with make_agent('behaviour', env)")
        core = attached_core("behaviour", self.env, batch)
        world = core.sim
        assert isinstance(world, SyntheticWorld)
        return world, core.state

    # ------------------------------------------------------------------ acting
    def predict(self, obs: dict[str, Any], deterministic: bool = True) -> Any:
        """A sampled item (or slate) per row, as the behaviour policy chooses
        (`deterministic` is ignored: the behaviour policy is what it is)."""
        batch = checked_batch(obs, self.spec)
        k = self.spec.slate_size
        if self.model is not None:
            probs = np.asarray(self.model.action_probabilities(batch), np.float64)
            keys = np.log(np.maximum(probs, 1e-300)) - np.log(
                -np.log(self.rng.random(probs.shape) + 1e-300) + 1e-300)
            choice = top_k_by_score(keys, k)
        else:
            world, state = self._state(batch)
            choice = np.asarray(self.policy(world, state, k, self.rng))
        return as_action(choice, is_batched(obs), k)

    def action_probabilities(self, observations: dict[str, np.ndarray]) -> np.ndarray:
        """(B, n_items) probability of each item as the next (single-item) action."""
        if self.spec.slate_size != 1:
            raise InputError("behaviour: action probabilities are per item, but this agent "
                             f"recommends slates of {self.spec.slate_size}")
        batch = checked_batch(observations, self.spec)
        if self.model is not None:
            return np.asarray(self.model.action_probabilities(batch), np.float64)
        world, state = self._state(batch)
        rows = len(batch["history_items"])
        probs = np.empty((rows, self.spec.n_items))
        for item in range(self.spec.n_items):
            probs[:, item] = self.policy.propensity(world, state, np.full((rows, 1), item))
        return probs

    # ------------------------------------------------------------------ persistence
    def weights(self) -> dict[str, Any]:
        """The generator's state (a loaded agent continues the same draws)."""
        if self.model is not None:
            raise InputError("behaviour: an agent over a fitted behaviour model is not saved "
                             "by itself; save the model and wrap it again with "
                             "BehaviourAgent.from_model")
        return {"rng": self.rng.bit_generator.state}

    def load_weights(self, weights: dict[str, Any]) -> None:
        """Inverse of `weights`."""
        self.rng.bit_generator.state = weights["rng"]


def popular_from_dataset(dataset: TrajectoryDataset,
                         config: PopularConfig | None = None) -> PopularAgent:
    """The most-popular baseline (`agents.online.baselines.popular.PopularAgent`, registered
    as 'popular') with its counts from a dataset: how often each item was logged and the
    sum of its primary signal. (From the log itself: `PopularAgent.from_log(log, spec)`.)"""
    if not isinstance(dataset, TrajectoryDataset):
        raise InputError(f"popular_from_dataset takes a TrajectoryDataset, got "
                         f"{type(dataset).__name__}")
    spec = dataset.spec
    if spec.slate_size != 1:
        raise InputError("popular_from_dataset counts one item per step, but the dataset has "
                         f"slate_size {spec.slate_size}; use PopularAgent.from_log(log, spec)")
    agent = PopularAgent(spec, config)
    items = np.asarray(dataset.actions, np.int64)
    column = dataset.reward_names.index(spec.signal_names[0])  # the primary signal
    primary = np.asarray(dataset.reward_vectors[:, column], np.float64)
    agent.load_weights({
        "shows": np.bincount(items, minlength=spec.n_items).astype(np.float64),
        "successes": np.bincount(items, weights=primary, minlength=spec.n_items)})
    return agent
