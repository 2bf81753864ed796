"""Batches from the memory-mapped shard cache: vectorised row gathers, model-ready tensors, prefetch.

Only the rows of a batch are read (ShardedCache.take); indices are sorted first so that reads walk each
memory-mapped shard forward. A background thread can gather the next batches while the model trains on
the current one (numpy's and torch's gathers release the GIL).
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import numpy as np
import torch

from toss_core.config import TossConfig
from toss_core.data.reader import ShardedCache
from toss_core.spec import FeatureSpec

_LONG_FIELDS = {"cat", "seq", "seq_len", "qtok"}
T = TypeVar("T")
R = TypeVar("R")


def model_spec(cfg: TossConfig, cache: ShardedCache, dense_cache: ShardedCache | None = None) -> FeatureSpec:
    """The spec a model is built from: the cache's, without the sequence when sequence.col is null
    (the no-DARE ablation on a cache that has one), plus the co-visitation columns when they are used."""
    dense_cols = list(dense_cache.manifest["columns"]["dense"]) if dense_cache is not None else []
    spec = FeatureSpec.from_manifest(cache.manifest, dense_cols=dense_cols)
    if cfg.sequence.col is None and spec.seq_col is not None:
        spec = dataclasses.replace(spec, seq_col=None, max_len=0, qtok_cols=[])
    return spec


def feature_fields(spec: FeatureSpec, available: Iterable[str]) -> list[str]:
    """Cache fields a model built from `spec` reads (dense comes from the co-visitation cache)."""
    wanted = ["cat", "num"]
    if spec.isna_cols:
        wanted.append("isna")
    if spec.has_sequence:
        wanted += ["seq", "seq_len"]
    if spec.qtok_cols:
        wanted.append("qtok")
    have = set(available)
    return [f for f in wanted if f in have]


class BatchSource:
    """Gathers rows of the base cache (and the aligned `dense` cache) by global index."""

    def __init__(
        self,
        cache: ShardedCache,
        fields: list[str],
        dense_cache: ShardedCache | None = None,
        label: bool = False,
    ) -> None:
        self.cache = cache
        self.dense_cache = dense_cache
        self.fields = [*fields, *(["label"] if label else [])]

    def take(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        rows = np.sort(rows)
        arrays = self.cache.take(rows, self.fields)
        if self.dense_cache is not None:
            arrays["dense"] = self.dense_cache.take(rows, ["dense"])["dense"]
        return arrays

    def row_bytes(self) -> int:
        """Bytes one row of the gathered fields takes in the caches' own dtypes."""
        caches = [(self.cache, self.fields)] + ([(self.dense_cache, ["dense"])] if self.dense_cache else [])
        total = 0
        for cache, fields in caches:
            for name in fields:
                meta = cache.manifest["fields"][name]
                total += np.dtype(meta["dtype"]).itemsize * int(np.prod(meta["shape"], dtype=np.int64))
        return total


def model_inputs(raw: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Model-ready tensors from fields in their cache dtypes: ids as int64, everything else float32
    (converted where the tensors are, so a device path copies the compact dtypes)."""
    return {name: t.long() if name in _LONG_FIELDS else t.float() for name, t in raw.items()}


def to_tensors(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """CPU tensors sharing the gathered arrays' memory, in the cache dtypes."""
    return {name: torch.from_numpy(np.ascontiguousarray(arr)) for name, arr in arrays.items()}


def prefetched(fn: Callable[[T], R], items: Iterable[T], depth: int) -> Iterator[R]:
    """fn over `items`, `depth` results ahead in a background thread (depth 0: inline)."""
    if depth <= 0:
        for item in items:
            yield fn(item)
        return
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item: object) -> bool:
        """Hand one item over unless the consumer has gone away."""
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put(fn(item)):
                    return
            put(done)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(exc)

    thread = threading.Thread(target=work, name="toss-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()
