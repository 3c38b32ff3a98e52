"""The machinery shared by the stable-baselines3 agents (`agents.online.sb3_agents`): their
config, building the SB3 model with a recgym encoder as the features extractor, training
in chunks through `learn`, predicting, and saving."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import BasePolicy

from agents.base import Agent, Callback, batch_of, is_batched, step_counts, unwrap_env
from agents.online import sb3_internals
from agents.online.sb3_env import RecSB3VecEnv, SpacesOnlyVecEnv, ids_as_box_space, sb3_obs
from agents.settings import store_ints, store_plain
from offline_data.shared.config import ConfigMixin
from offline_data.shared.errors import InputError
from offline_data.shared.numbers import as_int
from recgym.encoders.sb3 import RecFeaturesExtractor
from recgym.envs.vector import RecVectorEnv
from recgym.spaces import ObsSpec
from recgym.wrappers.continuous import ranked_actions
from simulators.interface import make_distinct


@dataclass(frozen=True)
class SB3Config(ConfigMixin):
    """Settings of a stable-baselines3 agent."""

    encoder: str = "drr_att"
    """recgym state encoder used as the features extractor (see `recgym.encoders`)."""
    embed_dim: int = 32
    hidden_dim: int = 64
    net_arch: tuple[int, ...] = (64, 64)
    """Hidden layers of the policy / value heads after the encoder."""
    learning_rate: float = 3e-4
    gamma: float | None = None
    """Discount; default 0.9 for PPO and A2C, 0.5 for the value-based DQN, SAC and TD3
    (see `OffPolicyConfig.gamma`)."""
    n_envs: int = 8
    """Parallel users when `fit` is given an environment id."""
    seed: int = 0
    exclude_seen: bool = True
    """Never recommend an item of the user's recent history: masked logits (PPO, A2C) or
    Q-values (DQN); for SAC / TD3 the ranking vector skips those items."""
    algo_kwargs: dict[str, Any] = field(default_factory=dict, hash=False)
    """Passed to the SB3 constructor (n_steps, buffer_size, ...), over the agent's
    `defaults`."""
    env_kwargs: dict[str, Any] = field(default_factory=dict, hash=False)
    """Environment arguments when `fit` is given an environment id."""

    def __post_init__(self) -> None:
        store_ints(self, {"embed_dim": 1, "hidden_dim": 1, "n_envs": 1, "seed": 0})
        if not isinstance(self.net_arch, (tuple, list)):
            raise InputError(f"net_arch must be a list of layer widths, got {self.net_arch!r}")
        object.__setattr__(self, "net_arch", tuple(as_int(width, "net_arch", minimum=1)
                                                   for width in self.net_arch))
        store_plain(self, "algo_kwargs", "env_kwargs")


class SB3Agent(Agent):
    """A stable-baselines3 algorithm on recgym environments; one thin subclass per
    algorithm names it and its defaults.

    Discrete agents act on the environment's action (an item, a slate, or candidate
    indices); continuous ones (`continuous = True`) output a ranking vector scored against
    the environment's item embeddings (DRR style, as `recgym.wrappers.ContinuousAction`).
    Training uses the natively batched vector environment through `RecSB3VecEnv`.
    """

    config_class: ClassVar[type] = SB3Config
    config: SB3Config
    algorithm: ClassVar[type[BaseAlgorithm]]
    """The SB3 class."""
    defaults: ClassVar[dict[str, Any]] = {}
    """Constructor arguments sized for recommendation envs on a CPU; `algo_kwargs` override."""
    default_gamma: ClassVar[float] = 0.9
    continuous: ClassVar[bool] = False
    masked_policy: ClassVar[type[BasePolicy] | None] = None
    """The policy that skips recently shown items (`exclude_seen`), if the algorithm has one."""

    def __init__(self, spec: ObsSpec, config: SB3Config | None = None,
                 embeddings: np.ndarray | None = None) -> None:
        super().__init__(spec, config or SB3Config())
        self.embeddings = None if embeddings is None else np.asarray(embeddings, np.float32)
        self.model: BaseAlgorithm | None = None
        self.vec_env: RecSB3VecEnv | None = None
        self._pending_training: dict[str, Any] | None = None

    @classmethod
    def create(cls, env: Any, config: Any = None) -> SB3Agent:
        """A new agent for `env` (with its item embeddings when `continuous`); a vector
        environment is attached at once, so the model is built around it."""
        base = unwrap_env(env)
        agent = cls(base.core.spec, config,
                    embeddings=base.item_embeddings() if cls.continuous else None)
        if isinstance(base, RecVectorEnv):
            agent.attach(env)
        return agent

    # ------------------------------------------------------------------ model
    def _spaces(self) -> tuple[spaces.Dict, spaces.Space]:
        obs_space = ids_as_box_space(self.spec.observation_space())
        if not self.continuous:
            return obs_space, self.spec.action_space()
        if self.embeddings is None:
            raise InputError(f"{self.name} needs item embeddings: build it with "
                             f"make_agent({self.name!r}, env)")
        return obs_space, spaces.Box(-1.0, 1.0, (self.embeddings.shape[1],), np.float32)

    def policy_kwargs(self) -> dict[str, Any]:
        """SB3 `policy_kwargs`: the recgym encoder as features extractor, the head layers."""
        c = self.config
        return {"features_extractor_class": RecFeaturesExtractor,
                "features_extractor_kwargs": {"encoder": c.encoder, "embed_dim": c.embed_dim,
                                              "hidden_dim": c.hidden_dim},
                "net_arch": list(c.net_arch)}

    def policy_class(self) -> Any:
        """The SB3 policy (class or name)."""
        if self.config.exclude_seen and self.masked_policy:
            return self.masked_policy
        return "MultiInputPolicy"

    def learn_callbacks(self) -> list[BaseCallback]:
        """Callbacks of every `learn` call besides the budget horizon (subclasses)."""
        return []

    def _build(self, vec_env: Any) -> BaseAlgorithm:
        c = self.config
        kwargs = {**self.defaults, **c.algo_kwargs}
        policy_kwargs = self.policy_kwargs()
        gamma = c.gamma if c.gamma is not None else self.default_gamma
        policy = self.policy_class()
        algorithm: Any = self.algorithm  # each SB3 class has its own constructor arguments
        try:
            return algorithm(policy, vec_env, learning_rate=c.learning_rate, gamma=gamma,
                             seed=c.seed, policy_kwargs=policy_kwargs, device="auto",
                             verbose=0, **kwargs)
        except TypeError as exc:
            raise InputError(f"{self.name}: bad algo_kwargs {sorted(c.algo_kwargs)} "
                             f"({exc}); see stable-baselines3's {self.algorithm.__name__} "
                             "arguments") from None

    def _ensure_model(self) -> BaseAlgorithm:
        if self.model is None:
            obs_space, action_space = self._spaces()
            with warnings.catch_warnings():  # batch-size hints about the one-env stand-in
                warnings.simplefilter("ignore", UserWarning)
                self.model = self._build(SpacesOnlyVecEnv(obs_space, action_space))
        return self.model

    def check_env(self, env: RecVectorEnv) -> None:
        """Refuse a training environment this algorithm cannot act in (subclasses)."""
        del env

    # ------------------------------------------------------------------ training
    def attach(self, env: Any) -> RecSB3VecEnv:
        """Connect a training environment (a `RecVectorEnv`, or an id)."""
        base = self.training_vector_env(env)
        if self.vec_env is not None and self.vec_env.vec is base:
            return self.vec_env
        self.check_env(base)
        self._spaces()  # a continuous agent without embeddings fails here, clearly
        self.vec_env = RecSB3VecEnv(base, self.embeddings, self.config.exclude_seen)
        if self.model is None:
            self.model = self._build(self.vec_env)
        elif isinstance(self.model.get_env(), SpacesOnlyVecEnv) or \
                self.model.n_envs != self.vec_env.num_envs:
            # a model loaded for predicting: rebuild it around the real environment (its
            # buffers are sized by the number of envs) and keep the learnt parameters
            weights = self.weights()
            self.model = self._build(self.vec_env)
            self.load_weights(weights)  # parameters, optimisers and e.g. SAC's log_ent_coef
        else:
            # learning starts with a reset: seeded by the agent's seed, as SB3 seeds the
            # environment a model is built with (otherwise a new environment, e.g. one built
            # from an id by `fit`, would draw its users from fresh OS entropy)
            self.vec_env.seed(self.config.seed)
            self.model.set_env(self.vec_env, force_reset=True)
        if self._pending_training is not None:
            pending, self._pending_training = self._pending_training, None
            self.load_training_state(pending, env)
        return self.vec_env

    def fit(self, env: Any, total_steps: int, callbacks: Sequence[Callback] = (),
            budget: int | None = None) -> SB3Agent:
        """Train `total_steps` more steps (rounded up to whole rollouts / train_freq).

        One `learn(total_steps, reset_num_timesteps=False)` call; off-policy schedules
        (DQN's exploration) follow `budget`, the steps planned in all (see
        `sb3_internals.BudgetHorizon`). SB3's on-policy algorithms compute progress per
        `learn` call, so a PPO / A2C schedule would restart with every call (recgym's are
        constant: a float learning rate and SB3's constant clip range).
        """
        total_steps, budget = step_counts(total_steps, budget)
        self.attach(env)
        model = self.model
        assert model is not None
        planned = budget if budget is not None else model.num_timesteps + total_steps
        model.learn(total_timesteps=total_steps, reset_num_timesteps=False,
                    callback=[sb3_internals.BudgetHorizon(planned), *self.learn_callbacks()])
        self.num_steps = int(model.num_timesteps)
        self.run_callbacks(callbacks)
        return self

    def predict(self, obs: dict[str, Any], deterministic: bool = True) -> Any:
        """Item id(s) or slate(s) for one observation or a batch."""
        model = self._ensure_model()
        batch = batch_of(obs)
        actions, _ = model.predict(sb3_obs(batch), deterministic=deterministic)
        if self.embeddings is not None:
            actions = ranked_actions(actions, self.embeddings, batch, self.spec.slate_size,
                                     self.spec.n_items, self.config.exclude_seen)
        elif self.spec.slate_size > 1:
            actions = make_distinct(np.asarray(actions).reshape(-1, self.spec.slate_size),
                                    self.spec.n_candidates or self.spec.n_items)
        actions = np.asarray(actions)
        return actions if is_batched(obs) else actions[0]

    # ------------------------------------------------------------------ persistence
    def weights(self) -> dict[str, Any]:
        """Parameters and optimiser states (`get_parameters`), torch variables such as
        SAC's entropy coefficient, the algorithm's name and any item embeddings."""
        model = self._ensure_model()
        out: dict[str, Any] = {"params": model.get_parameters(), "algo": self.name,
                               "variables": sb3_internals.torch_variables(model)}
        if self.embeddings is not None:
            out["embeddings"] = self.embeddings
        return out

    def load_weights(self, weights: dict[str, Any]) -> None:
        """Inverse of `weights` (a continuous agent takes its item embeddings from them)."""
        algo = weights.get("algo", self.name)
        if algo != self.name:
            raise ValueError(f"the weights are of a {algo} agent, not {self.name}")
        if self.continuous and self.model is None and "embeddings" in weights:
            self.embeddings = np.asarray(weights["embeddings"], np.float32)
        model = self._ensure_model()
        model.set_parameters(weights["params"], exact_match=True, device=model.device)
        sb3_internals.set_torch_variables(model, weights.get("variables", {}))

    def training_state(self) -> dict[str, Any]:
        """SB3's counters, last observation and replay buffer, and the environment's
        state (see `sb3_internals.training_state`)."""
        state = {"num_steps": self.num_steps,
                 **sb3_internals.training_state(self._ensure_model())}
        if self.vec_env is not None:
            state["env"] = self.vec_env.get_state()
        return state

    def load_training_state(self, state: dict[str, Any], env: Any = None) -> None:
        """Restore training state; without `env` it is kept until `attach` / `fit` gives
        one (the buffers are sized by the number of environments)."""
        super().load_training_state(state, env)
        if env is None and self.vec_env is None:
            self._pending_training = state
            return
        if env is not None and (self.vec_env is None or self.vec_env.vec is not
                                unwrap_env(env)):
            self._pending_training = state
            self.attach(env)
            return
        if "env" in state:
            assert self.vec_env is not None
            self.vec_env.set_state(state["env"])
        sb3_internals.restore_training(self._ensure_model(), state)
