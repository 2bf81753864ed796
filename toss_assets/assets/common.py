"""What every toss asset shares: owners, versions, automation, the single-run backfill policy, metadata.

Every asset has `BackfillPolicy.single_run()`: Dagster's CLI only materialises a partition range when
all selected assets have it, and that is what lets one shell command run the whole graph (the fold
partitions in one step, then the unpartitioned assets downstream).
"""

import warnings
from collections.abc import Callable
from typing import Any

import dagster as dg

from toss_assets import metadata as md
from toss_assets.automation import RERUN_CONDITION
from toss_assets.versions import SKIPPED, data_version
from toss_assets.versions import code_version as shaped_version
from toss_core.util.results import CacheResult

# `backfill_policy` is a beta parameter of @asset that we rely on deliberately (see above); without this
# filter every step and CLI call prints the same warning once per asset.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)
# Likewise the observable source assets of a user's own Parquet files (assets/data.py), a beta API.
warnings.filterwarnings("ignore", message="Function `observable_source_asset`", category=dg.BetaWarning)

OWNERS = ["team:toss-ml"]
SINGLE_RUN = dg.BackfillPolicy.single_run()


def toss_asset(
    group: str,
    kind: str,
    deps: list[str],
    name: str | None = None,
    code_version: str | None = None,
    **extra: Any,
) -> Callable[..., dg.AssetsDefinition]:
    """`@dg.asset` plus what every toss asset shares: owners, the code version (given, or the import closure
    of its step: versions.ROOTS by the asset's name), the automation condition, single-run backfills.
    `name` defaults to the function's name (the family assets are built per family)."""

    def decorate(fn: Callable[..., Any]) -> dg.AssetsDefinition:
        key = name or fn.__name__
        return dg.asset(
            name=key,
            deps=deps,
            group_name=group,
            kinds={kind},
            owners=OWNERS,
            code_version=code_version or shaped_version(key),
            automation_condition=RERUN_CONDITION,
            backfill_policy=SINGLE_RUN,
            **extra,
        )(fn)

    return decorate


def cache_metadata(result: CacheResult) -> dict[str, dg.MetadataValue]:
    return {
        "dagster/row_count": dg.MetadataValue.int(result.n_rows),
        "shards": dg.MetadataValue.int(result.n_shards),
        "bytes": dg.MetadataValue.int(result.bytes),
        "fingerprint": dg.MetadataValue.text(result.fingerprint),
        "reused": dg.MetadataValue.bool(result.reused),
        "seconds": md.number(result.seconds),
        "manifest": md.path(result.manifest_path),
        "hash_collisions": dg.MetadataValue.json(result.collisions),
    }


def skipped(context: dg.AssetExecutionContext, reason: str) -> dg.MaterializeResult:
    """A disabled step: logged, and recorded so the UI says why nothing was built."""
    context.log.info(f"skipped: {reason}")
    return dg.MaterializeResult(metadata={"skipped": dg.MetadataValue.text(reason)}, data_version=SKIPPED)


def cache_result(result: CacheResult) -> dg.MaterializeResult:
    """A cache's metadata, versioned by its fingerprint (the input file and the keys that shaped it)."""
    return dg.MaterializeResult(
        metadata=cache_metadata(result), data_version=data_version(result.fingerprint)
    )
