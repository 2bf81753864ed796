"""Code and data versions, the observed user files, the automation conditions and the ensemble check.

The end-to-end staleness of a retrained fold is asserted in test_dagster_webserver.py (instance, GraphQL
and the UI); here the pieces: code versions follow the source, a changed user Parquet turns raw_train
stale and is what the automation conditions rerun, the ensemble check fails a blend that hurts.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from conftest import SMOKE
from dagster._core.definitions.data_version import StaleStatus
from dagster._core.definitions.observe import observe
from dagster._utils.test.data_versions import get_stale_status_resolver

from toss_assets import versions
from toss_assets.assets import assets_for
from toss_assets.checks import ensemble_beats_its_best_family
from toss_assets.resources import TossConfigResource
from toss_core.families import registry


def _keys(asset: dg.AssetsDefinition | dg.SourceAsset) -> set[dg.AssetKey]:
    return set(asset.keys) if isinstance(asset, dg.AssetsDefinition) else {asset.key}


def test_code_versions_follow_the_source_of_the_modules_that_compute_an_asset(tmp_path, monkeypatch):
    families = registry.registered()
    graph = {key.to_user_string() for a in assets_for("synthetic", families) for key in _keys(a)}
    per_family = {f"{f.name}_{kind}" for f in families for kind in ("fold_model", "test_logits")}
    # every other asset has its modules, none is left over; a family's come from Family.packages
    assert set(versions.SHAPED_BY) == graph - per_family - {"refit_model"}
    nn, gbdt = registry.get("nn"), registry.get("gbdt")
    assert versions.family_code_version(nn.packages) != versions.family_code_version(gbdt.packages)
    assert versions.code_version("train_cache") == versions.code_version("test_cache")

    package = tmp_path / "shaping_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "step.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(versions.SHAPED_BY, "probe", ("shaping_pkg",))
    versions.modules_version.cache_clear()
    before = versions.code_version("probe")
    (package / "step.py").write_text("VALUE = 2\n")
    versions.modules_version.cache_clear()
    assert versions.code_version("probe") != before
    versions.modules_version.cache_clear()
    sys.modules.pop("shaping_pkg", None)


def test_a_module_that_does_not_exist_is_named(monkeypatch):
    monkeypatch.setitem(versions.SHAPED_BY, "probe", ("toss_core.no_such_room",))
    versions.modules_version.cache_clear()
    with pytest.raises(ValueError, match=r"toss_core\.no_such_room"):
        versions.code_version("probe")
    versions.modules_version.cache_clear()


@pytest.fixture
def user_files(tmp_path: Path, smoke_cached) -> TossConfigResource:
    """The smoke data as a user's own Parquet files (data.source = parquet)."""
    user = tmp_path / "mine"
    user.mkdir()
    for kind in ("train", "test"):
        shutil.copy(getattr(smoke_cached, f"{kind}_path"), user / f"{kind}.parquet")
    overrides = [
        "data.source=parquet",
        f"data.train_path={user}/train.parquet",
        f"data.test_path={user}/test.parquet",
    ]
    return TossConfigResource(config_path=str(SMOKE), overrides=overrides, root=str(tmp_path))


def test_a_changed_user_file_makes_raw_train_stale_and_is_rerun_by_automation(user_files):
    assets = assets_for("parquet", [registry.get("nn")])
    by_name = {key.to_user_string(): a for a in assets for key in _keys(a)}
    sources = [by_name["train_parquet"], by_name["test_parquet"]]
    resources = {"toss": user_files}
    instance = dg.DagsterInstance.ephemeral()
    assert observe(sources, instance=instance, resources=resources).success
    assert dg.materialize(
        [by_name["raw_train"], *sources],
        selection=["raw_train", "raw_test"],
        instance=instance,
        resources=resources,
    ).success
    status = get_stale_status_resolver(instance, assets).get_status
    assert status(dg.AssetKey("raw_train")) == StaleStatus.FRESH

    defs = dg.Definitions(assets=assets, resources=resources)
    raw_train = dg.AssetSelection.keys("raw_train")
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=raw_train)
    train = user_files.layout().train_path
    pl.read_parquet(train).head(2000).write_parquet(train)  # the user rewrites the file
    assert observe(sources, instance=instance, resources=resources).success

    status = get_stale_status_resolver(instance, assets).get_status
    assert status(dg.AssetKey("raw_train")) == StaleStatus.STALE
    assert status(dg.AssetKey("raw_test")) == StaleStatus.FRESH
    again = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, asset_selection=raw_train, cursor=first.cursor
    )
    assert again.get_num_requested(dg.AssetKey("raw_train")) == 1


def test_a_missing_user_file_is_named_by_its_config_key(user_files):
    user_files.layout().test_path.unlink()
    source = next(
        a for a in assets_for("parquet", [registry.get("nn")]) if dg.AssetKey("test_parquet") in _keys(a)
    )
    with pytest.raises(Exception, match=r"data\.test_path: .*test\.parquet does not exist"):
        observe([source], resources={"toss": user_files})


def _ensemble_json(root: Path, blended: float, alone: dict[str, float], weights: dict[str, float]) -> None:
    path = root / "runs" / "smoke" / "ensemble.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "families": list(weights),
        "family_weights": weights,
        "oof_calibrated": {"Score": blended},
        "per_family": {f: {"oof_calibrated": {"Score": s}} for f, s in alone.items()},
    }
    path.write_text(json.dumps(report))


def test_the_ensemble_check_fails_a_blend_below_its_best_family(tmp_path):
    toss = TossConfigResource(config_path=str(SMOKE), root=str(tmp_path))
    _ensemble_json(tmp_path, 0.3410, {"nn": 0.3380, "gbdt": 0.3405}, {"nn": 0.3, "gbdt": 0.7})
    good = ensemble_beats_its_best_family(toss=toss)
    assert good.passed and good.metadata["margin_over_best"].value == pytest.approx(0.0005)

    _ensemble_json(tmp_path, 0.3300, {"nn": 0.3380, "gbdt": 0.3405}, {"nn": 0.3, "gbdt": 0.7})
    bad = ensemble_beats_its_best_family(toss=toss)
    assert not bad.passed and "below gbdt alone" in bad.description

    _ensemble_json(tmp_path, 0.3410, {"nn": 0.3380}, {"nn": float("nan")})
    assert "invalid family weights" in ensemble_beats_its_best_family(toss=toss).description
