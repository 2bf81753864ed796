"""Ensemble and calibration quality on finished runs: what the ensemble step buys, method by method.

For each run (a config + overrides whose `toss run` has finished), from its saved artifacts only (OOF
npz, fold test logits, ensemble.json) and the synthetic truth:

- headline: OOF and test AP/WLL/Score of the single best fold (by its calibrated validation Score, with
  its family's calibrator), the uncalibrated ensemble (σ of the ensemble logits), the ensemble moved
  by the prior shift log((1 − π)/π) alone, the calibrated ensemble (what submission.csv holds) and
  the oracle (planted p_true at the 50:50 prior; test only).
  The single fold's OOF column covers its own validation rows only.
- methods: test metrics of every ensemble method, calibrated with the run's calibrator (fitted on OOF,
  which no fold-combination method changes), i.e. what `--set ensemble.method=…` would submit.

    nice .venv/bin/python -m bench.ensemble_methods --out bench/results/ensemble.md \\
        --run "covis on" cfgs/demo.yaml \\
        --run "covis off" cfgs/demo.yaml exp_name=demo_nocovis features.covis.enabled=false
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from toss_core.artifacts.fold import load_family_oof, load_test_logits
from toss_core.config import load_config
from toss_core.data.reader import ShardedCache
from toss_core.layout import Layout
from toss_core.post.diagnostics_truth import require_test_truth
from toss_core.post.ensemble_folds import METHODS, combine, fold_weights
from toss_core.scoring.calibration import Calibrator, balanced_shift, fit_calibrator
from toss_core.scoring.metrics import evaluate, evaluate_logits, sigmoid
from toss_core.synth import oracle_metrics

REPO = Path(__file__).resolve().parents[1]


def _row(name: str, oof: dict | None, test: dict | None) -> str:
    cells = [name]
    for m in (oof, test):
        cells += ["–"] * 3 if m is None else [f"{m['AP']:.5f}", f"{m['WLL']:.5f}", f"{m['Score']:.5f}"]
    return "| " + " | ".join(cells) + " |"


def bench_run(label: str, cfg_path: str, overrides: list[str]) -> tuple[list[str], list[str]]:
    cfg = load_config(cfg_path, overrides)
    layout = Layout(cfg)
    ens = json.loads(layout.ensemble_path.read_text())
    families, k = ens["families"], cfg.cv.n_splits
    y_test = require_test_truth(cfg, layout).labels
    n_train = ShardedCache(layout.train_cache).n_rows
    oofs = [load_family_oof(layout, f, k, n_train) for f in families]
    y = oofs[0].label
    test = ShardedCache(layout.test_cache)
    tests = {o.family: load_test_logits(layout, o, test.fingerprint, test.n_rows) for o in oofs}
    family_w = np.array([ens["family_weights"][f] for f in families])
    calibrator = Calibrator.from_dict(ens["calibrator"])

    def ensemble_test(method: str) -> np.ndarray:
        per_family = []
        for f in families:
            scores = [ens["members"][f"{f}/fold_{j}"]["Score_calibrated"] for j in range(k)]
            ecfg = cfg.ensemble.model_copy(update={"method": method})
            per_family.append(combine(tests[f], method, fold_weights(ecfg, scores), cfg.ensemble.trim_ratio))
        return family_w @ np.stack(per_family)

    best_name = max(ens["members"], key=lambda name: ens["members"][name]["Score_calibrated"])
    fam, fold = best_name.split("/fold_")
    oof = oofs[families.index(fam)]
    own = fit_calibrator(cfg.calibration, oof.logit, y)
    rows = oof.fold == int(fold)
    blend_oof = family_w @ np.stack([o.logit for o in oofs])
    configured = ensemble_test(cfg.ensemble.method)
    shift = balanced_shift(y)
    headline = [
        f"### {label}: `{cfg_path}` {' '.join(f'--set {o}' for o in overrides)}",
        "",
        f"{n_train} train rows ({k} folds), {y_test.size} test rows; method `{cfg.ensemble.method}`, "
        f"families {ens['family_weights']}, calibrator a={calibrator.a:.4f}, b={calibrator.b:.4f}.",
        "",
        "| predictions | OOF AP | OOF WLL | OOF Score | test AP | test WLL | test Score |",
        "|---|---:|---:|---:|---:|---:|---:|",
        _row(
            f"single best fold ({best_name}, calibrated)",
            evaluate(y[rows], own.predict_proba(oof.logit[rows])),
            evaluate(y_test, own.predict_proba(tests[fam][int(fold)])),
        ),
        _row("ensemble, uncalibrated", evaluate_logits(y, blend_oof), evaluate(y_test, sigmoid(configured))),
        _row(
            "ensemble, prior shift only (a = 1)",
            evaluate_logits(y, blend_oof + shift),
            evaluate(y_test, sigmoid(configured + shift)),
        ),
        _row(
            "ensemble, calibrated (submission)",
            evaluate(y, calibrator.predict_proba(blend_oof)),
            evaluate(y_test, calibrator.predict_proba(configured)),
        ),
        _row("oracle (p_true at the 50:50 prior)", None, oracle_metrics(layout.truth_path)),
        "",
    ]
    methods = []
    for m in METHODS:
        e = evaluate(y_test, calibrator.predict_proba(ensemble_test(m)))
        methods.append(f"| {label} | {m} | {e['AP']:.5f} | {e['WLL']:.5f} | {e['Score']:.5f} |")
    return headline, methods


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--run", nargs="+", action="append", required=True, metavar=("LABEL", "CFG"),
        help="LABEL CFG [KEY=VALUE ...]: a finished run and its --set overrides",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, help="write the Markdown here as well")
    args = parser.parse_args()
    sections, method_rows = [], []
    for label, cfg_path, *overrides in args.run:
        headline, methods = bench_run(label, cfg_path, overrides)
        sections += headline
        method_rows += methods
    text = "\n".join(
        [
            *sections,
            "### Every ensemble method (test, calibrated with the run's OOF calibrator)",
            "",
            "| run | method | test AP | test WLL | test Score |",
            "|---|---|---:|---:|---:|",
            *method_rows,
            "",
        ]
    )
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
