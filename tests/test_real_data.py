"""bench/real_data.py on a tiny made-up MovieLens copy: labels, history, split, ids, dtypes, toss cache.

The files are written here (never the real data, whose licence forbids redistribution); the expected
history and split come from a plain per-user loop, the definition the vectorised converter must match.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import run_context

from bench import real_data as rd
from toss_core import steps
from toss_core.layout import Layout

REPO = Path(__file__).resolve().parents[1]
CFG = REPO / "cfgs" / "movielens.yaml"


N_MOVIES = 12
# user 1 by hand: ties at t=100 (movies 2, 1) and t=300 (movies 5, 4); the rest random
USER1 = [(2, 3, 100), (1, 5, 100), (3, 4, 200), (5, 4, 300), (4, 1, 300), (6, 2, 400), (7, 5, 500)]


def _ratings() -> list[tuple[int, int, int, int]]:
    rows = [(1, m, r, t) for m, r, t in USER1]
    rng = np.random.default_rng(0)
    for user in range(2, 8):
        n = int(rng.integers(3, N_MOVIES + 1))
        movies = rng.choice(np.arange(1, N_MOVIES + 1), size=n, replace=False)
        times = 880_000_000 + rng.integers(0, 6, size=n) * 3_600  # few distinct times: many ties
        rows += [(user, int(m), int(rng.integers(1, 6)), int(t)) for m, t in zip(movies, times, strict=True)]
    return rows


def _write_src(src: Path, ratings: list[tuple[int, int, int, int]]) -> None:
    src.mkdir(parents=True, exist_ok=True)
    (src / "u.data").write_text("".join(f"{u}\t{m}\t{r}\t{t}\n" for u, m, r, t in ratings))
    users = [
        (1, 24, "M", "technician", "85711"),
        (2, 53, "F", "other", "94043"),
        (3, 17, "M", "writer", "T8H1N"),
    ]
    users += [(u, 20 + 7 * u, "F", "educator", f"{u}0000") for u in range(4, 8)]
    (src / "u.user").write_text("".join("|".join(map(str, row)) + "\n" for row in users))
    lines = []
    for m in range(1, N_MOVIES + 1):
        flags = ["0"] * 19
        flags[m % 19] = "1"
        flags[(m + 3) % 19] = "1"
        date = "" if m == 3 else f"01-Jan-{1980 + m}"
        title = "Café (1995)" if m == 1 else f"Movie {m} (1990)"
        lines.append(f"{m}|{title}|{date}||http://us.imdb.com/M/x?{m}|" + "|".join(flags) + "\n")
    (src / "u.item").write_bytes("".join(lines).encode("latin-1"))


@pytest.fixture
def converted(tmp_path: Path) -> tuple[list, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    ratings = _ratings()
    _write_src(tmp_path / "src", ratings)
    out = tmp_path / "data" / "movielens"
    assert rd.main(["--src", str(tmp_path / "src"), "--out", str(out)]) == 0
    frames = [pl.read_parquet(out / f"{n}.parquet") for n in ("train", "test", "test_truth")]
    return ratings, *frames


def _expected(ratings: list, seq_max: int) -> dict[tuple[str, str], tuple[str, bool]]:
    """(user, movie) -> (seq, is_test) by the definition, one user at a time."""
    out = {}
    for user in sorted({r[0] for r in ratings}):
        rows = sorted((t, m) for u, m, _, t in ratings if u == user)
        n_test = len(rows) // 5
        for i, (t, m) in enumerate(rows):
            earlier = [str(mm) for tt, mm in rows if tt < t][-seq_max:]
            out[(str(user), str(m))] = (",".join(earlier), i >= len(rows) - n_test)
    return out


def _rows(train: pl.DataFrame, test: pl.DataFrame) -> dict[tuple[str, str], tuple[str, bool]]:
    both = pl.concat([train.select("user", "movie", "seq"), test.select("user", "movie", "seq")])
    flags = [False] * train.height + [True] * test.height
    return {(u, m): (s, f) for (u, m, s), f in zip(both.iter_rows(), flags, strict=True)}


def test_click_is_rating_at_least_four(converted) -> None:
    ratings, train, test, truth = converted
    rating = {(str(u), str(m)): r for u, m, r, _ in ratings}
    test_clicks = test.select("ID", "user", "movie").join(truth, on="ID")
    for frame in (train, test_clicks):
        for u, m, c in frame.select("user", "movie", "clicked").iter_rows():
            assert c == int(rating[(u, m)] >= 4)
    assert train.height + test.height == len(ratings)


def test_history_strictly_earlier_most_recent_last_and_split(converted) -> None:
    ratings, train, test, _ = converted
    assert _rows(train, test) == _expected(ratings, rd.SEQ_MAX)
    user1 = dict(train.filter(pl.col("user") == "1").select("movie", "seq").iter_rows())
    assert user1["1"] == user1["2"] == ""  # tied first ratings see nothing, not each other
    assert user1["4"] == user1["5"] == "1,2,3"  # tie at t=300 ordered by movie id before
    test1 = test.filter(pl.col("user") == "1")
    assert test1["movie"].to_list() == ["7"]  # 7 ratings: the last 7 // 5 = 1 is the test row


def test_history_is_capped(converted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ratings = converted[0]
    monkeypatch.setattr(rd, "SEQ_MAX", 2)
    train, test, _ = rd.convert(tmp_path / "src")
    got = _rows(train, test)
    assert got == _expected(ratings, 2)
    assert max(s.count(",") for s, _ in got.values()) == 1
    assert got[("1", "7")][0] == "5,6"  # the two most recent, most recent last


def test_ids_truth_and_dtypes(converted) -> None:
    _, train, test, truth = converted
    assert test["ID"].n_unique() == test.height
    assert test["ID"].to_list() == [f"TEST_{i:07d}" for i in range(test.height)]
    assert truth["ID"].to_list() == test["ID"].to_list()
    assert "clicked" not in test.columns and "ID" not in train.columns
    assert train["timestamp"].dtype.is_integer() and "timestamp" not in test.columns  # for cv.time_key
    assert train.schema["clicked"] == truth.schema["clicked"] == pl.Int32
    for col in [*rd.CAT_COLS, "seq"]:
        assert train.schema[col] == test.schema[col] == pl.String
    assert train.schema["year"] == test.schema["year"] == pl.Float32
    items = pl.concat([train, test.drop("ID")], how="diagonal")
    assert items.filter(pl.col("movie") == "3")["year"].is_null().all()  # empty release date
    assert set(items.filter(pl.col("user") == "3")["zip1"]) == {"T"}
    assert set(items.filter(pl.col("user") == "3")["age"]) == {"<18"}
    assert set(items["hour"].cast(pl.Int32)) <= set(range(24))
    assert set(items["weekday"]) <= {str(d) for d in range(1, 8)}
    assert set(items.filter(pl.col("movie") == "1")["genre"]) == {"Action"}  # flags 1 and 4: the first


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("u.data", None, "u.data: file not found"),
        ("u.data", b"1\t2\tthree\t100\n", "u.data: malformed"),
        ("u.data", b"1\t2\t3\n", "u.data: empty values"),
        ("u.data", b"1\t2\t9\t100\n", "u.data: 1 ratings outside 1..5"),
        ("u.user", b"1|24|M|technician|85711|extra\n", "u.user: malformed"),
        ("u.item", b"1|x|31-Foo-1995||u|" + b"|".join([b"0"] * 19) + b"\n", "u.item: release date"),
    ],
)
def test_bad_inputs_are_one_line_errors_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture, name: str, content: bytes | None, message: str
) -> None:
    _write_src(tmp_path, _ratings())
    path = tmp_path / name
    if content is None:
        path.unlink()
    else:  # the first line replaced, the rest intact
        path.write_bytes(content + path.read_bytes().split(b"\n", 1)[1])
    assert rd.main(["--src", str(tmp_path), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "out").exists()


def test_ratings_must_name_known_users(tmp_path: Path) -> None:
    _write_src(tmp_path, [*_ratings(), (99, 1, 4, 1)])
    with pytest.raises(rd.RealDataError, match=r"u.data: 1 ratings name user ids absent from .*u.user"):
        rd.convert(tmp_path)


def test_output_builds_toss_caches_with_the_movielens_config(converted, tmp_path: Path) -> None:
    from toss_core.config import load_config

    cfg = load_config(CFG, ["data.shard_rows=16"])
    layout = Layout(cfg, root=tmp_path)  # data/movielens/ under tmp_path, where the fixture wrote it
    raw = steps.prepare_raw(run_context(layout))
    assert raw.truth_path == layout.truth_path
    train_cache, test_cache = steps.build_caches(run_context(layout))
    _, train, test, _ = converted
    assert (train_cache.n_rows, test_cache.n_rows) == (train.height, test.height)
    from toss_core.data.reader import read_manifest

    manifest = read_manifest(layout.train_cache)
    assert manifest["columns"]["cat"] == rd.CAT_COLS and manifest["columns"]["num"] == rd.NUM_COLS
    # the movies seen in train histories, remapped to 2..K+1 (0 padding, 1 out of vocabulary)
    assert 2 < manifest["seq_vocab_size"] == manifest["seq_vocab"]["tokens"] + 2 <= N_MOVIES + 2


def test_plain_lightgbm_scores_the_test_rows_against_their_truth(converted, tmp_path: Path) -> None:
    """The bar users compare against: one LightGBM on the raw Parquet, scored with toss's own metric."""
    from bench.plain_lightgbm import plain_lightgbm

    data = tmp_path / "data" / "movielens"
    args = ("clicked", "ID", ["user", "movie", "gender", "age", "occupation"], ["year"])
    result = plain_lightgbm(data / "train.parquet", data / "test.parquet", data / "test_truth.parquet", *args)
    assert set(result) >= {"AUC", "AP", "WLL", "Score", "seconds", "best_iteration"}
    assert 0.0 <= result["Score"] <= 1.0 and result["best_iteration"] >= 1
    _, _, _, truth = converted
    truth.head(truth.height - 1).write_parquet(tmp_path / "short_truth.parquet")
    with pytest.raises(ValueError, match="do not match"):
        plain_lightgbm(data / "train.parquet", data / "test.parquet", tmp_path / "short_truth.parquet", *args)
