"""Group `data`: the raw Parquet files, their NPY shard caches and the fold assignment (what every later
step reads), so the lineage reads left to right: data → features → training → ensemble."""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from toss_assets import metadata as md
from toss_assets.assets.common import OWNERS, SINGLE_RUN, cache_result, toss_asset
from toss_assets.automation import RERUN_CONDITION
from toss_assets.resources import TossConfigResource
from toss_assets.versions import code_version, data_version, files_version
from toss_core import steps
from toss_core.util.errors import DataError

RAW_FILE_OBSERVATION = (
    dg.AutomationCondition.cron_tick_passed("*/5 * * * *") & ~dg.AutomationCondition.in_progress()
)
"""The user's Parquet files are looked at every five minutes while the sensor toss_automation runs."""


def _observe(kind: str, toss: TossConfigResource) -> dg.ObserveResult:
    import pyarrow.parquet as pq

    from toss_core.data.raw import file_fingerprint

    layout = toss.context().layout
    path = layout.train_path if kind == "train" else layout.test_path
    if not path.is_file():
        raise DataError(f"data.{kind}_path: {path} does not exist (point the config at your Parquet file)")
    return dg.ObserveResult(
        data_version=data_version(file_fingerprint(path)),
        metadata={
            "path": md.path(path),
            "dagster/row_count": dg.MetadataValue.int(pq.read_metadata(path).num_rows),
            "bytes": dg.MetadataValue.int(path.stat().st_size),
        },
    )


def _user_file(kind: str) -> dg.SourceAsset:
    @dg.observable_source_asset(
        name=f"{kind}_parquet",
        group_name="data",
        # a source asset takes no `kinds` nor `owners` (the decorator swallowed both unread): the kind is
        # the tag Dagster stores kinds as; owners cannot be set on a source asset
        tags={"dagster/kind/parquet": ""},
        description=f"Your {kind} Parquet (data.{kind}_path, data.source = parquet) as it is on disk: "
        f"observed by its footer fingerprint, so a changed file shows raw_{kind} as stale (and the "
        "automation conditions rerun the chain from there).",
        automation_condition=RAW_FILE_OBSERVATION,
    )
    def _file(toss: TossConfigResource) -> dg.ObserveResult:
        return _observe(kind, toss)

    return _file


def raw_file_assets(source: str) -> list[dg.SourceAsset]:
    """The user's files as observable source assets; none for synthetic data (raw_data writes it)."""
    return [_user_file("train"), _user_file("test")] if source == "parquet" else []


def _raw_spec(kind: str, description: str, user: bool) -> dg.AssetSpec:
    """raw_<kind>: downstream of the observed user file when the data is the user's."""
    return dg.AssetSpec(
        f"raw_{kind}",
        description=description,
        deps=[f"{kind}_parquet"] if user else [],
        group_name="data",
        kinds={"parquet"},
        owners=OWNERS,
        code_version=code_version(f"raw_{kind}"),
        automation_condition=RERUN_CONDITION,
    )


def _raw_result(
    kind: str,
    rows: int,
    path: Path,
    fingerprint: str,
    generated: bool,
    extra: dict[str, dg.MetadataValue] | None = None,
) -> dg.MaterializeResult:
    """One raw file's materialisation, versioned by its footer fingerprint."""
    return dg.MaterializeResult(
        asset_key=f"raw_{kind}",
        metadata={
            "dagster/row_count": dg.MetadataValue.int(rows),
            "path": md.path(path),
            "fingerprint": dg.MetadataValue.text(fingerprint),
            "generated": dg.MetadataValue.bool(generated),
            **(extra or {}),
        },
        data_version=data_version(fingerprint),
    )


def raw_data_asset(source: str) -> dg.AssetsDefinition:
    """raw_train / raw_test: generated for synthetic data; for Parquet, validated and downstream of the
    observed files."""
    user = source == "parquet"

    @dg.multi_asset(
        specs=[
            _raw_spec(
                "train",
                "Training Parquet (data.train_path): validated, or generated when data.source = synthetic.",
                user,
            ),
            _raw_spec("test", "Test Parquet (data.test_path) with the ID column and no label.", user),
        ],
        backfill_policy=SINGLE_RUN,
    )
    def raw_data(
        context: dg.AssetExecutionContext, toss: TossConfigResource
    ) -> Iterator[dg.MaterializeResult]:
        """One steps.prepare_raw call backs both files: the generator writes them together. Each file's
        data version is its footer fingerprint, the one the sensor raw_data_changed observes."""
        r = steps.prepare_raw(toss.context())
        context.log.info(
            f"raw data: {r.train_rows} train rows, {r.test_rows} test rows, generated={r.generated}"
        )
        yield _raw_result("train", r.train_rows, r.train_path, r.train_fingerprint, r.generated)
        truth = {"truth": md.path(r.truth_path)} if r.truth_path else {}
        oracle = md.metrics(r.oracle, "oracle/") if r.oracle else {}
        yield _raw_result(
            "test", r.test_rows, r.test_path, r.test_fingerprint, r.generated, {**truth, **oracle}
        )

    return raw_data


@toss_asset("data", "numpy", ["raw_train"])
def train_cache(context: dg.AssetExecutionContext, toss: TossConfigResource) -> dg.MaterializeResult:
    """NPY shard cache of the training rows; reused when its fingerprint matches the inputs."""
    r = steps.build_cache(toss.context(), "train")
    context.log.info(f"train cache: {r.n_rows} rows in {r.n_shards} shards, reused={r.reused}")
    return cache_result(r)


@toss_asset("data", "numpy", ["raw_test", "train_cache"])
def test_cache(context: dg.AssetExecutionContext, toss: TossConfigResource) -> dg.MaterializeResult:
    """NPY shard cache of the test rows, encoded with the train cache's statistics."""
    r = steps.build_cache(toss.context(), "test")
    context.log.info(f"test cache: {r.n_rows} rows in {r.n_shards} shards, reused={r.reused}")
    return cache_result(r)


@toss_asset("data", "numpy", ["train_cache"])
def folds(context: dg.AssetExecutionContext, toss: TossConfigResource) -> dg.MaterializeResult:
    """The fold of every training row (cv.*), computed once so every later step agrees."""
    r = steps.assign_folds(toss.context())
    context.log.info(f"folds: {r.n_splits} ({r.method}), sizes {r.fold_sizes}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(sum(r.fold_sizes)),
            "n_splits": dg.MetadataValue.int(r.n_splits),
            "method": dg.MetadataValue.text(r.method),
            "fold_sizes": dg.MetadataValue.json(list(r.fold_sizes)),
            "fold_positives": dg.MetadataValue.json(list(r.fold_positives)),
            "path": md.path(r.path),
        },
        data_version=files_version([r.path]),
    )
