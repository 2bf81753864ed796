"""Code and data versions, the observed user files, the automation conditions and the ensemble check.

The end-to-end staleness of a retrained fold is asserted in test_dagster_webserver.py (instance, GraphQL
and the UI); here the pieces: code versions follow the source, a changed user Parquet turns raw_train
stale and is what the automation conditions rerun, the ensemble check fails a blend that hurts.
"""

from __future__ import annotations

import json
import shutil
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


def _edited(module: str):
    """versions._source as it would read after `module` gained a line."""
    read = versions._source
    return lambda name: read(name) + (b"\n# edited\n" if name == module else b"")


def _version(asset: str, family: bool) -> str:
    """An asset's code version, or (family) that of a family's fold assets."""
    if family:
        return versions.family_code_version(registry.get(asset).packages)
    return versions.code_version(asset)


def _version_after_edit(monkeypatch, asset: str, module: str, family: bool = False) -> str:
    monkeypatch.setattr(versions, "_source", _edited(module))
    versions.code_version_of_modules.cache_clear()
    try:
        return _version(asset, family)
    finally:
        monkeypatch.undo()
        versions.code_version_of_modules.cache_clear()


def test_every_asset_has_roots_and_assets_of_one_step_share_a_version():
    families = registry.registered()
    graph = {key.to_user_string() for a in assets_for("synthetic", families) for key in _keys(a)}
    per_family = {f"{f.name}_{kind}" for f in families for kind in ("fold_model", "test_logits")}
    # every other asset has its step's modules, none is left over; a family's come from Family.packages
    assert set(versions.ROOTS) == graph - per_family - {"refit_model"}
    nn, gbdt = registry.get("nn"), registry.get("gbdt")
    assert versions.family_code_version(nn.packages) != versions.family_code_version(gbdt.packages)
    assert versions.code_version("train_cache") == versions.code_version("test_cache")


def test_the_closure_follows_lazy_imports_and_leaves_out_steps_and_the_config():
    closure = versions.import_closure(("toss_core.train",))
    # imported inside functions only (train/fold_data.py, train/loop.py)
    assert {"toss_core.data.reader", "toss_core.features.covis", "toss_core.models.dare"} <= closure
    assert {"toss_core.artifacts.fold", "toss_core.data.folds", "toss_core.spec"} <= closure
    assert not {m for m in closure if m.startswith(("toss_core.config", "toss_core.steps", "toss_core.gbdt"))}
    # the tuning step reaches every registered family's trainer (lazy imports of the Family objects)
    tuned = versions.import_closure(("toss_core.tune.run",))
    assert {"toss_core.gbdt.train", "toss_core.catboost.train", "toss_core.train.loop"} <= tuned


@pytest.mark.parametrize(
    ("asset", "imported", "not_imported"),
    [
        ("nn", "toss_core.artifacts.fold", "toss_core.gbdt.params"),
        ("gbdt", "toss_core.data.folds", "toss_core.models.dare"),
        ("catboost", "toss_core.tabular.design", "toss_core.gbdt.ids"),
        ("ensemble", "toss_core.scoring.calibration", "toss_core.features.covis"),
        ("train_cache", "toss_core.data.shaping", "toss_core.post.ensemble"),
    ],
)
def test_editing_a_module_the_step_imports_changes_its_version(monkeypatch, asset, imported, not_imported):
    family = asset in registry.known()
    before = _version(asset, family)
    assert _version_after_edit(monkeypatch, asset, imported, family) != before
    assert _version_after_edit(monkeypatch, asset, not_imported, family) == before
    assert _version_after_edit(monkeypatch, asset, "toss_core.config.root", family) == before
    assert _version(asset, family) == before


def test_a_module_that_does_not_exist_is_named():
    with pytest.raises(ValueError, match=r"toss_core\.no_such_room"):
        versions.code_version_of_modules(("toss_core.no_such_room",))


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
    train = user_files.context().layout.train_path
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
    user_files.context().layout.test_path.unlink()
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
