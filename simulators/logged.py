"""`LoggedUserSimulator`: a user simulator fitted to an interaction log."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from offline_data.schema import Signal
from offline_data.shared.errors import InputError
from offline_data.shared.units import HOUR_S
from simulators.calibration import Calibration
from simulators.gaps import GapBuckets
from simulators.interface import BatchState, Feedback, RandomSource, check_slates
from simulators.networks import (
    LOG_SIGMA_MAX,
    LOG_SIGMA_MIN,
    Encoded,
    ResponseNet,
    UserContextNet,
    leave_context,
)
from simulators.sim_config import Behaviour, SimulatorConfig


@dataclass(frozen=True)
class FittedMeta:
    """Everything besides weights that a fitted simulator needs (saved as JSON)."""

    n_users: int
    n_items: int
    signals: tuple[Signal, ...]
    primary: int
    continuous_stats: dict[str, dict[str, float]]
    """Per continuous signal: mean and std (standardisation), min and max (clipping)."""
    session_gap: int
    return_edges_s: tuple[float, ...]
    """Return-gap bucket edges in seconds (see `simulators.gaps.GapBuckets`)."""
    user_features: tuple[str, ...]
    item_features: tuple[str, ...]
    config: SimulatorConfig
    source: str = "<log>"
    fit_report: dict[str, Any] = field(default_factory=dict)
    calibration: Calibration | None = None
    """Platt maps of the binary heads and the leave hazard (None: uncalibrated)."""

    @property
    def n_signals(self) -> int:
        """Number of modelled signals."""
        return len(self.signals)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        data = dataclasses.asdict(self)
        data["signals"] = [{"name": s.name, "kind": s.kind} for s in self.signals]
        data["config"] = self.config.to_dict()
        data["calibration"] = None if self.calibration is None else self.calibration.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FittedMeta:
        """Inverse of `to_dict`."""
        data = dict(data)
        data["signals"] = tuple(Signal(s["name"], s["kind"]) for s in data["signals"])
        data["config"] = SimulatorConfig.from_dict(data["config"])
        data["return_edges_s"] = tuple(data["return_edges_s"])
        data["user_features"] = tuple(data["user_features"])
        data["item_features"] = tuple(data["item_features"])
        calibration = data.get("calibration")
        data["calibration"] = None if calibration is None else Calibration.from_dict(calibration)
        return cls(**data)


@dataclass(frozen=True)
class LoggedState(BatchState):
    """State of a batch of users in a fitted simulator."""

    user_ids: np.ndarray
    """(B,) int64 user ids of the log's id space."""
    hist_items: np.ndarray
    """(B, L) last items shown, most recent first, -1 where empty."""
    hist_feedback: np.ndarray
    """(B, L, S) feedback to those items."""
    hist_hours: np.ndarray
    """(B, L) hours since each history item was shown (0 within the current session: the
    simulator does not know step durations; gaps between sessions add up)."""
    session_steps: np.ndarray
    """(B,) steps taken in the current session."""
    session_index: np.ndarray
    """(B,) sessions before the current one."""
    session_sums: np.ndarray
    """(B, S) summed per-step feedback of the current session (best item of each slate)."""
    profile_sum: np.ndarray
    """(B, F) summed item features of everything consumed so far (primary signal 1)."""
    profile_count: np.ndarray
    """(B,) number of items consumed so far."""
    hours_since: np.ndarray
    """(B,) hours since the previous interaction: the return gap at a session's first
    step, 0 within a session."""


@dataclass
class SimulatorTensors:
    """Non-network arrays of a fitted simulator."""

    known_user: np.ndarray
    """(n_users,) bool: the user had training rows (others use the unknown-user path)."""
    known_item: np.ndarray
    """(n_items,) bool."""
    item_popularity: np.ndarray
    """(n_items,) standardised log1p exposure count in the training log."""
    start_items: np.ndarray
    """(n_users, L) each user's last logged items (the default starting history)."""
    start_feedback: np.ndarray
    """(n_users, L, S)."""
    start_profile_sum: np.ndarray
    """(n_users, F) summed features of each user's consumed items in the log."""
    start_profile_count: np.ndarray
    """(n_users,)."""
    start_session_index: np.ndarray
    """(n_users,) sessions each user had in the log (the next one has this index)."""
    start_hours_since: np.ndarray
    """(n_users,) hours from each user's last logged interaction to the end of the log."""
    start_hist_hours: np.ndarray
    """(n_users, L) age in hours of each start-history item at the end of the log."""


class LoggedUserSimulator:
    """Users simulated by models fitted to a log (build with `simulators.fit`).

    Response: a multi-task network (shared bottom or MMoE, one head per signal, the other
    heads conditioned on the primary signal). Leaving: a hazard per step given the user,
    the step's feedback and the session so far. Returning: a distribution over return-gap
    buckets given the finished session (censored gaps handled in fitting). All sampling
    uses the numpy random source passed in, so a seed fixes every draw. `behaviour` applies
    Sim2Rec perturbations (click temperature, popularity bias, leave and return scales).
    """

    def __init__(
        self,
        meta: FittedMeta,
        response: ResponseNet,
        leave: UserContextNet,
        returns: UserContextNet,
        tensors: SimulatorTensors,
        behaviour: Behaviour | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        self.meta = meta
        self.device = torch.device(device)
        self.response = response.to(self.device).eval()
        self.leave = leave.to(self.device).eval()
        self.returns = returns.to(self.device).eval()
        self.tensors = tensors
        self.behaviour = behaviour or meta.config.behaviour
        self.n_items = meta.n_items
        self.n_users = meta.n_users
        self.signals: list[Signal] = list(meta.signals)
        self.history_len = meta.config.history_len
        self._binary = np.array([s.is_binary for s in meta.signals])
        stats = [meta.continuous_stats.get(s.name, {}) for s in meta.signals]
        self._mean = np.array([st.get("mean", 0.0) for st in stats], np.float32)
        self._std = np.array([st.get("std", 1.0) for st in stats], np.float32)
        self._min = np.array([st.get("min", 0.0) for st in stats], np.float32)
        self._max = np.array([st.get("max", 1.0) for st in stats], np.float32)
        self._item_x = response.item_x[:-2].cpu().numpy()
        self._user_x = response.user_x[:-1].cpu().numpy()
        self.gap_buckets = GapBuckets(np.asarray(meta.return_edges_s))
        calibration = meta.calibration or Calibration.identity(meta.n_signals)
        scale, shift = calibration.arrays()
        self._calibrate = meta.calibration is not None
        self._cal_scale = torch.from_numpy(scale).to(self.device)
        self._cal_shift = torch.from_numpy(shift).to(self.device)
        self._leave_map = calibration.leave

    # ------------------------------------------------------------------ info
    @property
    def signal_names(self) -> list[str]:
        """Names of the simulated signals."""
        return [s.name for s in self.signals]

    def user_features(self, user_ids: np.ndarray) -> np.ndarray:
        """Encoded user features (zeros where the log had none)."""
        return self._user_x[np.asarray(user_ids, dtype=np.int64)]

    def item_embeddings(self) -> np.ndarray:
        """(n_items, embed_dim) the response model's learnt item embeddings."""
        return self.response.item_emb.weight[: self.n_items].detach().cpu().numpy().copy()

    def signal_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lowest and highest value of each signal (binary: 0 and 1)."""
        low = np.where(self._binary, 0.0, self._min).astype(np.float32)
        high = np.where(self._binary, 1.0, self._max).astype(np.float32)
        return low, high

    @property
    def item_features(self) -> np.ndarray:
        """(n_items, F) encoded item features the simulator was fitted with."""
        return self._item_x

    @property
    def primary_signal(self) -> str:
        """The binary signal the others are conditioned on (usually the click)."""
        return self.signals[self.meta.primary].name

    def with_behaviour(self, behaviour: Behaviour) -> LoggedUserSimulator:
        """The same fitted models under other behaviour perturbations (weights shared)."""
        return LoggedUserSimulator(self.meta, self.response, self.leave, self.returns,
                                   self.tensors, behaviour, self.device)

    def with_calibration(self, calibration: Calibration | None) -> LoggedUserSimulator:
        """The same fitted models with other Platt maps (None: the raw networks, as before
        calibration); weights and behaviour shared."""
        meta = dataclasses.replace(self.meta, calibration=calibration)
        return LoggedUserSimulator(meta, self.response, self.leave, self.returns,
                                   self.tensors, self.behaviour, self.device)

    def __repr__(self) -> str:
        return (f"LoggedUserSimulator(users={self.n_users}, items={self.n_items}, "
                f"signals={self.signal_names}, arch={self.meta.config.arch!r}, "
                f"source={self.meta.source!r})")

    # ------------------------------------------------------------------ states
    def start(
        self, user_ids: np.ndarray, rng: RandomSource | None = None, history: str = "log"
    ) -> LoggedState:
        """State at the start of a session; `history` 'log' continues each user from the
        log (last items, consumption profile, session count, time since the last visit),
        'empty' starts a user with no past."""
        ids = self._check_users(user_ids)
        if history not in ("log", "empty"):
            raise InputError(f"history must be 'log' or 'empty', got {history!r}")
        b, n_sig = len(ids), self.meta.n_signals
        t = self.tensors
        if history == "log":
            return self.state_from_history(
                ids, t.start_items[ids], t.start_feedback[ids],
                session_index=t.start_session_index[ids],
                profile_sum=t.start_profile_sum[ids], profile_count=t.start_profile_count[ids],
                hours_since=t.start_hours_since[ids], hist_hours=t.start_hist_hours[ids])
        items = np.full((b, self.history_len), -1, dtype=np.int64)
        feedback = np.zeros((b, self.history_len, n_sig), np.float32)
        return self.state_from_history(ids, items, feedback)

    def state_from_history(
        self, user_ids: np.ndarray, hist_items: np.ndarray, hist_feedback: np.ndarray,
        session_index: np.ndarray | None = None, session_steps: np.ndarray | None = None,
        profile_sum: np.ndarray | None = None, profile_count: np.ndarray | None = None,
        hours_since: np.ndarray | None = None, hist_hours: np.ndarray | None = None,
    ) -> LoggedState:
        """State of users with the given recent history (and, optionally, step in the
        session and long-term consumption profile)."""
        ids = self._check_users(user_ids)
        b = len(ids)
        zeros = np.zeros(b, dtype=np.int64)
        return LoggedState(
            user_ids=ids,
            hist_items=np.asarray(hist_items, dtype=np.int64),
            hist_feedback=np.asarray(hist_feedback, dtype=np.float32),
            hist_hours=np.zeros(np.shape(hist_items), np.float32) if hist_hours is None
            else np.asarray(hist_hours, np.float32),
            session_steps=zeros if session_steps is None else np.asarray(session_steps, np.int64),
            session_index=zeros if session_index is None else np.asarray(session_index, np.int64),
            session_sums=np.zeros((b, self.meta.n_signals), np.float32),
            profile_sum=np.zeros((b, self._item_x.shape[1]), np.float32) if profile_sum is None
            else np.asarray(profile_sum, np.float32),
            profile_count=np.zeros(b) if profile_count is None
            else np.asarray(profile_count, np.float64),
            hours_since=np.zeros(b) if hours_since is None else np.asarray(hours_since, np.float64),
        )

    def step_state(self, state: LoggedState, slates: np.ndarray, feedback: Feedback) -> LoggedState:
        """Push the shown items (slate order) and their feedback onto the history."""
        slates = self._check_slates(state, slates)
        k, length = slates.shape[1], self.history_len
        fb = self._stack(feedback)  # (B, k, S)
        new_items = slates[:, ::-1]
        new_feedback = fb[:, ::-1]
        items = np.concatenate([new_items, state.hist_items], axis=1)[:, :length]
        hist_fb = np.concatenate([new_feedback, state.hist_feedback], axis=1)[:, :length]
        hist_hours = np.concatenate([np.zeros(slates.shape, np.float32), state.hist_hours],
                                    axis=1)[:, :length]
        if k > length:
            items, hist_fb = items[:, :length], hist_fb[:, :length]
        consumed = fb[:, :, self.meta.primary]
        return dataclasses.replace(
            state, hist_items=items, hist_feedback=hist_fb, hist_hours=hist_hours,
            session_steps=state.session_steps + 1,
            session_sums=state.session_sums + fb.max(axis=1),
            profile_sum=state.profile_sum + np.einsum("bk,bkf->bf", consumed, self._item_x[slates]),
            profile_count=state.profile_count + consumed.sum(axis=1),
            hours_since=np.zeros(len(state)),
        )

    def next_session(self, state: LoggedState, gap_s: np.ndarray) -> LoggedState:
        """Start the user's next session (history kept, session counters reset)."""
        return dataclasses.replace(
            state,
            session_steps=np.zeros(len(state), dtype=np.int64),
            session_index=state.session_index + 1,
            session_sums=np.zeros_like(state.session_sums),
            hours_since=np.asarray(gap_s, dtype=np.float64) / HOUR_S,
            hist_hours=state.hist_hours + (np.asarray(gap_s, np.float32) / HOUR_S)[:, None],
        )

    # ------------------------------------------------------------------ response
    @torch.inference_mode()
    def predict(self, state: LoggedState, items: np.ndarray) -> dict[str, np.ndarray]:
        """Marginal predictions for each user and item: the probability of each binary
        signal and the mean of each continuous one, shape (B, k) for (B, k) item ids."""
        items = self._check_slates(state, items)
        reps, logit = self._forward(state, items)
        p1 = torch.sigmoid(logit)
        out0 = self._conditional(reps, torch.zeros_like(p1))
        out1 = self._conditional(reps, torch.ones_like(p1))
        result: dict[str, np.ndarray] = {}
        shape = items.shape
        for s, signal in enumerate(self.signals):
            given0, given1 = out0[s], out1[s]
            if given0 is None or given1 is None:  # the primary signal
                value = p1
            elif signal.is_binary:
                value = p1 * torch.sigmoid(given1[:, 0]) + (1 - p1) * torch.sigmoid(given0[:, 0])
            else:
                value = (p1 * self._clipped_mean(given1, s)
                         + (1 - p1) * self._clipped_mean(given0, s))
            result[signal.name] = value.cpu().numpy().reshape(shape)
        return result

    @torch.inference_mode()
    def respond(self, state: LoggedState, slates: np.ndarray, rng: RandomSource) -> Feedback:
        """Sample every signal for every slate position, shape (B, k), float32."""
        slates = self._check_slates(state, slates)
        shape = slates.shape
        reps, logit = self._forward(state, slates)
        p1 = torch.sigmoid(logit).cpu().numpy()
        # every draw is shaped (batch, ...) so row-wise random streams stay per user
        primary = (rng.random(shape).ravel() < p1).astype(np.float32)
        outs = self._conditional(reps, torch.from_numpy(primary).to(self.device))
        feedback: Feedback = {}
        for s, signal in enumerate(self.signals):
            given = outs[s]
            if given is None:  # the primary signal
                values = primary
            elif signal.is_binary:
                prob = torch.sigmoid(given[:, 0]).cpu().numpy()
                values = (rng.random(shape).ravel() < prob).astype(np.float32)
            else:
                out = given.cpu().numpy()
                sigma = np.exp(np.clip(out[:, 1], LOG_SIGMA_MIN, LOG_SIGMA_MAX))
                z = out[:, 0] + sigma * rng.standard_normal(shape).ravel()
                values = np.clip(z * self._std[s] + self._mean[s], self._min[s], self._max[s])
            feedback[signal.name] = values.astype(np.float32).reshape(shape)
        return feedback

    def _clipped_mean(self, out: torch.Tensor, s: int) -> torch.Tensor:
        """Mean of the sampled value: a Gaussian clipped to the signal's observed range."""
        sigma_z = torch.exp(out[:, 1].clamp(LOG_SIGMA_MIN, LOG_SIGMA_MAX))
        mu = out[:, 0] * float(self._std[s]) + float(self._mean[s])
        sigma = sigma_z * float(self._std[s])
        lo, hi = float(self._min[s]), float(self._max[s])
        normal = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
        a, b = (lo - mu) / sigma, (hi - mu) / sigma
        cdf_a, cdf_b = normal.cdf(a), normal.cdf(b)
        pdf_a, pdf_b = torch.exp(normal.log_prob(a)), torch.exp(normal.log_prob(b))
        return lo * cdf_a + hi * (1 - cdf_b) + mu * (cdf_b - cdf_a) + sigma * (pdf_a - pdf_b)

    def _conditional(self, rows: Encoded, primary_value: torch.Tensor
                     ) -> list[torch.Tensor | None]:
        """The response model's other heads given the primary signal's value (0 or 1), with
        the binary heads' logits calibrated (see `simulators.calibration`)."""
        outs = self.response.conditional(rows, primary_value)
        if not self._calibrate:
            return outs
        taken = primary_value > 0.5
        for s, out in enumerate(outs):
            if out is not None and self._binary[s]:
                scale = torch.where(taken, self._cal_scale[s, 1], self._cal_scale[s, 0])
                shift = torch.where(taken, self._cal_shift[s, 1], self._cal_shift[s, 0])
                outs[s] = (out[:, 0] * scale + shift)[:, None]
        return outs

    def _forward(self, state: LoggedState, slates: np.ndarray) -> tuple[Encoded, torch.Tensor]:
        k = slates.shape[1]
        user = np.repeat(self._user_index(state.user_ids), k)
        item = self._item_index(slates.ravel())
        hist = np.repeat(self._history_index(state.hist_items), k, axis=0)
        hist_fb = np.repeat(state.hist_feedback, k, axis=0)
        hist_hours = np.repeat(state.hist_hours, k, axis=0)
        context = np.column_stack([np.log1p(state.session_steps), np.log1p(state.session_index),
                                   np.log1p(state.profile_count),
                                   np.log1p(state.hours_since)]).astype(np.float32)
        profile = state.profile_sum / np.maximum(state.profile_count, 1.0)[:, None]
        context, profile = np.repeat(context, k, axis=0), np.repeat(profile, k, axis=0)
        net = self.response
        seen = np.where(item == self.n_items, -1, item)  # an unknown item matches nothing
        reps = net.encode(*(self._tensor(a) for a in (user, item, hist, hist_fb, context,
                                                      profile.astype(np.float32), hist_hours,
                                                      seen)))
        logit = net.primary_logit(reps)
        if self._calibrate:
            p = self.meta.primary
            logit = logit * self._cal_scale[p, 0] + self._cal_shift[p, 0]
        bh = self.behaviour
        if bh.click_temperature != 1.0:
            logit = logit / bh.click_temperature
        if bh.popularity_bias != 0.0:
            pop = self.tensors.item_popularity[slates.ravel()].astype(np.float32)
            logit = logit + bh.popularity_bias * self._tensor(pop)
        return reps, logit

    # ------------------------------------------------------------------ leaving and returning
    @torch.inference_mode()
    def leave_prob(self, state: LoggedState, feedback: Feedback) -> np.ndarray:
        """Probability of ending the session after this step (state after the step)."""
        step = self._stack(feedback).max(axis=1)
        steps = np.maximum(state.session_steps, 1)
        context = np.column_stack([
            *leave_context(state.session_steps, state.session_index), step,
            state.session_sums / steps[:, None],
        ]).astype(np.float32)
        logit = self.leave(self._tensor(self._user_index(state.user_ids)),
                           self._tensor(context))[:, 0].cpu().numpy().astype(np.float64)
        scale, shift = self._leave_map
        logit = scale * logit + shift + np.log(self.behaviour.leave_scale)
        return 1.0 / (1.0 + np.exp(-logit))

    @torch.inference_mode()
    def return_distribution(self, state: LoggedState) -> np.ndarray:
        """Probability of each return-gap bucket after the current session, (B, buckets)."""
        steps = np.maximum(state.session_steps, 1)
        context = np.column_stack([
            np.log1p(state.session_steps), np.log1p(state.session_index),
            state.session_sums / steps[:, None],
        ]).astype(np.float32)
        logits = self.returns(self._tensor(self._user_index(state.user_ids)),
                              self._tensor(context))
        return torch.softmax(logits, dim=1).cpu().numpy().astype(np.float64)

    def return_gap(self, state: LoggedState, rng: RandomSource) -> np.ndarray:
        """Sampled seconds until the next session: a bucket, then a gap inside it."""
        probs = self.return_distribution(state)
        u = rng.random((len(state), 2))
        return self.gap_buckets.sample(probs, u[:, 0], u[:, 1]) * self.behaviour.return_scale

    def return_gap_mean(self, state: LoggedState) -> np.ndarray:
        """Expected seconds until the next session (exact for the bucketed distribution)."""
        return (self.return_distribution(state) @ self.gap_buckets.means()
                * self.behaviour.return_scale)

    # ------------------------------------------------------------------ persistence
    def save(self, directory: Any, *, overwrite: bool = False) -> Any:
        """Write to a folder: `simulator.json` and `weights.pt` (atomic)."""
        from simulators.persistence import save_simulator

        return save_simulator(self, directory, overwrite=overwrite)

    @classmethod
    def load(cls, directory: Any, device: str = "auto") -> LoggedUserSimulator:
        """Read a folder written by `save` (weights only; no code is unpickled)."""
        from simulators.persistence import load_simulator

        return load_simulator(directory, device=device)

    # ------------------------------------------------------------------ helpers
    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array)).to(self.device)

    def _user_index(self, users: np.ndarray) -> np.ndarray:
        return np.where(self.tensors.known_user[users], users, self.n_users)

    def _item_index(self, items: np.ndarray) -> np.ndarray:
        return np.where(self.tensors.known_item[items], items, self.n_items)

    def _history_index(self, hist_items: np.ndarray) -> np.ndarray:
        safe = np.maximum(hist_items, 0)
        return np.where(hist_items < 0, self.n_items + 1, self._item_index(safe))

    def _stack(self, feedback: Feedback) -> np.ndarray:
        missing = [n for n in self.signal_names if n not in feedback]
        if missing:
            raise InputError(f"feedback lacks signal(s) {missing}; expected {self.signal_names}")
        return np.stack([np.asarray(feedback[n], np.float32) for n in self.signal_names], axis=-1)

    def _check_users(self, user_ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(user_ids, dtype=np.int64)
        if ids.ndim != 1 or (len(ids) and (ids.min() < 0 or ids.max() >= self.n_users)):
            raise InputError(
                f"user_ids must be a 1-d array of ids in 0..{self.n_users - 1}, got shape "
                f"{ids.shape}"
            )
        return ids

    def _check_slates(self, state: LoggedState, slates: np.ndarray) -> np.ndarray:
        return check_slates(slates, len(state), self.n_items)
