"""How faithful a fitted simulator is, measured on held-out data.

Per signal: AUC, log-loss and expected calibration error (binary) or RMSE and MAE
(continuous) of the simulator's marginal predictions on held-out rows, each row seeing its
real history. Sessions: held-out sessions are replayed with the items actually shown (then
items drawn from the held-out exposure distribution once those run out), and the simulated
session lengths and return gaps are compared with the log (Kolmogorov-Smirnov statistic and
means; simulated gaps are censored at the end of the log exactly as the logged ones are).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import ks_2samp, pearsonr
from sklearn.metrics import log_loss, roc_auc_score

from offline_data.log import InteractionLog
from offline_data.schema import ITEM, SESSION, USER
from offline_data.shared.errors import InputError
from offline_data.shared.units import DAY_S, HOUR_S
from simulators.calibration import ece_noise, expected_calibration_error
from simulators.fitting import RowInputs, row_inputs
from simulators.interface import make_distinct
from simulators.logged import LoggedUserSimulator

CHUNK = 8192


def binary_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """AUC (NaN when only one class is present), log-loss, ECE (10 equal-width bins) and
    `ece_noise`, the ECE that sampling noise alone would give perfectly calibrated
    predictions on these rows (see `calibration.ece_noise`)."""
    p = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    auc = float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")
    return {"auc": auc, "logloss": float(log_loss(y, p, labels=[0, 1])),
            "ece": expected_calibration_error(y, p), "ece_noise": ece_noise(p)}


def continuous_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """RMSE and MAE."""
    err = pred.astype(np.float64) - y
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err)))}


def signal_metrics(kind_binary: bool, y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """`binary_metrics` or `continuous_metrics` by the signal's kind."""
    return binary_metrics(y, pred) if kind_binary else continuous_metrics(y, pred)


@dataclass(frozen=True)
class HeldOut:
    """Which rows of a log are held out for measuring fidelity, and why."""

    mask: np.ndarray
    """True for every held-out row (none of them is used for fitting)."""
    signal_mask: np.ndarray
    """Rows on which the per-signal metrics are measured."""
    session_mask: np.ndarray
    """Rows whose (whole) sessions are replayed for session length and return gap."""
    description: str
    cutoff: int | None
    """Unix time where the held-out time window begins; the training window ends there."""

    def train(self, log: InteractionLog) -> InteractionLog:
        """The log without the held-out rows (its window ends at the cutoff, so return
        gaps that cross it are censored there)."""
        return log.select(~self.mask, end_time=self.cutoff, source=f"{log.source} [train]")


def holdout_cutoff(start_time: int, end_time: int, test_fraction: float) -> int:
    """Unix time where `held_out` begins holding out sessions."""
    if not 0 < test_fraction < 1:
        raise InputError(f"test_fraction must be in (0, 1), got {test_fraction}")
    return int(end_time - test_fraction * (end_time - start_time))


def _late_rows(log: InteractionLog, cutoff: int) -> np.ndarray:
    start = log.sessions["start"].to_numpy()[log.interactions[SESSION].to_numpy()]
    return start >= cutoff


def held_out_rows(log: InteractionLog, test_fraction: float) -> np.ndarray:
    """The rows `held_out(log, test_fraction)` holds out (its `mask`), also for a part
    of a log (one partition of a partitioned log), where either side may be empty."""
    late = _late_rows(log, holdout_cutoff(log.start_time, log.end_time, test_fraction))
    if "is_rand" in log.context_columns:
        rand = log.interactions["is_rand"].to_numpy() == 1
        if rand.any() and not (rand | late).all():
            return rand | late
    return late


def held_out(log: InteractionLog, test_fraction: float = 0.1) -> HeldOut:
    """Hold out the sessions starting in the last `test_fraction` of the time window. When
    the log has randomly exposed rows (KuaiRand's `is_rand`: free of exposure bias), those
    are held out too and the per-signal metrics are measured on them, while sessions are
    still measured on the last part of the window."""
    cutoff = holdout_cutoff(log.start_time, log.end_time, test_fraction)
    late = _late_rows(log, cutoff)
    if not late.any() or late.all():
        raise InputError(f"{log.source}: holding out the last {test_fraction:.0%} of the window "
                         "leaves an empty part; use a longer log")
    days = (log.end_time - cutoff) / DAY_S
    window = f"sessions in the last {days:.2f} days ({int(late.sum()):,} rows)"
    if "is_rand" in log.context_columns:
        rand = log.interactions["is_rand"].to_numpy() == 1
        if rand.any() and not (rand | late).all():
            return HeldOut(rand | late, rand, late,
                           f"signals: random exposures ({int(rand.sum()):,} rows); sessions: "
                           f"{window}", cutoff)
    return HeldOut(late, late, late, window, cutoff)


def predict_rows(sim: LoggedUserSimulator, log: InteractionLog, mask: np.ndarray
                 ) -> dict[str, np.ndarray]:
    """Marginal predictions of the simulator on the rows of `log` where `mask` is True,
    each row with its real history and session context from the whole log."""
    _check_space(sim, log)
    rows = _rows(sim, log)
    idx = np.flatnonzero(mask)
    out: dict[str, list[np.ndarray]] = {name: [] for name in sim.signal_names}
    for chunk in np.array_split(idx, max(1, len(idx) // CHUNK + 1)):
        if not len(chunk):
            continue
        state = sim.state_from_history(
            rows.user[chunk], rows.hist_items[chunk], rows.hist_feedback[chunk],
            session_index=rows.session_index[chunk], session_steps=rows.position[chunk],
            profile_sum=rows.profile_sum[chunk], profile_count=rows.profile_count[chunk],
            hours_since=rows.hours_since[chunk], hist_hours=rows.hist_hours[chunk])
        pred = sim.predict(state, rows.item[chunk][:, None])
        for name in sim.signal_names:
            out[name].append(pred[name][:, 0])
    return {name: np.concatenate(parts) if parts else np.zeros(0) for name, parts in out.items()}


def replay_sessions(
    sim: LoggedUserSimulator, log: InteractionLog, mask: np.ndarray, seed: int = 0,
    max_steps: int = 200,
) -> dict[str, np.ndarray]:
    """Replay the held-out sessions (every row of the session held out) in the simulator,
    step by step with the slates actually shown (the rows of one user and timestamp; when
    slates differ in size, the first item of each), then with items drawn from the
    held-out exposure distribution once the logged steps run out.

    Returns per session: logged and simulated length (steps), the logged return gap (NaN
    when censored), the simulated gap, and the time left in the log after the session.
    """
    _check_space(sim, log)
    rng = np.random.default_rng(seed)
    frame = log.interactions
    session = frame[SESSION].to_numpy()
    held = np.zeros(len(log.sessions), bool)
    held[np.unique(session[mask])] = True
    held &= np.bincount(session, weights=~mask, minlength=len(held)) == 0
    sessions = log.sessions[held]
    if sessions.empty:
        raise InputError(f"{log.source}: no whole session is held out to replay")
    rows = _rows(sim, log)
    steps = rows.steps
    step_session = session[steps.starts]
    step_size = np.diff(np.r_[steps.starts, len(session)])
    chosen = held[step_session]
    sizes = np.unique(step_size[chosen])
    k = int(sizes[0]) if len(sizes) == 1 else 1
    step_ids = np.flatnonzero(chosen)
    first_step = np.searchsorted(step_session[step_ids], sessions[SESSION].to_numpy())
    log_len = np.bincount(step_session[step_ids], minlength=len(held))[held]
    items = frame[ITEM].to_numpy()
    exposure = np.bincount(items[mask], minlength=sim.n_items).astype(np.float64)
    exposure /= exposure.sum()
    first = steps.starts[step_ids[first_step]]
    state = sim.state_from_history(
        sessions[USER].to_numpy(), rows.hist_items[first], rows.hist_feedback[first],
        session_index=rows.session_index[first], profile_sum=rows.profile_sum[first],
        profile_count=rows.profile_count[first], hours_since=rows.hours_since[first],
        hist_hours=rows.hist_hours[first])
    n = len(sessions)
    sim_len = np.zeros(n, np.int64)
    sim_gap = np.zeros(n)
    alive = np.arange(n)
    offsets = np.arange(k)
    for step in range(max_steps):
        logged = step < log_len[alive]
        row = steps.starts[step_ids[np.minimum(first_step[alive] + step, len(step_ids) - 1)]]
        drawn = rng.choice(sim.n_items, size=(len(alive), k), p=exposure)
        slates = np.where(logged[:, None], items[row[:, None] + offsets[None, :]], drawn)
        if k > 1:  # a drawn slate must not repeat an item
            slates = np.where(logged[:, None], slates, make_distinct(drawn, sim.n_items))
        feedback = sim.respond(state, slates, rng)
        state = sim.step_state(state, slates, feedback)
        leave = rng.random(len(alive)) < sim.leave_prob(state, feedback)
        if step == max_steps - 1:
            leave[:] = True
        if leave.any():
            done = alive[leave]
            sim_len[done] = step + 1
            sim_gap[done] = sim.return_gap(state.take(np.flatnonzero(leave)), rng)
            keep = np.flatnonzero(~leave)
            alive, state = alive[keep], state.take(keep)
        if not len(alive):
            break
    return {
        "log_length": log_len,
        "sim_length": sim_len,
        "log_gap": sessions["return_gap"].to_numpy(dtype=np.float64),
        "sim_gap": sim_gap,
        "window_left": (log.end_time - sessions["end"].to_numpy()).astype(np.float64),
    }


def session_fidelity(replay: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """KS statistic and means of session length and return gap (hours), log vs simulator.
    Simulated gaps longer than the time left in the log count as censored, like the log's."""
    log_gap = replay["log_gap"]
    observed = ~np.isnan(log_gap)
    sim_seen = replay["sim_gap"] <= replay["window_left"]
    lg, sg = log_gap[observed] / HOUR_S, replay["sim_gap"][sim_seen] / HOUR_S
    gap_stats = {"ks": float(ks_2samp(lg, sg).statistic) if len(lg) and len(sg) else float("nan"),
                 "log_mean": float(lg.mean()) if len(lg) else float("nan"),
                 "sim_mean": float(sg.mean()) if len(sg) else float("nan"),
                 "sim_mean_uncensored": float(replay["sim_gap"].mean() / HOUR_S),
                 "log_observed": len(lg), "sim_observed": len(sg)}
    return {
        "session_length": {
            "ks": float(ks_2samp(replay["log_length"], replay["sim_length"]).statistic),
            "log_mean": float(replay["log_length"].mean()),
            "sim_mean": float(replay["sim_length"].mean()),
            "sessions": len(replay["log_length"]),
        },
        "return_gap": gap_stats,
    }


def evaluate(
    sim: LoggedUserSimulator, log: InteractionLog, split: HeldOut, seed: int = 0
) -> dict[str, Any]:
    """Per-signal metrics on the held-out rows and session-level comparisons."""
    mask = split.signal_mask
    pred = predict_rows(sim, log, mask)
    signals = {}
    for signal in sim.signals:
        y = log.interactions[signal.name].to_numpy(dtype=np.float64)[mask]
        signals[signal.name] = signal_metrics(signal.is_binary, y, pred[signal.name])
    replay = replay_sessions(sim, log, split.session_mask, seed)
    return {"signals": signals, **session_fidelity(replay)}


def popularity_baseline(train: InteractionLog, log: InteractionLog, mask: np.ndarray,
                        name: str, prior: float = 10.0) -> np.ndarray:
    """Per-item rate (or mean) of a signal in `train`, shrunk toward the global mean."""
    frame = train.interactions
    values = frame[name].to_numpy(dtype=np.float64)
    items = frame[ITEM].to_numpy()
    total = np.bincount(items, values, minlength=log.n_items)
    count = np.bincount(items, minlength=log.n_items)
    rate = (total + prior * values.mean()) / (count + prior)
    return rate[log.interactions[ITEM].to_numpy()[mask]]


def ground_truth(sim: LoggedUserSimulator, log: InteractionLog, split: HeldOut,
                 seed: int = 0) -> dict[str, float]:
    """Compare with the synthetic world on held-out rows of a log made with `truth=True`:
    Pearson correlation of click probabilities with the true ones, the simulator's AUC
    against the oracle's, and the mean session length and return gap against the world's."""
    if "true_click_prob" not in log.context_columns:
        raise InputError("ground_truth needs a synthetic log generated with truth=True")
    primary, mask = sim.primary_signal, split.signal_mask
    p_sim = predict_rows(sim, log, mask)[primary]
    p_true = log.interactions["true_click_prob"].to_numpy(dtype=np.float64)[mask]
    clicks = log.interactions[primary].to_numpy(dtype=np.float64)[mask]
    sessions = session_fidelity(replay_sessions(sim, log, split.session_mask, seed))
    length, gap = sessions["session_length"], sessions["return_gap"]
    return {
        "prob_corr": float(pearsonr(p_sim, p_true).statistic),
        "auc": float(roc_auc_score(clicks, p_sim)),
        "oracle_auc": float(roc_auc_score(clicks, p_true)),
        "mean_prob_sim": float(p_sim.mean()),
        "mean_prob_true": float(p_true.mean()),
        "session_length_world": length["log_mean"],
        "session_length_sim": length["sim_mean"],
        "session_length_rel_err": abs(length["sim_mean"] / length["log_mean"] - 1),
        "return_gap_world_h": gap["log_mean"],
        "return_gap_sim_h": gap["sim_mean"],
        "return_gap_rel_err": abs(gap["sim_mean"] / gap["log_mean"] - 1),
        "rows": int(mask.sum()),
    }


def _rows(sim: LoggedUserSimulator, log: InteractionLog) -> RowInputs:
    return row_inputs(log, sim.signal_names, sim.history_len, sim.item_features,
                      sim.meta.primary)


def _check_space(sim: LoggedUserSimulator, log: InteractionLog) -> None:
    if (sim.n_users, sim.n_items) != (log.n_users, log.n_items):
        raise InputError(
            f"{log.source}: its id space ({log.n_users} users, {log.n_items} items) is not the "
            f"simulator's ({sim.n_users} users, {sim.n_items} items); evaluate on the log the "
            "simulator was fitted from (or a split of it)"
        )
    missing = [n for n in sim.signal_names if n not in log.signal_names]
    if missing:
        raise InputError(f"{log.source}: the log lacks the simulator's signal(s) {missing}")
