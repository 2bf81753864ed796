"""Model families behind one interface: the registry, a fourth family added with one registry line and
run through the CLI and through Dagster, and the ensemble over N families."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import SMOKE, make_config
from fake_family import MeanRateFamily

os.environ["TOSS_CONFIG"] = str(SMOKE)  # the fold partitions come from the config the code location loads

import dagster as dg

from toss_assets.definitions import build_definitions
from toss_assets.jobs import all_folds_tags
from toss_assets.resources import TossConfigResource
from toss_core.cli import main
from toss_core.config import ConfigError
from toss_core.families import registry
from toss_core.layout import Layout


@pytest.fixture
def meanrate():
    """The fake family registered for one test (the one line a new family adds), then taken away."""
    family = MeanRateFamily()
    registry.register(family)
    yield family
    registry.unregister(family.name)


def test_the_registry_lists_the_built_in_families_in_order() -> None:
    assert registry.known()[:3] == ["nn", "gbdt", "catboost"]
    cfg = make_config("families=[catboost,nn]")
    assert registry.enabled_names(cfg) == ["catboost", "nn"]  # the config's order is the ensemble's
    for family in registry.registered():  # every family's model files live in its own directory
        assert family.checkpoint(Layout(cfg), 0).parent == Layout(cfg).family_dir(family.name)


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        (["families=[nn,xgb]"], "families: unknown model family 'xgb'; toss knows nn, gbdt, catboost"),
        (["tune.families=[lgbm]"], "tune.families: unknown model family 'lgbm'"),
        (["tune.space.xgb={train.lr: {low: 0.001, high: 0.1}}"], "tune.space.xgb: unknown model family"),
        (["tune.space.catboost={gbdt.params.num_leaves: {low: 4, high: 8}}"], "only keys under catboost"),
    ],
)
def test_unknown_families_fail_before_work_naming_the_key(
    overrides: list[str], fragment: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["-q", "run", "--cfg", str(SMOKE), *(a for o in overrides for a in ("--set", o))]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("toss: error: ") and fragment in err and "\n" not in err
    assert not any(tmp_path.iterdir())  # refused before the data were generated


def test_an_unknown_family_on_the_command_line_is_refused(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["-q", "train", "--cfg", str(SMOKE), "--family", "xgb"]) == 1
    assert "--family: unknown model family 'xgb'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("gbdt.enabled=true", "the enabled model families are listed in `families`"),
        ("families=[nn,nn]", "families lists ['nn'] more than once"),
        ("families=[]", "families"),
    ],
)
def test_family_lists_are_validated(override: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=None) as err:
        make_config(override)
    assert fragment in str(err.value)


@pytest.mark.slow
def test_a_fourth_family_runs_the_smoke_graph_through_the_cli(
    meanrate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["-q", "run", "--cfg", str(SMOKE), "--set", "families=[nn,meanrate]"]) == 0
    layout = Layout(make_config("families=[nn,meanrate]"), root=tmp_path)
    ensemble = json.loads(layout.ensemble_path.read_text())
    assert ensemble["families"] == ["nn", "meanrate"]
    assert set(ensemble["family_weights"]) == {"nn", "meanrate"}
    assert 0 < ensemble["per_family"]["meanrate"]["oof_calibrated"]["Score"] < 1
    for fold in (0, 1):
        assert (
            layout.oof_path(fold, "meanrate").is_file()
            and layout.test_logits_path(fold, "meanrate").is_file()
        )
    assert layout.submission_path.is_file()
    report = (layout.diagnostics_dir / "report.md").read_text()
    assert "meanrate/oof" in report
    capsys.readouterr()
    assert main(["-q", "predict", "--cfg", str(SMOKE), "--set", "families=[nn,meanrate]", "--family",
                 "meanrate", "--fold", "1"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)[0]["family"] == "meanrate"


@pytest.mark.slow
def test_a_fourth_family_runs_the_smoke_graph_through_dagster(meanrate, tmp_path: Path) -> None:
    defs = build_definitions(families=["nn", "meanrate"])
    graph = defs.resolve_asset_graph()
    assert dg.AssetKey("meanrate_fold_model") in graph.get(dg.AssetKey("ensemble")).parent_keys
    assert not graph.get(dg.AssetKey("meanrate_fold_model")).pools  # takes no GPU slot
    toss = TossConfigResource(
        config_path=str(SMOKE), overrides=["families=[nn,meanrate]"], root=str(tmp_path)
    )
    result = dg.materialize(
        [*defs.assets, *defs.asset_checks],
        instance=dg.DagsterInstance.ephemeral(),
        resources={"toss": toss},
        tags=all_folds_tags(),
    )
    assert result.success
    done = {(e.asset_key.to_user_string(), e.partition) for e in result.get_asset_materialization_events()}
    for asset in ("meanrate_fold_model", "meanrate_test_logits"):
        assert {(asset, "fold_0"), (asset, "fold_1")} <= done
    checks = {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}
    assert ("meanrate_fold_model", "score_above_prior") in checks
    assert checks[("ensemble", "beats_its_best_family")].passed
    ensemble = json.loads(Layout(toss.load(), tmp_path).ensemble_path.read_text())
    assert ensemble["families"] == ["nn", "meanrate"]

    # a run whose config leaves a family of the graph out skips that family's steps, and says why
    narrowed = TossConfigResource(config_path=str(SMOKE), overrides=["families=[nn]"], root=str(tmp_path))
    (model,) = [a for a in defs.assets if dg.AssetKey("meanrate_fold_model") in a.keys]
    skipped = dg.materialize([model], partition_key="fold_0", resources={"toss": narrowed})
    (event,) = skipped.get_asset_materialization_events()
    assert "leaves out meanrate" in event.materialization.metadata["skipped"].value
