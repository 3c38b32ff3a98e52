"""`recgym data convert`: a log larger than memory into a partitioned Parquet folder."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from tqdm.auto import tqdm

from offline_data.convert import Progress, convert_log
from offline_data.log_options import LogOptions, loader_arguments
from offline_data.partitioned import DATASET_FILE
from offline_data.shared.atomic import check_output_dir
from offline_data.shared.errors import InputError

_STAGES = {"read": ("reading", "B", True), "write": ("writing partitions", "part", False)}


def run_convert(path: Path, out: Path, options: LogOptions, *, partitions: int | None,
                block_mb: float, overwrite: bool, progress: bool) -> None:
    """Convert the log at `path` (csv or kuairand, with the shared log options) into
    `out` and print what was written."""
    fmt, kwargs = loader_arguments(path, options)
    if fmt not in ("csv", "kuairand"):
        raise InputError(f"{path} is read as {fmt}; `data convert` reads csv files and "
                         "KuaiRand logs (pass --format csv or --format kuairand)")
    if partitions is not None and partitions < 1:
        raise InputError(f"--partitions must be a positive integer, got {partitions}")
    if not block_mb > 0:
        raise InputError(f"--block-size must be a positive number of MB, got {block_mb}")
    check_output_dir(out, overwrite=overwrite, marker=DATASET_FILE)
    started = time.perf_counter()
    bars = _Bars() if progress else None
    try:
        dataset = convert_log(path, out, fmt, partitions=partitions, block_mb=block_mb,
                              overwrite=overwrite, progress=bars.update if bars else None,
                              **kwargs)
    finally:
        if bars is not None:
            bars.close()
    seconds = time.perf_counter() - started
    typer.echo(f"wrote {dataset.n_interactions:,} interactions of {dataset.n_users:,} users "
               f"and {dataset.n_items:,} items in {dataset.n_partitions} partition(s) to {out} "
               f"({seconds:.1f} s, {dataset.n_interactions / max(seconds, 1e-9):,.0f} rows/s)")


class _Bars:
    """One tqdm bar per conversion stage (bytes read, partitions written)."""

    def __init__(self) -> None:
        self.bars: dict[str, tqdm] = {}

    def update(self, stage: str, done: int, total: int) -> None:
        """Move the bar of `stage` to `done` of `total`."""
        bar = self.bars.get(stage)
        if bar is None:
            desc, unit, scale = _STAGES[stage]
            bar = self.bars[stage] = tqdm(total=total, desc=desc, unit=unit, unit_scale=scale,
                                          leave=False)
        bar.update(max(done - bar.n, 0))

    def close(self) -> None:
        """Close every bar."""
        for bar in self.bars.values():
            bar.close()


__all__ = ["Progress", "run_convert"]
