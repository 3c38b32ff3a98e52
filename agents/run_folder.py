"""The layout of a training run folder: `config.json`, `metrics.csv`, `tb/`,
`checkpoints/step-N/` (`agent/` with its training state, `config.json`, `rng.pt`) and, once
training is done, the trained agent in `agent/`."""

from __future__ import annotations

from pathlib import Path

from agents.base import AGENT_FILE
from offline_data.shared.errors import InputError
from recgym.runs import CONFIG_FILE

CHECKPOINTS = "checkpoints"
AGENT_FOLDER = "agent"
RNG_FILE = "rng.pt"


def checkpoints(out: Path) -> list[Path]:
    """The checkpoint folders of a run, oldest first (names are zero-padded steps)."""
    folder = out / CHECKPOINTS
    return sorted(folder.glob("step-*")) if folder.is_dir() else []


def latest_checkpoint(out: Path) -> Path | None:
    """The newest checkpoint folder of a run, if any."""
    found = checkpoints(out)
    return found[-1] if found else None


def is_run(folder: Path) -> bool:
    """True for a run folder (it has `config.json` and is not a checkpoint)."""
    return (folder / CONFIG_FILE).is_file() and folder.parent.name != CHECKPOINTS


def trained_agent(out: Path) -> Path:
    """The trained agent of a run (`agent/`); a run without one yet raises an error that
    says how to get one: resume the training, or evaluate its last checkpoint."""
    folder = out / AGENT_FOLDER
    if (folder / AGENT_FILE).is_file():
        return folder
    resume = f"finish the training with `recgym train --out {out} --resume`"
    last = latest_checkpoint(out)
    if last is None:
        raise InputError(f"{out} has no trained agent yet (its training stopped before the "
                         f"first checkpoint); {resume}")
    raise InputError(f"{out} has no trained agent yet (its training stopped at "
                     f"{last.name}); {resume}, or evaluate that checkpoint with `recgym "
                     f"evaluate {last}`")


def config_folder(path: Path) -> Path | None:
    """The folder whose `config.json` describes `path` (a run folder or a checkpoint: its
    own, else its run's), or None."""
    if (path / CONFIG_FILE).is_file():
        return path
    if path.parent.name == CHECKPOINTS and (path.parent.parent / CONFIG_FILE).is_file():
        return path.parent.parent
    return None
