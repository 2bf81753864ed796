"""CTR models: pure nn.Modules composed from layers.py (no optimiser, device or training loop here).

    build_model(spec, cfg, head=None) -> CTRModel (an nn.Module)
    model(batch) -> logits [B], batch a dict of tensors:
        cat long [B, n_cat], num float [B, n_num], isna float [B, n_isna] (if spec.isna_cols),
        seq long [B, L] (left-aligned, 0 = padding), seq_len long [B] (if spec.seq_col),
        qtok long [B, n_qtok] (if spec.qtok_cols), dense float [B, n_dense] (if spec.dense_cols).

Modules: layers.py (building blocks), dare.py (sequence encoder), qnn_alpha.py (QNN-α head and its
self-ensemble loss), baselines.py (MLP and DCN-v2 heads), wrapper.py (fields + head = the model).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from toss_core.config import TossConfig
    from toss_core.models.wrapper import CTRModel
    from toss_core.spec import FeatureSpec


def build_model(spec: FeatureSpec, cfg: TossConfig, head: str | None = None) -> CTRModel:
    """The CTR model for a cache's feature spec.

    head: None = cfg.model.head ("qnn_alpha", "mlp" or "dcnv2"); the throughput benchmarks name one to
    compare heads under one config.
    Raises ValueError naming the config key when the config cannot build a model for this spec.
    """
    from toss_core.models.wrapper import CTRModel

    return CTRModel(spec, cfg, head or cfg.model.head)
