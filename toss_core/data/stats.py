"""Statistics fitted on the train file in a streaming pass: numeric imputation values and cat vocabularies.

Memory is bounded by the columns, not the rows: numeric means are running sums; the exact median comes
from a two-level radix histogram over the float32 bit patterns (65,536 bins on the high 16 bits, then
the low 16 bits inside the bin that holds the middle rank: one more pass over the numeric columns); a
cat vocabulary holds one entry per distinct value.

Cat ids are STABLE across processes and library versions: a column with fewer distinct train values than
its bucket budget gets a vocabulary (values sorted, ids 1..K, stored in the manifest; unseen and null
values map to 0, no collisions). A column with more gets hashed: id = 1 + FNV-1a-64(key) mod (buckets - 1),
key = the UTF-8 bytes of a string value, or the 8 little-endian bytes of a numeric value as float64;
distinct train values that share an id are counted as collisions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_HI_BINS = 1 << 16
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


# ---------------------------------------------------------------------------------------------- numeric
def _sortable_keys(values: np.ndarray) -> np.ndarray:
    """Map float32 values to uint32 keys whose unsigned order is the float order."""
    u = values.view(np.uint32)
    return np.where(u >> 31, ~u, u | np.uint32(0x80000000)).astype(np.uint32)


def _key_to_float(keys: np.ndarray) -> np.ndarray:
    keys = keys.astype(np.uint32)
    u = np.where(keys >> 31, keys & np.uint32(0x7FFFFFFF), ~keys).astype(np.uint32)
    return u.view(np.float32)


class NumericStats:
    """Running count / sum / missing count per column, plus the high-16-bit histogram for the median."""

    def __init__(self, n_cols: int, median: bool):
        self.n_cols = n_cols
        self.count = np.zeros(n_cols, dtype=np.int64)
        self.total = np.zeros(n_cols, dtype=np.float64)
        self.missing = np.zeros(n_cols, dtype=np.int64)
        self.hist = np.zeros((n_cols, _HI_BINS), dtype=np.int64) if median else None
        self._target_bins: np.ndarray | None = None
        self._ranks: np.ndarray | None = None
        self._low_hist: np.ndarray | None = None

    def update(self, values: np.ndarray, missing: np.ndarray) -> None:
        """values float32 [n, n_cols]; missing bool [n, n_cols] (null, NaN or infinite)."""
        self.missing += missing.sum(axis=0)
        self.count += len(values) - missing.sum(axis=0)
        self.total += np.where(missing, 0.0, values).sum(axis=0, dtype=np.float64)
        if self.hist is not None:
            hi = (_sortable_keys(values) >> 16).astype(np.int64)
            hi += np.arange(self.n_cols, dtype=np.int64) * _HI_BINS
            self.hist += np.bincount(hi[~missing], minlength=self.n_cols * _HI_BINS).reshape(self.n_cols, -1)

    @property
    def needs_refine(self) -> bool:
        return self.hist is not None and self._low_hist is None

    def start_refine(self) -> None:
        """After the first pass: locate the high bins of the two middle ranks of every column."""
        assert self.hist is not None
        lo_rank = np.maximum(self.count - 1, 0) // 2
        hi_rank = self.count // 2
        self._ranks = np.stack([lo_rank, hi_rank], axis=1)  # [n_cols, 2]
        cum = np.cumsum(self.hist, axis=1)
        self._target_bins = np.stack(
            [
                np.array([np.searchsorted(cum[c], r, side="right") for r in self._ranks[c]])
                for c in range(self.n_cols)
            ]
        )
        below = np.take_along_axis(
            np.concatenate([np.zeros((self.n_cols, 1), np.int64), cum], 1), self._target_bins, 1
        )
        self._ranks = self._ranks - below  # rank inside the target bin
        self._low_hist = np.zeros((self.n_cols, 2, _HI_BINS), dtype=np.int64)

    def refine(self, values: np.ndarray, missing: np.ndarray) -> None:
        """Second pass: low-16-bit histogram of the values inside each column's target bins."""
        assert self._low_hist is not None and self._target_bins is not None
        keys = _sortable_keys(values)
        hi, lo = keys >> 16, (keys & np.uint32(0xFFFF)).astype(np.int64)
        for which in range(2):
            hit = (hi == self._target_bins[:, which][None, :]) & ~missing
            flat = lo + np.arange(self.n_cols, dtype=np.int64) * _HI_BINS
            self._low_hist[:, which] += np.bincount(flat[hit], minlength=self.n_cols * _HI_BINS).reshape(
                self.n_cols, -1
            )

    def medians(self) -> np.ndarray:
        assert self._low_hist is not None and self._target_bins is not None and self._ranks is not None
        out = np.zeros((self.n_cols, 2), dtype=np.float64)
        for which in range(2):
            cum = np.cumsum(self._low_hist[:, which], axis=1)
            low = np.array(
                [np.searchsorted(cum[c], self._ranks[c, which], side="right") for c in range(self.n_cols)]
            )
            keys = (self._target_bins[:, which].astype(np.uint64) << np.uint64(16)) | low.astype(np.uint64)
            out[:, which] = _key_to_float(keys)
        med = out.mean(axis=1)
        return np.where(self.count > 0, med, 0.0)

    def means(self) -> np.ndarray:
        return np.where(self.count > 0, self.total / np.maximum(self.count, 1), 0.0)

    def fill_values(self, strategy: str) -> np.ndarray:
        """float32 imputation value per column; columns never observed in train get 0."""
        if strategy == "zero":
            return np.zeros(self.n_cols, dtype=np.float32)
        return (self.means() if strategy == "mean" else self.medians()).astype(np.float32)


# -------------------------------------------------------------------------------------------- categorical
def canonical(arr: pa.Array, kind: str) -> pa.Array:
    """Cat values as `kind` ("string" | "float64"), nulls (and NaN) as null. Raises ArrowInvalid."""
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if kind == "string":
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            arr = pc.cast(arr, pa.string())
        return arr.cast(pa.string())
    arr = pc.cast(arr, pa.float64())
    return pc.if_else(pc.is_nan(arr), pa.scalar(None, pa.float64()), arr)


def cat_kind(t: pa.DataType) -> str:
    """The canonical kind a train column's values are stored as."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    return "string" if (pa.types.is_string(t) or pa.types.is_large_string(t)) else "float64"


def fnv1a64(values: pa.Array) -> np.ndarray:
    """FNV-1a 64-bit hash of each non-null value's key bytes (see the module docstring)."""
    if values.type == pa.float64():
        raw = np.ascontiguousarray(values.to_numpy(zero_copy_only=False), dtype="<f8").view(np.uint8)
        byte_rows, lengths = raw.reshape(-1, 8), np.full(len(values), 8)
    else:
        arr = values.cast(pa.large_string())
        offsets = np.frombuffer(arr.buffers()[1], np.int64, len(arr) + 1, arr.offset * 8)
        data = (
            np.frombuffer(arr.buffers()[2], np.uint8)
            if arr.buffers()[2] is not None
            else np.zeros(1, np.uint8)
        )
        lengths = np.diff(offsets)
        width = int(lengths.max(initial=0))
        idx = np.minimum(offsets[:-1, None] + np.arange(width)[None, :], max(len(data) - 1, 0))
        byte_rows = data[idx] if width else np.zeros((len(arr), 0), np.uint8)
    h = np.full(len(values), _FNV_OFFSET, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(byte_rows.shape[1]):
            step = (h ^ byte_rows[:, j].astype(np.uint64)) * _FNV_PRIME
            h = np.where(j < lengths, step, h)
    return h


@dataclass
class CatEncoder:
    """How one cat column's values become ids (see the module docstring). JSON round-trips via to_dict."""

    column: str
    kind: str
    mode: str  # "vocab" | "hash"
    cardinality: int  # ids 0..cardinality-1
    n_train_values: int
    collisions: int
    vocab: list[Any] = field(default_factory=list)
    _value_set: pa.Array | None = field(default=None, repr=False)

    def encode(self, arr: pa.Array) -> np.ndarray:
        values = canonical(arr, self.kind)
        if self.mode == "vocab":
            if self._value_set is None:
                self._value_set = pa.array(
                    self.vocab, type=pa.string() if self.kind == "string" else pa.float64()
                )
            pos = pc.index_in(values, value_set=self._value_set)
            return (pc.fill_null(pos, -1).to_numpy(zero_copy_only=False) + 1).astype(np.int32)
        ids = np.zeros(len(values), dtype=np.int32)
        valid = values.is_valid().to_numpy(zero_copy_only=False)
        if valid.any():
            h = fnv1a64(values.filter(pa.array(valid)))
            ids[valid] = (1 + h % np.uint64(self.cardinality - 1)).astype(np.int32)
        return ids

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "mode": self.mode,
            "cardinality": self.cardinality,
            "n_train_values": self.n_train_values,
            "collisions": self.collisions,
            "vocab": self.vocab,
        }

    @classmethod
    def from_dict(cls, column: str, d: dict[str, Any]) -> CatEncoder:
        return cls(column=column, **d)


class CatCounter:
    """Distinct non-null train values of one cat column, accumulated batch by batch (vectorised)."""

    def __init__(self, column: str, kind: str):
        self.column = column
        self.kind = kind
        self._values: pa.Array | None = None

    def update(self, arr: pa.Array) -> None:
        uniq = pc.unique(canonical(arr, self.kind).drop_null())
        merged = uniq if self._values is None else pa.concat_arrays([self._values, uniq])
        self._values = pc.unique(merged)

    def fit(self, buckets: int) -> CatEncoder:
        values = self._values if self._values is not None else pa.array([], pa.string())
        values = values.take(pc.sort_indices(values))
        k = len(values)
        if k + 1 <= buckets:
            return CatEncoder(self.column, self.kind, "vocab", k + 1, k, 0, values.to_pylist())
        distinct_ids = len(np.unique(fnv1a64(values) % np.uint64(buckets - 1))) if k else 0
        return CatEncoder(self.column, self.kind, "hash", buckets, k, k - distinct_ids)
