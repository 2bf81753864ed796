"""Co-visitation features: hand-checked maths, the out-of-fold leak test, and the cache round trip."""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import make_config, run_context
from scipy import sparse

from toss_core import steps
from toss_core.config import ConfigError
from toss_core.data.folds import load_folds
from toss_core.data.reader import ShardedCache
from toss_core.features.cooc import CovisAccumulator, PairTable, prune_top_n
from toss_core.features.covis import build_covis_features, fit, informative_crosses, make_plan, transform
from toss_core.features.seqstats import sequence_features
from toss_core.features.target import TargetAccumulator, pair_keys, recent_distinct_tokens
from toss_core.layout import Layout

V = 6
# Three left-aligned rows, 0 = padding: [1 2 3], [2 3], [4 4 1].
SEQ = np.array([[1, 2, 3, 0], [2, 3, 0, 0], [4, 4, 1, 0]], dtype=np.int32)
LEN = np.array([3, 2, 3], dtype=np.int32)


def _fit(window: int, weights: str = "count", tau: float = 1.0, top_n: int = V, seq=SEQ, lengths=LEN):
    acc = CovisAccumulator(V, window=window, recency_tau=tau, weights=weights)
    acc.add(seq, lengths)
    return acc.finish(top_n)


def _dense(table: PairTable) -> np.ndarray:
    return table.matrix.toarray()


def _sym(entries: dict[tuple[int, int], float]) -> np.ndarray:
    m = np.zeros((V, V))
    for (a, b), w in entries.items():
        m[a, b] = m[b, a] = w
    return m


def test_covis_counts_window_1_and_2():
    np.testing.assert_allclose(_dense(_fit(1).covis), _sym({(1, 2): 1, (2, 3): 2, (1, 4): 1}))
    # window 2 adds (1,3) from row 0 and the second (4,1) pair of row 2; (4,4) is a self pair, dropped.
    np.testing.assert_allclose(_dense(_fit(2).covis), _sym({(1, 2): 1, (2, 3): 2, (1, 4): 2, (1, 3): 1}))


def test_covis_recency_weights():
    # weight exp(-age/tau), age = positions of the newer token before the end of its row.
    got = _dense(_fit(1, weights="recency", tau=1.0).covis)
    np.testing.assert_allclose(got, _sym({(1, 2): math.exp(-1), (2, 3): 2.0, (1, 4): 1.0}), rtol=1e-6)
    got2 = _dense(_fit(2, weights="recency", tau=2.0).covis)
    # row 2: (4,1) at d=1 (age 0) and d=2 (age 0); row 0: (1,3) age 0, (1,2) age 1, (2,3) age 0.
    want = _sym({(1, 2): math.exp(-0.5), (2, 3): 2.0, (1, 4): 2.0, (1, 3): 1.0})
    np.testing.assert_allclose(got2, want, rtol=1e-6)


def test_transitions_and_popularity():
    model = _fit(1)
    trans = _dense(model.transition)
    assert trans[2, 3] == 1.0 and trans[1, 2] == 1.0
    assert trans[4, 4] == 0.5 and trans[4, 1] == 0.5
    np.testing.assert_allclose(trans.sum(axis=1), [0, 1, 1, 0, 1, 0])
    np.testing.assert_array_equal(
        model.transition.lookup(np.array([4, 4, 3]), np.array([4, 1, 1])), [0.5, 0.5, 0]
    )
    np.testing.assert_array_equal(model.popularity, [0, 2, 2, 2, 2, 0])


def test_padding_never_counted():
    base = _fit(2, weights="recency")
    # Garbage after seq_len and extra padding columns must change nothing.
    noisy = np.concatenate([SEQ, np.zeros((3, 5), np.int32)], axis=1)
    noisy[1, 2:5] = 5
    other = _fit(2, weights="recency", seq=noisy)
    np.testing.assert_array_equal(_dense(base.covis), _dense(other.covis))
    np.testing.assert_array_equal(_dense(base.transition), _dense(other.transition))
    np.testing.assert_array_equal(base.popularity, other.popularity)
    covis = _dense(base.covis)
    assert base.popularity[0] == 0 and not covis[0].any() and not covis[:, 5].any()
    feats = sequence_features(noisy, LEN, LEN, base, 2, ["n_unique", "entropy", "covis_sum"])
    ref = sequence_features(SEQ, LEN, LEN, base, 2, ["n_unique", "entropy", "covis_sum"])
    for name in ref:
        np.testing.assert_array_equal(feats[name], ref[name])


def test_top_n_pruning():
    mat = np.array([[0, 5, 1, 3], [5, 0, 2, 0], [1, 2, 0, 4], [3, 0, 4, 0]], dtype=float)
    kept = prune_top_n(sparse.csr_matrix(mat), 2).toarray()
    np.testing.assert_array_equal(kept, [[0, 5, 0, 3], [5, 0, 2, 0], [0, 2, 0, 4], [3, 0, 4, 0]])
    assert (np.count_nonzero(kept, axis=1) <= 2).all()
    np.testing.assert_array_equal(prune_top_n(sparse.csr_matrix(mat), 10).toarray(), mat)
    model = _fit(2, top_n=1)
    assert (np.diff(model.covis.matrix.indptr) <= 1).all()
    assert _dense(model.covis)[1, 4] == 2  # token 1's strongest neighbour survives


def test_row_stats_by_hand():
    model = _fit(1)
    seq = np.vstack([SEQ, [[5, 0, 0, 0], [0, 0, 0, 0]]]).astype(np.int32)
    lengths = np.array([3, 2, 3, 1, 0])
    raw = np.array([3, 40, 3, 1, 0])
    names = ["covis_sum", "covis_max", "covis_mean", "transition_prob", "seq_len", "n_unique", "entropy"]
    names += ["diversity", "last_token"]
    f = sequence_features(seq, lengths, raw, model, 1, names)
    # row 0: recent {3}, rest [1, 2]: C[3,1] = 0, C[3,2] = 2.
    np.testing.assert_allclose(f["covis_sum"], [2, 2, 2, 0, 0])  # row 2: recent {1}, rest [4, 4]
    np.testing.assert_allclose(f["covis_max"], [2, 2, 1, 0, 0])
    np.testing.assert_allclose(f["covis_mean"], [1, 2, 1, 0, 0])
    np.testing.assert_allclose(f["transition_prob"], [1, 1, 0.5, 0, 0])
    np.testing.assert_allclose(f["seq_len"], np.log1p(raw))
    np.testing.assert_allclose(f["n_unique"], [3, 2, 2, 1, 0])
    h2 = -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))
    np.testing.assert_allclose(f["entropy"], [math.log(3), math.log(2), h2, 0, 0], atol=1e-12)
    np.testing.assert_allclose(f["diversity"], [1, 1, 2 / 3, 1, 0])
    np.testing.assert_allclose(f["last_token"], np.log1p([2, 2, 2, 0, 0]))
    # last_k = 2 on row 0: recent {3, 2}, rest [1]: C[3,1] + C[2,1] = 0 + 1.
    f2 = sequence_features(seq, lengths, raw, model, 2, ["covis_sum", "covis_mean"])
    assert f2["covis_sum"][0] == 1 and f2["covis_mean"][0] == 0.5


def test_recent_distinct_tokens():
    seq = np.array([[1, 2, 2, 2, 0], [3, 0, 0, 0, 0], [0, 0, 0, 0, 0]])
    got = recent_distinct_tokens(seq, np.array([4, 1, 0]), 3)
    assert [sorted(set(r) - {0}) for r in got.tolist()] == [[2], [3], []]


# ---- out of fold target statistics --------------------------------------------------------------------


def _leak_data(n: int = 90, leak_row: int = 7):
    """Random sequences over tokens 1..8 plus one row whose only token (9) appears nowhere else, label 1."""
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 6, n)
    seq = np.where(np.arange(6)[None, :] < lengths[:, None], rng.integers(1, 9, (n, 6)), 0).astype(np.int32)
    seq[leak_row] = [9, 0, 0, 0, 0, 0]
    lengths[leak_row] = 1
    label = (rng.random(n) < 0.3).astype(np.float32)
    label[leak_row] = 1.0
    cat = np.ones((n, 1), np.int32)  # one ad-field value everywhere, so the token alone decides the key
    folds = (np.arange(n) % 3).astype(np.int64)
    arrays = {"seq": seq, "seq_len": lengths.astype(np.int32), "seq_len_raw": lengths.astype(np.int32)}
    return {**arrays, "cat": cat, "label": label}, folds


class _ArrayCache:
    """Just enough of ShardedCache for `fit`: a manifest and shards of in-memory arrays."""

    def __init__(self, arrays: dict, shard_rows: int):
        self.arrays = arrays
        self.n_rows = len(arrays["label"])
        self.shard_rows = shard_rows
        self.manifest = {
            "columns": {"seq": "seq", "cat": ["inventory_id"]},
            "fields": {k: {} for k in arrays},
            "cat_cardinalities": [3],
            "seq_vocab_size": 10,
            "max_len": 6,
        }

    def iter_shards(self, fields=None):
        for start in range(0, self.n_rows, self.shard_rows):
            yield start, {k: self.arrays[k][start : start + self.shard_rows] for k in fields or self.arrays}


def test_out_of_fold_target_rate_has_no_leak():
    m = 5.0
    cfg = make_config(
        "features.covis.last_k=1",
        "features.covis.stats=[target_rate]",
        "features.covis.target_cols=[inventory_id]",
        f"features.covis.target_smoothing={m}",
    )
    arrays, folds = _leak_data()
    cache = _ArrayCache(arrays, shard_rows=40)
    plan = make_plan(cfg, cache.manifest)
    assert plan.names == ["target_rate_inventory_id"]
    fitted = fit(cfg, cache, plan, folds)
    oof = transform(cfg, plan, fitted, arrays, folds)[:, 0]
    in_fold = transform(cfg, plan, fitted, arrays, None)[:, 0]  # every train row, own label included

    label, leak = arrays["label"], 7
    other = folds != folds[leak]
    prior_other = label[other].mean()
    assert oof[leak] == pytest.approx(prior_other)  # token 9 is unseen outside its fold: the prior
    prior_all = label.mean()
    leaked = (1.0 + m * prior_all) / (1.0 + m)
    assert in_fold[leak] == pytest.approx(leaked)  # the in-fold feature reveals the label ...
    assert abs(in_fold[leak] - oof[leak]) > 0.1  # ... so this test would catch a leak

    # Every train row: its statistics come from the other folds only (brute force over the small data).
    last = arrays["seq"][np.arange(len(label)), arrays["seq_len"] - 1]
    for row in range(len(label)):
        mask = (folds != folds[row]) & (last == last[row])
        p = label[folds != folds[row]].mean()
        want = (label[mask].sum() + m * p) / (mask.sum() + m)
        assert oof[row] == pytest.approx(want), row

    # A test row with the leaky token uses all train rows.
    test_arrays = {k: v[[leak]] for k, v in arrays.items() if k != "label"}
    assert transform(cfg, plan, fitted, test_arrays, None)[0, 0] == pytest.approx(leaked)


def test_target_table_streams_like_one_batch():
    rng = np.random.default_rng(1)
    keys = pair_keys(rng.integers(0, 20, (500, 3)), rng.integers(0, 7, 500), 7)
    labels, folds = rng.random(500) < 0.2, rng.integers(0, 4, 500)
    one, many = TargetAccumulator(4), TargetAccumulator(4)
    one.add(keys, labels, folds)
    for sl in (slice(0, 123), slice(123, 400), slice(400, 500)):
        many.add(keys[sl], labels[sl], folds[sl])
    a, b = one.finish(), many.finish()
    np.testing.assert_array_equal(a.keys, b.keys)
    np.testing.assert_allclose(a.counts, b.counts)
    np.testing.assert_allclose(a.rate(keys, folds, 3.0), b.rate(keys, folds, 3.0))
    assert a.counts.sum() == (keys >= 0).sum()


def test_plan_rejects_unknown_stat_and_field():
    manifest = _ArrayCache(_leak_data()[0], 40).manifest
    with pytest.raises(ConfigError, match=r"features\.covis\.stats"):
        make_plan(make_config("features.covis.stats=[covis_summ]"), manifest)
    with pytest.raises(ConfigError, match="hour"):
        make_plan(make_config("features.covis.target_cols=[hour]"), manifest)
    with_ids = "features.covis.stats=[covis_sum, target_rate, id_rate]"
    with pytest.raises(ConfigError, match=r"features\.covis\.id_cols names 'l_feat_14'"):
        make_plan(make_config(with_ids, "features.covis.target_cols=[inventory_id]"), manifest)
    no_seq = {**manifest, "columns": {"seq": None, "cat": ["inventory_id"]}}
    assert make_plan(make_config("features.covis.stats=[covis_sum, target_rate]"), no_seq).names == []
    plan = make_plan(
        make_config(with_ids, "features.covis.id_cols=[inventory_id]", "model.embed_id_cols=true"), no_seq
    )
    assert plan.names == ["id_rate_inventory_id"]  # the only stat that needs no sequence
    assert plan.skipped == ["covis_sum", "target_rate"]


def test_out_of_fold_id_rate_has_no_leak_and_needs_no_sequence():
    m = 4.0
    cfg = make_config(
        "features.covis.stats=[id_rate]",
        "features.covis.id_cols=[inventory_id]",
        "model.embed_id_cols=true",  # inventory_id stays the DARE query, so the network embeds it
        f"features.covis.target_smoothing={m}",
    )
    label, folds = _leak_data()[0]["label"], _leak_data()[1]
    ids = np.random.default_rng(3).integers(1, 3, (len(label), 1)).astype(np.int32)
    leak, null = 7, 11
    ids[leak] = 3  # an id seen in one row only, clicked
    ids[null] = 0  # the null/unknown id
    arrays = {"cat": ids, "label": label}  # no sequence field at all
    cache = _ArrayCache(arrays, shard_rows=40)
    cache.manifest["cat_cardinalities"] = [4]
    plan = make_plan(cfg, cache.manifest)
    assert plan.names == ["id_rate_inventory_id"] and not plan.needs_sequence
    fitted = fit(cfg, cache, plan, folds)
    oof = transform(cfg, plan, fitted, arrays, folds)[:, 0]
    in_fold = transform(cfg, plan, fitted, arrays, None)[:, 0]

    prior_other = label[folds != folds[leak]].mean()
    assert oof[leak] == pytest.approx(prior_other)  # unseen in the other folds: the prior
    leaked = (1.0 + m * label.mean()) / (1.0 + m)
    assert in_fold[leak] == pytest.approx(leaked) and abs(in_fold[leak] - oof[leak]) > 0.1
    for row in range(len(label)):
        other = folds != folds[row]
        p = label[other].mean()
        mask = other & (ids[:, 0] == ids[row, 0])
        want = p if ids[row, 0] == 0 else (label[mask].sum() + m * p) / (mask.sum() + m)
        assert oof[row] == pytest.approx(want), row


def _cross_cache(cat: np.ndarray, label: np.ndarray, names: list[str]) -> _ArrayCache:
    """An in-memory cache of id columns only (no sequence), each column's cardinality from its values."""
    cache = _ArrayCache({"cat": cat.astype(np.int32), "label": label}, shard_rows=50)
    cache.manifest["columns"] = {"seq": None, "cat": names}
    cache.manifest["cat_cardinalities"] = [int(c) + 1 for c in cat.max(axis=0)]
    return cache


def test_out_of_fold_cross_rate_by_brute_force():
    """The pair's rate reads the rows of the other folds with the same pair (the prior when either id is
    the null 0); test rows read every train row."""
    m = 3.0
    cfg = make_config(
        "features.covis.stats=[cross_rate]",
        "features.covis.cross_cols=[[inventory_id, l_feat_14]]",
        f"features.covis.target_smoothing={m}",
    )
    rng = np.random.default_rng(8)
    n = 230
    cat = np.column_stack([rng.integers(0, 4, n), rng.integers(0, 5, n)])
    label = (rng.random(n) < 0.4).astype(np.float32)
    folds = rng.integers(0, 3, n)
    cache = _cross_cache(cat, label, ["inventory_id", "l_feat_14"])
    plan = make_plan(cfg, cache.manifest)
    assert plan.names == ["cross_rate_inventory_id_x_l_feat_14"] and not plan.auto_crosses
    fitted = fit(cfg, cache, plan, folds)
    arrays = {"cat": cache.arrays["cat"]}
    oof = transform(cfg, plan, fitted, arrays, folds)[:, 0]
    test = transform(cfg, plan, fitted, arrays, None)[:, 0]
    same_pair = (cat[:, None, :] == cat[None, :, :]).all(axis=2)
    for row in range(n):
        for got, rows in ((oof[row], folds != folds[row]), (test[row], np.ones(n, bool))):
            prior = label[rows].mean()
            mask = rows & same_pair[row]
            keyed = (cat[row] > 0).all()
            want = (label[mask].sum() + m * prior) / (mask.sum() + m) if keyed else prior
            assert got == pytest.approx(want), row


def test_auto_crosses_keep_only_pairs_whose_rate_adds_to_their_columns(caplog):
    """auto crosses every pair of id_cols and every id column with every other cat column, then leaves
    out a pair one column determines (a hierarchy), a pair that never recurs, and a pair whose rate adds
    nothing to its columns' rates; only the pair the click follows is computed and named."""
    cols = ["l_feat_14", "l_feat_12", "l_feat_11", "inventory_id"]
    cfg = make_config("features.covis.stats=[id_rate, cross_rate]", f"features.covis.id_cols={cols}")
    rng = np.random.default_rng(2)
    n = 3000
    user = rng.integers(1, 30, n)
    item = rng.integers(1, 20, n)
    group = user // 3 + 1  # determined by the user; each group holds every (user + item) % 3
    unique = np.arange(1, n + 1)  # a new value on every row
    hour = rng.integers(1, 7, n)  # a context column the click ignores
    cat = np.column_stack([user, item, group, unique, hour])
    label = (rng.random(n) < np.where((user + item) % 3 == 0, 0.8, 0.1)).astype(np.float32)
    cache = _cross_cache(cat, label, [*cols, "hour"])
    plan = make_plan(cfg, cache.manifest)
    assert plan.auto_crosses and len(plan.crosses) == 6 + 4  # the id pairs, then each id with the hour
    with caplog.at_level(logging.INFO, logger="toss"):
        kept, fitted = informative_crosses(plan, fit(cfg, cache, plan, rng.integers(0, 3, n)), 20.0)
    crosses = [c for c in kept.names if c.startswith("cross_rate")]
    assert crosses == ["cross_rate_l_feat_14_x_l_feat_12"]
    assert kept.names == [f"id_rate_{c}" for c in cols] + crosses
    assert set(fitted.tables) == set(kept.names)
    assert "cross_rate_l_feat_14_x_l_feat_11 left out: l_feat_14 determines the other column" in caplog.text
    assert "cross_rate_l_feat_14_x_inventory_id left out: 0.0% of its rows" in caplog.text
    added = r"cross_rate_l_feat_12_x_hour left out: its rate adds -?\d\.\d+ ± \d\.\d+ balanced log-likelihood"
    assert re.search(added, caplog.text)


@pytest.mark.parametrize(
    ("crosses", "message"),
    [
        ("[[inventory_id]]", r"cross_cols\[0\] is \['inventory_id'\]: a cross is two different columns"),
        ("[[hour, hour]]", "a cross is two different columns"),
        ("[[inventory_id, nope]]", r"cross_cols\[0\] names \['nope'\], which are not in data.cat_cols"),
    ],
)
def test_cross_cols_list_is_checked_at_load(crosses, message):
    with pytest.raises(ValueError, match=message):
        make_config(f"features.covis.cross_cols={crosses}")


# ---- the feature caches on the smoke data ------------------------------------------------------------


def _layout_on(smoke_cached: Layout, tmp_path: Path, *overrides: str) -> Layout:
    """A layout that reads the shared smoke caches and writes folds and features under tmp_path."""
    shared = smoke_cached
    cfg = make_config(
        f"data.cache_dir={shared.cache_dir.resolve()}",
        f"data.train_path={shared.train_path.resolve()}",
        f"data.test_path={shared.test_path.resolve()}",
        *overrides,
    )
    layout = Layout(cfg, root=tmp_path)
    steps.assign_folds(run_context(layout))
    return layout


def test_feature_caches_are_shard_aligned_and_standardised(smoke_cached, tmp_path):
    layout = _layout_on(smoke_cached, tmp_path)
    result = build_covis_features(layout.cfg, layout)
    rates = ("target_rate", "id_rate", "cross_rate")
    seq_names = [s for s in layout.cfg.features.covis.stats if s not in rates]
    ids = [f"id_rate_{c}" for c in layout.cfg.features.covis.id_cols]
    # No cross: the synthetic ad ids are a hierarchy, so each pair is just its finer id.
    assert result.feature_names == [*seq_names, "target_rate_inventory_id", "target_rate_l_feat_14", *ids]
    assert not result.reused
    for base_dir, feat_dir in ((layout.train_cache, result.train_dir), (layout.test_cache, result.test_dir)):
        base, feats = ShardedCache(base_dir), ShardedCache(feat_dir)
        assert [s["rows"] for s in feats.manifest["shards"]] == [s["rows"] for s in base.manifest["shards"]]
        assert feats.manifest["columns"]["dense"] == result.feature_names
        dense = feats.read_field("dense")
        assert dense.dtype == np.float32 and dense.shape == (base.n_rows, len(result.feature_names))
        assert np.isfinite(dense).all()
    train_dense = ShardedCache(result.train_dir).read_field("dense")
    np.testing.assert_allclose(train_dense.mean(axis=0), 0.0, atol=1e-4)
    varying = train_dense.std(axis=0) > 0
    assert varying.sum() >= len(result.feature_names) - 1
    np.testing.assert_allclose(train_dense.std(axis=0)[varying], 1.0, atol=1e-3)


def test_written_target_rates_are_out_of_fold(smoke_cached, tmp_path):
    """The written train rates equal a direct OOF transform (fold ids line up with every shard)."""
    layout = _layout_on(smoke_cached, tmp_path, "features.covis.stats=[target_rate]")
    result = build_covis_features(layout.cfg, layout)
    feats = ShardedCache(result.train_dir)
    scale = feats.manifest["standardize"]
    written = feats.read_field("dense") * np.array(scale["std"]) + np.array(scale["mean"])
    train = ShardedCache(layout.train_cache)
    plan = make_plan(layout.cfg, train.manifest)
    folds = load_folds(layout).astype(np.int64)
    fitted = fit(layout.cfg, train, plan, folds)
    arrays = train.take(np.arange(train.n_rows), ["seq", "seq_len", "seq_len_raw", "cat", "label"])
    np.testing.assert_allclose(
        written, transform(layout.cfg, plan, fitted, arrays, folds), rtol=1e-5, atol=1e-6
    )
    in_fold = transform(layout.cfg, plan, fitted, arrays, None)
    assert np.abs(in_fold - written).max() > 1e-4  # OOF really differs from statistics that saw the label


def test_reuse_and_rebuild_on_config_change(smoke_cached, tmp_path):
    layout = _layout_on(smoke_cached, tmp_path)
    first = build_covis_features(layout.cfg, layout)
    again = build_covis_features(layout.cfg, layout)
    assert again.reused and again.feature_names == first.feature_names
    before = ShardedCache(first.train_dir).read_field("dense")
    changed = Layout(
        layout.cfg.model_copy(update={"features": make_config("features.covis.window=1").features})
    )
    changed = Layout(changed.cfg, root=tmp_path)
    changed.cfg.data.cache_dir = layout.cfg.data.cache_dir
    rebuilt = build_covis_features(changed.cfg, changed)
    assert not rebuilt.reused
    after = ShardedCache(rebuilt.train_dir).read_field("dense")
    assert not np.allclose(before, after)


def test_no_sequence_config_writes_empty_width_caches(smoke_cached, tmp_path, caplog):
    cfg = make_config(
        "sequence.col=null",
        "features.covis.stats=[covis_sum, target_rate]",
        f"data.train_path={smoke_cached.train_path.resolve()}",
        f"data.test_path={smoke_cached.test_path.resolve()}",
    )
    layout = Layout(cfg, root=tmp_path)
    steps.build_caches(run_context(layout))
    steps.assign_folds(run_context(layout))
    with caplog.at_level(logging.INFO, logger="toss"):
        result = build_covis_features(cfg, layout)
    assert result.feature_names == []
    assert "no feature applies" in caplog.text
    for base_dir, feat_dir in ((layout.train_cache, result.train_dir), (layout.test_cache, result.test_dir)):
        dense = ShardedCache(feat_dir).read_field("dense")
        assert dense.shape == (ShardedCache(base_dir).n_rows, 0)
    assert build_covis_features(cfg, layout).reused

    with_ids = make_config(
        "sequence.col=null",
        "features.covis.stats=[covis_sum, id_rate]",
        f"data.train_path={smoke_cached.train_path.resolve()}",
        f"data.test_path={smoke_cached.test_path.resolve()}",
    )
    result = build_covis_features(with_ids, Layout(with_ids, root=tmp_path))
    assert result.feature_names == ["id_rate_l_feat_14", "id_rate_l_feat_12", "id_rate_l_feat_11"]
    assert ShardedCache(result.train_dir).read_field("dense").shape == (
        ShardedCache(layout.train_cache).n_rows,
        3,
    )
