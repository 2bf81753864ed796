"""Frappe as a toss train / test / test_truth Parquet triple: the all-categorical public CTR set.

    nice .venv/bin/python -m bench.frappe_data --src DIR_WITH_LIBFM_FILES --out data/frappe

Why: Frappe (957 users, 4,082 apps, eight context fields) is the set where one CatBoost model at its
defaults beats a plain LightGBM by 0.02 AUC; it has no behaviour sequence and no numeric column, so it
measures the families on categorical crosses alone. The files come from the public libFM copy in
github.com/hexiangnan/neural_factorization_machine (data/frappe/); the licence forbids redistribution,
so the script reads a folder the user fetched and nothing of it enters git.

Mapping: each libFM row `label idx:1 … idx:1` holds ten indices, one per field in a fixed order (user,
item, daytime, weekday, isweekend, homework, cost, weather, country, city), each field its own index
range; `clicked` = label 1 (the −1 rows are sampled negatives, two per positive). Split: the files'
own, frappe.validation.libfm (57,721 rows) as train and frappe.test.libfm (28,860) as test, as the
benchmark issue names them. The test rows get `ID` TEST_0000000…, their labels only in test_truth.
Columnar (Polars), no Python loop over rows.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import polars as pl

FIELDS = ["user", "item", "daytime", "weekday", "isweekend", "homework", "cost", "weather", "country", "city"]
LABEL, ID = "clicked", "ID"
SPLIT = {"train": "frappe.validation.libfm", "test": "frappe.test.libfm"}


class FrappeDataError(ValueError):
    """An input file that is missing or malformed; the message names the file."""


def read_libfm(path: Path) -> pl.DataFrame:
    """One libFM file as `clicked` (0/1) and the ten fields (their index as a string)."""
    if not path.is_file():
        raise FrappeDataError(f"{path}: file not found")
    try:
        raw = pl.read_csv(
            path, has_header=False, separator=" ", new_columns=["label", *FIELDS], schema_overrides=None
        )
    except pl.exceptions.PolarsError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise FrappeDataError(f"{path}: not a 10-field libFM file ({first})") from None
    if raw.width != len(FIELDS) + 1 or raw.height == 0:
        raise FrappeDataError(f"{path}: expected a label and {len(FIELDS)} idx:value fields per row")
    labels = raw["label"].cast(pl.Int64, strict=False)
    if labels.is_null().any() or not labels.is_in([-1, 1]).all():
        raise FrappeDataError(f"{path}: labels must be -1 or 1")
    fields = [pl.col(f).cast(pl.String).str.split(":").list.first().alias(f) for f in FIELDS]
    return raw.select((pl.col("label").cast(pl.Int64) == 1).cast(pl.Int32).alias(LABEL), *fields)


def convert(src: Path, out: Path) -> dict[str, object]:
    """Write train.parquet, test.parquet and test_truth.parquet under `out`; returns a summary."""
    started = time.perf_counter()
    train, test = (read_libfm(Path(src) / SPLIT[kind]) for kind in ("train", "test"))
    ids = pl.Series(ID, [f"TEST_{i:07d}" for i in range(test.height)])
    out.mkdir(parents=True, exist_ok=True)
    train.write_parquet(out / "train.parquet")
    test.drop(LABEL).insert_column(0, ids).write_parquet(out / "test.parquet")
    pl.DataFrame({ID: ids, LABEL: test[LABEL]}).write_parquet(out / "test_truth.parquet")
    return {
        "train_rows": train.height,
        "test_rows": test.height,
        "train_click_rate": round(float(train[LABEL].to_numpy().mean()), 4),
        "test_click_rate": round(float(test[LABEL].to_numpy().mean()), 4),
        "seconds": round(time.perf_counter() - started, 2),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--src", type=Path, required=True, help="folder with frappe.validation/test.libfm")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    try:
        print(json.dumps(convert(args.src, args.out)))
    except FrappeDataError as exc:
        print(f"frappe_data: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
