"""Statistics fitted on the train file in a streaming pass: numeric imputation values and cat vocabularies.

Memory is bounded by the columns, not the rows: numeric means are running sums; the exact median comes
from a two-level radix histogram over the float32 bit patterns (65,536 bins on the high 16 bits, then
the low 16 bits inside the bin that holds the middle rank, guessed from the first batch and checked at
the end; a column whose guess was wrong is read once more); a cat vocabulary holds one entry per
distinct value.

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
    flip = (values.view(np.int32) >> 31).view(np.uint32)  # all ones for negative values
    flip |= np.uint32(0x80000000)
    return u ^ flip


def _key_to_float(keys: np.ndarray) -> np.ndarray:
    keys = keys.astype(np.uint32)
    u = np.where(keys >> 31, keys & np.uint32(0x7FFFFFFF), ~keys).astype(np.uint32)
    return u.view(np.float32)


# high-16-bit bins that only non-finite floats (±inf, NaN) map to: everything else is a real value
_NON_FINITE_BINS = np.r_[0:0x80, 0xFF80:_HI_BINS]


class NumericStats:
    """Running count / sum / missing count per column, and the radix histograms of the exact median.

    Inputs are column-major ([n_cols, n], contiguous per column). The median's high-16-bit bin is
    guessed from the first batch; the low-16-bit histogram of that bin is accumulated during the same
    pass, so only columns whose middle ranks end up in another bin need `refine` (a second look at
    that column alone).
    """

    def __init__(self, n_cols: int, median: bool):
        self.n_cols = n_cols
        self.count = np.zeros(n_cols, dtype=np.int64)
        self.total = np.zeros(n_cols, dtype=np.float64)
        self.missing = np.zeros(n_cols, dtype=np.int64)
        self.hist = np.zeros((n_cols, _HI_BINS), dtype=np.int64) if median else None
        self._guess: np.ndarray | None = None  # [n_cols] guessed high bin of the median
        self._guess_low = np.zeros((n_cols, _HI_BINS), dtype=np.int64) if median else None
        self._bins: np.ndarray | None = None  # [n_cols, 2] high bins of the two middle ranks
        self._ranks: np.ndarray | None = None  # [n_cols, 2] their ranks inside those bins
        self._low: dict[tuple[int, int], np.ndarray] = {}  # (column, high bin) -> low-bit histogram

    def update(self, values: np.ndarray, missing: np.ndarray) -> None:
        """values float32 [n_cols, n]; missing bool [n_cols, n] (null, NaN or infinite)."""
        n_missing = missing.sum(axis=1)
        self.missing += n_missing
        self.count += values.shape[1] - n_missing
        self.total += np.sum(values, axis=1, dtype=np.float64, where=~missing)
        if self.hist is None or self._guess_low is None:
            return
        keys = _sortable_keys(values)
        high = keys >> 16
        for j in range(self.n_cols):
            self.hist[j] += np.bincount(high[j], minlength=_HI_BINS)
        if self._guess is None:
            self._guess = self._middle()[0][:, 0]
        low = keys & np.uint32(0xFFFF)
        for j in range(self.n_cols):
            self._guess_low[j] += np.bincount(low[j][high[j] == self._guess[j]], minlength=_HI_BINS)

    def _middle(self) -> tuple[np.ndarray, np.ndarray]:
        """(high bins, ranks inside them) of the two middle ranks, from the finite values seen so far."""
        assert self.hist is not None
        finite = self.hist
        finite[:, _NON_FINITE_BINS] = 0  # those counts are never needed: drop them in place
        count = finite.sum(axis=1)
        ranks = np.stack([np.maximum(count - 1, 0) // 2, count // 2], axis=1)
        bins = np.zeros((self.n_cols, 2), dtype=np.int64)
        for j in range(self.n_cols):
            cum = np.cumsum(finite[j])
            bins[j] = np.minimum(np.searchsorted(cum, ranks[j], side="right"), _HI_BINS - 1)
            ranks[j] -= np.where(bins[j] > 0, cum[np.maximum(bins[j] - 1, 0)], 0)
        return bins, ranks

    def start_refine(self) -> list[int]:
        """After the pass: fix the median bins; returns the columns that `refine` must still see."""
        self._bins, self._ranks = self._middle()
        assert self._guess is not None and self._guess_low is not None
        todo = []
        for j in range(self.n_cols):
            if self.count[j] == 0:
                continue
            for b in set(self._bins[j].tolist()):
                if b == self._guess[j]:
                    self._low[(j, b)] = self._guess_low[j]
                else:
                    self._low[(j, b)] = np.zeros(_HI_BINS, dtype=np.int64)
                    todo.append(j)
        return sorted(set(todo))

    def refine(self, column: int, values: np.ndarray) -> None:
        """Second look at one column (float32 [n]): low-bit histogram of its values in the median bins."""
        assert self._bins is not None and self._guess is not None, "start_refine comes first"
        keys = _sortable_keys(np.ascontiguousarray(values, dtype=np.float32))
        high = keys >> 16
        for b in set(self._bins[column].tolist()) - {int(self._guess[column])}:
            hit = keys[high == b] & np.uint32(0xFFFF)
            self._low[(column, b)] += np.bincount(hit, minlength=_HI_BINS)

    def medians(self) -> np.ndarray:
        """Mean of the two middle values of every column (numpy's median), exactly; 0 if never observed."""
        assert self._bins is not None and self._ranks is not None
        keys = np.zeros((self.n_cols, 2), dtype=np.uint32)
        for j in np.flatnonzero(self.count).tolist():
            for which in range(2):
                b = int(self._bins[j, which])
                low = np.searchsorted(np.cumsum(self._low[(j, b)]), self._ranks[j, which], side="right")
                keys[j, which] = (b << 16) | int(low)
        med = _key_to_float(keys).astype(np.float64).mean(axis=1)
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


class CatAccumulator:
    """Distinct non-null train values of one cat column, with provisional ids in first-seen order.

    The train pass writes provisional ids (1 + position in `values`, 0 = null) because the final ids
    need every distinct value; `fit` then returns the encoder and the provisional -> final lookup table.
    """

    def __init__(self, column: str, kind: str):
        self.column = column
        self.kind = kind
        self.values = pa.array([], type=pa.string() if kind == "string" else pa.float64())

    def provisional_ids(self, arr: pa.Array) -> np.ndarray:
        values = canonical(arr, self.kind)
        pos = pc.index_in(values, value_set=self.values)
        new = pc.and_(pc.is_null(pos), pc.is_valid(values))
        if pc.any(new).as_py():
            self.values = pa.concat_arrays([self.values, pc.unique(values.filter(new))])
            pos = pc.index_in(values, value_set=self.values)
        return (pc.fill_null(pos, -1).to_numpy(zero_copy_only=False) + 1).astype(np.int32)

    def fit(self, buckets: int) -> tuple[CatEncoder, np.ndarray]:
        """(encoder, int32 lookup table provisional id -> final id)."""
        k = len(self.values)
        order = pc.sort_indices(self.values).to_numpy()
        lut = np.zeros(k + 1, dtype=np.int32)
        if k + 1 <= buckets:
            lut[order + 1] = np.arange(1, k + 1, dtype=np.int32)
            vocab = self.values.take(pa.array(order)).to_pylist()
            return CatEncoder(self.column, self.kind, "vocab", k + 1, k, 0, vocab), lut
        lut[1:] = 1 + fnv1a64(self.values) % np.uint64(buckets - 1)
        collisions = k - len(np.unique(lut[1:]))
        return CatEncoder(self.column, self.kind, "hash", buckets, k, collisions), lut
