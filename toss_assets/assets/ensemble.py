"""Group `ensemble`: the calibrated ensemble over the enabled families, the submission and its diagnostics.

Built per set of families (the registry's, for the loaded config): every asset here reads each family's
fold models (their lineage) and the ensemble reads their test logits."""

import dagster as dg

from toss_assets import metadata as md
from toss_assets.assets.common import toss_asset
from toss_assets.assets.training import fold_model_key, require_graph_families, test_logits_key
from toss_assets.automation import SUBMISSION_FRESHNESS
from toss_assets.resources import TossConfigResource
from toss_assets.versions import files_version
from toss_core import steps
from toss_core.context import RunContext
from toss_core.families.base import Family


def ensemble_assets(families: list[Family]) -> list[dg.AssetsDefinition]:
    """ensemble, submission and diagnostics over `families`."""
    names = [f.name for f in families]
    fold_models = [fold_model_key(f) for f in names]  # read directly by every asset of this group
    test_logits = [test_logits_key(f) for f in names]
    return [
        _ensemble(names, [*fold_models, *test_logits, "refit_model", "test_cache"]),
        _submission(["ensemble", "test_cache", *fold_models]),
        _diagnostics(["submission", "ensemble", *fold_models]),
    ]


def _ensemble(families: list[str], deps: list[str]) -> dg.AssetsDefinition:
    @toss_asset("ensemble", "numpy", deps)
    def ensemble(context: dg.AssetExecutionContext, toss: TossConfigResource) -> dg.MaterializeResult:
        """The saved fold-wise test logits of every enabled family combined by the stacker; calibrator
        fitted on the OOF logits."""
        ctx = toss.context()
        require_graph_families(ctx, families)
        return _ensemble_result(context, ctx)

    return ensemble


def _ensemble_result(context: dg.AssetExecutionContext, ctx: RunContext) -> dg.MaterializeResult:
    r = steps.ensemble(ctx)
    before, after = r.oof_uncalibrated["Score"], r.oof_calibrated["Score"]
    context.log.info(f"ensemble ({r.method}): OOF Score {before:.5f} → {after:.5f} after calibration")
    return dg.MaterializeResult(
        metadata={
            "method": dg.MetadataValue.text(r.method),
            **md.metrics(r.oof_uncalibrated, "oof_uncalibrated/"),
            **md.metrics(r.oof_calibrated, "oof_calibrated/"),
            "weights": dg.MetadataValue.json(r.weights),
            **({"stacking": dg.MetadataValue.json(r.stacking)} if r.stacking else {}),
            "members": md.metrics_table(r.members, "member"),
            **({"families": md.metrics_table(r.families, "family")} if r.families else {}),
            "calibrator": dg.MetadataValue.json(r.calibrator),
            "path": md.path(r.path),
        },
        data_version=files_version([r.path]),
    )


def _submission(deps: list[str]) -> dg.AssetsDefinition:
    @toss_asset("ensemble", "csv", deps, freshness_policy=SUBMISSION_FRESHNESS)
    def submission(context: dg.AssetExecutionContext, toss: TossConfigResource) -> dg.MaterializeResult:
        """runs/<exp_name>/submission.csv (ID,clicked); the blocking check guards everything downstream.
        It reads the fold models' lineage too: the ensemble must have been built from the models on disk."""
        return _submission_result(context, toss)

    return submission


def _submission_result(context: dg.AssetExecutionContext, toss: TossConfigResource) -> dg.MaterializeResult:
    r = steps.write_submission(toss.context())
    context.log.info(f"submission: {r.n_rows} rows, mean prediction {r.mean_prediction:.5f} → {r.path}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(r.n_rows),
            "mean_prediction": md.number(r.mean_prediction),
            "preview": md.preview_table(r.preview),
            "path": md.path(r.path),
            **md.metrics(r.test_metrics, "test/"),
        },
        data_version=files_version([r.path]),
    )


def _diagnostics(deps: list[str]) -> dg.AssetsDefinition:
    @toss_asset("ensemble", "matplotlib", deps)
    def diagnostics(context: dg.AssetExecutionContext, toss: TossConfigResource) -> dg.MaterializeResult:
        """Per-fold and OOF metrics (read from the fold models' OOF logits), reliability diagram and
        prediction histogram, shown on this page."""
        return _diagnostics_result(context, toss)

    return diagnostics


def _diagnostics_result(context: dg.AssetExecutionContext, toss: TossConfigResource) -> dg.MaterializeResult:
    r = steps.diagnose(toss.context())
    context.log.info(f"diagnostics: {r.report_path}")
    return dg.MaterializeResult(
        metadata={
            "metrics": md.metrics_table(r.metrics, "model"),
            "reliability": md.inline_plot(
                "Reliability at the 50:50 prior (x: mean prediction, y: class-balanced click rate)",
                r.reliability,
                kind="reliability",
            ),
            "histogram": md.inline_plot(
                "Prediction histogram (x: predicted probability, y: density)",
                r.histogram,
                kind="histogram",
            ),
            "reliability_png": md.path(r.reliability_png),
            "histogram_png": md.path(r.histogram_png),
            "report": md.path(r.report_path),
        },
        data_version=files_version([r.report_path]),
    )
