"""Token co-visitation, first-order transitions and popularity from left-aligned token sequences.

The vocabulary of the sequence column is small (hundreds of ids), so dense V×V accumulators are cheap and
one `np.bincount` over flattened pair indices per window offset replaces any loop over rows. Sequences are
the cache's `seq` field: positions 0..len-1 are real tokens (oldest ... newest), the rest is 0 = padding.

Definitions (also in the README):
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

from toss_core.errors import DataError

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
        seq = np.asarray(seq, dtype=np.int64)
        lengths = np.minimum(np.asarray(seq_len, dtype=np.int64), seq.shape[1])
        if seq.size and (seq.min() < 0 or seq.max() >= self.vocab):
            raise DataError(
                f"sequence token ids must lie in 0..{self.vocab - 1} (manifest seq_vocab_size), "
                f"found {seq.min()}..{seq.max()}"
            )
        real = real_mask(seq, lengths)
        v = self.vocab
        self._pop += np.bincount(seq[real], minlength=v)
        n_pos = seq.shape[1]
        age = np.clip(lengths[:, None] - 1 - np.arange(n_pos)[None, :], 0, None)  # 0 = newest real token
        decay = np.exp(-np.arange(n_pos) / self.recency_tau)  # weight by age, read from a table
        for d in range(1, min(self.window, n_pos - 1) + 1):
            old, new = seq[:, :-d], seq[:, d:]
            valid = real[:, d:]  # left-aligned: a real newer token implies a real older one
            pair = old * v + new
            if d == 1:
                self._trans += np.bincount(pair[valid], minlength=v * v)
            valid = valid & (old != new)
            w = None
            if self.weights == "recency":
                w = decay[age[:, d:][valid]]
            self._covis += np.bincount(pair[valid], weights=w, minlength=v * v)

    def finish(self, top_n: int) -> CovisModel:
        """Symmetrise, prune to the top_n neighbours per token and normalise the transitions."""
        v = self.vocab
        c = self._covis.reshape(v, v)
        covis = prune_top_n(c + c.T, top_n).astype(np.float32)
        t = self._trans.reshape(v, v)
        out_deg = t.sum(axis=1, keepdims=True)
        transition = np.divide(t, out_deg, out=np.zeros_like(t), where=out_deg > 0).astype(np.float32)
        return CovisModel(covis=covis, transition=transition, popularity=self._pop.copy())


def prune_top_n(mat: np.ndarray, top_n: int) -> np.ndarray:
    """Keep the top_n largest entries of each row (ties broken arbitrarily), zero the rest."""
    v = mat.shape[1]
    if top_n >= v:
        return mat.copy()
    drop = np.argpartition(mat, v - top_n, axis=1)[:, : v - top_n]
    out = mat.copy()
    np.put_along_axis(out, drop, 0.0, axis=1)
    return out
