"""Group `features`: co-visitation, sequence and out-of-fold target statistics."""

import dagster as dg

from toss_assets import metadata as md
from toss_assets.assets.common import skipped, toss_asset
from toss_assets.resources import TossConfigResource
from toss_assets.versions import data_version
from toss_core import steps


@toss_asset("features", "numpy", ["folds", "train_cache", "test_cache"])
def covis_features(context: dg.AssetExecutionContext, toss: TossConfigResource) -> dg.MaterializeResult:
    """Shard-aligned dense features; the target statistics need the folds, hence folds → covis."""
    ctx = toss.context()
    if not ctx.cfg.features.covis.enabled:
        return skipped(context, "features.covis.enabled is false: models train without dense features")
    r = steps.build_covis(ctx)
    context.log.info(f"covis: {len(r.feature_names)} features, reused={r.reused}")
    return dg.MaterializeResult(
        metadata={
            "features": dg.MetadataValue.int(len(r.feature_names)),
            "feature_names": dg.MetadataValue.json(list(r.feature_names)),
            "reused": dg.MetadataValue.bool(r.reused),
            "seconds": md.number(r.seconds),
            "train_dir": md.path(r.train_dir),
            "test_dir": md.path(r.test_dir),
            "bytes": dg.MetadataValue.int(md.dir_bytes(r.train_dir) + md.dir_bytes(r.test_dir)),
            "fingerprint": dg.MetadataValue.text(r.fingerprint),
        },
        data_version=data_version(r.fingerprint),
    )
