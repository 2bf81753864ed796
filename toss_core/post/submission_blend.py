"""After step 2 of post/, on demand (`toss blend`): blend two submission files of one test set into a third.

The result is validated and written atomically, like the submission step's own file. Both inputs are
validated first; their ID sets must be identical (order may differ: the second is aligned to the first
by ID). Probabilities become logits (clipped as the metric clips them) and are combined with the
ensemble's fold methods (post.ensemble_folds), weight `w` for the first file and 1 − w for the second.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toss_core.post.ensemble_folds import combine
from toss_core.post.submission_file import examples, id_difference, read_submission, write_submission_csv
from toss_core.scoring.metrics import logit, sigmoid
from toss_core.util.errors import DataError

BLEND_METHODS = ("logit_mean", "mean", "rank_avg", "geom_mean")


def _check_out(sub1: Path, sub2: Path, out: Path, force: bool) -> None:
    """`out` is neither input (it would be replaced while it is the thing being blended), and an
    existing file there is replaced only with `force`: toss cannot tell the user's own file from an
    earlier blend."""
    for flag, sub in (("--sub1", sub1), ("--sub2", sub2)):
        if out.exists() and sub.exists() and out.resolve() == sub.resolve():
            raise DataError(f"{out}: --out is the input {flag}; write the blend to another file")
    if out.is_file() and not force:
        raise DataError(
            f"{out}: the file exists and toss will not overwrite it; choose another --out, or pass --force "
            "to replace it"
        )


def blend_files(
    sub1: Path, sub2: Path, out: Path, method: str = "logit_mean", w: float = 0.5, force: bool = False
) -> dict:
    """Blend `sub1` (weight w) with `sub2` (weight 1 − w) into `out`; returns a summary of the result.
    An existing `out` is replaced only with `force`, and never when it is one of the inputs."""
    _check_out(sub1, sub2, out, force)
    if method not in BLEND_METHODS:
        raise ValueError(f"unknown blend method '{method}', expected one of {BLEND_METHODS}")
    if not 0.0 <= w <= 1.0:
        raise ValueError(f"blend weight w must lie in [0, 1], got {w}")
    first, second = read_submission(sub1), read_submission(sub2)
    missing, extra = id_difference(second["ID"], first["ID"])
    if missing.len() or extra.len():
        raise DataError(
            f"cannot blend {sub1} and {sub2}: their IDs differ: {missing.len()} IDs of {sub1} are missing "
            f"from {sub2} (e.g. {examples(missing)}) and {extra.len()} IDs of {sub2} are missing from "
            f"{sub1} (e.g. {examples(extra)})"
        )
    aligned = first.join(second, on="ID", how="left", suffix="_2", maintain_order="left")
    p1, p2 = aligned["clicked"].to_numpy(), aligned["clicked_2"].to_numpy()
    z = np.stack([logit(p1), logit(p2)])
    blended = sigmoid(combine(z, method, weights=[w, 1.0 - w]))
    summary = write_submission_csv(out, aligned["ID"].to_numpy(), blended, expected_ids=first["ID"])
    return {
        "path": str(out),
        "method": method,
        "w": w,
        "n_rows": summary["n_rows"],
        "mean_prediction": summary["mean"],
        "logit_correlation": float(np.corrcoef(z)[0, 1]),
        "mean_sub1": float(p1.mean()),
        "mean_sub2": float(p2.mean()),
    }
