"""Running one section's benchmark: a subprocess of this Python in the repository root,
its output echoed as it comes, its JSON captured from stdout or from the file it writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from resultspage.sections import OUT, Section
from resultspage.store import make_record, now_iso

TAIL_LINES = 30


@dataclass(frozen=True)
class Outcome:
    """A run's stored record, or why there is none."""

    record: dict[str, Any] | None
    error: str | None = None


def last_json(text: str) -> dict[str, Any] | None:
    """The last JSON object printed in `text`: one starting at the beginning of a line,
    after any progress lines, on one line or spread over several (`indent`)."""
    decoder = json.JSONDecoder()
    starts, offset = [], 0
    for line in text.splitlines(keepends=True):
        if line.startswith("{"):
            starts.append(offset)
        offset += len(line)
    for start in reversed(starts):
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


def tail(text: str, lines: int = TAIL_LINES) -> str:
    """The last `lines` lines of `text`, indented for a report."""
    kept = text.rstrip().splitlines()[-lines:]
    return "\n".join("    " + line for line in kept) if kept else "    (nothing)"


def _pump(stream: IO[str], keep: list[str], prefix: str, echo: bool) -> None:
    for line in stream:
        keep.append(line)
        if echo:
            sys.stderr.write(prefix + line)
            sys.stderr.flush()


def execute(argv: list[str], root: Path, prefix: str, echo: bool) -> tuple[int, str, str]:
    """Run `argv` in `root` (with `root` on PYTHONPATH); its exit status, stdout and
    stderr, each line also echoed to stderr behind `prefix` when `echo`."""
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}
    out: list[str] = []
    err: list[str] = []
    with subprocess.Popen(argv, cwd=root, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, bufsize=1) as process:
        assert process.stdout is not None and process.stderr is not None
        pumps = [threading.Thread(target=_pump, args=(process.stdout, out, prefix, echo)),
                 threading.Thread(target=_pump, args=(process.stderr, err, prefix, echo))]
        for pump in pumps:
            pump.start()
        try:
            status = process.wait()
        except BaseException:  # Ctrl-C: stop the benchmark too
            process.terminate()
            raise
        finally:
            for pump in pumps:
                pump.join()
    return status, "".join(out), "".join(err)


def run_section(section: Section, root: Path, echo: bool = True) -> Outcome:
    """Run `section`'s benchmark and return its record (not yet stored), or the error:
    which benchmark failed and the tail of its stderr."""
    with tempfile.TemporaryDirectory(prefix=f"recgym-results-{section.name}-") as scratch:
        out = Path(scratch) / "out"
        argv = [sys.executable, *(a.replace(OUT, str(out)) for a in section.argv)]
        started, clock = now_iso(), time.perf_counter()
        status, stdout, stderr = execute(argv, root, f"  [{section.name}] ", echo)
        wall = time.perf_counter() - clock
        where = f"{section.name} (`{section.command}`)"
        result: Any
        if status != 0:
            return Outcome(None, f"{where} failed with exit status {status}; the end of its "
                                 f"stderr:\n{tail(stderr)}")
        if section.output is None:
            result = last_json(stdout)
            if result is None:
                return Outcome(None, f"{where} printed no JSON object; the end of its "
                                     f"stdout:\n{tail(stdout)}")
        else:
            path = out / section.output if section.output else out
            try:
                result = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError) as error:
                return Outcome(None, f"{where} wrote no readable JSON at {section.output_text} "
                                     f"({error}); the end of its stderr:\n{tail(stderr)}")
    return Outcome(make_record(section, result, started=started, wall_s=wall, root=root))
