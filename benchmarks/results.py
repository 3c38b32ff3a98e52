"""(Re)generate docs/results.md, the page holding every table of the project.

Each section (one table) runs its benchmark as a subprocess of this Python in the
repository root, captures its JSON and stores `docs/results/<section>.json`: the command,
start time, wall time, machine, commit and the benchmark's JSON. The page is then rendered
from every stored section; a section never run says how to run it.

    python benchmarks/results.py [--sections a,b] [--list] [--render-only]
        [--import SECTION=FILE ...] [--docs DIR] [--quiet]

With no --sections (and no --import / --render-only) every section runs: hours. A failing
benchmark is reported with the end of its stderr; the others still run and are stored,
and the exit status is 1. Bad arguments exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from resultspage.render import render_page
from resultspage.runner import run_section
from resultspage.sections import SECTIONS, Section, by_name, chosen
from resultspage.store import import_file, load_all, save

from offline_data.shared.atomic import atomic_write_bytes

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sections", help="comma-separated sections to run (default: all)")
    parser.add_argument("--list", action="store_true",
                        help="list the sections, their commands and rough times")
    parser.add_argument("--render-only", action="store_true",
                        help="run nothing; re-render the page from the stored JSON")
    parser.add_argument("--import", dest="imports", action="append", default=[],
                        metavar="SECTION=FILE",
                        help="store FILE, a JSON made by running SECTION's command by hand")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs",
                        help="folder of results.md and results/ (default: docs)")
    parser.add_argument("--quiet", action="store_true", help="do not echo benchmark output")
    return parser.parse_args(argv)


def listing(root: Path) -> str:
    """Every section: name, rough time, command, needs (and whether they are here)."""
    lines = []
    for s in SECTIONS:
        lines.append(f"{s.name}  ({s.time})\n    {s.command}")
        lines += [f"    needs {n.what} at {n.path}"
                  + ("" if n.location(root).exists() else "  [absent here]") for n in s.needs]
    return "\n".join(lines)


def imports(specs: Sequence[str], store: Path, root: Path) -> None:
    """Store each `SECTION=FILE` (a `ValueError` for a bad one, before storing any)."""
    records = []
    for spec in specs:
        name, sep, file = spec.partition("=")
        if not sep or not name or not file:
            raise ValueError(f"--import {spec!r}: expected SECTION=FILE")
        records.append(import_file(by_name(name), Path(file), root))
    for record in records:
        path = save(store, record)
        print(f"imported {record['imported_from']} as {record['section']} -> {path}\n"
              f"    recorded as the output of `{record['command']}`: it must come from "
              "exactly that command (OUT: any file or folder)")


def run(sections: Sequence[Section], store: Path, root: Path, echo: bool) -> list[str]:
    """Run and store each section in turn; the failures (a skip is not one)."""
    failures = []
    for i, section in enumerate(sections, 1):
        missing = section.missing(root)
        if missing:
            print(f"[{i}/{len(sections)}] skipped {section.name}: needs "
                  + ", ".join(f"{n.what} at {n.location(root)}" for n in missing), flush=True)
            continue
        print(f"[{i}/{len(sections)}] {section.name} ({section.time}): {section.command}",
              flush=True)
        outcome = run_section(section, root, echo=echo)
        if outcome.record is None:
            failures.append(outcome.error or section.name)
            print(f"FAILED {outcome.error}", flush=True)
            continue
        path = save(store, outcome.record)
        print(f"    stored {path} ({outcome.record['wall_s']} s)", flush=True)
    return failures


def main(argv: Sequence[str] | None = None, root: Path = ROOT) -> int:
    """Run, import and render as asked; the exit status."""
    args = parse_args(argv)
    store, page = args.docs / "results", args.docs / "results.md"
    if args.list:
        print(listing(root))
        return 0
    if args.render_only and args.sections:
        print("error: --render-only runs nothing; drop --sections or --render-only",
              file=sys.stderr)
        return 2
    try:
        names = None if args.sections is None else [
            n.strip() for n in args.sections.split(",") if n.strip()]
        wanted = names is not None or not (args.render_only or args.imports)
        to_run = chosen(names) if wanted else []
        imports(args.imports, store, root)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    failures = run(to_run, store, root, echo=not args.quiet)
    try:
        text, errors = render_page(SECTIONS, load_all(store), root)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    atomic_write_bytes(page, text.encode())
    print(f"wrote {page}")
    for problem in [*failures, *errors]:
        print(f"problem: {problem.splitlines()[0]}", file=sys.stderr)
    return 1 if failures or errors else 0


if __name__ == "__main__":
    sys.exit(main())
