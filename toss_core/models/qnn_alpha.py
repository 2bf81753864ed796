"""QNN-α (KDD 2025, quadratic neural networks for CTR): stacked multi-head quadratic layers + MLP head.

One quadratic layer on x ∈ R^D (the concatenated field embeddings):
    h  = act(W x + b)                   reshaped to [heads, rank, D/heads]   (act = GELU)
    x' = norm(dropout(Σ_rank x_head ⊙ h) + x)    (the "+ x" only with use_residual)
so coordinate i of head g gets x_i · Σ_r act(w_{g,r,i}·x): every pairwise product x_i x_j is available.

pair_grouping decides which x_j a head may pair with:
  "none":  every head's h reads the full x (W is dense, rank·D² weights). The head split then only
           arranges W's rows, so with "none" the number of heads does not change the function class.
  "field": the F fields are cut into `heads` contiguous groups of whole fields (sizes differ by at most
           one field; F >= heads required). Head g covers exactly its group's coordinates and its h reads
           only its group, so a layer forms only within-group products (a block-diagonal W with
           ~rank·D²/heads weights). Groups follow the model's field order (categorical, sequence,
           numeric, null-mask, dense); pairs across groups are left to the MLP head.

Before the stack: optional squeeze-excitation re-weighting of the fields (use_se, se_reduction) and an
optional per-field projection to proj_dim (else fields keep model.field_dim).

Training uses `self_ensemble_loss` over two dropout passes; inference is a single pass.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from toss_core.config import ModelConfig
from toss_core.models.layers import MLP, FieldProjection, SqueezeExcitation


def _norm(kind: str, dim: int) -> nn.Module:
    return {"none": nn.Identity, "batch": nn.BatchNorm1d, "layer": nn.LayerNorm}[kind](dim)


class QuadraticLayer(nn.Module):
    """One quadratic layer (the maths in the module docstring).

    Args:
        n_fields: F, the number of fields in x.
        width: W, the width of each field (D = F·W).
        heads: heads the coordinates are split into (model.qnn_alpha.heads).
        rank: rank of each head's quadratic form (model.qnn_alpha.rank).
        group_fields: fields per head for pair_grouping "field" (`field_groups`); None = "none", every
            head reads all of x.
        dropout: dropout on the quadratic term, before the residual.
        norm: "none", "batch" or "layer", applied last.
        residual: add x to the quadratic term (model.qnn_alpha.use_residual).

    Shapes:
        x: [B, D] -> [B, D]
    """

    gather_idx: torch.Tensor  # buffers, when the heads are padded
    keep_idx: torch.Tensor

    def __init__(
        self,
        n_fields: int,
        width: int,
        heads: int,
        rank: int,
        group_fields: list[int] | None,
        dropout: float,
        norm: str,
        residual: bool,
    ) -> None:
        super().__init__()
        dim = n_fields * width
        self.heads, self.rank, self.residual = heads, rank, residual
        self.grouped = group_fields is not None
        self.act = nn.GELU()
        self.dropout = nn.Dropout(dropout)
        self.norm = _norm(norm, dim)
        if group_fields is None:
            self.linear = nn.Linear(dim, rank * dim)
            return
        # Heads of unequal size are padded to the largest group with a zero coordinate (index `dim`).
        self.slot = max(group_fields) * width
        self.padded = len(set(group_fields)) > 1
        if self.padded:
            gather, keep, start = [], [], 0
            for g, n in enumerate(group_fields):
                size = n * width
                gather += list(range(start, start + size)) + [dim] * (self.slot - size)
                keep += list(range(g * self.slot, g * self.slot + size))
                start += size
            self.register_buffer("gather_idx", torch.tensor(gather), persistent=False)
            self.register_buffer("keep_idx", torch.tensor(keep), persistent=False)
        self.weight = nn.Parameter(torch.empty(heads, self.slot, rank * self.slot))  # per head: in x out
        self.bias = nn.Parameter(torch.zeros(heads, rank * self.slot))
        bound = (np.mean(group_fields) * width) ** -0.5
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        if not self.grouped:
            xh = x.view(batch, self.heads, 1, -1)
            h = self.act(self.linear(x)).view(batch, self.heads, self.rank, -1)
            quad = (xh * h).sum(2).reshape(batch, -1)
        else:
            xg = torch.cat([x, x.new_zeros(batch, 1)], dim=1)[:, self.gather_idx] if self.padded else x
            xg = xg.view(batch, self.heads, self.slot).transpose(0, 1)  # [heads, B, slot]
            h = self.act(torch.baddbmm(self.bias.unsqueeze(1), xg, self.weight))
            quad = (xg.unsqueeze(2) * h.view(self.heads, batch, self.rank, self.slot)).sum(2)
            quad = quad.transpose(0, 1).reshape(batch, -1)
            if self.padded:
                quad = quad[:, self.keep_idx]
        out = self.dropout(quad)
        if self.residual:
            out = out + x
        return self.norm(out)


def field_groups(n_fields: int, heads: int) -> list[int]:
    """Fields per head for pair_grouping "field": contiguous, sizes differ by at most one."""
    if n_fields < heads:
        raise ValueError(
            f"model.qnn_alpha.pair_grouping='field' needs at least model.qnn_alpha.heads={heads} fields, "
            f"the model has {n_fields}"
        )
    return [len(part) for part in np.array_split(np.arange(n_fields), heads)]


class QNNAlpha(nn.Module):
    """The QNN-α head: optional SE and per-field projection, n_layers quadratic layers, an MLP to one logit.

    Args:
        n_fields: F, the number of fields.
        field_dim: W, the width of the incoming fields (model.field_dim).
        model: the model section; model.qnn_alpha: proj_dim (field width inside the head, None = W; heads
            must divide it), use_se, se_reduction, heads, rank, pair_grouping, norm, use_residual; and the
            keys every head shares: interaction_layers, head_dropout, mlp_hidden.

    Shapes:
        fields: [B, F, W] -> logits [B]
    """

    def __init__(self, n_fields: int, field_dim: int, model: ModelConfig) -> None:
        super().__init__()
        cfg = model.qnn_alpha
        width = cfg.proj_dim or field_dim
        if width % cfg.heads != 0:
            raise ValueError(f"model.qnn_alpha.heads={cfg.heads} must divide the field width {width}")
        self.se = SqueezeExcitation(n_fields, cfg.se_reduction) if cfg.use_se else nn.Identity()
        self.proj = FieldProjection(n_fields, field_dim, cfg.proj_dim) if cfg.proj_dim else nn.Identity()
        groups = field_groups(n_fields, cfg.heads) if cfg.pair_grouping == "field" else None
        self.layers = nn.Sequential(
            *[
                QuadraticLayer(
                    n_fields,
                    width,
                    cfg.heads,
                    cfg.rank,
                    groups,
                    model.head_dropout,
                    cfg.norm,
                    cfg.use_residual,
                )
                for _ in range(model.interaction_layers)
            ]
        )
        self.head = MLP(n_fields * width, model.mlp_hidden, model.head_dropout, out_dim=1)

    def forward(self, fields: torch.Tensor) -> torch.Tensor:
        x = self.proj(self.se(fields)).flatten(1)
        return self.head(self.layers(x)).squeeze(-1)


def self_ensemble_loss(
    logit1: torch.Tensor, logit2: torch.Tensor, target: torch.Tensor, weight: float
) -> torch.Tensor:
    """QNN-α self-ensemble loss over two dropout passes of the same batch (logits [B], target [B] in {0,1}).

    The ensemble ŷ averages the two passes in LOGIT space (z = (z1 + z2) / 2, ŷ = σ(z)); each pass is also
    pulled towards the ensemble's (detached) probability:
        L = BCE(ŷ, y) + weight · (BCE(σ(z1), ŷ.detach()) + BCE(σ(z2), ŷ.detach()))
    (all BCE terms are batch means). The training loop passes model.qnn_alpha.aux_head_weight as weight.
    """
    target = target.to(logit1.dtype)
    ens = 0.5 * (logit1 + logit2)
    soft = torch.sigmoid(ens).detach()
    main = F.binary_cross_entropy_with_logits(ens, target)
    consistency = F.binary_cross_entropy_with_logits(logit1, soft) + F.binary_cross_entropy_with_logits(
        logit2, soft
    )
    return main + weight * consistency
