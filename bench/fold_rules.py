"""Issue 20 items 2 and 3: folds, refit and id encoding of a tree family, measured on the test set.

    nice .venv/bin/python -m bench.fold_rules --data data/frappe --cfg cfgs/frappe.yaml --family gbdt
    nice .venv/bin/python -m bench.fold_rules --seed 21 --rows 100000 --family gbdt

For each cv.n_splits in --splits it trains the family's folds once (bench.quality's config and data, its
own exp_name per variant), then scores on the test set: the fold ensemble (the folds' test logits
combined, calibrated on the OOF logits), and the refit on every row with the folds' mean rounds
(what cv.refit = full trains) and with that mean scaled by the rows, k / (k - 1). Each --ids encoding adds a
3-fold run with gbdt.id_encoding set (fold ensemble only), with its OOF AUC / Score beside the test's, to
see which validation predicts the test outcome. `--plain` adds plain LightGBM (and CatBoost with
--plain-catboost) on the same split.
"""

from __future__ import annotations

import argparse
import json
import time

from bench.quality import REPO, add_run_arguments, run_config
from toss_core import steps
from toss_core.artifacts.fold import load_family_oof, load_test_logits, read_test_logits, selected_sizes
from toss_core.config import TossConfig
from toss_core.context import RunContext
from toss_core.data.folds import stacking_rows
from toss_core.data.reader import ShardedCache
from toss_core.families import registry
from toss_core.layout import FULL, Layout
from toss_core.post.diagnostics_truth import require_test_truth
from toss_core.post.ensemble import ensemble_family
from toss_core.scoring.calibration import Calibrator
from toss_core.scoring.metrics import evaluate_logits


def _cfg(args: argparse.Namespace, extra: list[str], name: str) -> TossConfig:
    a = argparse.Namespace(**vars(args))
    a.overrides = list(args.overrides) + extra
    if args.seed is None:
        a.overrides.append(f"exp_name={name}")
    a.suffix = f"{args.suffix}_{name}"  # a synthetic run: the user's --suffix, then the variant
    return run_config(a, args.seed)


def _row(label: str, m: dict, oof: dict | None, seconds: float, extra: str = "") -> dict:
    out = {"variant": label, "AUC": m["AUC"], "Score": m["Score"], "seconds": seconds, "note": extra}
    if oof is not None:
        out.update(oof_AUC=oof["AUC"], oof_Score=oof["Score"])
    print(json.dumps(out), flush=True)
    return out


def train_variant(args: argparse.Namespace, extra: list[str], name: str, refit: bool) -> list[dict]:
    cfg = _cfg(args, extra, name)
    ctx = RunContext.from_config(cfg, REPO)
    layout = ctx.layout
    start = time.perf_counter()
    steps.prepare(ctx)
    fam = args.family
    for fold in range(cfg.cv.n_splits):
        steps.train_fold(ctx, fam, fold)
        steps.predict_test(ctx, fam, fold)
    folds_s = time.perf_counter() - start
    truth = require_test_truth(cfg, layout)
    n_train, test = ShardedCache(layout.train_cache).n_rows, ShardedCache(layout.test_cache)
    oof = load_family_oof(layout, fam, cfg.cv.n_splits, n_train)
    tests = load_test_logits(layout, oof, test.fingerprint, test.n_rows)
    late = stacking_rows(cfg, oof.fold)
    part = ensemble_family(cfg, oof, tests, None, late)
    cal = Calibrator.from_dict(part.report["calibrator"])
    oof_m = evaluate_logits(oof.label, cal.apply(oof.logit))
    if late is not None:  # the latest fold alone: the validation placed like the test
        last = evaluate_logits(oof.label[late], cal.apply(oof.logit[late]))
        oof_m = {**oof_m, "AUC": last["AUC"], "Score": last["Score"]}
    note = f"{cfg.cv.n_splits} folds"
    rows = [_row(f"{name}: fold ensemble", evaluate_logits(truth.labels, cal.apply(part.test_logits)), oof_m,
                 folds_s, note)]  # fmt: skip
    if refit:  # the folds' mean rounds (steps.refit), and that mean scaled by the rows, k / (k - 1)
        sizes = selected_sizes(layout, fam, cfg.cv.n_splits)
        mean = sum(sizes) / len(sizes)
        for mode, size in (("folds", mean), ("rows", mean * cfg.cv.n_splits / (cfg.cv.n_splits - 1))):
            t0 = time.perf_counter()
            registry.get(fam).refit(cfg, layout, max(1, round(size)))
            steps.predict_test(ctx, fam, FULL)
            z, _ = read_test_logits(layout, FULL, fam)
            m = evaluate_logits(truth.labels, cal.apply(z))
            rows.append(_row(f"{name}: refit, rounds {mode}", m, None, time.perf_counter() - t0,
                             f"{round(size)} rounds (folds {sizes})"))  # fmt: skip
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_run_arguments(p)
    p.add_argument("--family", default="gbdt")
    p.add_argument("--splits", type=int, nargs="*", default=[3, 5])
    p.add_argument("--ids", nargs="*", default=[], help="gbdt.id_encoding values to add (3 folds)")
    p.add_argument("--plain", action="store_true")
    p.add_argument("--plain-catboost", action="store_true")
    p.add_argument("--tag", required=True)
    args = p.parse_args()
    fam = args.family
    rows = []
    for k in args.splits:
        rows += train_variant(args, [f"families=[{fam}]", f"cv.n_splits={k}"], f"{args.tag}_{fam}_k{k}", True)
    for enc in args.ids:
        extra = [f"families=[{fam}]", "cv.n_splits=3", f"gbdt.id_encoding={enc}"]
        rows += train_variant(args, extra, f"{args.tag}_{fam}_ids_{enc}", False)
    if args.plain or args.plain_catboost:
        from bench.quality import _plain_row

        cfg = _cfg(args, [f"families=[{fam}]"], f"{args.tag}_{fam}_k3")
        layout = Layout(cfg, root=REPO)
        if args.plain:
            from bench.plain_lightgbm import plain_lightgbm

            r = _plain_row("plain LightGBM", plain_lightgbm, cfg, layout)
            rows.append(_row("plain LightGBM", r.metrics, None, r.seconds or 0.0))
        if args.plain_catboost:
            from bench.plain_catboost import plain_catboost

            r = _plain_row("plain CatBoost", plain_catboost, cfg, layout)
            rows.append(_row("plain CatBoost", r.metrics, None, r.seconds or 0.0))
    print(f"RESULT {args.tag} " + json.dumps(rows))


if __name__ == "__main__":
    main()
