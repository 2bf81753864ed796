"""build_cache: shard contents, fitted statistics, stable ids, reuse, bad input (DataError, nothing left)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import make_config

from toss_core.config import TossConfig
from toss_core.data import cache_write as cache_mod
from toss_core.data.cache import build_cache
from toss_core.data.reader import ShardedCache
from toss_core.data.stats import fnv1a64
from toss_core.layout import Layout
from toss_core.util.errors import ArtifactError, DataError

TRAIN = {
    "c_str": ["a", "b", None, "c", "a", "b", "c", "a"],
    "c_num": [10.0, 20.0, 10.0, None, 30.0, 20.0, 10.0, 30.0],
    "n_a": [1.0, None, 3.0, 4.0, None, 6.0, 7.0, 8.0],
    "n_b": [0.5, 0.5, 1.5, 0.5, 2.5, 0.5, 0.5, 0.5],
    "seq": ["1,2,3,4,5,6", "7", None, "", "9,8", "1,2,3,4", "10,11,12,13,14", "0"],
    "clicked": [0, 1, 0, 0, 1, 0, 0, 1],
}
TEST = {
    "ID": [f"TEST_{i:07d}" for i in range(5)],
    "c_str": ["a", "zzz", None, "b", "c"],
    "c_num": [10.0, 99.0, None, 20.0, 30.0],
    "n_a": [None, 2.0, 2.0, 2.0, 2.0],
    "n_b": [None, 1.0, 1.0, 1.0, 1.0],
    "seq": ["3,500", "1", "14,2,2,2,2,2", None, "0,0"],
}


def _table(cols: dict[str, list]) -> pa.Table:
    types = {"n_a": pa.float32(), "n_b": pa.float32(), "clicked": pa.int32()}
    return pa.table({k: pa.array(v, type=types.get(k)) for k, v in cols.items()})


def _setup(tmp: Path, *overrides: str, train: dict | None = None, test: dict | None = None) -> Layout:
    (tmp / "raw").mkdir(parents=True, exist_ok=True)
    pq.write_table(_table(train or TRAIN), tmp / "raw" / "train.parquet", row_group_size=5)
    pq.write_table(_table(test or TEST), tmp / "raw" / "test.parquet")
    return Layout(_cfg(tmp, *overrides), root=tmp)


def _cfg(tmp: Path, *overrides: str) -> TossConfig:
    return make_config(
        "data.source=parquet",
        f"data.train_path={tmp / 'raw' / 'train.parquet'}",
        f"data.test_path={tmp / 'raw' / 'test.parquet'}",
        "data.cat_cols=[c_str, c_num]",
        "data.num_patterns=['^n_']",
        "data.shard_rows=3",
        "sequence.max_len=4",
        "sequence.query_key=[c_str]",
        *overrides,
    )


def _both(layout: Layout) -> tuple[ShardedCache, ShardedCache]:
    build_cache(layout.cfg, layout, "train")
    build_cache(layout.cfg, layout, "test")
    return ShardedCache(layout.train_cache), ShardedCache(layout.test_cache)


def _no_cache_left(layout: Layout) -> bool:
    parent = layout.train_cache.parent
    left = [p for p in parent.iterdir() if not p.name.endswith(".lock")] if parent.exists() else []
    return not any(p.name.startswith((".train", "train")) for p in left)


def test_manifest_and_shards(tmp_path: Path):
    layout = _setup(tmp_path)
    result = build_cache(layout.cfg, layout, "train")
    cache = ShardedCache(layout.train_cache)
    m = cache.manifest
    assert (result.n_rows, result.n_shards, result.reused) == (8, 3, False)
    assert [s["rows"] for s in m["shards"]] == [3, 3, 2]
    assert m["columns"]["cat"] == ["c_str", "c_num"] and m["columns"]["num"] == ["n_a", "n_b"]
    assert m["columns"]["isna"] == ["n_a"]  # n_b has no nulls in train
    assert set(cache.fields) == {"cat", "num", "isna", "seq", "seq_len", "seq_len_raw", "label"}
    assert m["fields"]["seq"] == {"dtype": "<i4", "shape": [4]}
    assert set(m["fingerprint"]) == {"input", "config", "cache"} and cache.fingerprint == result.fingerprint
    assert set(m["versions"]) >= {"toss", "numpy", "polars", "pyarrow"} and m["created"]
    assert cache.verify() == 3 * 7
    assert result.bytes == sum(p.stat().st_size for p in layout.train_cache.glob("*.npy"))
    np.testing.assert_array_equal(cache.read_field("label"), TRAIN["clicked"])
    spec = cache.spec
    # 14 distinct train tokens, remapped to 2..15 (0 padding, 1 out of vocabulary)
    assert spec.cat_cardinalities == [4, 4] and spec.seq_vocab_size == 16 and m["seq_oov_id"] == 1
    assert m["seq_vocab"]["tokens"] == 14


def test_seq_keeps_most_recent_tokens_left_aligned(tmp_path: Path):
    train, test = _both(_setup(tmp_path))
    seq = train.read_field("seq")
    # ids 2.. in order of first appearance, in increasing token order within a shard of 3 rows:
    # shard 0 meets tokens 3..7 -> 2..6, shard 1 tokens 1, 2, 8, 9 -> 7..10, shard 2 tokens 0, 11..14
    expected = [
        [2, 3, 4, 5],
        [6, 0, 0, 0],
        [0] * 4,
        [0] * 4,
        [10, 9, 0, 0],
        [7, 8, 2, 3],
        [12, 13, 14, 15],
        [11, 0, 0, 0],
    ]
    np.testing.assert_array_equal(seq, expected)
    raw = np.load(train.root / "seq_vocab.npy")  # token + 1 per id 2..
    tokens = [3, 4, 5, 6, 7, 9, 8, 1, 2, 3, 4, 11, 12, 13, 14, 0]
    np.testing.assert_array_equal(raw[seq[seq > 1] - 2] - 1, tokens)
    np.testing.assert_array_equal(train.read_field("seq_len"), [4, 1, 0, 0, 2, 4, 4, 1])
    np.testing.assert_array_equal(train.read_field("seq_len_raw"), [6, 1, 0, 0, 2, 4, 5, 1])
    oov = train.manifest["seq_oov_id"]  # 500 was never seen in train
    np.testing.assert_array_equal(test.read_field("seq")[:3], [[2, oov, 0, 0], [7, 0, 0, 0], [8, 8, 8, 8]])
    np.testing.assert_array_equal(test.read_field("seq_len_raw"), [2, 1, 6, 0, 2])


def test_test_imputation_and_masks_use_train_statistics(tmp_path: Path):
    train, test = _both(_setup(tmp_path))
    median_a, median_b = 5.0, 0.5  # train n_a = [1, 3, 4, 6, 7, 8]; n_b = mostly 0.5
    assert train.manifest["numeric"]["fill"] == [median_a, median_b]
    np.testing.assert_array_equal(train.read_field("num")[[1, 4], 0], [median_a, median_a])
    num = test.read_field("num")
    assert num[0].tolist() == [median_a, median_b]  # not the test's own median (2.0)
    assert test.manifest["columns"]["isna"] == ["n_a"]  # the mask set is the train's
    np.testing.assert_array_equal(test.read_field("isna")[:, 0], [1, 0, 0, 0, 0])
    np.testing.assert_array_equal(train.read_field("isna")[:, 0], [0, 1, 0, 0, 1, 0, 0, 0])
    assert not np.isnan(num).any()


@pytest.mark.parametrize(("strategy", "fill_a"), [("mean", 29 / 6), ("zero", 0.0)])
def test_other_impute_strategies(tmp_path: Path, strategy: str, fill_a: float):
    layout = _setup(tmp_path, f"data.impute_strategy={strategy}", "data.add_isna_mask=false")
    train, _ = _both(layout)
    assert train.manifest["numeric"]["fill"][0] == pytest.approx(fill_a)
    assert "isna" not in train.fields and train.manifest["columns"]["isna"] == []


def test_exact_median_on_many_values(tmp_path: Path):
    rng = np.random.default_rng(0)
    n = 1001
    train = {
        "c_str": ["a"] * n,
        "c_num": [1.0] * n,
        "n_a": rng.lognormal(size=n).astype(np.float32).tolist(),
        "n_b": np.round(rng.normal(size=n), 2).astype(np.float32).tolist(),
        "seq": ["1"] * n,
        "clicked": [i % 2 for i in range(n)],  # both classes: build-cache refuses one
    }
    train["n_b"][0] = None
    layout = _setup(tmp_path, "data.shard_rows=128", train=train)
    build_cache(layout.cfg, layout, "train")
    fill = ShardedCache(layout.train_cache).manifest["numeric"]["fill"]
    a = np.asarray(train["n_a"], np.float32)
    b = np.asarray(train["n_b"][1:], np.float32)
    assert fill == pytest.approx([float(np.median(a)), float(np.median(b))], rel=0, abs=1e-7)


def test_cat_ids_stable_null_and_unseen_are_zero(tmp_path: Path):
    train, test = _both(_setup(tmp_path))
    cat = train.read_field("cat")
    np.testing.assert_array_equal(cat[:, 0], [1, 2, 0, 3, 1, 2, 3, 1])  # vocab sorted: a, b, c
    np.testing.assert_array_equal(cat[:, 1], [1, 2, 1, 0, 3, 2, 1, 3])  # 10, 20, 30
    np.testing.assert_array_equal(test.read_field("cat"), [[1, 1], [0, 0], [0, 0], [2, 2], [3, 3]])
    assert test.manifest["unseen_rows"] == {"c_str": 1, "c_num": 1}
    again = _setup(tmp_path / "again")
    np.testing.assert_array_equal(_both(again)[0].read_field("cat"), cat)


def test_fnv1a_hash_is_the_documented_function():
    # published FNV-1a 64-bit test vectors: a hash that changed across versions would fail here
    h = fnv1a64(pa.array(["", "a", "foobar"]))
    assert [int(x) for x in h] == [0xCBF29CE484222325, 0xAF63DC4C8601EC8C, 0x85944171F73967E8]


def test_hashed_column_reports_collisions(tmp_path: Path):
    n = 40
    train = {**{k: v * 5 for k, v in TRAIN.items()}, "c_str": [f"user{i}" for i in range(n)]}
    layout = _setup(tmp_path, "data.hash_buckets={c_str: 8}", train=train)
    result = build_cache(layout.cfg, layout, "train")
    cache = ShardedCache(layout.train_cache)
    ids = cache.read_field("cat")[:, 0]
    enc = cache.manifest["cat_encoders"]["c_str"]
    assert enc["mode"] == "hash" and enc["cardinality"] == 8 and enc["vocab"] == []
    assert ids.min() >= 1 and ids.max() <= 7
    assert result.collisions["c_str"] == n - len(np.unique(ids)) > 0
    assert cache.manifest["collisions"]["c_str"] == result.collisions["c_str"]
    assert cache.manifest["cat_encoders"]["c_num"]["mode"] == "vocab" and result.collisions["c_num"] == 0


def test_reuse_and_rebuild(tmp_path: Path):
    layout = _setup(tmp_path)
    first = build_cache(layout.cfg, layout, "train")
    test_first = build_cache(layout.cfg, layout, "test")
    assert build_cache(layout.cfg, layout, "train").reused
    other = Layout(_cfg(tmp_path, "train.lr=0.5", "data.use_cache=true"), root=tmp_path)
    assert build_cache(other.cfg, other, "train").reused  # a key that does not shape the cache
    shaped = Layout(_cfg(tmp_path, "sequence.max_len=3"), root=tmp_path)
    rebuilt = build_cache(shaped.cfg, shaped, "train")
    assert not rebuilt.reused and rebuilt.fingerprint != first.fingerprint
    assert ShardedCache(layout.train_cache).manifest["fields"]["seq"]["shape"] == [3]
    test_again = build_cache(shaped.cfg, shaped, "test")  # its train statistics changed
    assert not test_again.reused and test_again.fingerprint != test_first.fingerprint
    pq.write_table(_table({**TRAIN, "clicked": [1, 1, 0, 0, 1, 0, 1, 0]}), layout.train_path)
    assert not build_cache(shaped.cfg, shaped, "train").reused  # the input file changed
    no_cache = Layout(_cfg(tmp_path, "sequence.max_len=3", "data.use_cache=false"), root=tmp_path)
    assert not build_cache(no_cache.cfg, no_cache, "train").reused


def test_test_cache_needs_the_train_manifest(tmp_path: Path):
    layout = _setup(tmp_path)
    with pytest.raises(ArtifactError, match="build the train cache first"):
        build_cache(layout.cfg, layout, "test")


def _without(col: str) -> pa.Table:
    return _table({k: v for k, v in TRAIN.items() if k != col})


def _with(**changes: list) -> pa.Table:
    return pa.table({**_table(TRAIN).to_pydict(), **changes})


@pytest.mark.parametrize(
    ("table", "column", "what"),
    [
        (_without("c_num"), "c_num", "missing cat column"),
        (_with(n_b=["0.5", "x", "1", "1", "1", "1", "1", "1"]), "n_b", "expected numbers"),
        (_with(seq=["1,2", "3,x4", "", "", "", "", "", ""]), "seq", "row 1: character 'x'"),
        (_with(seq=["1,2", "3", "", "", "", "", "1,,2", ""]), "seq", "row 6: empty token"),
        (_table(TRAIN).slice(0, 0), None, "0 rows"),
    ],
)
def test_bad_train_input_is_a_data_error_and_leaves_nothing(
    tmp_path: Path, table: pa.Table, column: str | None, what: str
):
    layout = _setup(tmp_path)
    pq.write_table(table, layout.train_path)
    with pytest.raises(DataError) as err:
        build_cache(layout.cfg, layout, "train")
    message = str(err.value)
    assert "train.parquet" in message and what in message
    assert column is None or f"'{column}'" in message
    assert _no_cache_left(layout)


def test_test_file_without_id_is_a_data_error(tmp_path: Path):
    layout = _setup(tmp_path, test={k: v for k, v in TEST.items() if k != "ID"})
    with pytest.raises(DataError, match=r"test\.parquet.*'ID'.*before the train cache"):
        build_cache(layout.cfg, layout, "train")  # refused before the train cache is built
    assert not layout.train_cache.exists() and not layout.test_cache.exists()


SAME_VOCAB = ("sequence.query_key=[c_str, c_num]", "sequence.query_same_vocab=[c_num]")


def test_query_tokens_of_the_test_file_are_checked_before_the_train_cache(tmp_path: Path):
    """The pre-check reads a query_same_vocab column as the build does (it once called the vocabulary
    encoder with the wrong arguments, so any such build failed); a bad token stops it before train."""
    train, _ = _both(_setup(tmp_path / "good", *SAME_VOCAB))
    assert train.read_field("qtok").shape == (len(TRAIN["clicked"]), 1)
    layout = _setup(tmp_path / "bad", *SAME_VOCAB, test={**TEST, "c_num": [10.0, 2.5, None, 20.0, 30.0]})
    with pytest.raises(DataError, match=r"test\.parquet.*c_num.*not a non-negative integer token"):
        build_cache(layout.cfg, layout, "train")
    assert not layout.train_cache.exists()


def test_interrupted_build_leaves_no_manifest_and_no_directory(tmp_path: Path, monkeypatch):
    layout = _setup(tmp_path)
    real = cache_mod._encode
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated crash mid-build")
        return real(*args, **kwargs)

    monkeypatch.setattr(cache_mod, "_encode", flaky)
    with pytest.raises(KeyboardInterrupt):
        build_cache(layout.cfg, layout, "train")
    assert _no_cache_left(layout)
    assert not list(tmp_path.rglob("manifest.json"))


def test_generated_toss_data_matches_a_polars_reference(smoke_cached: Layout):
    cache = ShardedCache(smoke_cached.train_cache)
    max_len = smoke_cached.cfg.sequence.max_len
    raw = pl.read_parquet(smoke_cached.train_path, columns=["seq", "clicked"])
    toks = raw["seq"].str.split(",").list.tail(max_len)
    lens = toks.list.len().to_numpy()
    flat = toks.explode(empty_as_null=True).cast(pl.Int32).to_numpy()
    seq = cache.read_field("seq")
    np.testing.assert_array_equal(cache.read_field("seq_len"), lens)
    np.testing.assert_array_equal(seq[np.arange(max_len) < lens[:, None]], flat + 1)
    np.testing.assert_array_equal(cache.read_field("seq_len_raw"), raw["seq"].str.count_matches(",") + 1)
    np.testing.assert_array_equal(cache.read_field("label"), raw["clicked"].to_numpy())
    test = ShardedCache(smoke_cached.test_cache)
    ids = pl.read_parquet(smoke_cached.test_path, columns=["ID"])["ID"].to_numpy()
    np.testing.assert_array_equal(test.read_field("id"), ids)
    assert test.manifest["fingerprint"]["train_cache"] == cache.fingerprint
    assert not np.isnan(cache.read_field("num")).any()
