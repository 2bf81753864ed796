"""Hyperparameter search (toss_core.tune): config errors, a study whose best parameters the fold models
train with, resume after Ctrl-C, two processes on one study, Postgres storage, pruning a network trial,
and the Dagster asset's metadata."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import dagster as dg
import optuna
import pytest
from conftest import REPO, SMOKE, make_config, run_context

from toss_core import steps
from toss_core.config import ConfigError, TossConfig, load_config
from toss_core.families import registry
from toss_core.gbdt.params import SPARSE_PARAMS
from toss_core.gbdt.paths import checkpoint_path as gbdt_checkpoint
from toss_core.layout import Layout
from toss_core.tune import run, verdict
from toss_core.tune import study as studies
from toss_core.util.errors import ArtifactError

TOSS = Path(sys.executable).parent / "toss"
# A small LightGBM space keeps each smoke trial about a second.
GBDT_SPACE = (
    "tune.space.gbdt={gbdt.params.num_leaves: {low: 4, high: 31}, "
    "gbdt.params.learning_rate: {low: 0.05, high: 0.3, log: true}, "
    "gbdt.id_encoding: {choices: [target, frequency]}}"
)
TUNED = (
    "families=[nn,gbdt]",
    "tune.enabled=true",
    "gbdt.num_boost_round=60",
    "runtime.num_threads=1",
    GBDT_SPACE,
)


@pytest.fixture(scope="module")
def prepared(smoke_cached: Layout, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Smoke caches, folds and co-visitation features, built once; tests copy the root."""
    root = tmp_path_factory.mktemp("tune_prepared")
    shutil.copytree(smoke_cached.root, root, dirs_exist_ok=True)
    cfg = make_config(*TUNED)
    layout = Layout(cfg, root)
    steps.assign_folds(run_context(layout))
    steps.build_covis(run_context(layout))
    return root


GBDT = registry.get("gbdt")


def family_space_yaml(family) -> dict:
    return {key: spec.model_dump(exclude_none=True) for key, spec in family.default_space().items()}


def fresh(prepared: Path, tmp_path: Path, *overrides: str) -> Layout:
    shutil.copytree(prepared, tmp_path, dirs_exist_ok=True)
    return Layout(make_config(*TUNED, *overrides), tmp_path)


def load(layout: Layout, family: str = "gbdt") -> optuna.Study:
    cfg = layout.cfg
    name = studies.study_name(cfg, family, studies.fingerprint(cfg, layout, registry.get(family)))
    return optuna.load_study(study_name=name, storage=studies.storage_url(cfg, layout))


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("tune.space.gbdt={gbdt.params.num_leaves: {low: 63, high: 7}}", "empty range: low 63"),
        ("tune.space.nn={train.lr: {low: 0.0, high: 0.1, log: true}}", "log scale needs low > 0"),
        ("tune.space.nn={train.lrr: {low: 0.001, high: 0.1}}", "'train.lrr' is not a config key"),
        ("tune.space.nn={train.lrr: {low: 0.001, high: 0.1}}", "did you mean 'train.lr'"),
        ("tune.space.gbdt={gbdt.params: {low: 1, high: 2}}", "gbdt.params is a mapping"),
        ("tune.space.gbdt={train.lr: {low: 0.001, high: 0.1}}", "only keys under gbdt"),
        ("tune.space.nn={cv.n_splits: {low: 2, high: 5}}", "only keys under model"),
        ("tune.space.nn={model.head_dropout: {low: 0.1, high: 1.0}}", "value 1.0 would make an invalid"),
        ("tune.space.nn={train.batch_size: {choices: []}}", "non-empty list of choices"),
        ("tune.storage=notaurl", "not a usable SQLAlchemy URL"),
        ("tune.storage=postgress://u@h/db", "not a usable SQLAlchemy URL"),
        ("tune.folds=[2]", "tune.folds [2] outside 0..1"),
    ],
)
def test_config_errors_name_the_key(override: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        registry.check(make_config(override))
    assert fragment in str(err.value)
    assert "tune." in str(err.value)


def test_tuning_must_leave_a_fold_to_check_the_best_trial_on() -> None:
    with pytest.raises(ConfigError, match=r"tune.folds \[0, 1\] holds every fold: leave one out"):
        make_config("tune.enabled=true", "tune.folds=[0, 1]")  # the smoke config has 2 folds
    assert make_config("tune.enabled=false", "tune.folds=[0, 1]").tune.folds == [0, 1]  # no study, no check
    assert verdict.check_fold(make_config("tune.enabled=true", "tune.folds=[1]")) == 0


def test_defaults_validate_and_name_config_keys() -> None:
    cfg = make_config()
    assert not cfg.tune.enabled and cfg.tune.folds == [0]
    assert "gbdt.params.num_leaves" in registry.search_space(cfg, registry.get("gbdt"))
    assert "train.lr" in registry.search_space(cfg, registry.get("nn"))
    assert "catboost.depth" in registry.search_space(cfg, registry.get("catboost"))
    for family in registry.registered():  # every default space validates against the schema
        registry.check(make_config(f"tune.space.{family.name}={json.dumps(family_space_yaml(family))}"))
    assert make_config("tune.storage=postgresql://postgres@127.0.0.1:5432/test").tune.storage


def _tuned_study(layout: Layout, monkeypatch: pytest.MonkeyPatch, higher: bool) -> dict:
    """A 3-trial gbdt study whose best trial scores `higher` (or lower) on the unseen fold; its tuned file."""
    real = verdict.score_gap

    def gap_of_sign(labels, default_logits, other_logits, seed):
        gap, spread = real(labels, default_logits, other_logits, seed)
        return (abs(gap) + 1e-6) * (1 if higher else -1), spread

    monkeypatch.setattr(verdict, "score_gap", gap_of_sign)
    result = steps.tune(run_context(layout), "gbdt", n_trials=3)
    assert result.trials_run == 3 and result.n_complete == 3
    tuned = json.loads(layout.tuned_params("gbdt").read_text())
    assert tuned["best_value"] == pytest.approx(load(layout).best_value) == pytest.approx(result.best_value)
    assert (
        set(tuned["overrides"]) == set(registry.search_space(layout.cfg, registry.get("gbdt")))
        and tuned["fingerprint"] == result.fingerprint
    )
    check = tuned["against_defaults"]
    assert check == result.against_defaults and check["use_tuned"] is higher
    assert check["trial"] == load(layout).best_trial.number and check["bootstrap_sd"] > 0
    assert check["fold"] == 1  # the search scored fold 0 (tune.folds); the check reads the fold it never saw
    assert result.history_png.is_file() and result.importance_png.is_file()
    # trials and the check trained into their own directories, now removed: the fold models are untouched
    scratch = [layout.trial_dir("gbdt", 0), *(layout.tune_check_dir("gbdt", arm) for arm in verdict.ARMS)]
    assert not gbdt_checkpoint(layout, 0).exists() and not any(d.exists() for d in scratch)
    return tuned


def test_gbdt_study_writes_tuned_params_the_fold_models_train_with(
    prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = fresh(prepared, tmp_path)
    tuned = _tuned_study(layout, monkeypatch, higher=True)
    fold = steps.train_fold(run_context(layout), "gbdt", 0)
    assert fold.params_source == str(layout.tuned_params("gbdt"))
    assert fold.tuned_params == tuned["overrides"]
    sidecar = json.loads(gbdt_checkpoint(layout, 0).with_suffix(".json").read_text())
    for key, value in tuned["overrides"].items():
        if key.startswith("gbdt.params."):
            assert sidecar["params"][key.removeprefix("gbdt.params.")] == value, key
    assert sidecar["encoder"]["method"] == tuned["overrides"]["gbdt.id_encoding"]  # space: target|frequency

    off = Layout(make_config(*TUNED, "tune.enabled=false"), tmp_path)
    untuned = steps.train_fold(run_context(off), "gbdt", 0)
    assert untuned.params_source == "config" and untuned.tuned_params == {}
    sidecar = json.loads(gbdt_checkpoint(layout, 0).with_suffix(".json").read_text())
    assert sidecar["params"]["num_leaves"] == SPARSE_PARAMS["num_leaves"]  # the smoke data's defaults again


def test_a_best_trial_that_scores_lower_on_the_unseen_fold_is_not_trained_with(
    prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    layout = fresh(prepared, tmp_path)
    _tuned_study(layout, monkeypatch, higher=False)
    with caplog.at_level(logging.INFO, logger="toss"):
        fold = steps.train_fold(run_context(layout), "gbdt", 0)
    assert fold.params_source == "config" and fold.tuned_params == {}
    sidecar = json.loads(gbdt_checkpoint(layout, 0).with_suffix(".json").read_text())
    assert sidecar["params"]["num_leaves"] == SPARSE_PARAMS["num_leaves"]
    assert "which the search did not see" in caplog.text and "the config's parameters" in caplog.text

    # a rerun whose best trial stays the same reuses the saved check instead of training the fold twice more
    monkeypatch.setattr(verdict, "against_defaults", lambda *a, **k: pytest.fail("checked again"))
    monkeypatch.setattr(run, "against_defaults", lambda *a, **k: pytest.fail("checked again"))
    study, saved = load(layout), json.loads(layout.tuned_params("gbdt").read_text())
    assert run._saved_check(layout, "gbdt", study, study.best_trial) == saved["against_defaults"]

    # a tuned file without a check (an interrupted study) is not trained with either
    del saved["against_defaults"]
    layout.tuned_params("gbdt").write_text(json.dumps(saved))
    assert run.tuned_config(layout.cfg, layout, GBDT)[1:] == ("config", {})


def test_the_check_trains_the_defaults_and_the_overrides_on_the_same_rows(
    prepared: Path, tmp_path: Path
) -> None:
    layout = fresh(prepared, tmp_path)
    cfg = GBDT.settle(layout.cfg, layout)
    same = {"gbdt.params.num_leaves": SPARSE_PARAMS["num_leaves"]}  # the defaults again: no gap, no spread
    check = verdict.against_defaults(cfg, layout, GBDT, same, best_trial=5)
    assert (
        check["gap"] == 0.0
        and check["bootstrap_sd"] == 0.0
        and not check["use_tuned"]
        and check["trial"] == 5
    )
    other = {"gbdt.params.num_leaves": 2, "gbdt.params.learning_rate": 0.001}  # reaches the tuned side only
    check = verdict.against_defaults(cfg, layout, GBDT, other, best_trial=6)
    assert check["gap"] != 0.0 and check["bootstrap_sd"] > 0.0
    assert not any(layout.tune_check_dir("gbdt", arm).exists() for arm in verdict.ARMS)


def test_interrupted_study_resumes(prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C in the second trial: that trial is marked failed, the file holds the first; a rerun with
    n_trials 2 continues the same study (4 trials, numbers 0..3) from a moved-on sampler seed."""
    from toss_core.gbdt import train

    layout = fresh(prepared, tmp_path)
    real, calls = train.train_fold, []

    def interrupted_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(train, "train_fold", interrupted_second)
    with pytest.raises(KeyboardInterrupt):
        steps.tune(run_context(layout), "gbdt", n_trials=2)
    assert [t.state.name for t in load(layout).trials] == ["COMPLETE", "FAIL"]
    assert json.loads(layout.tuned_params("gbdt").read_text())["trials"]["complete"] == 1

    monkeypatch.setattr(train, "train_fold", real)
    result = steps.tune(run_context(layout), "gbdt", n_trials=2)
    trials = load(layout).trials
    assert [t.number for t in trials] == [0, 1, 2, 3] and result.n_complete == 3
    assert trials[2].params != trials[0].params  # the resumed sampler did not restart from seed 7


def test_changed_space_is_a_new_study_and_a_named_study_must_match(prepared: Path, tmp_path: Path) -> None:
    layout = fresh(prepared, tmp_path)
    other = fresh(prepared, tmp_path, "tune.space.gbdt={gbdt.params.num_leaves: {low: 4, high: 8}}")
    fp, fp_other = (studies.fingerprint(x.cfg, x, GBDT) for x in (layout, other))
    assert fp != fp_other
    assert studies.study_name(layout.cfg, "gbdt", fp) != studies.study_name(other.cfg, "gbdt", fp_other)
    studies.open_study(fresh(prepared, tmp_path, "tune.study_name=mine").cfg, layout, GBDT)
    named = fresh(
        prepared,
        tmp_path,
        "tune.study_name=mine",
        "tune.space.gbdt={gbdt.params.num_leaves: {low: 4, high: 8}}",
    )
    with pytest.raises(ArtifactError, match="was made for other data, folds or space"):
        studies.open_study(named.cfg, named, GBDT)


def test_how_a_trial_runs_does_not_split_the_network_study(prepared: Path, tmp_path: Path) -> None:
    """Threads or the compile mode (a concurrent step's machine share) keep the study; the lr does not."""
    layout = fresh(prepared, tmp_path)
    base = studies.fingerprint(layout.cfg, layout, registry.get("nn"))
    for execution in (
        "runtime.num_threads=2",
        "runtime.compile_mode=max-autotune",
        "train.data_on_device=false",
    ):
        layout = fresh(prepared, tmp_path, execution)
        assert studies.fingerprint(layout.cfg, layout, registry.get("nn")) == base, execution
    shaped = fresh(prepared, tmp_path, "train.lr=0.01")
    assert studies.fingerprint(shaped.cfg, shaped, registry.get("nn")) != base


def test_two_processes_share_one_study(prepared: Path, tmp_path: Path) -> None:
    """Two `toss tune` processes on one SQLite study: both add trials, no number twice, the written
    best is the study's best."""
    layout = fresh(prepared, tmp_path)
    sets = [a for o in TUNED for a in ("--set", o)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [
                str(TOSS),
                "tune",
                "--cfg",
                str(SMOKE),
                *sets,
                "--set",
                f"tune.seed={seed}",
                "--family",
                "gbdt",
                "--trials",
                "2",
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in (1, 2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-2000:]
        assert "tune gbdt: trial" in err and "best" in err and "ETA" in err
    study = load(layout)
    numbers = [t.number for t in study.trials]
    assert sorted(numbers) == [0, 1, 2, 3] and all(t.state.name == "COMPLETE" for t in study.trials)
    mine = [json.loads(out)[0]["trials_run"] for out, _ in outputs]
    assert mine == [2, 2]
    tuned = json.loads(layout.tuned_params("gbdt").read_text())
    assert tuned["best_value"] == pytest.approx(study.best_value)
    assert tuned["overrides"] == study.best_params


def _postgres_url() -> str:
    url = "postgresql://postgres@127.0.0.1:5432/test"
    try:
        import sqlalchemy

        with sqlalchemy.create_engine(url, connect_args={"connect_timeout": 2}).connect():
            pass
    except Exception as exc:  # no driver, no server, no database: all mean "cannot test here"
        pytest.skip(f"no PostgreSQL answering at {url} ({type(exc).__name__}: {str(exc).splitlines()[0]})")
    return url


def test_study_on_postgres(prepared: Path, tmp_path: Path) -> None:
    url = _postgres_url()
    name = f"toss-test-{uuid.uuid4().hex[:8]}"
    layout = fresh(prepared, tmp_path, f"tune.storage={url}", f"tune.study_name={name}")
    try:
        result = steps.tune(run_context(layout), "gbdt", n_trials=2)
        assert result.n_complete == 2 and result.storage.startswith("postgresql://")
        assert len(optuna.load_study(study_name=name, storage=url).trials) == 2
    finally:
        optuna.delete_study(study_name=name, storage=url)


class AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return True


def test_network_trial_is_pruned_after_its_first_epoch(
    prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = fresh(
        prepared, tmp_path, "train.epochs=3", "train.early_stop_patience=3",
        "tune.space.nn={train.lr: {low: 0.001, high: 0.01, log: true}}",
    )  # fmt: skip
    monkeypatch.setattr(studies, "make_pruner", lambda cfg: AlwaysPrune())
    result = steps.tune(run_context(layout), "nn", n_trials=1)
    (trial,) = load(layout, "nn").trials
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert list(trial.intermediate_values) == [0]  # one epoch reported, then training stopped
    assert result.n_pruned == 1 and result.best_value is None and result.path is None
    assert not layout.tuned_params("nn").exists() and not layout.trial_dir("nn", 0).exists()


def test_tuned_params_asset_metadata(prepared: Path, tmp_path: Path) -> None:
    from toss_assets.assets.tuning import tuned_params
    from toss_assets.resources import TossConfigResource

    fresh(prepared, tmp_path)
    toss = TossConfigResource(
        config_path=str(SMOKE),
        overrides=[*TUNED, "tune.families=[gbdt]", "tune.n_trials=2"],
        root=str(tmp_path),
    )
    result = dg.materialize([tuned_params], resources={"toss": toss}, instance=dg.DagsterInstance.ephemeral())
    (event,) = result.get_asset_materialization_events()
    meta = {k: v.value for k, v in event.materialization.metadata.items()}
    assert meta["gbdt/trials_complete"] == 2 and len(meta["gbdt/trials"].records) == 2
    assert 0 < meta["gbdt/best_value"] < 1 and set(meta["gbdt/best_params"]) == set(
        registry.search_space(toss.load(), registry.get("gbdt"))
    )
    assert (
        "data:image/png;base64" in meta["gbdt/history"] and "data:image/png;base64" in meta["gbdt/importance"]
    )


def test_documented_and_shipped_tune_sections_validate() -> None:
    import yaml

    doc = (REPO / "docs" / "scale_out.md").read_text()
    (block,) = [b.split("```")[0] for b in doc.split("```yaml\n")[1:] if b.startswith("# tune section")]
    cfg = TossConfig.model_validate(yaml.safe_load(block))
    assert cfg.tune.storage.startswith("postgresql://") and cfg.tune.enabled
    quality = load_config(REPO / "cfgs" / "quality.yaml")
    assert not quality.tune.enabled and quality.tune.n_trials == 30 and quality.tune.timeout_s == 1800
