"""`Sim2RecAgent`: a context-aware PPO trained across the members of a simulator set
(Chen et al., Sim2Rec, ICDE 2023).

SB3's PPO with a features extractor that is a recgym state encoder plus Sim2Rec's
environment-parameter extractor (an LSTM over the recent trajectory, then an MLP with a
tanh output); the policy and value MLPs read both. Why plain PPO and not sb3-contrib's
`RecurrentPPO`: the trajectory the extractor needs is already in the observation (the last
`history_len` items and their feedback), so the policy stays a function of the observation,
`predict` needs no hidden state, and every recgym evaluation, plot and deployment path works
unchanged; a recurrent policy would also make the extractor's input the policy's own
hidden state rather than the user's behaviour.

Training samples a member per episode (per row of the vector environment: different rows
follow different members). A parameter head predicts the member's behaviour parameters
from the context; with `param_loss` its loss also trains the extractor, without it the
head only probes the context. The extractor has its own learning rate (`extractor_lr`,
1e-4 as in the paper).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.preprocessing import preprocess_obs

from agents.base import batch_of, unwrap_env
from agents.online import sb3_internals
from agents.online.sb3_agents import PPOAgent
from agents.online.sb3_base import SB3Config
from agents.online.sb3_env import sb3_obs
from agents.online.sb3_policies import MaskedActorCriticPolicy
from agents.settings import store_ints
from agents.sim2rec.extractor import ContextFeatures
from agents.sim2rec.param_head import ParamHead, ParamHeadTrainer, param_columns, r_squared
from offline_data.shared.errors import InputError
from offline_data.shared.numbers import as_int
from recgym.envs.vector import RecVectorEnv
from simulators.mixture import SimulatorMixture
from simulators.sim_set import PARAM_NAMES

BEHAVIOUR_PARAMS = ("click_temperature", "popularity_bias", "leave_scale", "return_scale")
"""The members' behaviour perturbations: what the parameter head predicts by default."""


@dataclass(frozen=True)
class Sim2RecConfig(SB3Config):
    """Settings of the Sim2Rec agent (defaults: the paper's code where it says)."""

    net_arch: tuple[int, ...] = (128, 128, 128, 32)
    """Policy and value MLP after the state features and the context."""
    gamma: float | None = 0.99
    context_dim: int = 64
    lstm_units: int = 64
    context_hidden: tuple[int, ...] = (64, 64)
    item_dim: int = 16
    """Item embedding width inside the extractor."""
    extractor_lr: float = 1e-4
    """Learning rate of the extractor in PPO's updates (its own optimiser group)."""
    param_names: tuple[str, ...] = BEHAVIOUR_PARAMS
    """Member parameters the head predicts (names of `simulators.sim_set.PARAM_NAMES`)."""
    param_loss: bool = True
    """The parameter head's loss also trains the extractor (False: the head only probes
    the context, which then learns from PPO's loss alone)."""
    param_epochs: int = 4
    """Passes of the parameter head over each rollout."""
    param_lr: float = 1e-3
    """Learning rate of the parameter loss's own optimiser (the head, and the extractor
    with `param_loss`)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        store_ints(self, {"context_dim": 1, "lstm_units": 1, "item_dim": 1,
                          "param_epochs": 1})
        if not isinstance(self.context_hidden, (tuple, list)):
            raise InputError(f"context_hidden must be a list of layer widths, got "
                             f"{self.context_hidden!r}")
        object.__setattr__(self, "context_hidden", tuple(
            as_int(width, "context_hidden", minimum=1) for width in self.context_hidden))
        names = self.param_names
        if (not isinstance(names, (tuple, list)) or not names or len(set(names)) != len(names)
                or any(n not in PARAM_NAMES for n in names)):
            raise InputError(f"param_names must be a list of distinct names of "
                             f"{list(PARAM_NAMES)}, got {names!r}")
        object.__setattr__(self, "param_names", tuple(names))
        for name in ("learning_rate", "extractor_lr", "param_lr"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value > 0):
                raise InputError(f"{name} must be a number > 0, got {value!r}")
        if not isinstance(self.param_loss, bool):
            raise InputError(f"param_loss must be true or false, got {self.param_loss!r}")


class ContextActorCriticPolicy(MaskedActorCriticPolicy):
    """PPO's policy with the context extractor in its own optimiser group (learning rate
    times `context_lr_scale`) and the parameter head outside PPO's optimiser; masks
    recently shown items when `exclude_seen`."""

    def __init__(self, *args: Any, context_lr_scale: float = 1.0, exclude_seen: bool = True,
                 **kwargs: Any) -> None:
        self.context_lr_scale = float(context_lr_scale)
        self.exclude_seen = bool(exclude_seen)
        super().__init__(*args, **kwargs)

    def _build(self, lr_schedule: Any) -> None:
        super()._build(lr_schedule)
        features = self.features_extractor
        assert isinstance(features, ContextFeatures)
        context = {id(p) for p in features.context_net.parameters()}
        head = {id(p) for p in features.param_head.parameters()}
        rest = [p for p in self.parameters() if id(p) not in context | head]
        optimizer_class: Any = self.optimizer_class
        self.optimizer = optimizer_class(
            [{"params": rest},
             {"params": list(features.context_net.parameters()),
              "lr_scale": self.context_lr_scale}],
            lr=lr_schedule(1), **self.optimizer_kwargs)

    def _remember(self, obs: Any) -> None:
        if self.exclude_seen:
            super()._remember(obs)
        else:
            self._mask = None


class ContextPPO(PPO):
    """PPO whose optimiser groups may carry their own learning-rate scale, and which calls
    `after_update` (if set) after each update."""

    after_update: Callable[[], None] | None = None

    def _update_learning_rate(self, optimizers: Any) -> None:
        super()._update_learning_rate(optimizers)
        sb3_internals.scale_group_rates(optimizers)

    def train(self) -> None:
        """PPO's update on the rollout, then `after_update`."""
        super().train()
        if self.after_update is not None:
            self.after_update()


class Sim2RecAgent(PPOAgent):
    """Context-aware PPO over a simulator set (`RecGym/SimSet-v0`)."""

    name: ClassVar[str] = "sim2rec"
    config_class: ClassVar[type] = Sim2RecConfig
    config: Sim2RecConfig
    algorithm: ClassVar[type[BaseAlgorithm]] = ContextPPO
    defaults: ClassVar[dict[str, Any]] = {"n_steps": 64, "batch_size": 256, "n_epochs": 4,
                                          "ent_coef": 0.02, "gae_lambda": 0.95,
                                          "clip_range": 0.2}
    masked_policy: ClassVar[type[BasePolicy] | None] = ContextActorCriticPolicy

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_optimizer: torch.optim.Optimizer | None = None
        self._head_optimizer_model: BaseAlgorithm | None = None
        self._trainer = ParamHeadTrainer(self)
        self.last_r2 = float("nan")
        """Pooled R² of the head on the latest training rollout, before its update."""
        self._columns = param_columns(self.config.param_names)

    # ------------------------------------------------------------------ model
    def policy_kwargs(self) -> dict[str, Any]:
        """The state encoder and the context extractor; the context's learning-rate
        scale and masking for the policy."""
        c = self.config
        kwargs = super().policy_kwargs()
        kwargs["features_extractor_class"] = ContextFeatures
        kwargs["features_extractor_kwargs"] = {
            **kwargs["features_extractor_kwargs"], "n_params": len(c.param_names),
            "context": {"item_dim": c.item_dim, "lstm_units": c.lstm_units,
                        "hidden": c.context_hidden, "context_dim": c.context_dim}}
        kwargs["context_lr_scale"] = c.extractor_lr / c.learning_rate
        kwargs["exclude_seen"] = c.exclude_seen
        return kwargs

    def policy_class(self) -> Any:
        """Always the context policy (it masks only with `exclude_seen`)."""
        return ContextActorCriticPolicy

    def _build(self, vec_env: Any) -> BaseAlgorithm:
        model = super()._build(vec_env)
        assert isinstance(model, ContextPPO)
        model.after_update = self._train_pending_head
        return model

    def _features(self) -> ContextFeatures:
        features = self._ensure_model().policy.features_extractor
        assert isinstance(features, ContextFeatures)
        return features

    @property
    def param_head(self) -> ParamHead:
        """The head that predicts member parameters from the context."""
        return self._features().param_head

    # ------------------------------------------------------------------ training
    def check_env(self, env: RecVectorEnv) -> None:
        """Training needs a simulator set with at least two members to sample from."""
        mixture = env.core.sim
        if not isinstance(mixture, SimulatorMixture):
            raise InputError("sim2rec trains across a simulator set: use --env "
                             "RecGym/SimSet-v0 --simulator-set DIR (from `recgym fit-sim "
                             "--set K`)")
        if len(mixture.allowed) < 2:
            raise InputError(f"sim2rec needs at least 2 training members to sample from; "
                             f"this environment has {len(mixture.allowed)} (fit a larger set "
                             "or hold out fewer members)")

    def attach(self, env: Any) -> Any:
        """Connect a SimSet training environment; a fresh parameter head is standardised
        on its training members' parameters."""
        vec = super().attach(env)
        mixture = vec.core.sim
        assert isinstance(mixture, SimulatorMixture)
        head = self.param_head
        if not bool(head.fitted):
            head.set_standardisation(mixture.params[mixture.allowed][:, self._columns])
        return vec

    def learn_callbacks(self) -> list[BaseCallback]:
        """The parameter head's trainer."""
        return [self._trainer]

    def _optimizer(self) -> torch.optim.Optimizer:
        """The parameter loss's optimiser, over the current model's head (and extractor);
        rebuilt, with its state, when the model was rebuilt around another environment."""
        model = self._ensure_model()
        if self._head_optimizer is None or self._head_optimizer_model is not model:
            features = self._features()
            params = list(features.param_head.parameters())
            if self.config.param_loss:
                params += list(features.context_net.parameters())
            optimizer = torch.optim.Adam(params, lr=self.config.param_lr)
            if self._head_optimizer is not None:
                optimizer.load_state_dict(self._head_optimizer.state_dict())
            self._head_optimizer, self._head_optimizer_model = optimizer, model
        return self._head_optimizer

    def _train_pending_head(self) -> None:
        pending, self._trainer.pending = self._trainer.pending, None
        if pending is not None:
            self.last_r2 = self.train_param_head(*pending)

    def train_param_head(self, obs: dict[str, np.ndarray], members: np.ndarray) -> float:
        """Train the head on one rollout (SB3-form observations and the member of each);
        returns the pooled R² of its predictions before this update (members weighted
        equally, against the context-free baseline; see `r_squared`)."""
        mixture = self.vec_env.core.sim if self.vec_env is not None else None
        assert isinstance(mixture, SimulatorMixture)
        features, head = self._features(), self.param_head
        inputs = self._preprocessed(obs)
        target = head.standardise(torch.as_tensor(
            mixture.params[members][:, self._columns], dtype=torch.float32,
            device=head.mean.device))
        with torch.no_grad():
            r2 = r_squared(head(features.context(inputs)).cpu().numpy(),
                           target.cpu().numpy(), reference=head.baseline(),
                           groups=members)["pooled"]
        head.observe_targets(target)
        optimizer = self._optimizer()
        steps = self._ensure_model().num_timesteps
        rng = np.random.default_rng([self.config.seed, steps, len(members)])
        for _ in range(self.config.param_epochs):
            for part in np.array_split(rng.permutation(len(members)),
                                       max(1, len(members) // 128)):
                index = torch.as_tensor(part, device=target.device)
                context = features.context({k: v[index] for k, v in inputs.items()})
                if not self.config.param_loss:
                    context = context.detach()
                loss = torch.nn.functional.mse_loss(head(context), target[index])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        optimizer.zero_grad(set_to_none=True)  # PPO clips the norm over all parameters
        return r2

    def _preprocessed(self, obs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        policy = self._ensure_model().policy
        tensors, _ = policy.obs_to_tensor(obs)
        out = preprocess_obs(tensors, policy.observation_space)
        assert isinstance(out, dict)
        return out

    # ------------------------------------------------------------------ the context
    def predict_params(self, obs: dict[str, Any]) -> np.ndarray:
        """(B, len(param_names)) member parameters the context implies, in their own
        units, for a batch of observations."""
        head = self.param_head
        if not bool(head.fitted):
            raise InputError("the parameter head has not been trained: fit the agent on a "
                             "SimSet environment first")
        inputs = self._preprocessed(sb3_obs(batch_of(obs)))
        with torch.no_grad():
            scaled = head(self._features().context(inputs))
            return (scaled * head.scale + head.mean).cpu().numpy()

    def param_r2(self, env: Any, steps: int = 200, seed: int = 0,
                 deterministic: bool = True) -> dict[str, float]:
        """How well the context identifies the member: R² of the predicted parameters in
        a SimSet vector environment (e.g. its held-out members) while this policy acts,
        over `steps` steps of every row (acting greedily unless not `deterministic`),
        states with at least one item in the history.
        R² compares the head with a head without context, which can only predict the
        training average (`r_squared` with `ParamHead.baseline`); members count equally.
        Returns the pooled R² (`r2`) and one per parameter (`r2_<name>`). The environment
        is reset: pass one that is not training this agent."""
        base = unwrap_env(env)
        if not isinstance(base, RecVectorEnv) or not isinstance(base.core.sim,
                                                                SimulatorMixture):
            raise InputError("param_r2 needs a SimSet vector environment "
                             "(recgym.make_vec('RecGym/SimSet-v0', n, simulator_set=...))")
        if self.vec_env is not None and self.vec_env.vec is base:
            raise InputError("param_r2 resets the environment it runs in: pass another one "
                             "than the agent's training environment")
        obs, info = base.reset(seed=seed)
        predicted, target, members = [], [], []
        for _ in range(int(steps)):
            filled = np.asarray(obs["history_mask"]).any(axis=1)
            if filled.any():
                rows = {k: np.asarray(v)[filled] for k, v in obs.items()}
                predicted.append(self.predict_params(rows))
                target.append(np.asarray(info["member_params"])[filled][:, self._columns])
                members.append(np.asarray(info["member"])[filled])
            obs, _, _, _, info = base.step(self.predict(obs, deterministic=deterministic))
        if not predicted:
            raise InputError("no observation with a history was seen; run more steps")
        head = self.param_head
        scale, mean = head.scale.cpu().numpy(), head.mean.cpu().numpy()
        result = r_squared((np.concatenate(predicted) - mean) / scale,
                           (np.concatenate(target) - mean) / scale,
                           reference=head.baseline(), groups=np.concatenate(members))
        out = {"r2": result["pooled"]}
        out.update({f"r2_{name}": result[str(i)]
                    for i, name in enumerate(self.config.param_names)})
        return out

    def training_metrics(self) -> dict[str, float]:
        """`param_r2_rollout`: the parameter head's pooled R² on the latest training
        rollout, before its update on it (NaN before the first rollout)."""
        return {"param_r2_rollout": float(self.last_r2)}

    # ------------------------------------------------------------------ persistence
    def training_state(self) -> dict[str, Any]:
        """PPO's training state plus the parameter head's optimiser."""
        state = super().training_state()
        state["param_optimizer"] = self._optimizer().state_dict()
        return state

    def load_training_state(self, state: dict[str, Any], env: Any = None) -> None:
        """Inverse of `training_state`."""
        super().load_training_state(state, env)
        if "param_optimizer" in state and self._pending_training is None:
            self._optimizer().load_state_dict(state["param_optimizer"])
