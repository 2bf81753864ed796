"""Per-row sequence features read from a fitted `CovisModel`, vectorised over rows.

Each row's kept sequence is split into its last k tokens (k = min(last_k, len), the "recent" part) and the
rest. Definitions:
- covis_sum: sum of C[r, t] over every recent token r and every token occurrence t of the rest.
- covis_max: the largest C[r, t] over those pairs.
- covis_mean: covis_sum / (k * len(rest)), the mean over the pairs.
- transition_prob: P[previous token, last token] (row-normalised first-order transitions).
- seq_len: log1p of the original sequence length (seq_len_raw, before truncation to max_len).
- n_unique: distinct tokens in the kept sequence.
- entropy: Shannon entropy (nats) of the kept sequence's token distribution.
- diversity: n_unique / kept length.
- last_token: log1p of the last token's popularity in the training sequences. A token id as a number is
  meaningless, its popularity is not.
Every feature is 0 where it is undefined (empty sequence, no rest, fewer than two tokens).
"""

from __future__ import annotations

import numpy as np

from toss_core.features.cooc import CovisModel, real_mask

SEQ_STATS = (
    "covis_sum",
    "covis_max",
    "covis_mean",
    "transition_prob",
    "seq_len",
    "n_unique",
    "entropy",
    "diversity",
    "last_token",
)
_COVIS_STATS = {"covis_sum", "covis_max", "covis_mean"}
_RUN_STATS = {"n_unique", "entropy", "diversity"}


def _token_runs(seq: np.ndarray, real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: distinct real tokens and sum over them of c·log c (c = occurrences), from sorted rows.

    Sorting each row makes equal tokens adjacent; every run of one token is one distinct token, and its
    length is its count. Padding sorts first as token 0 and is left out.
    """
    n, width = seq.shape
    ordered = np.sort(np.where(real, seq, 0), axis=1)
    new_run = np.ones(ordered.shape, dtype=bool)
    new_run[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    starts = np.flatnonzero(new_run)
    count = np.diff(starts, append=ordered.size).astype(np.float64)
    is_token = ordered.ravel()[starts] != 0
    row = starts // width
    n_unique = np.bincount(row, weights=is_token, minlength=n)
    clogc = np.bincount(row, weights=np.where(is_token, count * np.log(count), 0.0), minlength=n)
    return n_unique, clogc


def _token_at(seq: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """seq[row, pos[row]] with negative positions read as padding (0)."""
    tok = np.take_along_axis(seq, np.clip(pos, 0, None)[:, None], axis=1)[:, 0]
    return np.where(pos >= 0, tok, 0)


def sequence_features(
    seq: np.ndarray,
    seq_len: np.ndarray,
    seq_len_raw: np.ndarray,
    model: CovisModel,
    last_k: int,
    names: list[str],
) -> dict[str, np.ndarray]:
    """Compute the requested SEQ_STATS for one chunk of rows; returns float64 arrays [n] by name."""
    seq = np.asarray(seq, dtype=np.int64)
    lengths = np.minimum(np.asarray(seq_len, dtype=np.int64), seq.shape[1])
    n = seq.shape[0]
    real = real_mask(seq, lengths)
    k = np.minimum(last_k, lengths)
    rest = lengths - k
    out: dict[str, np.ndarray] = {}
    wanted = set(names)

    if wanted & _COVIS_STATS:
        # Rest positions keep their token, everything else becomes 0; row and column 0 of the co-visitation
        # matrix are empty (padding is never counted), so masked pairs and missing recent tokens add nothing.
        in_rest = real & (np.arange(seq.shape[1])[None, :] < rest[:, None])
        others = np.where(in_rest, seq, 0)
        total = np.zeros(n)
        best = np.zeros(n, dtype=np.float32)
        for j in range(last_k):  # j-th most recent token of each row (0 where the row has fewer)
            recent = np.where(j < k, _token_at(seq, lengths - 1 - j), 0)
            pair = model.covis.lookup(recent[:, None], others)  # [n, L] C[recent, other]
            total += pair.sum(axis=1, dtype=np.float64)
            np.maximum(best, pair.max(axis=1), out=best)
        pairs = k * rest
        out["covis_sum"] = total
        out["covis_max"] = best.astype(np.float64)
        out["covis_mean"] = np.divide(total, pairs, out=np.zeros(n), where=pairs > 0)

    last = _token_at(seq, lengths - 1)
    if "transition_prob" in wanted:
        prev = _token_at(seq, lengths - 2)
        prob = model.transition.lookup(prev, last).astype(np.float64)
        out["transition_prob"] = np.where(lengths >= 2, prob, 0.0)
    if "seq_len" in wanted:
        out["seq_len"] = np.log1p(np.asarray(seq_len_raw, dtype=np.float64))
    if wanted & _RUN_STATS:
        n_unique, clogc = _token_runs(seq, real)
        safe_len = np.maximum(lengths, 1)
        entropy = np.log(safe_len) - clogc / safe_len  # H = log(len) - sum_t c_t log c_t / len
        out["n_unique"] = n_unique
        out["entropy"] = np.where(lengths > 0, np.maximum(entropy, 0.0), 0.0)
        out["diversity"] = np.divide(n_unique, lengths, out=np.zeros(n), where=lengths > 0)
    if "last_token" in wanted:
        out["last_token"] = np.where(lengths > 0, np.log1p(model.popularity[last]), 0.0)
    return {name: out[name] for name in names}
