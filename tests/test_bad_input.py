"""The bad-input corpus (issue 11): each input a new user might try, through the `toss` CLI in-process.

Every case asserts exit code 1, one `toss: error: …` line naming the file, column or key, no traceback,
and that nothing was deleted or left half-written. The last group holds inputs that already got clear
errors, so they keep doing so."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from badinput_util import assert_one_line_error, copy_layout, smoke, toss
from conftest import make_config

from toss_core.config import ConfigError
from toss_core.layout import Layout

RAW = ["data.source=parquet", "data.train_path=raw/train.parquet", "data.test_path=raw/test.parquet"]


@pytest.fixture
def work(smoke_cached: Layout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the cached smoke root, as the working directory, with raw/ copies to mutate."""
    root = copy_layout(smoke_cached, tmp_path / "w", monkeypatch)
    (root / "raw").mkdir()
    for kind in ("train", "test"):
        pq.write_table(
            pq.read_table(smoke_cached.root / f"data/smoke/{kind}.parquet"), root / f"raw/{kind}.parquet"
        )
    return root


def _edit(root: Path, kind: str, col: str, fn) -> None:
    """Rewrite one column of raw/KIND.parquet with fn(arrow array) -> arrow array."""
    path = root / "raw" / f"{kind}.parquet"
    table = pq.read_table(path)
    i = table.schema.get_field_index(col)
    pq.write_table(table.set_column(i, col, fn(table.column(col).combine_chunks())), path)


def _tree(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def _no_partial(root: Path) -> None:
    """No temporary of any atomic write is left anywhere under root."""
    assert not [p for p in root.rglob(".*.tmp-*")], list(root.rglob(".*.tmp-*"))


# ------------------------------------------------------------------------------------- writes that destroy
def test_blend_into_an_existing_directory_is_refused_and_the_directory_kept(work: Path, capsys) -> None:
    for name, p in (("a.csv", 0.2), ("b.csv", 0.4)):
        (work / name).write_text(f"ID,clicked\nT0,{p}\nT1,{p}\n")
    some = work / "some_dir"
    some.mkdir()
    (some / "keep.txt").write_text("mine")
    rc, err = toss(capsys, "blend", "--sub1", "a.csv", "--sub2", "b.csv", "--out", "some_dir")
    assert_one_line_error(rc, err, "some_dir", "did not create")
    assert (some / "keep.txt").read_text() == "mine"
    _no_partial(work)


def test_cache_dir_holding_user_data_is_never_replaced(work: Path, capsys) -> None:
    user = work / "mine" / "train"
    user.mkdir(parents=True)
    (user / "data.parquet").write_bytes(b"precious")
    rc, err = toss(capsys, *smoke("build-cache", "data.cache_dir=mine"))
    assert_one_line_error(rc, err, "mine/train", "did not create")
    assert (user / "data.parquet").read_bytes() == b"precious"
    _no_partial(work)


# ------------------------------------------------------------------------------------------- paths escape
@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("exp_name=../../tmp/evil", "exp_name"),
        ("exp_name=''", "exp_name"),
        ("exp_name=a/b", "exp_name"),
        ("exp_name=..", "exp_name"),
        ("data.cache_dir=../../elsewhere", "data.cache_dir"),
        ("runs_dir=../runs", "runs_dir"),
        ("data.manifest_train=../../x/manifest.json", "data.manifest_train"),
    ],
)
def test_paths_that_leave_the_working_directory_are_refused(work: Path, capsys, override, key) -> None:
    before = _tree(work.parent)
    rc, err = toss(capsys, *smoke("folds", override))
    assert_one_line_error(rc, err, key)
    assert _tree(work.parent) == before


def test_an_absolute_path_given_on_purpose_is_allowed(tmp_path: Path) -> None:
    layout = Layout(make_config(f"runs_dir={tmp_path / 'elsewhere'}"), root=tmp_path / "w")
    assert layout.run_dir == tmp_path / "elsewhere" / "smoke"


def test_dagster_launchpad_overrides_go_through_the_same_validation(tmp_path: Path) -> None:
    from conftest import SMOKE

    from toss_assets.resources import TossConfigResource

    for override in ("exp_name=../../tmp/evil", "data.cache_dir=../../x"):
        resource = TossConfigResource(config_path=str(SMOKE), overrides=[override], root=str(tmp_path))
        with pytest.raises(ConfigError, match=override.split("=")[0]):
            resource.context()


# ------------------------------------------------------------------------------------ values before work
@pytest.mark.parametrize(
    ("values", "row", "what"),
    [
        ({5: 2}, 5, "2"),
        ({7: -1}, 7, "-1"),
        ({9: None}, 9, "null"),
        ({3: float("nan")}, 3, "nan"),
    ],
)
def test_bad_labels_stop_the_build_naming_file_column_row(work: Path, capsys, values, row, what) -> None:
    def set_rows(arr: pa.Array) -> pa.Array:
        y = arr.cast(pa.float64()).to_pylist()
        for i, v in values.items():
            y[i] = v
        return pa.array(y, pa.float64())

    _edit(work, "train", "clicked", set_rows)
    rc, err = toss(capsys, *smoke("build-cache", *RAW, "data.cache_dir=cache/bad"))
    assert_one_line_error(rc, err, "train.parquet", "'clicked'", f"row {row}", what)
    assert not (work / "cache/bad/train").exists()
    _no_partial(work)


@pytest.mark.parametrize(
    ("fn", "what"),
    [
        (lambda a: pa.array(["DUP", *a.to_pylist()[1:4], "DUP", *a.to_pylist()[5:]]), "not unique"),
        (lambda a: pa.array([None, *a.to_pylist()[1:]], pa.string()), "row 0 is null"),
    ],
)
def test_bad_test_ids_stop_the_work_before_the_train_cache(work: Path, capsys, fn, what) -> None:
    _edit(work, "test", "ID", fn)
    rc, err = toss(capsys, *smoke("build-cache", *RAW, "data.cache_dir=cache/bad"))
    assert_one_line_error(rc, err, "test.parquet", "'ID'", what)
    assert not (work / "cache/bad").exists() or not any((work / "cache/bad").glob("train*"))


def test_categorical_string_in_train_and_float_in_test_is_refused_naming_both(work: Path, capsys) -> None:
    _edit(work, "test", "gender", lambda a: pc.cast(a, pa.float64()))
    rc, err = toss(capsys, *smoke("build-cache", *RAW, "data.cache_dir=cache/bad"))
    assert_one_line_error(rc, err, "'gender'", "string", "double", "train.parquet", "test.parquet")


def test_a_huge_sequence_token_becomes_one_oov_id_not_a_huge_vocabulary(work: Path, capsys, caplog) -> None:
    _edit(work, "train", "seq", lambda a: pa.array(["1,999999999", *a.to_pylist()[1:]]))
    rc, err = toss(capsys, *smoke("build-cache", *RAW, "data.cache_dir=cache/oov", "sequence.max_token=500"))
    assert rc == 0, err
    manifest = json.loads((work / "cache/oov/train/manifest.json").read_text())
    assert manifest["seq_vocab_size"] <= 500 + 3 and manifest["seq_oov_tokens"] == 1
    assert "sequence.max_token" in caplog.text


def test_feature_columns_must_exist_and_toss_defaults_fit_other_schemas() -> None:
    with pytest.raises(ConfigError, match=r"features\.covis\.id_cols"):
        make_config("features.covis.id_cols=[nope]")
    other = make_config("data.cat_cols=[user_id, item_id]", "sequence.col=null")
    assert other.features.covis.id_cols == [] and other.features.covis.target_cols == []
    assert other.sequence.query_key == []


# -------------------------------------------------------------------------------------------- stale caches
def test_a_cache_built_under_other_shaping_keys_stops_the_step(work: Path, capsys) -> None:
    rc, err = toss(capsys, *smoke("train", "sequence.max_len=8"), "--fold", "0")
    assert_one_line_error(rc, err, "sequence.max_len", "toss build-cache")
    assert not (work / "runs/smoke/nn/ckpt_fold_0.pt").exists()


def test_no_cache_manifest_names_the_command_that_builds_it(work: Path, capsys) -> None:
    rc, err = toss(capsys, *smoke("folds", "data.cache_dir=cache/never"))
    assert_one_line_error(rc, err, "no cache manifest", "toss build-cache")


# ---------------------------------------------------------------------------------------- other files
def test_score_with_a_csv_truth_is_a_clear_error(work: Path, capsys) -> None:
    (work / "sub.csv").write_text("ID,clicked\nT0,0.1\n")
    (work / "truth.csv").write_text("ID,clicked\nT0,1\n")
    rc, err = toss(capsys, "score", "--sub", "sub.csv", "--truth", "truth.csv")
    assert_one_line_error(rc, err, "truth.csv", "Parquet")


def test_blend_of_a_binary_file_is_a_clear_error(work: Path, capsys) -> None:
    (work / "a.csv").write_text("ID,clicked\nT0,0.1\n")
    (work / "b.csv").write_bytes(b"ID,clicked\n\xff\xfe\x00\x81binary")
    rc, err = toss(capsys, "blend", "--sub1", "a.csv", "--sub2", "b.csv", "--out", "o.csv")
    assert_one_line_error(rc, err, "b.csv", "not a text CSV")
    assert not (work / "o.csv").exists()


# ---------------------------------------------------------------- inputs that already got clear errors
@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (smoke("train", "train.topk=3"), ["train.topk"]),
        (smoke("train", "sequence.top_k=0"), ["sequence.top_k"]),
        (smoke("train", "cv.n_splits=1"), ["cv.n_splits"]),
        (["train", "--cfg", "nope.yaml"], ["nope.yaml"]),
        ([*smoke("train"), "--fold", "7"], ["fold 7"]),
        (smoke("build-cache", *RAW, "data.cat_cols=[gender, nope]"), ["'nope'"]),
        (smoke("build-cache", *RAW, "data.label_col=nope"), ["'nope'"]),
        (smoke("build-cache", *RAW, "data.train_path=raw/missing.parquet"), ["missing.parquet"]),
        (["score", "--sub", "none.csv", "--truth", "none.parquet"], ["none.csv"]),
    ],
)
def test_inputs_with_clear_errors_keep_them(work: Path, capsys, argv, names) -> None:
    rc, err = toss(capsys, *argv)
    assert_one_line_error(rc, err, *names)


def test_a_non_parquet_train_file_is_a_clear_error(work: Path, capsys) -> None:
    (work / "raw/train.parquet").write_bytes(np.arange(100, dtype=np.uint8).tobytes())
    rc, err = toss(capsys, *smoke("build-cache", *RAW, "data.cache_dir=cache/bad"))
    assert_one_line_error(rc, err, "train.parquet", "Parquet")
