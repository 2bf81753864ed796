"""The reliability corpus (issue 21): every config key's type and range, paths, CLI verbs out of order,
train/test drift, and faults on every artifact a step reads. docs/reliability.md reports its counts
(test_the_table_in_docs_counts_this_corpus keeps them equal).

An input must end in a clear early error (exit 1, one `toss: error:` line naming the key, file or
column, no traceback, nothing built) or in documented sensible handling; a fault must be survived
(named with the command that repairs it, nothing the user made touched, nothing half-written left)."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from badinput_util import assert_one_line_error, copy_layout, smoke, toss
from conftest import REPO, SMOKE

from toss_core.config import ConfigError, TossConfig, load_config, schema_leaf, valid_keys
from toss_core.layout import Layout

# ------------------------------------------------------------------------------ every config key, in-process
_FAST = ("features.covis.enabled=false", "features.covis.stats=[]", "families=[nn]")


def _leaf_keys() -> list[str]:
    keys = []
    for key in valid_keys(TossConfig):
        try:
            schema_leaf(key)
        except ValueError:
            continue  # a whole section
        keys.append(key)
    return keys


KEYS = _leaf_keys()
STRING_KEYS = {k for k in KEYS if schema_leaf(k) in (str, str | None)}
WRONG_TYPES = ("[[1]]", "abc")  # a nested list fits no key; a word fits only the string keys
RANGE_PROBES = ("-1", "1000000000000000", ".inf", ".nan")
# accepted on purpose: a huge value of these keys has a meaning, and toss runs it as that meaning
SENSIBLE_HUGE = {
    "sequence.recency_tau": "recency weighting off",
    "features.covis.recency_tau": "recency weighting off",
    "model.id_min_count": "every id shares the unknown row (ids ignored)",
    "train.grad_clip_norm": "no clipping",
    "train.early_stop_patience": "never stop early",
    "logging.verbose_steps": "no step logs",
    "ensemble.val_weight_temperature": "equal fold weights",
    "features.covis.target_smoothing": "target rates shrink to the prior",
    "gbdt.native_min_events": "every id target-encoded",
    "model.embed_min_events": "no id embedded (auto)",
    "gbdt.id_min_cardinality": "no column treated as an id",
    "gbdt.te_smoothing": "target encodings shrink to the prior",
    "tune.timeout_s": "no time limit",
}


def _probes(key: str) -> list[str]:
    """A word is a valid value of a string key (the step that reads the named file or column checks it)."""
    types = [v for v in WRONG_TYPES if not (v == "abc" and key in STRING_KEYS)]
    return types + list(RANGE_PROBES)


CONFIG_INPUTS = [(k, v) for k in KEYS for v in _probes(k)]


@pytest.mark.parametrize("key", KEYS)
def test_every_config_key_refuses_wrong_types_and_absurd_values_by_name(key: str) -> None:
    accepted = []
    for value in _probes(key):
        try:
            load_config(SMOKE, [f"{key}={value}"])
        except ConfigError as exc:
            assert key in str(exc), f"{key}={value}: {exc}"
        else:
            accepted.append(value)
    if key in SENSIBLE_HUGE:
        assert accepted == ["1000000000000000"], accepted
    else:
        assert accepted == [], f"{key} accepted {accepted}"


def test_the_issue_examples_are_refused_at_load_naming_key_and_limit(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for override, names in [
        ("train.batch_size=1e12", ["train.batch_size"]),
        ("train.batch_size=1000000000000", ["train.batch_size", "limit"]),
        ("model.emb_dim=100000000", ["model.emb_dim", "limit"]),
        ("sequence.max_len=1000000000", ["sequence.max_len", "limit"]),
        ("data.num_patterns=['(']", ["data.num_patterns[0]", "regular expression"]),
        ("gbdt.params={num_leaves: -3}", ["gbdt.params", "num_leaves"]),
        ("gbdt.params={nope: 1}", ["gbdt.params.nope", "LightGBM parameter"]),
        ("data.cat_cols=[gender, gender]", ["data.cat_cols", "gender"]),
        ("train.lr=.inf", ["train.lr", "finite"]),
        ("data.hash_buckets={gender: 1}", ["data.hash_buckets.gender"]),
        ("sequence.query_key=[]", ["sequence.query_key"]),
    ]:
        rc, err = toss(capsys, *smoke("train", override))
        assert_one_line_error(rc, err, *names)
    assert not any(tmp_path.iterdir())  # refused before anything was made


# ------------------------------------------------------------------------------------------- CLI inputs
@pytest.fixture
def work(smoke_cached: Layout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the cached smoke root (caches built, nothing else), as the working directory."""
    return copy_layout(smoke_cached, tmp_path / "w", monkeypatch)


RAW = ["data.source=parquet", "data.train_path=raw/train.parquet", "data.test_path=raw/test.parquet"]


def _raw(work: Path, kind: str, fn) -> None:
    """raw/KIND.parquet = fn(the smoke table) (the other file a plain copy)."""
    (work / "raw").mkdir(exist_ok=True)
    for k in ("train", "test"):
        table = pq.read_table(work / f"data/smoke/{k}.parquet")
        pq.write_table(fn(table) if k == kind else table, work / f"raw/{k}.parquet")


def _set(table: pa.Table, col: str, values: list) -> pa.Table:
    return table.set_column(table.schema.get_field_index(col), col, pa.array(values))


def _labels(ones: int):
    return lambda t: _set(t, "clicked", [1 if i < ones else 0 for i in range(t.num_rows)])


# (name, kind edited, edit, names in the error): each must stop build-cache before the train cache
DRIFT = [
    ("empty test file", "test", lambda t: t.slice(0, 0), ["test.parquet", "0 rows"]),
    ("test without its ID column", "test", lambda t: t.drop(["ID"]), ["test.parquet", "'ID'"]),
    ("test without a numeric column", "test", lambda t: t.drop(["feat_a_1"]), ["test.parquet", "feat_a_1"]),
    (
        "non-numeric text in a test column",
        "test",
        lambda t: _set(t, "feat_a_1", ["abc", *map(str, t.column("feat_a_1").to_pylist()[1:])]),
        ["test.parquet", "'feat_a_1'", "expected numbers"],
    ),
    (
        "a malformed test sequence",
        "test",
        lambda t: _set(t, "seq", ["1,x,3", *t.column("seq").to_pylist()[1:]]),
        ["test.parquet", "'seq'", "row 0"],
    ),
    ("labels of one class", "train", _labels(0), ["train.parquet", "'clicked'", "cv.n_splits"]),
    ("a single click", "train", _labels(1), ["train.parquet", "'clicked'", "1 rows of class 1"]),
]


@pytest.mark.parametrize(("name", "kind", "edit", "names"), DRIFT, ids=[d[0] for d in DRIFT])
def test_train_test_drift_stops_build_cache_before_the_train_cache(
    work: Path, capsys, name, kind, edit, names
) -> None:
    _raw(work, kind, edit)
    rc, err = toss(capsys, *smoke("build-cache", *RAW, "data.cache_dir=cache/new"))
    assert_one_line_error(rc, err, *names)
    assert not (work / "cache/new").exists() or not list((work / "cache/new").iterdir())


def test_a_test_column_unseen_in_train_is_built_with_a_warning_naming_it(work: Path, capsys, caplog) -> None:
    _raw(work, "test", lambda t: _set(t, "inventory_id", ["never-seen"] * t.num_rows))
    rc, err = toss(capsys, *smoke("build-cache", *RAW, "data.cache_dir=cache/new"))
    assert rc == 0, err
    assert re.search(r"column 'inventory_id' .* never seen in train", caplog.text)


def test_a_truth_file_of_other_ids_is_refused_before_the_build(work: Path, capsys) -> None:
    _raw(work, "test", lambda t: t)
    truth = pq.read_table(work / "data/smoke/test_truth.parquet")
    pq.write_table(
        _set(truth, "ID", [f"X{i}" for i in range(truth.num_rows)]), work / "raw/test_truth.parquet"
    )
    rc, err = toss(capsys, *smoke("build-cache", *RAW, "data.cache_dir=cache/new"))
    assert_one_line_error(rc, err, "test_truth.parquet", "have no truth")
    assert not (work / "cache/new/train").exists()


PATHS = [
    (["data.train_path=raw"], "raw"),  # a directory
    (["data.test_path=raw/train.parquet"], "data.test_path"),  # the train file again
    (["data.train_path=raw/none.parquet"], "none.parquet"),
]


@pytest.mark.parametrize(("sets", "name"), PATHS)
def test_bad_paths_are_named(work: Path, capsys, sets, name) -> None:
    _raw(work, "train", lambda t: t)
    sources = [s for s in RAW if s.split("=")[0] not in {x.split("=")[0] for x in sets}]
    rc, err = toss(capsys, *smoke("build-cache", *sources, *sets, "data.cache_dir=cache/new"))
    assert_one_line_error(rc, err, name)
    assert not (work / "cache/new").exists() or not list((work / "cache/new").iterdir())


def test_a_config_that_is_a_directory_or_a_list_is_named(work: Path, capsys) -> None:
    (work / "list.yaml").write_text("- 1\n- 2\n")
    for cfg, name in (("raw_dir", "raw_dir"), ("list.yaml", "list.yaml")):
        (work / "raw_dir").mkdir(exist_ok=True)
        rc, err = toss(capsys, "train", "--cfg", cfg)
        assert_one_line_error(rc, err, name)
    rc, err = toss(capsys, "train", "--cfg", str(SMOKE), "--set", "train.epochs")
    assert_one_line_error(rc, err, "train.epochs", "key.path=value")


# verbs run before the step they need: each names a `toss` command to run first, and builds nothing
OUT_OF_ORDER_EMPTY = ["folds", "covis", "train", "predict", "ensemble", "submit", "diagnose", "tune"]
OUT_OF_ORDER_CACHED = ["covis", "train", "predict", "ensemble", "submit", "diagnose", "tune"]


@pytest.mark.parametrize("verb", OUT_OF_ORDER_EMPTY)
def test_verbs_in_an_empty_directory_name_the_first_command(
    tmp_path: Path, monkeypatch, capsys, verb
) -> None:
    monkeypatch.chdir(tmp_path)
    rc, err = toss(capsys, *smoke(verb, "families=[nn,gbdt]"))
    line = assert_one_line_error(rc, err, "`toss ")
    assert "toss build-cache" in line, line
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


@pytest.mark.parametrize("verb", OUT_OF_ORDER_CACHED)
def test_verbs_after_build_cache_name_the_missing_step(work: Path, capsys, verb) -> None:
    before = sorted(p for p in work.rglob("*") if p.is_file())
    rc, err = toss(capsys, *smoke(verb))
    line = assert_one_line_error(rc, err)
    assert re.search(r"`toss (folds|covis|train|predict|ensemble|submit)", line), line
    assert sorted(p for p in work.rglob("*") if p.is_file()) == before


def test_refit_before_train_names_train(work: Path, capsys) -> None:
    assert toss(capsys, *smoke("folds"))[0] == 0
    rc, err = toss(capsys, *smoke("refit", "cv.refit=full", *_FAST))
    assert_one_line_error(rc, err, "toss train")


# ------------------------------------------------------------------------------------------------- faults
@pytest.fixture(scope="module")
def trained(smoke_cached: Layout, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Smoke caches, folds, both network folds trained and predicted, the ensemble (no co-visitation)."""
    root = tmp_path_factory.mktemp("reliability_trained")
    shutil.copytree(smoke_cached.root, root, dirs_exist_ok=True)
    here = Path.cwd()
    os.chdir(root)
    try:
        from toss_core.cli import main

        for argv in (
            smoke("folds"),
            smoke("train", *_FAST),
            smoke("predict", *_FAST),
            smoke("ensemble", *_FAST),
        ):
            assert main(["-q", *argv]) == 0, argv
    finally:
        os.chdir(here)
    return root


@pytest.fixture
def fold_work(trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(trained, tmp_path / "w", symlinks=True)
    monkeypatch.chdir(tmp_path / "w")
    return tmp_path / "w"


def _flip(path: Path, at: float = 0.6, n: int = 16, byte: bytes = b"\x7f") -> None:
    data = bytearray(path.read_bytes())
    i = int(len(data) * at)
    data[i : i + n] = byte * n
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("byte", [b"\xff", b"\x3f"], ids=["nan", "finite-garbage"])
def test_a_changed_shard_is_named_on_read_then_rebuilt(fold_work: Path, capsys, caplog, byte) -> None:
    shard = fold_work / "cache/smoke/train/num.00001.npy"
    _flip(shard, at=0.9, n=64, byte=byte)  # 0xff.. is a NaN, 0x3f.. a finite float32
    ckpt = fold_work / "runs/smoke/nn/ckpt_fold_0.pt"
    stamp = ckpt.stat().st_mtime_ns
    rc, err = toss(capsys, *smoke("train", *_FAST), "--fold", "0")
    assert_one_line_error(rc, err, "num.00001.npy", "checksum mismatch", "toss build-cache")
    assert ckpt.stat().st_mtime_ns == stamp
    rc, err = toss(capsys, *smoke("build-cache"))  # the default (full) check finds and rebuilds it
    assert rc == 0 and "num.00001.npy" in caplog.text, err


def test_quick_verification_stays_an_explicit_opt_out(fold_work: Path, capsys) -> None:
    _flip(fold_work / "cache/smoke/test/num.00000.npy", at=0.9, n=8, byte=b"\x3f")
    rc, err = toss(capsys, *smoke("predict", *_FAST, "data.verify=quick"), "--fold", "0")
    assert rc == 0, err


def test_a_damaged_checkpoint_is_named_with_the_command_that_retrains_it(fold_work: Path, capsys) -> None:
    _flip(fold_work / "runs/smoke/nn/ckpt_fold_0.pt", at=0.8)
    rc, err = toss(capsys, *smoke("predict", *_FAST), "--fold", "0")
    assert_one_line_error(rc, err, "ckpt_fold_0.pt", "digest", "toss train --family nn --fold 0")


@pytest.mark.parametrize(
    ("name", "damage", "command"),
    [
        ("oof_fold_1.npz", "flip", "toss train --family nn --fold 1"),
        ("oof_fold_0.npz", "garbage", "toss train --family nn --fold 0"),
        ("test_logits_fold_1.npz", "truncate", "toss predict --family nn --fold 1"),
        ("test_logits_fold_0.npz", "flip", "toss predict --family nn --fold 0"),
    ],
)
def test_damaged_logit_files_are_named_by_the_ensemble(
    fold_work: Path, capsys, name, damage, command
) -> None:
    path = fold_work / "runs/smoke/nn" / name
    if damage == "flip":
        _flip(path, at=0.3)
    elif damage == "truncate":
        path.write_bytes(path.read_bytes()[:200])
    else:
        path.write_bytes(os.urandom(500))
    rc, err = toss(capsys, *smoke("ensemble", *_FAST))
    assert_one_line_error(rc, err, name, command)


@pytest.mark.parametrize("verb", ["train", "predict", "ensemble", "submit"])
def test_a_raw_parquet_replaced_after_build_cache_stops_every_step(fold_work: Path, capsys, verb) -> None:
    raw = fold_work / "data/smoke/test.parquet" if verb != "train" else fold_work / "data/smoke/train.parquet"
    table = pq.read_table(raw)
    pq.write_table(table.slice(1), raw)
    argv = [*smoke(verb, *_FAST), *(["--fold", "0"] if verb in ("train", "predict") else [])]
    rc, err = toss(capsys, *argv)
    assert_one_line_error(rc, err, raw.name, "changed after the cache", "toss build-cache")


def test_changed_covis_keys_after_toss_covis_stop_training(work: Path, capsys) -> None:
    assert toss(capsys, *smoke("folds"))[0] == 0
    assert toss(capsys, *smoke("covis"))[0] == 0
    rc, err = toss(capsys, *smoke("train", "features.covis.window=2"), "--fold", "0")
    assert_one_line_error(rc, err, "covis", "features.covis", "toss covis")
    assert not (work / "runs/smoke/nn/ckpt_fold_0.pt").exists()


def test_a_full_disk_while_the_resume_state_is_saved_names_the_path(
    fold_work: Path, capsys, monkeypatch
) -> None:
    from toss_core.train import checkpoint

    def full(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 123 vs 45")

    monkeypatch.setattr(checkpoint.torch, "save", full)
    monkeypatch.setattr(checkpoint.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(1, 1, 0))
    rc, err = toss(capsys, *smoke("train", *_FAST, "train.epochs=2"), "--fold", "1")
    line = assert_one_line_error(rc, err, "runs/smoke/nn/ckpt_fold_1", "No space left on device")
    assert "(unknown path)" not in line
    assert not list(fold_work.rglob(".*.tmp-*"))


def test_a_full_disk_on_a_stream_write_names_the_path(fold_work: Path, capsys, monkeypatch) -> None:
    from toss_core.artifacts import fold as artifacts

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")  # what a write to an open file raises

    monkeypatch.setattr(artifacts.np, "savez", full)
    rc, err = toss(capsys, *smoke("predict", *_FAST), "--fold", "0")
    assert_one_line_error(rc, err, "test_logits_fold_0.npz", "No space left on device")


def test_no_lock_file_is_left_in_a_folder_toss_refuses(work: Path, capsys) -> None:
    home = work / "home"
    (home / "train").mkdir(parents=True)
    (home / "train/notes.txt").write_text("mine")
    before = sorted(p.name for p in home.rglob("*"))
    rc, err = toss(capsys, *smoke("build-cache", f"data.cache_dir={home}"))
    assert_one_line_error(rc, err, "home/train", "did not create")
    assert sorted(p.name for p in home.rglob("*")) == before


def test_blend_never_overwrites_its_input_nor_a_file_it_did_not_write(work: Path, capsys) -> None:
    for name, p in (("a.csv", 0.2), ("b.csv", 0.4)):
        (work / name).write_text(f"ID,clicked\nT0,{p}\nT1,{p}\n")
    (work / "mine.csv").write_text("my notes\n")
    rc, err = toss(capsys, "blend", "--sub1", "a.csv", "--sub2", "b.csv", "--out", "a.csv")
    assert_one_line_error(rc, err, "a.csv", "--sub1")
    rc, err = toss(capsys, "blend", "--sub1", "a.csv", "--sub2", "b.csv", "--out", "./b.csv", "--force")
    assert_one_line_error(rc, err, "b.csv", "--sub2")
    rc, err = toss(capsys, "blend", "--sub1", "a.csv", "--sub2", "b.csv", "--out", "mine.csv")
    assert_one_line_error(rc, err, "mine.csv", "--force")
    assert (work / "mine.csv").read_text() == "my notes\n"
    assert (work / "a.csv").read_text() == "ID,clicked\nT0,0.2\nT1,0.2\n"
    rc, err = toss(capsys, "blend", "--sub1", "a.csv", "--sub2", "b.csv", "--out", "mine.csv", "--force")
    assert rc == 0 and (work / "mine.csv").read_text().startswith("ID,clicked"), err


def test_two_tuning_workers_of_four_trials_try_eight_distinct_parameter_sets(work: Path, capsys) -> None:
    """The same config (one seed) in two processes on one SQLite study: 8 trials, 8 parameter sets."""
    import optuna

    space = (
        "tune.space.gbdt={gbdt.params.num_leaves: {low: 4, high: 31}, "
        "gbdt.params.learning_rate: {low: 0.05, high: 0.3, log: true}}"
    )
    sets = [*_FAST, "families=[nn,gbdt]", "gbdt.num_boost_round=20", "runtime.num_threads=1", space]
    assert toss(capsys, *smoke("folds"))[0] == 0
    argv = [str(Path(sys.executable).parent / "toss"), "-q", *smoke("tune", *sets), "--family", "gbdt"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen([*argv, "--trials", "4"], cwd=work, env=env, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()[-2000:]
    storage = f"sqlite:///{work / 'runs/smoke/tuned/study.db'}"
    (summary,) = optuna.get_all_study_summaries(storage)
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    params = [json.dumps(t.params, sort_keys=True) for t in study.trials]
    assert len(params) == 8 and len(set(params)) == 8, params


def test_workers_that_open_the_study_together_draw_distinct_points(work: Path, capsys) -> None:
    """The race of the issue, made deterministic: two workers open the empty study before either has a
    trial (each its own sampler, as two processes have), then take turns: 2 x 4 distinct trials."""
    from conftest import make_config

    from toss_core.families import registry
    from toss_core.tune.study import open_study

    assert toss(capsys, *smoke("folds"))[0] == 0
    layout = Layout(make_config(*_FAST, "families=[nn,gbdt]"), root=work)
    workers = [open_study(layout.cfg, layout, registry.get("gbdt")) for _ in range(2)]
    drawn = []
    for _ in range(4):
        for study in workers:
            trial = study.ask()
            point = (trial.suggest_int("num_leaves", 4, 255, log=True), trial.suggest_float("lr", 0.01, 0.2))
            study.tell(trial, float(point[1]))
            drawn.append(point)
    assert len(set(drawn)) == 8, drawn


# ------------------------------------------------------------------------------------------------- table
ISSUE_EXAMPLES = 11  # test_the_issue_examples_are_refused_at_load_naming_key_and_limit
CLI_ERRORS = (
    ISSUE_EXAMPLES + len(DRIFT) + 1 + len(PATHS) + 3 + len(OUT_OF_ORDER_EMPTY) + len(OUT_OF_ORDER_CACHED) + 1
)
CLI_SENSIBLE = 2  # a test column unseen in train (a warning); data.verify=quick (the opt-out reuses)
# shards 2, checkpoint 1, logit files 4, raw Parquet 4, covis keys 1, full disk 2, locks 1, blend 1, tuning 2
FAULTS = 18


def test_the_table_in_docs_counts_this_corpus() -> None:
    """docs/reliability.md's row holds this module's counts: inputs, early errors, sensible handling,
    then 0 silent, 0 late, 0 tracebacks, and faults tried and survived."""
    tried = len(CONFIG_INPUTS) + CLI_ERRORS + CLI_SENSIBLE
    errors = len(CONFIG_INPUTS) - len(SENSIBLE_HUGE) + CLI_ERRORS
    text = (REPO / "docs/reliability.md").read_text()
    row = re.search(r"\| this corpus \| (\d+) \| (\d+) \| (\d+) \| 0 \| 0 \| 0 \| (\d+) \| (\d+) \|", text)
    assert row, "docs/reliability.md lost its table row"
    assert tuple(map(int, row.groups())) == (tried, errors, tried - errors, FAULTS, FAULTS)
