"""Config sections of the network and its training: QNN-α, the embeddings, fields and head, the
optimiser with its batch sampler and weight average."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from toss_core.config.base import Strict


class QNNAlphaConfig(Strict):
    """The QNN-α head's own settings; the field width, layer count, MLP and dropout every head shares are
    in model."""

    heads: int = Field(
        2,
        ge=1,
        description="heads per quadratic layer; must divide the field width (proj_dim or model.field_dim)",
    )
    rank: int = Field(
        2, ge=1, description="quadratic terms summed per coordinate; each layer has rank x D^2 weights"
    )
    proj_dim: int | None = Field(
        None,
        description="per-field projection width before the quadratic layers; null = model.field_dim",
    )
    use_se: bool = Field(
        False, description="squeeze-excitation re-weighting of the fields before the quadratic layers"
    )
    se_reduction: int = Field(
        4, ge=1, description="squeeze-excitation bottleneck: fields // se_reduction hidden units"
    )
    use_residual: bool = Field(True, description="add each quadratic layer's input to its output")
    norm: Literal["none", "batch", "layer"] = Field(
        "layer", description="normalisation after each quadratic layer (layer: independent of the batch)"
    )
    pair_grouping: Literal["none", "field"] = Field(
        "none",
        description="none: each head pairs coordinates across the whole input; field: within its group",
    )
    aux_head_weight: float = Field(
        0.1, ge=0.0, description="weight of the self-ensemble consistency terms (two dropout passes)"
    )


class ModelConfig(Strict):
    emb_dim: int = Field(
        16,
        gt=0,
        description="embedding width of the cat columns (unless cat_embedding_dims) and of DARE's token "
        "representations",
    )
    dare_dropout: float = Field(
        0.0, ge=0.0, lt=1.0, description="dropout on the representation embeddings of the retrieved tokens"
    )
    cat_embedding_dims: dict[str, int] = Field(
        default_factory=dict,
        description="{column: width} for embedded cat columns that should not use emb_dim (e.g. wide ids)",
    )
    head: Literal["qnn_alpha", "mlp", "dcnv2"] = Field(
        "qnn_alpha",
        description="what turns the fields into a logit: QNN-α (model.qnn_alpha), a plain MLP, or DCN-v2",
    )
    field_dim: int = Field(
        16, gt=0, description="width of every field the head sees (each input is projected to it)"
    )
    interaction_layers: int = Field(
        2, ge=1, description="QNN-α quadratic layers, or DCN-v2 cross layers (the MLP head has none)"
    )
    mlp_hidden: list[int] = Field(
        default_factory=lambda: [128], description="hidden widths of the head's MLP (DCN-v2: its deep tower)"
    )
    head_dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout in the head's layers and MLP")
    embed_id_cols: bool | Literal["auto"] | list[str] = Field(
        "auto",
        description="embed features.covis.id_cols: auto (evidence, then a trial), true, false or the listed",
    )
    embed_min_events: float = Field(
        3.0,
        ge=0.0,
        description="auto: embed an id whose values average at least this many minority-class train rows",
    )
    id_min_count: int = Field(
        1,
        ge=1,
        description="fewest training rows of the fold for a categorical value's own embedding row; 1 = all",
    )
    emb_l2: float | Literal["auto"] = Field(
        "auto",
        description="L2 penalty emb_l2 · ½||E||² on the categorical embedding tables; auto: the id trial's",
    )
    emb_dropout: float = Field(
        0.0, ge=0.0, lt=1.0, description="dropout on the categorical embedding fields during training"
    )
    numeric_fields: Literal["grouped", "binned", "per_column"] = Field(
        "grouped",
        description="how numeric columns become the network's fields: grouped, binned or per_column",
    )
    numeric_bins: int = Field(
        16,
        ge=3,
        description="quantile bins per numeric column when numeric_fields = binned",
    )
    dense_bins: int | Literal["auto"] = Field(
        "auto",
        description="quantile bins per co-visitation feature (piecewise-linear part); 0 = off; auto: trial's",
    )
    qnn_alpha: QNNAlphaConfig = Field(
        QNNAlphaConfig(),
        description="the QNN-α head (model.head = qnn_alpha)",
    )

    @field_validator("emb_l2")
    @classmethod
    def _emb_l2_not_negative(cls, v: float | str) -> float | str:
        if not isinstance(v, str) and v < 0:
            raise ValueError(f"emb_l2 must be auto or a penalty >= 0, got {v}")
        return v

    @field_validator("dense_bins")
    @classmethod
    def _dense_bins_off_or_three(cls, v: int | str) -> int | str:
        if not isinstance(v, str) and (v < 0 or v in (1, 2)):
            raise ValueError(f"dense_bins must be auto, 0 (off) or at least 3 bins (two ramps), got {v}")
        return v


class SamplerConfig(Strict):
    type: Literal["none", "balanced"] = Field(
        "none",
        description="none: a plain shuffle per epoch; balanced: a fixed share of positives in every batch",
    )
    pos_fraction: float = Field(
        0.1,
        gt=0.0,
        lt=1.0,
        description="balanced: share of positives per batch (an epoch is one pass over the negatives)",
    )


class EMAConfig(Strict):
    enabled: bool = Field(True, description="keep an exponential moving average of the network weights")
    decay: float = Field(
        0.999,
        gt=0.0,
        lt=1.0,
        description="EMA decay per optimiser step, warmed up as min(decay, (1 + n) / (10 + n)) after n steps",
    )
    eval_with_ema: bool = Field(
        True, description="validate, select the best epoch and predict with the EMA weights"
    )


class TrainConfig(Strict):
    batch_size: int = Field(
        1024,
        gt=0,
        description="training rows per optimiser step",
    )
    eval_batch_size: int = Field(
        8192,
        gt=0,
        description="rows per forward pass when predicting validation and test rows: memory and speed only",
    )
    epochs: int = Field(
        15,
        ge=1,
        description="most passes over the training rows (a cap)",
    )
    max_steps_per_epoch: int | None = Field(
        None,
        ge=1,
        description="cap an epoch at this many optimiser steps; null = one full pass of the sampler",
    )
    lr: float = Field(2e-3, gt=0, description="peak AdamW learning rate, reached after the warm-up")
    weight_decay: float = Field(1e-5, ge=0, description="AdamW decoupled weight decay")
    warmup_epochs: float = Field(
        0.2,
        ge=0,
        description="linear warm-up length in (fractional) epochs, then a decay by lr_decay per epoch",
    )
    lr_decay: float = Field(
        0.85,
        gt=0,
        le=1,
        description="learning-rate multiplier per epoch after the warm-up (exponential; 1 = constant)",
    )
    grad_clip_norm: float | None = Field(
        1.0, ge=0, description="clip the global gradient L2 norm to this; null or 0 = no clipping"
    )
    early_stop_patience: int = Field(
        2, ge=1, description="stop a fold after this many epochs without a better select_metric"
    )
    select_metric: Literal["Score_cal", "Score"] = Field(
        "Score_cal",
        description="validation metric for early stopping and the best epoch: Score_cal or Score",
    )
    lr_scaling: Literal["none", "sqrt", "linear"] = Field(
        "none",
        description="how the peak rate follows the batch size: sqrt, linear, or none (lr whatever the batch)",
    )
    lr_base_batch: int = Field(
        1024, gt=0, description="the batch size at which lr is the peak rate when lr_scaling scales it"
    )
    data_on_device: bool | Literal["auto"] = Field(
        "auto",
        description="hold the model's input rows on the training device: auto, true (always), false (stream)",
    )
    device_memory_share: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description="most share of the free device memory data_on_device=auto lets the data take",
    )
    sampler: SamplerConfig = Field(SamplerConfig(), description="which training rows make up each batch")
    ema: EMAConfig = Field(EMAConfig(), description="moving average of the network weights")
