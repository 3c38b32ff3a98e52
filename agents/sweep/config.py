"""A sweep's configuration (`sweep.yaml`), checked whole before anything runs.

```yaml
kind: online            # online runs (`recgym train`) or offline runs (`recgym offline`)
metric: total_return    # ranks the table; reported to Tune as the trials' score
mode: max               # or min
samples: 1              # draws of the `random` part per grid point
seed: 0                 # seeds those draws
fixed:                  # settings every trial shares (TrainConfig / OfflineRunConfig fields)
  steps: 4000
  eval_every: 2000
grid:                   # every combination; `seed` lists the seeds of each configuration
  agent: [ppo, dqn]
  seed: [0, 1, 2]
random:                 # drawn `samples` times per grid point (all seeds share a draw)
  agent_kwargs.learning_rate: {loguniform: [1.0e-4, 1.0e-2]}
```

Keys are run-config fields, `agent_kwargs.NAME` / `env_kwargs.NAME` for one setting of
those dicts, and `member` (online, `RecGym/SimSet-v0`): one simulator-set member per trial.
Distributions: `uniform: [lo, hi]`, `loguniform: [lo, hi]`, `randint: [lo, hi]` (hi
excluded) and `choice: [a, b, ...]`. Every trial's settings are checked up front (unknown
agents, fields and agent settings are named with a 'did you mean').
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from agents.offline_runs.config import SYNTHETIC, OfflineRunConfig
from agents.offline_runs.training import agent_settings as offline_settings
from agents.registry import agent_class
from agents.train_config import TrainConfig, agent_settings
from agents.training import REPORTED
from offline_data.shared.config import ConfigMixin
from offline_data.shared.errors import InputError

KINDS = ("online", "offline")
DISTRIBUTIONS = ("uniform", "loguniform", "randint", "choice")
SECTIONS = ("kind", "metric", "mode", "samples", "seed", "fixed", "grid", "random", "name")
MEMBER = "member"
"""Shorthand key: one simulator-set member per trial (`env_kwargs.members: [m]`)."""
PATH_SETTINGS = ("env_kwargs.simulator_set", "env_kwargs.simulator", "env_kwargs.data_path",
                 "data", "simulator")
"""Settings that name files: made absolute where the sweep starts, as trials may run in
other working folders (or on other machines sharing the storage)."""


@dataclass(frozen=True)
class Trial:
    """One training run of a sweep: a configuration (its settings but the seed) and a
    seed. `name` is its run folder's name."""

    name: str
    configuration: str
    """The label of its configuration (the same for all its seeds)."""
    seed: int
    settings: dict[str, Any]
    """Dotted settings (`agent`, `agent_kwargs.learning_rate`, ...) over the fixed ones."""

    def run_config(self, kind: str) -> TrainConfig | OfflineRunConfig:
        """The run config this trial trains with."""
        return run_config(kind, {**self.settings, "seed": self.seed,
                                 "name": self.configuration})

    def to_dict(self) -> dict[str, Any]:
        """As JSON."""
        return {"name": self.name, "configuration": self.configuration, "seed": self.seed,
                "settings": self.settings}


@dataclass(frozen=True)
class SweepConfig(ConfigMixin):
    """A grid and / or random search over run settings; see the module docstring."""

    kind: str = "online"
    metric: str = "total_return"
    mode: str = "max"
    samples: int = 1
    seed: int = 0
    name: str = "sweep"
    fixed: dict[str, Any] = field(default_factory=dict, hash=False)
    grid: dict[str, list[Any]] = field(default_factory=dict, hash=False)
    random: dict[str, dict[str, list[Any]]] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.mode not in ("max", "min"):
            raise InputError(f"mode must be 'max' or 'min', got {self.mode!r}")
        for name, least in (("samples", 1), ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise InputError(f"{name} must be a whole number >= {least}, got {value!r}")
        for section in ("fixed", "grid", "random"):
            if not isinstance(getattr(self, section), dict):
                raise InputError(f"{section} must be a mapping of settings to values")
        for key, values in self.grid.items():
            if not isinstance(values, list) or not values:
                raise InputError(f"grid.{key}: give a non-empty list of values, e.g. "
                                 f"'{key}: [a, b]'")
        for key, spec in self.random.items():
            check_distribution(key, spec)
        both = sorted((set(self.fixed) | set(self.grid)) & set(self.random)
                      | set(self.fixed) & set(self.grid))
        if both:
            raise InputError(f"{', '.join(both)}: set in more than one of fixed, grid and "
                             "random; keep each setting in one")
        if "seed" in self.random or "name" in self.grid or "name" in self.random:
            raise InputError("seed belongs in grid (the seeds of every configuration) or "
                             "fixed, and name is set by the sweep")
        check_metric(self.kind, self.metric)

    @property
    def seeds(self) -> list[int]:
        """The seeds every configuration trains with."""
        return [int(s) for s in self.grid.get("seed", [self.fixed.get("seed", 0)])]


OFFLINE_METRIC_PREFIXES = ("ope_", "hr@", "ndcg@", "precision@")


def check_metric(kind: str, metric: str) -> None:
    """Refuse a metric the runs of `kind` do not report (with a 'did you mean')."""
    if metric in REPORTED or (kind == "offline" and metric.startswith(OFFLINE_METRIC_PREFIXES)):
        return
    close = difflib.get_close_matches(str(metric), REPORTED, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    extra = ", ope_<estimator>, hr@10, ndcg@10" if kind == "offline" else ""
    raise InputError(f"metric: runs do not report {metric!r}{hint}; known: "
                     f"{', '.join(REPORTED)}{extra}")


def check_distribution(key: str, spec: Any) -> None:
    """Refuse a `random` entry that is not one known distribution with sound arguments."""
    example = "{loguniform: [1.0e-4, 1.0e-2]}"
    if not isinstance(spec, dict) or len(spec) != 1:
        raise InputError(f"random.{key}: give one distribution, e.g. {example}")
    (kind, args), = spec.items()
    if kind not in DISTRIBUTIONS:
        close = difflib.get_close_matches(str(kind), DISTRIBUTIONS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InputError(f"random.{key}: unknown distribution {kind!r}{hint}; known: "
                         f"{', '.join(DISTRIBUTIONS)}")
    if not isinstance(args, list) or not args:
        raise InputError(f"random.{key}: {kind} takes a list, e.g. {example}")
    if kind == "choice":
        return
    if len(args) != 2 or not all(isinstance(a, int | float) and not isinstance(a, bool)
                                 for a in args) or not args[0] < args[1]:
        raise InputError(f"random.{key}: {kind} takes [low, high] with low < high, got {args}")
    if kind == "loguniform" and args[0] <= 0:
        raise InputError(f"random.{key}: loguniform needs low > 0, got {args}")
    if kind == "randint" and not all(isinstance(a, int) for a in args):
        raise InputError(f"random.{key}: randint takes whole numbers, got {args}")


def draw(spec: dict[str, list[Any]], rng: np.random.Generator) -> Any:
    """One value from a checked distribution."""
    (kind, args), = spec.items()
    if kind == "choice":
        return args[int(rng.integers(len(args)))]
    if kind == "randint":
        return int(rng.integers(args[0], args[1]))
    if kind == "loguniform":
        return float(np.exp(rng.uniform(np.log(args[0]), np.log(args[1]))))
    return float(rng.uniform(args[0], args[1]))


def read_sweep_config(path: str | Path) -> SweepConfig:
    """The sweep of a YAML (or JSON) file; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"--config {path}: no such file; write a sweep.yaml (see "
                         "`recgym sweep --help` and the README's sweep section)")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise InputError(f"{path}: not valid YAML{where}: "
                         f"{getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping with sections {', '.join(SECTIONS)}")
    try:
        return SweepConfig().replace(**{k: v for k, v in data.items()})
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def run_config(kind: str, settings: dict[str, Any]) -> TrainConfig | OfflineRunConfig:
    """The run config of dotted `settings` (unknown fields named with a 'did you mean');
    the agent settings are checked against the agent's config."""
    nested: dict[str, Any] = {}
    for key, value in settings.items():
        head, dot, tail = key.partition(".")
        if not dot:
            nested[head] = value
        elif head in ("agent_kwargs", "env_kwargs"):
            nested[head] = {**nested.get(head, {}), tail: value}
        else:
            raise InputError(f"{key}: only agent_kwargs.NAME and env_kwargs.NAME may be "
                             "dotted")
    if MEMBER in nested:
        member = nested.pop(MEMBER)
        nested["env_kwargs"] = {**nested.get("env_kwargs", {}), "members": [int(member)]}
    base: TrainConfig | OfflineRunConfig = (TrainConfig() if kind == "online"
                                            else OfflineRunConfig())
    config = base.replace(**nested)
    if isinstance(config, TrainConfig):
        agent_class(config.agent).config_class().replace(**agent_settings(config))
    else:
        agent_class(config.algo).config_class().replace(**offline_settings(config))
    return config


def absolute_paths(settings: dict[str, Any], root: Path) -> dict[str, Any]:
    """`settings` with the file settings (`PATH_SETTINGS`) made absolute against `root`."""
    def fixed(key: str, value: Any) -> Any:
        if key not in PATH_SETTINGS or not isinstance(value, str) or value == SYNTHETIC:
            return value
        return str((root / value).resolve())
    return {k: fixed(k, v) for k, v in settings.items()}


def configurations(config: SweepConfig, root: Path) -> list[dict[str, Any]]:
    """The settings of every configuration (seed aside): grid points x `samples` draws of
    the random part, seeded by `config.seed`, each over the fixed settings."""
    grid = {k: v for k, v in config.grid.items() if k != "seed"}
    rng = np.random.default_rng(config.seed)
    found: list[dict[str, Any]] = []
    for values in itertools.product(*grid.values()):
        point = dict(zip(grid, values, strict=True))
        for _ in range(config.samples if config.random else 1):
            drawn = {k: draw(spec, rng) for k, spec in config.random.items()}
            settings = {k: v for k, v in config.fixed.items() if k != "seed"}
            settings = absolute_paths({**settings, **point, **drawn}, root)
            if settings not in found:  # a draw that repeats one (choice) is one configuration
                found.append(settings)
    return found


def labels(configurations: list[dict[str, Any]], varied: list[str]) -> list[str]:
    """The configurations' names in tables and plots: their varied settings (floats to 4
    significant digits), made unique with `#<index>` where two would read the same."""
    def show(value: Any) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)
    names = [" ".join(f"{k.split('.')[-1]}={show(c[k])}" for k in varied if k in c)
             or str(c.get("agent") or c.get("algo") or "run") for c in configurations]
    return [f"{name} #{i}" if names.count(name) > 1 else name
            for i, name in enumerate(names)]


def slug(text: str) -> str:
    """`text` as a folder-name piece."""
    safe = "".join(c if c.isalnum() or c in "-_.=" else "-" for c in text)
    return "-".join(p for p in safe.split("-") if p)[:60]


def plan_trials(config: SweepConfig, root: Path,
                check: Callable[[str, dict[str, Any]], object] = run_config) -> list[Trial]:
    """Every trial of the sweep (configurations x seeds), each checked by `check` first
    (errors name the trial's settings)."""
    varied = [k for k in [*config.grid, *config.random] if k != "seed"]
    trials = []
    found = configurations(config, root)
    for index, (settings, name) in enumerate(zip(found, labels(found, varied), strict=True)):
        for seed in config.seeds:
            try:
                check(config.kind, {**settings, "seed": seed})
            except InputError as exc:
                shown = ", ".join(f"{k}={v}" for k, v in settings.items() if k in varied)
                where = f" (trial {shown})" if shown else ""
                raise InputError(f"{exc}{where}") from None
            runner = slug(str(settings.get("agent") or settings.get("algo") or config.kind))
            trials.append(Trial(f"{index:03d}-{runner}-seed{seed}", name, seed, settings))
    return trials
