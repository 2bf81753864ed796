"""Does a family earn its place in the cross-family blend on the test set, or only on the OOF rows?

    nice .venv/bin/python -m bench.family_share --data data/movielens --cfg cfgs/movielens.yaml \\
        --set exp_name=ml --family nn --shares 0 0.05 0.1 0.2 0.3

It reads a finished bench.quality run (its OOF and test logits; nothing is trained) and refits what the
ensemble step fits on its stacking rows: the stacker's weights, with their bootstrap interval. Then it holds
`--family` at each given share, the other families at their stacked ratio, fits the blend's calibrator on
the stacking rows as the product does and scores the test set. Where the stacker gives a family 0 and the
test Score falls at every share, the zero is right; where the test rises, the stacker's rows misjudge it.
Prints a markdown table.
"""

from __future__ import annotations

import argparse

import numpy as np

from bench.quality import REPO, add_run_arguments, run_config, run_families
from toss_core.artifacts.fold import FamilyOOF
from toss_core.config import TossConfig
from toss_core.data.folds import stacking_rows
from toss_core.families import registry
from toss_core.layout import Layout
from toss_core.post.diagnostics_truth import TestTruth, require_test_truth
from toss_core.post.ensemble import ensemble_family
from toss_core.post.ensemble_families import fit_family_weights, stacker_groups
from toss_core.scoring.calibration import fit_calibrator
from toss_core.scoring.metrics import evaluate


def held_at(weights: np.ndarray, member: int, share: float) -> np.ndarray:
    """`weights` with `member` at `share` and the others rescaled to 1 - share in their own ratio (equal
    shares where the stacker gave them all 0)."""
    rest = np.delete(weights, member)
    rest = rest / rest.sum() if rest.sum() > 0 else np.full(rest.size, 1.0 / rest.size)
    return np.insert((1.0 - share) * rest, member, share)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_run_arguments(p)
    p.add_argument("--family", required=True, help="the family whose share is varied")
    p.add_argument("--shares", type=float, nargs="+", default=[0.0, 0.05, 0.1, 0.2, 0.3])
    args = p.parse_args()
    cfg = run_config(args, args.seed)
    layout = Layout(cfg, root=REPO)
    families = registry.enabled_names(cfg)
    if args.family not in families:
        p.error(f"--family {args.family}: this run's families are {families}")
    oofs, tests = run_families(cfg, layout, families)
    print_shares(cfg, oofs, tests, require_test_truth(cfg, layout), args.family, args.shares)


def print_shares(
    cfg: TossConfig,
    oofs: list[FamilyOOF],
    fold_test_logits: list[np.ndarray],
    truth: TestTruth,
    family: str,
    shares: list[float],
) -> None:
    """Stack the families' OOF logits as the ensemble step does, then print the markdown table of the
    stacking-rows and test scores with `family` held at each share (and at the stacker's own)."""
    families = [o.family for o in oofs]
    rows = stacking_rows(cfg, oofs[0].fold)
    at = np.ones(oofs[0].logit.size, bool) if rows is None else rows
    tests = [ensemble_family(cfg, o, t, None, rows) for o, t in zip(oofs, fold_test_logits, strict=True)]
    z, zt = np.stack([o.logit[at] for o in oofs]), np.stack([t.test_logits for t in tests])
    y = oofs[0].label[at] > 0.5
    groups = stacker_groups(oofs[0].fold[at], cfg.cv.n_splits)
    stack = fit_family_weights(z, y, groups, cfg.calibration, families, seed=cfg.seed)
    member = families.index(family)
    low, high = stack.interval[member]
    weights = ", ".join(f"{f} {w:.3f}" for f, w in zip(families, stack.weights, strict=True))
    print(f"stacker ({stack.chosen}): {weights}; {family} interval [{low:.3f}, {high:.3f}]\n")
    print(f"| {family} share | stacking-rows Score | test AUC | test Score |")
    print("|---:|---:|---:|---:|")
    for share in sorted({*shares, float(stack.weights[member])}):
        w = held_at(stack.weights, member, share)
        calibrator = fit_calibrator(cfg.calibration, w @ z, y)
        fit = evaluate(y, calibrator.predict_proba(w @ z))["Score"]
        m = evaluate(truth.labels, calibrator.predict_proba(w @ zt))
        mark = " (stacker)" if share == float(stack.weights[member]) else ""
        print(f"| {share:.3f}{mark} | {fit:.4f} | {m['AUC']:.4f} | {m['Score']:.4f} |", flush=True)


if __name__ == "__main__":
    main()
