"""Encodings of high-cardinality id columns for the tree families, fitted on one training fold only.

Native LightGBM categoricals on ids with thousands of values overfit rare ids; the alternatives here turn
an id into numbers: its frequency in the training fold, and (id_encoding = target) also its smoothed click
rate. The click rate of a training row comes from an inner K-fold over the training rows (never its own
label); validation and test rows use the statistics of the whole training fold. All work is vectorised
with `np.bincount` over integer ids (the cache maps every id to 0..cardinality-1).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import numpy as np

from toss_core.util.atomic import atomic_path
from toss_core.util.errors import ArtifactError


@overload
def category_stats(
    ids: np.ndarray, cardinality: int, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def category_stats(ids: np.ndarray, cardinality: int, labels: None = None) -> tuple[np.ndarray, None]: ...
def category_stats(
    ids: np.ndarray, cardinality: int, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Rows per id (and the sum of labels per id), as arrays indexed by id."""
    counts = np.bincount(ids, minlength=cardinality).astype(np.float64)
    sums = None if labels is None else np.bincount(ids, weights=labels, minlength=cardinality)
    return counts, sums


def frequency_values(ids: np.ndarray, counts: np.ndarray, n_rows: int) -> np.ndarray:
    """Share of the fitting rows that carry each row's id (0 for ids never seen there)."""
    return (counts[ids] / max(n_rows, 1)).astype(np.float32)


def smoothed_rate(
    ids: np.ndarray, counts: np.ndarray, sums: np.ndarray, prior: float, smoothing: float
) -> np.ndarray:
    """Click rate per id shrunk towards the prior: (sum + m·prior) / (count + m); unseen ids get the prior."""
    return ((sums[ids] + smoothing * prior) / (counts[ids] + smoothing)).astype(np.float32)


def oof_target_values(
    ids: np.ndarray, labels: np.ndarray, cardinality: int, n_inner: int, smoothing: float, seed: int
) -> np.ndarray:
    """Target encoding of training rows, each from the other inner folds only (no row sees its own label)."""
    inner = np.random.default_rng(seed).permutation(len(ids)) % n_inner
    total_c, total_s = category_stats(ids, cardinality, labels)
    out = np.empty(len(ids), dtype=np.float32)
    for k in range(n_inner):
        part = inner == k
        part_c, part_s = category_stats(ids[part], cardinality, labels[part])
        rest_c, rest_s = total_c - part_c, total_s - part_s
        n_rest = int((~part).sum())
        prior = float(labels[~part].sum() / max(n_rest, 1))
        out[part] = smoothed_rate(ids[part], rest_c, rest_s, prior, smoothing)
    return out


@dataclass
class IdEncoder:
    """Statistics of the id columns over one training fold, enough to encode any later row."""

    method: str  # "frequency" | "target"
    columns: list[str]
    counts: list[np.ndarray]
    sums: list[np.ndarray]
    n_rows: int
    prior: float
    smoothing: float

    @property
    def feature_names(self) -> list[str]:
        per_col = ["freq"] if self.method == "frequency" else ["freq", "te"]
        return [f"{c}__{kind}" for c in self.columns for kind in per_col]

    @classmethod
    def fit(
        cls,
        method: str,
        columns: list[str],
        ids: np.ndarray,
        cardinalities: list[int],
        labels: np.ndarray,
        smoothing: float,
    ) -> IdEncoder:
        """Fit on the training fold: `ids` int [n, len(columns)], `labels` float [n]."""
        counts, sums = [], []
        for j, card in enumerate(cardinalities):
            c, s = category_stats(ids[:, j], card, labels)
            counts.append(c)
            sums.append(s)
        prior = float(labels.mean()) if len(labels) else 0.0
        return cls(method, list(columns), counts, sums, len(labels), prior, smoothing)

    def transform(self, ids: np.ndarray, oof_te: np.ndarray | None = None) -> np.ndarray:
        """Encode rows: float32 [n, len(feature_names)]. `oof_te` [n, n_cols] replaces the target column
        for training rows (their out-of-fold values)."""
        blocks = []
        for j in range(len(self.columns)):
            col = ids[:, j]
            blocks.append(frequency_values(col, self.counts[j], self.n_rows))
            if self.method == "target":
                if oof_te is not None:
                    blocks.append(oof_te[:, j])
                else:
                    blocks.append(
                        smoothed_rate(col, self.counts[j], self.sums[j], self.prior, self.smoothing)
                    )
        if not blocks:
            return np.zeros((len(ids), 0), dtype=np.float32)
        return np.stack(blocks, axis=1).astype(np.float32, copy=False)

    def describe(self) -> dict:
        """What the sidecar json records (the tables themselves live in the npz)."""
        return {
            "method": self.method,
            "columns": self.columns,
            "features": self.feature_names,
            "n_rows": self.n_rows,
            "prior": self.prior,
            "smoothing": self.smoothing,
        }

    def save(self, path: Path) -> None:
        arrays: dict[str, Any] = {f"counts_{j}": c for j, c in enumerate(self.counts)}
        arrays.update({f"sums_{j}": s for j, s in enumerate(self.sums)})
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: Path, described: dict) -> IdEncoder:
        if not path.is_file():
            raise ArtifactError(f"id-encoding tables {path} are missing; retrain that fold")
        with np.load(path) as z:
            n = len(described["columns"])
            counts = [z[f"counts_{j}"] for j in range(n)]
            sums = [z[f"sums_{j}"] for j in range(n)]
        return cls(
            described["method"],
            list(described["columns"]),
            counts,
            sums,
            int(described["n_rows"]),
            float(described["prior"]),
            float(described["smoothing"]),
        )


def oof_target_matrix(
    ids: np.ndarray, labels: np.ndarray, cardinalities: list[int], n_inner: int, smoothing: float, seed: int
) -> np.ndarray:
    """Inner-K-fold target encodings for every id column of the training rows: float32 [n, n_cols]."""
    out = np.empty(ids.shape, dtype=np.float32)
    for j, card in enumerate(cardinalities):
        out[:, j] = oof_target_values(ids[:, j], labels, card, n_inner, smoothing, seed + j)
    return out
