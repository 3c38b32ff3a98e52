"""`fit`: train a `LoggedUserSimulator` (response, leave and return models) on a log."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch
import torch.nn.functional as F

from offline_data.errors import InputError
from offline_data.log import InteractionLog
from offline_data.schema import ITEM, SESSION, TIMESTAMP, USER, Signal
from simulators.features import (
    consumption_profile,
    encode_table,
    history_index,
    last_history,
    session_index_per_row,
    session_position,
)
from simulators.logged import FittedMeta, LoggedUserSimulator, SimulatorTensors
from simulators.networks import LOG_SIGMA_MAX, LOG_SIGMA_MIN, ResponseNet, UserContextNet
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


def row_inputs(
    log: InteractionLog, names: list[str], history_len: int, item_x: np.ndarray,
    primary: int,
) -> dict[str, np.ndarray]:
    """Per-row model inputs of a log and targets: the recent history across sessions, the
    session context, and the long-term consumption profile (summed `item_x` of earlier rows
    whose signal `names[primary]` is 1)."""
    frame = log.interactions
    user = frame[USER].to_numpy()
    item = frame[ITEM].to_numpy()
    targets = frame[names].to_numpy(dtype=np.float32)
    hist = history_index(user, history_len)
    ok = hist >= 0
    position = session_position(frame[SESSION].to_numpy())
    sessions_before = session_index_per_row(log)
    profile_sum, profile_count = consumption_profile(user, item, targets[:, primary], item_x)
    timestamp = frame[TIMESTAMP].to_numpy()
    same_user = np.r_[False, user[1:] == user[:-1]]
    hours_since = np.where(same_user, np.diff(timestamp, prepend=timestamp[:1]) / 3600.0, 0.0)
    return {
        "hours_since": hours_since,
        "user": user,
        "item": item,
        "profile_sum": profile_sum,
        "profile_count": profile_count,
        "hist_items": np.where(ok, item[np.maximum(hist, 0)], -1),
        "hist_feedback": np.where(ok[..., None], targets[np.maximum(hist, 0)], 0.0).astype(
            np.float32),
        "position": position,
        "session_index": sessions_before,
        "targets": targets,
        "timestamp": frame[TIMESTAMP].to_numpy(),
    }


def return_edges(session_gap: int, edges_h: tuple[float, ...]) -> np.ndarray:
    """Bucket edges in seconds: the session gap, the configured edges above it, and an
    open last bucket up to 1.5x the last edge."""
    inner = [h * 3600.0 for h in edges_h if h * 3600.0 > session_gap]
    if not inner:
        raise InputError(f"return_edges_h has no edge above the session gap ({session_gap} s)")
    return np.array([float(session_gap), *inner, inner[-1] * 1.5])


def fit(
    log: InteractionLog,
    config: SimulatorConfig | None = None,
    *,
    user_weights: np.ndarray | None = None,
) -> LoggedUserSimulator:
    """Fit a simulator to `log`: the response, leave and return models.

    The last `config.val_fraction` of the log's time window is held out for early
    stopping. `user_weights` (one non-negative integer per user) repeats each user's data
    that many times (bootstrap resampling for simulator sets).
    """
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
    is_val = rows["timestamp"] >= cutoff
    if is_val.all() or not is_val.any():
        is_val = np.random.default_rng(config.seed).random(n) < config.val_fraction
    train_idx = _weighted(np.flatnonzero(~is_val), rows["user"], user_weights)
    val_idx = np.flatnonzero(is_val)

    stats = {}
    for s, signal in enumerate(signals):
        if not signal.is_binary:
            y = rows["targets"][~is_val, s]
            stats[signal.name] = {"mean": float(y.mean()), "std": float(max(y.std(), 1e-3)),
                                  "min": float(rows["targets"][:, s].min()),
                                  "max": float(rows["targets"][:, s].max())}
    train_users = np.bincount(rows["user"][~is_val], minlength=log.n_users) > 0
    train_items = np.bincount(rows["item"][~is_val], minlength=log.n_items) > 0
    exposure = np.log1p(np.bincount(rows["item"], minlength=log.n_items).astype(np.float64))
    popularity = (exposure - exposure.mean()) / max(exposure.std(), 1e-6)
    edges = return_edges(log.session_gap, config.return_edges_h)
    start_items, start_feedback = last_history(log, config.history_len)
    start_feedback = start_feedback[..., [log.signal_names.index(m) for m in names]]
    consumed = rows["targets"][:, primary].astype(np.float64)
    start_profile_sum = np.zeros((log.n_users, item_x.shape[1]), np.float32)
    np.add.at(start_profile_sum, rows["user"], item_x[rows["item"]] * consumed[:, None])
    start_profile_count = np.bincount(rows["user"], consumed, minlength=log.n_users)
    meta = FittedMeta(
        n_users=log.n_users, n_items=log.n_items, signals=tuple(signals), primary=primary,
        continuous_stats=stats, session_gap=log.session_gap,
        return_edges_s=tuple(float(e) for e in edges), user_features=tuple(user_names),
        item_features=tuple(item_names), config=config, source=log.source,
    )
    tensors = SimulatorTensors(known_user=train_users, known_item=train_items,
                               item_popularity=popularity.astype(np.float32),
                               start_items=start_items, start_feedback=start_feedback,
                               start_profile_sum=start_profile_sum,
                               start_profile_count=start_profile_count)
    ux, ix = torch.from_numpy(user_x), torch.from_numpy(item_x)
    response = ResponseNet(log.n_users, log.n_items, ux, ix, [s.is_binary for s in signals],
                           primary, config).to(device)
    report = {"rows": n, "train_rows": len(train_idx), "val_rows": len(val_idx)}
    report["response"] = _fit_response(response, rows, meta, tensors, train_idx, val_idx,
                                       config, device)
    leave = UserContextNet(log.n_users, ux, 2 + 2 * len(signals), 1).to(device)
    report["leave"] = _fit_leave(leave, log, rows, tensors, is_val, user_weights, config, device)
    returns = UserContextNet(log.n_users, ux, 2 + len(signals), len(edges) - 1).to(device)
    report["return"] = _fit_return(returns, log, names, tensors, edges, cutoff, user_weights,
                                   config, device)
    report["seconds"] = round(time.perf_counter() - started, 2)
    meta = dataclasses.replace(meta, fit_report=report)
    return LoggedUserSimulator(meta, response, leave, returns, tensors, device=device)


def _weighted(idx: np.ndarray, user: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    if weights is None:
        return idx
    return np.repeat(idx, np.asarray(weights, dtype=np.int64)[user[idx]])


def _fit_response(net, rows, meta, tensors, train_idx, val_idx, config, device) -> dict:
    n_users, n_items = meta.n_users, meta.n_items
    targets = rows["targets"].copy()
    for s, signal in enumerate(meta.signals):
        if not signal.is_binary:
            st = meta.continuous_stats[signal.name]
            targets[:, s] = (targets[:, s] - st["mean"]) / st["std"]
    user = np.where(tensors.known_user[rows["user"]], rows["user"], n_users)
    item = np.where(tensors.known_item[rows["item"]], rows["item"], n_items)
    hist = rows["hist_items"]
    hist = np.where(hist < 0, n_items + 1,
                    np.where(tensors.known_item[np.maximum(hist, 0)], hist, n_items))
    context = np.column_stack([np.log1p(rows["position"]), np.log1p(rows["session_index"]),
                               np.log1p(rows["profile_count"]), np.log1p(rows["hours_since"])])
    profile = rows["profile_sum"] / np.maximum(rows["profile_count"], 1.0)[:, None]
    t = {k: torch.from_numpy(np.ascontiguousarray(v)).to(device) for k, v in {
        "user": user, "item": item, "hist": hist, "fb": rows["hist_feedback"],
        "ctx": context.astype(np.float32), "profile": profile.astype(np.float32),
        "y": targets}.items()}
    binary = [s.is_binary for s in meta.signals]
    p = meta.primary
    dropout_gen = torch.Generator(device=device).manual_seed(config.seed + 1)

    def loss_fn(batch: torch.Tensor) -> torch.Tensor:
        u, i = t["user"][batch], t["item"][batch]
        if net.training and config.id_dropout > 0:
            drop = torch.rand(len(batch), generator=dropout_gen, device=device) < config.id_dropout
            u = torch.where(drop, torch.full_like(u, n_users), u)
            drop = torch.rand(len(batch), generator=dropout_gen, device=device) < config.id_dropout
            i = torch.where(drop, torch.full_like(i, n_items), i)
        y = t["y"][batch]
        reps = net.represent(net.inputs(u, i, t["hist"][batch], t["fb"][batch], t["ctx"][batch],
                                        t["profile"][batch]))
        losses = [F.binary_cross_entropy_with_logits(net.primary_logit(reps), y[:, p])]
        for s, out in enumerate(net.conditional(reps, y[:, p])):
            if out is None:
                continue
            if binary[s]:
                losses.append(F.binary_cross_entropy_with_logits(out[:, 0], y[:, s]))
            else:
                log_sigma = out[:, 1].clamp(LOG_SIGMA_MIN, LOG_SIGMA_MAX)
                z = (y[:, s] - out[:, 0]) / torch.exp(log_sigma)
                losses.append((0.5 * z**2 + log_sigma).mean())
        return torch.stack(losses).mean()

    return fit_rows(net, loss_fn, torch.from_numpy(train_idx).to(device),
                    torch.from_numpy(val_idx).to(device), epochs=config.epochs,
                    batch_size=config.batch_size, lr=config.lr, weight_decay=config.weight_decay,
                    patience=config.patience, seed=config.seed, desc="response model",
                    progress=config.progress)


def _fit_leave(net, log, rows, tensors, is_val, user_weights, config, device) -> dict:
    """Hazard of ending the session after each row; the last row of a session whose end
    is too close to the end of the log to know is left out."""
    sessions = log.sessions
    session = log.interactions[SESSION].to_numpy()
    last_row = np.r_[session[1:] != session[:-1], True]
    unknown = (sessions["censored"].to_numpy() & (sessions["observed_gap"].to_numpy()
                                                   <= log.session_gap))[session] & last_row
    targets = rows["targets"]
    steps = rows["position"] + 1
    sums = _cumulative_by_group(targets, session)
    context = np.column_stack([np.log1p(steps), np.log1p(rows["session_index"]), targets,
                               sums / steps[:, None]]).astype(np.float32)
    user = np.where(tensors.known_user[rows["user"]], rows["user"], log.n_users)
    usable = ~unknown
    train_idx = _weighted(np.flatnonzero(usable & ~is_val), rows["user"], user_weights)
    val_idx = np.flatnonzero(usable & is_val)
    u = torch.from_numpy(user).to(device)
    x = torch.from_numpy(context).to(device)
    y = torch.from_numpy(last_row.astype(np.float32)).to(device)

    def loss_fn(batch: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(net(u[batch], x[batch])[:, 0], y[batch])

    return fit_rows(net, loss_fn, torch.from_numpy(train_idx).to(device),
                    torch.from_numpy(val_idx).to(device), epochs=config.aux_epochs,
                    batch_size=config.batch_size, lr=config.lr, weight_decay=config.weight_decay,
                    patience=config.patience, seed=config.seed, desc="leave model",
                    progress=config.progress)


def _fit_return(net, log, names, tensors, edges, cutoff, user_weights, config, device) -> dict:
    """Distribution over return-gap buckets per session; censored sessions contribute the
    probability of a gap longer than what was observed."""
    sessions = log.sessions
    frame = log.interactions
    session = frame[SESSION].to_numpy()
    sums = np.zeros((len(sessions), len(names)))
    np.add.at(sums, session, frame[names].to_numpy(dtype=np.float64))
    length = sessions["length"].to_numpy()
    context = np.column_stack([np.log1p(length), np.log1p(sessions["session_index"]),
                               sums / length[:, None]]).astype(np.float32)
    users = sessions[USER].to_numpy()
    user = np.where(tensors.known_user[users], users, log.n_users)
    censored = sessions["censored"].to_numpy()
    gap = np.clip(sessions["observed_gap"].to_numpy(dtype=np.float64), 1.0, None)
    lo, hi = np.log(edges[:-1]), np.log(edges[1:])
    survival = np.clip((hi[None, :] - np.log(gap)[:, None]) / (hi - lo)[None, :], 0.0, 1.0)
    bucket = np.clip(np.searchsorted(edges, gap, side="right") - 1, 0, len(lo) - 1)
    target = np.where(censored[:, None], survival, np.eye(len(lo))[bucket]).astype(np.float32)
    informative = ~censored | (survival.min(axis=1) < 1.0)
    is_val = sessions["start"].to_numpy() >= cutoff
    if is_val[informative].all() or not is_val[informative].any():
        is_val = np.random.default_rng(config.seed).random(len(sessions)) < config.val_fraction
    train_idx = _weighted(np.flatnonzero(informative & ~is_val), users, user_weights)
    val_idx = np.flatnonzero(informative & is_val)
    if len(train_idx) == 0 or len(val_idx) == 0:
        raise InputError(
            f"{log.source}: too few sessions with an observed return to fit the return model "
            "(each user needs at least two sessions); use a longer log"
        )
    u = torch.from_numpy(user).to(device)
    x = torch.from_numpy(context).to(device)
    w = torch.from_numpy(target).to(device)

    def loss_fn(batch: torch.Tensor) -> torch.Tensor:
        log_p = torch.log_softmax(net(u[batch], x[batch]), dim=1)
        # censored rows: -log sum_b p_b * P(gap > observed | b); others: cross-entropy
        return -torch.logsumexp(log_p + torch.log(w[batch].clamp(min=1e-12)), dim=1).mean()

    return fit_rows(net, loss_fn, torch.from_numpy(train_idx).to(device),
                    torch.from_numpy(val_idx).to(device), epochs=config.aux_epochs,
                    batch_size=config.batch_size, lr=config.lr, weight_decay=config.weight_decay,
                    patience=config.patience, seed=config.seed, desc="return model",
                    progress=config.progress)


def _cumulative_by_group(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Running sums of `values` within contiguous groups."""
    total = np.cumsum(values, axis=0)
    starts = np.r_[True, group[1:] != group[:-1]]
    first = np.maximum.accumulate(np.where(starts, np.arange(len(group)), 0))
    return total - (total - values)[first]
