"""Where the families of a finished run differ: rows whose (key, item) pair recurs in other folds against
cold pairs, and whether co-use of the item with the key's other items adds to the stacked OOF logits.

    nice .venv/bin/python -m bench.cold_pairs --data data/frappe --cfg cfgs/frappe.yaml \\
        --set exp_name=s32_fr --pair user item

Nothing is trained but logistic checks; each model's logits are calibrated on all OOF rows (in sample:
a diagnostic, not a score). On Frappe a recurring (user, app) pair is a positive (the set's
negatives are random apps), so the task is decided on the cold pairs; there a family that generalises
from similar users or apps would show a lead. The co-use feature is item-based collaborative filtering
built out of fold: for a fold-k row, the cosine between its item and each item its key used in the other
folds (positives only), averaged. If the stacked families already hold it, adding it to their stacked
logit in a cross-validated logistic model leaves the AUC where it was.
"""

from __future__ import annotations

import argparse

import numpy as np
import polars as pl
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score

from bench.quality import REPO, add_run_arguments, run_config, run_families
from toss_core.families import registry
from toss_core.layout import Layout
from toss_core.post.ensemble_families import fit_family_weights, stacker_groups
from toss_core.scoring.calibration import fit_calibrator


def codes(values: pl.Series) -> np.ndarray:
    """Dense 0..V-1 codes of a column's values."""
    return np.unique(values.to_numpy(), return_inverse=True)[1]


def recurrence_elsewhere(key: np.ndarray, item: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """How many rows of the other folds hold each row's (key, item) pair."""
    pairs = pl.DataFrame({"k": key, "i": item, "fold": folds})
    total = pairs.group_by("k", "i").len("total")
    own = pairs.group_by("k", "i", "fold").len("own")
    joined = pairs.with_row_index().join(total, on=["k", "i"]).join(own, on=["k", "i", "fold"]).sort("index")
    return (joined["total"] - joined["own"]).to_numpy()


def co_use(key: np.ndarray, item: np.ndarray, positive: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Out-of-fold item-item cosine between a row's item and the other items its key used (see module)."""
    n_keys, n_items = key.max() + 1, item.max() + 1
    out = np.zeros(key.size)
    for k in np.unique(folds):
        source = (folds != k) & positive
        used = sp.csr_matrix((np.ones(source.sum()), (key[source], item[source])), shape=(n_keys, n_items))
        used.data[:] = 1.0  # a pair used several times counts once
        count = np.asarray(used.sum(axis=0)).ravel()
        norm = sp.diags(1.0 / np.sqrt(np.maximum(count, 1.0)))
        cosine = (norm @ (used.T @ used) @ norm).tocsr()
        cosine.setdiag(0.0)
        rows = np.flatnonzero(folds == k)
        history = used[key[rows]].tolil()
        history[np.arange(rows.size), item[rows]] = 0.0  # the row's own item is not its history
        history = history.tocsr()
        total = np.asarray(history.multiply(cosine[item[rows]]).sum(axis=1)).ravel()
        out[rows] = total / np.maximum(np.asarray(history.sum(axis=1)).ravel(), 1.0)
    return out


def cross_validated_auc(x: np.ndarray, y: np.ndarray, folds: np.ndarray) -> float:
    """AUC of a logistic model on x, each fold scored by a fit on the others."""
    out = np.empty(y.size)
    for k in np.unique(folds):
        held = folds == k
        out[held] = LogisticRegression(max_iter=1000).fit(x[~held], y[~held]).decision_function(x[held])
    return float(roc_auc_score(y, out))


def segment_line(name: str, rows: np.ndarray, y: np.ndarray, probabilities: dict[str, np.ndarray]) -> str:
    """One markdown row: the segment's size, positive rate and each model's AUC / log loss there."""
    cells = [name, f"{rows.sum():,}", f"{y[rows].mean():.3f}"]
    for p in probabilities.values():
        auc = f"{roc_auc_score(y[rows], p[rows]):.4f}" if 0 < y[rows].mean() < 1 else "—"
        cells.append(
            f"{auc} / {log_loss(y[rows], np.clip(p[rows], 1e-7, 1 - 1e-7), labels=[False, True]):.4f}"
        )
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_run_arguments(p)
    p.add_argument("--pair", nargs=2, default=["user", "item"], metavar=("KEY", "ITEM"))
    args = p.parse_args()
    cfg = run_config(args, args.seed)
    layout = Layout(cfg, root=REPO)
    families = registry.enabled_names(cfg)
    oofs, _ = run_families(cfg, layout, families)
    y, folds = oofs[0].label > 0.5, oofs[0].fold
    raw = pl.read_parquet(REPO / cfg.data.train_path, columns=[*args.pair, cfg.data.label_col])
    if not np.array_equal(raw[cfg.data.label_col].to_numpy() > 0.5, y):
        raise SystemExit(f"{cfg.data.train_path}: its rows are not in the cache's order; rebuild the run")
    key, item = codes(raw[args.pair[0]]), codes(raw[args.pair[1]])
    z = np.stack([o.logit for o in oofs])
    stack = fit_family_weights(z, y, stacker_groups(folds, cfg.cv.n_splits), cfg.calibration, families)
    logits = {**dict(zip(families, z, strict=True)), "stacked": stack.weights @ z}
    calibrated = {m: fit_calibrator(cfg.calibration, zm, y).predict_proba(zm) for m, zm in logits.items()}

    seen = recurrence_elsewhere(key, item, folds)
    print(
        f"| ({args.pair[0]}, {args.pair[1]}) in the other folds | rows | positive rate | "
        + " | ".join(f"{f} AUC / log loss" for f in logits)
        + " |"
    )
    print("|---|---:|---:|" + "---:|" * len(logits))
    for name, rows in [("never", seen == 0), ("1-3 rows", (seen >= 1) & (seen <= 3)), ("more", seen > 3)]:
        print(segment_line(name, rows, y, calibrated))

    feature = np.log1p(100.0 * co_use(key, item, y, folds))
    stacked = logits["stacked"]
    print(f"\nco-use alone: AUC {roc_auc_score(y, feature):.4f}")
    print(f"stacked logit, cross-validated: AUC {cross_validated_auc(stacked[:, None], y, folds):.4f}")
    both = np.column_stack([stacked, feature])
    print(f"stacked logit + co-use, cross-validated: AUC {cross_validated_auc(both, y, folds):.4f}")


if __name__ == "__main__":
    main()
