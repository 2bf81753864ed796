"""RunContext: one handle for a run's config, paths and families, replaced (never mutated) by a new config."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from conftest import make_config

from toss_core.config import ConfigError
from toss_core.context import RunContext
from toss_core.layout import Layout


def test_from_config_builds_paths_and_the_enabled_families(tmp_path: Path) -> None:
    ctx = RunContext.from_config(make_config("families=[gbdt,nn]"), tmp_path)
    assert ctx.family_names == ["gbdt", "nn"]
    assert ctx.layout.cfg is ctx.cfg and ctx.layout.root == tmp_path
    assert ctx.layout.run_dir == tmp_path / "runs" / "smoke"


def test_with_config_is_a_new_context_that_follows_the_config(tmp_path: Path) -> None:
    ctx = RunContext.from_config(make_config(), tmp_path)
    tuned = ctx.with_config(make_config("train.lr=0.01", "families=[nn,gbdt]", "exp_name=other"))
    assert ctx.cfg.train.lr != 0.01 and ctx.family_names == ["nn"]  # the original is untouched
    assert tuned.cfg.train.lr == 0.01 and tuned.family_names == ["nn", "gbdt"]
    assert tuned.layout.cfg is tuned.cfg and tuned.layout.run_dir == tmp_path / "runs" / "other"
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.cfg = tuned.cfg  # type: ignore[misc]


def test_a_layout_of_another_config_is_refused(tmp_path: Path) -> None:
    cfg = make_config()
    with pytest.raises(ValueError, match="with_config"):
        RunContext(cfg, Layout(make_config("train.lr=0.01"), tmp_path), ())


def test_an_unknown_family_fails_when_the_context_is_built() -> None:
    with pytest.raises(ConfigError, match="families: unknown model family 'xgb'"):
        RunContext.from_config(make_config("families=[nn,xgb]"))
