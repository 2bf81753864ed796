"""What every toss asset shares: owners, the single-run backfill policy, result → metadata helpers.

Every asset has `BackfillPolicy.single_run()`: Dagster's CLI only materialises a partition range when
all selected assets have it, and that is what lets one shell command run the whole graph (the fold
partitions in one step, then the unpartitioned assets downstream).
"""

import warnings
from typing import Any

import dagster as dg

from toss_assets import metadata as md
from toss_core.util.results import CacheResult

# `backfill_policy` is a beta parameter of @asset that we rely on deliberately (see above); without this
# filter every step and CLI call prints the same warning once per asset.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)

OWNERS = ["team:toss-ml"]
SINGLE_RUN = dg.BackfillPolicy.single_run()
CODE_VERSION = "1"


def toss_asset(group: str, kind: str, deps: list[str], **extra: Any) -> Any:
    """`@dg.asset` plus what every toss asset shares: owners, code version, single-run backfills."""
    return dg.asset(
        deps=deps,
        group_name=group,
        kinds={kind},
        owners=OWNERS,
        code_version=CODE_VERSION,
        backfill_policy=SINGLE_RUN,
        **extra,
    )


def cache_metadata(result: CacheResult) -> dict[str, object]:
    return {
        "rows": dg.MetadataValue.int(result.n_rows),
        "shards": dg.MetadataValue.int(result.n_shards),
        "bytes": dg.MetadataValue.int(result.bytes),
        "fingerprint": dg.MetadataValue.text(result.fingerprint),
        "reused": dg.MetadataValue.bool(result.reused),
        "seconds": dg.MetadataValue.float(round(result.seconds, 3)),
        "manifest": md.path(result.manifest_path),
        "hash_collisions": dg.MetadataValue.json(result.collisions),
    }


def skipped(context: dg.AssetExecutionContext, reason: str) -> dg.MaterializeResult:
    """A disabled step: logged, and recorded so the UI says why nothing was built."""
    context.log.info(f"skipped: {reason}")
    return dg.MaterializeResult(metadata={"skipped": dg.MetadataValue.text(reason)})
