"""`fit_partitioned`: fit a `LoggedUserSimulator` to a log larger than memory.

The log is a `PartitionedLog` (`recgym data convert`); partitions hold whole users, so
every per-user input (histories, sessions, consumption profiles) is built from one
partition exactly as `simulators.fit` builds it from the whole log. One pass gathers
what the fit needs of the whole log (signal statistics, item exposure, which users and
items have training rows, each user's state at the end of the log); then the response,
leave and return models train together, partition by partition
(`stream_training.train_partitions`); a last pass fits the calibration maps on at most
`CALIBRATION_ROWS` validation rows. Only one partition's inputs are in memory at a time.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from offline_data.log import InteractionLog
from offline_data.partitioned import PartitionedLog
from offline_data.schema import SESSION, USER
from offline_data.shared.errors import InputError
from simulators.calibration import Calibration, calibrate_heads
from simulators.fidelity import held_out_rows, holdout_cutoff
from simulators.fitting import (
    RowInputs,
    leave_calibration,
    leave_inputs,
    leave_loss,
    resolve_signals,
    response_inputs,
    response_logits,
    response_losses,
    return_edges,
    return_inputs,
    return_loss,
    row_inputs,
    start_state,
)
from simulators.logged import FittedMeta, LoggedUserSimulator, SimulatorTensors
from simulators.networks import LEAVE_CONTEXT, ResponseNet, UserContextNet
from simulators.sim_config import SimulatorConfig
from simulators.stream_training import StreamTask, train_partitions
from simulators.training import pick_device

CALIBRATION_ROWS = 1_000_000
"""Validation rows (and steps) the calibration maps are fitted on, at most."""
CHUNK_ROWS = 262_144
"""Rows (of whole users) whose model inputs are built at once: a partition is read whole
but its inputs, several hundred bytes a row, are built and used chunk by chunk."""


@dataclass(frozen=True)
class _Part:
    """One loaded partition: the log, its per-row inputs and which rows validate."""

    index: int
    log: InteractionLog
    rows: RowInputs
    is_val: np.ndarray


class _Loader:
    """Loads partitions with the fit's signals, history length and validation split,
    without the held-out rows when there are any."""

    def __init__(self, dataset: PartitionedLog, names: list[str], primary: int,
                 config: SimulatorConfig, window_end: int, test_fraction: float | None
                 ) -> None:
        self.dataset, self.names, self.primary, self.config = dataset, names, primary, config
        self.window_end, self.test_fraction = window_end, test_fraction
        self.cutoff = window_end - config.val_fraction * (window_end - dataset.start_time)
        self.item_x = np.zeros((dataset.n_items, 0), np.float32)
        # the late rows validate, as in `fit`, unless every row is late (one timestamp)
        self.late_split = dataset.start_time < self.cutoff

    def __call__(self, index: int) -> Iterator[_Part]:
        """The partition's rows in chunks of whole users, each with its inputs."""
        if not self.dataset.partition_info[index].rows:
            return
        log = self.dataset.partition(index)
        if self.test_fraction is not None:
            mask = held_out_rows(log, self.test_fraction)
            if mask.all():
                return
            log = log.select(~mask, end_time=self.window_end, source=f"{log.source} [train]")
        for number, chunk in enumerate(user_chunks(log, CHUNK_ROWS)):
            rows = row_inputs(chunk, self.names, self.config.history_len, self.item_x,
                              self.primary)
            if self.late_split:
                is_val = rows.timestamp >= self.cutoff
            else:
                rng = np.random.default_rng([self.config.seed, index, number])
                is_val = rng.random(len(rows)) < self.config.val_fraction
            yield _Part(index * 1_000_003 + number, chunk, rows, is_val)


def user_chunks(log: InteractionLog, max_rows: int) -> Iterator[InteractionLog]:
    """`log` (rows sorted by user) cut into logs of whole users with about `max_rows`
    rows each (more when one user has more), sessions numbered from 0 in each."""
    frame = log.interactions
    if len(frame) <= max_rows:
        yield log
        return
    user = frame[USER].to_numpy()
    starts = np.flatnonzero(np.r_[True, user[1:] != user[:-1]])
    begin = 0
    while begin < len(frame):
        after = np.searchsorted(starts, begin + max_rows, side="left")
        end = int(starts[after]) if after < len(starts) else len(frame)
        part = frame.iloc[begin:end].reset_index(drop=True)
        part[SESSION] = part[SESSION].to_numpy() - part[SESSION].iat[0]
        yield dataclasses.replace(log, interactions=part)
        begin = end


def fit_partitioned(dataset: PartitionedLog, config: SimulatorConfig | None = None, *,
                    test_fraction: float | None = None) -> LoggedUserSimulator:
    """Fit a simulator to a partitioned log, one partition in memory at a time; the
    same models, inputs and validation split (the last `config.val_fraction` of the time
    window) as `simulators.fit`. A partitioned log has no feature tables, so the models
    use ids, histories and session context only. With `test_fraction`, the rows that
    `simulators.fidelity.held_out(partition, test_fraction)` holds out of each partition
    (sessions in the last part of the window; random exposures) are left out of the fit
    and its window ends where they begin. Seeded: the same config gives the same
    simulator."""
    config = config or SimulatorConfig()
    window_end = dataset.end_time if test_fraction is None else holdout_cutoff(
        dataset.start_time, dataset.end_time, test_fraction)
    if dataset.n_interactions < 10:
        raise InputError(f"{dataset.source}: {dataset.n_interactions} interactions are too "
                         "few to fit")
    started = time.perf_counter()
    first = next(dataset.partitions())
    signals, primary = resolve_signals(first, config)
    names = [s.name for s in signals]
    device = pick_device(config.device)
    torch.manual_seed(config.seed)
    edges = return_edges(dataset.session_gap, config.return_edges_h)
    load = _Loader(dataset, names, primary, config, window_end, test_fraction)
    cutoff = load.cutoff
    whole = _scan(dataset, load, signals, primary, edges, config)
    n_users, n_items = dataset.n_users, dataset.n_items
    exposure = np.log1p(whole.exposure.astype(np.float64))
    popularity = (exposure - exposure.mean()) / max(exposure.std(), 1e-6)
    meta = FittedMeta(
        n_users=n_users, n_items=n_items, signals=tuple(signals), primary=primary,
        continuous_stats=whole.stats(signals), session_gap=dataset.session_gap,
        return_edges_s=tuple(float(e) for e in edges), user_features=(), item_features=(),
        config=config, source=dataset.source,
    )
    tensors = SimulatorTensors(known_user=whole.train_users, known_item=whole.train_items,
                               item_popularity=popularity.astype(np.float32), **whole.start)
    ux = torch.zeros((n_users, 0))
    ix = torch.zeros((n_items, 0))
    response = ResponseNet(n_users, n_items, ux, ix, [s.is_binary for s in signals], primary,
                           config, np.zeros(0, np.float32)).to(device)
    leave = UserContextNet(n_users, ux, LEAVE_CONTEXT + 2 * len(signals), 1).to(device)
    returns = UserContextNet(n_users, ux, 2 + len(signals), len(edges)).to(device)
    late_sessions = 0 < whole.late_sessions < whole.informative
    # (training, validation) sessions of the return model; about, for a random split
    return_counts = (whole.informative - whole.late_sessions, whole.late_sessions) \
        if late_sessions else (whole.informative, max(1, round(config.val_fraction
                                                                * whole.informative)))

    def response_built(part: _Part) -> tuple[dict, np.ndarray, np.ndarray]:
        return (response_inputs(part.rows, meta, tensors, device),
                np.flatnonzero(~part.is_val), np.flatnonzero(part.is_val))

    def leave_built(part: _Part) -> tuple[dict, np.ndarray, np.ndarray]:
        inputs = leave_inputs(part.log, part.rows, tensors.known_user, part.is_val, None,
                              device)
        return inputs.t, inputs.train_idx, inputs.val_idx

    def return_built(part: _Part) -> tuple[dict, np.ndarray, np.ndarray]:
        t, informative = return_inputs(part.log, part.rows, tensors.known_user, edges, device)
        late = _late_sessions(part, cutoff, late_sessions, config)
        return (t, np.flatnonzero(informative & ~late), np.flatnonzero(informative & late))

    train_loss, val_loss = response_losses(response, meta, config, device)
    leave_fn = leave_loss(leave, n_users, config, device)
    return_fn = return_loss(returns, n_users, config, device)
    tasks = [
        StreamTask("response model", response, train_loss, val_loss, response_built,
                   config.epochs, whole.train_rows, whole.val_rows),
        StreamTask("leave model", leave, leave_fn, leave_fn, leave_built, config.aux_epochs,
                   whole.leave_train, whole.leave_val),
        StreamTask("return model", returns, return_fn, return_fn, return_built,
                   config.aux_epochs, *return_counts),
    ]
    reports = train_partitions(
        tasks, dataset.n_partitions, load, batch_size=config.batch_size, lr=config.lr,
        weight_decay=config.weight_decay, patience=config.patience, seed=config.seed,
        device=device, progress=config.progress)
    report: dict[str, Any] = {
        "rows": dataset.n_interactions, "train_rows": whole.train_rows,
        "val_rows": whole.val_rows, "partitions": dataset.n_partitions, "streamed": True,
        "response": reports["response model"], "leave": reports["leave model"],
        "return": reports["return model"]}
    calibration = Calibration.identity(len(signals))
    if config.calibrate:
        calibration = _calibrate(dataset, load, response, leave, meta, tensors, device,
                                 report, response_built, leave_built)
    report["seconds"] = round(time.perf_counter() - started, 2)
    meta = dataclasses.replace(meta, fit_report=report,
                               calibration=None if calibration.is_identity else calibration)
    return LoggedUserSimulator(meta, response, leave, returns, tensors, device=device)


def _late_sessions(part: _Part, cutoff: float, by_time: bool, config: SimulatorConfig
                   ) -> np.ndarray:
    """Sessions of the partition that validate the return model: those starting after
    the cutoff, or (when that leaves a part empty) a seeded random share."""
    starts = part.log.sessions["start"].to_numpy()
    if by_time:
        return starts >= cutoff
    rng = np.random.default_rng([config.seed, part.index, 1])
    return rng.random(len(starts)) < config.val_fraction


class _Whole:
    """What the fit needs of the whole log, gathered partition by partition."""

    def __init__(self, dataset: PartitionedLog, n_signals: int) -> None:
        self.exposure = np.zeros(dataset.n_items, np.int64)
        self.train_users = np.zeros(dataset.n_users, bool)
        self.train_items = np.zeros(dataset.n_items, bool)
        self.moments = np.zeros((n_signals, 3))  # count, sum, sum of squares (train rows)
        self.low = np.full(n_signals, np.inf)
        self.high = np.full(n_signals, -np.inf)
        self.start: dict[str, np.ndarray] = {}
        self.train_rows = self.val_rows = self.leave_train = self.leave_val = 0
        self.informative = self.late_sessions = 0

    def stats(self, signals: list) -> dict[str, dict[str, float]]:
        """Mean, std, min and max of each continuous signal (as `fit` computes them)."""
        out = {}
        for s, signal in enumerate(signals):
            if signal.is_binary:
                continue
            count, total, squares = self.moments[s]
            mean = total / max(count, 1)
            std = float(np.sqrt(max(squares / max(count, 1) - mean**2, 0.0)))
            out[signal.name] = {"mean": float(mean), "std": max(std, 1e-3),
                                "min": float(self.low[s]), "max": float(self.high[s])}
        return out


def _scan(dataset: PartitionedLog, load: _Loader, signals: list, primary: int,
          edges: np.ndarray, config: SimulatorConfig) -> _Whole:
    """One pass over the partitions gathering `_Whole`."""
    whole = _Whole(dataset, len(signals))
    names = [s.name for s in signals]
    everyone = np.ones(dataset.n_users, bool)
    cpu = torch.device("cpu")
    for part in (p for index in range(dataset.n_partitions) for p in load(index)):
        rows, train = part.rows, ~part.is_val
        whole.exposure += np.bincount(rows.item, minlength=dataset.n_items)
        whole.train_users[rows.user[train]] = True
        whole.train_items[rows.item[train]] = True
        y = rows.targets[train].astype(np.float64)
        whole.moments += np.stack([np.full(len(signals), len(y)), y.sum(axis=0),
                                   (y * y).sum(axis=0)], axis=1)
        whole.low = np.minimum(whole.low, rows.targets.min(axis=0))
        whole.high = np.maximum(whole.high, rows.targets.max(axis=0))
        whole.train_rows += int(train.sum())
        whole.val_rows += int(part.is_val.sum())
        leave = leave_inputs(part.log, rows, everyone, part.is_val, None, cpu)
        whole.leave_train += len(leave.train_idx)
        whole.leave_val += len(leave.val_idx)
        _, informative = return_inputs(part.log, rows, everyone, edges, cpu)
        whole.informative += int(informative.sum())
        late = part.log.sessions["start"].to_numpy() >= load.cutoff
        whole.late_sessions += int((informative & late).sum())
        state = start_state(part.log, rows, names, load.item_x, primary, config.history_len)
        present = np.unique(rows.user)
        if not whole.start:
            whole.start = {k: np.zeros_like(v) for k, v in state.items()}
            whole.start["start_items"][:] = -1
        for key, values in state.items():
            whole.start[key][present] = values[present]
    if whole.informative < 2:
        raise InputError(
            f"{dataset.source}: only {whole.informative} session(s) say anything about return "
            "gaps (a return was seen, or the log went on long after the session); the return "
            "model needs more: use a longer log")
    return whole


def _calibrate(dataset: PartitionedLog, load: _Loader, response: ResponseNet,
               leave: UserContextNet, meta: FittedMeta, tensors: SimulatorTensors,
               device: torch.device, report: dict[str, Any], response_built: Any,
               leave_built: Any) -> Calibration:
    """Platt maps of the binary heads and the leave hazard, fitted on the validation rows
    (steps) of the partitions, at most `CALIBRATION_ROWS` of each."""
    response.eval()
    leave.eval()
    primary_parts: list[np.ndarray] = []
    head_parts: dict[int, list[np.ndarray]] = {}
    targets: list[np.ndarray] = []
    leave_logits: list[np.ndarray] = []
    leave_targets: list[np.ndarray] = []
    seen = seen_steps = 0
    batch_size = 4 * meta.config.batch_size
    for part in (p for index in range(dataset.n_partitions) for p in load(index)):
        if seen >= CALIBRATION_ROWS and seen_steps >= CALIBRATION_ROWS:
            break
        t, _, val_idx = response_built(part)
        val_idx = val_idx[: max(CALIBRATION_ROWS - seen, 0)]
        for batch in torch.from_numpy(val_idx).to(device).split(batch_size):
            logit, outs = response_logits(response, meta, t, batch)
            primary_parts.append(logit.cpu().numpy())
            for s, out in enumerate(outs):
                if out is not None:
                    head_parts.setdefault(s, []).append(out.cpu().numpy())
        targets.append(part.rows.targets[val_idx])
        seen += len(val_idx)
        lt, _, leave_val = leave_built(part)
        leave_val = leave_val[: max(CALIBRATION_ROWS - seen_steps, 0)]
        with torch.no_grad():
            val = torch.from_numpy(leave_val).to(device)
            leave_logits.append(leave(lt["user"][val], lt["x"][val])[:, 0].cpu().numpy())
        leave_targets.append(lt["y"][val].cpu().numpy())
        seen_steps += len(leave_val)
    n_signals = len(meta.signals)
    conditional = [np.concatenate(head_parts[s]) if s in head_parts else None
                   for s in range(n_signals)]
    maps, report["response"]["calibration"] = calibrate_heads(
        np.concatenate(primary_parts), conditional, np.concatenate(targets), meta.primary,
        [s.name for s in meta.signals])
    report["leave"]["calibration"], platt = leave_calibration(
        np.concatenate(leave_logits).astype(np.float64),
        np.concatenate(leave_targets).astype(np.float64))
    return Calibration(maps, platt)
