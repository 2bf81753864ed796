"""The configuration reference is rendered from the schema: docs/config.md and `toss config --explain`."""

from __future__ import annotations

from pathlib import Path

import pytest

from toss_core.cli import main
from toss_core.config import NOTES, TossConfig, valid_keys
from toss_core.config_doc import REGENERATE, markdown

REPO = Path(__file__).resolve().parents[1]
LEAF_KEYS = [
    k for k in valid_keys(TossConfig) if not any(o.startswith(k + ".") for o in valid_keys(TossConfig))
]


def test_docs_config_md_is_up_to_date() -> None:
    if (REPO / "docs" / "config.md").read_text() != markdown():
        pytest.fail(
            f"docs/config.md is out of date with toss_core/config/: regenerate it with `{REGENERATE}`"
        )


def test_docs_config_md_lists_every_key() -> None:
    text = markdown()
    assert [k for k in LEAF_KEYS if f"| `{k}` |" not in text] == []


def test_docs_config_md_renders_every_note() -> None:
    """A note on a section without leaf keys of its own would have no table to sit under."""
    text = markdown()
    assert [k for k, note in NOTES.items() if note.replace("<", "&lt;") not in text] == []


def test_explain_shows_every_key_with_default_and_value(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["config", "--cfg", str(REPO / "cfgs" / "smoke.yaml"), "--explain", "--set", "train.lr=0.01"])
        == 0
    )
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line and not line.startswith((" ", "["))}
    assert sorted(rows) == sorted(LEAF_KEYS)
    assert "int (> 0)" in rows["sequence.max_len"]
    assert "default 256" in rows["sequence.max_len"] and rows["sequence.max_len"].endswith("value 32")
    assert rows["train.lr"].endswith("value 0.01")
    assert rows["data.label_col"].endswith("value = default")
    assert "    most recent tokens kept per row" in out  # the description, beneath its key


def test_config_without_explain_prints_the_validated_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "--cfg", str(REPO / "cfgs" / "smoke.yaml")]) == 0
    assert TossConfig.model_validate_json(capsys.readouterr().out).exp_name == "smoke"
