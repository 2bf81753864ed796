"""Tuning benchmark: the LightGBM family's OOF and test Score with the defaults vs after N Optuna trials.

On a synthetic seed the defaults were not chosen on (cfgs/quality.yaml, data.synthetic.seed=5), through
toss_core.steps only: prepare the data, train every fold with the defaults, `steps.tune` the gbdt family
on tune.folds (fold 0) for N trials, retrain every fold with the tuned parameters. Scores (calibrated with
the project's calibrator on the family's OOF logits): OOF on all folds and on the folds the study never
saw, and test against the planted truth. Prints a Markdown block for bench/results/tune.md.

    nice .venv/bin/python -m bench.tune_gbdt --seed 5 --rows 50000 --trials 20
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np

from toss_core import steps
from toss_core.artifacts.fold import load_family_oof, load_test_logits
from toss_core.config import TossConfig, load_config
from toss_core.context import RunContext
from toss_core.data.reader import ShardedCache
from toss_core.gbdt.predict import load_sidecar
from toss_core.post.diagnostics_truth import TestTruth, require_test_truth
from toss_core.scoring.calibration import fit_calibrator
from toss_core.scoring.metrics import evaluate_logits

REPO = Path(__file__).resolve().parents[1]


def config(args: argparse.Namespace, tuned: bool) -> TossConfig:
    run = f"tune_s{args.seed}_n{args.rows}"
    return load_config(
        REPO / "cfgs" / "quality.yaml",
        [
            f"data.synthetic.seed={args.seed}",
            f"data.synthetic.train_rows={args.rows}",
            f"data.synthetic.test_rows={max(args.rows // 5, 1000)}",
            f"data.train_path=data/{run}/train.parquet",
            f"data.test_path=data/{run}/test.parquet",
            f"data.cache_dir=cache/{run}",
            f"exp_name={run}",
            "families=[nn,gbdt]",
            "tune.families=[gbdt]",
            f"tune.n_trials={args.trials}",
            f"tune.enabled={str(tuned).lower()}",
        ],
    )


def family_scores(ctx: RunContext, truth: TestTruth) -> dict[str, float]:
    """Train and predict every gbdt fold; calibrated OOF Score (all folds, folds not tuned on), test Score."""
    cfg, layout = ctx.cfg, ctx.layout
    for k in range(cfg.cv.n_splits):
        steps.train_fold(ctx, "gbdt", k)
        steps.predict_test(ctx, "gbdt", k)
    train, test = ShardedCache(layout.train_cache), ShardedCache(layout.test_cache)
    oof = load_family_oof(layout, "gbdt", cfg.cv.n_splits, train.n_rows)
    cal = fit_calibrator(cfg.calibration, oof.logit, oof.label)
    unseen = ~np.isin(oof.fold, cfg.tune.folds)
    zu, yu = oof.logit[unseen], oof.label[unseen]
    test_logits = load_test_logits(layout, oof, test.fingerprint, test.n_rows).mean(axis=0)
    return {
        "oof": evaluate_logits(oof.label, cal.apply(oof.logit))["Score"],
        "oof_unseen": evaluate_logits(yu, fit_calibrator(cfg.calibration, zu, yu).apply(zu))["Score"],
        "test": evaluate_logits(truth.labels, cal.apply(test_logits))["Score"],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--rows", type=int, default=50_000)
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--root", default=".", help="directory data, caches and runs go under")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    root = Path(args.root)
    base = config(args, tuned=False)
    ctx = RunContext.from_config(base, root)
    layout = ctx.layout
    steps.prepare(ctx)
    truth = require_test_truth(base, layout)
    start = time.perf_counter()
    default = family_scores(ctx, truth)
    default_s = time.perf_counter() - start
    defaults = load_sidecar(layout, 0)["params"]  # what fold 0 trained with before the study
    start = time.perf_counter()
    result = steps.tune(ctx, "gbdt")
    tune_s = time.perf_counter() - start
    tuned_cfg = config(args, tuned=True)
    tuned = family_scores(RunContext.from_config(tuned_cfg, root), truth)
    print(
        f"\n### seed {args.seed}, {args.rows:,} train rows, {args.trials} trials on folds {base.tune.folds}\n"
    )
    print("| | OOF Score (3 folds) | OOF Score (folds 1-2, not tuned on) | test Score |")
    print("|---|---|---|---|")
    for name, s in (("defaults", default), (f"tuned ({args.trials} trials)", tuned)):
        print(f"| {name} | {s['oof']:.5f} | {s['oof_unseen']:.5f} | {s['test']:.5f} |")
    print(
        f"\nwall time: {default_s:.0f}s for the 3 default folds, {tune_s:.0f}s for the study "
        f"({result.n_complete} complete trials, best fold-0 Score_cal {result.best_value:.5f}).\n"
    )
    print("| parameter | default | tuned |\n|---|---|---|")
    for key, value in result.best_params.items():
        name = key.removeprefix("gbdt.params.")
        before = defaults.get(name, getattr(base.gbdt, name.removeprefix("gbdt."), None))
        print(
            f"| {key} | {before} | {value:.4g} |"
            if isinstance(value, float)
            else f"| {key} | {before} | {value} |"
        )


if __name__ == "__main__":
    main()
