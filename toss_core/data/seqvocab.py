"""The sequence vocabulary: raw tokens mapped to compact ids, so the vocabulary is sized by the tokens seen.

Ids: 0 = padding, 1 = out of vocabulary (a test token never seen in train, or a train token above
sequence.max_token), 2..K+1 = the K distinct tokens seen in train, numbered in the order they first
appear (within one chunk, in increasing token order). The ids a train chunk gets never change later, so
the train pass writes final ids in one pass, and the vocabulary size K + 2 follows the distinct tokens,
not the largest token value: a stray token 10^9 costs one id, not a billion embedding rows.

The map (the raw tokens in id order) is saved in the train cache as `seq_vocab.npy`, checksummed in its
manifest; the test build reads it. Memory: O(K) for the map plus O(chunk) per lookup (a vectorised
binary search).
Raw tokens are what toss_core.data.seqparse yields (token + 1, 0 = padding), stored as int64.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toss_core.data.integrity import CHECKSUM, crc_file
from toss_core.util.errors import ArtifactError

PAD_ID = 0
OOV_ID = 1
FIRST_ID = 2
VOCAB_FILE = "seq_vocab.npy"
# Bump when the meaning of the cached sequence ids changes: it is part of the cache fingerprint.
SEQ_IDS = "train-vocab/1"


class SeqVocab:
    """Raw token -> compact id; `encode(grow=True)` (the train pass) adds the tokens it has not seen."""

    def __init__(self, raw: np.ndarray | None = None, max_token: int | None = None):
        """`raw`: the known raw tokens in id order (id FIRST_ID + position); `max_token`: raw tokens above
        it (in seqparse's token + 1 units: above max_token + 1) are never added and encode as OOV."""
        raw = np.zeros(0, np.int64) if raw is None else np.asarray(raw, dtype=np.int64)
        self.limit = None if max_token is None else int(max_token) + 1
        self._by_id = [raw]
        self._order = np.argsort(raw, kind="stable")
        self._sorted = raw[self._order]
        self.size = len(raw)

    @property
    def vocab_size(self) -> int:
        """Ids 0..vocab_size-1: padding, OOV and every known token."""
        return self.size + FIRST_ID

    def raw_tokens(self) -> np.ndarray:
        """The known raw tokens in id order (int64 [K])."""
        if len(self._by_id) > 1:
            self._by_id = [np.concatenate(self._by_id)]
        return self._by_id[0]

    def _lookup(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(id per token, found mask) for a flat int64 array."""
        if self.size == 0:
            return np.zeros(tokens.shape, np.int64), np.zeros(tokens.shape, bool)
        pos = np.minimum(np.searchsorted(self._sorted, tokens), self.size - 1)
        found = self._sorted[pos] == tokens
        return self._order[pos] + FIRST_ID, found

    def _grow(self, tokens: np.ndarray) -> None:
        """Give every unseen token of `tokens` (flat, real, within the limit) the next free id."""
        uniq = np.unique(tokens)
        _, found = self._lookup(uniq)
        new = uniq[~found]
        if not new.size:
            return
        self._by_id.append(new)
        raw = np.concatenate([self._sorted, new])
        order = np.concatenate([self._order, np.arange(self.size, self.size + new.size)])
        by_raw = np.argsort(raw, kind="stable")
        self._sorted, self._order = raw[by_raw], order[by_raw]
        self.size += new.size

    def encode(self, raw: np.ndarray, grow: bool) -> tuple[np.ndarray, int]:
        """(int32 ids shaped like `raw`, number of real tokens that became OOV); 0 stays padding."""
        flat = np.asarray(raw, dtype=np.int64).ravel()
        real = flat > 0
        kept = real if self.limit is None else real & (flat <= self.limit)
        if grow:
            self._grow(flat[kept])
        ids, found = self._lookup(flat)
        known = kept & found
        out = np.where(known, ids, np.where(real, OOV_ID, PAD_ID)).astype(np.int32)
        return out.reshape(np.shape(raw)), int(np.count_nonzero(real & ~known))

    def save(self, directory: Path) -> dict[str, object]:
        """Write the map into `directory` (the train cache's, before it is committed); returns the
        manifest entry that `load` checks it against."""
        path = Path(directory) / VOCAB_FILE
        np.save(path, self.raw_tokens())
        return {"path": VOCAB_FILE, "tokens": self.size, CHECKSUM: crc_file(path)}

    @classmethod
    def load(cls, cache_dir: Path, entry: dict[str, object] | None) -> SeqVocab:
        """The train cache's vocabulary (manifest entry `seq_vocab`), checked against its checksum;
        ArtifactError naming the file and the rebuild when it is missing or damaged."""
        path = Path(cache_dir) / VOCAB_FILE
        rebuild = "rebuild the train cache with `toss build-cache --cfg <your config>`"
        if entry is None or not path.is_file():
            raise ArtifactError(f"{path}: the train cache has no sequence vocabulary; {rebuild}")
        if crc_file(path) != entry.get(CHECKSUM):
            raise ArtifactError(f"{path}: the sequence vocabulary fails its {CHECKSUM} check; {rebuild}")
        raw = np.load(path, allow_pickle=False)
        if len(raw) != entry.get("tokens"):
            raise ArtifactError(
                f"{path}: holds {len(raw)} tokens, the manifest says {entry.get('tokens')}; {rebuild}"
            )
        return cls(raw)
