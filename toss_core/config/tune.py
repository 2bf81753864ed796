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


class TuneConfig(Strict):
    """Hyperparameter search (Optuna) per model family; `toss tune` and the tuned_params asset."""

    enabled: bool = Field(
        False,
        description="tune before training, and train the fold models with the tuned parameters",
    )
    families: list[str] | None = Field(
        None, description="families searched (those also in `families`); null = every enabled family"
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
        description="base of the sampler seeds (None = the config seed)",
    )
    pruner: Literal["median", "hyperband", "none"] = Field(
        "median", description="stops network trials whose per-epoch Score_cal trails the others"
    )
    storage: str | None = Field(
        None,
        description="SQLAlchemy URL of the study database, shared by every worker; None = a sqlite file",
    )
    study_name: str | None = Field(
        None,
        description="Optuna study name; None = <exp_name>-<family>-<fingerprint of the inputs>",
    )
    space: dict[str, dict[str, ParamRange]] = Field(
        default_factory=dict,
        description="per family, config key path → range; replaces that family's default space as a whole",
    )

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
