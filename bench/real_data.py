"""MovieLens-100k as a toss train / test / test_truth Parquet triple, to check quality on real data.

    nice .venv/bin/python -m bench.real_data --src DIR_WITH_ML_100K_FILES --out data/movielens

Why: every other benchmark runs on the synthetic Toss-schema generator, whose structure toss was tuned
on; a public log with a real user/item signal shows whether the gains hold. The data's licence forbids
redistribution, so this script reads a folder the user downloaded and nothing of it enters git.

Mapping: one row per rating, `clicked` = rating >= 4; `seq` = the user's movie ids with a strictly
earlier timestamp (at most SEQ_MAX, most recent last; ties in time ordered by movie id), the form
toss_core.data.seqparse reads (comma-separated digits, "" for no history); categoricals as strings
(user, movie, gender, age bucket, occupation, zip prefix, first genre, hour, weekday in UTC) and the
release year as float32. Split: each user's last n // 5 ratings (20%) by (timestamp, movie id) are
the test rows (`ID` TEST_0000000...; labels only in test_truth), the rest train. Everything is
columnar (Polars, ~0.5 s for the 100k ratings), no Python loop over rows.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import polars as pl

SEQ_MAX = 200  # history tokens kept per row
TEST_SHARE_DIV = 5  # a user's last n // 5 ratings (20%) are test rows
CLICK_RATING = 4  # rating >= 4 is a click
GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War",
    "Western",
]  # fmt: skip
# (upper bound exclusive, label): the MovieLens-1M age groups
AGE_BUCKETS = [(18, "<18"), (25, "18-24"), (35, "25-34"), (45, "35-44"), (50, "45-49"), (56, "50-55")]
CAT_COLS = ["user", "movie", "gender", "age", "occupation", "zip1", "genre", "hour", "weekday"]
NUM_COLS = ["year"]
LABEL, ID, SEQ = "clicked", "ID", "seq"
TIME = "timestamp"  # seconds since 1970 (UTC) of the rating, in train only: for cv.time_key

_DATA_SCHEMA = {"user": pl.Int64, "movie": pl.Int64, "rating": pl.Int64, "ts": pl.Int64}
_USER_SCHEMA = {
    "user": pl.Int64,
    "age": pl.Int64,
    "gender": pl.String,
    "occupation": pl.String,
    "zip": pl.String,
}
_ITEM_SCHEMA = {
    "movie": pl.Int64,
    "title": pl.String,
    "release": pl.String,
    "video_release": pl.String,
    "url": pl.String,
    **{f"g{i}": pl.Int64 for i in range(len(GENRES))},
}


class RealDataError(ValueError):
    """An input file that is missing or malformed; the message names the file."""


def _read(
    path: Path, schema: Mapping[str, pl.DataType | type[pl.DataType]], sep: str, encoding: str
) -> pl.DataFrame:
    """One headerless MovieLens file, parsed with its exact column count and types (empty fields: null)."""
    if not path.is_file():
        raise RealDataError(f"{path}: file not found")
    raw = path.read_bytes()
    if not raw.strip():
        raise RealDataError(f"{path}: empty file")
    try:
        return pl.read_csv(
            raw.decode(encoding).encode(), has_header=False, separator=sep, quote_char=None, schema=schema
        )
    except (UnicodeDecodeError, pl.exceptions.PolarsError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RealDataError(
            f"{path}: malformed ({len(schema)} {sep!r}-separated fields expected): {first}"
        ) from None


def _require(frame: pl.DataFrame, path: Path, cols: list[str]) -> None:
    """Reject empty values in the fields the conversion reads (a short line parses as trailing nulls)."""
    nulls = {c: n for c, n in zip(cols, frame.select(pl.col(cols).null_count()).row(0), strict=True) if n}
    if nulls:
        raise RealDataError(f"{path}: empty values in required field(s) {nulls}")


def load(src: Path) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(ratings, users, items) from u.data, u.user, u.item in `src`, checked for the fields used."""
    data_p, user_p, item_p = src / "u.data", src / "u.user", src / "u.item"
    ratings = _read(data_p, _DATA_SCHEMA, "\t", "utf-8")
    _require(ratings, data_p, list(_DATA_SCHEMA))
    bad = ratings.filter(~pl.col("rating").is_between(1, 5))
    if bad.height:
        raise RealDataError(f"{data_p}: {bad.height} ratings outside 1..5 (first: {bad['rating'][0]})")
    users = _read(user_p, _USER_SCHEMA, "|", "utf-8")
    _require(users, user_p, ["user", "age", "gender", "occupation"])
    items = _read(item_p, _ITEM_SCHEMA, "|", "latin-1")
    _require(items, item_p, ["movie", *(f"g{i}" for i in range(len(GENRES)))])
    for frame, path, key in ((users, user_p, "user"), (items, item_p, "movie")):
        n_dup = frame.height - frame[key].n_unique()
        if n_dup:
            raise RealDataError(f"{path}: {n_dup} duplicated {key} ids")
        unknown = ratings.join(frame.select(key), on=key, how="anti")
        if unknown.height:
            raise RealDataError(
                f"{data_p}: {unknown.height} ratings name {key} ids absent from {path} "
                f"(first: {unknown[key][0]})"
            )
    return ratings, users, items


def _user_features(users: pl.DataFrame) -> pl.DataFrame:
    age = pl.lit("56+")
    for upper, label in reversed(AGE_BUCKETS):
        age = pl.when(pl.col("age") < upper).then(pl.lit(label)).otherwise(age)
    return users.select(
        "user",
        pl.col("gender"),
        age.alias("age"),
        pl.col("occupation"),
        pl.col("zip").str.slice(0, 1).alias("zip1"),
    )


def _item_features(items: pl.DataFrame, path: Path) -> pl.DataFrame:
    flags = [f"g{i}" for i in range(len(GENRES))]
    first = pl.lit("none")
    for i in reversed(range(len(GENRES))):
        first = pl.when(pl.col(flags[i]) == 1).then(pl.lit(GENRES[i])).otherwise(first)
    try:
        year = pl.col("release").str.strptime(pl.Date, "%d-%b-%Y", strict=True).dt.year()
        out = items.select("movie", first.alias("genre"), year.cast(pl.Float32).alias("year"))
    except pl.exceptions.PolarsError as exc:
        raise RealDataError(
            f"{path}: release date not like 01-Jan-1995: {str(exc).splitlines()[0]}"
        ) from None
    return out


def _with_history(ratings: pl.DataFrame) -> pl.DataFrame:
    """Sort by (user, ts, movie) and add `seq` and the per-user rank / count the split needs.

    A row's history is the user's rows before the first row sharing its timestamp, so ties in time never
    see each other. Each user's movie ids are joined once into one string; a row's `seq` is a substring
    of it cut at token offsets (cumulative token widths), so the work is linear in the characters."""
    frame = ratings.sort("user", "ts", "movie").with_columns(tok=pl.col("movie").cast(pl.String))
    width = pl.col("tok").str.len_bytes() + 1  # a token and its comma
    frame = frame.with_columns(
        rank=pl.int_range(pl.len()).over("user"),
        n_user=pl.len().over("user"),
        pos=(width.cum_sum() - width).over("user"),  # byte offset of the token in the user's string
    ).with_columns(
        first=pl.int_range(pl.len()) - pl.col("rank"),  # global row of the user's first rating
        n_before=pl.col("rank").min().over("user", "ts"),  # ratings with a strictly earlier timestamp
    )
    joined = frame.group_by("user").agg(pl.col("tok").str.join(",").alias("all_toks"))
    frame = frame.join(joined, on="user", how="left", maintain_order="left")
    kept_from = pl.col("first") + (pl.col("n_before") - SEQ_MAX).clip(lower_bound=0)
    begin = pl.col("pos").gather(kept_from)
    end = pl.col("pos").gather(pl.col("first") + pl.col("n_before"))  # just past the last comma kept
    seq = (
        pl.when(pl.col("n_before") > 0)
        .then(pl.col("all_toks").str.slice(begin, end - begin - 1))
        .otherwise(pl.lit(""))
    )
    return frame.with_columns(seq.alias(SEQ)).drop("tok", "pos", "first", "n_before", "all_toks")


def convert(src: Path) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(train, test, test_truth) frames from the MovieLens-100k folder `src`."""
    ratings, users, items = load(src)
    frame = _with_history(ratings)
    when = pl.from_epoch("ts", time_unit="s")  # naive datetime in UTC
    frame = (
        frame.join(_user_features(users), on="user", how="left")
        .join(_item_features(items, src / "u.item"), on="movie", how="left")
        .with_columns(
            (pl.col("rating") >= CLICK_RATING).cast(pl.Int32).alias(LABEL),
            when.dt.hour().cast(pl.String).alias("hour"),
            when.dt.weekday().cast(pl.String).alias("weekday"),
            pl.col("user").cast(pl.String),
            pl.col("movie").cast(pl.String),
            is_test=pl.col("rank") >= pl.col("n_user") - pl.col("n_user") // TEST_SHARE_DIV,
        )
        .sort("user", "ts", "movie")
    )
    features = [*CAT_COLS, *NUM_COLS, SEQ]
    # the rating time stays in train, not as a feature: what time-ordered folds (cv.time_key) sort on
    train = frame.filter(~pl.col("is_test")).select(*features, LABEL, pl.col("ts").alias(TIME))
    test_rows = frame.filter(pl.col("is_test"))
    ids = pl.format("TEST_{}", pl.int_range(pl.len()).cast(pl.String).str.zfill(7)).alias(ID)
    test_rows = test_rows.with_columns(ids)
    return train, test_rows.select(ID, *features), test_rows.select(ID, LABEL)


def _summary(frame: pl.DataFrame) -> dict[str, float]:
    out: dict[str, float] = {"rows": frame.height}
    if LABEL in frame.columns:
        out["positive_rate"] = round(float(frame[LABEL].to_numpy().mean()), 4)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, required=True, help="folder with u.data, u.user, u.item")
    parser.add_argument("--out", type=Path, required=True, help="folder for train/test/test_truth.parquet")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        train, test, truth = convert(args.src)
    except RealDataError as exc:
        print(f"real_data: error: {exc}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    for name, frame in (("train", train), ("test", test), ("test_truth", truth)):
        frame.write_parquet(args.out / f"{name}.parquet")
    report = {n: _summary(f) for n, f in (("train", train), ("test", test), ("test_truth", truth))}
    print(json.dumps({**report, "seconds": round(time.perf_counter() - start, 3), "out": str(args.out)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
