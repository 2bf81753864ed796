"""Cross-validation folds: computed once, saved next to the run, reused by every step.

Methods (chosen from the `cv` section, first match wins):

- `latest` (cv.order_key): for a test set later in time than the train rows. The last fold holds the
  latest 1/n_splits of rows by the order column (with cv.order_group: each group's latest rows, by its
  own order); the other rows are dealt into the other folds as `stratified` / `random` would. The last
  fold's model trains on earlier rows only, like the test set's, so the stacker and the calibrators learn
  on that fold's OOF logits (stacking_rows); every other fold model still sees the later rows.

- `time` (cv.time_key): rows sorted by the time column are cut into `n_splits` contiguous blocks of
  near-equal size; rows sharing a time value stay in one block. Fold f validates on block f and trains
  on every other block, past and future ("blocked" CV): it measures how well a model carries over to an
  unseen period, not strict forecasting. The last fold is the only one trained purely on the past, the
  closest analogue of the test split, and the stacker and the calibrators learn on its OOF logits.
  With cv.order_group the blocks are cut within each group's own time order. String times that all
  parse as numbers ("1".."23") sort numerically; nulls sort first.
- `composite_group` (cv.composite_group): the listed columns are hashed together into one group key, then
  as `group`.
- `group` (cv.group_key): each group lands whole in one fold. Groups are ordered by positives and size
  (descending, random tie-break) and dealt out in snake order, which balances rows and, with
  cv.stratify_target, positives across folds.
- `stratified` (cv.stratify_target): each class is shuffled and dealt round-robin, so every fold keeps
  the base rate.
- `random`: a seeded shuffle dealt round-robin.

Group and time columns are read from the raw Parquet with a Polars scan of just those columns (Parquet
order = cache order); the label comes from the train cache.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import polars as pl

from toss_core.config import ConfigError, TossConfig
from toss_core.layout import Layout
from toss_core.util.atomic import atomic_path, write_json
from toss_core.util.errors import ArtifactError, DataError
from toss_core.util.results import FoldsResult

log = logging.getLogger("toss")

FOLDS_FORMAT = "toss-folds/1"


def fold_method(cfg: TossConfig) -> str:
    """The method the `cv` section selects; conflicting settings are a configuration error."""
    cv = cfg.cv
    if cv.order_key and (cv.time_key or cv.group_key or cv.composite_group):
        raise ConfigError(
            "cv.order_key cannot be combined with cv.time_key, cv.group_key or cv.composite_group"
        )
    if cv.order_group and not (cv.order_key or cv.time_key):
        raise ConfigError(
            f"cv.order_group={cv.order_group!r} needs cv.order_key or cv.time_key: the time it orders"
        )
    if cv.order_key:
        return "latest"
    if cv.time_key and (cv.group_key or cv.composite_group):
        raise ConfigError("cv.time_key cannot be combined with cv.group_key or cv.composite_group")
    if cv.group_key and cv.composite_group:
        raise ConfigError(
            f"cv.group_key={cv.group_key!r} and cv.composite_group={cv.composite_group} are both set: "
            "list every group column in cv.composite_group instead"
        )
    if cv.time_key:
        return "time"
    if cv.composite_group:
        return "composite_group"
    if cv.group_key:
        return "group"
    return "stratified" if cv.stratify_target else "random"


# ---- assignment on arrays ------------------------------------------------------------------------------


def _deal(order: np.ndarray, n_splits: int, start: int = 0) -> np.ndarray:
    """Fold ids dealt round-robin along `order` (positions, not rows)."""
    return ((np.arange(order.size) + start) % n_splits).astype(np.int8)


def random_folds(n_rows: int, n_splits: int, seed: int) -> np.ndarray:
    order = np.random.default_rng(seed).permutation(n_rows)
    folds = np.empty(n_rows, dtype=np.int8)
    folds[order] = _deal(order, n_splits)
    return folds


def stratified_folds(labels: np.ndarray, n_splits: int, seed: int) -> np.ndarray:
    """Shuffle each class and deal it round-robin; the next class continues where the last one stopped."""
    rng = np.random.default_rng(seed)
    y = np.asarray(labels) > 0.5
    folds = np.empty(y.size, dtype=np.int8)
    start = 0
    for cls in (True, False):
        rows = np.flatnonzero(y == cls)
        rng.shuffle(rows)
        folds[rows] = _deal(rows, n_splits, start)
        start += rows.size
    return folds


def group_folds(
    groups: np.ndarray, labels: np.ndarray, n_splits: int, seed: int, stratify: bool
) -> np.ndarray:
    """Whole groups per fold: sort groups by (positives, size) descending and deal them in snake order."""
    _, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    n_groups = sizes.size
    if n_groups < n_splits:
        raise DataError(
            f"only {n_groups} distinct groups for cv.n_splits={n_splits}: some folds would be empty"
        )
    positives = np.bincount(inverse, weights=(np.asarray(labels) > 0.5), minlength=n_groups)
    tie = np.random.default_rng(seed).permutation(n_groups)
    keys = [tie, -sizes] + ([-positives] if stratify else [])
    order = np.lexsort(keys)  # last key is primary
    pos = np.arange(n_groups)
    lap, step = np.divmod(pos, n_splits)
    snake = np.where(lap % 2 == 0, step, n_splits - 1 - step).astype(np.int8)
    group_fold = np.empty(n_groups, dtype=np.int8)
    group_fold[order] = snake
    return group_fold[inverse]


def time_folds(times: np.ndarray, n_splits: int) -> np.ndarray:
    """Contiguous time blocks; each distinct time value goes to the block holding its middle row."""
    values, inverse, counts = np.unique(times, return_inverse=True, return_counts=True)
    if values.size < n_splits:
        raise DataError(
            f"cv.time_key has only {values.size} distinct values for cv.n_splits={n_splits}: "
            "some time blocks would be empty"
        )
    before = np.cumsum(counts) - counts
    middle = (before + counts / 2.0) / counts.sum()
    value_fold = np.minimum((middle * n_splits).astype(np.int64), n_splits - 1).astype(np.int8)
    folds = value_fold[inverse]
    empty = np.setdiff1d(np.arange(n_splits), np.unique(folds))
    if empty.size:
        raise DataError(
            f"cv.time_key: time values are too lumpy for {n_splits} blocks (fold(s) {empty.tolist()} empty); "
            "use fewer splits or a finer time column"
        )
    return folds


# ---- columns from the raw Parquet ----------------------------------------------------------------------


def _read_columns(path: Path, cols: list[str], n_rows: int) -> pl.DataFrame:
    if not path.is_file():
        raise ArtifactError(f"train Parquet {path} is missing: the fold columns {cols} are read from it")
    schema = pl.scan_parquet(path).collect_schema()
    missing = [c for c in cols if c not in schema]
    if missing:
        raise DataError(f"{path}: cv column(s) {missing} not found; the file has {len(schema)} columns")
    df = pl.scan_parquet(path).select(cols).collect()
    if df.height != n_rows:
        raise ArtifactError(
            f"{path} has {df.height} rows but the train cache has {n_rows}: rebuild the cache"
        )
    return df


def _group_codes(df: pl.DataFrame) -> np.ndarray:
    """One uint64 key per row from one or several columns hashed together (nulls are a value of their own)."""
    return df.select(pl.struct(df.columns).hash(seed=0)).to_series().to_numpy()


def _time_values(series: pl.Series) -> np.ndarray:
    """Sortable time values: numeric strings sort as numbers; nulls first."""
    if series.dtype == pl.String:
        as_num = series.cast(pl.Float64, strict=False)
        if as_num.null_count() == series.null_count():
            series = as_num
    if series.dtype.is_numeric() or series.dtype.is_temporal():
        values = series.cast(pl.Float64).to_numpy()
        return np.where(np.isnan(values), -np.inf, values)
    return series.fill_null("").to_numpy().astype(str)


# ---- the rows the stacker and the calibrators learn on ---------------------------------------------------


def late_mask(times: np.ndarray, share: float) -> np.ndarray:
    """The latest `share` of rows by `times`; rows sharing a time value are in or out together (by where
    the value's middle row falls), so at least one value is always in."""
    _, inverse, counts = np.unique(times, return_inverse=True, return_counts=True)
    before = np.cumsum(counts) - counts
    middle = (before + counts / 2.0) / counts.sum()
    late = middle >= 1.0 - share
    late[-1] = True
    return late[inverse]


def group_time_rank(groups: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Each row's place in its group's own time order, in (0, 1]: (rank - 0.5) / group size (ties in time
    by row order)."""
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    order = np.lexsort((np.arange(times.size), times, inverse))
    start = np.cumsum(counts) - counts
    rank = np.empty(times.size)
    rank[order] = np.arange(times.size) - start[inverse[order]]
    return (rank + 0.5) / counts[inverse]


def _ordered(cfg: TossConfig, layout: Layout, key: str, n_rows: int) -> np.ndarray:
    """Sortable times of the train rows; with cv.order_group, each row's place in its group's order."""
    group = cfg.cv.order_group
    df = _read_columns(layout.train_path, [key] + ([group] if group else []), n_rows)
    times = _time_values(df[key])
    return group_time_rank(_group_codes(df.select(group)), times) if group else times


def latest_folds(
    order: np.ndarray, labels: np.ndarray, n_splits: int, seed: int, stratify: bool
) -> np.ndarray:
    """The last fold holds the latest 1/n_splits of rows by `order`; the rest are dealt into the other
    n_splits - 1 folds (stratified or random), so every fold model but the last also sees later rows."""
    late = late_mask(order, 1.0 / n_splits)
    if late.all():
        raise DataError(
            "cv.order_key: one time value holds every row: no earlier rows to train the last fold on"
        )
    rest = np.flatnonzero(~late)
    folds = np.full(order.size, n_splits - 1, dtype=np.int8)
    if n_splits == 2:
        folds[rest] = 0
    elif stratify:
        folds[rest] = stratified_folds(labels[rest], n_splits - 1, seed)
    else:
        folds[rest] = random_folds(rest.size, n_splits - 1, seed)
    return folds


def stacking_fold(cfg: TossConfig) -> int | None:
    """The fold whose OOF rows the stacker and the calibrators learn on: with folds ordered in time
    (cv.order_key, cv.time_key) the last, the only one predicted by a model trained on earlier rows alone,
    as the test rows are; None = every fold."""
    return cfg.cv.n_splits - 1 if fold_method(cfg) in ("latest", "time") else None


def stacking_rows(cfg: TossConfig, folds: np.ndarray) -> np.ndarray | None:
    """Boolean mask of the train rows whose OOF logits the stacker and the calibrators learn on (those of
    stacking_fold); None = every row."""
    fold = stacking_fold(cfg)
    return None if fold is None else np.asarray(folds) == fold


# ---- persisted assignment ------------------------------------------------------------------------------


FOLD_KEYS = ("cv.n_splits", "cv.group_key", "cv.stratify_target", "cv.time_key", "cv.composite_group")
"""The config keys that decide the fold assignment (with seed and the cache): a saved assignment made
under other values is stale. cv.refit is not one of them: it decides what predicts the test set."""


def fold_keys(cfg: TossConfig) -> tuple[str, ...]:
    """FOLD_KEYS, and cv.order_key / cv.order_group when either is set (left out otherwise, so that
    assignments and resumable folds saved before the keys existed stay valid)."""
    extra = ("cv.order_key", "cv.order_group") if cfg.cv.order_key or cfg.cv.order_group else ()
    return FOLD_KEYS + extra


def _meta(cfg: TossConfig, method: str, cache_fp: str) -> dict:
    return {
        "format": FOLDS_FORMAT,
        "method": method,
        "n_splits": cfg.cv.n_splits,
        "seed": cfg.seed,
        "cv_fingerprint": cfg.section_fingerprint(*fold_keys(cfg)),
        "cache_fingerprint": cache_fp,
    }


def _identity_mismatch(meta: dict, expected: dict) -> list[str]:
    return [f"{k}: saved {meta.get(k)!r}, expected {v!r}" for k, v in expected.items() if meta.get(k) != v]


def _result(layout: Layout, meta: dict) -> FoldsResult:
    return FoldsResult(
        path=layout.folds_path,
        n_splits=meta["n_splits"],
        method=meta["method"],
        fold_sizes=list(meta["fold_sizes"]),
        fold_positives=list(meta["fold_positives"]),
    )


def compute_folds(cfg: TossConfig, layout: Layout, labels: np.ndarray) -> np.ndarray:
    """The fold id of every train row (cache order) for the configured method."""
    method, cv, k = fold_method(cfg), cfg.cv, cfg.cv.n_splits
    if method == "random":
        return random_folds(labels.size, k, cfg.seed)
    if method == "stratified":
        return stratified_folds(labels, k, cfg.seed)
    if method == "time" and cv.time_key is not None:
        return time_folds(_ordered(cfg, layout, cv.time_key, labels.size), k)
    if method == "latest" and cv.order_key is not None:
        order = _ordered(cfg, layout, cv.order_key, labels.size)
        return latest_folds(order, labels, k, cfg.seed, cv.stratify_target)
    # group or composite_group: fold_method refuses both at once, so one of the two is set
    cols = list(cv.composite_group) if cv.composite_group else [cv.group_key] if cv.group_key else []
    df = _read_columns(layout.train_path, cols, labels.size)
    return group_folds(_group_codes(df), labels, k, cfg.seed, cv.stratify_target)


def assign_folds(cfg: TossConfig, layout: Layout) -> FoldsResult:
    """Compute and save the fold assignment, or reuse the saved one when its identity matches."""
    from toss_core.data.reader import ShardedCache

    cache = ShardedCache(layout.train_cache)
    expected = _meta(cfg, fold_method(cfg), cache.fingerprint)
    if layout.folds_path.is_file() and layout.folds_meta_path.is_file():
        saved = json.loads(layout.folds_meta_path.read_text())
        if not _identity_mismatch(saved, expected):
            log.info(
                "folds: reusing %s (%s, %d splits)", layout.folds_path, saved["method"], saved["n_splits"]
            )
            return _result(layout, saved)
        log.info(
            "folds: saved assignment does not match (%s); recomputing", _identity_mismatch(saved, expected)
        )
    labels = cache.read_field("label")
    folds = compute_folds(cfg, layout, labels)
    positives = np.bincount(folds, weights=labels > 0.5, minlength=cfg.cv.n_splits)
    meta = {
        **expected,
        "n_rows": int(folds.size),
        "fold_sizes": np.bincount(folds, minlength=cfg.cv.n_splits).tolist(),
        "fold_positives": positives.astype(np.int64).tolist(),
    }
    with atomic_path(layout.folds_path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, folds)
    write_json(layout.folds_meta_path, meta)
    log.info("folds: %s, sizes %s, positives %s", meta["method"], meta["fold_sizes"], meta["fold_positives"])
    return _result(layout, meta)


def load_folds(layout: Layout) -> np.ndarray:
    """The saved fold ids; ArtifactError when missing or built for another cache or cv section."""
    from toss_core.data.reader import ShardedCache

    if not (layout.folds_path.is_file() and layout.folds_meta_path.is_file()):
        raise ArtifactError(f"fold assignment {layout.folds_path} is missing: run `toss folds` first")
    meta = json.loads(layout.folds_meta_path.read_text())
    expected = _meta(layout.cfg, fold_method(layout.cfg), ShardedCache(layout.train_cache).fingerprint)
    bad = _identity_mismatch(meta, expected)
    if bad:
        raise ArtifactError(
            f"fold assignment {layout.folds_meta_path} was made for other inputs ({'; '.join(bad)})"
        )
    folds = np.load(layout.folds_path)
    if folds.shape != (meta["n_rows"],):
        raise ArtifactError(
            f"{layout.folds_path} holds {folds.shape} fold ids, its meta says {meta['n_rows']} rows"
        )
    return folds
