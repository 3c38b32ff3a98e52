"""Rendering `docs/results.md` from the stored section runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from resultspage.markdown import duration
from resultspage.sections import Section

INTRO = """\
# recgym results

Every measured table of the project, each with the command that made it, its seeds, wall
time, machine, date and commit, so anyone can rerun it. This page is generated: do not edit
it by hand. `python benchmarks/results.py` runs the benchmarks one at a time (a subprocess
of the same Python, in the repository root), stores each one's JSON with those details in
`docs/results/<section>.json`, and writes this page from everything stored.

## How to regenerate

```sh
python benchmarks/results.py --list                            # sections, commands, rough times
python benchmarks/results.py --sections loading,env_throughput # run these, then re-render
python benchmarks/results.py                                   # every section (many hours)
python benchmarks/results.py --import drr_reproduction=drr.json  # store a JSON run by hand
python benchmarks/results.py --render-only                     # re-render from what is stored
```

A section that needs `../shared/data` (or RecSim's venv) is skipped with a message where it
is absent. A failing benchmark is reported with the end of its stderr; the other sections
still run and keep their stored results. Absolute speeds move with the machine's load: the
ratios measured in the same run (to RecSim, to d3rlpy) are what carry over between machines.
"""


def when(iso: str | None) -> str:
    """An ISO time as `2025-01-31 14:05 UTC` (as given when it does not parse)."""
    if not iso:
        return "not recorded"
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return iso


def machine_text(machine: Mapping[str, Any]) -> str:
    """One line for the machine of a run."""
    load = machine.get("load_avg_1min")
    gpu = machine.get("gpu") or "none"
    return (f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores"
            + ("" if load is None else f" (load average {load} at the start)")
            + f", Python {machine.get('python', '?')}, torch {machine.get('torch', '?')}, "
            + ("no GPU" if gpu == "none" else f"GPU {gpu}"))


def contents(sections: Sequence[Section], records: Mapping[str, Mapping[str, Any]]) -> str:
    """The table of contents, with each section's date or `not generated yet`."""
    lines = ["## Contents", ""]
    for s in sections:
        state = when(records[s.name].get("started")) if s.name in records else (
            "not generated yet")
        lines.append(f"- [{s.title}](#{s.name}): {state}")
    return "\n".join(lines)


def section_text(section: Section, record: Mapping[str, Any] | None,
                 missing: Sequence[str]) -> tuple[str, str | None]:
    """One section's markdown, and the error when its table cannot be rendered."""
    head = [f'<a id="{section.name}"></a>', f"## {section.title}", "", section.note, ""]
    if record is None:
        absent = f" (needs {', '.join(missing)}: absent here)" if missing else ""
        return "\n".join([*head, f"- command: `{section.command}`",
                          f"- seeds: {section.seeds}", f"- rough time: {section.time}", "",
                          "not generated yet: run `python benchmarks/results.py --sections "
                          f"{section.name}`{absent}"]), None
    command = record.get("command", section.command)
    lines = [*head, f"- command: `{command}` ({section.output_text})"]
    if command != section.command:
        lines.append(f"- (the registry now runs `{section.command}`; rerun to match)")
    commit = str(record.get("commit", "unknown"))
    dirty = " (with uncommitted changes)" if record.get("dirty") else ""
    machine = machine_text(record.get("machine", {}))
    if "imported_from" in record:
        machine += " (where the JSON was imported; the run may have been elsewhere)"
    lines += [f"- seeds: {section.seeds}",
              f"- wall time: {duration(record.get('wall_s'))}",
              f"- machine: {machine}",
              f"- date: {when(record.get('started'))}",
              f"- commit: `{commit[:10]}`{dirty}"]
    if "imported_from" in record:
        lines.append(f"- imported from `{Path(record['imported_from']).name}`")
    error = None
    try:
        body = section.table(record["result"])
    except Exception as exc:  # a stored JSON of another shape: say so, render the rest
        error = f"{section.name}: the table cannot be rendered ({type(exc).__name__}: {exc})"
        body = (f"**The table cannot be rendered from the stored JSON** ({type(exc).__name__}: "
                f"{exc}); rerun the section or update its table function.")
    return "\n".join([*lines, "", body]), error


def render_page(sections: Sequence[Section], records: Mapping[str, Mapping[str, Any]],
                root: Path) -> tuple[str, list[str]]:
    """The whole page from the stored `records`, and the sections that failed to render."""
    parts, errors = [INTRO.rstrip(), contents(sections, records)], []
    for s in sections:
        missing = [f"{n.what} at {n.path}" for n in s.missing(root)]
        text, error = section_text(s, records.get(s.name), missing)
        parts.append(text)
        if error:
            errors.append(error)
    return "\n\n".join(parts) + "\n", errors
