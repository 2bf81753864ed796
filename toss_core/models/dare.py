"""DARE: long-sequence user interest with Decoupled Attention and Representation Embeddings (ICLR 2025).

Every sequence token has two embeddings from two separately initialised tables: the ATTENTION table
(width `attn_dim`, may be smaller) is used only to score relevance, the REPRESENTATION table (width
`emb_dim`) only to build the interest vector, so the two jobs do not fight over one embedding.

Per row (seq is left-aligned: positions 0..seq_len-1 are real, newest at seq_len-1):
  query    S1: from the target side, i.e. the `sequence.query_key` fields projected to attn_dim (a query
               column listed in `query_same_vocab` instead uses its token's attention embedding, as in the
               paper; several parts are summed);
           S2: from the context, the mean attention embedding of the last `recent_k` real tokens;
           concat: Linear([S1, S2]) -> attn_dim.
  score_t  = <q, a_t> / sqrt(attn_dim) - beta · age_t / recency_tau,   age_t = seq_len - 1 - t,
           beta a learnable scalar initialised at 1 (the model can strengthen, weaken or flip recency).
  select   the `top_k` highest-scoring REAL tokens (padding scores -inf; a row shorter than k keeps only
           its real tokens); `full_softmax` keeps all real tokens (ablation).
  interest = sum_t softmax(score)_t · r_t over the selected tokens (r = representation embedding, with
           `dare_dropout`); length 0 -> the zero vector. With `transformer_block`, the selected r_t first
           pass a small pre-norm TransformerEncoder (key padding mask on unselected/padding slots) and are
           pooled with the SAME softmax weights, so retrieval stays interpretable. The block adds no
           position encoding: order reaches the model only through the recency term of the scores.
  output   [target, interest, target ⊙ interest] as three fields [B, 3, emb_dim]; target = Linear of the
           query-key field embeddings (same-vocab columns contribute their representation embedding).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from toss_core.config import TfmConfig
from toss_core.models.layers import EMB_INIT_STD


class DAREOutput(NamedTuple):
    """Everything one pass computes; `fields` goes to the head, the rest is for tests and diagnostics."""

    fields: torch.Tensor  # [B, 3, emb_dim]: target, interest, target ⊙ interest
    scores: torch.Tensor  # [B, L] relevance + recency scores, padding = dtype min
    weights: torch.Tensor  # [B, K] softmax weights of the selected slots (0 for padding)
    positions: torch.Tensor  # [B, K] sequence positions of the selected slots


class DAREEncoder(nn.Module):
    """Sequence -> [target, interest, target ⊙ interest] fields (module docstring has the maths).

    Args:
        vocab_size: token ids 0..vocab_size-1 (0 = padding).
        emb_dim: representation width (model.emb_dim); also the width of the output fields.
        attn_dim: attention width (sequence.attn_dim, None in config = emb_dim); must be positive.
        top_k: tokens retrieved per row (sequence.top_k).
        recency_tau: age scale of the recency term (sequence.recency_tau).
        query_mode: "S1" (target side), "S2" (recent context) or "concat" (sequence.query_mode).
        n_query_fields, query_field_dim: query-key columns given as field embeddings [B, n, dim].
        n_query_tokens: query-key columns given as sequence-vocabulary ids [B, n] (query_same_vocab).
        recent_k: recent tokens averaged into the S2 query (sequence.recent_k).
        full_softmax: softmax over all real tokens instead of top-k (sequence.full_softmax).
        dropout: dropout on the retrieved representation embeddings (model.dare_dropout).
        tfm: transformer block settings, None = no block (sequence.transformer_block / sequence.tfm).

    Shapes:
        seq: [B, L] long, left-aligned token ids (0 = padding)
        seq_len: [B] long, real tokens per row (clamped to L; 0 allowed)
        query_fields: [B, n_query_fields, query_field_dim] float, or None when n_query_fields = 0
        query_tokens: [B, n_query_tokens] long, or None when n_query_tokens = 0
        output: [B, 3, emb_dim] (`forward`); `encode` returns DAREOutput with scores [B, L],
            weights [B, K] and positions [B, K], K = min(top_k, L) (K = L with full_softmax)
    """

    def __init__(
        self,
        vocab_size: int,
        emb_dim: int,
        attn_dim: int,
        top_k: int,
        recency_tau: float,
        query_mode: str,
        n_query_fields: int,
        query_field_dim: int,
        n_query_tokens: int,
        recent_k: int,
        full_softmax: bool,
        dropout: float,
        tfm: TfmConfig | None,
    ) -> None:
        super().__init__()
        if attn_dim <= 0:
            raise ValueError(f"sequence.attn_dim must be a positive width, got {attn_dim}")
        if vocab_size <= 1:
            raise ValueError(
                f"the sequence vocabulary must hold real tokens besides padding, got {vocab_size}"
            )
        if n_query_fields + n_query_tokens == 0:
            raise ValueError(
                "sequence.query_key must name at least one categorical (or query_same_vocab) column: "
                "DARE's target field and S1 query are built from it"
            )
        if tfm is not None and emb_dim % tfm.n_heads != 0:
            raise ValueError(f"sequence.tfm.n_heads={tfm.n_heads} must divide model.emb_dim={emb_dim}")
        self.top_k = top_k
        self.recency_tau = recency_tau
        self.query_mode = query_mode
        self.recent_k = recent_k
        self.full_softmax = full_softmax
        self.attn_scale = 1.0 / math.sqrt(attn_dim)

        self.attn_table = nn.Embedding(vocab_size, attn_dim)
        self.repr_table = nn.Embedding(vocab_size, emb_dim)
        nn.init.normal_(self.attn_table.weight, std=attn_dim**-0.5)
        nn.init.normal_(self.repr_table.weight, std=EMB_INIT_STD)
        self.recency_beta = nn.Parameter(torch.tensor(1.0))

        self.s1_proj = nn.Linear(n_query_fields * query_field_dim, attn_dim) if n_query_fields else None
        self.concat_proj = nn.Linear(2 * attn_dim, attn_dim) if query_mode == "concat" else None
        self.target_proj = nn.Linear(n_query_fields * query_field_dim + n_query_tokens * emb_dim, emb_dim)
        self.dropout = nn.Dropout(dropout)
        self.tfm = None
        if tfm is not None:
            layer = nn.TransformerEncoderLayer(
                emb_dim, tfm.n_heads, tfm.ffn_hidden, tfm.dropout, batch_first=True, norm_first=True
            )
            self.tfm = nn.TransformerEncoder(layer, tfm.n_layers, enable_nested_tensor=False)

    def forward(
        self,
        seq: torch.Tensor,
        seq_len: torch.Tensor,
        query_fields: torch.Tensor | None = None,
        query_tokens: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The fields only (shapes in the class docstring)."""
        return self.encode(seq, seq_len, query_fields, query_tokens).fields

    def encode(
        self,
        seq: torch.Tensor,
        seq_len: torch.Tensor,
        query_fields: torch.Tensor | None = None,
        query_tokens: torch.Tensor | None = None,
    ) -> DAREOutput:
        length = seq.shape[1]
        pos = torch.arange(length, device=seq.device)
        seq_len = seq_len.clamp(max=length).unsqueeze(1)
        valid = pos < seq_len  # [B, L]
        age = (seq_len - 1 - pos).clamp(min=0)

        keys = self.attn_table(seq)  # [B, L, attn_dim]
        query = self._query(keys, pos, seq_len, query_fields, query_tokens)
        scores = torch.einsum("bld,bd->bl", keys, query) * self.attn_scale
        scores = scores - self.recency_beta * (age / self.recency_tau)
        scores = scores.masked_fill(~valid, torch.finfo(scores.dtype).min)

        if self.full_softmax:
            sel_scores, positions = scores, pos.expand_as(seq)
        else:
            sel_scores, positions = scores.topk(min(self.top_k, length), dim=1)
        sel_valid = valid.gather(1, positions)
        weights = torch.softmax(sel_scores.float(), dim=1) * sel_valid

        values = self.dropout(self.repr_table(seq.gather(1, positions)))  # [B, K, emb_dim]
        if self.tfm is not None:
            # A row with no real token would make attention NaN: let its first slot attend (weight 0 anyway).
            pad_mask = ~sel_valid
            pad_mask = torch.cat([pad_mask[:, :1] & sel_valid.any(1, keepdim=True), pad_mask[:, 1:]], dim=1)
            values = self.tfm(values, src_key_padding_mask=pad_mask)
        interest = torch.einsum("bk,bkd->bd", weights.to(values.dtype), values)

        target = self.target_proj(self._target_inputs(query_fields, query_tokens))
        fields = torch.stack([target, interest, target * interest], dim=1)
        return DAREOutput(fields, scores, weights, positions)

    def _query(
        self,
        keys: torch.Tensor,
        pos: torch.Tensor,
        seq_len: torch.Tensor,
        query_fields: torch.Tensor | None,
        query_tokens: torch.Tensor | None,
    ) -> torch.Tensor:
        parts = []
        if self.query_mode in ("S1", "concat"):
            s1 = []
            if self.s1_proj is not None:
                if query_fields is None:
                    raise ValueError("this DARE encoder was built with query fields: pass query_fields")
                s1.append(self.s1_proj(query_fields.flatten(1)))
            if query_tokens is not None and query_tokens.shape[1]:
                s1.append(self.attn_table(query_tokens).mean(1))
            parts.append(torch.stack(s1).sum(0))
        if self.query_mode in ("S2", "concat"):
            idx = seq_len - 1 - pos[: self.recent_k]  # [B, recent_k], newest first; < 0 = no such token
            real = (idx >= 0).unsqueeze(-1)
            recent = keys.gather(1, idx.clamp(min=0).unsqueeze(-1).expand(-1, -1, keys.shape[-1]))
            parts.append((recent * real).sum(1) / real.sum(1).clamp(min=1))
        if self.concat_proj is not None:
            return self.concat_proj(torch.cat(parts, dim=1))
        return parts[0]

    def _target_inputs(
        self, query_fields: torch.Tensor | None, query_tokens: torch.Tensor | None
    ) -> torch.Tensor:
        parts = []
        if query_fields is not None and query_fields.shape[1]:
            parts.append(query_fields.flatten(1))
        if query_tokens is not None and query_tokens.shape[1]:
            parts.append(self.repr_table(query_tokens).flatten(1))
        return torch.cat(parts, dim=1)
