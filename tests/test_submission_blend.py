"""Blending two submission files: alignment by ID, each method, refusal of mismatched IDs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from toss_core.post.submission_blend import blend_files
from toss_core.post.submission_file import read_submission
from toss_core.util.errors import DataError


def _write(path: Path, rows: list[tuple[str, float]]) -> Path:
    path.write_text("ID,clicked\n" + "".join(f"{i},{p}\n" for i, p in rows))
    return path


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    # the second file lists the same IDs in another order
    first = _write(tmp_path / "a.csv", [("A", 0.5), ("B", 0.75), ("C", 0.1)])
    second = _write(tmp_path / "b.csv", [("C", 0.3), ("A", 0.25), ("B", 0.75)])
    return first, second


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        # logit mean: A = σ((0 + logit .25)/2) = σ(−ln3 / 2) = 1/(1+√3) = .36603
        ("logit_mean", {"A": 1 / (1 + np.sqrt(3)), "B": 0.75}),
        # mean of probabilities: A = (.5 + .25)/2, C = (.1 + .3)/2
        ("mean", {"A": 0.375, "B": 0.75, "C": 0.2}),
        # geometric mean of p: A = √(.5·.25) = .35355, C = √(.1·.3) = .17321
        ("geom_mean", {"A": np.sqrt(0.125), "B": 0.75, "C": np.sqrt(0.03)}),
    ],
)
def test_methods_align_by_id(pair, tmp_path: Path, method: str, expected: dict[str, float]):
    out = tmp_path / "out.csv"
    summary = blend_files(*pair, out, method=method, w=0.5)
    got = dict(read_submission(out).iter_rows())
    assert list(got) == ["A", "B", "C"]  # the first file's order
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-9)
    assert summary["n_rows"] == 3


def test_rank_average(pair, tmp_path: Path):
    # ranks in a: A 2, B 3, C 1; in b: A 1, B 3, C 2 → mean ranks A 1.5, B 3, C 1.5 (A and C tie)
    # the logit_mean values sorted are given along that order, the tied pair sharing their mean
    out = tmp_path / "out.csv"
    blend_files(*pair, out, method="rank_avg")
    got = dict(read_submission(out).iter_rows())
    assert got["A"] == pytest.approx(got["C"])
    assert got["B"] == pytest.approx(0.75)
    assert got["A"] < got["B"]


def test_weight_one_returns_the_first_file(pair, tmp_path: Path):
    out = tmp_path / "out.csv"
    blend_files(*pair, out, method="logit_mean", w=1.0)
    assert dict(read_submission(out).iter_rows()) == pytest.approx({"A": 0.5, "B": 0.75, "C": 0.1})


def test_refuses_files_with_different_ids(tmp_path: Path):
    first = _write(tmp_path / "a.csv", [("A", 0.5), ("B", 0.5), ("C", 0.5)])
    second = _write(tmp_path / "b.csv", [("A", 0.5), ("D", 0.5), ("E", 0.5), ("F", 0.5)])
    out = tmp_path / "out.csv"
    pattern = r"2 IDs of \S*a\.csv are missing from \S*b\.csv .* 3 IDs of \S*b\.csv are missing"
    with pytest.raises(DataError, match=pattern):
        blend_files(first, second, out)
    assert not out.exists()


def test_refuses_an_invalid_input_and_a_bad_weight(pair, tmp_path: Path):
    bad = _write(tmp_path / "bad.csv", [("A", 1.5), ("B", 0.5), ("C", 0.5)])
    with pytest.raises(DataError, match="1 predictions outside"):
        blend_files(pair[0], bad, tmp_path / "out.csv")
    with pytest.raises(ValueError, match="w must lie in"):
        blend_files(*pair, tmp_path / "out.csv", w=1.5)
