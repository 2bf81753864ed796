"""Tuning benchmark: the LightGBM family's OOF and test Score with the defaults vs after N Optuna trials.

On a synthetic seed the defaults were not chosen on (cfgs/quality.yaml, data.synthetic.seed=5), through
toss_core.steps only: prepare the data, train every fold with the defaults, `steps.tune` the gbdt family
on tune.folds (fold 0) for N trials, retrain every fold with the tuned parameters. Scores (calibrated with
the project's calibrator on the family's OOF logits): OOF on all folds and on the folds the study never
saw, and test against the planted truth. Prints a Markdown block for bench/results/tune.md.

    nice .venv/bin/python bench/tune_gbdt.py --seed 5 --rows 50000 --trials 20
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import read_oof, test_truth

from toss_core import steps
from toss_core.config import TossConfig, load_config
from toss_core.gbdt.params import DEFAULT_PARAMS
from toss_core.layout import Layout
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
            "gbdt.enabled=true",
            "tune.families=[gbdt]",
            f"tune.n_trials={args.trials}",
            f"tune.enabled={str(tuned).lower()}",
        ],
    )


def family_scores(cfg: TossConfig, layout: Layout, truth) -> dict[str, float]:
    """Train and predict every gbdt fold; calibrated OOF Score (all folds, folds not tuned on), test Score."""
    for k in range(cfg.cv.n_splits):
        steps.train_fold(cfg, k, layout, "gbdt")
        steps.predict_test(cfg, k, layout, "gbdt")
    parts = [read_oof(layout, "gbdt", k) for k in range(cfg.cv.n_splits)]
    z, y = np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])
    cal = fit_calibrator(cfg.calibration, z, y)
    unseen = [k for k in range(cfg.cv.n_splits) if k not in cfg.tune.folds]
    zu = np.concatenate([parts[k][1] for k in unseen])
    yu = np.concatenate([parts[k][2] for k in unseen])
    test = np.mean(
        [np.load(layout.test_logits_path(k, "gbdt"))["logit"] for k in range(cfg.cv.n_splits)], axis=0
    )
    return {
        "oof": evaluate_logits(y, cal.apply(z))["Score"],
        "oof_unseen": evaluate_logits(yu, fit_calibrator(cfg.calibration, zu, yu).apply(zu))["Score"],
        "test": evaluate_logits(truth[0], cal.apply(test.astype(np.float64)))["Score"],
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
    layout = Layout(base, root)
    steps.prepare_raw(base, layout)
    steps.build_caches(base, layout)
    steps.assign_folds(base, layout)
    steps.build_covis(base, layout)
    truth = test_truth(layout)
    start = time.perf_counter()
    default = family_scores(base, layout, truth)
    default_s = time.perf_counter() - start
    start = time.perf_counter()
    result = steps.tune(base, "gbdt", layout)
    tune_s = time.perf_counter() - start
    tuned_cfg = config(args, tuned=True)
    tuned = family_scores(tuned_cfg, Layout(tuned_cfg, root), truth)
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
        before = DEFAULT_PARAMS.get(name, getattr(base.gbdt, name.removeprefix("gbdt."), None))
        print(
            f"| {key} | {before} | {value:.4g} |"
            if isinstance(value, float)
            else f"| {key} | {before} | {value} |"
        )


if __name__ == "__main__":
    main()
