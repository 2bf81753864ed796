"""CatBoost parameters: toss's defaults, then the config; seed, threads and the device from the run."""

from __future__ import annotations

from typing import Any

from toss_core.config import ConfigError, TossConfig
from toss_core.tabular.inputs import cpu_threads


def task_type(cfg: TossConfig) -> str:
    """GPU when device is cuda, or auto and CatBoost sees a GPU; CPU otherwise."""
    if cfg.runtime.device == "cpu":
        return "CPU"
    if cfg.runtime.device == "cuda":
        return "GPU"
    from catboost.utils import get_gpu_device_count

    return "GPU" if get_gpu_device_count() > 0 else "CPU"


def catboost_params(cfg: TossConfig) -> dict[str, Any]:
    """Logloss on the raw labels (no class weights: the OOF logits stay log-odds at the true prior, which
    the ensemble's calibrator moves to the metric's 50:50 prior, as for every family); catboost.params
    last, so a user's value always wins."""
    c = cfg.catboost
    params: dict[str, Any] = {
        "loss_function": "Logloss",
        "eval_metric": "Logloss",
        "iterations": c.iterations,
        "depth": c.depth,
        "random_seed": cfg.seed,
        "thread_count": cpu_threads(cfg),
        "task_type": task_type(cfg),
        "allow_writing_files": False,
        "verbose": False,
    }
    if c.learning_rate is not None:
        params["learning_rate"] = c.learning_rate
    params.update(c.params)
    return params


def classifier(params: dict[str, Any]) -> Any:
    """An untrained CatBoostClassifier; a parameter CatBoost does not know, or a value it refuses, is a
    ConfigError naming catboost.params (raised before any data is read)."""
    import catboost

    try:
        return catboost.CatBoostClassifier(**params)
    except (TypeError, catboost.CatBoostError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"catboost.params: CatBoost refuses these parameters ({first})") from None
