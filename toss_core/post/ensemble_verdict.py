"""Step 1c of post/ (after the ensemble step): is the ensemble worth its blend?

The judgement the Dagster check `beats_its_best_family` reports. It reads the ensemble report
(layout.ensemble_path, written by post.ensemble.build_ensemble) and asks two things: the family weights
are sane (one per family, finite, their sum positive), and the calibrated OOF Score of the blend is at
least that of its best family calibrated alone, less ENSEMBLE_TOLERANCE.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from toss_core.layout import Layout

ENSEMBLE_TOLERANCE = 0.002
"""How far (Score) the calibrated ensemble may fall below its best family alone: the in-sample OOF
calibration of one family can beat a blend by noise; more than this means the blend hurts."""


@dataclass(frozen=True)
class EnsembleVerdict:
    blended: float  # the calibrated OOF Score of the ensemble
    alone: dict[str, float]  # each family's calibrated OOF Score on its own
    weights: dict[str, float]
    problems: tuple[str, ...]  # empty when the ensemble passes

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def margin_over_best(self) -> float:
        return self.blended - max(self.alone.values())


def judge_ensemble(layout: Layout, tolerance: float = ENSEMBLE_TOLERANCE) -> EnsembleVerdict:
    """The verdict on the ensemble report of `layout`'s run."""
    report = json.loads(layout.ensemble_path.read_text())
    weights = report["family_weights"]
    problems = []
    if set(weights) != set(report["families"]):
        problems.append(f"weights for {sorted(weights)} but the families are {report['families']}")
    if not all(math.isfinite(w) for w in weights.values()) or sum(weights.values()) <= 0:
        problems.append(f"invalid family weights {weights}")
    alone = {f: r["oof_calibrated"]["Score"] for f, r in report["per_family"].items()}
    best = max(alone, key=alone.__getitem__)
    blended = report["oof_calibrated"]["Score"]
    if blended < alone[best] - tolerance:
        problems.append(f"calibrated OOF Score {blended:.5f} is below {best} alone ({alone[best]:.5f})")
    return EnsembleVerdict(blended, alone, weights, tuple(problems))
