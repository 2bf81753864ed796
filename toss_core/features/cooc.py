"""Token co-visitation, first-order transitions and popularity from left-aligned token sequences.

The vocabulary of the sequence column is small (hundreds of ids), so dense V×V accumulators are cheap and
one `np.bincount` over flattened pair indices per window offset replaces any loop over rows. Sequences are
the cache's `seq` field: positions 0..len-1 are real tokens (oldest ... newest), the rest is 0 = padding.

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

from dataclasses import dataclass

import numpy as np

from toss_core.util.errors import DataError

# Dense accumulators hold V*V float64 entries; past this the vocabulary is not "small" any more.
MAX_DENSE_ENTRIES = 1 << 27


@dataclass(frozen=True)
class CovisModel:
    """The fitted, label-free statistics that per-row features are read from."""

    covis: np.ndarray  # float32 [V, V], symmetric accumulation, pruned to top_n per row
    transition: np.ndarray  # float32 [V, V], row-normalised first-order transitions
    popularity: np.ndarray  # float64 [V], token occurrences

    @property
    def vocab(self) -> int:
        return int(self.popularity.shape[0])


def real_mask(seq: np.ndarray, seq_len: np.ndarray) -> np.ndarray:
    """True at positions holding a real token: inside the kept length and not the padding id 0."""
    pos = np.arange(seq.shape[1])
    return (pos[None, :] < np.asarray(seq_len)[:, None]) & (seq != 0)


class CovisAccumulator:
    """Streams chunks of sequences into dense co-visitation, transition and popularity counts."""

    def __init__(self, vocab: int, window: int, recency_tau: float, weights: str):
        if vocab * vocab > MAX_DENSE_ENTRIES:
            raise DataError(
                f"sequence vocabulary of {vocab} ids is too large for a dense co-visitation matrix "
                f"(at most {int(MAX_DENSE_ENTRIES**0.5)} ids expected)"
            )
        if weights not in ("count", "recency"):
            raise ValueError(f"features.covis.weights must be 'count' or 'recency', got {weights!r}")
        self.vocab = vocab
        self.window = window
        self.recency_tau = recency_tau
        self.weights = weights
        self._covis = np.zeros(vocab * vocab, dtype=np.float64)
        self._trans = np.zeros(vocab * vocab, dtype=np.float64)
        self._pop = np.zeros(vocab, dtype=np.float64)

    def add(self, seq: np.ndarray, seq_len: np.ndarray) -> None:
        """Accumulate one chunk: seq int [n, L] left-aligned, seq_len int [n] kept lengths."""
        seq = np.asarray(seq)
        lengths = np.minimum(np.asarray(seq_len, dtype=np.int64), seq.shape[1])
        if seq.size and (seq.min() < 0 or seq.max() >= self.vocab):
            raise DataError(
                f"sequence token ids must lie in 0..{self.vocab - 1} (manifest seq_vocab_size), "
                f"found {seq.min()}..{seq.max()}"
            )
        v = self.vocab
        # Every position outside the kept length becomes the padding id 0, so pairs touching padding land
        # in row or column 0 of the accumulators and self pairs on the diagonal: `finish` clears both,
        # and no per-offset boolean mask is needed.
        tok = np.where(real_mask(seq, lengths), seq, 0).astype(np.intp)
        self._pop += np.bincount(tok.ravel(), minlength=v)
        n_pos = tok.shape[1]
        weight = None
        if self.weights == "recency":
            age = np.clip(lengths[:, None] - 1 - np.arange(n_pos)[None, :], 0, None)  # 0 = newest token
            weight = np.exp(-np.arange(n_pos) / self.recency_tau)[age]
        for d in range(1, min(self.window, n_pos - 1) + 1):
            pair = (tok[:, :-d] * v + tok[:, d:]).ravel()  # the newer token of the pair sits at column d..
            if d == 1:
                self._trans += np.bincount(pair, minlength=v * v)
            w = None if weight is None else weight[:, d:].ravel()
            self._covis += np.bincount(pair, weights=w, minlength=v * v)

    def finish(self, top_n: int) -> CovisModel:
        """Drop padding and self pairs, symmetrise, prune to top_n per token, normalise the transitions."""
        v = self.vocab
        c = self._covis.reshape(v, v).copy()
        np.fill_diagonal(c, 0.0)
        c = _without_padding(c + c.T)
        covis = prune_top_n(c, top_n).astype(np.float32)
        t = _without_padding(self._trans.reshape(v, v).copy())
        out_deg = t.sum(axis=1, keepdims=True)
        transition = np.divide(t, out_deg, out=np.zeros_like(t), where=out_deg > 0).astype(np.float32)
        pop = self._pop.copy()
        pop[0] = 0.0
        return CovisModel(covis=covis, transition=transition, popularity=pop)


def _without_padding(mat: np.ndarray) -> np.ndarray:
    mat[0, :] = 0.0
    mat[:, 0] = 0.0
    return mat


def prune_top_n(mat: np.ndarray, top_n: int) -> np.ndarray:
    """Keep the top_n largest entries of each row (ties broken arbitrarily), zero the rest."""
    v = mat.shape[1]
    if top_n >= v:
        return mat.copy()
    drop = np.argpartition(mat, v - top_n, axis=1)[:, : v - top_n]
    out = mat.copy()
    np.put_along_axis(out, drop, 0.0, axis=1)
    return out
