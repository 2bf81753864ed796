"""The one Dagster resource: which toss config a run uses, and where its artifacts live.

The YAML is named by the `config_path` field, else the `TOSS_CONFIG` environment variable, else
`cfgs/demo.yaml`. A relative path is looked up in the working directory first and then in the repository
root, so `dagster dev` started from elsewhere still finds the shipped configs. `overrides` are the same
`key.path=value` strings as `toss --set`; give them in the launchpad's run config to change one run:

    resources: {toss: {config: {overrides: ["train.epochs=1"]}}}

Artifact paths (data, caches, runs) resolve against `root`, else `$TOSS_ROOT`, else the working
directory: the same files the `toss` CLI reads and writes when started from that directory.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import dagster as dg
from pydantic import Field

from toss_core.config import TossConfig, load_config
from toss_core.context import RunContext

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = "cfgs/demo.yaml"
CONFIG_ENV = "TOSS_CONFIG"
ROOT_ENV = "TOSS_ROOT"


def resolve_config_path(path: str | None = None) -> Path:
    """The config file a run uses: explicit path, else $TOSS_CONFIG, else cfgs/demo.yaml."""
    p = Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG).expanduser()
    if p.is_absolute() or p.exists():
        return p
    in_repo = REPO_ROOT / p
    return in_repo if in_repo.exists() else p


class TossConfigResource(dg.ConfigurableResource):
    """The validated toss config and the run context built from it, shared by every asset of a run."""

    config_path: str | None = Field(
        default=None, description=f"YAML config; default ${CONFIG_ENV}, then {DEFAULT_CONFIG}"
    )
    overrides: list[str] = Field(
        default_factory=list, description="key.path=value overrides, as `toss --set` (value read as YAML)"
    )
    root: str | None = Field(
        default=None,
        description=f"directory relative artifact paths resolve against; default ${ROOT_ENV}, then cwd",
    )

    def load(self) -> TossConfig:
        return load_config(resolve_config_path(self.config_path), list(self.overrides))

    def with_overrides(self, extra: list[str]) -> TossConfigResource:
        """This resource with `extra` applied after its own overrides: one step's settings (its thread
        share, toss_assets.fold_share) without touching the run's."""
        if not extra:
            return self
        return TossConfigResource(
            config_path=self.config_path, overrides=[*self.overrides, *extra], root=self.root
        )

    def context(self) -> RunContext:
        """The run's context: config, artifact paths under the root, enabled families."""
        root = self.root or os.environ.get(ROOT_ENV)
        return RunContext.from_config(self.load(), Path(root) if root else Path.cwd())


@cache
def load_time_config() -> TossConfig:
    """The config the code location is built from ($TOSS_CONFIG): it fixes the fold partitions and
    whether the raw files are the user's (observed) or generated."""
    return load_config(resolve_config_path())
