"""Co-visitation, sequence and out-of-fold target features, written as shard-aligned `dense` caches.

`build_covis_features(cfg, layout)` runs after the caches and the folds exist:
1. fit: one streaming pass over the train cache accumulates the label-free token statistics
   (co-visitation, transitions, popularity; toss_core.features.cooc) and the per-fold (token, ad-field value)
   click counts (toss_core.features.target), and the per-fold click counts of each id in
   features.covis.id_cols (stat id_rate: the id's own out-of-fold click rate, which needs no sequence)
   and of each pair of features.covis.cross_cols (stat cross_rate: the pair's joint click rate, which
   neither id's own rate holds when the label follows the pair, as a user's clicks on one item do); `auto`
   tries every pair of id columns and every id column with every other cat column, and keeps the pairs
   whose rate adds to their columns' own rates (`informative_crosses`, features.cross_gain);
2. transform: per-row features for every train shard (target rates out of fold) and every test shard
   (target rates from all train rows), standardised with the train mean/std so they feed a network well;
3. write: layout.covis_train / layout.covis_test through ShardWriter (kind "features", field `dense` float32
   [n, n_feat], one shard per base-cache shard, manifest columns.dense = feature names), and when
   features.covis.nested_rates names a family, per fold model k a field rates_k [n, n_rates] (manifest
   columns.rates = the click-rate columns): the click rates with fold k's labels left out as well, which
   that family's model of fold k reads in place of those columns of `dense`
   (toss_core.features.fold_rates), so its training rows carry nothing of its validation labels. Each
   rates_k is standardised with its own train moments (those of `dense` hold fold k's labels). Disk:
   n_folds more float32 per click-rate column per row; still one shard in memory at a time.

The result is reused when its fingerprint (base caches, fold assignment, features.covis section) matches.
Feature definitions: toss_core.features.seqstats (sequence statistics) and toss_core.features.target.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from toss_core.config import ConfigError, TossConfig
from toss_core.features.cooc import CovisAccumulator, CovisModel
from toss_core.features.cross_gain import cross_gain
from toss_core.features.seqstats import SEQ_STATS, sequence_features
from toss_core.features.target import TargetAccumulator, TargetTable, pair_keys, recent_distinct_tokens
from toss_core.layout import Layout
from toss_core.util.errors import ArtifactError
from toss_core.util.progress import Progress
from toss_core.util.results import CovisResult

if TYPE_CHECKING:
    from toss_core.data.reader import ShardedCache

log = logging.getLogger("toss")

COVIS_FORMAT = "toss-covis/2"  # /2: the click rates are written once more per fold model (rates_<k>)
RATES_FIELD = "rates"
TARGET_STAT = "target_rate"
ID_STAT = "id_rate"
CROSS_STAT = "cross_rate"
# An auto cross is kept when at least this share of its keyed training rows share their pair with another
# row: a pair seen once holds no rate for any other row (MovieLens' user x movie never recurs).
MIN_RECURRING_SHARE = 0.01
# An auto cross is kept when its rate adds at least this much balanced log-likelihood per row to its two
# columns' rates (features.cross_gain): above the most any cross adds on the synthetic Toss schema, whose
# generator has no id x context effect (0.0008 at 100k rows), and below Frappe's app crosses (0.0018+).
MIN_CROSS_GAIN = 0.001
MIN_CROSS_Z = 3.0  # ... and that many standard errors above 0: small data's noise is no cross


def label_derived(column: str) -> bool:
    """Whether a co-visitation column is a click rate (made from training labels, out of fold) rather
    than a label-free statistic of the sequence."""
    return column.startswith((TARGET_STAT, ID_STAT, CROSS_STAT))


# Elements per work array ([rows, max_len]) while a shard is processed in row chunks.
_CHUNK_ELEMENTS = 1 << 20


@dataclass(frozen=True)
class TargetField:
    name: str
    column: int  # index into the cache's `cat` field
    cardinality: int


@dataclass(frozen=True)
class CrossField:
    """Two cat columns whose joint value is one click-rate key (first * second's cardinality + second)."""

    first: TargetField
    second: TargetField

    @property
    def name(self) -> str:
        return f"{CROSS_STAT}_{self.first.name}_x_{self.second.name}"


@dataclass(frozen=True)
class Plan:
    """What applies to this config and cache: sequence stats, target fields and id fields, in output order;
    auto_crosses: the crosses are candidates that the fit may drop (features.covis.cross_cols auto)."""

    seq_stats: list[str]
    target_cols: list[TargetField]
    names: list[str]
    skipped: list[str] = field(default_factory=list)
    id_cols: list[TargetField] = field(default_factory=list)
    crosses: list[CrossField] = field(default_factory=list)
    auto_crosses: bool = False

    @property
    def needs_sequence(self) -> bool:
        return bool(self.seq_stats or self.target_cols)

    @property
    def rate_names(self) -> list[str]:
        """The click-rate columns, in output order: the ones written once per fold model too."""
        return [n for n in self.names if label_derived(n)]

    @property
    def needs_labels(self) -> bool:
        """Label statistics are involved, so they must be computed out of fold."""
        return bool(self.target_cols or self.id_cols or self.crosses)

    def without_crosses(self, dropped: list[str]) -> Plan:
        """The same plan without the crosses named in `dropped`."""
        return replace(
            self,
            names=[n for n in self.names if n not in dropped],
            crosses=[c for c in self.crosses if c.name not in dropped],
        )


def _cat_fields(names: list[str], key: str, manifest: dict) -> list[TargetField]:
    """Resolve column names of features.covis.<key> to indices of the cache's `cat` field."""
    cat_cols = list(manifest["columns"].get("cat", []))
    cards = manifest.get("cat_cardinalities", [])
    fields = []
    for name in names:
        if name not in cat_cols:
            raise ConfigError(
                f"features.covis.{key} names '{name}', which is not a cat column of the train "
                f"cache (cat columns: {cat_cols})"
            )
        i = cat_cols.index(name)
        fields.append(TargetField(name=name, column=i, cardinality=int(cards[i])))
    return fields


def _auto_pairs(id_cols: list[str], manifest: dict) -> list[tuple[str, str]]:
    """features.covis.cross_cols auto's candidates: every pair of id columns, then every id column with
    every other cat column of the cache (a user with the hour, an app with the country)."""
    others = [c for c in manifest["columns"].get("cat", []) if c not in id_cols]
    return [*itertools.combinations(id_cols, 2), *itertools.product(id_cols, others)]


def make_plan(cfg: TossConfig, manifest: dict) -> Plan:
    """Resolve features.covis.stats against the cache: unknown names are errors, inapplicable ones skipped."""
    cov = cfg.features.covis
    valid = (*SEQ_STATS, TARGET_STAT, ID_STAT, CROSS_STAT)
    unknown = [s for s in cov.stats if s not in valid]
    if unknown:
        raise ConfigError(f"features.covis.stats: unknown stat(s) {unknown}; valid stats are {list(valid)}")
    stats = list(dict.fromkeys(cov.stats))
    has_seq = manifest.get("columns", {}).get("seq") is not None and "seq" in manifest.get("fields", {})
    skipped = [] if has_seq else [s for s in stats if s not in (ID_STAT, CROSS_STAT)]
    stats = [s for s in stats if s not in skipped]
    targets = _cat_fields(cov.target_cols, "target_cols", manifest) if TARGET_STAT in stats else []
    ids = _cat_fields(cov.id_cols, "id_cols", manifest) if ID_STAT in stats else []
    auto = cov.cross_cols == "auto"
    pairs = _auto_pairs(cov.id_cols, manifest) if auto else [tuple(p) for p in cov.cross_cols]
    crosses = [
        CrossField(*_cat_fields(list(pair), "id_cols" if auto else "cross_cols", manifest))
        for pair in (pairs if CROSS_STAT in stats else [])
    ]
    seq_stats: list[str] = []
    names: list[str] = []
    for stat in stats:
        if stat == TARGET_STAT:
            names.extend(f"{TARGET_STAT}_{t.name}" for t in targets)
        elif stat == ID_STAT:
            names.extend(f"{ID_STAT}_{t.name}" for t in ids)
        elif stat == CROSS_STAT:
            names.extend(c.name for c in crosses)
        else:
            seq_stats.append(stat)
            names.append(stat)
    return Plan(
        seq_stats=seq_stats,
        target_cols=targets,
        names=names,
        skipped=skipped,
        id_cols=ids,
        crosses=crosses,
        auto_crosses=auto,
    )


@dataclass
class Fitted:
    """Everything the transform reads: the token model and one label table per feature name."""

    model: CovisModel | None
    tables: dict[str, TargetTable]


def _row_chunks(n_rows: int, width: int) -> Iterator[slice]:
    step = max(256, _CHUNK_ELEMENTS // max(width, 1))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


def _fields_for(plan: Plan, train: bool) -> list[str]:
    """Cache fields the fit and transform read (at least one, so shards always have a row count)."""
    fields = ["seq", "seq_len", "seq_len_raw"] if plan.needs_sequence else []
    if plan.needs_labels:
        fields += ["cat"] + (["label"] if train else [])
    return fields or (["label"] if train else ["id"])


def _id_keys(arrays: dict, sl: slice, t: TargetField) -> np.ndarray:
    """One key per row: the id itself, -1 (no key) for the null/unknown id 0."""
    values = np.asarray(arrays["cat"][sl, t.column], dtype=np.int64)
    return np.where(values > 0, values, -1)[:, None]


def _cross_keys(arrays: dict, sl: slice, c: CrossField) -> np.ndarray:
    """One key per row for the pair (first, second); -1 (no key) when either id is the null/unknown 0."""
    first = np.asarray(arrays["cat"][sl, c.first.column], dtype=np.int64)
    second = np.asarray(arrays["cat"][sl, c.second.column], dtype=np.int64)
    keys = first * np.int64(c.second.cardinality) + second
    return np.where((first > 0) & (second > 0), keys, -1)[:, None]


def _keyed_rates(plan: Plan, arrays: dict, sl: slice) -> Iterator[tuple[str, np.ndarray]]:
    """(feature name, keys [n, 1]) of every click rate keyed by the row's own cat values: each id of
    plan.id_cols (id_rate), then each pair of plan.crosses (cross_rate); fit and transform share it."""
    for t in plan.id_cols:
        yield f"{ID_STAT}_{t.name}", _id_keys(arrays, sl, t)
    for c in plan.crosses:
        yield c.name, _cross_keys(arrays, sl, c)


def cross_verdict(table: TargetTable, cross: CrossField, smoothing: float) -> tuple[bool, str]:
    """(keep, why) for an auto cross. Left out when its pairs never recur (MIN_RECURRING_SHARE), when one
    column determines the other (an ad hierarchy: the pair is the finer id), or when its rate adds less
    than MIN_CROSS_GAIN, or under MIN_CROSS_Z standard errors, to a model of the two columns' rates
    (features.cross_gain). All read off the fitted table, so the decision costs no pass over the data."""
    per_pair = table.counts.sum(axis=1)
    keyed = per_pair.sum()
    recurring = per_pair[per_pair > 1].sum() / keyed if keyed else 0.0
    if recurring < MIN_RECURRING_SHARE:
        return False, f"{recurring:.1%} of its rows share their pair with another row"
    card = np.int64(cross.second.cardinality)
    for col, values in ((cross.first.name, table.keys // card), (cross.second.name, table.keys % card)):
        if np.unique(values).size == len(table.keys):
            return False, f"{col} determines the other column"
    gain = cross_gain(table, cross.second.cardinality, smoothing)
    added = f"its rate adds {gain.per_row:.5f} ± {gain.stderr:.5f} balanced log-likelihood per row"
    if gain.pairs_scored < gain.pairs:
        added += f" (on {gain.pairs_scored:,} of {gain.pairs:,} pairs)"
    if not gain.clears(MIN_CROSS_GAIN, MIN_CROSS_Z):
        return False, f"{added} to its columns' (needs {MIN_CROSS_GAIN} and {MIN_CROSS_Z:g} standard errors)"
    return True, f"{added} to its columns' rates"


def informative_crosses(plan: Plan, fitted: Fitted, smoothing: float) -> tuple[Plan, Fitted]:
    """With auto crosses, the plan and tables without the crosses that carry nothing (logged with why)."""
    if not plan.auto_crosses:
        return plan, fitted
    dropped = []
    for cross in plan.crosses:
        keep, why = cross_verdict(fitted.tables[cross.name], cross, smoothing)
        if not keep:
            dropped.append(cross.name)
        log.info("covis: cross %s %s: %s", cross.name, "kept" if keep else "left out", why)
    if not dropped:
        return plan, fitted
    tables = {k: v for k, v in fitted.tables.items() if k not in dropped}
    return plan.without_crosses(dropped), Fitted(model=fitted.model, tables=tables)


def fit(cfg: TossConfig, cache: ShardedCache, plan: Plan, folds: np.ndarray | None) -> Fitted:
    """One streaming pass over the train cache: token statistics and per-fold target counts."""
    cov = cfg.features.covis
    acc = None
    width = 1
    if plan.needs_sequence:
        width = int(cache.manifest.get("max_len", 1))
        acc = CovisAccumulator(
            int(cache.manifest["seq_vocab_size"]), cov.window, cov.recency_tau, cov.weights
        )
    n_folds = int(folds.max()) + 1 if folds is not None and folds.size else 1
    tables = {f"{TARGET_STAT}_{t.name}": TargetAccumulator(n_folds) for t in plan.target_cols}
    tables |= {f"{ID_STAT}_{t.name}": TargetAccumulator(n_folds) for t in plan.id_cols}
    tables |= {c.name: TargetAccumulator(n_folds) for c in plan.crosses}
    progress = Progress("covis fit", cache.n_rows)
    for offset, arrays in cache.iter_shards(_fields_for(plan, train=True)):
        n = _n_rows(arrays)
        for sl in _row_chunks(n, width):
            fold_ids = None if folds is None else folds[offset + sl.start : offset + sl.stop]
            if acc is not None:
                seq, seq_len = arrays["seq"][sl], arrays["seq_len"][sl]
                acc.add(seq, seq_len)
            if plan.target_cols:
                recent = recent_distinct_tokens(seq, seq_len, cov.last_k)
                for t in plan.target_cols:
                    keys = pair_keys(recent, arrays["cat"][sl, t.column], t.cardinality)
                    tables[f"{TARGET_STAT}_{t.name}"].add(keys, arrays["label"][sl], fold_ids)
            for name, keys in _keyed_rates(plan, arrays, sl):
                tables[name].add(keys, arrays["label"][sl], fold_ids)
        progress.update(n)
    progress.finish()
    model = acc.finish(cov.top_n) if acc is not None else None
    return Fitted(model=model, tables={k: a.finish() for k, a in tables.items()})


def transform(
    cfg: TossConfig, plan: Plan, fitted: Fitted, arrays: dict, folds: np.ndarray | None
) -> np.ndarray:
    """Raw (unstandardised) features float64 [n, n_feat] of one shard; folds None = test rows."""
    return transform_variants(cfg, plan, fitted, arrays, folds, 0)[0]


def transform_variants(
    cfg: TossConfig, plan: Plan, fitted: Fitted, arrays: dict, folds: np.ndarray | None, n_folds: int
) -> tuple[np.ndarray, np.ndarray]:
    """(raw features [n, n_feat] as `transform` makes them, raw nested click rates [n_folds, n, n_rates]):
    variant k of the click-rate columns (plan.rate_names) leaves fold k's labels out as well, so the model
    of fold k reads it for its training and test rows (features.fold_rates)."""
    cov = cfg.features.covis
    n = _n_rows(arrays)
    out = np.zeros((n, len(plan.names)))
    nested = np.zeros((n_folds, n, len(plan.rate_names)))
    if not plan.names:
        return out, nested
    also_out: list[int | None] = [None, *range(n_folds)]
    width = arrays["seq"].shape[1] if plan.needs_sequence else 1
    for sl in _row_chunks(n, width):
        fold_ids = None if folds is None else folds[sl]
        cols: dict[str, np.ndarray] = {}
        rates: dict[str, list[np.ndarray]] = {}
        if plan.needs_sequence:
            seq, seq_len = arrays["seq"][sl], arrays["seq_len"][sl]
            raw_len = arrays["seq_len_raw"][sl]
            if fitted.model is None:
                raise ValueError("sequence features need the token model that fit() builds")
            cols = sequence_features(seq, seq_len, raw_len, fitted.model, cov.last_k, plan.seq_stats)
        if plan.target_cols:
            recent = recent_distinct_tokens(seq, seq_len, cov.last_k)
            for t in plan.target_cols:
                keys = pair_keys(recent, arrays["cat"][sl, t.column], t.cardinality)
                name = f"{TARGET_STAT}_{t.name}"
                rates[name] = fitted.tables[name].rates(keys, fold_ids, cov.target_smoothing, also_out)
        for name, keys in _keyed_rates(plan, arrays, sl):
            rates[name] = fitted.tables[name].rates(keys, fold_ids, cov.target_smoothing, also_out)
        cols |= {name: variants[0] for name, variants in rates.items()}
        out[sl] = np.stack([cols[name] for name in plan.names], axis=1)
        for k in range(n_folds):
            nested[k, sl] = np.stack([rates[name][1 + k] for name in plan.rate_names], axis=1)
    return out, nested


def _n_rows(arrays: dict) -> int:
    return len(next(iter(arrays.values())))


def _folds_identity(layout: Layout) -> dict | None:
    if not layout.folds_meta_path.is_file():
        return None
    return json.loads(layout.folds_meta_path.read_text())


def fingerprint(cfg: TossConfig, train_fp: str, test_fp: str, folds_meta: dict | None) -> str:
    """Identity of the feature caches: what they were computed from and with which settings."""
    payload = {
        "format": COVIS_FORMAT,
        "train_cache": train_fp,
        "test_cache": test_fp,
        "folds": folds_meta,
        "features.covis": cfg.section_fingerprint("features.covis"),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _existing(path: Path, fp: str, n_rows: int) -> ShardedCache | None:
    """The feature cache at `path` if it is complete and matches `fp`, else None."""
    from toss_core.data.reader import ShardedCache

    if not (path / "manifest.json").is_file():
        return None
    try:
        cache = ShardedCache(path)
    except ArtifactError as exc:
        log.info("covis: %s is not usable (%s); rebuilding", path, exc)
        return None
    if cache.fingerprint != fp or cache.n_rows != n_rows:
        return None
    return cache


@dataclass(frozen=True)
class Scale:
    """Train mean/std of every `dense` column, and of each fold model's click rates (rates_k) apart:
    rates_k's own moments hold no label of fold k, the moments of `dense` do (a few scalars, but the fold
    model would read them), so its variant must not be standardised with them."""

    mean: np.ndarray  # [n_feat]
    std: np.ndarray
    rates_mean: np.ndarray  # [n_folds, n_rates]
    rates_std: np.ndarray

    def manifest(self) -> dict:
        return {
            "standardize": {"mean": self.mean.tolist(), "std": self.std.tolist()},
            "standardize_rates": {"mean": self.rates_mean.tolist(), "std": self.rates_std.tolist()},
        }

    def apply(self, raw: np.ndarray, nested: np.ndarray) -> dict[str, np.ndarray]:
        """One shard's fields, standardised: `dense` and one rates_<k> per fold model."""
        out = {"dense": ((raw - self.mean) / self.std).astype(np.float32)}
        for k in range(len(nested)):
            out[rates_field(k)] = ((nested[k] - self.rates_mean[k]) / self.rates_std[k]).astype(np.float32)
        return out


def _moments(total: np.ndarray, total_sq: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    mean = total / max(n, 1)
    std = np.sqrt(np.maximum(total_sq / max(n, 1) - mean**2, 0.0))
    return mean, np.where(std > 1e-12, std, 1.0)  # a constant feature stays 0 after centring


def rates_field(fold: int) -> str:
    """The field holding fold model `fold`'s variant of the click-rate columns (features.fold_rates)."""
    return f"{RATES_FIELD}_{fold}"


def _write_train(
    cfg: TossConfig,
    layout: Layout,
    train: ShardedCache,
    plan: Plan,
    fitted: Fitted,
    folds: np.ndarray | None,
    extra: dict,
) -> Scale:
    """Compute train features once, keep them raw on disk, then write them standardised by their mean/std
    (one shard in memory at a time)."""
    from toss_core.data.reader import ShardWriter

    fields = _fields_for(plan, train=True)
    n_feat = len(plan.names)
    n_folds = extra["covis"]["rate_folds"]
    layout.covis_train.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=layout.covis_train.parent, prefix=".raw-") as tmp:
        total, total_sq = np.zeros(n_feat), np.zeros(n_feat)
        rates_total, rates_sq = np.zeros((2, n_folds, len(plan.rate_names)))
        raw_paths: list[tuple[Path, Path]] = []
        progress = Progress("covis train features", train.n_rows)
        for offset, arrays in train.iter_shards(fields):
            shard_folds = None if folds is None else folds[offset : offset + _n_rows(arrays)]
            raw, nested = transform_variants(cfg, plan, fitted, arrays, shard_folds, n_folds)
            total += raw.sum(axis=0)
            total_sq += np.square(raw).sum(axis=0)
            rates_total = rates_total + nested.sum(axis=1)
            rates_sq = rates_sq + np.square(nested).sum(axis=1)
            i = len(raw_paths)
            paths = (Path(tmp) / f"raw_{i:05d}.npy", Path(tmp) / f"nested_{i:05d}.npy")
            np.save(paths[0], raw)
            np.save(paths[1], nested.astype(np.float32))  # half the temporary disk; moments are exact
            raw_paths.append(paths)
            progress.update(len(raw))
        progress.finish()
        scale = Scale(
            *_moments(total, total_sq, train.n_rows), *_moments(rates_total, rates_sq, train.n_rows)
        )
        with ShardWriter(layout.covis_train, "features") as writer:
            for raw_path, nested_path in raw_paths:
                writer.add(scale.apply(np.load(raw_path), np.load(nested_path)))
            writer.commit({**extra, **scale.manifest()})
    return scale


def _write_test(
    cfg: TossConfig,
    layout: Layout,
    test: ShardedCache,
    plan: Plan,
    fitted: Fitted,
    scale: Scale,
    extra: dict,
) -> None:
    """Test features (target rates from all train rows; variant k from the rows outside fold k),
    standardised with the train moments."""
    from toss_core.data.reader import ShardWriter

    fields = _fields_for(plan, train=False)
    progress = Progress("covis test features", test.n_rows)
    with ShardWriter(layout.covis_test, "features") as writer:
        for _, arrays in test.iter_shards(fields):
            raw, nested = transform_variants(cfg, plan, fitted, arrays, None, extra["covis"]["rate_folds"])
            writer.add(scale.apply(raw, nested))
            progress.update(len(raw))
        writer.commit({**extra, **scale.manifest()})
    progress.finish()


def build_covis_features(cfg: TossConfig, layout: Layout) -> CovisResult:
    """Build (or reuse) the train and test feature caches; see the module docstring."""
    from toss_core.data.reader import ShardedCache

    start = time.perf_counter()
    train = ShardedCache(layout.train_cache)
    test = ShardedCache(layout.test_cache)
    plan = make_plan(cfg, train.manifest)
    folds_meta = _folds_identity(layout) if plan.needs_labels else None
    fp = fingerprint(cfg, train.fingerprint, test.fingerprint, folds_meta)
    built = _existing(layout.covis_train, fp, train.n_rows)
    if built is not None and _existing(layout.covis_test, fp, test.n_rows):
        names = list(built.manifest["columns"]["dense"])  # auto crosses were decided by that fit
        log.info("covis: reusing %s (fingerprint %s, %d features)", layout.covis_train.parent, fp, len(names))
        return CovisResult(
            train_dir=layout.covis_train,
            test_dir=layout.covis_test,
            feature_names=names,
            fingerprint=fp,
            reused=True,
            seconds=time.perf_counter() - start,
        )
    if plan.skipped:
        log.info("covis: the caches have no sequence column; skipped %s", plan.skipped)
    if not plan.names:
        log.info("covis: no feature applies to this config; writing empty-width feature caches")
    else:
        log.info("covis: computing %d features: %s", len(plan.names), plan.names)

    folds = None
    if plan.needs_labels:
        from toss_core.data.folds import load_folds

        folds = load_folds(layout).astype(np.int64)
        if folds.shape != (train.n_rows,):
            raise ArtifactError(
                f"{layout.folds_path} holds {folds.size} fold ids, the train cache has {train.n_rows} rows"
            )
    fitted = fit(cfg, train, plan, folds) if plan.names else Fitted(model=None, tables={})
    plan, fitted = informative_crosses(plan, fitted, cfg.features.covis.target_smoothing)
    nested = bool(cfg.features.covis.nested_rates)  # some family reads them
    extra = {
        "columns": {"dense": list(plan.names), RATES_FIELD: plan.rate_names if nested else []},
        "fingerprint": {
            "input": f"{train.fingerprint}+{test.fingerprint}",
            "config": cfg.section_fingerprint("features.covis"),
            "cache": fp,
        },
        "covis": _fit_info(fitted, plan, folds if nested else None),
    }

    scale = _write_train(cfg, layout, train, plan, fitted, folds, extra)
    _write_test(cfg, layout, test, plan, fitted, scale, extra)
    seconds = time.perf_counter() - start
    log.info(
        "covis: %d features for %d + %d rows built in %.1fs",
        len(plan.names),
        train.n_rows,
        test.n_rows,
        seconds,
    )
    return CovisResult(
        train_dir=layout.covis_train,
        test_dir=layout.covis_test,
        feature_names=list(plan.names),
        fingerprint=fp,
        reused=False,
        seconds=seconds,
    )


def _fit_info(fitted: Fitted, plan: Plan, folds: np.ndarray | None) -> dict:
    """Small facts about the fit for the manifest (and the Dagster metadata that reads it); `format` and
    `rate_folds` (the fold models that have a rates_<k> field; 0 when features.covis.nested_rates is empty,
    then `folds` is None here) are what features.fold_rates checks."""
    n_folds = int(folds.max()) + 1 if folds is not None and folds.size and plan.rate_names else 0
    info: dict = {
        "format": COVIS_FORMAT,
        "rate_folds": n_folds,
        "target_cols": [t.name for t in plan.target_cols],
        "id_cols": [t.name for t in plan.id_cols],
        "cross_cols": [[c.first.name, c.second.name] for c in plan.crosses],
    }
    if fitted.model is not None:
        info["vocab"] = fitted.model.vocab
        info["covis_nonzero"] = fitted.model.covis.nnz
        info["transition_nonzero"] = fitted.model.transition.nnz
    for name, table in fitted.tables.items():
        info[name] = {"keys": len(table.keys), "prior": table.prior}
    return info
