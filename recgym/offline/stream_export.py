"""Episodes of a log larger than memory, built and written one partition at a time.

Partitions hold whole users and episodes never cross users, so `episodes_from_log` on
each partition (with the observation bounds of the whole log) gives exactly the episodes
of the whole log; they are appended to one `steps.parquet` as they are built. The folder
is the one `TrajectoryDataset.to_parquet` writes (`TrajectoryDataset.from_parquet` reads
it whole; pyarrow can read it by row group).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from offline_data.partitioned import PartitionedLog
from offline_data.shared.atomic import atomic_directory
from offline_data.shared.errors import InputError
from recgym.env_config import EnvConfig
from recgym.offline.dataset import DATASET_FILE, STEPS_FILE
from recgym.offline.episodes import episodes_from_log
from recgym.offline.reference import reference_from_partitioned


@dataclass(frozen=True)
class StreamedExport:
    """What `episodes_to_parquet` wrote."""

    directory: Path
    episodes: int
    steps: int
    terminals: int
    behaviour: str | None


def episodes_to_parquet(
    dataset: PartitionedLog,
    directory: str | Path,
    env_config: EnvConfig | None = None,
    reward_weights: dict[str, float] | None = None,
    *,
    episodes_per_user: int | None = None,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> StreamedExport:
    """Build the episodes of a partitioned log (as `episodes_from_log` builds those of a
    log in memory, observations defined by the log) and write them as a trajectory
    dataset folder, holding one partition's episodes at a time. Atomic; an existing
    folder is replaced only with `overwrite=True` and only if recgym wrote it.
    `progress(done, total)` is called after each partition."""
    reference = reference_from_partitioned(dataset)
    episodes = steps = terminals = 0
    behaviour: str | None = None
    with atomic_directory(directory, overwrite=overwrite, marker=DATASET_FILE) as tmp:
        writer: pq.ParquetWriter | None = None
        last = None
        try:
            for done, log in enumerate(dataset.partitions(), start=1):
                part = episodes_from_log(log, env_config, reward_weights, reference=reference,
                                         episodes_per_user=episodes_per_user)
                table = part.steps_table(episode_offset=episodes)
                if writer is None:
                    writer = pq.ParquetWriter(tmp / STEPS_FILE, table.schema)
                elif table.schema != writer.schema:
                    raise InputError(f"{log.source}: its episodes differ in layout from the "
                                     "other partitions' (e.g. propensities recorded in some "
                                     "only); export the log in memory instead")
                writer.write_table(table)
                episodes += part.n_episodes
                steps += part.n_steps
                terminals += int(part.terminals.sum())
                behaviour, last = part.behaviour, part
                if progress is not None:
                    progress(done, dataset.n_partitions)
        finally:
            if writer is not None:
                writer.close()
        if last is None:
            raise InputError(f"{dataset.source}: no partition has rows; nothing to export")
        last.write_meta(tmp, source=dataset.source)
    return StreamedExport(Path(directory), episodes, steps, terminals, behaviour)
