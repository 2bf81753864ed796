"""The LightGBM family's name and where its model files live (light: no LightGBM import)."""

from __future__ import annotations

from pathlib import Path

from toss_core.layout import Layout

NAME = "gbdt"


def checkpoint_path(layout: Layout, fold: int | str) -> Path:
    """The booster of one fold (LightGBM text format): runs/<exp>/gbdt/ckpt_fold_<fold>.txt."""
    return layout.family_dir(NAME) / f"ckpt_fold_{fold}.txt"
