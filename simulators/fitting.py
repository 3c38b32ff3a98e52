"""`fit`: train a `LoggedUserSimulator` (response, leave and return models) on a log."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from offline_data.log import InteractionLog
from offline_data.partitioned import PartitionedLog
from offline_data.schema import ITEM, SESSION, TIMESTAMP, USER, Signal
from offline_data.shared.errors import InputError
from offline_data.shared.units import HOUR_S
from simulators.calibration import (
    Calibration,
    ResponseMaps,
    calibrate_heads,
    expected_calibration_error,
    fit_platt,
    sigmoid,
)
from simulators.features import (
    Steps,
    category_columns,
    consumption_profile,
    encode_table,
    history_index,
    last_history,
    session_index_per_row,
    session_position,
)
from simulators.gaps import GapBuckets
from simulators.logged import FittedMeta, LoggedUserSimulator, SimulatorTensors
from simulators.networks import (
    LEAVE_CONTEXT,
    LOG_SIGMA_MAX,
    LOG_SIGMA_MIN,
    ResponseNet,
    UserContextNet,
    leave_context,
)
from simulators.sim_config import SimulatorConfig
from simulators.training import fit_rows, pick_device


def resolve_signals(log: InteractionLog, config: SimulatorConfig) -> tuple[list[Signal], int]:
    """The signals to model and the index of the primary (binary) one; clear errors when
    a requested signal is absent or no binary signal exists."""
    names = list(config.signals) if config.signals is not None else log.signal_names
    unknown = [n for n in names if n not in log.signal_names]
    if unknown:
        raise InputError(
            f"{log.source}: the log has no signal(s) {unknown}; it has {log.signal_names}"
        )
    if not names:
        raise InputError("SimulatorConfig.signals is empty; name at least one binary signal")
    signals = [log.signal(n) for n in names]
    if config.primary_signal is not None:
        if config.primary_signal not in names:
            raise InputError(
                f"primary_signal {config.primary_signal!r} is not among the modelled signals "
                f"{names}"
            )
        primary = names.index(config.primary_signal)
        if not signals[primary].is_binary:
            raise InputError(f"primary_signal {config.primary_signal!r} must be binary")
        return signals, primary
    binary = [i for i, s in enumerate(signals) if s.is_binary]
    if not binary:
        raise InputError(
            f"{log.source}: a simulator needs a binary signal (e.g. a click, or liked = rating "
            f">= 4) to condition the others on; the modelled signals {names} are all continuous"
        )
    return signals, binary[0]


@dataclass(frozen=True)
class RowInputs:
    """Per-row model inputs and targets of a log (see `row_inputs`); N rows, L = history
    length, S = modelled signals, F = encoded item features."""

    steps: Steps
    """The rows grouped into steps (slates)."""
    user: np.ndarray
    """(N,) int64 user ids."""
    item: np.ndarray
    """(N,) int64 item ids."""
    timestamp: np.ndarray
    """(N,) int64 Unix seconds."""
    targets: np.ndarray
    """(N, S) float32 logged value of each modelled signal."""
    hist_items: np.ndarray
    """(N, L) items of the steps before the row's step, most recent first, -1 where none."""
    hist_feedback: np.ndarray
    """(N, L, S) float32 their feedback (0 where none)."""
    hist_hours: np.ndarray
    """(N, L) float32 hours from each history item to the row (0 where none)."""
    position: np.ndarray
    """(N,) int64 steps before the row's step in its session."""
    session_index: np.ndarray
    """(N,) int64 sessions of the user before the row's session."""
    hours_since: np.ndarray
    """(N,) float64 hours from the previous step of the user to the row's step (0 for the
    user's first step)."""
    profile_sum: np.ndarray
    """(N, F) summed item features of the user's earlier consumed rows."""
    profile_count: np.ndarray
    """(N,) number of those rows."""

    def __len__(self) -> int:
        return len(self.user)


def row_inputs(
    log: InteractionLog, names: list[str], history_len: int, item_x: np.ndarray,
    primary: int,
) -> RowInputs:
    """Per-row model inputs of a log and targets, built per step (the rows of one user with
    one timestamp, a slate; see `features.Steps`): the recent history before the step, the
    step's position in its session, the session index, hours since the previous step, and
    the long-term consumption profile (summed `item_x` of earlier rows whose signal
    `names[primary]` is 1)."""
    frame = log.interactions
    user = frame[USER].to_numpy()
    item = frame[ITEM].to_numpy()
    timestamp = frame[TIMESTAMP].to_numpy()
    targets = frame[names].to_numpy(dtype=np.float32)
    steps = Steps.of(user, timestamp)
    hist = history_index(user, history_len, steps.first)
    ok = hist >= 0
    safe = np.maximum(hist, 0)
    session = frame[SESSION].to_numpy()
    position = session_position(session[steps.starts])[steps.step]
    profile_sum, profile_count = consumption_profile(user, item, targets[:, primary], item_x,
                                                     steps.first)
    start = steps.starts
    previous = np.maximum(start - 1, 0)
    same_user = (start > 0) & (user[previous] == user[start])
    hours_step = np.where(same_user, (timestamp[start] - timestamp[previous]) / HOUR_S, 0.0)
    return RowInputs(
        steps=steps,
        user=user,
        item=item,
        timestamp=timestamp,
        targets=targets,
        hist_items=np.where(ok, item[safe], -1),
        hist_feedback=np.where(ok[..., None], targets[safe], 0.0).astype(np.float32),
        hist_hours=np.where(ok, (timestamp[:, None] - timestamp[safe]) / HOUR_S,
                            0.0).astype(np.float32),
        position=position,
        session_index=session_index_per_row(log),
        hours_since=hours_step[steps.step],
        profile_sum=profile_sum,
        profile_count=profile_count,
    )


def return_edges(session_gap: int, edges_h: tuple[float, ...]) -> np.ndarray:
    """Bucket edges in seconds: the session gap and the configured edges above it (the
    last bucket, beyond the last edge, is open; see `simulators.gaps`)."""
    inner = [h * HOUR_S for h in edges_h if h * HOUR_S > session_gap]
    if not inner:
        raise InputError(f"return_edges_h has no edge above the session gap ({session_gap} s)")
    return np.array([float(session_gap), *inner])


def start_state(log: InteractionLog, rows: RowInputs, names: list[str], item_x: np.ndarray,
                primary: int, history_len: int) -> dict[str, np.ndarray]:
    """Where each user of the log stands at its end (the simulator's default start):
    the `start_*` fields of `SimulatorTensors`, one entry per user of the id space
    (users absent from `log` get -1 items and zeros)."""
    start_items, start_feedback, start_hist_hours = last_history(log, history_len)
    start_feedback = start_feedback[..., [log.signal_names.index(m) for m in names]]
    consumed = rows.targets[:, primary].astype(np.float64)
    start_profile_sum = np.zeros((log.n_users, item_x.shape[1]), np.float32)
    np.add.at(start_profile_sum, rows.user, item_x[rows.item] * consumed[:, None])
    start_profile_count = np.bincount(rows.user, consumed, minlength=log.n_users)
    last = log.sessions.groupby(USER).agg(sessions=("session_id", "size"), end=("end", "max"))
    start_session_index = np.zeros(log.n_users, dtype=np.int64)
    start_session_index[last.index.to_numpy()] = last["sessions"].to_numpy()
    start_hours = np.zeros(log.n_users)
    start_hours[last.index.to_numpy()] = np.maximum(
        log.end_time - last["end"].to_numpy(), log.session_gap) / HOUR_S
    return {"start_items": start_items, "start_feedback": start_feedback,
            "start_profile_sum": start_profile_sum, "start_profile_count": start_profile_count,
            "start_session_index": start_session_index, "start_hours_since": start_hours,
            "start_hist_hours": start_hist_hours}


def fit(
    log: InteractionLog | PartitionedLog,
    config: SimulatorConfig | None = None,
    *,
    user_weights: np.ndarray | None = None,
) -> LoggedUserSimulator:
    """Fit a simulator to `log`: the response, leave and return models.

    A `PartitionedLog` (a log larger than memory, `recgym data convert`) is fitted one
    partition at a time (`simulators.streamed_fit.fit_partitioned`).

    The last `config.val_fraction` of the log's time window is held out for early
    stopping. `user_weights` (one non-negative integer per user) repeats each user's data
    that many times (bootstrap resampling for simulator sets).
    """
    if isinstance(log, PartitionedLog):
        from simulators.streamed_fit import fit_partitioned

        if user_weights is not None:
            raise InputError(f"{log.source}: user_weights (bootstrap resampling) need a log in "
                             "memory; load it with PartitionedLog.to_log() first")
        return fit_partitioned(log, config)
    config = config or SimulatorConfig()
    signals, primary = resolve_signals(log, config)
    names = [s.name for s in signals]
    if log.n_interactions < 10:
        raise InputError(f"{log.source}: {log.n_interactions} interactions are too few to fit")
    started = time.perf_counter()
    device = pick_device(config.device)
    torch.manual_seed(config.seed)

    user_x, user_names = encode_table(log.users if config.use_features else None, log.n_users)
    item_x, item_names = encode_table(log.items if config.use_features else None, log.n_items)
    rows = row_inputs(log, names, config.history_len, item_x, primary)
    n = log.n_interactions
    cutoff = log.end_time - config.val_fraction * (log.end_time - log.start_time)
    train_rows, val_idx = validation_split(np.ones(n, dtype=bool), rows.timestamp >= cutoff,
                                           config.val_fraction, config.seed)
    is_val = np.zeros(n, dtype=bool)
    is_val[val_idx] = True
    train_idx = _weighted(train_rows, rows.user, user_weights)

    stats: dict[str, dict[str, float]] = {}
    for s, signal in enumerate(signals):
        if not signal.is_binary:
            y = rows.targets[~is_val, s]
            stats[signal.name] = {"mean": float(y.mean()), "std": float(max(y.std(), 1e-3)),
                                  "min": float(rows.targets[:, s].min()),
                                  "max": float(rows.targets[:, s].max())}
    # users and items the response model is trained on (bootstrap weights included);
    # the others take the unknown-id path
    train_users = np.bincount(rows.user[train_idx], minlength=log.n_users) > 0
    train_items = np.bincount(rows.item[train_idx], minlength=log.n_items) > 0
    exposure = np.log1p(np.bincount(rows.item, minlength=log.n_items).astype(np.float64))
    popularity = (exposure - exposure.mean()) / max(exposure.std(), 1e-6)
    edges = return_edges(log.session_gap, config.return_edges_h)
    start = start_state(log, rows, names, item_x, primary, config.history_len)
    meta = FittedMeta(
        n_users=log.n_users, n_items=log.n_items, signals=tuple(signals), primary=primary,
        continuous_stats=stats, session_gap=log.session_gap,
        return_edges_s=tuple(float(e) for e in edges), user_features=tuple(user_names),
        item_features=tuple(item_names), config=config, source=log.source,
    )
    tensors = SimulatorTensors(known_user=train_users, known_item=train_items,
                               item_popularity=popularity.astype(np.float32), **start)
    ux, ix = torch.from_numpy(user_x), torch.from_numpy(item_x)
    response = ResponseNet(log.n_users, log.n_items, ux, ix, [s.is_binary for s in signals],
                           primary, config, category_columns(item_names)).to(device)
    report: dict[str, Any] = {"rows": n, "train_rows": len(train_idx), "val_rows": len(val_idx)}
    report["response"], response_maps = _fit_response(response, rows, meta, tensors, train_idx,
                                                      val_idx, config, device)
    leave = UserContextNet(log.n_users, ux, LEAVE_CONTEXT + 2 * len(signals), 1).to(device)
    report["leave"], leave_map = _fit_leave(leave, log, rows, tensors, is_val, user_weights,
                                            config, device)
    returns = UserContextNet(log.n_users, ux, 2 + len(signals), len(edges)).to(device)
    report["return"] = _fit_return(returns, log, rows, tensors, edges, cutoff, user_weights,
                                   config, device)
    report["seconds"] = round(time.perf_counter() - started, 2)
    calibration = Calibration(response_maps, leave_map)
    meta = dataclasses.replace(meta, fit_report=report,
                               calibration=None if calibration.is_identity else calibration)
    return LoggedUserSimulator(meta, response, leave, returns, tensors, device=device)


def drop_ids(ids: torch.Tensor, unknown: int, p: float, generator: torch.Generator
             ) -> torch.Tensor:
    """Replace a random share `p` of ids by the unknown id (id dropout: it trains the
    unknown path and keeps per-id embeddings from overfitting)."""
    if p <= 0:
        return ids
    drop = torch.rand(len(ids), generator=generator, device=ids.device) < p
    return torch.where(drop, torch.full_like(ids, unknown), ids)


def validation_split(usable: np.ndarray, late: np.ndarray, fraction: float, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Indices of usable entries for training and for validation: the late ones validate
    when that leaves both parts non-empty, else a seeded random `fraction` (at least one)."""
    candidates = np.flatnonzero(usable)
    if len(candidates) < 2:
        raise InputError(f"{len(candidates)} usable rows are too few to train and validate")
    is_late = late[candidates]
    if 0 < is_late.sum() < len(candidates):
        return candidates[~is_late], candidates[is_late]
    rng = np.random.default_rng(seed)
    n_val = min(max(1, round(fraction * len(candidates))), len(candidates) - 1)
    chosen = np.zeros(len(candidates), dtype=bool)
    chosen[rng.choice(len(candidates), n_val, replace=False)] = True
    return candidates[~chosen], candidates[chosen]


def _weighted(idx: np.ndarray, user: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """`idx` with each row repeated its user's weight times (all once without weights)."""
    if weights is None:
        return idx
    return np.repeat(idx, np.asarray(weights, dtype=np.int64)[user[idx]])


Tensors = dict[str, torch.Tensor]
"""Model inputs and targets of some rows, indexed by row (a batch indexes them)."""
BatchLoss = Callable[[Tensors, torch.Tensor], torch.Tensor]
"""Mean loss of a batch of rows of the given tensors."""


def response_inputs(rows: RowInputs, meta: FittedMeta, tensors: SimulatorTensors,
                    device: torch.device) -> Tensors:
    """The response model's inputs and (standardised) targets for `rows`: unknown ids
    mapped to the unknown id, history padding to its own id, session context."""
    n_items = meta.n_items
    targets = rows.targets.copy()
    for s, signal in enumerate(meta.signals):
        if not signal.is_binary:
            st = meta.continuous_stats[signal.name]
            targets[:, s] = (targets[:, s] - st["mean"]) / st["std"]
    user = np.where(tensors.known_user[rows.user], rows.user, meta.n_users)
    item = np.where(tensors.known_item[rows.item], rows.item, n_items)
    hist = rows.hist_items
    hist = np.where(hist < 0, n_items + 1,
                    np.where(tensors.known_item[np.maximum(hist, 0)], hist, n_items))
    context = np.column_stack([np.log1p(rows.position), np.log1p(rows.session_index),
                               np.log1p(rows.profile_count), np.log1p(rows.hours_since)])
    profile = rows.profile_sum / np.maximum(rows.profile_count, 1.0)[:, None]
    return {k: torch.from_numpy(np.ascontiguousarray(v)).to(device) for k, v in {
        "user": user, "item": item, "hist": hist, "fb": rows.hist_feedback,
        "age": rows.hist_hours,
        "ctx": context.astype(np.float32), "profile": profile.astype(np.float32),
        "y": targets}.items()}


def response_losses(net: ResponseNet, meta: FittedMeta, config: SimulatorConfig,
                    device: torch.device) -> tuple[BatchLoss, BatchLoss]:
    """(training loss, validation loss) of the response model over a batch of rows of
    `response_inputs`; ids are dropped out (seeded) while training."""
    n_users, n_items = meta.n_users, meta.n_items
    binary = [s.is_binary for s in meta.signals]
    p = meta.primary
    dropout_gen = torch.Generator(device=device).manual_seed(config.seed + 1)

    def losses_of(t: Tensors, batch: torch.Tensor, gaussian: bool) -> torch.Tensor:
        """Mean loss over the signals: Bernoulli log-loss for binary ones; for continuous
        ones the Gaussian likelihood when training, the squared error of the mean (in
        standardised units) when validating. The likelihood's sigma phases make the
        validation curve dip and rise for many epochs, which misleads early stopping."""
        u, i = t["user"][batch], t["item"][batch]
        seen = torch.where(i == n_items, torch.full_like(i, -1), i)  # unknown: no match
        if net.training:
            u = drop_ids(u, n_users, config.id_dropout, dropout_gen)
            i = drop_ids(i, n_items, config.id_dropout, dropout_gen)
        y = t["y"][batch]
        reps = net.encode(u, i, t["hist"][batch], t["fb"][batch], t["ctx"][batch],
                          t["profile"][batch], t["age"][batch], seen)
        losses = [F.binary_cross_entropy_with_logits(net.primary_logit(reps), y[:, p])]
        for s, out in enumerate(net.conditional(reps, y[:, p])):
            if out is None:
                continue
            if binary[s]:
                losses.append(F.binary_cross_entropy_with_logits(out[:, 0], y[:, s]))
            elif gaussian:
                log_sigma = out[:, 1].clamp(LOG_SIGMA_MIN, LOG_SIGMA_MAX)
                z = (y[:, s] - out[:, 0]) / torch.exp(log_sigma)
                losses.append((0.5 * z**2 + log_sigma).mean())
            else:
                losses.append(((y[:, s] - out[:, 0]) ** 2).mean())
        return torch.stack(losses).mean()

    def loss_fn(t: Tensors, batch: torch.Tensor) -> torch.Tensor:
        return losses_of(t, batch, gaussian=True)

    def val_fn(t: Tensors, batch: torch.Tensor) -> torch.Tensor:
        return losses_of(t, batch, gaussian=False)

    return loss_fn, val_fn


@torch.no_grad()
def response_logits(net: ResponseNet, meta: FittedMeta, t: Tensors, batch: torch.Tensor
                    ) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
    """Primary logit and each other binary head's logit given the logged primary value
    (eval mode, no id dropout), for calibration."""
    binary = [s.is_binary for s in meta.signals]
    i = t["item"][batch]
    seen = torch.where(i == meta.n_items, torch.full_like(i, -1), i)
    reps = net.encode(t["user"][batch], i, t["hist"][batch], t["fb"][batch],
                      t["ctx"][batch], t["profile"][batch], t["age"][batch], seen)
    outs = net.conditional(reps, t["y"][batch][:, meta.primary])
    return net.primary_logit(reps), [out[:, 0] if out is not None and binary[s] else None
                                     for s, out in enumerate(outs)]


def _fit_response(
    net: ResponseNet, rows: RowInputs, meta: FittedMeta, tensors: SimulatorTensors,
    train_idx: np.ndarray, val_idx: np.ndarray, config: SimulatorConfig, device: torch.device,
) -> tuple[dict[str, Any], ResponseMaps]:
    """Train the response model (every signal's loss on the training rows, early stopping
    on the validation rows), then fit the Platt maps of its binary heads on the validation
    rows (identity maps when `config.calibrate` is off)."""
    t = response_inputs(rows, meta, tensors, device)
    loss, val_loss = response_losses(net, meta, config, device)
    binary = [s.is_binary for s in meta.signals]
    report: dict[str, Any] = fit_rows(
        net, lambda batch: loss(t, batch), torch.from_numpy(train_idx).to(device),
        torch.from_numpy(val_idx).to(device), epochs=config.epochs, batch_size=config.batch_size,
        lr=config.lr, weight_decay=config.weight_decay, patience=config.patience,
        seed=config.seed, desc="response model", val_fn=lambda batch: val_loss(t, batch),
        progress=config.progress)
    if not config.calibrate:
        return report, Calibration.identity(len(binary)).response
    net.eval()
    primary_parts: list[torch.Tensor] = []
    head_parts: dict[int, list[torch.Tensor]] = {}
    for batch in torch.from_numpy(val_idx).to(device).split(4 * config.batch_size):
        logit, outs = response_logits(net, meta, t, batch)
        primary_parts.append(logit)
        for s, out in enumerate(outs):
            if out is not None:
                head_parts.setdefault(s, []).append(out)
    primary_logit = torch.cat(primary_parts).cpu().numpy()
    conditional = [torch.cat(head_parts[s]).cpu().numpy() if s in head_parts else None
                   for s in range(len(binary))]
    maps, calibration = calibrate_heads(primary_logit, conditional, rows.targets[val_idx],
                                        meta.primary, [s.name for s in meta.signals])
    report["calibration"] = calibration
    return report, maps


@dataclass(frozen=True)
class AuxInputs:
    """Inputs of the leave model (one entry per step) or the return model (per session)
    and the entries it trains and validates on."""

    t: Tensors
    """`user` (unknown users mapped to n_users), `x` context, `y` target."""
    train_idx: np.ndarray
    val_idx: np.ndarray


def leave_inputs(log: InteractionLog, rows: RowInputs, known_user: np.ndarray,
                 is_val: np.ndarray, user_weights: np.ndarray | None, device: torch.device
                 ) -> AuxInputs:
    """The leave model's steps: context (position, session index, the step's feedback: the
    best item of the slate, as the simulator sees it, and the session's running mean) and
    whether the session ended after it. The last step of a session whose end is too close
    to the end of the log to know is left out."""
    sessions = log.sessions
    steps = rows.steps
    start = steps.starts
    session = log.interactions[SESSION].to_numpy()[start]
    last_step = np.r_[session[1:] != session[:-1], True]
    unknown = (sessions["censored"].to_numpy() & (sessions["observed_gap"].to_numpy()
                                                   <= log.session_gap))[session] & last_step
    feedback = steps.reduce_max(rows.targets)
    taken = rows.position[start] + 1
    sums = _cumulative_by_group(feedback, session)
    context = np.column_stack([*leave_context(taken, rows.session_index[start]),
                               feedback, sums / taken[:, None]]).astype(np.float32)
    users = rows.user[start]
    user = np.where(known_user[users], users, log.n_users)
    usable = ~unknown
    step_val = is_val[start]
    return AuxInputs(
        t={"user": torch.from_numpy(user).to(device), "x": torch.from_numpy(context).to(device),
           "y": torch.from_numpy(last_step.astype(np.float32)).to(device)},
        train_idx=_weighted(np.flatnonzero(usable & ~step_val), users, user_weights),
        val_idx=np.flatnonzero(usable & step_val))


def leave_loss(net: UserContextNet, n_users: int, config: SimulatorConfig,
               device: torch.device) -> BatchLoss:
    """Log-loss of the leave hazard over a batch of `leave_inputs` (user id dropout while
    training, seeded)."""
    dropout_gen = torch.Generator(device=device).manual_seed(config.seed + 2)

    def loss_fn(t: Tensors, batch: torch.Tensor) -> torch.Tensor:
        users = drop_ids(t["user"][batch], n_users, config.aux_id_dropout, dropout_gen) \
            if net.training else t["user"][batch]
        return F.binary_cross_entropy_with_logits(net(users, t["x"][batch])[:, 0],
                                                  t["y"][batch])

    return loss_fn


def leave_calibration(logit: np.ndarray, target: np.ndarray
                      ) -> tuple[dict[str, float], tuple[float, float]]:
    """Platt map of the leave hazard's logit on validation steps, and its report."""
    scale, shift = fit_platt(logit, target)
    return {"scale": scale, "shift": shift,
            "val_ece_before": expected_calibration_error(target, sigmoid(logit)),
            "val_ece_after": expected_calibration_error(target, sigmoid(scale * logit + shift))
            }, (scale, shift)


def _fit_leave(
    net: UserContextNet, log: InteractionLog, rows: RowInputs, tensors: SimulatorTensors,
    is_val: np.ndarray, user_weights: np.ndarray | None, config: SimulatorConfig,
    device: torch.device,
) -> tuple[dict[str, Any], tuple[float, float]]:
    """Hazard of ending the session after each step (see `leave_inputs`). Returns the
    training report and the Platt map of the hazard's logit, fitted on the validation
    steps (the identity when `config.calibrate` is off)."""
    inputs = leave_inputs(log, rows, tensors.known_user, is_val, user_weights, device)
    t, val_idx = inputs.t, inputs.val_idx
    loss = leave_loss(net, log.n_users, config, device)
    report: dict[str, Any] = fit_rows(
        net, lambda batch: loss(t, batch), torch.from_numpy(inputs.train_idx).to(device),
        torch.from_numpy(val_idx).to(device), epochs=config.aux_epochs,
        batch_size=config.batch_size, lr=config.lr, weight_decay=config.weight_decay,
        patience=config.patience, seed=config.seed, desc="leave model", progress=config.progress)
    if not config.calibrate:
        return report, (1.0, 0.0)
    with torch.no_grad():
        net.eval()
        val = torch.from_numpy(val_idx).to(device)
        logit = net(t["user"][val], t["x"][val])[:, 0].cpu().numpy().astype(np.float64)
    target = t["y"][val].cpu().numpy().astype(np.float64)
    report["calibration"], platt = leave_calibration(logit, target)
    return report, platt


def return_inputs(log: InteractionLog, rows: RowInputs, known_user: np.ndarray,
                  edges: np.ndarray, device: torch.device) -> tuple[Tensors, np.ndarray]:
    """The return model's sessions: context (length, session index, summed step feedback
    as the simulator sums it) and target weights over gap buckets (censored sessions: the
    probability of a gap longer than what was observed); and which sessions say anything
    about return gaps."""
    sessions = log.sessions
    steps = rows.steps
    step_session = log.interactions[SESSION].to_numpy()[steps.starts]
    sums = np.zeros((len(sessions), rows.targets.shape[1]))
    np.add.at(sums, step_session, steps.reduce_max(rows.targets).astype(np.float64))
    length = np.bincount(step_session, minlength=len(sessions)).astype(np.float64)
    context = np.column_stack([np.log1p(length), np.log1p(sessions["session_index"]),
                               sums / length[:, None]]).astype(np.float32)
    users = sessions[USER].to_numpy()
    user = np.where(known_user[users], users, log.n_users)
    censored = sessions["censored"].to_numpy()
    gap = np.clip(sessions["observed_gap"].to_numpy(dtype=np.float64), 1.0, None)
    buckets = GapBuckets(edges)
    survival = buckets.survival(gap)
    one_hot = np.eye(buckets.n_buckets)[buckets.bucket_of(gap)]
    target = np.where(censored[:, None], survival, one_hot).astype(np.float32)
    informative = ~censored | (survival.min(axis=1) < 1.0)
    return ({"user": torch.from_numpy(user).to(device), "x": torch.from_numpy(context).to(device),
             "y": torch.from_numpy(target).to(device)}, informative)


def return_loss(net: UserContextNet, n_users: int, config: SimulatorConfig,
                device: torch.device) -> BatchLoss:
    """Negative log-likelihood of the observed (or censored) return gaps over a batch of
    `return_inputs` (user id dropout while training, seeded)."""
    dropout_gen = torch.Generator(device=device).manual_seed(config.seed + 3)

    def loss_fn(t: Tensors, batch: torch.Tensor) -> torch.Tensor:
        users = drop_ids(t["user"][batch], n_users, config.aux_id_dropout, dropout_gen) \
            if net.training else t["user"][batch]
        log_p = torch.log_softmax(net(users, t["x"][batch]), dim=1)
        # censored rows: -log sum_b p_b * P(gap > observed | b); others: cross-entropy
        return -torch.logsumexp(log_p + torch.log(t["y"][batch].clamp(min=1e-12)), dim=1).mean()

    return loss_fn


def _fit_return(
    net: UserContextNet, log: InteractionLog, rows: RowInputs, tensors: SimulatorTensors,
    edges: np.ndarray, cutoff: float, user_weights: np.ndarray | None, config: SimulatorConfig,
    device: torch.device,
) -> dict[str, float]:
    """Distribution over return-gap buckets per session (see `return_inputs`)."""
    t, informative = return_inputs(log, rows, tensors.known_user, edges, device)
    if informative.sum() < 2:
        raise InputError(
            f"{log.source}: only {int(informative.sum())} session(s) say anything about "
            "return gaps (a return was seen, or the log went on long after the session); the "
            "return model needs more: use a longer log"
        )
    sessions = log.sessions
    train, val = validation_split(informative, sessions["start"].to_numpy() >= cutoff,
                                  config.val_fraction, config.seed)
    train_idx = _weighted(train, sessions[USER].to_numpy(), user_weights)
    loss = return_loss(net, log.n_users, config, device)
    return fit_rows(net, lambda batch: loss(t, batch), torch.from_numpy(train_idx).to(device),
                    torch.from_numpy(val).to(device), epochs=config.aux_epochs,
                    batch_size=config.batch_size, lr=config.lr, weight_decay=config.weight_decay,
                    patience=config.patience, seed=config.seed, desc="return model",
                    progress=config.progress)


def _cumulative_by_group(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Running sums of `values` within contiguous groups."""
    total = np.cumsum(values, axis=0)
    starts = np.r_[True, group[1:] != group[:-1]]
    first = np.maximum.accumulate(np.where(starts, np.arange(len(group)), 0))
    return total - (total - values)[first]
