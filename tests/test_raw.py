"""The raw-data step: synthetic generate-or-reuse, Parquet validation from footers, fingerprints."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import make_config

from toss_core import synth
from toss_core.config import TossConfig
from toss_core.data.raw import check_raw_schema, file_fingerprint, prepare_raw, resolve_numeric_columns
from toss_core.layout import Layout
from toss_core.util.errors import DataError

SMALL = (
    "data.synthetic.train_rows=1200",
    "data.synthetic.test_rows=300",
    "data.synthetic.seq_len_scale=0.05",
)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Layout:
    layout = Layout(make_config(*SMALL), root=tmp_path_factory.mktemp("raw"))
    prepare_raw(layout.cfg, layout)
    return layout


def _parquet_cfg(train: Path, test: Path, *overrides: str) -> TossConfig:
    return make_config(
        "data.source=parquet", f"data.train_path={train}", f"data.test_path={test}", *overrides
    )


def _rewrite(
    src: Path, dst: Path, drop: str | None = None, rows: int | None = None, **cast: pl.DataType
) -> Path:
    df = pl.read_parquet(src)
    if drop:
        df = df.drop(drop)
    if rows is not None:
        df = df.head(rows)
    if cast:
        df = df.with_columns(pl.col(c).cast(t) for c, t in cast.items())
    df.write_parquet(dst)
    return dst


def test_synthetic_generates_then_reuses_then_regenerates(tmp_path: Path):
    layout = Layout(make_config(*SMALL), root=tmp_path)
    first = prepare_raw(layout.cfg, layout)
    assert first.generated and first.train_rows == 1200 and first.test_rows == 300
    assert first.truth_path == layout.truth_path and layout.truth_path.is_file()
    assert first.oracle is not None and first.oracle["Score"] > 0.3
    mtime = layout.train_path.stat().st_mtime_ns
    again = prepare_raw(layout.cfg, layout)
    assert not again.generated and layout.train_path.stat().st_mtime_ns == mtime
    assert again.train_fingerprint == first.train_fingerprint and again.oracle == first.oracle
    cfg2 = make_config(*SMALL, "data.synthetic.seed=1")
    changed = prepare_raw(cfg2, Layout(cfg2, root=tmp_path))
    assert changed.generated and changed.train_fingerprint != first.train_fingerprint


def test_synthetic_regenerates_when_a_file_was_replaced(tmp_path: Path):
    layout = Layout(make_config(*SMALL), root=tmp_path)
    prepare_raw(layout.cfg, layout)
    _rewrite(layout.test_path, layout.test_path, rows=10)
    assert prepare_raw(layout.cfg, layout).generated


def test_synthetic_paths_must_be_where_the_generator_writes(tmp_path: Path):
    cfg = make_config(*SMALL, "data.test_path=elsewhere/test.parquet")
    with pytest.raises(DataError, match=r"data\.test_path"):
        prepare_raw(cfg, Layout(cfg, root=tmp_path))


def test_fingerprint_is_stable_and_content_sensitive(synthetic: Layout, tmp_path: Path):
    fp = file_fingerprint(synthetic.train_path)
    assert fp == file_fingerprint(synthetic.train_path)
    copy = tmp_path / "copy.parquet"
    copy.write_bytes(synthetic.train_path.read_bytes())
    assert file_fingerprint(copy) == fp  # identity is content, not path or mtime
    df = pl.read_parquet(synthetic.train_path)
    edited = df.with_columns(
        pl.when(pl.int_range(pl.len()) == 7)
        .then(pl.lit(99.0, pl.Float32))
        .otherwise("feat_a_1")
        .alias("feat_a_1")
    )
    edited.write_parquet(tmp_path / "a.parquet")
    df.write_parquet(tmp_path / "b.parquet")
    assert file_fingerprint(tmp_path / "a.parquet") != file_fingerprint(tmp_path / "b.parquet")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match=r"junk.parquet: not a Parquet file"):
        file_fingerprint(tmp_path / "junk.parquet")


def test_numeric_columns_rule():
    cfg = make_config()
    names = [*synth.TOSS_COLUMNS, "ID"]
    num = resolve_numeric_columns(cfg, names)
    assert len(num) == 112 - 3  # every float column but the three id-like l_feats used as cats
    assert num[0] == "l_feat_1" and "l_feat_14" not in num and "seq" not in num and "clicked" not in num
    explicit = make_config("data.num_cols_explicit=[feat_a_2, history_b_1]")
    assert resolve_numeric_columns(explicit, names) == ["feat_a_2", "history_b_1"]


def test_valid_parquet_source(synthetic: Layout):
    cfg = _parquet_cfg(synthetic.train_path, synthetic.test_path)
    result = prepare_raw(cfg, Layout(cfg))
    assert not result.generated and result.oracle is None
    assert result.train_rows == 1200 and result.train_fingerprint == file_fingerprint(synthetic.train_path)
    assert check_raw_schema(synthetic.test_path, cfg, "test") == []


def test_missing_and_empty_files_are_named(synthetic: Layout, tmp_path: Path):
    cfg = _parquet_cfg(tmp_path / "nope.parquet", synthetic.test_path)
    with pytest.raises(DataError, match=r"nope.parquet: file not found"):
        prepare_raw(cfg, Layout(cfg))
    empty = _rewrite(synthetic.train_path, tmp_path / "empty.parquet", rows=0)
    cfg = _parquet_cfg(empty, synthetic.test_path)
    with pytest.raises(DataError, match=r"empty.parquet: has 0 rows"):
        prepare_raw(cfg, Layout(cfg))


@pytest.mark.parametrize(
    ("kind", "drop", "message"),
    [
        ("train", "hour", "missing cat column 'hour'"),
        ("train", "clicked", "missing label column 'clicked'"),
        ("train", "seq", "missing sequence column 'seq'"),
        ("test", "ID", "missing id column 'ID'"),
    ],
)
def test_missing_columns_name_file_and_column(synthetic: Layout, tmp_path: Path, kind, drop, message):
    src = synthetic.train_path if kind == "train" else synthetic.test_path
    bad = _rewrite(src, tmp_path / f"bad_{kind}.parquet", drop=drop)
    train, test = (bad, synthetic.test_path) if kind == "train" else (synthetic.train_path, bad)
    cfg = _parquet_cfg(train, test)
    with pytest.raises(DataError, match=f"bad_{kind}.parquet: {message}"):
        prepare_raw(cfg, Layout(cfg))


def test_numeric_problems_are_reported(synthetic: Layout, tmp_path: Path):
    cfg = _parquet_cfg(synthetic.train_path, synthetic.test_path, "data.num_patterns=['^nothing_']")
    assert any(
        "no column matches data.num_patterns" in p
        for p in check_raw_schema(synthetic.train_path, cfg, "train")
    )
    cfg = _parquet_cfg(
        synthetic.train_path, synthetic.test_path, "data.num_cols_explicit=[feat_a_1, feat_z_9]"
    )
    assert check_raw_schema(synthetic.train_path, cfg, "train") == [
        f"{synthetic.train_path}: missing numeric column 'feat_z_9'"
    ]
    no_feat = _rewrite(synthetic.test_path, tmp_path / "test_nofeat.parquet", drop="history_b_7")
    cfg = _parquet_cfg(synthetic.train_path, no_feat)
    with pytest.raises(DataError, match=r"test_nofeat.parquet: missing numeric column 'history_b_7'"):
        prepare_raw(cfg, Layout(cfg))


def test_unusable_dtypes_are_reported(synthetic: Layout, tmp_path: Path):
    table = pq.read_table(synthetic.train_path)
    seq_as_list = pa.array([[1, 2]] * table.num_rows, pa.list_(pa.int32()))
    table = table.set_column(table.schema.get_field_index("seq"), "seq", seq_as_list)
    path = tmp_path / "typed.parquet"
    pq.write_table(table, path)
    problems = check_raw_schema(path, make_config(), "train")
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}: sequence column 'seq' has type list<")
    assert problems[0].endswith("expected a string of comma-separated integer tokens")
    numeric_strings = _rewrite(synthetic.train_path, tmp_path / "str.parquet", feat_a_1=pl.Utf8)
    assert check_raw_schema(numeric_strings, make_config(), "train") == []


def test_check_raw_schema_refuses_unknown_kind(synthetic: Layout):
    with pytest.raises(ValueError, match="kind"):
        check_raw_schema(synthetic.train_path, make_config(), "valid")


def test_no_data_is_read_to_validate(synthetic: Layout, monkeypatch: pytest.MonkeyPatch):
    """Validation must scale to 10M rows: only footers are read."""

    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("data read during validation")

    monkeypatch.setattr(pq, "read_table", refuse)
    monkeypatch.setattr(pq.ParquetFile, "read", refuse)
    cfg = _parquet_cfg(synthetic.train_path, synthetic.test_path)
    assert prepare_raw(cfg, Layout(cfg)).test_rows == 300
