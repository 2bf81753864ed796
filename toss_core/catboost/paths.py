"""The CatBoost family's name and where its model files live (light: no CatBoost import)."""

from __future__ import annotations

from pathlib import Path

from toss_core.layout import Layout

NAME = "catboost"


def checkpoint_path(layout: Layout, fold: int | str) -> Path:
    """The model of one fold (CatBoost binary format): runs/<exp>/catboost/ckpt_fold_<fold>.cbm; the
    sidecar beside it (.json) holds the design plan, parameters, fingerprints and metrics."""
    return layout.family_dir(NAME) / f"ckpt_fold_{fold}.cbm"
