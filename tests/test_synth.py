"""The synthetic Toss-schema generator: exact schema, planted structure, determinism, bounded chunks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from toss_core import synth
from toss_core.scoring.metrics import prior_only_score, sigmoid
from toss_core.synth import click, schema

SCALE = 0.05  # short sequences keep the tests fast; full-scale lengths are tested on _draw_sequences


@pytest.fixture(scope="module")
def gen(tmp_path_factory: pytest.TempPathFactory) -> synth.SynthSummary:
    return synth.generate(
        tmp_path_factory.mktemp("synth"), train_rows=20_000, test_rows=6_000, seed=3, seq_len_scale=SCALE
    )


def test_schema_and_column_order_are_exactly_toss(gen: synth.SynthSummary):
    assert len(synth.TOSS_COLUMNS) == 119
    assert synth.TOSS_COLUMNS[:6] == ["gender", "age_group", "inventory_id", "day_of_week", "hour", "seq"]
    assert synth.TOSS_COLUMNS[6] == "l_feat_1" and synth.TOSS_COLUMNS[-2:] == ["history_b_30", "clicked"]
    train = pq.read_schema(gen.train_path)
    assert train.names == synth.TOSS_COLUMNS
    for f in train:
        expected = (
            "string" if f.name in (*synth.CAT_COLUMNS, "seq") else "int32" if f.name == "clicked" else "float"
        )
        assert str(f.type) == expected, f.name
    test = pq.read_schema(gen.test_path)
    assert test.names == synth.TEST_COLUMNS == ["ID", *synth.TOSS_COLUMNS[:-1]]
    assert test.field("ID").type == "string" and test.field("l_feat_1").type == "float"
    truth = pq.read_schema(gen.truth_path)
    assert truth.names == synth.TRUTH_COLUMNS == ["ID", "clicked", "p_true"]
    assert [str(t) for t in truth.types] == ["string", "int32", "double"]


def test_values_have_the_toss_domains(gen: synth.SynthSummary):
    df = pl.read_parquet(gen.train_path)
    assert set(df["gender"].drop_nulls()) == {"1.0", "2.0"}
    assert set(df["age_group"].drop_nulls()) == {f"{i}.0" for i in range(1, 9)}
    assert df["inventory_id"].n_unique() == 18
    assert set(df["day_of_week"]) == {str(i) for i in range(1, 8)}
    assert set(df["hour"]) == {str(i) for i in range(24)}
    for col in ("l_feat_1", "l_feat_13", "l_feat_16"):
        assert set(df[col].unique()) == {0.0, 1.0}
    tokens = df["seq"].str.split(",").explode(empty_as_null=False).cast(pl.Int32)
    assert tokens.min() >= 1 and tokens.max() <= schema.VOCAB_SIZE
    assert 200 < tokens.n_unique() <= schema.VOCAB_SIZE
    # ids: creative → ad set → campaign is a hierarchy, cardinalities bounded by the Toss-like sizes
    assert df.group_by("l_feat_12").agg(pl.col("l_feat_14").n_unique())["l_feat_14"].max() == 1
    assert df.group_by("l_feat_14").agg(pl.col("l_feat_11").n_unique())["l_feat_11"].max() == 1
    assert 2_000 < df["l_feat_12"].n_unique() <= schema.N_CREATIVE
    assert df["l_feat_14"].n_unique() <= schema.N_ADSET and df["l_feat_11"].n_unique() <= schema.N_CAMPAIGN
    ids = pl.read_parquet(gen.test_path, columns=["ID"])["ID"]
    assert ids[0] == "TEST_0000000" and ids[-1] == "TEST_0005999" and ids.n_unique() == ids.len()


def test_null_blocks_and_click_rate(gen: synth.SynthSummary):
    df = pl.read_parquet(gen.train_path)
    block = df["gender"].is_null()
    assert 0.0004 < block.mean() < 0.004  # 0.16% of 20k rows ≈ 32
    for col in ("age_group", "feat_b_1", "feat_c_8", "feat_d_2", "feat_e_10", "history_a_1", "history_b_30"):
        assert (df[col].is_null() == block).all(), col  # the block loses all of them together
    feat_a = df["feat_a_1"].is_null()
    assert 0.0004 < feat_a.mean() < 0.004
    assert all((df[f"feat_a_{i}"].is_null() == feat_a).all() for i in range(1, 19))
    assert 0.09 < df["feat_e_3"].is_null().mean() < 0.11
    assert df["l_feat_14"].null_count() == 0 and df["seq"].null_count() == 0
    assert 0.015 < df["clicked"].mean() < 0.024
    assert gen.click_rate_train == pytest.approx(df["clicked"].mean())


def test_full_scale_sequence_lengths_look_like_toss():
    p = click.draw_params(0)
    lengths, tokens = click.draw_sequences(p, np.random.default_rng(0), 4000, seq_len_scale=1.0)
    assert 400 < np.median(lengths) < 500
    assert lengths.min() >= 1 and lengths.max() <= schema.SEQ_MAX and np.percentile(lengths, 99) > 2500
    assert tokens.size == lengths.sum()


def test_intercept_from_the_recent_tokens_shortcut_holds_at_full_scale():
    """The intercept is solved on rows whose sequences hold only their last 16 tokens; full-length
    rows must still click at ≈ 1.9% (the run process is memoryless, so the tails match)."""
    p, intercept = click.click_model(0, 1.0)
    eta = np.concatenate([b.eta for _, _, b in click.iter_blocks(p, 0, 99, 2 * schema.BLOCK_ROWS, 1.0)])
    assert abs(sigmoid(eta + intercept).mean() - schema.CLICK_RATE) < 0.0015


def test_join_tokens_matches_python_join():
    tokens = np.array([480, 7, 10, 99, 1, 5], np.int16)
    lengths = np.array([1, 1, 3, 1])
    assert synth.join_tokens(tokens, lengths).to_pylist() == ["480", "7", "10,99,1", "5"]


def test_oracle_beats_the_prior_by_a_clear_margin(gen: synth.SynthSummary):
    truth = pl.read_parquet(gen.truth_path)
    assert gen.prior_score == pytest.approx(prior_only_score(truth["clicked"].to_numpy()))
    assert gen.oracle["Score"] > gen.prior_score + 0.05
    assert gen.oracle["AUC"] > 0.75
    assert gen.oracle == pytest.approx(synth.oracle_metrics(gen.truth_path))
    meta = json.loads(gen.meta_path.read_text())
    assert meta["params"] == synth.synth_params(20_000, 6_000, 3, SCALE)
    assert meta["oracle"]["Score"] == pytest.approx(gen.oracle["Score"])


def test_target_aware_sequence_effect_is_planted(gen: synth.SynthSummary):
    """p_true rises with the share of the last 16 tokens in the ad set's latent cluster."""
    p = click.draw_params(3)
    test = pl.read_parquet(gen.test_path, columns=["l_feat_14", "seq"])
    adset = np.searchsorted(p.adset_ids, test["l_feat_14"].to_numpy())
    recent = (
        test["seq"]
        .str.split(",")
        .list.tail(schema.RECENT_K)
        .explode(empty_as_null=False)
        .cast(pl.Int64)
        .to_numpy()
    )
    n_recent = test["seq"].str.split(",").list.tail(schema.RECENT_K).list.len().to_numpy()
    row = np.repeat(np.arange(test.height), n_recent)
    hits = np.bincount(row, p.token_cluster[recent] == p.adset_cluster[adset][row], minlength=test.height)
    share = hits / n_recent
    p_true = pl.read_parquet(gen.truth_path)["p_true"].to_numpy()
    assert p_true[share > 0.5].mean() > 2.5 * p_true[share == 0].mean()


def test_truth_effects_add_up_to_the_written_truth(gen: synth.SynthSummary):
    """The per-effect contributions bench/quality.py regresses on are exactly the test rows' true logits."""
    effects = synth.truth_effects(3, 6_000, SCALE)
    assert len(effects) == 19 and all(v.shape == (6_000,) for v in effects.values())
    p_true = pl.read_parquet(gen.truth_path)["p_true"].to_numpy()
    np.testing.assert_allclose(sigmoid(sum(effects.values()) + gen.intercept), p_true, rtol=1e-9)
    share = effects["target_aware_sequence"] / 2.0
    assert share.min() >= 0.0 and share.max() <= 1.0 and share.max() > 0.5


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path):
    kw = {"train_rows": 1500, "test_rows": 300, "seq_len_scale": SCALE}
    a = synth.generate(tmp_path / "a", seed=3, **kw)
    b = synth.generate(tmp_path / "b", seed=3, **kw)
    c = synth.generate(tmp_path / "c", seed=4, **kw)
    for name in ("train_path", "test_path", "truth_path"):
        assert getattr(a, name).read_bytes() == getattr(b, name).read_bytes()
        assert getattr(a, name).read_bytes() != getattr(c, name).read_bytes()


def test_chunk_rows_bounds_row_groups_but_not_content(tmp_path: Path):
    """Rows come from per-block RNG streams, so the chunk size only changes the Parquet row groups."""
    kw = {"train_rows": 9000, "test_rows": 2500, "seed": 3, "seq_len_scale": SCALE}
    big = synth.generate(tmp_path / "big", chunk_rows=200_000, **kw)
    small = synth.generate(tmp_path / "small", chunk_rows=2000, **kw)
    meta = pq.ParquetFile(small.train_path).metadata
    assert meta.num_rows == 9000
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [2000] * 4 + [1000]
    assert pq.ParquetFile(big.train_path).metadata.num_row_groups == 1
    for name in ("train_path", "test_path", "truth_path"):
        assert pq.read_table(getattr(big, name)).equals(pq.read_table(getattr(small, name)))
    ids = pl.read_parquet(small.test_path, columns=["ID"])["ID"]
    assert ids.to_list() == [f"TEST_{i:07d}" for i in range(2500)]


def test_bad_sizes_are_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="must be positive"):
        synth.generate(tmp_path, train_rows=0, test_rows=10)


def test_the_generator_never_writes_over_files_it_did_not_make(tmp_path: Path) -> None:
    """data.source left at synthetic with paths that hold the user's Parquet: refused, file untouched."""
    from toss_core.util.errors import DataError

    users = tmp_path / "train.parquet"
    users.write_bytes(b"the user's only copy")
    with pytest.raises(DataError, match=r"train.parquet exists and was not written by toss's generator"):
        synth.generate(tmp_path, train_rows=100, test_rows=50, seed=0)
    assert users.read_bytes() == b"the user's only copy"
    assert not (tmp_path / "test.parquet").exists()


def test_the_generator_regenerates_its_own_files(tmp_path: Path) -> None:
    synth.generate(tmp_path, train_rows=100, test_rows=50, seed=0)
    again = synth.generate(tmp_path, train_rows=120, test_rows=50, seed=0)  # its own files: replaced
    assert again.train_rows == 120 and pq.read_metadata(tmp_path / "train.parquet").num_rows == 120
