"""Group `training`: one model per fold partition and family, their test logits, the optional refit.

The fold assets run every partition of a run in one step (single-run backfill policy) and record each
fold's metrics on its own partition, so the UI shows per-fold AP/WLL/Score. They sit in the `gpu` pool:
dagster.yaml caps how many training steps run at once across runs.
"""

import dagster as dg

from toss_assets import metadata as md
from toss_assets.assets.common import skipped, toss_asset
from toss_assets.fold_share import shares_machine
from toss_assets.partitions import FOLD_PARTITIONS, fold_index
from toss_assets.resources import TossConfigResource, load_time_config
from toss_assets.versions import files_version
from toss_core import steps
from toss_core.config import TossConfig
from toss_core.layout import Layout, enabled_families
from toss_core.util.errors import ArtifactError

TRAIN_POOL = "gpu"
# LightGBM takes a training slot only when the config the code location loads trains it: its skipped step
# would otherwise hold one and keep every per-fold run waiting for a second (docs/scale_out.md).
GBDT_POOL = TRAIN_POOL if load_time_config().gbdt.enabled else None
PREDICTION_INPUTS = ["fold_model", "gbdt_fold_model", "test_cache", "covis_features"]  # what predicts
# Read by dagster-k8s's k8s_job_executor (docs/scale_out.md): the fold step's pod asks for one GPU.
# Outside Kubernetes it is an inert tag.
GPU_STEP_TAGS = {
    "dagster-k8s/config": {"container_config": {"resources": {"limits": {"nvidia.com/gpu": "1"}}}}
}


def _require_matching_folds(cfg: TossConfig) -> None:
    n_parts = len(FOLD_PARTITIONS.get_partition_keys())
    if cfg.cv.n_splits != n_parts:
        raise ArtifactError(
            f"cv.n_splits is {cfg.cv.n_splits} in this run's config but the code location has {n_parts} "
            "fold partitions: set cv.n_splits in the YAML (not per run) and reload the code location"
        )


def train_partitions(context: dg.AssetExecutionContext, layout: Layout, family: str) -> dg.MaterializeResult:
    """Train every fold partition of this run; each partition gets its own metrics as metadata. The data
    version is the digest of the checkpoints written (one version for the partitions of one run)."""
    cfg = layout.cfg
    _require_matching_folds(cfg)
    scores, checkpoints = {}, []
    for key in context.partition_keys:
        r = steps.train_fold(cfg, fold_index(key), layout, family)
        context.log.info(
            f"{family} {key}: Score {r.metrics.get('Score', float('nan')):.5f} "
            f"(prior-only {r.prior_score:.5f}), best epoch {r.best_epoch}, {r.seconds:.1f}s"
        )
        context.add_asset_metadata(
            {
                **md.metrics(r.metrics),
                "prior_score": md.number(r.prior_score),
                "best_epoch": dg.MetadataValue.int(int(r.best_epoch)),
                "seconds": md.number(r.seconds),
                "checkpoint": md.path(r.checkpoint),
                "oof": md.path(r.oof_path),
                "params_source": dg.MetadataValue.text(r.params_source),
                "tuned_params": dg.MetadataValue.json(r.tuned_params),
            },
            partition_key=key,
        )
        scores[key] = r.metrics
        checkpoints.append(r.checkpoint)
    return dg.MaterializeResult(
        metadata={"family": dg.MetadataValue.text(family), "folds_in_run": md.metrics_table(scores, "fold")},
        data_version=files_version(checkpoints),
    )


@toss_asset(
    "training",
    "pytorch",
    ["train_cache", "folds", "covis_features", "tuned_params"],
    partitions_def=FOLD_PARTITIONS,
    pool=TRAIN_POOL,
    op_tags=GPU_STEP_TAGS,
)
@shares_machine(TRAIN_POOL)
def fold_model(context: dg.AssetExecutionContext, toss: TossConfigResource) -> dg.MaterializeResult:
    """DARE + QNN-α trained on one fold: checkpoint and out-of-fold logits under runs/<exp_name>/ (with
    the tuned parameters when tune.enabled; metadata params_source says which)."""
    return train_partitions(context, toss.layout(), "nn")


@toss_asset(
    "training",
    "lightgbm",
    ["train_cache", "folds", "covis_features", "tuned_params"],
    partitions_def=FOLD_PARTITIONS,
    pool=GBDT_POOL,
)
@shares_machine(TRAIN_POOL)
def gbdt_fold_model(context: dg.AssetExecutionContext, toss: TossConfigResource) -> dg.MaterializeResult:
    """LightGBM on the same folds and features; skipped (and ignored by the ensemble) unless gbdt.enabled."""
    layout = toss.layout()
    if not layout.cfg.gbdt.enabled:
        return skipped(context, "gbdt.enabled is false: the ensemble uses the neural folds only")
    if GBDT_POOL is None:
        raise ArtifactError(
            "gbdt.enabled is true in this run's config but not in the YAML the code location loaded, so "
            f"gbdt_fold_model is outside the pool `{TRAIN_POOL}`: set gbdt.enabled in the YAML (not per run) "
            "and reload the code location"
        )
    return train_partitions(context, layout, "gbdt")


@toss_asset(
    "training",
    "numpy",
    PREDICTION_INPUTS,
    partitions_def=FOLD_PARTITIONS,
    pool=TRAIN_POOL,
    op_tags=GPU_STEP_TAGS,
)
@shares_machine(TRAIN_POOL)
def fold_test_logits(context: dg.AssetExecutionContext, toss: TossConfigResource) -> dg.MaterializeResult:
    """Each trained fold of every enabled family predicts the test set: test_logits_fold_K.npz, which
    names the model that made it, so the ensemble never mixes a retrained fold with stale predictions."""
    layout = toss.layout()
    cfg = layout.cfg
    _require_matching_folds(cfg)
    rows, written = {}, []
    for key in context.partition_keys:
        for family in enabled_families(cfg):
            r = steps.predict_test(cfg, fold_index(key), layout, family)
            context.log.info(f"{family} {key}: {r.n_rows} test rows in {r.seconds:.1f}s → {r.path}")
            context.add_asset_metadata(
                {
                    "dagster/row_count": dg.MetadataValue.int(r.n_rows),
                    f"{family}/mean_logit": md.number(r.mean_logit),
                    f"{family}/seconds": md.number(r.seconds),
                    f"{family}/path": md.path(r.path),
                },
                partition_key=key,
            )
            rows[f"{family}/{key}"] = {"mean_logit": r.mean_logit, "seconds": r.seconds}
            written.append(r.path)
    return dg.MaterializeResult(
        metadata={"predicted_in_run": md.metrics_table(rows, "fold")}, data_version=files_version(written)
    )


@toss_asset(
    "training",
    "numpy",
    PREDICTION_INPUTS,
    pool=TRAIN_POOL,
    op_tags=GPU_STEP_TAGS,
)
@shares_machine(TRAIN_POOL)
def refit_model(context: dg.AssetExecutionContext, toss: TossConfigResource) -> dg.MaterializeResult:
    """cv.refit = full: each enabled family trained once on every training row, for what its folds
    selected, and its test logits; skipped with cv.refit = none (the fold models predict the test set)."""
    layout = toss.layout()
    cfg = layout.cfg
    if cfg.cv.refit == "none":
        return skipped(context, "cv.refit is none: the ensemble combines the fold models' test logits")
    metadata: dict[str, object] = {}
    written = []
    for family in enabled_families(cfg):
        r = steps.refit(cfg, family, layout)
        written += [r.checkpoint, r.test_logits]
        context.log.info(f"{family} refit: {r.size} (folds selected {r.fold_sizes}) in {r.seconds:.1f}s")
        metadata[f"{family}/size"] = dg.MetadataValue.int(r.size)
        metadata[f"{family}/fold_sizes"] = dg.MetadataValue.json(r.fold_sizes)
        metadata[f"{family}/seconds"] = md.number(r.seconds)
        metadata[f"{family}/checkpoint"] = md.path(r.checkpoint)
    return dg.MaterializeResult(metadata=metadata, data_version=files_version(written))
