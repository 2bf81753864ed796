"""Submission validation (each kind of bad file) and the submission step on the smoke test cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_config

from toss_core.layout import Layout
from toss_core.post.submission import write_submission
from toss_core.post.submission_file import read_submission, validate_submission, write_submission_csv
from toss_core.util.errors import ArtifactError, DataError

IDS = np.array([f"TEST_{i:07d}" for i in range(4)])


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sub.csv"
    path.write_text(text)
    return path


def _rows(pairs: list[tuple[str, str]]) -> str:
    return "ID,clicked\n" + "".join(f"{i},{p}\n" for i, p in pairs)


GOOD = [(i, "0.5") for i in IDS]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "id,clicked\n" + "".join(f"{i},0.5\n" for i in IDS),
            "header must be 'ID,clicked', found 'id,clicked'",
        ),
        ("ID,clicked,extra\n" + "".join(f"{i},0.5,1\n" for i in IDS), "found 'ID,clicked,extra'"),
        (_rows(GOOD[:2]), r"2 test IDs missing \(e.g. 'TEST_0000002', 'TEST_0000003'\)"),
        (_rows([*GOOD, ("TEST_9999999", "0.5")]), r"1 IDs not in the test file \(e.g. 'TEST_9999999'\)"),
        (_rows([*GOOD, GOOD[1], GOOD[1]]), "1 duplicated IDs, 2 surplus rows"),
        (_rows([*GOOD[:2], (IDS[2], "nan"), (IDS[3], "inf")]), r"2 non-finite predictions \(NaN or inf\)"),
        (_rows([*GOOD[:2], (IDS[2], "abc"), (IDS[3], "")]), "2 missing or non-numeric predictions"),
        (_rows([*GOOD[:2], (IDS[2], "1.5"), (IDS[3], "-0.1")]), r"2 predictions outside \[0, 1\]"),
    ],
    ids=["header", "extra-column", "missing", "extra-id", "duplicate", "nan", "non-numeric", "range"],
)
def test_each_bad_file_is_rejected_with_a_count(tmp_path: Path, text: str, message: str):
    with pytest.raises(DataError, match=message):
        validate_submission(_csv(tmp_path, text), IDS)


def test_several_problems_are_reported_together(tmp_path: Path):
    text = _rows([GOOD[0], GOOD[0], (IDS[1], "nan")])
    with pytest.raises(DataError, match=r"duplicated IDs.*non-finite.*2 test IDs missing"):
        validate_submission(_csv(tmp_path, text), IDS)


def test_a_valid_file_in_any_order(tmp_path: Path):
    summary = validate_submission(_csv(tmp_path, _rows(GOOD[::-1])), IDS)
    assert summary == {"n_rows": 4, "mean": 0.5, "min": 0.5, "max": 0.5}


def test_writer_validates_before_renaming(tmp_path: Path):
    out = tmp_path / "submission.csv"
    with pytest.raises(DataError, match=r"not written\).*1 non-finite"):
        write_submission_csv(out, IDS, np.array([0.1, np.nan, 0.2, 0.3]), IDS)
    assert list(tmp_path.iterdir()) == []
    write_submission_csv(out, IDS, np.array([0.1, 0.2, 0.3, 0.4]), IDS)
    assert out.read_text().splitlines()[:2] == ["ID,clicked", "TEST_0000000,0.1"]


def _run_on_smoke_cache(smoke_cached: Layout, root: Path) -> Layout:
    cfg = make_config(f"data.cache_dir={smoke_cached.cache_dir}", f"data.test_path={smoke_cached.test_path}")
    return Layout(cfg, root=root)


def _fake_ensemble(layout: Layout, pred: np.ndarray, test_fingerprint: str) -> None:
    layout.run_dir.mkdir(parents=True, exist_ok=True)
    np.save(layout.test_pred_path, pred)
    ensemble = {"families": [], "fingerprints": {"test_cache": test_fingerprint, "models": {}}}
    layout.ensemble_path.write_text(json.dumps(ensemble))


def test_submission_step_writes_validates_and_scores(smoke_cached: Layout, tmp_path: Path):
    from toss_core.data.reader import ShardedCache

    layout = _run_on_smoke_cache(smoke_cached, tmp_path)
    test = ShardedCache(layout.test_cache)
    pred = np.random.default_rng(0).uniform(0.05, 0.95, test.n_rows)
    _fake_ensemble(layout, pred, test.fingerprint)
    result = write_submission(layout.cfg, layout)
    ids = test.read_field("id").astype(str)
    assert result.n_rows == test.n_rows
    assert result.preview[0] == {"ID": ids[0], "clicked": pytest.approx(pred[0])}
    assert len(result.preview) == 5
    written = read_submission(layout.submission_path, ids)
    np.testing.assert_allclose(written["clicked"].to_numpy(), pred)
    assert result.test_metrics is not None and 0.0 < result.test_metrics["Score"] < 1.0  # truth exists


def test_stale_predictions_are_refused(smoke_cached: Layout, tmp_path: Path):
    from toss_core.data.reader import ShardedCache

    layout = _run_on_smoke_cache(smoke_cached, tmp_path)
    test = ShardedCache(layout.test_cache)
    with pytest.raises(ArtifactError, match="run the ensemble step first"):
        write_submission(layout.cfg, layout)
    _fake_ensemble(layout, np.full(test.n_rows, 0.5), "0000000000000000")
    with pytest.raises(ArtifactError, match=f"made for test cache 0000000000000000.*is {test.fingerprint}"):
        write_submission(layout.cfg, layout)
    assert not layout.submission_path.exists()
