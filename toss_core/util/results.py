"""Small results returned by the pipeline steps: paths and metrics, never tensors.

The CLI prints them and the Dagster assets turn them into metadata, so their fields are plain values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

Metrics = dict[str, float]  # keys: AP, WLL, Score, AUC (and n, pos_rate where useful)


@dataclass(frozen=True)
class _Result:
    def to_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class RawResult(_Result):
    train_path: Path
    test_path: Path
    train_rows: int
    test_rows: int
    generated: bool
    train_fingerprint: str
    test_fingerprint: str
    truth_path: Path | None = None
    oracle: Metrics | None = None


@dataclass(frozen=True)
class CacheResult(_Result):
    kind: str
    manifest_path: Path
    n_rows: int
    n_shards: int
    bytes: int
    fingerprint: str
    reused: bool
    seconds: float
    collisions: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class FoldsResult(_Result):
    path: Path
    n_splits: int
    method: str
    fold_sizes: list[int]
    fold_positives: list[int]


@dataclass(frozen=True)
class CovisResult(_Result):
    train_dir: Path
    test_dir: Path
    feature_names: list[str]
    fingerprint: str  # base caches, fold assignment and features.covis: what the shards were built from
    reused: bool
    seconds: float


@dataclass(frozen=True)
class FoldResult(_Result):
    fold: int | str  # a fold index, or FULL for the refit on every training row
    family: str
    checkpoint: Path
    oof_path: Path
    metrics: Metrics
    prior_score: float
    best_epoch: int
    seconds: float
    params_source: str = "config"  # or the tuned file (runs/<exp>/tuned/<family>.json) trained with
    tuned_params: dict[str, Any] = field(default_factory=dict)  # the overrides that file applied


@dataclass(frozen=True)
class TestLogitsResult(_Result):
    fold: int | str
    family: str
    path: Path
    n_rows: int
    mean_logit: float
    seconds: float


@dataclass(frozen=True)
class RefitResult(_Result):
    family: str
    size: int  # epochs (nn) or boosting rounds (gbdt) trained on every row
    fold_sizes: list[int]  # what each fold selected
    checkpoint: Path
    test_logits: Path
    seconds: float


@dataclass(frozen=True)
class EnsembleResult(_Result):
    path: Path
    method: str
    weights: dict[str, float]
    oof_uncalibrated: Metrics
    oof_calibrated: Metrics
    members: dict[str, Metrics]
    calibrator: dict[str, float]
    families: dict[str, Metrics] = field(default_factory=dict)
    stacking: dict[str, Any] | None = None  # the stacker's choice, CV Score and weight intervals


@dataclass(frozen=True)
class SubmissionResult(_Result):
    path: Path
    n_rows: int
    mean_prediction: float
    preview: list[dict[str, Any]]
    test_metrics: Metrics | None = None


@dataclass(frozen=True)
class DiagnosticsResult(_Result):
    report_path: Path
    reliability_png: Path
    histogram_png: Path
    metrics: dict[str, Metrics]
    reliability: dict[str, list[list[float]]] = field(default_factory=dict)  # curve → [[mean p, rate]]
    histogram: dict[str, list[float]] = field(default_factory=dict)  # series → density per equal bin


@dataclass(frozen=True)
class TuneResult(_Result):
    family: str
    path: Path | None  # runs/<exp>/tuned/<family>.json; None while no trial has completed
    study_name: str
    storage: str  # password hidden
    fingerprint: str
    best_value: float | None
    best_params: dict[str, Any]
    trials_run: int  # by this call
    n_complete: int
    n_pruned: int
    n_failed: int
    seconds: float
    trials: list[dict[str, Any]] = field(default_factory=list)  # number, state, value, seconds, params
    history_png: Path | None = None
    importance_png: Path | None = None
    # the best trial against the defaults on the first fold outside tune.folds (tune/verdict.py)
    against_defaults: dict[str, Any] | None = None
