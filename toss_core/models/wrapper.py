"""The CTR model: every input becomes fields of one common width, a head turns the fields into a logit.

Fields, in this order (the order matters only for qnn_alpha.pair_grouping = "field"):
  categorical  one per data.cat_cols column: an embedding of width model.cat_embedding_dims[col] (default
               model.emb_dim), projected to the field width when the two differ, with dropout
               model.emb_dropout; values with fewer than model.id_min_count training rows share the
               column's unknown row; the id columns of
               features.covis.id_cols are skipped unless model.embed_id_cols (their out-of-fold click
               rates arrive among the dense fields instead);
  sequence     DARE's [target, interest, target ⊙ interest] (3 fields, projected from model.emb_dim), only
               when the cache has a sequence column;
  numeric      model.numeric_fields = "grouped": one per column family (name without its trailing
               `_<digits>`: 8 fields for Toss's 109 columns), Σ_family signed_log1p(x_j) · w_j + b;
               "binned": the same families, each column adding a learned piecewise-linear curve over
               its model.numeric_bins quantile bins (BinnedNumericFields; edges set by fit_bins);
               "per_column": one per column, signed_log1p(x) · w + b (values arrive imputed but unscaled;
               the signed log tames heavy tails without needing train statistics);
  null mask    ONE field: a Linear over the whole 0/1 null-mask vector (nulls come in blocks, so the
               pattern is what carries information);
  dense        co-visitation features (spec.dense_cols) embedded like the numeric columns: ONE field for
               all of them when grouped or binned, one per feature when per_column; with
               model.dense_bins each feature adds a piecewise-linear curve over its quantile bins (a
               click rate's effect is far from linear: a recurring pair's rate near 1 means a click).
Field width = model.field_dim. Head: QNN-α, an MLP or DCN-v2 (baselines.py).
"""

from __future__ import annotations

import torch
from torch import nn

from toss_core.config import TossConfig
from toss_core.models.baselines import DCNv2Head, MLPHead
from toss_core.models.dare import DAREEncoder
from toss_core.models.layers import (
    BinnedNumericFields,
    CategoricalFields,
    FieldProjection,
    NumericFields,
    column_families,
)
from toss_core.models.qnn_alpha import QNNAlpha
from toss_core.spec import FeatureSpec

HEADS = {"qnn_alpha": QNNAlpha, "mlp": MLPHead, "dcnv2": DCNv2Head}


class CTRModel(nn.Module):
    """Every input as fields of one width (module docstring), then the head: a batch -> one logit per row.

    Args:
        spec: the cache's FeatureSpec: columns, cardinalities, sequence vocabulary, dense features.
        cfg: the whole config; model.*, sequence.* and features.covis.id_cols shape the model.
        head: "qnn_alpha", "mlp" or "dcnv2" (HEADS).

    Shapes (the batch dict; keys only for what the spec has):
        cat: [B, n_cat] long, every spec.cat_cols column (id columns skipped inside)
        num: [B, n_num] float
        isna: [B, n_isna] 0/1
        seq: [B, L] long, seq_len: [B] long
        qtok: [B, n_qtok] long
        dense: [B, n_dense] float
        output: logits [B]; `fields(batch)`: [B, n_fields, model.field_dim]
    """

    cat_idx: torch.Tensor  # buffers
    query_cat_idx: torch.Tensor
    query_tok_idx: torch.Tensor

    def __init__(self, spec: FeatureSpec, cfg: TossConfig, head: str) -> None:
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"model head must be one of {sorted(HEADS)}, got {head!r}")
        width = cfg.model.field_dim
        n_fields = 0

        self.cat = None
        embedded = [i for i, col in enumerate(spec.cat_cols) if col not in cfg.network_id_columns_skipped]
        self.register_buffer("cat_idx", torch.tensor(embedded, dtype=torch.long), persistent=False)
        self.embedded_cat_cols = [spec.cat_cols[i] for i in embedded]
        if embedded:
            dims = _cat_dims(cfg, self.embedded_cat_cols)
            self.cat = CategoricalFields([spec.cat_cardinalities[i] for i in embedded], dims, width)
            n_fields += len(embedded)
        self.emb_dropout = nn.Dropout(cfg.model.emb_dropout)

        self.dare = None
        if spec.has_sequence:
            self.dare, q_cat, q_tok = _build_dare(spec, cfg, width, self.embedded_cat_cols)
            self.register_buffer("query_cat_idx", torch.tensor(q_cat, dtype=torch.long), persistent=False)
            self.register_buffer("query_tok_idx", torch.tensor(q_tok, dtype=torch.long), persistent=False)
            emb = cfg.model.emb_dim
            self.dare_proj = FieldProjection(3, emb, width) if emb != width else nn.Identity()
            n_fields += 3

        mode = cfg.model.numeric_fields
        grouped = mode != "per_column"
        self.num: NumericFields | None = None
        if spec.num_cols:
            groups = column_families(spec.num_cols) if grouped else list(range(len(spec.num_cols)))
            if mode == "binned":
                self.num = BinnedNumericFields(groups, width, cfg.model.numeric_bins)
            else:
                self.num = NumericFields(groups, width)
            n_fields += self.num.n_fields
        self.isna = nn.Linear(len(spec.isna_cols), width) if spec.isna_cols else None
        n_fields += 1 if spec.isna_cols else 0
        self.dense: NumericFields | None = None
        if spec.dense_cols:
            n_dense = len(spec.dense_cols)
            dense_groups = [0] * n_dense if grouped else list(range(n_dense))
            bins = cfg.model.dense_bins if isinstance(cfg.model.dense_bins, int) else 0  # unsettled auto: off
            self.dense = (
                BinnedNumericFields(dense_groups, width, bins) if bins else NumericFields(dense_groups, width)
            )
            n_fields += self.dense.n_fields
        if n_fields == 0:
            raise ValueError("the feature spec has no categorical, numeric, sequence or dense column")
        self.n_fields = n_fields
        self.head = HEADS[head](n_fields, width, cfg.model)

    def _binned(self) -> dict[str, BinnedNumericFields]:
        """The binned inputs by batch key: "num" (numeric_fields = binned), "dense" (model.dense_bins)."""
        parts = {"num": self.num, "dense": self.dense}
        return {key: part for key, part in parts.items() if isinstance(part, BinnedNumericFields)}

    @property
    def binned_inputs(self) -> list[str]:
        """The batch keys whose quantile bin edges `fit_bins` must set before training."""
        return list(self._binned())

    def fit_bins(self, sample: dict[str, torch.Tensor]) -> None:
        """Fit the bin edges of every binned input on a sample of training rows, sample[key] [S, n_key]."""
        binned = self._binned()
        if not binned:
            raise ValueError("fit_bins needs model.numeric_fields=binned or model.dense_bins > 0")
        for key, part in binned.items():
            part.fit_edges(sample[key])

    def fields(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """All inputs as fields [B, F, width] (what the head sees)."""
        parts = []
        cat = None
        if self.cat is not None:
            cat = self.emb_dropout(self.cat(batch["cat"][:, self.cat_idx]))
            parts.append(cat)
        if self.dare is not None:
            query_fields = (
                cat[:, self.query_cat_idx] if cat is not None and self.query_cat_idx.numel() else None
            )
            query_tokens = batch["qtok"][:, self.query_tok_idx] if self.query_tok_idx.numel() else None
            seq_fields = self.dare(batch["seq"], batch["seq_len"], query_fields, query_tokens)
            parts.append(self.dare_proj(seq_fields))
        if self.num is not None:
            parts.append(self.num(batch["num"]))
        if self.isna is not None:
            parts.append(self.isna(batch["isna"].to(self.isna.weight.dtype)).unsqueeze(1))
        if self.dense is not None:
            parts.append(self.dense(batch["dense"]))
        return torch.cat(parts, dim=1)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(self.fields(batch))

    def embedding_penalty(self) -> torch.Tensor | None:
        """The L2 term of model.emb_l2 over the categorical embedding tables; None without any."""
        return None if self.cat is None else self.cat.penalty()

    def keep_frequent_ids(self, counts: list[torch.Tensor], min_count: int) -> None:
        """model.id_min_count: counts[c] are the fold's training counts of every id of cat column c (all
        columns of the spec, in order); rarer ids of the embedded columns share the unknown row."""
        if self.cat is not None:
            self.cat.keep_frequent([counts[i] for i in self.cat_idx.tolist()], min_count)


def _cat_dims(cfg: TossConfig, embedded: list[str]) -> list[int]:
    custom = cfg.model.cat_embedding_dims
    unknown = sorted(set(custom) - set(embedded))
    if unknown:
        raise ValueError(
            f"model.cat_embedding_dims names {unknown}, which are not embedded categorical columns "
            f"{embedded} (id columns of features.covis.id_cols are embedded only with "
            "model.embed_id_cols=true)"
        )
    bad = {col: dim for col, dim in custom.items() if dim <= 0}
    if bad:
        raise ValueError(f"model.cat_embedding_dims must be positive widths, got {bad}")
    return [custom.get(col, cfg.model.emb_dim) for col in embedded]


def _build_dare(
    spec: FeatureSpec, cfg: TossConfig, width: int, embedded: list[str]
) -> tuple[DAREEncoder, list[int], list[int]]:
    """The DARE encoder and where its query-key columns come from (cat field index / qtok column index)."""
    s = cfg.sequence
    q_cat, q_tok = [], []
    for col in s.query_key:
        if col in s.query_same_vocab:
            if col not in spec.qtok_cols:
                raise ValueError(
                    f"sequence.query_same_vocab names '{col}' but the cache has no query-token column for it "
                    f"(qtok columns: {spec.qtok_cols}); rebuild the cache with this config"
                )
            q_tok.append(spec.qtok_cols.index(col))
        elif col in embedded:
            q_cat.append(embedded.index(col))
        else:
            raise ValueError(
                f"sequence.query_key column '{col}' is neither an embedded categorical column {embedded} "
                "nor listed in sequence.query_same_vocab"
            )
    dare = DAREEncoder(
        vocab_size=spec.seq_vocab_size,
        emb_dim=cfg.model.emb_dim,
        attn_dim=s.attn_dim if s.attn_dim is not None else cfg.model.emb_dim,
        top_k=s.top_k,
        recency_tau=s.recency_tau,
        query_mode=s.query_mode,
        n_query_fields=len(q_cat),
        query_field_dim=width,
        n_query_tokens=len(q_tok),
        recent_k=s.recent_k,
        full_softmax=s.full_softmax,
        dropout=cfg.model.dare_dropout,
        tfm=s.tfm if s.transformer_block else None,
    )
    return dare, q_cat, q_tok
