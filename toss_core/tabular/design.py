"""The tree families' design matrix, assembled shard by shard from the NPY cache (no Parquet, no row loops).

Columns, in order: native categoricals (as their integer ids), id-column encodings (frequency / target,
see encoding.py) of the columns a family chose to encode, numerics, null masks, the raw sequence length
and the co-visitation features when enabled. The same plan builds the training, validation and test
matrices, so their columns always line up.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np

from toss_core.data.reader import ShardedCache
from toss_core.spec import FeatureSpec
from toss_core.tabular.encoding import IdEncoder
from toss_core.util.errors import ArtifactError


def _safe(name: str) -> str:
    """LightGBM and CatBoost reject JSON punctuation in feature names."""
    return re.sub(r"[^0-9A-Za-z_]", "_", name)


@dataclass(frozen=True)
class DesignPlan:
    cat_cols: list[str]
    native_cols: list[str]
    id_cols: list[str]
    id_encoder_features: list[str]
    num_cols: list[str]
    isna_cols: list[str]
    seq_len_raw: bool
    dense_cols: list[str]  # the co-visitation columns the model reads
    id_method: str  # how id_cols are encoded: "target" or "frequency" (IdEncoder)
    dense_source: list[str]  # every column of the co-visitation cache, which dense_cols are taken from

    @classmethod
    def build(
        cls,
        spec: FeatureSpec,
        cache_fields: list[str],
        dense_cols: list[str],
        ids: list[str] | None = None,
        id_method: str = "target",
        keep_dense: list[str] | None = None,
    ) -> DesignPlan:
        """The plan over a cache's columns: `ids` (cat columns) become `id_method` encodings, every other
        categorical stays a native one; `keep_dense` (default: all) are the co-visitation columns read.
        Which columns are ids and which features are read is the family's choice."""
        ids = list(ids or [])
        if id_method not in ("target", "frequency"):
            raise ValueError(f"id_method must be 'target' or 'frequency', got {id_method!r}")
        method = id_method
        per_col = {"frequency": ["freq"], "target": ["freq", "te"]}[method]
        return cls(
            cat_cols=list(spec.cat_cols),
            native_cols=[c for c in spec.cat_cols if c not in ids],
            id_cols=ids,
            id_encoder_features=[f"{c}__{k}" for c in ids for k in per_col],
            num_cols=list(spec.num_cols),
            isna_cols=list(spec.isna_cols) if "isna" in cache_fields else [],
            seq_len_raw="seq_len_raw" in cache_fields,
            dense_cols=list(dense_cols if keep_dense is None else [c for c in dense_cols if c in keep_dense]),
            id_method=method,
            dense_source=list(dense_cols),
        )

    @property
    def feature_names(self) -> list[str]:
        names = [f"cat__{c}" for c in self.native_cols]
        names += list(self.id_encoder_features)
        names += [f"num__{c}" for c in self.num_cols]
        names += [f"isna__{c}" for c in self.isna_cols]
        names += ["seq_len_raw"] if self.seq_len_raw else []
        names += [f"dense__{c}" for c in self.dense_cols]
        return [_safe(n) for n in names]

    @property
    def categorical_features(self) -> list[str]:
        return [_safe(f"cat__{c}") for c in self.native_cols]

    @property
    def cache_fields(self) -> list[str]:
        fields = ["cat"] if self.cat_cols else []
        fields += ["num"] if self.num_cols else []
        fields += ["isna"] if self.isna_cols else []
        fields += ["seq_len_raw"] if self.seq_len_raw else []
        return fields

    def column_index(self, cols: list[str]) -> np.ndarray:
        return np.array([self.cat_cols.index(c) for c in cols], dtype=np.int64)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: dict) -> DesignPlan:
        try:
            return cls(**payload)
        except TypeError as exc:
            raise ArtifactError(
                f"a design plan of an older toss ({exc}): retrain the folds of that family"
            ) from None

    def check_cache(self, spec: FeatureSpec, dense_cols: list[str], what: str) -> None:
        """Refuse a cache whose columns differ from the ones this plan was built on."""
        found = {"cat": spec.cat_cols, "num": spec.num_cols, "dense": dense_cols if self.dense_cols else []}
        expected = {
            "cat": self.cat_cols,
            "num": self.num_cols,
            "dense": self.dense_source if self.dense_cols else [],
        }
        for key, cols in expected.items():
            if list(found[key]) != list(cols):
                raise ArtifactError(f"{what}: {key} columns {found[key]} differ from the model's {cols}")

    def block(
        self,
        arrays: dict[str, np.ndarray],
        local: np.ndarray | slice,
        encoder: IdEncoder | None,
        oof_te: np.ndarray | None,
        dense: np.ndarray | None,
    ) -> np.ndarray:
        """Design rows for the `local` rows of one shard's arrays."""
        parts: list[np.ndarray] = []
        if self.cat_cols:
            cat = np.asarray(arrays["cat"][local])
            if self.native_cols:
                parts.append(cat[:, self.column_index(self.native_cols)].astype(np.float32))
            if self.id_cols:
                if encoder is None:
                    raise ArtifactError("the design plan encodes id columns but no id encoder was given")
                parts.append(encoder.transform(cat[:, self.column_index(self.id_cols)], oof_te))
        if self.num_cols:
            parts.append(np.asarray(arrays["num"][local], dtype=np.float32))
        if self.isna_cols:
            parts.append(np.asarray(arrays["isna"][local], dtype=np.float32))
        if self.seq_len_raw:
            parts.append(np.asarray(arrays["seq_len_raw"][local], dtype=np.float32)[:, None])
        if self.dense_cols:
            if dense is None:
                raise ArtifactError("the design plan uses co-visitation features but none were given")
            columns = [self.dense_source.index(c) for c in self.dense_cols]
            parts.append(np.asarray(dense, dtype=np.float32)[:, columns])
        return np.concatenate(parts, axis=1)


def iter_design(
    plan: DesignPlan,
    cache: ShardedCache,
    rows: np.ndarray | None,
    encoder: IdEncoder | None,
    oof_te: np.ndarray | None = None,
    dense_cache: ShardedCache | None = None,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield (start, stop, block) over the cache's shards: block = design rows rows[start:stop] (sorted
    global row ids), or of every row when `rows` is None (then start/stop are global offsets)."""
    for i in range(cache.n_shards):
        offset, end = int(cache.offsets[i]), int(cache.offsets[i + 1])
        local: np.ndarray | slice
        if rows is None:
            a, b, local = offset, end, slice(None)
            global_rows = np.arange(offset, end)
        else:
            a, b = np.searchsorted(rows, [offset, end])
            if a == b:
                continue  # a block of rows (LightGBM's pushed blocks) opens only the shards it covers
            global_rows = rows[a:b]
            local = global_rows - offset
        arrays = cache.shard_arrays(i, plan.cache_fields)
        te = None if oof_te is None else oof_te[a:b]
        dense = None if dense_cache is None else dense_cache.take(global_rows, ["dense"])["dense"]
        yield int(a), int(b), plan.block(arrays, local, encoder, te, dense)


def build_matrix(
    plan: DesignPlan,
    cache: ShardedCache,
    rows: np.ndarray,
    encoder: IdEncoder | None,
    oof_te: np.ndarray | None = None,
    dense_cache: ShardedCache | None = None,
) -> np.ndarray:
    """The float32 design matrix of `rows` (sorted global ids), filled shard by shard."""
    if len(rows) and np.any(np.diff(rows) <= 0):
        raise ValueError("build_matrix needs strictly increasing row ids")
    out = np.empty((len(rows), len(plan.feature_names)), dtype=np.float32)
    for a, b, block in iter_design(plan, cache, rows, encoder, oof_te, dense_cache):
        out[a:b] = block
    return out
