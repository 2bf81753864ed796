"""Fold-0 quality of the demo model against baselines and its own ablations, on the same data and folds.

Rows: the demo model (cfgs/demo.yaml), the ablations (no DARE: sequence.col=null; DARE without top-k:
sequence.full_softmax=true; MLP head instead of QNN-α; optionally no co-visitation features), logistic
regression on the same cached features, the constant prior, and the planted oracle.

Columns: fold-0 validation metrics and test-set metrics. Every model's logits are moved from the training
base rate to the 50:50 prior before scoring (what the calibration step does; WLL rewards it). The oracle
needs p_true, which the generator keeps only for TEST rows, so it appears in the test column only; the
test column therefore measures each model's gap to the oracle on identical rows.

Logistic regression: the project's linear baseline (toss_core.gbdt.logistic), the same in every benchmark.
Every variant shares the run directory, so folds and co-visitation features are computed once; each
variant's outputs are scored as soon as it finishes.

    nice .venv/bin/python -m bench.ablations --md bench/results/train.md
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

from bench.markdown import write_section
from toss_core import steps
from toss_core.artifacts.fold import read_test_logits
from toss_core.config import TossConfig, load_config
from toss_core.context import RunContext
from toss_core.data.folds import load_folds
from toss_core.data.reader import ShardedCache
from toss_core.gbdt.logistic import logistic_baseline
from toss_core.post.diagnostics_truth import require_test_truth
from toss_core.scoring.fold_metrics import fold_metrics
from toss_core.scoring.metrics import evaluate_logits, prior_only_score, prior_shift
from toss_core.synth import oracle_metrics

REPO = Path(__file__).resolve().parents[1]

VARIANTS = {
    "demo (DARE top-k + QNN-α)": [],
    "no DARE (sequence.col=null)": ["sequence.col=null"],
    "DARE without top-k (full softmax)": ["sequence.full_softmax=true"],
    "MLP head instead of QNN-α": ["model.head=mlp"],
    "no co-visitation features": ["features.covis.enabled=false"],
}


def base_overrides(args: argparse.Namespace) -> list[str]:
    out = ["runs_dir=runs/ablations", "logging.tb=false", *args.set]
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


def _fmt(m: dict[str, float] | None) -> str:
    return "n/a | n/a | n/a" if m is None else f"{m['Score']:.5f} | {m['AP']:.4f} | {m['WLL']:.4f}"


def report(args: argparse.Namespace, cfg: TossConfig, rows: list, n_val: int, n_test: int) -> str:
    """The Markdown table of every variant and baseline, with the command that made it."""
    n = cfg.data.synthetic.train_rows
    lines = [
        f"## Fold-0 quality and ablations ({args.config}, {n:,} synthetic train rows)",
        "",
        f"`python -m bench.ablations {shlex.join(sys.argv[1:])}` — fold 0 of {cfg.cv.n_splits} "
        f"({n_val:,} validation rows, {n_test:,} test rows), {cfg.train.epochs} epochs max. "
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
    return "\n".join(lines) + "\n"


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
    ctx = RunContext.from_config(cfg, REPO)
    layout = ctx.layout
    if layout.run_dir.exists():
        shutil.rmtree(layout.run_dir)
    steps.prepare(ctx)

    labels = ShardedCache(layout.train_cache).read_field("label").astype(np.float64)
    folds = load_folds(layout)
    val_rows, train_rows = np.flatnonzero(folds == 0), np.flatnonzero(folds != 0)
    prior = float(labels[train_rows].mean())
    y_test = require_test_truth(cfg, layout).labels

    def test_metrics(logits: np.ndarray) -> dict[str, float]:
        return evaluate_logits(y_test, prior_shift(logits, prior, 0.5))

    rows: list[tuple[str, str, dict | None, dict | None, str]] = []
    for name in args.variants:
        vcfg = load_config(REPO / args.config, [*base, *VARIANTS[name]])
        start = time.perf_counter()
        vctx = RunContext.from_config(vcfg, REPO)
        vlayout = vctx.layout
        result = steps.train_fold(vctx, "nn", 0)
        steps.predict_test(vctx, "nn", 0)
        seconds = time.perf_counter() - start
        flags = " ".join(f"--set {o}" for o in VARIANTS[name]) or "(defaults)"
        test_m = test_metrics(read_test_logits(vlayout, 0, "nn")[0])
        rows.append((name, flags, result.metrics, test_m, f"{seconds:.0f}s, best epoch {result.best_epoch}"))
        print(name, _fmt(result.metrics), "| test", _fmt(test_m), flush=True)

    start = time.perf_counter()
    lr = logistic_baseline(cfg, layout, fold=0)
    lr_note = f"{time.perf_counter() - start:.0f}s"
    rows.append(
        (
            "logistic regression",
            "toss_core.gbdt.logistic",
            fold_metrics(lr.val_labels, lr.val_logits, prior),
            test_metrics(lr.test_logits),
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

    text = report(args, cfg, rows, val_rows.size, y_test.size)
    print(text)
    if args.md:
        write_section(args.md, f"ablations-{cfg.data.synthetic.train_rows}", text)


if __name__ == "__main__":
    main()
