"""Issue 20 item 6: learn the stacker and the calibrators on the latest train rows, on saved fold logits.

    nice .venv/bin/python -m bench.late_stack --data data/movielens --cfg cfgs/movielens.yaml \\
        --set exp_name=ml_rand --set cv.n_splits=3 --set cv.order_key=null --set cv.order_group=null \\
        --families nn gbdt --order-key timestamp --order-group user --shares 1 0.5 0.33 0.2 0.1

It reads a finished bench.quality run (its OOF and test logits; nothing is trained) and, for each share s
of train rows latest by the order column (`rows` = the file's row order; with --order-group, the latest
within each group), fits what the ensemble step fits on its stacking rows: each family's calibrator, the
stacker's weights (cross-validated on those rows, as toss_core.post.ensemble does) and the blend's
calibrator; then scores the test set. It answers whether learning those on later rows of the *same* folds
is enough (on MovieLens it was not: the folds themselves must be placed like the test, cv.order_key).
s = 1 is today's ensemble (every OOF row). The table shows each family's calibrated Score on the fit rows
(what the stacker compares), the weights, and the test AUC / Score of each family and of the blend.
"""

from __future__ import annotations

import argparse

import numpy as np
import polars as pl

from bench.quality import REPO, add_run_arguments, run_config, run_families
from toss_core.data.folds import _time_values, late_mask
from toss_core.layout import Layout
from toss_core.post.diagnostics_truth import require_test_truth
from toss_core.post.ensemble import ensemble_family
from toss_core.post.ensemble_families import fit_family_weights, stacker_groups
from toss_core.scoring.calibration import fit_calibrator
from toss_core.scoring.metrics import evaluate


def order_values(layout: Layout, key: str, n_rows: int) -> np.ndarray:
    if key == "rows":
        return np.arange(n_rows, dtype=np.float64)
    return _time_values(pl.read_parquet(layout.train_path, columns=[key]).to_series())


def late_rows(layout: Layout, key: str, group: str | None, share: float, n_rows: int) -> np.ndarray:
    """The latest `share` of rows by `key`, overall or (with `group`) within each group's rows."""
    order = order_values(layout, key, n_rows)
    if group is None:
        return late_mask(order, share)
    g = pl.read_parquet(layout.train_path, columns=[group]).to_series()
    df = pl.DataFrame({"g": g, "t": order, "i": np.arange(n_rows)})
    rank = (
        df.select((pl.col("t").rank("ordinal").over("g") / pl.len().over("g")).alias("r"))
        .to_series()
        .to_numpy()
    )
    return rank > 1.0 - share


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_run_arguments(p)
    p.add_argument("--families", nargs="+", required=True)
    p.add_argument("--order-key", default="rows")
    p.add_argument("--order-group", default=None, help="latest rows within each value of this column")
    p.add_argument("--shares", type=float, nargs="+", default=[1.0, 0.5, 0.33, 0.2, 0.1])
    args = p.parse_args()
    cfg = run_config(args, args.seed)
    layout = Layout(cfg, root=REPO)
    truth = require_test_truth(cfg, layout)
    oofs, tests = run_families(cfg, layout, args.families)
    n_train = oofs[0].logit.size
    y = oofs[0].label > 0.5
    head = " | ".join(f"{f} fit-rows Score | {f} test AUC / Score" for f in args.families)
    print(f"| share | rows | {head} | weights | blend test AUC | blend test Score |")
    print("|---" * (3 + 2 * len(args.families) + 2) + "|")
    for share in args.shares:
        rows = np.ones(n_train, bool)
        if share < 1:
            rows = late_rows(layout, args.order_key, args.order_group, share, n_train)
        cells, blend_test = [], []
        for oof, t in zip(oofs, tests, strict=True):
            part = ensemble_family(cfg, oof, t, None, rows)
            cal = fit_calibrator(cfg.calibration, oof.logit[rows], oof.label[rows])
            fit_score = evaluate(y[rows], cal.predict_proba(oof.logit[rows]))["Score"]
            m = evaluate(truth.labels, cal.predict_proba(part.test_logits))
            cells.append(f"{fit_score:.4f} | {m['AUC']:.4f} / {m['Score']:.4f}")
            blend_test.append(part.test_logits)
        z = np.stack([o.logit[rows] for o in oofs])
        groups = stacker_groups(oofs[0].fold[rows], cfg.cv.n_splits)
        stack = fit_family_weights(z, y[rows], groups, cfg.calibration, args.families, seed=cfg.seed)
        blend_fit = stack.weights @ z
        cal = fit_calibrator(cfg.calibration, blend_fit, y[rows])
        m = evaluate(truth.labels, cal.predict_proba(stack.weights @ np.stack(blend_test)))
        w = ", ".join(f"{f} {v:.2f}" for f, v in zip(args.families, stack.weights, strict=True))
        print(
            f"| {share:g} | {int(rows.sum())} | {' | '.join(cells)} | {w} ({stack.chosen}) | "
            f"{m['AUC']:.4f} | {m['Score']:.4f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
