"""Helpers shared by the bad-input corpus and the fault tests: a private copy of the cached smoke
layout, the CLI run in-process with its stderr, and the one-line error contract."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import SMOKE

from toss_core.cli import main
from toss_core.layout import Layout


def copy_layout(src: Layout, dst: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Copy the session's cached smoke root into dst and work there (the original stays read-only)."""
    shutil.copytree(src.root, dst, dirs_exist_ok=True, symlinks=True)
    monkeypatch.chdir(dst)
    return dst


def toss(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Run `toss ARGV` in-process; (exit code, stderr)."""
    capsys.readouterr()
    rc = main(["-q", *argv])
    return rc, capsys.readouterr().err


def smoke(*argv: str) -> list[str]:
    """`COMMAND --cfg cfgs/smoke.yaml --set ...` with every extra `key=value` as one --set."""
    command, *sets = argv
    return [command, "--cfg", str(SMOKE), *[x for kv in sets for x in ("--set", kv)]]


def assert_one_line_error(rc: int, err: str, *names: str) -> str:
    """Exit 1, no traceback, a last line `toss: error: …` that names every one of `names`."""
    assert rc == 1, err
    assert "Traceback" not in err, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("toss: error: "), err
    for name in names:
        assert name in line, f"{name!r} not in: {line}"
    return line
