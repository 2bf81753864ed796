"""Config sections of the data: the generator, the Parquet files and their column roles, the sequence
and DARE, the encoder that reads it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from toss_core.config.base import Strict


class SyntheticConfig(Strict):
    train_rows: int = Field(20_000, gt=0, description="rows of the generated train.parquet")
    test_rows: int = Field(
        5_000, gt=0, description="rows of the generated test.parquet (and of test_truth.parquet, its labels)"
    )
    seed: int = Field(0, description="generator seed: the planted truth and every row follow from it")
    chunk_rows: int = Field(
        200_000,
        gt=0,
        description="rows generated and written per Parquet row group: bounds memory, never changes the rows",
    )
    seq_len_scale: float = Field(1.0, gt=0, description="scales the median seq length (1.0 = Toss-like 450)")


class DataConfig(Strict):
    source: Literal["parquet", "synthetic"] = Field(
        "synthetic",
        description="data origin: synthetic (generated Toss-schema data) or parquet (your own files)",
    )
    synthetic: SyntheticConfig = Field(
        SyntheticConfig(), description="sizes of the built-in Toss-schema generator (data.source = synthetic)"
    )
    train_path: str = Field(
        "data/synthetic/train.parquet",
        description="training Parquet (relative paths resolve against the working directory or $TOSS_ROOT)",
    )
    test_path: str = Field(
        "data/synthetic/test.parquet",
        description="test Parquet to predict; with source = synthetic it must be test.parquet beside "
        "train_path",
    )
    label_col: str = Field("clicked", description="0/1 click label column of the training file")
    id_col: str = Field("ID", description="row id column of the test file, written as submission.csv's ID")
    cache_dir: str = Field(
        "cache/synthetic",
        description="folder of the NPY shard caches: train/ and test/ beneath it, each with its "
        "manifest.json",
    )
    use_cache: bool = Field(
        True,
        description="reuse a cache whose fingerprint (input file + shaping keys) matches; false = rebuild",
    )
    shard_rows: int = Field(
        250_000,
        gt=0,
        description="most rows per cache shard, read from Parquet as one batch: peak memory follows it, not "
        "the file size",
    )
    shard_mb: int = Field(
        256,
        gt=0,
        description="most MB of decoded Parquet input per shard (from the file's footer)",
    )
    add_isna_mask: bool = Field(
        True,
        description="store a 0/1 null mask for every numeric column with nulls in train",
    )
    impute_strategy: Literal["mean", "median", "zero"] = Field(
        "median",
        description="value that replaces a null numeric, fitted on train",
    )
    cat_cols: list[str] = Field(
        default_factory=lambda: [
            "gender",
            "age_group",
            "inventory_id",
            "day_of_week",
            "hour",
            "l_feat_14",
            "l_feat_12",
            "l_feat_11",
        ],
        description="categorical columns: integer ids per value (vocabulary or hash, see hash_buckets)",
    )
    num_cols_explicit: list[str] | None = Field(
        None, description="numeric columns by name; null = every column that matches num_patterns"
    )
    num_patterns: list[str] = Field(
        default_factory=lambda: [
            "^l_feat_",
            "^feat_[a-e]_",
            "^history_[ab]_",
        ],
        description="regexes (searched) that pick the numeric columns; used when num_cols_explicit is null",
    )
    hash_buckets: int | dict[str, int] = Field(
        100_000,
        description="id budget per cat column (or {column: n}, unlisted columns 100000); id 0 is null/unseen",
    )
    verify: Literal["quick", "full"] = Field(
        "full",
        description="cache shard checks: full = crc32 of each file as first read; quick = sizes and headers",
    )


class TfmConfig(Strict):
    n_layers: int = Field(1, ge=1, description="Transformer encoder layers over the retrieved tokens")
    n_heads: int = Field(2, ge=1, description="attention heads; must divide model.emb_dim")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout inside the encoder layers")
    ffn_hidden: int = Field(64, gt=0, description="hidden width of each layer's feed-forward block")


class SequenceConfig(Strict):
    col: str | None = Field(
        "seq",
        description="column of comma-separated integer tokens (behaviour history, oldest first); null = none",
    )
    max_len: int = Field(
        256,
        gt=0,
        description="most recent tokens kept per row in the cache (older ones are dropped)",
    )
    max_token: int | None = Field(
        None,
        ge=0,
        description="largest sequence token value kept in train (null = every token)",
    )
    top_k: int = Field(
        32, description="tokens DARE retrieves per row: the highest relevance + recency scores (positive)"
    )
    recency_tau: float = Field(
        64.0,
        gt=0,
        description="age scale of DARE's recency term, in positions: score -= beta * age / recency_tau "
        "(beta learned)",
    )
    query_mode: Literal["S1", "S2", "concat"] = Field(
        "concat",
        description="DARE's query: S1 (target side), S2 (recent context) or concat (a Linear of both)",
    )
    query_key: list[str] = Field(
        default_factory=lambda: ["inventory_id"],
        description="cat columns that build DARE's target field and S1 query",
    )
    query_same_vocab: list[str] = Field(
        default_factory=list,
        description="query_key columns whose values are tokens of the sequence vocabulary",
    )
    recent_k: int = Field(8, gt=0, description="recent tokens averaged into the S2 (context) query")
    attn_dim: int | None = Field(None, description="attention-embedding width; null = model.emb_dim")
    full_softmax: bool = Field(False, description="ablation: softmax over all tokens instead of top-k")
    transformer_block: bool = Field(
        False,
        description="pass the retrieved tokens through a small pre-norm Transformer encoder (sequence.tfm)",
    )
    tfm: TfmConfig = Field(
        TfmConfig(),
        description="the Transformer block over the retrieved tokens (sequence.transformer_block)",
    )

    @field_validator("top_k")
    @classmethod
    def _top_k_positive(cls, v: int) -> int:
        if v <= 0:
            raise ValueError(f"top_k must be a positive number of retrieved tokens, got {v}")
        return v
