"""What the command-line tests share."""

from __future__ import annotations

import pytest

from recgym.cli import main


def fail(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run a command that must fail: exit 2 and exactly one `error:` line, no traceback."""
    with pytest.raises(SystemExit) as info:
        main(list(argv))
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2, err
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]
