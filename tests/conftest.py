"""Shared fixtures: every test works in its own temporary root with data the project generates."""

from __future__ import annotations

from pathlib import Path

import pytest

from toss_core.config import TossConfig, load_config
from toss_core.context import RunContext
from toss_core.layout import Layout

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "cfgs" / "smoke.yaml"


def make_config(*overrides: str, path: Path = SMOKE) -> TossConfig:
    """The smoke config with `key=value` overrides (same syntax as `toss --set`)."""
    return load_config(path, list(overrides))


def run_context(layout: Layout) -> RunContext:
    """The run context of a test's layout: the steps take it, the tests read paths off the layout."""
    return RunContext.from_config(layout.cfg, layout.root)


def on_smoke_caches(smoke: Layout, root: Path, *overrides: str) -> Layout:
    """A fresh run directory under `root` reading the shared smoke data and caches (`smoke_cached`)."""
    cfg = make_config(
        f"data.train_path={smoke.train_path}",
        f"data.test_path={smoke.test_path}",
        f"data.cache_dir={smoke.cache_dir}",
        *overrides,
    )
    return Layout(cfg, root=root)


@pytest.fixture
def smoke_layout(tmp_path: Path) -> Layout:
    """A fresh smoke config whose relative paths resolve under this test's tmp_path."""
    return Layout(make_config(), root=tmp_path)


@pytest.fixture(scope="session")
def smoke_cached(tmp_path_factory: pytest.TempPathFactory) -> Layout:
    """Smoke data generated and cached once per session (read-only for tests: copy before mutating)."""
    from toss_core import steps

    layout = Layout(make_config(), root=tmp_path_factory.mktemp("smoke_cached"))
    steps.prepare_raw(run_context(layout))
    steps.build_caches(run_context(layout))
    return layout
