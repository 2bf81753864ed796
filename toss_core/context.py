"""RunContext: the one handle a step takes — the validated config, where its artifacts live, and the
model families it enables, built once from the config.

A step never carries a config and a Layout side by side (they could disagree); when tuned parameters
apply, the step makes a new context with `with_config`, which recomputes the paths and the families
from the new config, so the three always describe the same run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from toss_core.config import TossConfig
from toss_core.families import registry
from toss_core.families.base import Family
from toss_core.layout import Layout


@dataclass(frozen=True)
class RunContext:
    cfg: TossConfig
    layout: Layout
    families: tuple[Family, ...]  # the enabled families (config `families`), in the config's order

    def __post_init__(self) -> None:
        if self.layout.cfg is not self.cfg:
            raise ValueError("RunContext: the layout was built from another config; use with_config")

    @classmethod
    def from_config(cls, cfg: TossConfig, root: Path = Path(".")) -> RunContext:
        """The context of a run whose relative paths resolve against `root`. Every family the config
        names and every searched key is checked here (ConfigError), before any step touches the data."""
        registry.check(cfg)
        return cls(cfg, Layout(cfg, root), tuple(registry.enabled(cfg)))

    def with_config(self, cfg: TossConfig) -> RunContext:
        """The same run under another config (tuned parameters applied): paths and families follow it."""
        layout = Layout(cfg, self.layout.root, self.layout.output_dir)
        return RunContext(cfg, layout, tuple(registry.enabled(cfg)))

    @property
    def family_names(self) -> list[str]:
        return [f.name for f in self.families]
