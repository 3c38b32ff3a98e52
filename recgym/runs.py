"""Run folders: `config.json`, `metrics.csv` (rewritten atomically), TensorBoard events."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd

from offline_data.shared.atomic import atomic_write_bytes
from offline_data.shared.errors import InputError
from offline_data.shared.jsonfile import read_json_object

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
TB_FOLDER = "tb"


class RunWriter:
    """Writes the records of one training run into `folder`.

    `config.json` is (re)written at the start, so a resumed run records the budget it
    now runs to. Each `log(step, metrics)` appends a row (`step`, `wall_time` and every metric) to
    `metrics.csv`, which is rewritten through a temporary file so it is never half
    written, and to TensorBoard under `rec/<metric>` when `tensorboard` is installed.
    """

    def __init__(self, folder: str | Path, config: dict[str, Any], *, resume: bool = False,
                 tensorboard: bool = True) -> None:
        self.folder = Path(folder)
        self.rows: list[dict[str, Any]] = []
        self.started = time.perf_counter()
        self.offset = 0.0
        if resume and (self.folder / METRICS_FILE).is_file():
            self.rows = [{str(k): v for k, v in row.items()} for row in
                         pd.read_csv(self.folder / METRICS_FILE).to_dict("records")]
            self.offset = float(self.rows[-1]["wall_time"]) if self.rows else 0.0
        write_config(self.folder, config)  # on resume, with the budget it now runs to
        self.tb = _tensorboard(self.folder / TB_FOLDER) if tensorboard else None

    def log(self, step: int, metrics: dict[str, float]) -> None:
        """Record the metrics measured after `step` environment steps."""
        wall = self.offset + time.perf_counter() - self.started
        self.rows = [r for r in self.rows if int(r["step"]) < step]
        self.rows.append({"step": int(step), "wall_time": round(wall, 3), **metrics})
        csv = pd.DataFrame(self.rows).to_csv(index=False)
        atomic_write_bytes(self.folder / METRICS_FILE, csv.encode())
        if self.tb is not None:
            for key, value in metrics.items():
                self.tb.add_scalar(f"rec/{key}", value, step)
            self.tb.flush()

    def close(self) -> None:
        """Flush TensorBoard."""
        if self.tb is not None:
            self.tb.close()


def write_config(folder: str | Path, config: dict[str, Any]) -> Path:
    """Write `config.json` into `folder` (made if missing), atomically."""
    return atomic_write_bytes(Path(folder) / CONFIG_FILE,
                              json.dumps(config, indent=2, default=str).encode())


def _tensorboard(folder: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional for library users
        return None
    return SummaryWriter(str(folder))


def read_run(folder: str | Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """(config, metrics) of a run folder, with errors that name what is missing."""
    path = Path(folder)
    if not path.is_dir():
        raise InputError(f"run folder not found: {path}")
    if not (path / METRICS_FILE).is_file():
        raise InputError(f"{path}: no {METRICS_FILE}; is it a folder written by `recgym train`?")
    config = (read_json_object(path / CONFIG_FILE, missing="", hint="write the run again")
              if (path / CONFIG_FILE).is_file() else {})
    try:
        metrics = pd.read_csv(path / METRICS_FILE)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path / METRICS_FILE}: unreadable ({type(exc).__name__}); it may "
                         "be damaged or not written by `recgym train`") from None
    if metrics.empty:
        raise InputError(f"{path / METRICS_FILE} has no rows yet")
    return config, metrics
