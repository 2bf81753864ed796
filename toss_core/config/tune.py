"""Config section of the hyperparameter search (toss_core.tune): the searched space per family."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from toss_core.config.base import Strict


class ParamRange(Strict):
    """One searched parameter: a numeric range {low, high, log} or a list of {choices}."""

    low: int | float | None = Field(None, description="smallest value tried (with high)")
    high: int | float | None = Field(None, description="largest value tried (with low)")
    log: bool = Field(False, description="sample on a log scale (low must be > 0)")
    choices: list[Any] | None = Field(None, description="the values tried, instead of low/high")

    @model_validator(mode="after")
    def _one_kind(self) -> ParamRange:
        if self.choices is not None:
            if self.low is not None or self.high is not None or not self.choices:
                raise ValueError("give either a non-empty list of choices or low and high, not both")
            return self
        if self.low is None or self.high is None:
            raise ValueError("give low and high (or choices)")
        if self.low >= self.high:
            raise ValueError(f"empty range: low {self.low} must be below high {self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"log scale needs low > 0, got {self.low}")
        return self


def _gbdt_space() -> dict[str, ParamRange]:
    # Around the LightGBM defaults (toss_core/gbdt/params.py) and LightGBM's own ordinary settings (31
    # leaves, 20 rows per leaf, little smoothing), which did better on a public CTR set (issue 12).
    return {
        "gbdt.params.learning_rate": ParamRange(low=0.01, high=0.2, log=True),
        "gbdt.params.num_leaves": ParamRange(low=7, high=255, log=True),
        "gbdt.params.min_data_in_leaf": ParamRange(low=10, high=1000, log=True),
        "gbdt.params.feature_fraction": ParamRange(low=0.2, high=1.0),
        "gbdt.params.bagging_fraction": ParamRange(low=0.5, high=1.0),
        "gbdt.params.lambda_l2": ParamRange(low=1e-3, high=100.0, log=True),
        "gbdt.params.cat_smooth": ParamRange(low=1.0, high=100.0, log=True),
        "gbdt.params.min_data_per_group": ParamRange(low=10, high=500, log=True),
        "gbdt.id_encoding": ParamRange(choices=["auto", "native", "target", "frequency"]),
    }


def _nn_space() -> dict[str, ParamRange]:
    # Around the network defaults (train.lr 2e-3, emb_dim 16, dropout 0.1): early stopping picks the
    # epochs, the per-epoch decay of the rate shapes how fast it gets there, and the regularisers are
    # searched because the network peaked at its first epoch on some real sets.
    return {
        "train.lr": ParamRange(low=3e-4, high=1e-2, log=True),
        "train.weight_decay": ParamRange(low=1e-7, high=1e-3, log=True),
        "train.batch_size": ParamRange(choices=[512, 1024, 2048]),
        "model.emb_dim": ParamRange(choices=[8, 16, 32]),
        "model.qnn_alpha.dropout": ParamRange(low=0.0, high=0.3),
        "train.lr_decay": ParamRange(low=0.3, high=0.9),
        # the embedding regularisers (issue 13): none won on every data set as a fixed default
        "model.emb_l2": ParamRange(choices=[0.0, 0.001, 0.01, 0.1]),
        "model.id_min_count": ParamRange(choices=[1, 5, 20]),
        "model.emb_dropout": ParamRange(low=0.0, high=0.3),
    }


class TuneSpace(Strict):
    """Per family, config key path → range. A family's mapping replaces its default as a whole."""

    gbdt: dict[str, ParamRange] = Field(
        default_factory=_gbdt_space,
        description="LightGBM: learning_rate, num_leaves, min_data_in_leaf, feature_fraction, "
        "bagging_fraction, lambda_l2 (log 1e-3..100), cat_smooth, min_data_per_group, gbdt.id_encoding; "
        "keys under gbdt.* only",
    )
    nn: dict[str, ParamRange] = Field(
        default_factory=_nn_space,
        description="network: train.lr (log 3e-4..1e-2), train.weight_decay, train.batch_size, "
        "model.emb_dim, model.qnn_alpha.dropout, train.lr_decay, model.emb_l2, model.id_min_count, "
        "model.emb_dropout; keys under model, sequence, train, sampler, ema only",
    )


class TuneConfig(Strict):
    """Hyperparameter search (Optuna) per model family; `toss tune` and the tuned_params asset."""

    enabled: bool = Field(
        False,
        description="tune before training: the pipeline runs the study and the fold models train with "
        "runs/<exp_name>/tuned/<family>.json on top of the config (false: the graph is as without tuning)",
    )
    families: list[Literal["nn", "gbdt"]] = Field(
        default_factory=lambda: ["nn", "gbdt"],
        description="families searched (those also enabled: gbdt only with gbdt.enabled)",
    )
    n_trials: int = Field(20, ge=1, description="trials each `toss tune` process adds to the study")
    timeout_s: float | None = Field(
        None, gt=0, description="stop starting new trials after this many seconds (None = no limit)"
    )
    folds: list[int] = Field(
        default_factory=lambda: [0],
        description="folds a trial trains and is scored on (the mean of their calibrated Score_cal)",
    )
    sampler: Literal["tpe", "random"] = Field("tpe", description="Optuna sampler")
    seed: int | None = Field(
        None,
        description="sampler seed; None = the config seed plus the trials the study already holds (a "
        "resumed study does not repeat its start-up points). Give each concurrent worker its own",
    )
    pruner: Literal["median", "hyperband", "none"] = Field(
        "median", description="stops network trials whose per-epoch Score_cal trails the others"
    )
    storage: str | None = Field(
        None,
        description="SQLAlchemy URL of the study database, shared by every worker (e.g. "
        "postgresql://user@host/db); None = sqlite under runs/<exp_name>/tuned/study.db",
    )
    study_name: str | None = Field(
        None,
        description="None = <exp_name>-<family>-<fingerprint of data, folds, space and fixed config>, so "
        "a changed input starts a new study and an unchanged one continues",
    )
    space: TuneSpace = Field(TuneSpace(), description="the searched parameters, per family")

    @field_validator("storage")
    @classmethod
    def _storage_url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        try:
            make_url(v).get_dialect()
        except (ArgumentError, NoSuchModuleError, ValueError) as exc:
            raise ValueError(
                f"not a usable SQLAlchemy URL ({exc}); e.g. sqlite:///runs/x/study.db or postgresql://u@h/db"
            ) from None
        return v
