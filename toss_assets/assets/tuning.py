"""Group `training`: the hyperparameter search (`tuned_params`) upstream of the fold models.

One asset for the families of tune.families that are enabled: each gets trials added to its Optuna
study (tune.storage) and its best parameters written to runs/<exp>/tuned/<family>.json, which the fold
assets then train with where they beat the defaults on a fold the search did not see
(toss_core/tune/verdict.py). tune.enabled false: a skipped materialisation, and the graph is as untuned.
Several runs (or pods) materialising it at once share each study through the storage.
"""

import json

import dagster as dg

from toss_assets import metadata as md
from toss_assets.assets.common import skipped, toss_asset
from toss_assets.assets.training import GPU_STEP_TAGS, TRAIN_POOL
from toss_assets.fold_share import shares_machine
from toss_assets.resources import TossConfigResource
from toss_assets.versions import data_version
from toss_core import steps
from toss_core.families import registry
from toss_core.util.results import TuneResult


def tune_metadata(r: TuneResult) -> dict[str, dg.MetadataValue]:
    """Best value and parameters, the trials table, the history and importance plots, counts, time."""
    prefix = f"{r.family}/"
    meta = {
        "best_value": md.number(r.best_value) if r.best_value is not None else None,
        "best_params": dg.MetadataValue.json(r.best_params),
        "against_defaults": dg.MetadataValue.json(r.against_defaults) if r.against_defaults else None,
        "trials": md.trials_table(r.trials),
        "trials_run": dg.MetadataValue.int(r.trials_run),
        "trials_complete": dg.MetadataValue.int(r.n_complete),
        "trials_pruned": dg.MetadataValue.int(r.n_pruned),
        "trials_failed": dg.MetadataValue.int(r.n_failed),
        "seconds": md.number(r.seconds),
        "study": dg.MetadataValue.text(f"{r.study_name} in {r.storage}"),
        "fingerprint": dg.MetadataValue.text(r.fingerprint),
        "tuned_file": md.path(r.path) if r.path is not None else None,
        "history": md.image(r.history_png, "optimisation history") if r.history_png else None,
        "importance": md.image(r.importance_png, "parameter importances") if r.importance_png else None,
    }
    return {prefix + k: v for k, v in meta.items() if v is not None}


@toss_asset(
    "training",
    "optuna",
    ["train_cache", "folds", "covis_features"],
    pool=TRAIN_POOL,
    op_tags=GPU_STEP_TAGS,
)
@shares_machine(TRAIN_POOL)
def tuned_params(context: dg.AssetExecutionContext, toss: TossConfigResource) -> dg.MaterializeResult:
    """Optuna search per enabled family (tune.*): the best parameters the fold models train with."""
    ctx = toss.context()
    families = [f.name for f in registry.tuned(ctx.cfg)]
    if not families:
        return skipped(context, "tune.enabled is false (or no enabled family in tune.families)")
    metadata: dict[str, dg.MetadataValue] = {}
    best = []  # what the fold models train with: each family's best parameters and whether they are used
    for family in families:
        r = steps.tune(ctx, family)
        context.log.info(
            f"tune {family}: best {md.rounded(r.best_value) if r.best_value is not None else None} after "
            f"{r.n_complete} complete trials "
            f"({r.trials_run} this run): {json.dumps(r.best_params)}"
        )
        metadata.update(tune_metadata(r))
        used = bool(r.against_defaults and r.against_defaults["use_tuned"])
        best.append(
            f"{family}:{r.fingerprint}:{used}:{json.dumps(r.best_params, sort_keys=True, default=str)}"
        )
    return dg.MaterializeResult(metadata=metadata, data_version=data_version("tuned", *best))
