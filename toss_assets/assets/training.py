"""Group `training`: per enabled model family, its fold models and their test logits; the optional refit.

The graph grows from the family registry: each family the loaded config enables (`families:`) gets
`<family>_fold_model` and `<family>_test_logits`, both partitioned by fold. The fold assets run every
partition of a run in one step (single-run backfill policy) and record each fold's metrics on its own
partition, so the UI shows per-fold AP/WLL/Score. A family that takes a GPU slot sits in the `gpu` pool:
dagster.yaml caps how many training steps run at once across runs.
"""

import dagster as dg

from toss_assets import metadata as md
from toss_assets.assets.common import skipped, toss_asset
from toss_assets.fold_share import shares_machine
from toss_assets.partitions import FOLD_PARTITIONS, fold_index
from toss_assets.resources import TossConfigResource
from toss_assets.versions import family_code_version, files_version
from toss_core import steps
from toss_core.config import TossConfig
from toss_core.context import RunContext
from toss_core.families.base import Family
from toss_core.util.errors import ArtifactError

TRAIN_POOL = "gpu"
# Read by dagster-k8s's k8s_job_executor (docs/scale_out.md): the fold step's pod asks for one GPU.
# Outside Kubernetes it is an inert tag.
GPU_STEP_TAGS = {
    "dagster-k8s/config": {"container_config": {"resources": {"limits": {"nvidia.com/gpu": "1"}}}}
}


def fold_model_key(family: str) -> str:
    return f"{family}_fold_model"


def test_logits_key(family: str) -> str:
    return f"{family}_test_logits"


def _require_matching_folds(cfg: TossConfig) -> None:
    n_parts = len(FOLD_PARTITIONS.get_partition_keys())
    if cfg.cv.n_splits != n_parts:
        raise ArtifactError(
            f"cv.n_splits is {cfg.cv.n_splits} in this run's config but the code location has {n_parts} "
            "fold partitions: set cv.n_splits in the YAML (not per run) and reload the code location"
        )


def require_graph_families(ctx: RunContext, loaded: list[str]) -> None:
    """The run's `families` must be the ones the code location built assets for."""
    missing = [f for f in ctx.family_names if f not in loaded]
    if missing:
        raise ArtifactError(
            f"families lists {missing} in this run's config, but the code location was loaded with "
            f"families {loaded}: set `families` in the YAML (not per run) and reload the code location"
        )


def train_partitions(context: dg.AssetExecutionContext, ctx: RunContext, family: str) -> dg.MaterializeResult:
    """Train every fold partition of this run; each partition gets its own metrics as metadata. The data
    version is the digest of the checkpoints written (one version for the partitions of one run)."""
    _require_matching_folds(ctx.cfg)
    scores, checkpoints = {}, []
    for key in context.partition_keys:
        r = steps.train_fold(ctx, family, fold_index(key))
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


def predict_partitions(
    context: dg.AssetExecutionContext, ctx: RunContext, family: str
) -> dg.MaterializeResult:
    """Each trained fold partition of `family` predicts the test set: test_logits_fold_K.npz, which names
    the model that made it, so the ensemble never mixes a retrained fold with stale predictions."""
    _require_matching_folds(ctx.cfg)
    rows, written = {}, []
    for key in context.partition_keys:
        r = steps.predict_test(ctx, family, fold_index(key))
        context.log.info(f"{family} {key}: {r.n_rows} test rows in {r.seconds:.1f}s → {r.path}")
        context.add_asset_metadata(
            {
                "dagster/row_count": dg.MetadataValue.int(r.n_rows),
                "mean_logit": md.number(r.mean_logit),
                "seconds": md.number(r.seconds),
                "path": md.path(r.path),
            },
            partition_key=key,
        )
        rows[key] = {"mean_logit": r.mean_logit, "seconds": r.seconds}
        written.append(r.path)
    return dg.MaterializeResult(
        metadata={"predicted_in_run": md.metrics_table(rows, "fold")}, data_version=files_version(written)
    )


def family_assets(family: Family) -> list[dg.AssetsDefinition]:
    """`<family>_fold_model` and `<family>_test_logits` of one registered family."""
    slot = {"pool": TRAIN_POOL, "op_tags": GPU_STEP_TAGS} if family.takes_gpu_slot else {}
    version = family_code_version(family.packages)
    name = family.name

    @toss_asset(
        "training",
        family.kind,
        ["train_cache", "folds", "covis_features", "tuned_params"],
        name=fold_model_key(name),
        code_version=version,
        description=f"{family.title} trained on one fold: its model and out-of-fold logits under "
        f"runs/<exp_name>/{name}/ (with the tuned parameters when tune.enabled; metadata params_source "
        "says which).",
        partitions_def=FOLD_PARTITIONS,
        **slot,
    )
    @shares_machine(TRAIN_POOL)
    def fold_model(context: dg.AssetExecutionContext, toss: TossConfigResource) -> dg.MaterializeResult:
        ctx = toss.context()
        if name not in ctx.family_names:
            return skipped(context, f"`families` of this run leaves out {name}")
        return train_partitions(context, ctx, name)

    @toss_asset(
        "training",
        "numpy",
        [fold_model_key(name), "test_cache", "covis_features"],
        name=test_logits_key(name),
        code_version=version,
        description=f"Each trained {family.title} fold predicts the test set: "
        f"runs/<exp_name>/{name}/test_logits_fold_K.npz, naming the model that made it.",
        partitions_def=FOLD_PARTITIONS,
        **slot,
    )
    @shares_machine(TRAIN_POOL)
    def test_logits(context: dg.AssetExecutionContext, toss: TossConfigResource) -> dg.MaterializeResult:
        ctx = toss.context()
        if name not in ctx.family_names:
            return skipped(context, f"`families` of this run leaves out {name}")
        return predict_partitions(context, ctx, name)

    return [fold_model, test_logits]


def refit_asset(families: list[Family]) -> dg.AssetsDefinition:
    """cv.refit = full: each enabled family trained once on every training row, for what its folds
    selected, and its test logits; skipped with cv.refit = none."""

    @toss_asset(
        "training",
        "numpy",
        [*(fold_model_key(f.name) for f in families), "test_cache", "covis_features"],
        name="refit_model",
        code_version=family_code_version(tuple(p for f in families for p in f.packages)),
        pool=TRAIN_POOL,
        op_tags=GPU_STEP_TAGS,
    )
    @shares_machine(TRAIN_POOL)
    def refit_model(context: dg.AssetExecutionContext, toss: TossConfigResource) -> dg.MaterializeResult:
        """cv.refit = full: each enabled family trained once on every training row, for what its folds
        selected, and its test logits; skipped with cv.refit = none (the fold models predict the test
        set)."""
        ctx = toss.context()
        if ctx.cfg.cv.refit == "none":
            return skipped(context, "cv.refit is none: the ensemble combines the fold models' test logits")
        require_graph_families(ctx, [f.name for f in families])
        metadata: dict[str, dg.MetadataValue] = {}
        written = []
        for family in ctx.family_names:
            r = steps.refit(ctx, family)
            written += [r.checkpoint, r.test_logits]
            context.log.info(f"{family} refit: {r.size} (folds selected {r.fold_sizes}) in {r.seconds:.1f}s")
            metadata[f"{family}/size"] = dg.MetadataValue.int(r.size)
            metadata[f"{family}/fold_sizes"] = dg.MetadataValue.json(r.fold_sizes)
            metadata[f"{family}/seconds"] = md.number(r.seconds)
            metadata[f"{family}/checkpoint"] = md.path(r.checkpoint)
        return dg.MaterializeResult(metadata=metadata, data_version=files_version(written))

    return refit_model


def training_assets(families: list[Family]) -> list[dg.AssetsDefinition]:
    """Every family's fold models and test logits, then the refit over all of them."""
    return [*(a for f in families for a in family_assets(f)), refit_asset(families)]
