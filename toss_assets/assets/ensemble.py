"""Group `ensemble`: the calibrated fold ensemble, the submission file and its diagnostics."""

import dagster as dg

from toss_assets import metadata as md
from toss_assets.assets.common import toss_asset
from toss_assets.automation import SUBMISSION_FRESHNESS
from toss_assets.resources import TossConfigResource
from toss_assets.versions import files_version
from toss_core import steps

FOLD_MODELS = ["fold_model", "gbdt_fold_model"]  # read directly by every asset of this group


@toss_asset("ensemble", "numpy", [*FOLD_MODELS, "fold_test_logits", "refit_model", "test_cache"])
def ensemble(context: dg.AssetExecutionContext, toss: TossConfigResource) -> dg.MaterializeResult:
    """The saved fold-wise test logits of every enabled family combined; calibrator fitted on OOF logits."""
    layout = toss.layout()
    r = steps.ensemble(layout.cfg, layout)
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


@toss_asset(
    "ensemble",
    "csv",
    ["ensemble", "test_cache", *FOLD_MODELS],
    freshness_policy=SUBMISSION_FRESHNESS,
)
def submission(context: dg.AssetExecutionContext, toss: TossConfigResource) -> dg.MaterializeResult:
    """runs/<exp_name>/submission.csv (ID,clicked); the blocking check guards everything downstream. It
    reads the fold models' lineage too: the ensemble must have been built from the models on disk."""
    layout = toss.layout()
    r = steps.write_submission(layout.cfg, layout)
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


@toss_asset("ensemble", "matplotlib", ["submission", "ensemble", *FOLD_MODELS])
def diagnostics(context: dg.AssetExecutionContext, toss: TossConfigResource) -> dg.MaterializeResult:
    """Per-fold and OOF metrics (read from the fold models' OOF logits), reliability diagram and
    prediction histogram, shown on this page."""
    layout = toss.layout()
    r = steps.diagnose(layout.cfg, layout)
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
