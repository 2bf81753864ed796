"""Token co-visitation, first-order transitions and popularity from left-aligned token sequences.

Accumulated sparsely, so memory follows the number of distinct observed pairs P, not the square of the
vocabulary V: a real item vocabulary (65k ids, or millions) fits where a dense V×V matrix would not.
Each chunk's pairs are gathered with array slicing (one slice per window offset, no loop over rows),
summed into a scipy.sparse CSR matrix (COO -> CSR adds duplicates) every `_COMPACT_AT` pending pairs, and
that is added to the running sums. Memory while fitting: O(P) for the sums + O(V) for popularity +
O(`_COMPACT_AT`) pending pairs (about 16 bytes each). Sequences are the cache's `seq` field: positions
0..len-1 are real tokens (oldest ... newest), the rest is 0 = padding, which is never counted.

Definitions:
- co-visitation C[a, b]: pairs of tokens at most `window` positions apart in one sequence, symmetric, self
  pairs (a == b) dropped. Weight 1 per pair ("count") or exp(-age / recency_tau) ("recency"), where age is
  how many positions the newer token of the pair sits before the end of its sequence (0 = the last token),
  so recent behaviour counts more. After accumulation only the `top_n` largest entries of each row are kept.
- transition T[a, b]: count of a immediately followed by b (directed, self transitions kept); the model
  keeps it row-normalised, P[a, b] = T[a, b] / sum_b T[a, b], the probability that b follows a.
- popularity pop[t]: occurrences of token t over all real positions.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from toss_core.util.errors import DataError

# Pending (row, col, weight) entries held before they are summed into the running sparse matrix.
_COMPACT_AT = 1 << 22
# Up to this many V×V entries (2048 tokens: 32 MB of float64 sums, 16 MB of float32 lookups) a dense
# table is the faster structure (one bincount per chunk, one gather per lookup); a constant bound, so
# memory never follows V² beyond it.
DENSE_ENTRIES = 1 << 22


@dataclass(frozen=True)
class PairTable:
    """A sparse V×V float32 matrix read by vectorised (row, col) lookups.

    `keys` (row·V + col, sorted: the CSR is in canonical order) answer a lookup by binary search, so a
    lookup costs O(log nnz) per pair and the table O(nnz) memory, whatever V is."""

    matrix: sparse.csr_matrix  # float32 [V, V], canonical (sorted indices, no duplicates)
    keys: np.ndarray  # int64 [nnz]
    dense: np.ndarray | None  # float32 [V, V] when V² <= DENSE_ENTRIES: lookups by one gather

    @classmethod
    def from_sparse(cls, mat: sparse.spmatrix) -> PairTable:
        csr = sparse.csr_matrix(mat, dtype=np.float32)
        csr.sum_duplicates()  # also sorts the indices of every row
        rows = np.repeat(np.arange(csr.shape[0], dtype=np.int64), np.diff(csr.indptr))
        dense = csr.toarray() if csr.shape[0] * csr.shape[1] <= DENSE_ENTRIES else None
        return cls(matrix=csr, keys=rows * csr.shape[1] + csr.indices, dense=dense)

    @property
    def nnz(self) -> int:
        return int(self.matrix.nnz)

    def lookup(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """M[rows, cols] (broadcast together) as float32; 0 where the pair was not kept."""
        if self.dense is not None:
            return self.dense[rows, cols]
        keys = np.asarray(rows, dtype=np.int64) * self.matrix.shape[1] + np.asarray(cols, dtype=np.int64)
        if not self.keys.size:
            return np.zeros(keys.shape, np.float32)
        pos = np.minimum(np.searchsorted(self.keys, keys), self.keys.size - 1)
        return np.where(self.keys[pos] == keys, self.matrix.data[pos], np.float32(0))


@dataclass(frozen=True)
class CovisModel:
    """The fitted, label-free statistics that per-row features are read from."""

    covis: PairTable  # symmetric accumulation, pruned to top_n per row
    transition: PairTable  # row-normalised first-order transitions
    popularity: np.ndarray  # float64 [V], token occurrences

    @property
    def vocab(self) -> int:
        return int(self.popularity.shape[0])


def real_mask(seq: np.ndarray, seq_len: np.ndarray) -> np.ndarray:
    """True at positions holding a real token: inside the kept length and not the padding id 0."""
    pos = np.arange(seq.shape[1])
    return (pos[None, :] < np.asarray(seq_len)[:, None]) & (seq != 0)


class _PairSum:
    """A running V×V sum over (older, newer) token pairs; pairs touching padding (0) never count, nor
    self pairs when `drop_self`. CSR sums plus a bounded list of pending entries, or, while V² <=
    DENSE_ENTRIES, a dense bincount target (then padding and self pairs are cleared once, at the end)."""

    def __init__(self, n: int, drop_self: bool):
        self.n = n
        self.drop_self = drop_self
        self.total = sparse.csr_matrix((n, n), dtype=np.float64)
        self._dense = np.zeros(n * n) if n * n <= DENSE_ENTRIES else None
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._pending = 0

    def add(self, older: np.ndarray, newer: np.ndarray, weights: np.ndarray | None) -> None:
        """Pairs of equal-shaped token arrays; weight 1 where `weights` is None."""
        if self._dense is not None:
            keys = (older.astype(np.int64) * self.n + newer).ravel()
            w = None if weights is None else weights.ravel()
            self._dense += np.bincount(keys, weights=w, minlength=self.n * self.n)
            return
        keep = (older > 0) & (newer > 0)
        if self.drop_self:
            keep &= older != newer
        w = np.ones(int(keep.sum())) if weights is None else weights[keep].astype(np.float64)
        self._parts.append((older[keep].astype(np.int32), newer[keep].astype(np.int32), w))
        self._pending += w.size
        if self._pending >= _COMPACT_AT:
            self._compact()

    def _compact(self) -> None:
        if not self._parts:
            return
        rows, cols, weights = (np.concatenate(p) for p in zip(*self._parts, strict=True))
        self._parts, self._pending = [], 0
        self.total = self.total + sparse.coo_matrix((weights, (rows, cols)), shape=(self.n, self.n)).tocsr()

    def finish(self) -> sparse.csr_matrix:
        if self._dense is not None:
            mat = self._dense.reshape(self.n, self.n)
            mat[0, :] = mat[:, 0] = 0.0
            if self.drop_self:
                np.fill_diagonal(mat, 0.0)
            return sparse.csr_matrix(mat)
        self._compact()
        return self.total


class CovisAccumulator:
    """Streams chunks of sequences into sparse co-visitation and transition sums and dense popularity."""

    def __init__(self, vocab: int, window: int, recency_tau: float, weights: str):
        if weights not in ("count", "recency"):
            raise ValueError(f"features.covis.weights must be 'count' or 'recency', got {weights!r}")
        self.vocab = vocab
        self.window = window
        self.recency_tau = recency_tau
        self.weights = weights
        self._covis = _PairSum(vocab, drop_self=True)
        self._trans = _PairSum(vocab, drop_self=False)
        self._pop = np.zeros(vocab, dtype=np.float64)

    def add(self, seq: np.ndarray, seq_len: np.ndarray) -> None:
        """Accumulate one chunk: seq int [n, L] left-aligned, seq_len int [n] kept lengths."""
        seq = np.asarray(seq)
        lengths = np.minimum(np.asarray(seq_len, dtype=np.int64), seq.shape[1])
        if seq.size and (seq.min() < 0 or seq.max() >= self.vocab):
            raise DataError(
                f"sequence token ids must lie in 0..{self.vocab - 1} (manifest seq_vocab_size), "
                f"found {seq.min()}..{seq.max()}: rebuild the caches with `toss build-cache --cfg <config>`"
            )
        # Every position outside the kept length becomes the padding id 0, which no pair may count.
        tok = np.where(real_mask(seq, lengths), seq, 0)
        self._pop += np.bincount(tok.ravel(), minlength=self.vocab)
        n_pos = tok.shape[1]
        weight = None
        if self.weights == "recency":
            age = np.clip(lengths[:, None] - 1 - np.arange(n_pos)[None, :], 0, None)  # 0 = newest token
            weight = np.exp(-np.arange(n_pos) / self.recency_tau)[age]
        for d in range(1, min(self.window, n_pos - 1) + 1):
            older, newer = tok[:, :-d], tok[:, d:]  # the newer token of the pair sits at column d..
            if d == 1:
                self._trans.add(older, newer, None)
            self._covis.add(older, newer, None if weight is None else weight[:, d:])

    def finish(self, top_n: int) -> CovisModel:
        """Symmetrise, prune to top_n per token, normalise the transitions."""
        covis = PairTable.from_sparse(symmetric_top_n(self._covis.finish(), top_n))
        t = self._trans.finish()
        out_deg = np.asarray(t.sum(axis=1)).ravel()
        scale = np.divide(1.0, out_deg, out=np.zeros_like(out_deg), where=out_deg > 0)
        transition = PairTable.from_sparse(sparse.diags(scale) @ t)
        pop = self._pop.copy()
        pop[0] = 0.0
        return CovisModel(covis=covis, transition=transition, popularity=pop)


def symmetric_top_n(c: sparse.csr_matrix, top_n: int) -> sparse.csr_matrix:
    """The top_n entries per row of C + Cᵀ, built and pruned one block of rows (about `_COMPACT_AT`
    entries) at a time. Memory: C and Cᵀ (2·nnz(C) entries of 12 bytes) + one block's sort temporaries
    + the kept top_n·V entries, never the whole symmetric matrix and its sort at once."""
    ct = c.T.tocsr()
    per_row = np.cumsum(np.diff(c.indptr) + np.diff(ct.indptr))
    cuts = np.searchsorted(per_row, np.arange(1, per_row[-1] // _COMPACT_AT + 1) * _COMPACT_AT)
    bounds = np.unique(np.concatenate([[0], cuts, [c.shape[0]]]).astype(np.int64))
    blocks = [prune_top_n(c[lo:hi] + ct[lo:hi], top_n) for lo, hi in itertools.pairwise(bounds)]
    return sparse.vstack(blocks, format="csr")


def prune_top_n(mat: sparse.csr_matrix, top_n: int) -> sparse.csr_matrix:
    """Keep the top_n largest entries of each row (ties: the lower column), drop the rest; vectorised by
    one sort of all entries by (row, value descending)."""
    mat = sparse.csr_matrix(mat)
    mat.sum_duplicates()
    rows = np.repeat(np.arange(mat.shape[0]), np.diff(mat.indptr))
    order = np.lexsort((-mat.data, rows))  # stable: equal values keep their column order
    rank = np.arange(order.size) - mat.indptr[rows[order]]
    keep = np.sort(order[rank < top_n])
    return sparse.csr_matrix((mat.data[keep], (rows[keep], mat.indices[keep])), shape=mat.shape)
