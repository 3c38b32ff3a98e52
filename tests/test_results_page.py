"""benchmarks/results.py: the results page rendered from stored section JSONs, imports,
atomic storage, bad section names and failing benchmarks (no real benchmark runs)."""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from results_page_fakes import EXPECTED, RESULTS

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def page() -> Iterator[SimpleNamespace]:
    """The results-page modules (benchmarks/ is a folder of scripts, not a package)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(BENCHMARKS))
        yield SimpleNamespace(
            cli=importlib.import_module("results"),
            sections=importlib.import_module("resultspage.sections"),
            store=importlib.import_module("resultspage.store"),
            runner=importlib.import_module("resultspage.runner"))


def stored(page: SimpleNamespace, docs: Path, name: str, result: dict[str, Any]) -> None:
    """Store a fake run of section `name` under `docs`."""
    record = page.store.make_record(page.sections.by_name(name), result,
                                    started="2025-01-31T14:05:00+00:00", wall_s=696.0,
                                    root=BENCHMARKS.parent)
    page.store.save(docs / "results", record)


def render(page: SimpleNamespace, docs: Path) -> tuple[int, str]:
    status = page.cli.main(["--render-only", "--docs", str(docs)])
    return status, (docs / "results.md").read_text()


def test_every_section_renders_its_table(page: SimpleNamespace, tmp_path: Path) -> None:
    assert set(RESULTS) == set(page.sections.section_names())
    for name, result in RESULTS.items():
        stored(page, tmp_path, name, result)
    status, text = render(page, tmp_path)
    assert status == 0
    assert "not generated yet" not in text
    for section in page.sections.SECTIONS:
        block = text.split(f'<a id="{section.name}"></a>')[1].split('<a id="')[0]
        assert f"## {section.title}" in block
        assert f"- command: `{section.command}`" in block
        assert f"- seeds: {section.seeds}" in block
        assert "- wall time: 11 min 36 s" in block
        assert "- date: 2025-01-31 14:05 UTC" in block
        assert f"{os.cpu_count()} cores" in block
        assert EXPECTED[section.name] in block, section.name
    assert "- [Online leaderboard](#online_leaderboard): 2025-01-31 14:05 UTC" in text


def test_page_starts_with_how_to_regenerate(page: SimpleNamespace, tmp_path: Path) -> None:
    _, text = render(page, tmp_path)
    assert text.startswith("# recgym results")
    assert text.index("## How to regenerate") < text.index("## Contents") < text.index(
        '<a id="world_conflict">')


def test_missing_section_says_how_to_generate_it(page: SimpleNamespace, tmp_path: Path) -> None:
    stored(page, tmp_path, "loading", RESULTS["loading"])
    status, text = render(page, tmp_path)
    assert status == 0
    assert ("not generated yet: run `python benchmarks/results.py --sections "
            "online_leaderboard`") in text
    assert "- [Online leaderboard](#online_leaderboard): not generated yet" in text
    assert "not generated yet: run `python benchmarks/results.py --sections loading`" not in text


def test_leaderboard_shows_fraction_of_planner_when_present(page: SimpleNamespace) -> None:
    rows = [{**RESULTS["online_leaderboard"]["results"][0], "fraction_of_planner": 0.83}]
    table = page.sections.by_name("online_leaderboard").table({"seeds": 3, "users": 500,
                                                               "results": rows})
    assert "| of planner |" in table and "| 83% |" in table


def test_import_stores_the_json_with_the_command(page: SimpleNamespace, tmp_path: Path) -> None:
    made = tmp_path / "drr.json"
    made.write_text(json.dumps(RESULTS["drr_reproduction"]))
    docs = tmp_path / "docs"
    status = page.cli.main(["--import", f"drr_reproduction={made}", "--docs", str(docs)])
    assert status == 0
    record = json.loads((docs / "results" / "drr_reproduction.json").read_text())
    assert record["command"] == "python benchmarks/drr_reproduction.py --json OUT"
    assert record["wall_s"] == 3600.0  # the benchmark's own wall time
    assert record["result"] == RESULTS["drr_reproduction"]
    assert set(record["machine"]) >= {"cpu", "cores", "torch", "python", "gpu"}
    assert len(record["commit"]) == 40 or record["commit"] == "unknown"
    text = (docs / "results.md").read_text()
    assert "imported from `drr.json`" in text
    assert "- drr-att > drr-ave: **does not hold**" in text


def test_import_refuses_bad_input(page: SimpleNamespace, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    for spec, message in ((f"drr_reproduction={broken}", "not JSON"),
                          ("drr_reproduction", "expected SECTION=FILE"),
                          (f"nonsense={broken}", "valid sections: world_conflict")):
        assert page.cli.main(["--import", spec, "--docs", str(tmp_path)]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


def test_store_writes_atomically(page: SimpleNamespace, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    stored(page, tmp_path, "loading", RESULTS["loading"])
    target = tmp_path / "results" / "loading.json"
    before = target.read_bytes()

    def interrupted(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(OSError, match="disk full"):
        stored(page, tmp_path, "loading", {"results": []})
    assert target.read_bytes() == before  # the old file whole, no half-written one
    assert [p.name for p in target.parent.iterdir()] == ["loading.json"]  # no temp left


def test_bad_section_names_list_the_valid_ones(page: SimpleNamespace, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert page.cli.main(["--sections", "loading,throughput", "--docs", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown section(s): throughput" in err
    assert "valid sections: world_conflict, fidelity_kuairand" in err
    assert not (tmp_path / "results.md").exists()  # nothing ran, nothing written


def test_list_names_every_section(page: SimpleNamespace,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert page.cli.main(["--list"]) == 0
    out = capsys.readouterr().out
    for section in page.sections.SECTIONS:
        assert section.command in out


def test_last_json_after_progress_lines(page: SimpleNamespace) -> None:
    text = ("seed 0: building\n{not json: progress}\n"
            + json.dumps({"a": {"b": [1, 2]}, "c": 3}, indent=1) + "\n")
    assert page.runner.last_json(text) == {"a": {"b": [1, 2]}, "c": 3}
    assert page.runner.last_json("no json here\n") is None


def test_failing_benchmark_is_reported_and_others_kept(
        page: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    Section, Need = page.sections.Section, page.sections.Need
    good = Section("good", "Good", ("-c", "print('working'); print('{\"results\": []}')"),
                   lambda r: f"rows: {len(r['results'])}", "A table.", "seed 0", "1 s")
    bad = Section("bad", "Bad", ("-c", "import sys; sys.stderr.write('boom: it broke\\n'); "
                                       "sys.exit(3)"), lambda r: "", "Never.", "seed 0", "1 s")
    absent = Section("absent", "Absent", ("-c", "pass"), lambda r: "", "Skipped.", "-",
                     "1 s", (Need("no/such/folder", "a folder that is not there"),))
    registry = (good, bad, absent)
    monkeypatch.setattr(page.sections, "SECTIONS", registry)
    monkeypatch.setattr(page.cli, "SECTIONS", registry)
    status = page.cli.main(["--docs", str(tmp_path), "--quiet"])
    assert status == 1
    out = capsys.readouterr()
    assert "FAILED bad (`python -c" in out.out and "exit status 3" in out.out
    assert "boom: it broke" in out.out
    assert "skipped absent: needs a folder that is not there" in out.out
    assert "problem: bad" in out.err
    record = json.loads((tmp_path / "results" / "good.json").read_text())
    assert record["result"] == {"results": []} and record["wall_s"] >= 0
    assert not (tmp_path / "results" / "bad.json").exists()
    text = (tmp_path / "results.md").read_text()
    assert "rows: 0" in text
    assert "not generated yet: run `python benchmarks/results.py --sections bad`" in text
    assert "(needs a folder that is not there at no/such/folder: absent here)" in text


def test_benchmark_writing_a_file(page: SimpleNamespace, tmp_path: Path) -> None:
    code = ("import json, sys; open(sys.argv[2], 'w').write(json.dumps({'wall_s': 5}))")
    section = page.sections.Section("file", "File", ("-c", code, "--json", "{out}"),
                                    lambda r: "", "A file.", "-", "1 s", output="")
    outcome = page.runner.run_section(section, BENCHMARKS.parent, echo=False)
    assert outcome.error is None
    assert outcome.record["result"] == {"wall_s": 5}
    assert outcome.record["command"].endswith("--json OUT")
