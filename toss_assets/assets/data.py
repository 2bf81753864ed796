"""Group `data`: the raw Parquet files and their NPY shard caches."""

import dagster as dg

from toss_assets import metadata as md
from toss_assets.assets.common import CODE_VERSION, OWNERS, SINGLE_RUN, cache_metadata, toss_asset
from toss_assets.resources import TossConfigResource
from toss_core import steps


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "raw_train",
            description="Training Parquet (data.train_path): validated, or generated when "
            "data.source = synthetic.",
            group_name="data",
            kinds={"parquet"},
            owners=OWNERS,
            code_version=CODE_VERSION,
        ),
        dg.AssetSpec(
            "raw_test",
            description="Test Parquet (data.test_path) with the ID column and no label.",
            group_name="data",
            kinds={"parquet"},
            owners=OWNERS,
            code_version=CODE_VERSION,
        ),
    ],
    backfill_policy=SINGLE_RUN,
)
def raw_data(context: dg.AssetExecutionContext, toss: TossConfigResource):
    """One steps.prepare_raw call backs both files: the generator writes them together."""
    layout = toss.layout()
    r = steps.prepare_raw(layout.cfg, layout)
    context.log.info(f"raw data: {r.train_rows} train rows, {r.test_rows} test rows, generated={r.generated}")
    oracle = md.metrics(r.oracle, "oracle/") if r.oracle else {}
    yield dg.MaterializeResult(
        asset_key="raw_train",
        metadata={
            "rows": dg.MetadataValue.int(r.train_rows),
            "path": md.path(r.train_path),
            "fingerprint": dg.MetadataValue.text(r.train_fingerprint),
            "generated": dg.MetadataValue.bool(r.generated),
        },
    )
    yield dg.MaterializeResult(
        asset_key="raw_test",
        metadata={
            "rows": dg.MetadataValue.int(r.test_rows),
            "path": md.path(r.test_path),
            "fingerprint": dg.MetadataValue.text(r.test_fingerprint),
            "generated": dg.MetadataValue.bool(r.generated),
            **({"truth": md.path(r.truth_path)} if r.truth_path else {}),
            **oracle,
        },
    )


@toss_asset("data", "numpy", ["raw_train"])
def train_cache(context: dg.AssetExecutionContext, toss: TossConfigResource) -> dg.MaterializeResult:
    """NPY shard cache of the training rows; reused when its fingerprint matches the inputs."""
    layout = toss.layout()
    r = steps.build_cache(layout.cfg, "train", layout)
    context.log.info(f"train cache: {r.n_rows} rows in {r.n_shards} shards, reused={r.reused}")
    return dg.MaterializeResult(metadata=cache_metadata(r))


@toss_asset("data", "numpy", ["raw_test", "train_cache"])
def test_cache(context: dg.AssetExecutionContext, toss: TossConfigResource) -> dg.MaterializeResult:
    """NPY shard cache of the test rows, encoded with the train cache's statistics."""
    layout = toss.layout()
    r = steps.build_cache(layout.cfg, "test", layout)
    context.log.info(f"test cache: {r.n_rows} rows in {r.n_shards} shards, reused={r.reused}")
    return dg.MaterializeResult(metadata=cache_metadata(r))
