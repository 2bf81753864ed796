"""Build the train or test shard cache, or reuse one whose fingerprint and files check out.

The build loop lives in toss_core.data.cache_write, the file checks in toss_core.data.integrity; this
module decides between them, under a lock so two processes never race one build.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from toss_core.config import TossConfig
from toss_core.data.cache_write import Plan, from_train_manifest, write_cache
from toss_core.data.integrity import shard_problems
from toss_core.data.precheck import check_test_file, check_truth
from toss_core.data.raw import (
    check_pair,
    check_raw_schema,
    check_values,
    file_fingerprint,
    resolve_numeric_columns,
)
from toss_core.data.reader import FORMAT, MANIFEST, read_manifest
from toss_core.data.seqvocab import SEQ_IDS
from toss_core.data.shaping import check_current, digest, shaping_config
from toss_core.layout import Layout
from toss_core.util.errors import ArtifactError, DataError
from toss_core.util.locks import writer_lock
from toss_core.util.results import CacheResult

log = logging.getLogger("toss")


def _plan(cfg: TossConfig, layout: Layout, kind: str) -> tuple[Plan, dict[str, Any] | None]:
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
    config_fp = digest(shaping_config(cfg))
    input_fp = file_fingerprint(path)
    cache_fp = digest(
        {
            "format": FORMAT,
            "seq_ids": SEQ_IDS,
            "kind": kind,
            "input": input_fp,
            "config": config_fp,
            "train": train_fp,
        }
    )
    fingerprint = {"input": input_fp, "config": config_fp, "cache": cache_fp}
    if train_fp:
        fingerprint["train_cache"] = train_fp
    plan = Plan(
        kind=kind,
        path=path,
        out_dir=layout.train_cache if kind == "train" else layout.test_cache,
        n_rows=meta.metadata.num_rows,
        cat_cols=list(cfg.data.cat_cols),
        num_cols=num_cols,
        qtok_cols=list(cfg.sequence.query_same_vocab),
        seq_col=cfg.sequence.col,
        max_len=cfg.sequence.max_len,
        max_token=cfg.sequence.max_token,
        label_col=cfg.data.label_col if kind == "train" else None,
        id_col=cfg.data.id_col if kind == "test" else None,
        fingerprint=fingerprint,
    )
    return plan, train_manifest


def _reusable(plan: Plan, full: bool) -> dict[str, Any] | None:
    """The manifest of a cache at plan.out_dir that matches the fingerprint and whose every shard passes
    the checks (integrity.shard_problems); None, with a warning naming the shard, otherwise."""
    try:
        manifest = read_manifest(plan.out_dir)
    except ArtifactError:
        return None
    if manifest.get("fingerprint", {}).get("cache") != plan.fingerprint["cache"]:
        return None
    problems = shard_problems(plan.out_dir, manifest, full)
    if problems:
        log.warning("%s cache at %s is damaged, rebuilding it: %s", plan.kind, plan.out_dir, problems[0])
        return None
    return manifest


def _validate_inputs(cfg: TossConfig, layout: Layout, kind: str) -> None:
    """Before a build: the values a build would otherwise trip on late. Train also checks everything the
    test build would (data.precheck), so a bad test file stops the work before the train cache."""
    if kind == "train":
        check_values(layout.train_path, cfg, "train")
        check_test_file(cfg, layout.train_path, layout.test_path)
        check_pair(cfg, layout)
    check_values(layout.test_path, cfg, "test")
    check_truth(cfg, layout.test_path, layout.truth_path)


def build_cache(cfg: TossConfig, layout: Layout, kind: str) -> CacheResult:
    """Build (or reuse, when data.use_cache and the fingerprints and files check out) one shard cache.

    One writer at a time: a second process waits for the lock, then reuses what the first built."""
    start = time.perf_counter()
    out_dir = layout.train_cache if kind == "train" else layout.test_cache
    with writer_lock(out_dir, f"the {kind} cache {out_dir}", wait=True):
        plan, train_manifest = _plan(cfg, layout, kind)
        full = cfg.data.verify == "full"
        manifest = _reusable(plan, full) if cfg.data.use_cache else None
        if manifest is None:
            return _build(cfg, layout, plan, train_manifest, start)
    log.info("%s cache at %s matches fingerprint %s: reused", kind, plan.out_dir, plan.fingerprint["cache"])
    files = [plan.out_dir / f["path"] for s in manifest["shards"] for f in s["files"].values()]
    files += [plan.out_dir / manifest["seq_vocab"]["path"]] if "seq_vocab" in manifest else []
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


def _build(
    cfg: TossConfig, layout: Layout, plan: Plan, train_manifest: dict[str, Any] | None, start: float
) -> CacheResult:
    _validate_inputs(cfg, layout, plan.kind)
    if train_manifest is not None:
        from_train_manifest(plan, train_manifest, layout.train_cache)
    manifest_path, n_shards, n_bytes = write_cache(plan, cfg)
    return CacheResult(
        kind=plan.kind,
        manifest_path=manifest_path,
        n_rows=plan.n_rows,
        n_shards=n_shards,
        bytes=n_bytes,
        fingerprint=plan.fingerprint["cache"],
        reused=False,
        seconds=time.perf_counter() - start,
        collisions={e.column: e.collisions for e in plan.encoders},
    )


def check_caches_current(cfg: TossConfig, layout: Layout, kinds: tuple[str, ...]) -> None:
    """Before a step reads caches `kinds`: they exist and were built with this config's shaping keys."""
    for kind in kinds:
        root = layout.train_cache if kind == "train" else layout.test_cache
        manifest = read_manifest(root)
        check_current(cfg, manifest, root)
        _check_raw_unchanged(layout.train_path if kind == "train" else layout.test_path, manifest, root)


def _check_raw_unchanged(raw: Path, manifest: dict[str, Any], root: Path) -> None:
    """The raw Parquet a cache was built from has not been replaced since (its footer fingerprint; two
    small reads). A raw file deleted after the build is fine: the cache is all the later steps read."""
    if not raw.is_file():
        return
    built = manifest.get("fingerprint", {}).get("input")
    if built is not None and file_fingerprint(raw) != built:
        raise ArtifactError(
            f"{raw} changed after the cache {root} was built from it: rebuild the caches with "
            "`toss build-cache --cfg <your config>`, then rerun the steps after it"
        )
