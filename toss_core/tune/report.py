"""What a study shows a reader: one row per trial, the optimisation history and parameter importances."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from toss_core.util.atomic import atomic_path

log = logging.getLogger("toss")


def trial_rows(study: Any) -> list[dict[str, Any]]:
    """number, state, value, seconds and params of every trial of the study (every worker's)."""
    rows = []
    for t in study.trials:
        seconds = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete else None
        rows.append(
            {"number": t.number, "state": t.state.name, "value": t.value, "seconds": seconds, **t.params}
        )
    return rows


def _save(ax: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig = ax.figure
    fig.set_size_inches(7, 4)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return path


def write_plots(study: Any, out_dir: Path, family: str) -> tuple[Path | None, Path | None]:
    """Optuna's matplotlib optimisation history and parameter importances (None where a plot cannot be
    drawn yet: no completed trial, or too few to rank parameters)."""
    import matplotlib

    matplotlib.use("Agg")
    import optuna
    from optuna.visualization import matplotlib as vis

    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        return None, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        history = _save(vis.plot_optimization_history(study), out_dir / f"{family}_history.png")
        importance = None
        if len(done) >= 2 and any(t.params for t in done):
            try:
                importance = _save(vis.plot_param_importances(study), out_dir / f"{family}_importance.png")
            except (ValueError, RuntimeError) as exc:  # e.g. every completed trial has the same value
                log.info("tune %s: no parameter importances yet (%s)", family, exc)
    return history, importance
