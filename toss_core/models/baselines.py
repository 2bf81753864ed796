"""Baseline heads over the same field embeddings as QNN-α: a plain MLP and DCN-v2 (cross network + deep).

Both take fields [B, F, W] and return one logit [B]. They are sized by the head-independent keys of
`model` that QNN-α also reads, so a comparison is like for like: the MLP uses mlp_hidden/head_dropout;
DCN-v2 stacks interaction_layers full-rank cross layers in parallel with the mlp_hidden deep tower (the
DCN-v2 "parallel" structure), then one Linear.
"""

from __future__ import annotations

import torch
from torch import nn

from toss_core.config import ModelConfig
from toss_core.models.layers import MLP, CrossLayerV2


class MLPHead(nn.Module):
    """Flattened fields -> LayerNorm -> MLP(mlp_hidden) -> one logit.

    The LayerNorm matters: fields start at embedding scale (std ~0.05), so without it the first Linear sees
    near-zero inputs and the MLP barely moves from a constant in a few epochs (QNN-α normalises likewise).

    Args:
        n_fields: F, the number of fields.
        field_dim: W, the width of each field.
        cfg: model; mlp_hidden and head_dropout are used.

    Shapes:
        fields: [B, F, W] -> logits [B]
    """

    def __init__(self, n_fields: int, field_dim: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(n_fields * field_dim)
        self.mlp = MLP(n_fields * field_dim, cfg.mlp_hidden, cfg.head_dropout, out_dim=1)

    def forward(self, fields: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.norm(fields.flatten(1))).squeeze(-1)


class DCNv2Head(nn.Module):
    """DCN-v2: x0 = flattened fields; cross tower (n_layers CrossLayerV2) ∥ deep tower -> Linear -> logit.

    Args:
        n_fields: F, the number of fields.
        field_dim: W, the width of each field.
        cfg: model; interaction_layers (cross layers), mlp_hidden and head_dropout (deep tower) are used.

    Shapes:
        fields: [B, F, W] -> logits [B]
    """

    def __init__(self, n_fields: int, field_dim: int, cfg: ModelConfig) -> None:
        super().__init__()
        dim = n_fields * field_dim
        self.cross = nn.ModuleList([CrossLayerV2(dim) for _ in range(cfg.interaction_layers)])
        self.deep = MLP(dim, cfg.mlp_hidden, cfg.head_dropout)
        self.out = nn.Linear(dim + self.deep.out_dim, 1)

    def forward(self, fields: torch.Tensor) -> torch.Tensor:
        x0 = fields.flatten(1)
        x = x0
        for layer in self.cross:
            x = layer(x0, x)
        return self.out(torch.cat([x, self.deep(x0)], dim=1)).squeeze(-1)
