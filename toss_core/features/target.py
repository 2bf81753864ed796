"""Out-of-fold click rates of (recent token, ad-field value) pairs.

For one ad field (a `cat` column such as inventory_id) every training row contributes its label to the key
(token, value) of each distinct token among its last k. The (token, value) space is large and sparse, so
keys are packed into int64 (token * cardinality + value) and reduced with np.unique + bincount into a
sorted table holding per-fold counts and clicks.

A train row in fold f reads statistics from the rows of the other folds only: count and clicks of the key
minus fold f's share, smoothed towards the click rate of the other folds,
    rate = (clicks_other + m * prior_other) / (count_other + m),   m = features.covis.target_smoothing,
and averaged over its recent tokens (the prior when it has none). Test rows read the statistics of all train
rows with the global prior. So no row ever sees its own label.

The model of fold k validates on fold k, so its training rows must not see fold k's labels either: the
nested variant k of a train row in fold j reads the rows outside folds j and k, and of a test row the rows
outside fold k (`rates(..., also_out=[k])`; per-fold counts make each variant a subtraction).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Pending (key, fold) entries kept before they are reduced, to bound memory while streaming.
_COMPACT_AT = 4_000_000


def recent_distinct_tokens(seq: np.ndarray, seq_len: np.ndarray, last_k: int) -> np.ndarray:
    """The distinct tokens among each row's last k real tokens, int64 [n, last_k], 0 where none."""
    seq = np.asarray(seq, dtype=np.int64)
    lengths = np.minimum(np.asarray(seq_len, dtype=np.int64), seq.shape[1])
    pos = lengths[:, None] - 1 - np.arange(last_k)[None, :]  # newest first
    tok = np.take_along_axis(seq, np.clip(pos, 0, None), axis=1)
    tok = np.sort(np.where(pos >= 0, tok, 0), axis=1)  # pos < len, so only 0 = padding remains to skip
    dup = np.zeros_like(tok, dtype=bool)
    dup[:, 1:] = tok[:, 1:] == tok[:, :-1]
    return np.where(dup, 0, tok)


def pair_keys(tokens: np.ndarray, values: np.ndarray, cardinality: int) -> np.ndarray:
    """Pack (token, field value) into one int64 key per entry; -1 where the token slot is empty."""
    keys = tokens * np.int64(cardinality) + np.asarray(values, dtype=np.int64)[:, None]
    return np.where(tokens > 0, keys, -1)


@dataclass(frozen=True)
class TargetTable:
    """Per-fold counts and clicks of every seen key, plus per-fold row totals for the priors."""

    keys: np.ndarray  # int64 [m], sorted
    counts: np.ndarray  # float64 [m, F]
    clicks: np.ndarray  # float64 [m, F]
    fold_rows: np.ndarray  # float64 [F]
    fold_clicks: np.ndarray  # float64 [F]

    @property
    def prior(self) -> float:
        return float(self.fold_clicks.sum() / max(self.fold_rows.sum(), 1.0))

    def rate(self, keys: np.ndarray, folds: np.ndarray | None, smoothing: float) -> np.ndarray:
        """Mean smoothed rate over each row's keys [n, k] (-1 = empty); folds None = all train rows."""
        return self.rates(keys, folds, smoothing, [None])[0]

    def rates(
        self, keys: np.ndarray, folds: np.ndarray | None, smoothing: float, also_out: Sequence[int | None]
    ) -> list[np.ndarray]:
        """One rate per row for each entry of `also_out`: the statistics of the rows outside the row's own
        fold (none when folds is None) and outside that fold too (None: no second fold). The fold model k
        reads also_out=k, so its training rows never see fold k's labels; the keys are looked up once."""
        n = keys.shape[0]
        n_folds = len(self.fold_rows)
        counts = np.zeros((*keys.shape, n_folds))
        clicks = np.zeros((*keys.shape, n_folds))
        if len(self.keys):
            idx = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
            found = ((keys >= 0) & (self.keys[idx] == keys))[..., None]
            counts = np.where(found, self.counts[idx], 0.0)
            clicks = np.where(found, self.clicks[idx], 0.0)
        own = np.zeros((n, n_folds), dtype=bool)
        if folds is not None:
            own[np.arange(n), np.asarray(folds, dtype=np.int64)] = True
        used = keys >= 0
        n_used = used.sum(axis=1)
        out = []
        for extra in also_out:
            keep = ~own
            if extra is not None:
                keep[:, extra] = False
            rows_in, clicks_in = keep @ self.fold_rows, keep @ self.fold_clicks
            prior = np.divide(clicks_in, rows_in, out=np.zeros(n), where=rows_in > 0)
            cnt = np.einsum("nkf,nf->nk", counts, keep)
            clk = np.einsum("nkf,nf->nk", clicks, keep)
            denom = cnt + smoothing
            rate = np.divide(
                clk + smoothing * prior[:, None], denom, out=np.zeros(cnt.shape), where=denom > 0
            )
            rate = np.where(denom > 0, rate, prior[:, None])
            mean = np.where(used, rate, 0.0).sum(axis=1) / np.maximum(n_used, 1)
            out.append(np.where(n_used > 0, mean, prior))
        return out


class TargetAccumulator:
    """Streams (keys, labels, folds) chunks into a TargetTable."""

    def __init__(self, n_folds: int):
        self.n_folds = n_folds
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._n_pending = 0
        self.fold_rows = np.zeros(n_folds)
        self.fold_clicks = np.zeros(n_folds)

    def add(self, keys: np.ndarray, labels: np.ndarray, folds: np.ndarray | None) -> None:
        """keys int64 [n, k] (-1 = empty), labels [n] in {0, 1}, folds int [n] in 0..F-1 (None: one fold)."""
        folds = np.zeros(len(labels), np.int64) if folds is None else np.asarray(folds, dtype=np.int64)
        labels = np.asarray(labels, dtype=np.float64)
        self.fold_rows += np.bincount(folds, minlength=self.n_folds)
        self.fold_clicks += np.bincount(folds, weights=labels, minlength=self.n_folds)
        used = keys >= 0
        combined = keys[used] * self.n_folds + np.broadcast_to(folds[:, None], keys.shape)[used]
        lab = np.broadcast_to(labels[:, None], keys.shape)[used]
        self._pending.append(self._reduce(combined, np.ones_like(lab), lab))
        self._n_pending += len(self._pending[-1][0])
        if self._n_pending > _COMPACT_AT:
            self._compact()

    @staticmethod
    def _reduce(
        combined: np.ndarray, cnt: np.ndarray, clk: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        uniq, inv = np.unique(combined, return_inverse=True)
        return uniq, np.bincount(inv, weights=cnt, minlength=len(uniq)), np.bincount(inv, weights=clk)

    def _compact(self) -> None:
        parts = self._pending
        merged = self._reduce(*(np.concatenate([p[i] for p in parts]) for i in range(3)))
        self._pending = [merged]
        self._n_pending = len(merged[0])

    def finish(self) -> TargetTable:
        f = self.n_folds
        if self._pending:
            self._compact()
            combined, cnt, clk = self._pending[0]
        else:
            combined, cnt, clk = np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
        keys, row = np.unique(combined // f, return_inverse=True)
        counts = np.zeros((len(keys), f))
        clicks = np.zeros((len(keys), f))
        counts[row, combined % f] = cnt
        clicks[row, combined % f] = clk
        return TargetTable(
            keys=keys,
            counts=counts,
            clicks=clicks,
            fold_rows=self.fold_rows.copy(),
            fold_clicks=self.fold_clicks.copy(),
        )
