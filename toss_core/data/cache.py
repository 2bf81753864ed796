"""Stream a raw Parquet file into the NPY shard cache (contract: toss_core.data.spec), or reuse a match.

Train: one pass over the cat and numeric columns fits the vocabularies and imputation statistics
(a second numeric-only pass makes the median exact), then one pass over every column writes the shards.
Test: one pass, with everything fitted taken from the TRAIN manifest. Record batches of data.shard_rows
rows are read with PyArrow and each becomes one shard, so peak memory follows the shard size, not the file.
The directory only appears, manifest last, when the whole build succeeded (ShardWriter).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from toss_core.config import DataConfig, TossConfig
from toss_core.data.raw import check_raw_schema, file_fingerprint, resolve_numeric_columns
from toss_core.data.reader import FORMAT, MANIFEST, ShardWriter, read_manifest
from toss_core.data.seqparse import MAX_DIGITS, SeqParseError, parse_sequences
from toss_core.data.stats import CatCounter, CatEncoder, NumericStats, cat_kind
from toss_core.errors import ArtifactError, DataError
from toss_core.layout import Layout
from toss_core.progress import Progress
from toss_core.results import CacheResult

log = logging.getLogger("toss")

# config keys that change the cache's content; everything else (paths, use_cache, ...) does not
SHAPING_KEYS = {
    "data": [
        "label_col",
        "id_col",
        "cat_cols",
        "num_cols_explicit",
        "num_patterns",
        "shard_rows",
        "add_isna_mask",
        "impute_strategy",
        "hash_buckets",
    ],
    "sequence": ["col", "max_len", "query_same_vocab"],
}
_DEFAULT_BUCKETS = int(DataConfig.model_fields["hash_buckets"].default)
_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, ValueError)


def shaping_config(cfg: TossConfig) -> dict[str, Any]:
    return {sec: {k: getattr(getattr(cfg, sec), k) for k in keys} for sec, keys in SHAPING_KEYS.items()}


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _buckets(cfg: TossConfig, col: str) -> int:
    hb = cfg.data.hash_buckets
    n = hb.get(col, _DEFAULT_BUCKETS) if isinstance(hb, dict) else hb
    if n < 2:
        raise DataError(
            f"data.hash_buckets for column '{col}' is {n}: need at least 2 (id 0 is null/unknown)"
        )
    return int(n)


@dataclass
class _Plan:
    """What one build reads, and what it maps values with."""

    kind: str
    path: Path
    out_dir: Path
    n_rows: int
    cat_cols: list[str]
    num_cols: list[str]
    qtok_cols: list[str]
    seq_col: str | None
    max_len: int
    label_col: str | None
    id_col: str | None
    fingerprint: dict[str, str]
    encoders: list[CatEncoder] = field(default_factory=list)
    fill: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    isna_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    seq_max_id: int = 0  # largest token id seen in train (test: larger ids become OOV)
    stats_extra: dict[str, Any] = field(default_factory=dict)

    @property
    def read_cols(self) -> list[str]:
        cols = [*self.cat_cols, *self.num_cols, *self.qtok_cols]
        cols += [c for c in (self.seq_col, self.label_col, self.id_col) if c is not None]
        return list(dict.fromkeys(cols))


def _fail(path: Path, col: str, row0: int, what: str) -> DataError:
    return DataError(f"{path}: column '{col}' (rows from {row0}): {what}")


def _batches(path: Path, cols: list[str], rows: int) -> Iterator[tuple[int, pa.RecordBatch]]:
    """(first row, batch) over the file; unreadable data becomes a DataError naming the file."""
    row0 = 0
    try:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=rows, columns=cols):
            yield row0, batch
            row0 += batch.num_rows
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{path}: cannot read columns {cols} near row {row0}: {exc}") from exc


def _numeric(batch: pa.RecordBatch, cols: list[str], path: Path, row0: int) -> tuple[np.ndarray, np.ndarray]:
    """(float32 [n, k] values, bool [n, k] missing = null, NaN or infinite)."""
    values = np.empty((batch.num_rows, len(cols)), dtype=np.float32)
    for j, col in enumerate(cols):
        arr = batch.column(col)
        if arr.type != pa.float32():
            try:
                arr = pc.cast(arr, pa.float32())
            except _ARROW_ERRORS as exc:
                raise _fail(path, col, row0, f"expected numbers, found {arr.type} values: {exc}") from exc
        values[:, j] = arr.to_numpy(zero_copy_only=False)
    return values, ~np.isfinite(values)


def _token_ids(batch: pa.RecordBatch, col: str, path: Path, row0: int) -> np.ndarray:
    """A query column in the sequence vocabulary: token + 1, null -> 0."""
    try:
        arr = pc.cast(batch.column(col), pa.float64())
    except _ARROW_ERRORS as exc:
        raise _fail(path, col, row0, f"expected integer tokens: {exc}") from exc
    v = arr.to_numpy(zero_copy_only=False)
    ok = np.isnan(v) | ((v >= 0) & (v < 10**MAX_DIGITS) & (v == np.floor(v)))
    if not ok.all():
        bad = int(np.flatnonzero(~ok)[0])
        raise _fail(path, col, row0, f"row {row0 + bad}: {v[bad]!r} is not a non-negative integer token")
    return np.where(np.isnan(v), 0, v + 1).astype(np.int32)


# ---------------------------------------------------------------------------------------------- fitting
def _fit_train(plan: _Plan, cfg: TossConfig) -> None:
    """Vocabularies and numeric statistics from the train file (1 pass, 2 for an exact median)."""
    strategy = cfg.data.impute_strategy
    schema = pq.ParquetFile(plan.path).schema_arrow
    counters = [CatCounter(c, cat_kind(schema.field(c).type)) for c in plan.cat_cols]
    stats = NumericStats(len(plan.num_cols), median=strategy == "median")
    cols = list(dict.fromkeys([*plan.cat_cols, *plan.num_cols]))
    progress = Progress("train cache: fitting statistics", plan.n_rows)
    for row0, batch in _batches(plan.path, cols, cfg.data.shard_rows):
        for counter in counters:
            try:
                counter.update(batch.column(counter.column))
            except _ARROW_ERRORS as exc:
                raise _fail(plan.path, counter.column, row0, f"unreadable as {counter.kind}: {exc}") from exc
        stats.update(*_numeric(batch, plan.num_cols, plan.path, row0))
        progress.update(batch.num_rows)
    if stats.needs_refine:
        stats.start_refine()
        for row0, batch in _batches(plan.path, plan.num_cols, cfg.data.shard_rows):
            stats.refine(*_numeric(batch, plan.num_cols, plan.path, row0))
    plan.encoders = [c.fit(_buckets(cfg, c.column)) for c in counters]
    plan.fill = stats.fill_values(strategy)
    isna = stats.missing > 0 if cfg.data.add_isna_mask else np.zeros(len(plan.num_cols), bool)
    plan.isna_idx = np.flatnonzero(isna)
    plan.stats_extra = {
        "numeric": {
            "strategy": strategy,
            "fill": plan.fill.tolist(),
            "mean": stats.means().tolist(),
            "observed": stats.count.tolist(),
            "missing": stats.missing.tolist(),
        }
    }


def _from_train_manifest(plan: _Plan, train: dict[str, Any]) -> None:
    cols = train["columns"]
    plan.encoders = [CatEncoder.from_dict(c, train["cat_encoders"][c]) for c in cols["cat"]]
    plan.fill = np.asarray(train["numeric"]["fill"], dtype=np.float32)
    plan.isna_idx = np.asarray([cols["num"].index(c) for c in cols["isna"]], dtype=np.int64)
    plan.seq_max_id = int(train["seq_max_id"])
    plan.stats_extra = {
        "numeric": {"strategy": train["numeric"]["strategy"], "fill": train["numeric"]["fill"]}
    }


# ---------------------------------------------------------------------------------------------- writing
def _encode(plan: _Plan, batch: pa.RecordBatch, row0: int, unseen: np.ndarray) -> dict[str, np.ndarray]:
    """One record batch -> the arrays of one shard."""
    n = batch.num_rows
    out: dict[str, np.ndarray] = {}
    cat = np.zeros((n, len(plan.encoders)), dtype=np.int32)
    for j, enc in enumerate(plan.encoders):
        arr = batch.column(enc.column)
        try:
            cat[:, j] = enc.encode(arr)
        except _ARROW_ERRORS as exc:
            raise _fail(plan.path, enc.column, row0, f"unreadable as {enc.kind}: {exc}") from exc
        unseen[j] += int(np.count_nonzero((cat[:, j] == 0) & arr.is_valid().to_numpy(zero_copy_only=False)))
    out["cat"] = cat
    values, missing = _numeric(batch, plan.num_cols, plan.path, row0)
    np.copyto(values, np.broadcast_to(plan.fill, values.shape), where=missing)
    out["num"] = values
    if len(plan.isna_idx):
        out["isna"] = missing[:, plan.isna_idx].astype(np.uint8)
    oov = plan.seq_max_id + 1
    if plan.seq_col is not None:
        try:
            parsed = parse_sequences(batch.column(plan.seq_col), plan.max_len)
        except SeqParseError as exc:
            raise _fail(plan.path, plan.seq_col, row0, f"row {row0 + exc.row}: {exc.reason}") from exc
        if plan.kind == "test":
            parsed.ids[parsed.ids > plan.seq_max_id] = oov
        else:
            plan.seq_max_id = max(plan.seq_max_id, int(parsed.ids.max(initial=0)))
        out.update(seq=parsed.ids, seq_len=parsed.seq_len, seq_len_raw=parsed.seq_len_raw)
    if plan.qtok_cols:
        qtok = np.stack([_token_ids(batch, c, plan.path, row0) for c in plan.qtok_cols], axis=1)
        if plan.kind == "test":
            qtok[qtok > plan.seq_max_id] = oov
        else:
            plan.seq_max_id = max(plan.seq_max_id, int(qtok.max(initial=0)))
        out["qtok"] = qtok
    if plan.label_col is not None:
        label = batch.column(plan.label_col)
        if label.null_count:
            raise _fail(plan.path, plan.label_col, row0, f"{label.null_count} null labels (expected 0/1)")
        out["label"] = pc.cast(label, pa.float32()).to_numpy(zero_copy_only=False)
    if plan.id_col is not None:
        ids = batch.column(plan.id_col)
        if ids.null_count:
            raise _fail(plan.path, plan.id_col, row0, f"{ids.null_count} null ids")
        out["id"] = pc.cast(ids, pa.string()).to_numpy(zero_copy_only=False).astype(str)
    return out


def _write(plan: _Plan, cfg: TossConfig) -> tuple[Path, int, int]:
    """Stream the file into shards; returns (manifest path, shards, bytes)."""
    unseen = np.zeros(len(plan.encoders), dtype=np.int64)
    progress = Progress(f"{plan.kind} cache", plan.n_rows)
    with ShardWriter(plan.out_dir, plan.kind) as writer:
        for row0, batch in _batches(plan.path, plan.read_cols, cfg.data.shard_rows):
            writer.add(_encode(plan, batch, row0, unseen))
            progress.update(batch.num_rows)
        writer.commit(_manifest_extra(plan, cfg, unseen))
        progress.finish(f"{writer.n_shards} shards, {writer.bytes / 1e6:,.0f} MB")
        return plan.out_dir / MANIFEST, writer.n_shards, writer.bytes


def _manifest_extra(plan: _Plan, cfg: TossConfig, unseen: np.ndarray) -> dict[str, Any]:
    num = plan.num_cols
    extra: dict[str, Any] = {
        "columns": {
            "cat": plan.cat_cols,
            "num": num,
            "isna": [num[i] for i in plan.isna_idx],
            "qtok": plan.qtok_cols,
            "seq": plan.seq_col,
            "label": plan.label_col,
            "id": plan.id_col,
        },
        "cat_cardinalities": [e.cardinality for e in plan.encoders],
        "collisions": {e.column: e.collisions for e in plan.encoders},
        "unseen_rows": {e.column: int(u) for e, u in zip(plan.encoders, unseen, strict=True)},
        "max_len": plan.max_len if plan.seq_col is not None else 0,
        "seq_max_id": plan.seq_max_id,
        "seq_oov_id": plan.seq_max_id + 1,
        "seq_vocab_size": plan.seq_max_id + 2,
        "fingerprint": plan.fingerprint,
        "source": {"path": str(plan.path), "rows": plan.n_rows},
        "shaping_config": shaping_config(cfg),
        **plan.stats_extra,
    }
    if plan.kind == "train":
        extra["cat_encoders"] = {e.column: e.to_dict() for e in plan.encoders}
    return extra


# ---------------------------------------------------------------------------------------------- entry
def _plan(cfg: TossConfig, layout: Layout, kind: str) -> tuple[_Plan, dict[str, Any] | None]:
    if kind not in ("train", "test"):
        raise ValueError(f"kind must be 'train' or 'test', got {kind!r}")
    path = layout.train_path if kind == "train" else layout.test_path
    problems = check_raw_schema(path, cfg, kind)
    if problems:
        raise DataError("; ".join(problems))
    meta = pq.ParquetFile(path)
    train_manifest = None
    if kind == "train":
        num_cols = resolve_numeric_columns(cfg, meta.schema_arrow.names)
        train_fp = ""
    else:
        try:
            train_manifest = read_manifest(layout.train_cache)
        except ArtifactError as exc:
            raise ArtifactError(
                f"the test cache applies train statistics; build the train cache first: {exc}"
            ) from exc
        num_cols = list(train_manifest["columns"]["num"])
        missing = [c for c in num_cols if c not in meta.schema_arrow.names]
        if missing:
            raise DataError(f"{path}: missing numeric column(s) {missing} that the train cache has")
        train_fp = train_manifest["fingerprint"]["cache"]
    config_fp = _digest(shaping_config(cfg))
    input_fp = file_fingerprint(path)
    cache_fp = _digest(
        {"format": FORMAT, "kind": kind, "input": input_fp, "config": config_fp, "train": train_fp}
    )
    fingerprint = {"input": input_fp, "config": config_fp, "cache": cache_fp}
    if train_fp:
        fingerprint["train_cache"] = train_fp
    plan = _Plan(
        kind=kind,
        path=path,
        out_dir=layout.train_cache if kind == "train" else layout.test_cache,
        n_rows=meta.metadata.num_rows,
        cat_cols=list(cfg.data.cat_cols),
        num_cols=num_cols,
        qtok_cols=list(cfg.sequence.query_same_vocab),
        seq_col=cfg.sequence.col,
        max_len=cfg.sequence.max_len,
        label_col=cfg.data.label_col if kind == "train" else None,
        id_col=cfg.data.id_col if kind == "test" else None,
        fingerprint=fingerprint,
    )
    return plan, train_manifest


def _reusable(plan: _Plan) -> dict[str, Any] | None:
    try:
        manifest = read_manifest(plan.out_dir)
    except ArtifactError:
        return None
    if manifest.get("fingerprint", {}).get("cache") != plan.fingerprint["cache"]:
        return None
    files = [plan.out_dir / f["path"] for s in manifest["shards"] for f in s["files"].values()]
    return manifest if all(p.is_file() for p in files) else None


def build_cache(cfg: TossConfig, layout: Layout, kind: str) -> CacheResult:
    """Build (or reuse, when data.use_cache and the fingerprints match) the train or test shard cache."""
    start = time.perf_counter()
    plan, train_manifest = _plan(cfg, layout, kind)
    manifest = _reusable(plan) if cfg.data.use_cache else None
    if manifest is not None:
        log.info(
            "%s cache at %s matches fingerprint %s: reused", kind, plan.out_dir, plan.fingerprint["cache"]
        )
        files = [plan.out_dir / f["path"] for s in manifest["shards"] for f in s["files"].values()]
        return CacheResult(
            kind=kind,
            manifest_path=plan.out_dir / MANIFEST,
            n_rows=int(manifest["n_rows"]),
            n_shards=len(manifest["shards"]),
            bytes=sum(p.stat().st_size for p in files),
            fingerprint=plan.fingerprint["cache"],
            reused=True,
            seconds=time.perf_counter() - start,
            collisions=dict(manifest.get("collisions", {})),
        )
    if train_manifest is None:
        _fit_train(plan, cfg)
    else:
        _from_train_manifest(plan, train_manifest)
    manifest_path, n_shards, n_bytes = _write(plan, cfg)
    return CacheResult(
        kind=kind,
        manifest_path=manifest_path,
        n_rows=plan.n_rows,
        n_shards=n_shards,
        bytes=n_bytes,
        fingerprint=plan.fingerprint["cache"],
        reused=False,
        seconds=time.perf_counter() - start,
        collisions={e.column: e.collisions for e in plan.encoders},
    )
