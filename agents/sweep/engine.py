"""Jobs on Ray Tune: the one module of recgym that imports ray (the `recgym[ray]` extra).

`run_jobs(job, items, ...)` runs `job(item, report)` for every item as a Tune trial (one
CPU each, at most `max_concurrent` at a time) on a local Ray started in-process, or on a
cluster at `address`; `report(metrics)` sends metrics to Tune as the job goes. Tune keeps
the experiment's state in `storage/name`, so an interrupted run resumes with
`resume=True` (Tune's restore: finished trials are kept, the others run again, and jobs
that checkpoint their own work continue from it).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tqdm.auto import tqdm

from offline_data.shared.errors import InputError

RAY_EXTRA = "pip install 'recgym[ray]'"
CONNECT_TIMEOUT_S = 5.0
RAY_AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"
FINISHED = "job_finished"
Report = Callable[[dict[str, Any]], None]
Job = Callable[[Any, Report], None]


class JobsStoppedError(InputError):
    """Jobs were stopped (Ctrl-C) before all finished; Tune's state allows resuming."""


@dataclass(frozen=True)
class EngineOptions:
    """Where and how wide jobs run."""

    address: str | None = None
    """A Ray cluster (`ray://host:10001`, `host:6379` or `auto`); None starts Ray here."""
    max_concurrent: int | None = None
    """Jobs at a time (default: the cluster's CPUs)."""
    cpus_per_job: float = 1.0
    progress: bool = True
    """Show a bar of finished jobs."""

    def __post_init__(self) -> None:
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise InputError(f"--max-concurrent must be at least 1, got {self.max_concurrent}")


def require_ray() -> Any:
    """The `ray` module, or an `InputError` that names the extra to install."""
    try:
        import ray
        import ray.tune
    except ImportError:
        raise InputError(f"sweeps and --engine ray run on Ray Tune, which is not installed; "
                         f"{RAY_EXTRA}") from None
    return ray


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Fail in seconds, in one line, when nothing listens at a cluster address."""
    if address == "auto":
        return
    parts = urlsplit(address if "://" in address else f"ray://{address}")
    if parts.hostname is None or parts.port is None:
        raise InputError(f"--address {address}: give host:port, e.g. ray://head-node:10001")
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError(f"--address {address}: no Ray cluster answers at "
                         f"{parts.hostname}:{parts.port} ({reason}); start one there "
                         "(`ray start --head`) or leave --address out to run on this "
                         "machine") from None


def start_ray(options: EngineOptions) -> Any:
    """Connect to the cluster of `options.address`, or start Ray here on this machine's
    cores (quietly, no dashboard)."""
    ray = require_ray()
    if ray.is_initialized():
        return ray
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    settings: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                "configure_logging": False, "logging_level": logging.ERROR}
    if options.address is not None:
        check_reachable(options.address)
        try:
            ray.init(address=options.address, **settings)
        except (ConnectionError, TimeoutError, RuntimeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"--address {options.address}: cannot join the Ray cluster "
                             f"({first})") from None
    else:  # Ray's default token authentication, without its notice about it; trials at
        # the priority a plain `recgym train` has (Ray's workers default to nice 15)
        logging.getLogger(RAY_AUTH_LOGGER).setLevel(logging.ERROR)
        os.environ.setdefault("RAY_worker_niceness", "0")
        ray.init(num_cpus=max(os.cpu_count() or 1, options.max_concurrent or 0), **settings)
    return ray


def run_jobs(job: Job, items: Sequence[Any], *, storage: Path, name: str,
             options: EngineOptions, resume: bool = False,
             metric: str | None = None, mode: str | None = None) -> list[dict[str, Any]]:
    """Run `job(item, report)` for every item as a Tune trial; returns, per item in order,
    the last metrics it reported (`{}` for one that reported nothing) plus `error` (the
    error's text) for one that failed; raises `JobsStoppedError` when a job was stopped
    (Ctrl-C) before it finished. Tune's state goes to `storage/name` (on a cluster, a
    folder every node sees); `resume` restores it (refused when there is none)."""
    start_ray(options)
    from ray import tune

    logging.getLogger("ray.tune").setLevel(logging.ERROR)  # our messages say what happened

    def trainable(config: dict[str, Any]) -> None:
        last: dict[str, Any] = {}

        def report(metrics: dict[str, Any]) -> None:
            last.clear()
            last.update(metrics)
            tune.report(metrics)

        job(items[config["index"]], report)
        tune.report({**last, FINISHED: True})  # what tells a finished job from a stopped one

    progress = progress_bar(tune, len(items), "trials", enabled=options.progress)
    resources = tune.with_resources(trainable, {"cpu": options.cpus_per_job})
    experiment = (storage / name).resolve()
    if resume:
        if not tune.Tuner.can_restore(str(experiment)):
            raise InputError(f"{storage}: no Tune state to resume in {experiment}; run "
                             "without --resume")
        tuner = tune.Tuner.restore(str(experiment), resources, resume_unfinished=True,
                                   restart_errored=True)
    else:
        tuner = tune.Tuner(
            resources,
            param_space={"index": tune.grid_search(list(range(len(items))))},
            tune_config=tune.TuneConfig(max_concurrent_trials=options.max_concurrent,
                                        reuse_actors=True,
                                        metric=metric, mode=mode),
            run_config=tune.RunConfig(name=name, storage_path=str(experiment.parent),
                                      verbose=0, callbacks=[progress],
                                      failure_config=tune.FailureConfig(max_failures=0)))
    try:
        grid = tuner.fit()
    finally:
        progress.close()
    found: list[dict[str, Any]] = [{} for _ in items]
    for position in range(len(grid)):
        result = grid[position]
        if "index" not in (result.config or {}):  # stopped before it started
            continue
        index = int((result.config or {})["index"])
        found[index] = dict(result.metrics or {})
        if result.error is not None:
            found[index]["error"] = str(result.error).strip().splitlines()[-1]
    stopped = [r for r in found if not r.get(FINISHED) and "error" not in r]
    if stopped:
        raise JobsStoppedError(f"interrupted: {len(items) - len(stopped)} of {len(items)} "
                               "jobs finished")
    return [{k: v for k, v in r.items() if k != FINISHED} for r in found]


def progress_bar(tune: Any, total: int, desc: str, *, enabled: bool) -> Any:
    """A Tune callback that shows finished jobs on a tqdm bar (and the last metric each
    reported); it pickles without its bar, as Tune stores callbacks with its state."""
    class Progress(tune.Callback):
        def __init__(self) -> None:
            self.bar: tqdm[Any] | None = None

        def setup(self, **info: Any) -> None:
            self.bar = tqdm(total=total, desc=desc, unit="job", disable=not enabled)

        def on_trial_complete(self, iteration: int, trials: Any, trial: Any,
                              **info: Any) -> None:
            if self.bar is not None:
                self.bar.update(1)

        on_trial_error = on_trial_complete

        def close(self) -> None:
            if self.bar is not None:
                self.bar.close()
                self.bar = None

        def __getstate__(self) -> dict[str, Any]:
            return {"bar": None}

    return Progress()


def stop_ray() -> None:
    """Leave Ray: shut down the one this process started, or disconnect from a cluster."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
