"""Asset checks: each one answers a question a user would otherwise answer by opening files.

Raw schema (columns and dtypes as configured), cache integrity (complete manifest, checksums, row counts
equal to the Parquet's), each fold beating the prior-only Score, the ensemble doing at least as well as
its best family, and the blocking submission check: when the submission is invalid, nothing downstream
of it runs.
"""

from typing import Any

import dagster as dg

from toss_assets import metadata as md
from toss_assets.assets.training import fold_model_key
from toss_assets.partitions import FOLD_PARTITIONS
from toss_assets.resources import TossConfigResource
from toss_core.families.base import Family
from toss_core.post.ensemble_verdict import ENSEMBLE_TOLERANCE, judge_ensemble
from toss_core.util.errors import TossError


def _failed(exc: Exception, **extra: Any) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=False, description=str(exc), metadata={"error": dg.MetadataValue.text(str(exc)), **extra}
    )


def _raw_schema_check(asset: str, kind: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset,
        name="schema_as_configured",
        description=f"The {kind} Parquet has the configured label/id, categorical, numeric and sequence "
        "columns with usable dtypes.",
    )
    def _check(toss: TossConfigResource) -> dg.AssetCheckResult:
        from toss_core.data.raw import check_raw_schema

        ctx = toss.context()
        path = ctx.layout.train_path if kind == "train" else ctx.layout.test_path
        problems = check_raw_schema(path, ctx.cfg, kind)
        return dg.AssetCheckResult(
            passed=not problems,
            description="; ".join(problems) or None,
            metadata={"path": md.path(path), "problems": dg.MetadataValue.json(problems)},
        )

    return _check


def _cache_integrity_check(asset: str, kind: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset,
        name="integrity",
        blocking=True,
        description="Manifest complete, every shard's size, header and checksum verified, row count equal "
        "to the source Parquet's. Blocking: nothing downstream runs on a damaged cache.",
    )
    def _check(toss: TossConfigResource) -> dg.AssetCheckResult:
        import pyarrow.parquet as pq

        from toss_core.data.reader import ShardedCache

        layout = toss.context().layout
        if kind == "train":
            root, source = layout.train_cache, layout.train_path
        else:
            root, source = layout.test_cache, layout.test_path
        try:
            cache = ShardedCache(root)
            files_checked = cache.verify(full=True)
        except TossError as exc:
            return _failed(exc, cache=md.path(root))
        parquet_rows = pq.read_metadata(source).num_rows
        return dg.AssetCheckResult(
            passed=cache.n_rows == parquet_rows,
            description=None
            if cache.n_rows == parquet_rows
            else f"{root} holds {cache.n_rows} rows but {source} has {parquet_rows}",
            metadata={
                "cache_rows": dg.MetadataValue.int(cache.n_rows),
                "parquet_rows": dg.MetadataValue.int(parquet_rows),
                "files_checksummed": dg.MetadataValue.int(files_checked),
                "fingerprint": dg.MetadataValue.text(cache.fingerprint),
            },
        )

    return _check


def latest_fold_metadata(instance: dg.DagsterInstance, asset: str) -> dict[str, dict[str, Any]]:
    """The metadata of each fold partition's latest materialization (folds never built are absent)."""
    found = {}
    for key in FOLD_PARTITIONS.get_partition_keys():
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[key]), limit=1
        ).records
        if records and records[0].asset_materialization is not None:
            found[key] = {k: v.value for k, v in records[0].asset_materialization.metadata.items()}
    return found


def _beats_prior_check(asset: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset,
        name="score_above_prior",
        description="Every trained fold's validation Score beats predicting the training click rate.",
    )
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        trained = {k: m for k, m in latest_fold_metadata(context.instance, asset).items() if "Score" in m}
        if not trained:
            return dg.AssetCheckResult(passed=True, description="no trained fold (family disabled)")
        weak = sorted(k for k, m in trained.items() if not m["Score"] > m["prior_score"])
        table = {k: {"Score": m["Score"], "prior": m["prior_score"]} for k, m in trained.items()}
        return dg.AssetCheckResult(
            passed=not weak,
            description=f"not above the prior-only Score: {', '.join(weak)}" if weak else None,
            metadata={"folds": md.metrics_table(table, "fold")},
        )

    return _check


@dg.asset_check(
    asset="ensemble",
    name="beats_its_best_family",
    description=f"The calibrated OOF Score of the ensemble is at least that of its best family calibrated "
    f"alone minus {ENSEMBLE_TOLERANCE}, and its weights are finite, their sum positive, one per family.",
)
def ensemble_beats_its_best_family(toss: TossConfigResource) -> dg.AssetCheckResult:
    verdict = judge_ensemble(toss.context().layout)
    return dg.AssetCheckResult(
        passed=verdict.passed,
        description="; ".join(verdict.problems) or None,
        metadata={
            "oof_calibrated/Score": md.number(verdict.blended),
            **{f"{f}/oof_calibrated/Score": md.number(v) for f, v in verdict.alone.items()},
            "margin_over_best": md.number(verdict.margin_over_best),
            "weights": dg.MetadataValue.json(verdict.weights),
        },
    )


@dg.asset_check(
    asset="submission",
    blocking=True,
    description="One row per test ID, the same IDs as the test Parquet, finite predictions in [0, 1]. "
    "Blocking: diagnostics (and anything else downstream) does not run when it fails.",
)
def submission_valid(toss: TossConfigResource) -> dg.AssetCheckResult:
    import polars as pl

    from toss_core.post.submission_file import validate_submission

    ctx = toss.context()
    layout, id_col = ctx.layout, ctx.cfg.data.id_col
    expected = pl.read_parquet(layout.test_path, columns=[id_col])[id_col]
    try:
        summary = validate_submission(layout.submission_path, expected)
    except TossError as exc:
        return _failed(exc, path=md.path(layout.submission_path))
    return dg.AssetCheckResult(
        passed=True,
        metadata={
            "rows": dg.MetadataValue.int(summary["n_rows"]),
            "expected_rows": dg.MetadataValue.int(expected.len()),
            "min": md.number(summary["min"]),
            "max": md.number(summary["max"]),
            "mean": md.number(summary["mean"]),
        },
    )


def checks_for(families: list[Family]) -> list[dg.AssetChecksDefinition]:
    """Every check of the graph; each family's fold models get the prior check."""
    return [
        _raw_schema_check("raw_train", "train"),
        _raw_schema_check("raw_test", "test"),
        _cache_integrity_check("train_cache", "train"),
        _cache_integrity_check("test_cache", "test"),
        *(_beats_prior_check(fold_model_key(f.name)) for f in families),
        ensemble_beats_its_best_family,
        submission_valid,
    ]
