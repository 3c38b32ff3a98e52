"""Stored section runs: `docs/results/<section>.json` holds the command, start time, wall
time, machine and commit beside the benchmark's own JSON; written atomically."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from offline_data.shared.atomic import atomic_write_bytes
from resultspage.sections import Section, section_names

WALL_KEYS = ("wall_s", "seconds")
"""Top-level keys a benchmark's JSON may hold its own wall time under."""


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def gpu_name() -> str:
    """The first NVIDIA GPU's name (`nvidia-smi`), or `none`."""
    if shutil.which("nvidia-smi") is None:
        return "none"
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return "none"
    names = done.stdout.strip().splitlines()
    return names[0].strip() if done.returncode == 0 and names else "none"


def package_version(name: str) -> str:
    """An installed package's version, or `not installed`."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, Any]:
    """The machine a run happens on: CPU model, cores, load, torch and Python versions,
    GPU (torch is not imported: its version comes from the installed metadata)."""
    try:
        load: float | None = round(os.getloadavg()[0], 2)
    except OSError:
        load = None
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "load_avg_1min": load,
            "torch": package_version("torch"), "python": platform.python_version(),
            "gpu": gpu_name(), "platform": platform.platform()}


def git_commit(root: Path) -> dict[str, Any]:
    """HEAD's hash and whether tracked files differ from it (`dirty`)."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                                  timeout=30, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": git("rev-parse", "HEAD") or "unknown",
            "dirty": None if status is None else bool(status)}


def now_iso() -> str:
    """The current time, ISO 8601 in UTC, to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def make_record(section: Section, result: Any, *, started: str, wall_s: float | None,
                root: Path, imported_from: str | None = None) -> dict[str, Any]:
    """The stored form of one run of `section`."""
    record: dict[str, Any] = {"section": section.name, "command": section.command,
                              "started": started,
                              "wall_s": None if wall_s is None else round(wall_s, 1),
                              "machine": machine_info(), **git_commit(root)}
    if imported_from is not None:
        record["imported_from"] = imported_from
    record["result"] = result
    return record


def record_path(store: Path, name: str) -> Path:
    """Where section `name` is stored."""
    return store / f"{name}.json"


def save(store: Path, record: dict[str, Any]) -> Path:
    """Write `record` atomically (a temporary file, then a rename) as its section's file."""
    text = json.dumps(record, indent=1, allow_nan=True) + "\n"
    return atomic_write_bytes(record_path(store, record["section"]), text.encode())


def load_all(store: Path) -> dict[str, dict[str, Any]]:
    """The stored records of the known sections, by name (unreadable files raise a
    `ValueError` naming them)."""
    records = {}
    for name in section_names():
        path = record_path(store, name)
        if path.is_file():
            try:
                records[name] = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError) as error:
                raise ValueError(f"{path}: unreadable stored run ({error}); rerun the "
                                 "section or delete the file") from None
    return records


def import_file(section: Section, path: Path, root: Path) -> dict[str, Any]:
    """The record of a JSON the user produced by running `section`'s benchmark by hand:
    the command from the registry, the wall time from the JSON when it holds one (`wall_s`
    or `seconds`), the start time from the file's modification time less that."""
    try:
        result = json.loads(path.read_text())
    except OSError as error:
        raise ValueError(f"{path}: cannot read it ({error.strerror})") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not JSON ({error})") from None
    if not isinstance(result, dict):
        raise ValueError(f"{path}: holds {type(result).__name__}, not a JSON object")
    wall = next((result[k] for k in WALL_KEYS if isinstance(result.get(k), int | float)),
                None)
    started = datetime.fromtimestamp(path.stat().st_mtime - (wall or 0.0), timezone.utc)
    return make_record(section, result, started=started.replace(microsecond=0).isoformat(),
                       wall_s=wall, root=root, imported_from=str(path))
