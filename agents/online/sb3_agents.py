"""stable-baselines3 agents (PPO, A2C, DQN, SAC, TD3) behind the recgym agent interface,
with any recgym state encoder as the features extractor."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from stable_baselines3 import A2C, DQN, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.buffers import DictReplayBuffer

from agents.base import Agent, Callback, batch_of, is_batched, unwrap_env
from agents.online.sb3_env import RecSB3VecEnv, SpacesOnlyVecEnv, ids_as_box_space, sb3_obs
from agents.online.sb3_policies import MaskedActorCriticPolicy, MaskedDQNPolicy
from offline_data.shared.config import ConfigMixin
from offline_data.shared.errors import InputError
from recgym.encoders.sb3 import RecFeaturesExtractor
from recgym.spaces import ObsSpec
from recgym.wrappers.continuous import ranked_actions
from simulators.interface import make_distinct

ALGORITHMS: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "a2c": A2C, "dqn": DQN, "sac": SAC,
                                              "td3": TD3}
CONTINUOUS = ("sac", "td3")
DEFAULTS: dict[str, dict[str, Any]] = {
    "ppo": {"n_steps": 64, "batch_size": 256, "n_epochs": 4, "ent_coef": 0.01},
    "a2c": {"n_steps": 16, "ent_coef": 0.01},
    "dqn": {"buffer_size": 50_000, "learning_starts": 1000, "train_freq": 1,
            "target_update_interval": 1000, "exploration_fraction": 0.3,
            "exploration_final_eps": 0.05, "batch_size": 64},
    "sac": {"buffer_size": 50_000, "learning_starts": 500, "batch_size": 64},
    "td3": {"buffer_size": 50_000, "learning_starts": 500, "batch_size": 64},
}
"""Per-algorithm defaults sized for recommendation envs on a CPU; `algo_kwargs` override."""
GAMMA = {"ppo": 0.9, "a2c": 0.9, "dqn": 0.5, "sac": 0.5, "td3": 0.5}


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
    """Passed to the SB3 constructor (n_steps, buffer_size, ...), over `DEFAULTS`."""
    env_kwargs: dict[str, Any] = field(default_factory=dict, hash=False)
    """Environment arguments when `fit` is given an environment id."""


class SB3Agent(Agent):
    """A stable-baselines3 algorithm on recgym environments.

    PPO, A2C and DQN act on the discrete action (an item, or candidate index); SAC and TD3
    output a ranking vector scored against the environment's item embeddings (DRR style,
    as `recgym.wrappers.ContinuousAction`). Training uses the natively batched vector
    environment through `RecSB3VecEnv`.
    """

    config_class: ClassVar[type] = SB3Config

    def __init__(self, spec: ObsSpec, config: SB3Config | None = None, algo: str = "ppo",
                 embeddings: np.ndarray | None = None) -> None:
        super().__init__(spec, config or SB3Config())
        if algo not in ALGORITHMS:
            raise InputError(f"unknown stable-baselines3 algorithm {algo!r}; use one of "
                             f"{', '.join(ALGORITHMS)}")
        self.algo = algo
        self.name = algo
        self.embeddings = None if embeddings is None else np.asarray(embeddings, np.float32)
        if algo in CONTINUOUS and self.embeddings is None:
            raise InputError(f"{algo} needs item embeddings (env.item_embeddings())")
        self.model: BaseAlgorithm | None = None
        self.vec_env: RecSB3VecEnv | None = None
        self._pending_training: dict[str, Any] | None = None

    # ------------------------------------------------------------------ model
    def _spaces(self) -> tuple[Any, Any]:
        obs_space = ids_as_box_space(self.spec.observation_space())
        if self.embeddings is not None:
            from gymnasium import spaces

            return obs_space, spaces.Box(-1.0, 1.0, (self.embeddings.shape[1],), np.float32)
        return obs_space, self.spec.action_space()

    def _build(self, vec_env: Any) -> BaseAlgorithm:
        c = self.config
        kwargs = {**DEFAULTS[self.algo], **dict(c.algo_kwargs)}
        policy_kwargs = {"features_extractor_class": RecFeaturesExtractor,
                         "features_extractor_kwargs": {"encoder": c.encoder,
                                                       "embed_dim": c.embed_dim,
                                                       "hidden_dim": c.hidden_dim},
                         "net_arch": list(c.net_arch)}
        gamma = c.gamma if c.gamma is not None else GAMMA[self.algo]
        policy: Any = "MultiInputPolicy"
        if c.exclude_seen and self.algo in ("ppo", "a2c"):
            policy = MaskedActorCriticPolicy
        elif c.exclude_seen and self.algo == "dqn":
            policy = MaskedDQNPolicy
        try:
            return ALGORITHMS[self.algo](policy, vec_env, learning_rate=c.learning_rate,
                                         gamma=gamma, seed=c.seed, policy_kwargs=policy_kwargs,
                                         device="auto", verbose=0, **kwargs)
        except TypeError as exc:
            raise InputError(f"{self.algo}: bad algo_kwargs {sorted(c.algo_kwargs)} "
                             f"({exc}); see stable-baselines3's {self.algo.upper()} "
                             "arguments") from None

    def _ensure_model(self) -> BaseAlgorithm:
        if self.model is None:
            obs_space, action_space = self._spaces()
            with warnings.catch_warnings():  # batch-size hints about the one-env stand-in
                warnings.simplefilter("ignore", UserWarning)
                self.model = self._build(SpacesOnlyVecEnv(obs_space, action_space))
        return self.model

    # ------------------------------------------------------------------ training
    def attach(self, env: Any) -> RecSB3VecEnv:
        """Connect a training environment (a `RecVectorEnv`, or an id)."""
        base = self.training_vector_env(env)
        if self.vec_env is not None and self.vec_env.vec is base:
            return self.vec_env
        if self.algo == "dqn" and base.config.slate_size != 1:
            raise InputError("dqn picks one item per step: use slate_size=1, or ppo / a2c "
                             "(slates of discrete items) or sac / td3 / drr (ranked slates)")
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
            self.model.set_env(self.vec_env, force_reset=False)
            self.model._last_obs = None  # a new environment: learning starts with a reset
        if self._pending_training is not None:
            pending, self._pending_training = self._pending_training, None
            self.load_training_state(pending, env)
        return self.vec_env

    def fit(self, env: Any, total_steps: int, callbacks: Sequence[Callback] = (),
            budget: int | None = None) -> SB3Agent:
        """Train `total_steps` more steps (rounded up to whole rollouts / train_freq).

        Off-policy schedules (DQN's exploration) follow `budget`; SB3's on-policy
        algorithms compute progress per `learn` call, so a PPO / A2C learning-rate or
        clip schedule (the defaults are constant) would restart with every call.
        """
        self.attach(env)
        model = self.model
        assert model is not None
        planned = budget if budget is not None else model.num_timesteps + total_steps
        setup = type(model)._setup_learn

        def setup_with_budget(*args: Any, **kwargs: Any) -> Any:
            out = setup(model, *args, **kwargs)
            model._total_timesteps = max(planned, model.num_timesteps + 1)
            return out

        model._setup_learn = setup_with_budget  # type: ignore[method-assign]
        try:
            model.learn(total_timesteps=total_steps, reset_num_timesteps=False)
        finally:
            del model._setup_learn
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
        model = self._ensure_model()
        out: dict[str, Any] = {"params": model.get_parameters(), "algo": self.algo}
        _, variables = model._get_torch_save_params()
        out["variables"] = {name: getattr(model, name).detach().cpu() for name in variables}
        if self.embeddings is not None:
            out["embeddings"] = self.embeddings
        return out

    def load_weights(self, weights: dict[str, Any]) -> None:
        model = self._ensure_model()
        model.set_parameters(weights["params"], exact_match=True, device=model.device)
        for name, value in weights.get("variables", {}).items():
            getattr(model, name).data.copy_(value.to(model.device))

    def training_state(self) -> dict[str, Any]:
        model = self._ensure_model()
        state: dict[str, Any] = {
            "num_steps": self.num_steps, "num_timesteps": model.num_timesteps,
            "n_updates": model._n_updates, "episode_num": model._episode_num,
            "last_obs": model._last_obs, "last_episode_starts": model._last_episode_starts,
            # SB3 samples warm-up and epsilon-greedy actions from the action space's own
            # generator
            "action_space_rng": model.action_space.np_random.bit_generator.state,
        }
        if hasattr(model, "_n_calls"):
            state["n_calls"] = model._n_calls
        if hasattr(model, "exploration_rate"):
            state["exploration_rate"] = model.exploration_rate
        buffer = getattr(model, "replay_buffer", None)
        if buffer is not None:
            state["last_original_obs"] = model._last_original_obs
            state["replay"] = _buffer_state(buffer)
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
        model = self._ensure_model()
        model.num_timesteps = int(state["num_timesteps"])
        model._n_updates = int(state["n_updates"])
        model._episode_num = int(state["episode_num"])
        model._last_obs = state["last_obs"]
        model._last_episode_starts = state["last_episode_starts"]
        model.action_space.np_random.bit_generator.state = state["action_space_rng"]
        if "n_calls" in state:
            model._n_calls = int(state["n_calls"])
        if "exploration_rate" in state:
            model.exploration_rate = float(state["exploration_rate"])
        if "replay" in state:
            model._last_original_obs = state["last_original_obs"]
            _restore_buffer(model.replay_buffer, state["replay"])


def _buffer_state(buffer: Any) -> dict[str, Any]:
    keys = ("actions", "rewards", "dones", "timeouts")
    state: dict[str, Any] = {"pos": buffer.pos, "full": buffer.full}
    size = buffer.buffer_size if buffer.full else buffer.pos
    for key in keys:
        state[key] = getattr(buffer, key)[:size].copy()
    if isinstance(buffer, DictReplayBuffer):
        state["observations"] = {k: v[:size].copy() for k, v in buffer.observations.items()}
        state["next_observations"] = {k: v[:size].copy()
                                      for k, v in buffer.next_observations.items()}
    return state


def _restore_buffer(buffer: Any, state: dict[str, Any]) -> None:
    size = len(state["rewards"])
    for key in ("actions", "rewards", "dones", "timeouts"):
        getattr(buffer, key)[:size] = state[key]
    for key in ("observations", "next_observations"):
        for name, values in state.get(key, {}).items():
            getattr(buffer, key)[name][:size] = values
    buffer.pos, buffer.full = int(state["pos"]), bool(state["full"])

