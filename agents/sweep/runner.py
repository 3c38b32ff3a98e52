"""`run_sweep`: plan a sweep's trials, run them on Ray Tune, write the table and plot.

The sweep folder holds `sweep.json` (the sweep and its trials: what `--resume` checks),
`trials/<trial>/` (ordinary run folders: `recgym evaluate` and `recgym plot` work on each),
`tune/` (Tune's experiment state, for resuming), `summary.csv` and `curves.png`.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from agents.sweep.config import SweepConfig, Trial, plan_trials
from agents.sweep.engine import EngineOptions, JobsStoppedError, require_ray, run_jobs
from agents.sweep.summary import sweep_table, write_summary
from agents.sweep.trial import TrialJob
from offline_data.shared.atomic import atomic_write_bytes, check_output_dir
from offline_data.shared.errors import InputError
from offline_data.shared.jsonfile import read_json_object

SWEEP_FILE = "sweep.json"
TRIALS = "trials"
TUNE = "tune"


@dataclass(frozen=True)
class SweepResult:
    """What a sweep left: its table, the trials that failed (name: error) and its files."""

    table: pd.DataFrame
    failed: dict[str, str]
    files: list[Path]


def sweep_record(config: SweepConfig, trials: list[Trial]) -> dict[str, object]:
    """What `sweep.json` holds."""
    return {"sweep": config.to_dict(), "trials": [t.to_dict() for t in trials]}


def start_folder(out: Path, record: dict[str, object], *, overwrite: bool) -> None:
    """Start the sweep folder with its `sweep.json` (refusing one recgym did not write)."""
    check_output_dir(out, overwrite=overwrite, marker=SWEEP_FILE)
    if out.exists() and overwrite:
        shutil.rmtree(out)
    out.mkdir(parents=True)
    atomic_write_bytes(out / SWEEP_FILE, json.dumps(record, indent=2).encode())


def stored_trials(out: Path, config: SweepConfig) -> list[Trial]:
    """The trials of the sweep to resume in `out`, as they were planned (paths resolved
    where it started); refused when `config` is not the sweep it holds."""
    record = read_json_object(out / SWEEP_FILE, missing=f"cannot resume {out}: no "
                              f"{SWEEP_FILE} (was it written by `recgym sweep`?)")
    if record.get("sweep") != json.loads(json.dumps(config.to_dict())):
        raise InputError(f"cannot resume {out}: its {SWEEP_FILE} holds another sweep "
                         "(its settings differ); resume with the config it was started "
                         "with (or leave --config out), or start a new sweep in another "
                         "folder")
    try:
        return [Trial(**trial) for trial in record["trials"]]
    except (KeyError, TypeError):
        raise InputError(f"{out / SWEEP_FILE}: damaged (its trials cannot be read); start "
                         "the sweep again in another folder") from None


def stored_config(path: Path) -> SweepConfig:
    """The sweep a `sweep.json` was written for (to resume without its YAML)."""
    data = read_json_object(path, missing=f"cannot resume: no {path} (was the folder written "
                            "by `recgym sweep`?)")
    try:
        return SweepConfig().replace(**data.get("sweep", {}))
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def run_sweep(config: SweepConfig, out: str | Path, *, options: EngineOptions | None = None,
              resume: bool = False, overwrite: bool = False, root: Path | None = None
              ) -> SweepResult:
    """Run every trial of `config` into `out` (see the module docstring); relative file
    settings are read from `root` (default: the working folder)."""
    require_ray()  # a missing extra is named before anything else
    out = Path(out).resolve()
    if resume:
        trials = stored_trials(out, config)
    else:
        trials = plan_trials(config, (root or Path.cwd()).resolve())
        start_folder(out, sweep_record(config, trials), overwrite=overwrite)
    try:
        results = run_jobs(TrialJob(config.kind, out / TRIALS), trials, storage=out,
                           name=TUNE, options=options or EngineOptions(), resume=resume,
                           metric=config.metric, mode=config.mode)
    except JobsStoppedError as stop:
        raise JobsStoppedError(f"sweep {stop}; continue it with `recgym sweep --out {out} "
                               "--resume`") from None
    failed = {t.name: r["error"] for t, r in zip(trials, results, strict=True) if "error" in r}
    table = sweep_table(trials, out / TRIALS, config.metric, config.mode)
    files = write_summary(table, trials, out / TRIALS, out, config.metric)
    return SweepResult(table, failed, files)
