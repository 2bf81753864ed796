"""Toss-schema synthetic data with real-like ad-id densities, for choices that depend on clicks per id.

    nice .venv/bin/python -m bench.dense_ids --clicks-per-adset 60 --rows 200000 --seed 23 \\
        --out /work/data/synth_dense60

Why: the generator plants 3,200 ad sets, 1,500 campaigns and 5,000 creatives, sized for the full 10.7M-row
Toss set (~60 clicks per ad set there). At the 100k-200k rows a benchmark can afford, that leaves 0.3-1.3
clicks per id value, so every id-encoding measurement on synthetic data sat at the sparse end. This script
runs the same generator with fewer ad ids, scaled so that an ad set carries `--clicks-per-adset` clicks
on average at `--rows` (campaigns and creatives in the generator's proportions), so the planted id
effects keep their size while their evidence per value matches the real data. It writes train / test /
test_truth Parquet (read with data.source: parquet) and adds `t`, the row's position in train.parquet,
as an order column for cv.order_key (the generator's rows are exchangeable: it orders nothing).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import polars as pl

from toss_core.synth import click, schema, writer


def ad_counts(rows: int, clicks_per_adset: float) -> tuple[int, int, int]:
    """(campaigns, ad sets, creatives) giving `clicks_per_adset` clicks per ad set at the click rate."""
    adsets = max(2, round(rows * schema.CLICK_RATE / clicks_per_adset))
    ratio = adsets / schema.N_ADSET
    return max(2, round(schema.N_CAMPAIGN * ratio)), adsets, max(2, round(schema.N_CREATIVE * ratio))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clicks-per-adset", type=float, required=True)
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--test-rows", type=int, default=None, help="default rows // 4")
    p.add_argument("--seed", type=int, default=23)
    p.add_argument("--seq-len-scale", type=float, default=0.25, help="shorter sequences: a quicker cache")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    campaigns, adsets, creatives = ad_counts(args.rows, args.clicks_per_adset)
    click.N_CAMPAIGN, click.N_ADSET, click.N_CREATIVE = campaigns, adsets, creatives
    summary = writer.generate(args.out, args.rows, args.test_rows or args.rows // 4, args.seed, 200_000,
                              args.seq_len_scale)  # fmt: skip
    train = args.out / "train.parquet"
    pl.read_parquet(train).with_row_index("t").write_parquet(train)
    (args.out / "synth_meta.json").unlink(missing_ok=True)  # no longer the generator's own files
    info = {"campaigns": campaigns, "adsets": adsets, "creatives": creatives, "summary": str(summary)}
    print(json.dumps(info))


if __name__ == "__main__":
    main()
