"""Small building blocks the models are composed from (embeddings, projections, MLP, SE, cross layers).

Every block works on field tensors [B, F, W] (F fields of width W) or flat vectors [B, D]; all are
vectorised over fields with einsum, so no block loops over columns at run time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import torch
from torch import nn

EMB_INIT_STD = 0.05
"""Initial std of embedding tables: small, so ~150 fields summed by the first layer start near zero."""


class FieldProjection(nn.Module):
    """An independent linear map per field, all fields in one einsum.

    Args:
        n_fields: F, the number of fields (each has its own weight and bias).
        in_dim: width of each input field.
        out_dim: width of each output field.

    Shapes:
        fields: [B, F, in_dim] -> [B, F, out_dim]
    """

    def __init__(self, n_fields: int, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_fields, in_dim, out_dim))
        self.bias = nn.Parameter(torch.zeros(n_fields, out_dim))
        nn.init.uniform_(self.weight, -(in_dim**-0.5), in_dim**-0.5)

    def forward(self, fields: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bfi,fio->bfo", fields, self.weight) + self.bias


class CategoricalFields(nn.Module):
    """One embedded field per categorical column.

    Columns that share an embedding width share one table (rows offset per column); a column whose width
    differs from `width` is projected to it by a per-field linear map. Id 0 is the column's null/unknown
    value and has its own learned row. `keep_frequent` sends ids seen too rarely in training to that row
    (a persistent buffer, so a checkpoint predicts with the same mapping); `penalty` is the L2 term on
    every table.

    Args:
        cardinalities: per column, the number of ids (0..cardinality-1, 0 = null/unknown).
        dims: per column, its embedding width (model.cat_embedding_dims, default model.emb_dim).
        width: the common field width every column is projected to.

    Shapes:
        ids: [B, C] long -> [B, C, width]   (C = len(cardinalities))
        penalty(): scalar
    """

    inverse: torch.Tensor  # buffers (register_buffer leaves their type to mypy's guess)
    remap: torch.Tensor
    remap_offsets: torch.Tensor

    def __init__(self, cardinalities: list[int], dims: list[int], width: int) -> None:
        super().__init__()
        self.tables = nn.ModuleList()
        self.projections = nn.ModuleList()
        self.cardinalities = list(cardinalities)
        for i, dim in enumerate(sorted(set(dims))):
            cols = [c for c, d in enumerate(dims) if d == dim]
            cards = torch.tensor([cardinalities[c] for c in cols])
            offsets = torch.cumsum(cards, 0) - cards
            self.register_buffer(f"cols_{i}", torch.tensor(cols), persistent=False)
            self.register_buffer(f"offsets_{i}", offsets, persistent=False)
            table = nn.Embedding(int(cards.sum()), dim)
            nn.init.normal_(table.weight, std=EMB_INIT_STD)
            self.tables.append(table)
            self.projections.append(FieldProjection(len(cols), dim, width) if dim != width else nn.Identity())
        order = [c for dim in sorted(set(dims)) for c, d in enumerate(dims) if d == dim]
        self.register_buffer("inverse", torch.argsort(torch.tensor(order)), persistent=False)
        # remap[c][id] = the id column c's value is embedded as (identity until keep_frequent)
        self.register_buffer("remap", _concat_ranges(self.cardinalities))
        starts = torch.tensor([0, *self.cardinalities[:-1]]).cumsum(0)
        self.register_buffer("remap_offsets", starts, persistent=False)

    def keep_frequent(self, counts: list[torch.Tensor], min_count: int) -> None:
        """Map every id whose training count (counts[c], one per id of column c) is below min_count to 0."""
        rows = []
        for card, count in zip(self.cardinalities, counts, strict=True):
            ids = torch.arange(card)
            rows.append(torch.where(count.to(ids.device) >= min_count, ids, torch.zeros_like(ids)))
        self.remap.copy_(torch.cat(rows))

    def _mapped(self, ids: torch.Tensor) -> torch.Tensor:
        return self.remap[ids + self.remap_offsets]

    def _rows(self, ids: torch.Tensor) -> Iterator[tuple[nn.Module, nn.Module, torch.Tensor]]:
        """(table, projection, table row ids) per shared-width group."""
        for i, (table, proj) in enumerate(zip(self.tables, self.projections, strict=True)):
            yield table, proj, ids[:, getattr(self, f"cols_{i}")] + getattr(self, f"offsets_{i}")

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        parts = [proj(table(rows)) for table, proj, rows in self._rows(self._mapped(ids))]
        return torch.cat(parts, dim=1)[:, self.inverse]

    def penalty(self) -> torch.Tensor:
        """½ Σ ||E||² over every table, every row: added to the mean loss it pulls each row towards zero on
        every step, so a value seen in few batches is held near zero between its rare data gradients
        (FuxiCTR's embedding_regularizer); an L2 on the rows a batch uses would spare exactly those."""
        return torch.stack([weight.float().pow(2).sum() for weight in self.tables.parameters()]).sum() / 2


def _concat_ranges(sizes: list[int]) -> torch.Tensor:
    return torch.cat([torch.arange(n) for n in sizes]) if sizes else torch.zeros(0, dtype=torch.long)


def signed_log1p(x: torch.Tensor) -> torch.Tensor:
    """sign(x)·log1p(|x|): tames heavy tails without train statistics; monotone, keeps 0 at 0."""
    return torch.sign(x) * torch.log1p(torch.abs(x))


_SUFFIX = re.compile(r"(.+)_\d+")


def column_families(cols: list[str]) -> list[int]:
    """Family index per column, numbered in order of first appearance.

    A family is the column name without its trailing `_<digits>` (l_feat_3 and l_feat_27 -> l_feat); a
    name without such a suffix is a family of its own (even if `name_1` also exists). Depends only on the
    names, so the spec saved in a checkpoint rebuilds the same grouping.
    """
    keys = []
    for col in cols:
        match = _SUFFIX.fullmatch(col)
        keys.append(("family", match.group(1)) if match else ("column", col))
    index = {key: i for i, key in enumerate(dict.fromkeys(keys))}
    return [index[key] for key in keys]


class NumericFields(nn.Module):
    """Numeric columns as fields, one field per group of columns.

    Field g = Σ_{j in g} signed_log1p(x_j) · w_j + b_g: with one column per field this is a per-column
    embedding (the value scales a learned vector); with several it is a Linear(group size -> width) over
    the group's signed logs. Rows w_j start at EMB_INIT_STD / sqrt(group size), so a field's initial scale
    does not grow with its size.

    Args:
        groups: per column j, the index of its field (0..G-1, every index used; `column_families`).
        width: the field width.

    Shapes:
        values: [B, N] float (imputed, unscaled) -> [B, G, width]   (N = len(groups), G = n_fields)
    """

    member: torch.Tensor  # a buffer

    def __init__(self, groups: list[int], width: int) -> None:
        super().__init__()
        index = torch.tensor(groups)
        sizes = torch.bincount(index)
        scale = EMB_INIT_STD / sizes[index].float().sqrt().unsqueeze(1)
        self.weight = nn.Parameter(torch.randn(len(groups), width) * scale)
        self.bias = nn.Parameter(torch.randn(len(sizes), width) * EMB_INIT_STD)
        self.per_column = groups == list(range(len(groups)))
        # [N, G, 1] 0/1 membership: one matmul with a block weight, never a [B, N, width] temporary.
        member = nn.functional.one_hot(index, len(sizes)).float().unsqueeze(-1)
        self.register_buffer("member", member, persistent=False)

    @property
    def n_fields(self) -> int:
        return self.bias.shape[0]

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        x = signed_log1p(values)
        if self.per_column:
            return x.unsqueeze(-1) * self.weight + self.bias
        block = (self.member * self.weight.unsqueeze(1)).flatten(1)  # [N, G·width], row j = w_j in field g(j)
        return (x @ block).view(len(x), self.n_fields, -1) + self.bias


class BinnedNumericFields(NumericFields):
    """NumericFields plus a piecewise-linear encoding (Gorishniy et al. 2022) of each column's quantile bins.

    Field g = Σ_{j in g} [signed_log1p(x_j) · w_j + Σ_t r_jt(x_j) · v_jt] + b_g, where r_jt is x_j's
    position within the t-th interval between consecutive bin edges (0 below it, 1 above it, linear inside),
    so each column gets a learned continuous piecewise-linear curve between its outer edges, and the
    signed-log term keeps a slope in the tails. `edges` [N, n_bins - 1] are the interior quantiles
    (levels k / n_bins) of each column, fitted on training rows by `fit_edges`; they are a persistent
    buffer, so checkpoints carry them. An interval of zero width (repeated edges, e.g. a point mass or a
    constant column) becomes a step at that value, never a division by zero.

    Args:
        groups: per column j, the index of its field (as NumericFields).
        width: the field width.
        n_bins: quantile bins per column (model.numeric_bins): n_bins - 1 interior edges, n_bins - 2 ramps.

    Shapes:
        values: [B, N] float -> [B, G, width]
        fit_edges(values): [S, N] float sample of training rows -> sets edges [N, n_bins - 1]
        ramps(values): [B, N] -> [B, N, n_bins - 2]
    """

    edges: torch.Tensor  # a buffer

    def __init__(self, groups: list[int], width: int, n_bins: int) -> None:
        super().__init__(groups, width)
        n_edges = n_bins - 1
        n_cols = len(groups)
        sizes = torch.bincount(torch.tensor(groups))[torch.tensor(groups)].float()
        scale = EMB_INIT_STD / (sizes * (n_edges - 1)).sqrt().view(-1, 1, 1)
        self.ramp_weight = nn.Parameter(torch.randn(n_cols, n_edges - 1, width) * scale)
        placeholder = torch.linspace(-1.0, 1.0, n_edges).expand(n_cols, n_edges).clone()
        self.register_buffer("edges", placeholder)

    @torch.no_grad()
    def fit_edges(self, values: torch.Tensor) -> None:
        """Set `edges` to the interior quantiles of `values` [S, N] (linear interpolation, as np.quantile)."""
        n_edges = self.edges.shape[1]
        ordered = values.to(self.edges).sort(dim=0).values
        pos = torch.arange(1, n_edges + 1, device=ordered.device) / (n_edges + 1) * (len(ordered) - 1)
        lo = pos.floor().long()
        hi = pos.ceil().long()
        frac = (pos - lo).unsqueeze(1)
        self.edges.copy_((ordered[lo] + (ordered[hi] - ordered[lo]) * frac).T)

    def ramps(self, values: torch.Tensor) -> torch.Tensor:
        """[B, N] -> [B, N, n_edges - 1]: position of each value within each interval, clamped to [0, 1]."""
        lo, hi = self.edges[:, :-1], self.edges[:, 1:]
        span = hi - lo
        x = values.unsqueeze(-1)
        inside = ((x - lo) / torch.where(span > 0, span, 1.0)).clamp(0.0, 1.0)
        return torch.where(span > 0, inside, (x > lo).to(inside.dtype))

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        feats = torch.cat([signed_log1p(values).unsqueeze(-1), self.ramps(values)], dim=-1)  # [B, N, T]
        weight = torch.cat([self.weight.unsqueeze(1), self.ramp_weight], dim=1)  # [N, T, width]
        # Block weight [N·T, G·width]: column j's rows sit in its family's slot, zeros elsewhere.
        block = (self.member.unsqueeze(1) * weight.unsqueeze(2)).flatten(2).flatten(0, 1)
        return (feats.flatten(1) @ block).view(len(values), self.n_fields, -1) + self.bias


class MLP(nn.Module):
    """Linear -> ReLU -> Dropout blocks; with `out_dim` a final plain Linear (e.g. to one logit).

    Args:
        in_dim: input width D.
        hidden: widths of the hidden blocks, in order (may be empty).
        dropout: dropout probability after each hidden ReLU.
        out_dim: width of a final Linear without activation; None = end at the last hidden block.

    Shapes:
        x: [B, D] -> [B, out_dim] (the attribute `out_dim`: the given out_dim, else hidden[-1], else D)
    """

    def __init__(self, in_dim: int, hidden: list[int], dropout: float, out_dim: int | None = None) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for h in hidden:
            layers += [nn.Linear(in_dim, h), nn.ReLU(), nn.Dropout(dropout)]
            in_dim = h
        if out_dim is not None:
            layers.append(nn.Linear(in_dim, out_dim))
            in_dim = out_dim
        self.net = nn.Sequential(*layers)
        self.out_dim = in_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SqueezeExcitation(nn.Module):
    """Field re-weighting (FiBiNET-style): mean-pool each field, a 2-layer bottleneck, sigmoid·2 scales.

    The scale is 2·sigmoid so that an untrained layer (logits near 0) leaves fields roughly unchanged.

    Args:
        n_fields: F, the number of fields.
        reduction: bottleneck ratio: the hidden layer has max(1, F // reduction) units.

    Shapes:
        fields: [B, F, W] -> [B, F, W]   (each field times its scale in (0, 2))
    """

    def __init__(self, n_fields: int, reduction: int) -> None:
        super().__init__()
        hidden = max(1, n_fields // reduction)
        self.net = nn.Sequential(nn.Linear(n_fields, hidden), nn.ReLU(), nn.Linear(hidden, n_fields))

    def forward(self, fields: torch.Tensor) -> torch.Tensor:
        scale = 2.0 * torch.sigmoid(self.net(fields.mean(dim=-1)))
        return fields * scale.unsqueeze(-1)


class CrossLayerV2(nn.Module):
    """DCN-v2 cross layer: x_{l+1} = x_0 ⊙ (W x_l + b) + x_l (full-rank W).

    Args:
        dim: D, the width of x_0 and x_l.

    Shapes:
        x0: [B, D], x: [B, D] -> [B, D]
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, dim)

    def forward(self, x0: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x0 * self.linear(x) + x
