"""A vocabulary of 1M values: sequence tokens and ids drawn from it run end to end, memory bounded.

The smoke data's tokens and ad ids are replaced by values of a 1M vocabulary (plus one stray token near
10^9): the cache sizes the sequence vocabulary by the tokens seen, the co-visitation structures hold the
observed pairs (never V×V), and `toss run` trains both families and writes a submission.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import SMOKE, make_config, run_context
from scipy import sparse

from toss_core import steps
from toss_core.cli import main
from toss_core.features.cooc import CovisAccumulator
from toss_core.layout import Layout

VOCAB = 1_000_000
STRAY = 999_999_999  # the largest token a cache accepts (9 digits)
ID_COLS = ["l_feat_14", "l_feat_12"]


def _big_vocab(df: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Tokens: half a fixed scatter of the smoke token over 1M values (so co-visitation has structure
    and test tokens recur), half uniform over 1M; ids uniform over 1M."""
    tokens = df["seq"].str.split(",")
    flat = tokens.explode(empty_as_null=True).cast(pl.Int64).to_numpy()
    scatter = (flat * 7_919 + 13) % VOCAB
    values = np.where(rng.random(flat.size) < 0.5, scatter, rng.integers(0, VOCAB, flat.size))
    rows = np.repeat(np.arange(df.height), tokens.list.len().to_numpy())
    seq = (
        pl.DataFrame({"row": rows, "tok": values.astype(str)})
        .group_by("row", maintain_order=True)
        .agg(pl.col("tok").str.join(","))["tok"]
    )
    ids = [pl.Series(c, rng.integers(0, VOCAB, df.height).astype(np.float32)) for c in ID_COLS]
    return df.with_columns(seq.alias("seq"), *ids)


def _raw(tmp_path: Path) -> list[str]:
    """Smoke data rewritten onto the 1M vocabulary under tmp_path/raw; the --set flags that read it."""
    layout = Layout(make_config(), root=tmp_path)
    steps.prepare_raw(run_context(layout))
    rng = np.random.default_rng(0)
    (tmp_path / "raw").mkdir()
    for kind in ("train", "test"):
        df = _big_vocab(pl.read_parquet(tmp_path / f"data/smoke/{kind}.parquet"), rng)
        if kind == "train":
            df = df.with_columns(
                pl.when(pl.int_range(pl.len()) == 0).then(pl.lit(f"5,{STRAY}")).otherwise("seq")
            )
        df.write_parquet(tmp_path / f"raw/{kind}.parquet")
    return [
        "data.source=parquet",
        "data.train_path=raw/train.parquet",
        "data.test_path=raw/test.parquet",
        "data.cache_dir=cache/big",
        "families=[nn,gbdt]",
    ]


@pytest.mark.slow
def test_a_million_value_vocabulary_runs_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sets = _raw(tmp_path)
    monkeypatch.chdir(tmp_path)
    argv = ["-q", "run", "--cfg", str(SMOKE), *(a for s in sets for a in ("--set", s))]
    assert main(argv) == 0, capsys.readouterr().err
    layout = Layout(make_config(*sets), root=tmp_path)

    seq = pl.read_parquet(layout.train_path, columns=["seq"])["seq"].str.split(",")
    seen = seq.list.tail(layout.cfg.sequence.max_len).explode(empty_as_null=True).drop_nulls().n_unique()
    manifest = json.loads((layout.train_cache / "manifest.json").read_text())
    # the vocabulary is the tokens kept in train (the stray one included), not the largest token + 2
    assert manifest["seq_vocab_size"] == seen + 2 < VOCAB // 10
    covis = json.loads((layout.covis_train / "manifest.json").read_text())["covis"]
    vocab, top_n = covis["vocab"], layout.cfg.features.covis.top_n
    assert vocab == manifest["seq_vocab_size"]
    assert 0 < covis["covis_nonzero"] <= top_n * vocab and covis["transition_nonzero"] < 50 * vocab
    assert pl.read_csv(layout.submission_path).height == pl.read_parquet(layout.test_path).height


def test_cooccurrence_memory_follows_the_pairs_not_the_vocabulary() -> None:
    """V = 1M + 2 ids: a dense V×V float64 sum would need 8 TB; the sparse one holds the pairs seen."""
    rng = np.random.default_rng(1)
    seq = rng.integers(2, VOCAB + 2, (500, 16)).astype(np.int32)
    lengths = rng.integers(0, 17, 500)
    acc = CovisAccumulator(VOCAB + 2, window=3, recency_tau=8.0, weights="recency")
    acc.add(seq, lengths)
    model = acc.finish(top_n=4)
    pairs = sum(np.clip(lengths - d, 0, None).sum() for d in (1, 2, 3))
    assert isinstance(model.covis.matrix, sparse.csr_matrix) and model.covis.matrix.shape == (VOCAB + 2,) * 2
    assert 0 < model.covis.nnz <= 2 * pairs and model.transition.nnz <= np.clip(lengths - 1, 0, None).sum()
    assert np.diff(model.covis.matrix.indptr).max() <= 4


@pytest.mark.parametrize("weights", ["count", "recency"])
def test_sparse_and_dense_paths_agree(monkeypatch: pytest.MonkeyPatch, weights: str) -> None:
    """Small vocabularies use a dense table (faster); forcing the sparse path changes no feature."""
    from toss_core.features import cooc
    from toss_core.features.seqstats import SEQ_STATS, sequence_features

    rng = np.random.default_rng(2)
    seq = rng.integers(1, 40, (300, 12)).astype(np.int32)
    lengths = rng.integers(0, 13, 300)

    def fitted() -> cooc.CovisModel:
        acc = CovisAccumulator(40, window=3, recency_tau=4.0, weights=weights)
        acc.add(seq[:150], lengths[:150])
        acc.add(seq[150:], lengths[150:])
        return acc.finish(top_n=5)

    dense = fitted()
    monkeypatch.setattr(cooc, "DENSE_ENTRIES", 0)
    monkeypatch.setattr(cooc, "_COMPACT_AT", 100)  # several compactions
    sparse_model = fitted()
    assert dense.covis.dense is not None and sparse_model.covis.dense is None
    np.testing.assert_allclose(dense.covis.matrix.toarray(), sparse_model.covis.matrix.toarray(), rtol=1e-6)
    np.testing.assert_allclose(
        dense.transition.matrix.toarray(), sparse_model.transition.matrix.toarray(), rtol=1e-6
    )
    a = sequence_features(seq, lengths, lengths, dense, 3, list(SEQ_STATS))
    b = sequence_features(seq, lengths, lengths, sparse_model, 3, list(SEQ_STATS))
    for name in SEQ_STATS:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-6, err_msg=name)
