"""Quality benchmark: each model family, the product's ensemble and the bars users compare against.

It runs the real product through toss_core.steps (data, caches, folds, co-visitation features, both
model families, their test predictions, the cross-family ensemble) once per data set, with config
overrides only, then scores every model on the test set against its truth file:

    prior-only                 the constant 0.5 (the best constant under WLL)
    plain LightGBM             what a user would otherwise run (bench/plain_lightgbm.py): native
                               categoricals, ordinary settings, one model on 90% of train
    plain CatBoost             the other one (bench/plain_catboost.py): CatBoost at its defaults
    logistic regression        toss_core.gbdt.logistic on fold 0's training rows
    <family> (fold ensemble)   each toss family (--families, default the config's), its folds' test
                               logits combined; the network also as its best fold alone
    cross-family ensemble      runs/<exp>/test_pred.npy, the product's own calibrated prediction
    oracle                     p_true moved to the 50:50 prior (synthetic data only)

On synthetic data a second table says which planted effects each model learned. Every toss model is
calibrated with the project's calibrator fitted on that model's out-of-fold logits (never on test);
without a truth file the same models are scored on their calibrated OOF rows instead.

    nice .venv/bin/python -m bench.quality --seeds 1 2 3 --rows 200000          # synthetic data
    nice .venv/bin/python -m bench.quality --data data/movielens --cfg cfgs/movielens.yaml
    nice .venv/bin/python -m bench.quality --cfg cfgs/my_parquet.yaml --own      # the config's own data

Writes bench/results/quality_<tag>.png and appends the tables with the command to bench/results/quality.md.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.report import RESULTS, Row, append_report, chart, read_runs, summary, table, targets
from toss_core import steps
from toss_core.artifacts.fold import FamilyOOF, load_family_oof, load_refit_test_logits, load_test_logits
from toss_core.config import TossConfig, load_config
from toss_core.context import RunContext
from toss_core.data.folds import stacking_rows
from toss_core.data.reader import ShardedCache
from toss_core.families import registry
from toss_core.gbdt.logistic import logistic_baseline
from toss_core.layout import Layout
from toss_core.post.diagnostics_truth import TestTruth, load_test_truth
from toss_core.post.ensemble import ensemble_family
from toss_core.scoring.calibration import Calibrator, fit_calibrator
from toss_core.scoring.metrics import evaluate, evaluate_logits, logit, prior_shift

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("toss")


# ------------------------------------------------------------------------------------------ configs
def run_config(args: argparse.Namespace, seed: int | None) -> TossConfig:
    """The benchmark config of one run: the user's config plus per-run names and paths."""
    overrides = list(args.overrides)
    if seed is not None:
        run = f"s{seed}_n{args.rows}"
        data = f"data/quality/{run}"
        overrides += [
            "data.source=synthetic",
            f"data.synthetic.seed={seed}",
            f"data.synthetic.train_rows={args.rows}",
            f"data.synthetic.test_rows={args.test_rows or max(args.rows // 4, 1000)}",
            f"data.train_path={data}/train.parquet",
            f"data.test_path={data}/test.parquet",
            f"data.cache_dir=cache/quality/{run}",
            f"exp_name=quality_{run}{args.suffix}",
        ]
    else:
        base = load_config(args.cfg, overrides)
        if args.data:
            overrides += [
                "data.source=parquet",
                f"data.train_path={args.data}/train.parquet",
                f"data.test_path={args.data}/test.parquet",
            ]
        overrides.append(f"exp_name={base.exp_name}_quality")
    return load_config(args.cfg, overrides)


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of the scripts that work on one bench.quality run (its config, overrides, data set or
    synthetic seed): with the same values, run_config gives them the run's config and its run directory."""
    p.add_argument("--cfg", default=str(REPO / "cfgs" / "quality.yaml"))
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--data", default=None, help="a folder with train/test/test_truth.parquet (real data)")
    p.add_argument("--seed", type=int, default=None, help="a synthetic run (with --rows)")
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--test-rows", type=int, default=None)
    p.add_argument("--suffix", default="", help="appended to a synthetic exp_name")


def run_families(
    cfg: TossConfig, layout: Layout, families: list[str]
) -> tuple[list[FamilyOOF], list[np.ndarray]]:
    """A finished run's OOF logits of `families` and each one's per-fold test logits, in that order: what the
    scripts that restack or dissect a run read."""
    n_train, test = ShardedCache(layout.train_cache).n_rows, ShardedCache(layout.test_cache)
    oofs = [load_family_oof(layout, f, cfg.cv.n_splits, n_train) for f in families]
    return oofs, [load_test_logits(layout, o, test.fingerprint, test.n_rows) for o in oofs]


# ------------------------------------------------------------------------------------------ scoring
class Scorer:
    """Scores calibrated logits on the test truth, or on the OOF rows when there is none."""

    def __init__(self, truth: TestTruth | None) -> None:
        self.truth = truth

    def score(
        self, calibrator: Calibrator, oof_logits: np.ndarray, oof_labels: np.ndarray, test_logits: np.ndarray
    ) -> dict[str, float]:
        if self.truth is None:
            return evaluate_logits(oof_labels, calibrator.apply(oof_logits))
        return evaluate_logits(self.truth.labels, calibrator.apply(test_logits))


def family_rows(
    cfg: TossConfig, layout: Layout, family: str, scorer: Scorer, seconds: list[float]
) -> tuple[Row, Row, np.ndarray]:
    """(fold-ensemble row, best-fold row, calibrated combined test logits) of one family."""
    n_train, test = ShardedCache(layout.train_cache).n_rows, ShardedCache(layout.test_cache)
    oof = load_family_oof(layout, family, cfg.cv.n_splits, n_train)
    tests = load_test_logits(layout, oof, test.fingerprint, test.n_rows)
    refit = None
    if cfg.cv.refit == "full":
        refit = load_refit_test_logits(
            layout, family, oof.lineage[0].train_cache, test.fingerprint, test.n_rows
        )
    part = ensemble_family(cfg, oof, tests, refit, stacking_rows(cfg, oof.fold))
    calibrator = Calibrator.from_dict(part.report["calibrator"])
    name = registry.get(family).title
    metrics = scorer.score(calibrator, oof.logit, oof.label, part.test_logits)
    kind = "refit on every row" if refit is not None else "fold ensemble"
    ensemble = Row(f"{name} ({kind})", metrics, float(sum(seconds)))
    member_scores = [m["Score_calibrated"] for m in part.members.values()]
    best = int(np.argmax(member_scores))
    rows = oof.fold == best
    own = fit_calibrator(cfg.calibration, oof.logit[rows], oof.label[rows])
    metrics = scorer.score(own, oof.logit[rows], oof.label[rows], tests[best])
    single = Row(f"{name} (best fold {best})", metrics, seconds[best])
    return ensemble, single, calibrator.apply(part.test_logits)


def logistic_row(cfg: TossConfig, layout: Layout, scorer: Scorer) -> Row:
    start = time.perf_counter()
    lr = logistic_baseline(cfg, layout, fold=0)
    calibrator = fit_calibrator(cfg.calibration, lr.val_logits, lr.val_labels)
    metrics = scorer.score(calibrator, lr.val_logits, lr.val_labels, lr.test_logits)
    return Row("logistic regression", metrics, time.perf_counter() - start)


def plain_rows(cfg: TossConfig, layout: Layout) -> list[Row]:
    """The bars users compare against (one LightGBM, one CatBoost), on the raw Parquet the config names."""
    from bench.plain_catboost import plain_catboost
    from bench.plain_lightgbm import plain_lightgbm

    return [
        _plain_row("plain LightGBM", plain_lightgbm, cfg, layout),
        _plain_row("plain CatBoost", plain_catboost, cfg, layout),
    ]


def _plain_row(name: str, bar: Callable[..., dict[str, float]], cfg: TossConfig, layout: Layout) -> Row:
    spec = ShardedCache(layout.train_cache).spec
    m = bar(
        layout.train_path,
        layout.test_path,
        layout.truth_path,
        cfg.data.label_col,
        cfg.data.id_col,
        list(spec.cat_cols),
        list(spec.num_cols),
        seed=cfg.seed,
    )
    return Row(name, {k: m[k] for k in ("AUC", "AP", "WLL", "Score")}, m["seconds"])


# ------------------------------------------------------------------------------------------ effects
EFFECT_GROUPS = {  # planted effects (toss_core.synth.click docstring table), grouped by what learns them
    "ad ids": ("ad_set", "campaign", "creative"),
    "ad × recent sequence": ("target_aware_sequence",),
    "inventory × recent sequence": ("inventory_x_recent_interests",),
    "inventory (+ × age, × night)": ("inventory_id", "inventory_x_age", "hour_x_inventory"),
    "numeric, non-linear": ("history_a_1", "feat_a_3", "history_b_2", "feat_e_3", "history_a_1_x_l_feat_16"),
    "small categoricals": ("age_group", "gender", "hour", "day_of_week", "l_feat_1"),
    "sequence length": ("sequence_length",),
}


def captured_effects(cfg: TossConfig, layout: Layout, models: dict[str, np.ndarray]) -> str:
    """Which planted effects each model learned: its calibrated test logits regressed (least squares, with
    an intercept) on the effect groups' true contributions. 1 = learned at full size, 0 = missed."""
    import polars as pl

    from toss_core.synth import truth_effects

    syn = cfg.data.synthetic
    effects = truth_effects(syn.seed, syn.test_rows, syn.seq_len_scale)
    ids = pl.Series(ShardedCache(layout.test_cache).read_field("id").astype(str))
    order = ids.str.strip_prefix("TEST_").cast(pl.Int64).to_numpy()  # file row of each cache row
    groups = np.column_stack(
        [np.sum([effects[e] for e in names], axis=0)[order] for names in EFFECT_GROUPS.values()]
    )
    design = np.column_stack([groups, np.ones(len(order))])
    lines = [
        "| model | " + " | ".join(EFFECT_GROUPS) + " |",
        "|---" * (len(EFFECT_GROUPS) + 1) + "|",
        "| (sd of the effect in the truth) | " + " | ".join(f"{sd:.2f}" for sd in groups.std(axis=0)) + " |",
    ]
    for name, z in models.items():
        coef = np.linalg.lstsq(design, z, rcond=None)[0][:-1]
        lines.append(f"| {name} | " + " | ".join(f"{c:.2f}" for c in coef) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ one run
def train_and_predict(ctx: RunContext, families: list[str]) -> dict[str, list[float]]:
    """Every fold of every family trained and its test logits written; seconds per fold."""
    seconds: dict[str, list[float]] = {}
    for family in families:
        seconds[family] = []
        for fold in range(ctx.cfg.cv.n_splits):
            trained = steps.train_fold(ctx, family, fold)
            predicted = steps.predict_test(ctx, family, fold)
            seconds[family].append(trained.seconds + predicted.seconds)
        if ctx.cfg.cv.refit == "full":
            seconds[family].append(steps.refit(ctx, family).seconds)
    return seconds


def run_once(cfg: TossConfig, args: argparse.Namespace) -> tuple[list[Row], str | None]:
    """Train and score one run; returns its rows and, on synthetic data, the captured-effects table."""
    ctx = RunContext.from_config(cfg, REPO)
    layout = ctx.layout
    steps.prepare(ctx)
    seconds = train_and_predict(ctx, args.families)
    truth = load_test_truth(cfg, layout)
    scorer = Scorer(truth)
    y = truth.labels if truth is not None else load_family_oof(
        layout, args.families[0], cfg.cv.n_splits, ShardedCache(layout.train_cache).n_rows
    ).label  # fmt: skip
    rows = [Row("prior-only", evaluate(y, np.full(y.size, 0.5)), None)]
    if truth is not None and not args.no_plain:
        rows += plain_rows(cfg, layout)
    if not args.no_lr:
        rows.append(logistic_row(cfg, layout, scorer))
    calibrated: dict[str, np.ndarray] = {}
    for family in args.families:
        ensemble, single, test_logits = family_rows(cfg, layout, family, scorer, seconds[family])
        rows += [single, ensemble] if family == "nn" else [ensemble]  # the network's best fold: issue 13
        calibrated[ensemble.model] = test_logits
    if len(args.families) > 1:
        start = time.perf_counter()
        result = steps.ensemble(ctx)
        total = sum(map(sum, seconds.values())) + time.perf_counter() - start
        if truth is not None:
            test_pred = np.load(layout.test_pred_path)
            rows.append(Row("cross-family ensemble", evaluate(truth.labels, test_pred), total))
            calibrated["cross-family ensemble"] = logit(test_pred)
        else:
            rows.append(Row("cross-family ensemble (OOF)", dict(result.oof_calibrated), total))
        shares = ", ".join(f"{f} {result.weights[f]:.2f}" for f in args.families)
        rows[-1].model += f" [weights {shares}]"
    if truth is not None and truth.p_true is not None:
        z = prior_shift(logit(truth.p_true), float(truth.p_true.mean()))
        rows.append(Row("oracle (p_true)", evaluate_logits(truth.labels, z), None))
    synthetic = truth is not None and cfg.data.source == "synthetic"
    return rows, captured_effects(cfg, layout, calibrated) if synthetic and calibrated else None


# ------------------------------------------------------------------------------------------ main
def _oracle(rows: list[Row]) -> float | None:
    return next((r.metrics["Score"] for r in rows if r.model.startswith("oracle")), None)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cfg", default=str(REPO / "cfgs" / "quality.yaml"))
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--data", default=None, help="a folder with train/test/test_truth.parquet (real data)")
    p.add_argument("--own", action="store_true", help="the config's own data (data.train_path/test_path)")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="synthetic seeds")
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--test-rows", type=int, default=None, help="default rows // 4")
    p.add_argument(
        "--families", nargs="+", default=None, choices=registry.known(), help="default: the config's"
    )
    p.add_argument("--no-lr", action="store_true", help="skip the logistic-regression baseline")
    p.add_argument("--no-plain", action="store_true", help="skip the plain LightGBM and CatBoost bars")
    p.add_argument("--summary", nargs="+", default=None, metavar="TAG", help="combine earlier runs' tables")
    p.add_argument("--suffix", default="", help="appended to a synthetic exp_name")
    p.add_argument("--tag", default=None, help="name of this benchmark in the report and the chart file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    seeds: list[int | None] = [None] if args.data or args.own else list(args.seeds)
    tag = args.tag or (Path(args.data).name if args.data else f"n{args.rows}")
    command = "nice .venv/bin/python -m bench.quality " + " ".join(
        shlex.quote(a) for a in (argv or sys.argv[1:])
    )
    runs: dict[str, list[Row]] = read_runs(RESULTS / "quality.md", args.summary) if args.summary else {}
    effects: dict[str, str] = {}
    for seed in [] if args.summary else seeds:
        name = (args.data or args.cfg) if seed is None else f"seed {seed}, {args.rows:,} rows"
        cfg = run_config(args, seed)
        args.families = args.families or list(cfg.families)
        runs[name], learned = run_once(cfg.model_copy(update={"families": args.families}), args)
        if learned:
            effects[name] = learned
        print(f"\n### {name}\n" + table(runs[name], _oracle(runs[name])), flush=True)
    parts = [
        f"## {tag} ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        f"Command: `{command}`",
        "Scored on the test set against its truth file (the OOF rows where there is none); every toss model "
        "calibrated on its own OOF logits. Time: training + test prediction, summed over folds (CPU).",
    ]
    for name, rows in runs.items():
        parts += [f"### {name}", table(rows, _oracle(rows))]
        if name in effects:
            parts += ["Planted effects each model learned (1 = full size, 0 = missed):", effects[name]]
    if len(runs) > 1:
        parts += ["### Summary", summary(runs)[0]]
    if any(_oracle(rows) is not None for rows in runs.values()):
        parts += ["### Targets", targets(runs) or "- (not all models ran)"]
    png = RESULTS / f"quality_{tag}.png"
    chart(runs, png, f"quality: {tag}")
    parts += [f"![quality chart]({png.name})"]
    text = "\n\n".join(parts)
    print("\n" + text)
    append_report(text)


if __name__ == "__main__":
    main()
