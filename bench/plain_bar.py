"""What the one-model bars (plain LightGBM, plain CatBoost) share: the raw Parquet read with its columns
checked, a random 10% of train held out for early stopping and calibration, and the test set scored the
way toss scores its own models (the project's calibrator fitted on the held-out rows, then
toss_core.scoring.metrics.evaluate), so only the model differs."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from toss_core.scoring.calibration import fit_temperature
from toss_core.scoring.metrics import evaluate

VALID_SHARE = 0.1


@dataclass
class BarData:
    train: pd.DataFrame
    test: pd.DataFrame
    truth: pd.DataFrame
    y: np.ndarray  # train labels
    valid: np.ndarray  # bool [n_train]: the held-out rows (early stopping, calibration)
    started: float


def _frame(path: Path, cols: list[str]) -> pd.DataFrame:
    if not path.is_file():
        raise ValueError(f"{path}: file not found")
    frame = pd.read_parquet(path)
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {list(frame.columns)}")
    return frame


def read_bar_data(
    train: Path, test: Path, truth: Path, label_col: str, id_col: str, features: list[str], seed: int
) -> BarData:
    started = time.perf_counter()
    train_frame = _frame(Path(train), [*features, label_col])
    y = train_frame[label_col].to_numpy(dtype=np.float64)
    valid = np.random.default_rng(seed).random(len(train_frame)) < VALID_SHARE
    return BarData(
        train_frame,
        _frame(Path(test), [*features, id_col]),
        _frame(Path(truth), [id_col, label_col]),
        y,
        valid,
        started,
    )


def score_test(
    data: BarData, valid_logits: np.ndarray, test_logits: np.ndarray, label_col: str, id_col: str, best: int
) -> dict[str, float]:
    """Calibrate on the held-out rows, score the test rows against the truth file (matched by id)."""
    calibrator = fit_temperature(valid_logits, data.y[data.valid])
    joined = (
        data.test[[id_col]].assign(_row=np.arange(len(data.test))).merge(data.truth, on=id_col, how="inner")
    )
    if len(joined) != len(data.test) or len(data.truth) != len(data.test):
        raise ValueError(
            f"truth: {id_col} values do not match the test file one to one ({len(data.test)} test rows, "
            f"{len(data.truth)} truth rows, {len(joined)} matched)"
        )
    p = calibrator.predict_proba(np.asarray(test_logits)[joined["_row"].to_numpy()])
    metrics = evaluate(joined[label_col].to_numpy(), p)
    return {**metrics, "seconds": time.perf_counter() - data.started, "best_iteration": int(best)}


BarFn = Callable[..., dict[str, float]]


def bar_main(name: str, doc: str, fn: BarFn, argv: list[str] | None) -> int:
    """The command line both bars share."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--truth", type=Path, required=True)
    parser.add_argument("--label", default="clicked")
    parser.add_argument("--id", default="ID")
    parser.add_argument("--cat", nargs="+", required=True, help="categorical columns")
    parser.add_argument("--num", nargs="*", default=[], help="numeric columns")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        out = fn(args.train, args.test, args.truth, args.label, args.id, args.cat, args.num, args.seed)
    except ValueError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}))
    return 0
