"""Fold-0 quality of the demo model against baselines and its own ablations, on the same data and folds.

Rows: the demo model (cfgs/demo.yaml), the ablations (no DARE: sequence.col=null; DARE without top-k:
sequence.full_softmax=true; MLP head instead of QNN-α; optionally no co-visitation features), logistic
regression on the same cached features, the constant prior, and the planted oracle.

Columns: fold-0 validation metrics and test-set metrics. Every model's logits are moved from the training
base rate to the 50:50 prior before scoring (what the calibration step does; WLL rewards it). The oracle
needs p_true, which the generator keeps only for TEST rows, so it appears in the test column only; the
test column therefore measures each model's gap to the oracle on identical rows.

Logistic regression (sklearn, lbfgs, C=1): one-hot of every categorical id (ids seen fewer than 5 times
share one column), numeric columns as sign(x)·log1p|x| standardised, the null mask, and the co-visitation
features when they are on. Every variant shares the run directory, so folds and co-visitation features
are computed once; each variant's outputs are scored as soon as it finishes.

    nice .venv/bin/python bench/ablations.py --md bench/results/train.md
"""

from __future__ import annotations

import argparse
import logging
import shlex
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from train_throughput import write_section  # noqa: E402

from toss_core import steps  # noqa: E402
from toss_core.config import TossConfig, load_config  # noqa: E402
from toss_core.data.folds import load_folds  # noqa: E402
from toss_core.data.reader import ShardedCache  # noqa: E402
from toss_core.layout import Layout  # noqa: E402
from toss_core.scoring.metrics import (  # noqa: E402
    evaluate_logits,
    fold_metrics,
    prior_only_score,
    prior_shift,
)
from toss_core.spec import FeatureSpec  # noqa: E402
from toss_core.synth import oracle_metrics  # noqa: E402
from toss_core.train.predict import load_checkpoint, predict_logits  # noqa: E402

VARIANTS = {
    "demo (DARE top-k + QNN-α)": [],
    "no DARE (sequence.col=null)": ["sequence.col=null"],
    "DARE without top-k (full softmax)": ["sequence.full_softmax=true"],
    "MLP head instead of QNN-α": ["model.head=mlp"],
    "no co-visitation features": ["features.covis.enabled=false"],
}


def base_overrides(args: argparse.Namespace) -> list[str]:
    out = ["logging.log_dir=runs/ablations", "logging.tb=false", *args.set]
    if args.rows:
        tag = f"ablation_{args.rows}"
        out += [
            f"data.synthetic.train_rows={args.rows}",
            f"data.synthetic.test_rows={max(args.rows // 5, 1000)}",
            f"data.train_path=data/{tag}/train.parquet",
            f"data.test_path=data/{tag}/test.parquet",
            f"data.cache_dir=cache/{tag}",
        ]
    return out


def test_truth(layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """Test labels and p_true in test-cache row order (joined on ID)."""

    ids = pl.DataFrame({"ID": ShardedCache(layout.test_cache).read_field("id").astype(str)})
    truth = pl.read_parquet(layout.truth_path, columns=["ID", "clicked", "p_true"])
    joined = ids.join(truth, on="ID", how="left", maintain_order="left")
    return joined["clicked"].to_numpy().astype(np.float64), joined["p_true"].to_numpy()


def test_logits(cfg: TossConfig, layout: Layout) -> np.ndarray:
    """Fold-0 checkpoint on the test cache: true-prior logits."""

    model, ckpt = load_checkpoint(layout.checkpoint(0), "cpu")
    dense = ShardedCache(layout.covis_test) if cfg.features.covis.enabled else None
    spec = FeatureSpec.from_dict(ckpt["spec"])
    cache = ShardedCache(layout.test_cache)
    return predict_logits(
        model, cache, dense, cfg.train.eval_batch_size, "cpu", ckpt["logit_offset"], spec=spec
    )


def _design(cache, dense_cache, rows: np.ndarray | None):
    """Sparse design matrix blocks for logistic regression (rows=None: all rows)."""
    rows = np.arange(cache.n_rows) if rows is None else rows
    fields = [f for f in ("cat", "num", "isna") if f in cache.fields]
    arrays = cache.take(rows, fields)
    num = [arrays["num"].astype(np.float64)]
    if dense_cache is not None:
        num.append(dense_cache.take(rows, ["dense"])["dense"].astype(np.float64))
    num = np.concatenate(num, axis=1)
    num = np.sign(num) * np.log1p(np.abs(num))
    extra = arrays["isna"].astype(np.float64) if "isna" in arrays else np.zeros((rows.size, 0))
    return arrays["cat"], np.concatenate([num, extra], axis=1)


def logistic(
    cfg: TossConfig, layout: Layout, train_rows: np.ndarray, val_rows: np.ndarray, labels: np.ndarray
):
    """(validation logits, test logits) of a one-hot + numeric logistic regression."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    train_cache, test_cache = ShardedCache(layout.train_cache), ShardedCache(layout.test_cache)
    covis = cfg.features.covis.enabled
    dense_train = ShardedCache(layout.covis_train) if covis else None
    dense_test = ShardedCache(layout.covis_test) if covis else None
    cat_tr, num_tr = _design(train_cache, dense_train, train_rows)
    onehot = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5).fit(cat_tr)
    scaler = StandardScaler().fit(num_tr)

    def matrix(cat: np.ndarray, num: np.ndarray):
        return sparse.hstack([onehot.transform(cat), sparse.csr_matrix(scaler.transform(num))]).tocsr()

    clf = LogisticRegression(C=1.0, max_iter=300).fit(matrix(cat_tr, num_tr), labels[train_rows])
    val = clf.decision_function(matrix(*_design(train_cache, dense_train, val_rows)))
    test = clf.decision_function(matrix(*_design(test_cache, dense_test, None)))
    return val, test


def _fmt(m: dict[str, float] | None) -> str:
    return "n/a | n/a | n/a" if m is None else f"{m['Score']:.5f} | {m['AP']:.4f} | {m['WLL']:.4f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default="cfgs/demo.yaml")
    p.add_argument("--rows", type=int, default=None, help="synthetic train rows (default: the config's)")
    p.add_argument("--variants", nargs="*", default=list(VARIANTS))
    p.add_argument("--set", action="append", default=[], help="config override for every variant")
    p.add_argument("--md", type=Path, default=None)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")

    base = base_overrides(args)
    cfg = load_config(REPO / args.config, base)
    layout = Layout(cfg, root=REPO)
    if layout.run_dir.exists():
        shutil.rmtree(layout.run_dir)
    steps.prepare_raw(cfg, layout)
    steps.build_caches(cfg, layout)
    steps.assign_folds(cfg, layout)
    if cfg.features.covis.enabled:
        steps.build_covis(cfg, layout)

    labels = ShardedCache(layout.train_cache).read_field("label").astype(np.float64)
    folds = load_folds(layout)
    val_rows, train_rows = np.flatnonzero(folds == 0), np.flatnonzero(folds != 0)
    prior = float(labels[train_rows].mean())
    y_test, _ = test_truth(layout)

    def test_metrics(logits: np.ndarray) -> dict[str, float]:
        return evaluate_logits(y_test, prior_shift(logits, prior, 0.5))

    rows: list[tuple[str, str, dict | None, dict | None, str]] = []
    for name in args.variants:
        vcfg = load_config(REPO / args.config, [*base, *VARIANTS[name]])
        start = time.perf_counter()
        result = steps.train_fold(vcfg, 0, Layout(vcfg, root=REPO))
        seconds = time.perf_counter() - start
        flags = " ".join(f"--set {o}" for o in VARIANTS[name]) or "(defaults)"
        test_m = test_metrics(test_logits(vcfg, Layout(vcfg, root=REPO)))
        rows.append(
            (name, flags, result.metrics, test_m, f"{seconds:.0f}s, best epoch {result.best_epoch + 1}")
        )
        print(name, _fmt(result.metrics), "| test", _fmt(test_m), flush=True)

    start = time.perf_counter()
    val_lr, test_lr = logistic(cfg, layout, train_rows, val_rows, labels)
    lr_note = f"{time.perf_counter() - start:.0f}s"
    rows.append(
        (
            "logistic regression",
            "sklearn",
            fold_metrics(labels[val_rows], val_lr, prior),
            test_metrics(test_lr),
            lr_note,
        )
    )
    prior_row = {
        "Score": prior_only_score(labels[val_rows]),
        "AP": float(labels[val_rows].mean()),
        "WLL": np.log(2),
    }
    prior_test = {"Score": prior_only_score(y_test), "AP": float(y_test.mean()), "WLL": np.log(2)}
    rows.append(("constant prior (0.5)", "metrics.prior_only_score", prior_row, prior_test, ""))
    rows.append(
        ("oracle (planted p_true)", "synth.oracle_metrics", None, oracle_metrics(layout.truth_path), "")
    )

    n = cfg.data.synthetic.train_rows
    lines = [
        f"## Fold-0 quality and ablations ({args.config}, {n:,} synthetic train rows)",
        "",
        f"`python bench/ablations.py {shlex.join(sys.argv[1:])}` — fold 0 of {cfg.cv.n_splits} "
        f"({val_rows.size:,} validation rows, {y_test.size:,} test rows), {cfg.train.epochs} epochs max. "
        "Scores after the prior shift to 50:50; the oracle exists on the test rows only (p_true is not "
        "kept for train rows). Gap to oracle = oracle test Score − model test Score.",
        "",
        "| model | overrides | val Score | val AP | val WLL | test Score | test AP | test WLL "
        "| gap to oracle | notes |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    oracle_score = rows[-1][3]["Score"]
    for name, flags, val_m, test_m, note in rows:
        gap = f"{oracle_score - test_m['Score']:.5f}" if test_m is not None else "n/a"
        lines.append(f"| {name} | {flags} | {_fmt(val_m)} | {_fmt(test_m)} | {gap} | {note} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.md:
        write_section(args.md, f"ablations-{n}", text)


if __name__ == "__main__":
    main()
