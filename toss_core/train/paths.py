"""The network family's name and where its files live under runs/<exp>/nn/ (light: no torch import)."""

from __future__ import annotations

from pathlib import Path

from toss_core.layout import Layout

NAME = "nn"


def checkpoint_path(layout: Layout, fold: int | str) -> Path:
    """The best epoch's weights, config and spec of one fold (layout.FULL: the refit)."""
    return layout.family_dir(NAME) / f"ckpt_fold_{fold}.pt"


def resume_path(layout: Layout, fold: int | str) -> Path:
    """Everything needed to continue an interrupted fold after its last finished epoch."""
    return layout.family_dir(NAME) / f"ckpt_fold_{fold}.last.pt"


def train_log_path(layout: Layout, fold: int | str) -> Path:
    return layout.family_dir(NAME) / f"train_log_fold_{fold}.csv"


def tb_dir(layout: Layout, fold: int | str) -> Path:
    return layout.family_dir(NAME) / "tb" / f"fold_{fold}"
