"""The CLI: every subcommand has help, and failures are one line on stderr with a non-zero exit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from toss_core.cli import build_parser, main

SUBCOMMANDS = [
    "synth",
    "build-cache",
    "score",
    "folds",
    "covis",
    "train",
    "infer",
    "blend",
    "diagnose",
    "run",
]


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_has_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--help"])
    assert exit_info.value.code == 0
    assert "usage: toss " + name in capsys.readouterr().out


def test_cfg_commands_accept_repeatable_overrides() -> None:
    args = build_parser().parse_args(
        ["train", "--cfg", "x.yaml", "--set", "a=1", "--set", "b.c=2", "--fold", "1"]
    )
    assert args.overrides == ["a=1", "b.c=2"]
    assert args.fold == 1


def test_bad_config_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("train:\n  epoch: 3\n")
    assert main(["config", "--cfg", str(cfg)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("toss: error:") and "train.epoch" in err[0] and "train.epochs" in err[0]


def test_console_script_entry_point_runs() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "toss_core.cli",
            "config",
            "--cfg",
            "cfgs/smoke.yaml",
            "--set",
            "train.epochs=4",
        ],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=True,
    )
    assert '"epochs": 4' in out.stdout
