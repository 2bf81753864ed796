"""Quality benchmark: how close each model family gets to the planted truth of the synthetic data.

It runs the real product through toss_core.steps (raw data, caches, folds, co-visitation features,
both model families, the cross-family ensemble) once per seed, with config overrides only (exp_name,
data paths and generator seed/size per run), then scores on the synthetic TEST set against
test_truth.parquet:

    prior-only                 the constant 0.5 (the best constant under WLL)
    logistic regression        fold 0's training rows; one-hot small categoricals, target-encoded ids,
                               standardised numerics and covis features (sklearn, lbfgs)
    LightGBM (fold ensemble)   toss_core.gbdt, mean of the folds' test logits
    DARE + QNN-α (best fold)   the fold with the best calibrated OOF Score
    DARE + QNN-α (fold ens.)   mean of the folds' test logits
    cross-family ensemble      runs/<exp>/test_pred.npy, the product's own calibrated prediction
    oracle                     p_true moved to the 50:50 prior (the best any model can do)

On synthetic data a second table says which planted effects each model learned: its calibrated test
logits regressed on each effect group's true contribution (toss_core.synth.truth_effects).

Every model is calibrated with the project's calibrator (toss_core.scoring.calibration, fitted on that model's
out-of-fold logits, never on test), so the comparison is fair under WLL. For a config whose data has no
test_truth.parquet (a real CTR Parquet) the same models are scored on their calibrated OOF rows instead.

    nice .venv/bin/python bench/quality.py --cfg cfgs/quality.yaml --seeds 0 1 2 --rows 200000
    nice .venv/bin/python bench/quality.py --cfg cfgs/quality.yaml --mode encodings --seeds 0 1 2
    nice .venv/bin/python bench/quality.py --cfg cfgs/my_parquet.yaml --real

Writes bench/results/quality_<tag>.png and appends the tables with the command to bench/results/quality.md.
"""

from __future__ import annotations

import argparse
import logging
import re
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toss_core import steps
from toss_core.config import TossConfig, load_config
from toss_core.layout import Layout
from toss_core.scoring.calibration import fit_calibrator
from toss_core.scoring.metrics import evaluate, evaluate_logits, prior_shift

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
log = logging.getLogger("toss")
NN = "DARE + QNN-α"


@dataclass
class Row:
    model: str
    metrics: dict[str, float]
    seconds: float | None


# ------------------------------------------------------------------------------------------ configs
def run_config(args: argparse.Namespace, seed: int | None, suffix: str = "") -> TossConfig:
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
            f"exp_name=quality_{run}{suffix}",
        ]
    else:
        base = load_config(args.cfg, overrides)
        overrides.append(f"exp_name={base.exp_name}_quality{suffix}")
    return load_config(args.cfg, [*overrides, "gbdt.enabled=true"])


def prepare(cfg: TossConfig, layout: Layout) -> float:
    """Raw data, caches, folds and co-visitation features; returns the seconds they took."""
    start = time.perf_counter()
    steps.prepare_raw(cfg, layout)
    steps.build_caches(cfg, layout)
    steps.assign_folds(cfg, layout)
    if cfg.features.covis.enabled:
        steps.build_covis(cfg, layout)
    return time.perf_counter() - start


def train_family(cfg: TossConfig, layout: Layout, family: str, n_folds: int | None = None) -> list[float]:
    """Train every fold (or the first n_folds) of one family; returns seconds per fold."""
    folds = range(n_folds or cfg.cv.n_splits)
    return [steps.train_fold(cfg, k, layout, family).seconds for k in folds]


# ------------------------------------------------------------------------------------------ reading
def read_oof(layout: Layout, family: str, fold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with np.load(layout.oof_path(fold, family)) as z:
        return z["index"], z["logit"].astype(np.float64), z["label"].astype(np.float64)


def test_logits(cfg: TossConfig, layout: Layout, family: str, fold: int) -> np.ndarray:
    """The fold's test logits as the ensemble step wrote them (gbdt: predicted here if absent)."""
    path = layout.test_logits_path(fold, family)
    if path.is_file():
        return np.load(path).astype(np.float64)
    if family == "gbdt":
        from toss_core.gbdt.train import predict_test

        return predict_test(cfg, layout, fold).astype(np.float64)
    raise FileNotFoundError(f"{path}: run the ensemble step first")


def test_truth(layout: Layout) -> tuple[np.ndarray, np.ndarray] | None:
    """(clicked, p_true) of the test rows in test-cache order, or None for data without a truth file."""
    import polars as pl

    from toss_core.data.reader import ShardedCache

    if not layout.truth_path.is_file():
        return None
    ids = ShardedCache(layout.test_cache).read_field("id")
    order = pl.DataFrame({"ID": ids.astype(str)})
    truth = order.join(pl.read_parquet(layout.truth_path), on="ID", how="left", maintain_order="left")
    if truth["clicked"].null_count():
        raise ValueError(f"{layout.truth_path}: {truth['clicked'].null_count()} test IDs have no truth")
    return truth["clicked"].to_numpy().astype(np.float64), truth["p_true"].to_numpy()


# ------------------------------------------------------------------------------------------ scoring
class Scorer:
    """Calibrate a model on its OOF logits, then score it on test (truth) or on the OOF rows (no truth)."""

    def __init__(self, cfg: TossConfig, truth: tuple[np.ndarray, np.ndarray] | None):
        self.cfg, self.truth = cfg, truth

    def score(self, oof_logits: np.ndarray, oof_labels: np.ndarray, test: np.ndarray | None) -> dict:
        cal = fit_calibrator(self.cfg.calibration, oof_logits, oof_labels)
        if self.truth is None or test is None:
            return evaluate_logits(oof_labels, cal.apply(oof_logits))
        return evaluate_logits(self.truth[0], cal.apply(test))

    def _family_logits(self, layout: Layout, family: str, folds: list[int]) -> tuple[np.ndarray, ...]:
        parts = [read_oof(layout, family, k) for k in folds]
        oof_z = np.concatenate([p[1] for p in parts])
        oof_y = np.concatenate([p[2] for p in parts])
        test = None
        if self.truth is not None:
            test = np.mean([test_logits(self.cfg, layout, family, k) for k in folds], axis=0)
        return oof_z, oof_y, test

    def family(self, layout: Layout, family: str, folds: list[int]) -> dict:
        """Calibrated metrics of the logit mean of `folds` (one fold = that fold alone)."""
        return self.score(*self._family_logits(layout, family, folds))

    def family_test_logits(self, layout: Layout, family: str, folds: list[int]) -> np.ndarray:
        """The calibrated test logits that `family` scores (needs the truth: synthetic data)."""
        oof_z, oof_y, test = self._family_logits(layout, family, folds)
        return fit_calibrator(self.cfg.calibration, oof_z, oof_y).apply(test)


def logistic_regression(cfg: TossConfig, layout: Layout, scorer: Scorer) -> Row:
    """A linear baseline on fold 0, over the same cache and covis features as LightGBM."""
    import scipy.sparse as sp
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from toss_core.data.folds import load_folds
    from toss_core.data.reader import ShardedCache
    from toss_core.gbdt.design import DesignPlan, build_matrix, iter_design
    from toss_core.gbdt.train import fit_id_encoder

    start = time.perf_counter()
    cfg = cfg.model_copy(update={"gbdt": cfg.gbdt.model_copy(update={"id_encoding": "target"})})
    cache = ShardedCache(layout.train_cache)
    dense = ShardedCache(layout.covis_train) if cfg.features.covis.enabled else None
    dense_cols = [] if dense is None else list(dense.manifest["columns"]["dense"])
    plan = DesignPlan.build(cache.spec, cfg.gbdt, cache.fields, dense_cols)
    folds, labels = load_folds(layout), cache.read_field("label").astype(np.float64)
    tr, va = np.flatnonzero(folds != 0), np.flatnonzero(folds == 0)
    enc, oof_te = fit_id_encoder(cfg, plan, cache, tr, labels[tr])
    n_cat = len(plan.native_cols)
    onehot = OneHotEncoder(handle_unknown="ignore", min_frequency=20)
    scale = StandardScaler()

    def design(x: np.ndarray, fit: bool = False):
        cats, rest = x[:, :n_cat], np.nan_to_num(x[:, n_cat:])
        if fit:
            onehot.fit(cats)
            scale.fit(rest)
        return sp.hstack([onehot.transform(cats), sp.csr_matrix(scale.transform(rest))]).tocsr()

    x_tr = design(build_matrix(plan, cache, tr, enc, oof_te, dense), fit=True)
    model = LogisticRegression(C=1.0, max_iter=300).fit(x_tr, labels[tr])
    oof = model.decision_function(design(build_matrix(plan, cache, va, enc, None, dense)))
    test = None
    if scorer.truth is not None:
        test_cache = ShardedCache(layout.test_cache)
        test_dense = ShardedCache(layout.covis_test) if dense is not None else None
        blocks = [b for _, _, b in iter_design(plan, test_cache, None, enc, None, test_dense)]
        test = model.decision_function(design(np.concatenate(blocks)))
    return Row("logistic regression", scorer.score(oof, labels[va], test), time.perf_counter() - start)


def score_run(
    cfg: TossConfig, layout: Layout, families: list[str], times: dict[str, float], lr: Row | None
) -> list[Row]:
    truth = test_truth(layout)
    scorer = Scorer(cfg, truth)
    k = list(range(cfg.cv.n_splits))
    if truth is not None:
        prior = evaluate(truth[0], np.full(len(truth[0]), 0.5))
    else:
        y = np.concatenate([read_oof(layout, families[0], f)[2] for f in k])
        prior = evaluate(y, np.full(len(y), 0.5))
    rows = [Row("prior-only", prior, None)]
    rows += [lr] if lr is not None else []
    if "gbdt" in families:
        rows.append(Row("LightGBM (fold ensemble)", scorer.family(layout, "gbdt", k), times["gbdt"]))
    if "nn" in families:
        per_fold = [scorer.score(*read_oof(layout, "nn", f)[1:], None)["Score"] for f in k]
        best = int(np.argmax(per_fold))
        rows.append(Row(f"{NN} (best fold {best})", scorer.family(layout, "nn", [best]), times[f"nn_{best}"]))
        rows.append(Row(f"{NN} (fold ensemble)", scorer.family(layout, "nn", k), times["nn"]))
    if len(families) > 1:
        total = times["nn"] + times["gbdt"] + times["ensemble"]
        if truth is not None:
            rows.append(
                Row("cross-family ensemble", evaluate(truth[0], np.load(layout.test_pred_path)), total)
            )
        else:
            result = steps.ensemble(cfg, layout)
            rows.append(Row("cross-family ensemble (OOF)", dict(result.oof_calibrated), total))
    if truth is not None:
        z = np.log(truth[1]) - np.log1p(-truth[1])
        rows.append(
            Row("oracle (p_true)", evaluate_logits(truth[0], prior_shift(z, float(truth[1].mean()))), None)
        )
    return rows


# ------------------------------------------------------------------------------------------ effects
EFFECT_GROUPS = {  # planted effects (toss_core.synth docstring table), grouped by what learns them
    "ad ids": ("ad_set", "campaign", "creative"),
    "ad × recent sequence": ("target_aware_sequence",),
    "inventory × recent sequence": ("inventory_x_recent_interests",),
    "inventory (+ × age, × night)": ("inventory_id", "inventory_x_age", "hour_x_inventory"),
    "numeric, non-linear": ("history_a_1", "feat_a_3", "history_b_2", "feat_e_3", "history_a_1_x_l_feat_16"),
    "small categoricals": ("age_group", "gender", "hour", "day_of_week", "l_feat_1"),
    "sequence length": ("sequence_length",),
}


def captured_effects(cfg: TossConfig, layout: Layout, scorer: Scorer, families: list[str]) -> str:
    """Which planted effects each model learned: its calibrated test logits regressed (least squares, with
    an intercept) on the effect groups' true contributions. 1 = learned at full size, 0 = missed; the
    oracle scores 1 everywhere by construction. Synthetic data only."""
    import polars as pl

    from toss_core.data.reader import ShardedCache
    from toss_core.post.ensemble import logit
    from toss_core.synth import truth_effects

    syn = cfg.data.synthetic
    effects = truth_effects(syn.seed, syn.test_rows, syn.seq_len_scale)
    ids = pl.Series(ShardedCache(layout.test_cache).read_field("id").astype(str))
    order = ids.str.strip_prefix("TEST_").cast(pl.Int64).to_numpy()  # file row of each cache row
    groups = np.column_stack([sum(effects[e] for e in names)[order] for names in EFFECT_GROUPS.values()])
    design = np.column_stack([groups, np.ones(len(order))])
    names = {"gbdt": "LightGBM (fold ensemble)", "nn": f"{NN} (fold ensemble)"}
    folds = list(range(cfg.cv.n_splits))
    models = {names[f]: scorer.family_test_logits(layout, f, folds) for f in names if f in families}
    if len(families) > 1:
        models["cross-family ensemble"] = logit(np.load(layout.test_pred_path))
    lines = [
        "| model | " + " | ".join(EFFECT_GROUPS) + " |",
        "|---" * (len(EFFECT_GROUPS) + 1) + "|",
        "| (sd of the effect in the truth) | " + " | ".join(f"{sd:.2f}" for sd in groups.std(axis=0)) + " |",
    ]
    for name, z in models.items():
        coef = np.linalg.lstsq(design, z, rcond=None)[0][:-1]
        lines.append(f"| {name} | " + " | ".join(f"{c:.2f}" for c in coef) + " |")
    return "\n".join(lines)


def run_once(cfg: TossConfig, families: list[str], with_lr: bool) -> tuple[list[Row], str | None]:
    """Train and score one run; returns its model rows and, on synthetic data, the captured-effects table."""
    layout = Layout(cfg, root=REPO)
    times: dict[str, float] = {"prepare": prepare(cfg, layout)}
    for fam in families:
        per_fold = train_family(cfg, layout, fam)
        times[fam] = float(sum(per_fold))
        times.update({f"{fam}_{k}": s for k, s in enumerate(per_fold)})
    start = time.perf_counter()
    if families:
        steps.ensemble(cfg, layout)
    times["ensemble"] = time.perf_counter() - start
    truth_scorer = Scorer(cfg, test_truth(layout))
    lr = logistic_regression(cfg, layout, truth_scorer) if with_lr else None
    rows = score_run(cfg, layout, families, times, lr)
    synthetic = truth_scorer.truth is not None and cfg.data.source == "synthetic" and families
    return rows, captured_effects(cfg, layout, truth_scorer, families) if synthetic else None


# ------------------------------------------------------------------------------------------ encodings
def run_encodings(args: argparse.Namespace, seed: int) -> list[Row]:
    """LightGBM alone with each id encoding, on the same caches, folds and covis features."""
    rows = []
    base = run_config(args, seed, suffix="_enc")
    prepare(base, Layout(base, root=REPO))
    for enc in args.encodings:
        cfg = base.model_copy(update={"gbdt": base.gbdt.model_copy(update={"id_encoding": enc})})
        layout = Layout(cfg, root=REPO)
        seconds = sum(train_family(cfg, layout, "gbdt", args.folds))
        scorer = Scorer(cfg, test_truth(layout))
        k = list(range(args.folds or cfg.cv.n_splits))
        test_m = scorer.family(layout, "gbdt", k)
        oof_m = Scorer(cfg, None).family(layout, "gbdt", k)
        rows.append(Row(enc, {**test_m, "OOF Score": oof_m["Score"]}, seconds))
    return rows


# ------------------------------------------------------------------------------------------ output
def _base(model: str) -> str:
    """The model's name without the fold number, so runs line up."""
    return re.sub(r"\(best fold \d+\)", "(best fold)", model)


def _fmt(x: float | None, digits: int = 4) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def table(rows: list[Row], oracle: float | None) -> str:
    lines = [
        "| model | AUC | AP | WLL | Score | gap to oracle | train time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        m = r.metrics
        gap = None if oracle is None else oracle - m["Score"]
        lines.append(
            f"| {r.model} | {_fmt(m['AUC'])} | {_fmt(m['AP'])} | {_fmt(m['WLL'])} | {_fmt(m['Score'])} | "
            f"{_fmt(gap)} | {_fmt(r.seconds, 1)} |"
        )
    return "\n".join(lines)


def summary(runs: dict[str, list[Row]]) -> tuple[str, dict[str, tuple[float, float]]]:
    """Mean ± sd of Score and of the gap to the oracle over runs, per model (matched by name prefix)."""
    names = [_base(r.model) for r in next(iter(runs.values()))]
    scores: dict[str, list[float]] = {n: [] for n in names}
    gaps: dict[str, list[float]] = {n: [] for n in names}
    for rows in runs.values():
        oracle = next((r.metrics["Score"] for r in rows if r.model.startswith("oracle")), None)
        for r in rows:
            name = _base(r.model)
            scores[name].append(r.metrics["Score"])
            if oracle is not None:
                gaps[name].append(oracle - r.metrics["Score"])
    lines = [
        f"| model | Score mean ± sd over {len(runs)} runs | gap to oracle mean ± sd |",
        "|---|---|---|",
    ]
    stats = {}
    for n in names:
        s = np.array(scores[n])
        g = np.array(gaps[n]) if gaps[n] else None
        stats[n] = (float(s.mean()), float(s.std()))
        gap = "—" if g is None else f"{g.mean():.4f} ± {g.std():.4f}"
        lines.append(f"| {n} | {s.mean():.4f} ± {s.std():.4f} | {gap} |")
    return "\n".join(lines), stats


def targets(runs: dict[str, list[Row]]) -> str:
    """The three synthetic-data targets, checked per run."""
    out = []
    for run, rows in runs.items():
        by = {_base(r.model): r.metrics["Score"] for r in rows}
        needed = ["LightGBM", f"{NN}", "cross-family ensemble", "oracle (p_true)"]
        got = {n: next((v for k, v in by.items() if k.startswith(n)), None) for n in needed}
        if None in got.values():
            continue
        nn = by.get(f"{NN} (fold ensemble)", got[NN])
        gb, ens, orc = got["LightGBM"], got["cross-family ensemble"], got["oracle (p_true)"]
        checks = [
            f"NN − LightGBM = {nn - gb:+.4f} "
            f"(target ≥ +0.005: {'met' if round(nn - gb, 6) >= 0.005 else 'MISSED'})",
            f"ensemble − max(NN, LightGBM) = {ens - max(nn, gb):+.4f} "
            f"(target > 0: {'met' if ens > max(nn, gb) else 'MISSED'})",
            f"oracle − ensemble = {orc - ens:.4f} "
            f"(target ≤ 0.010: {'met' if round(orc - ens, 6) <= 0.010 else 'MISSED'})",
        ]
        out.append(f"- {run}: " + "; ".join(checks))
    return "\n".join(out)


def chart(runs: dict[str, list[Row]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [_base(r.model) for r in next(iter(runs.values()))]
    width = 0.8 / len(runs)
    fig, ax = plt.subplots(figsize=(max(7, 1.3 * len(names)), 4.2))
    for i, (run, rows) in enumerate(runs.items()):
        ax.bar(np.arange(len(rows)) + i * width, [r.metrics["Score"] for r in rows], width, label=run)
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names, rotation=20, ha="right", fontsize=8)
    lo = min(r.metrics["Score"] for rows in runs.values() for r in rows)
    ax.set_ylim(lo - 0.02, None)
    ax.set_ylabel("Score (test, calibrated)")
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def append_report(text: str) -> None:
    path = RESULTS / "quality.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file():
        path.write_text("# Quality benchmark\n\nWritten by bench/quality.py; newest run last.\n")
    with path.open("a") as fh:
        fh.write("\n" + text.rstrip() + "\n")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cfg", default=str(REPO / "cfgs" / "quality.yaml"))
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument(
        "--mode",
        choices=["models", "encodings", "summary"],
        default="models",
        help="summary: combine the per-run tables of earlier `models` runs (--tags) from quality.md",
    )
    p.add_argument("--tags", nargs="+", default=[], help="summary mode: the runs to combine")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--test-rows", type=int, default=None, help="default rows // 4")
    p.add_argument("--real", action="store_true", help="use the config's own data (no truth: OOF scores)")
    p.add_argument("--families", nargs="+", default=["nn", "gbdt"], choices=["nn", "gbdt"])
    p.add_argument("--encodings", nargs="+", default=["native", "frequency", "target"])
    p.add_argument("--folds", type=int, default=None, help="encodings mode: train only the first N folds")
    p.add_argument("--no-lr", action="store_true", help="skip the logistic-regression baseline")
    p.add_argument("--tag", default=None, help="name of this benchmark in the report and the chart file")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    seeds: list[int | None] = [None] if args.real else list(args.seeds)
    tag = args.tag or (f"{args.mode}_real" if args.real else f"{args.mode}_n{args.rows}")
    command = "nice .venv/bin/python bench/quality.py " + " ".join(
        shlex.quote(a) for a in (argv or sys.argv[1:])
    )

    runs: dict[str, list[Row]] = {}
    effects: dict[str, str] = {}
    if args.mode == "summary":
        runs = read_runs(RESULTS / "quality.md", args.tags)
        seeds = []
    for seed in seeds:
        name = "real data" if seed is None else f"seed {seed}, {args.rows:,} rows"
        if args.mode == "encodings":
            runs[name] = run_encodings(args, seed)
        else:
            runs[name], learned = run_once(run_config(args, seed), args.families, not args.no_lr)
            if learned:
                effects[name] = learned
        print(f"\n### {name}\n" + table(runs[name], _oracle(runs[name])), flush=True)

    scored_on = (
        "synthetic TEST set vs test_truth.parquet" if not args.real else "calibrated OOF rows (no truth)"
    )
    parts = [
        f"## {tag} ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        f"Command: `{command}`",
        f"Scored on the {scored_on}; every model calibrated with toss_core.scoring.calibration fitted "
        "on its own "
        "OOF logits. Train time: summed over folds (CPU, 2 shared cores).",
    ]
    if args.mode == "encodings":
        if args.folds:
            parts += [
                f"LightGBM on the first {args.folds} fold(s) only (mean of their test logits, calibrated on "
                "their OOF rows); same caches, folds, covis features and params for every encoding."
            ]
        parts += [enc_table(runs)]
    else:
        if args.mode == "summary":
            parts[2] = f"Combines the runs {args.tags} above (same scoring)."
        for name, rows in runs.items():
            parts += [f"### {name}", table(rows, _oracle(rows))]
            if name in effects:
                parts += [
                    "Which planted effects each model learned (test logits regressed on the true effect "
                    "contributions; 1 = full size, 0 = missed):",
                    effects[name],
                ]
        if len(runs) > 1:
            parts += ["### Summary", summary(runs)[0]]
        parts += ["### Targets", targets(runs) or "- (not all models ran)"]
        png = RESULTS / f"quality_{tag}.png"
        chart(runs, png, f"quality: {tag}")
        parts += [f"![quality chart]({png.name})"]
    text = "\n\n".join(parts)
    print("\n" + text)
    append_report(text)


def read_runs(report: Path, tags: list[str]) -> dict[str, list[Row]]:
    """The per-run model tables that earlier runs with these tags appended to the report."""
    runs: dict[str, list[Row]] = {}
    sections = re.split(r"^## ", report.read_text(), flags=re.M)
    for tag in tags:
        found = [sec for sec in sections if sec.startswith(f"{tag} (")]
        if not found:
            raise SystemExit(f"{report}: no section for run tag '{tag}'")
        for block in re.split(r"^### ", found[-1], flags=re.M)[1:]:
            name, _, body = block.partition("\n")
            lines = [ln for ln in body.splitlines() if ln.startswith("| ") and not ln.startswith("| model")]
            if not lines or name.strip() in ("Summary", "Targets"):
                continue
            rows = []
            for ln in lines:
                cells = [c.strip() for c in ln.strip("|").split("|")]
                auc, ap, wll, score = (float(c) for c in cells[1:5])
                seconds = None if cells[6] == "—" else float(cells[6])
                rows.append(Row(cells[0], {"AUC": auc, "AP": ap, "WLL": wll, "Score": score}, seconds))
            runs[name.strip()] = rows
    return runs


def _oracle(rows: list[Row]) -> float | None:
    return next((r.metrics["Score"] for r in rows if r.model.startswith("oracle")), None)


def enc_table(runs: dict[str, list[Row]]) -> str:
    """Encodings × runs: test Score (calibrated fold ensemble), OOF Score, AUC, time; and the mean."""
    lines = [
        "| id encoding | run | test AUC | test Score | OOF Score | train time (s) |",
        "|---|---|---|---|---|---|",
    ]
    means: dict[str, list[float]] = {}
    for run, rows in runs.items():
        for r in rows:
            m = r.metrics
            means.setdefault(r.model, []).append(m["Score"])
            lines.append(
                f"| {r.model} | {run} | {m['AUC']:.4f} | {m['Score']:.4f} | {m['OOF Score']:.4f} | "
                f"{_fmt(r.seconds, 1)} |"
            )
    for enc, s in means.items():
        lines.append(f"| **{enc}** | mean of {len(s)} | | **{np.mean(s):.4f}** | | |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
