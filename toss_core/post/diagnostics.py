"""Step 3 of post/, the diagnostics step: per-fold and OOF metrics, reliability diagram, histogram, report.

The calibrated predictions target a 50:50 prior (that is what WLL rewards), so the reliability diagram
compares each bin's mean prediction with its class-balanced positive rate,
    (pos_in_bin / n_pos) / (pos_in_bin / n_pos + neg_in_bin / n_neg),
the rate the bin would show if both classes were equally frequent. A well-calibrated model for this
metric lies on the diagonal of that plot (plain observed rates would sit far below it at a 1.9% prior).
Everything is written to layout.diagnostics_dir as one directory, renamed into place when complete.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from toss_core.artifacts.fold import FamilyOOF, load_family_oof
from toss_core.config import TossConfig
from toss_core.layout import Layout
from toss_core.post.diagnostics_truth import load_test_truth
from toss_core.scoring.calibration import Calibrator
from toss_core.scoring.metrics import evaluate, evaluate_logits, sigmoid
from toss_core.util.atomic import atomic_path
from toss_core.util.results import DiagnosticsResult, Metrics

N_BINS = 15
SUMMARY_HIST_BINS = 16  # the histogram the result carries as numbers (the PNG draws 50 bins)
REPORT, RELIABILITY, HISTOGRAM = "report.md", "reliability.png", "histogram.png"


def balanced_reliability(y: np.ndarray, p: np.ndarray, n_bins: int = N_BINS) -> tuple[np.ndarray, ...]:
    """(mean prediction, class-balanced positive rate, rows) per quantile bin of p; empty bins dropped."""
    y = np.asarray(y) > 0.5
    edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1)))
    bins = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(edges.size - 2, 0))
    n = np.bincount(bins, minlength=edges.size)
    pos = np.bincount(bins, weights=y, minlength=edges.size)
    mean_p = np.bincount(bins, weights=p, minlength=edges.size)
    keep = n > 0
    pos_share, neg_share = pos / y.sum(), (n - pos) / (~y).sum()
    rate = pos_share[keep] / (pos_share[keep] + neg_share[keep])
    return mean_p[keep] / n[keep], rate, n[keep]


def _fold_metrics(oof: FamilyOOF, n_splits: int) -> dict[str, Metrics]:
    out = {}
    for k in range(n_splits):
        rows = oof.fold == k
        out[f"{oof.family}/fold_{k}"] = evaluate_logits(oof.label[rows], oof.logit[rows])
    out[f"{oof.family}/oof"] = evaluate_logits(oof.label, oof.logit)
    return out


def _plot_reliability(path: Path, curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 5.0), dpi=110)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect (50:50 prior)")
    for name, (y, p) in curves.items():
        mean_p, rate, _ = balanced_reliability(y, p)
        ax.plot(mean_p, rate, marker="o", markersize=3, label=name)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean predicted probability (quantile bins)")
    ax.set_ylabel("class-balanced positive rate")
    ax.set_title("Reliability at the metric's 50:50 prior")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def _plot_histogram(path: Path, oof: tuple[np.ndarray, np.ndarray], test: np.ndarray | None) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4.0), dpi=110)
    ax = fig.add_subplot()
    bins = np.linspace(0.0, 1.0, 51).tolist()
    y, p = oof
    ax.hist(p[y < 0.5], bins=bins, density=True, alpha=0.5, label="OOF, not clicked")
    ax.hist(p[y > 0.5], bins=bins, density=True, alpha=0.5, label="OOF, clicked")
    if test is not None:
        ax.hist(test, bins=bins, density=True, histtype="step", color="black", label="test")
    ax.set(xlabel="predicted probability", ylabel="density", title="Prediction histogram")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def _table(metrics: dict[str, Metrics]) -> str:
    lines = ["| predictions | AP | WLL | Score | AUC |", "|---|---:|---:|---:|---:|"]
    for name, m in metrics.items():
        lines.append(f"| {name} | {m['AP']:.5f} | {m['WLL']:.5f} | {m['Score']:.5f} | {m['AUC']:.5f} |")
    return "\n".join(lines)


def _report(cfg: TossConfig, metrics: dict[str, Metrics], ensemble: dict | None) -> str:
    parts = [
        f"# Diagnostics: {cfg.exp_name}",
        "",
        "Per-fold and per-family rows score the raw true-prior logits (their WLL is poor by design:",
        "they are calibrated to the click rate, not to the 50:50 prior WLL rewards).",
        "`ensemble/fold_k_calibrated` and `ensemble/oof_calibrated` apply the submission's family",
        "weights and calibrator to the OOF logits; `test` scores the submitted predictions against the",
        "truth.",
        "",
        _table(metrics),
        "",
    ]
    if ensemble is not None:
        cal = ensemble["calibrator"]
        parts += [
            f"Ensemble method `{ensemble['method']}`, family weights {ensemble['family_weights']}; "
            f"calibrator p = σ({cal['a']:.4f}·logit + {cal['b']:.4f}) ({cal['method']}).",
            "",
        ]
    else:
        parts += ["No ensemble.json yet: run the ensemble step for calibrated metrics.", ""]
    parts += [
        f"![reliability]({RELIABILITY})",
        "",
        "Reliability: mean prediction against the class-balanced positive rate per quantile bin.",
        "",
        f"![histogram]({HISTOGRAM})",
        "",
    ]
    return "\n".join(parts)


def diagnose(cfg: TossConfig, layout: Layout, enabled: list[str]) -> DiagnosticsResult:
    """Compute the metrics, draw the plots and write report.md into layout.diagnostics_dir; the families
    are the ensemble's, or `enabled` (the config's) before an ensemble exists."""
    from toss_core.data.reader import ShardedCache

    ensemble = json.loads(layout.ensemble_path.read_text()) if layout.ensemble_path.is_file() else None
    families = list(ensemble["families"]) if ensemble is not None else list(enabled)
    n_rows = ShardedCache(layout.train_cache).n_rows
    oofs = [load_family_oof(layout, f, cfg.cv.n_splits, n_rows) for f in families]
    metrics: dict[str, Metrics] = {}
    for oof in oofs:
        metrics.update(_fold_metrics(oof, cfg.cv.n_splits))
    y = oofs[0].label
    if ensemble is not None:
        weights = np.array([ensemble["family_weights"][f] for f in families])
        blend = weights @ np.stack([o.logit for o in oofs])
        oof_p = Calibrator.from_dict(ensemble["calibrator"]).predict_proba(blend)
        for k in range(cfg.cv.n_splits):
            rows = oofs[0].fold == k
            metrics[f"ensemble/fold_{k}_calibrated"] = evaluate(y[rows], oof_p[rows])
        metrics["ensemble/oof_uncalibrated"] = evaluate_logits(y, blend)
        metrics["ensemble/oof_calibrated"] = evaluate(y, oof_p)
    else:
        oof_p = sigmoid(oofs[0].logit)
    curves = {"OOF": (y, oof_p)}
    histogram = {
        "OOF, not clicked": _density(oof_p[y < 0.5]),
        "OOF, clicked": _density(oof_p[y > 0.5]),
    }
    test_pred = np.load(layout.test_pred_path) if layout.test_pred_path.is_file() else None
    truth = load_test_truth(cfg, layout) if test_pred is not None else None
    if truth is not None and test_pred is not None:  # test_pred: what submission.csv holds, test-cache order
        metrics["test"] = evaluate(truth.labels, test_pred)
        curves["test"] = (truth.labels, test_pred)

    out = layout.diagnostics_dir
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        _plot_reliability(tmp / RELIABILITY, curves)
        _plot_histogram(tmp / HISTOGRAM, (y, oof_p), test_pred)
        (tmp / REPORT).write_text(_report(cfg, metrics, ensemble))
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    return DiagnosticsResult(
        report_path=out / REPORT,
        reliability_png=out / RELIABILITY,
        histogram_png=out / HISTOGRAM,
        metrics={k: {m: float(v) for m, v in d.items()} for k, d in metrics.items()},
        reliability={
            name: [[float(a), float(b)] for a, b in zip(*balanced_reliability(yy, pp)[:2], strict=True)]
            for name, (yy, pp) in curves.items()
        },
        histogram=histogram,
    )


def _density(p: np.ndarray) -> list[float]:
    """Density of predictions in SUMMARY_HIST_BINS equal bins of [0, 1] (empty input: zeros)."""
    if p.size == 0:
        return [0.0] * SUMMARY_HIST_BINS
    density, _ = np.histogram(p, bins=SUMMARY_HIST_BINS, range=(0.0, 1.0), density=True)
    return [float(d) for d in density]
