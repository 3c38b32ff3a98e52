"""One sweep trial: an ordinary run folder trained by `recgym train` / `recgym offline`'s
code, its evaluations reported to Tune as they come."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.base import AGENT_FILE
from agents.determinism import deterministic_torch
from agents.run_folder import AGENT_FOLDER, latest_checkpoint
from agents.sweep.config import Trial
from agents.sweep.engine import Report
from recgym.runs import CONFIG_FILE, METRICS_FILE, read_run


def final_metrics(folder: Path) -> dict[str, Any]:
    """The last evaluation of a run folder (step included), or `{}` before the first."""
    if not (folder / METRICS_FILE).is_file():
        return {}
    _, frame = read_run(folder)
    last = frame.iloc[-1].to_dict()
    return {str(k): (int(v) if k == "step" else float(v)) for k, v in last.items()}


def is_finished(folder: Path) -> bool:
    """Whether a trial's run folder holds its trained agent."""
    return (folder / AGENT_FOLDER / AGENT_FILE).is_file()


@dataclass(frozen=True)
class TrialJob:
    """Trains one `Trial` into `trials_dir/<trial name>` (a job for `run_jobs`).

    A trial found finished reports its last evaluation; one with a checkpoint resumes from
    it; one that stopped before its first checkpoint starts again."""

    kind: str
    trials_dir: Path
    threads: int = 1
    """torch threads per trial (one per CPU Tune gives it)."""

    def __call__(self, trial: Trial, report: Report) -> None:
        """Run the trial, reporting each evaluation (and the last one at the end)."""
        from agents.offline_runs.training import train_offline
        from agents.training import train

        deterministic_torch(self.threads)
        folder = self.trials_dir / trial.name
        tag = {"trial": trial.name, "configuration": trial.configuration, "seed": trial.seed}
        if not is_finished(folder):
            resume = latest_checkpoint(folder) is not None
            overwrite = not resume and (folder / CONFIG_FILE).is_file()
            reported = []

            def on_eval(step: int, metrics: dict[str, float]) -> None:
                reported.append(step)
                report({**metrics, "step": step, **tag})

            config = trial.run_config(self.kind)
            run = train if self.kind == "online" else train_offline
            run(config, folder, resume=resume, overwrite=overwrite,  # type: ignore[arg-type]
                progress=False, on_eval=on_eval)
            if reported:
                return
        report({**final_metrics(folder), **tag})
