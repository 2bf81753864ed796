"""The LightGBM family with one id column of 1k-200k values: rounds/s and validation quality per arm.

Why (issue 20): a native id of ~50k values was reported to make LightGBM crawl. For each cardinality a
generic-schema Parquet is written (an id column `user` whose values are drawn with a Zipf-like
popularity, as real user and ad ids are, each carrying a planted click effect; a 300-value `item`, two
small categoricals and numerics), cached with toss's own steps, and fold 0 is trained through the
family's code (id encoder, streamed binned Dataset, the boosting call with early stopping) once per arm
(`--arm name:key=value,...`, config overrides; `--omp-default` loads LightGBM with libgomp's spinning
wait, as before toss_core/util/omp.py). Reported per arm: bins LightGBM gives `user`, Dataset
construction seconds, boosting rounds/s (wall and CPU), the selected round, validation AUC / Score_cal.

    nice -n 10 .venv/bin/python -m bench.lgb_native_ids --cards 1000 10000 50000 200000 \\
        --arm native:gbdt.id_encoding=native --arm target:gbdt.id_encoding=target
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bench.markdown import write_section
from toss_core import steps
from toss_core.config import load_config
from toss_core.context import RunContext

REPO = Path(__file__).resolve().parents[1]


def write_data(out: Path, rows: int, card: int, seed: int, zipf: float) -> None:
    """train/test Parquet: `user` (card values, popularity ∝ 1/rank^zipf, effect N(0, 0.5)), `item` (300
    values, effect N(0, 0.4)), `hour`, `slot` and 20 numerics of which five carry signal; CTR ≈ 4%."""
    import polars as pl

    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, card + 1) ** zipf
    pop /= pop.sum()
    user_eff, item_eff = rng.normal(0, 0.5, card), rng.normal(0, 0.4, 300)
    n = rows + rows // 4
    user = rng.choice(card, n, p=pop)
    item = rng.integers(0, 300, n)
    hour, slot = rng.integers(0, 24, n), rng.integers(0, 6, n)
    num = rng.normal(size=(n, 20)).astype(np.float32)
    z = -3.4 + user_eff[user] + item_eff[item] + 0.3 * np.sin(hour / 4) + 0.2 * (slot == 2)
    z += num[:, :5] @ np.array([0.4, -0.3, 0.2, 0.2, -0.1]) + 0.3 * np.maximum(num[:, 5], 0)
    clicked = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int32)
    cols = {"user": user.astype(str), "item": item.astype(str), "hour": hour.astype(str),
            "slot": slot.astype(str)}  # fmt: skip
    cols.update({f"num_{j}": num[:, j] for j in range(20)})
    df = pl.DataFrame(cols).with_columns(pl.Series("clicked", clicked))
    out.mkdir(parents=True, exist_ok=True)
    df.head(rows).write_parquet(out / "train.parquet")
    test = df.tail(n - rows).with_row_index("i").with_columns(ID=pl.format("TEST_{}", "i")).drop("i")
    test.drop("clicked").write_parquet(out / "test.parquet")


def base_overrides(data: Path, card: int) -> list[str]:
    return [
        "exp_name=lgb_native_ids",
        "families=[gbdt]",
        "data.source=parquet",
        f"data.train_path={data}/train.parquet",
        f"data.test_path={data}/test.parquet",
        f"data.cache_dir=cache/lgb_native_ids/{data.name}",
        "data.cat_cols=[user,item,hour,slot]",
        f"data.num_cols_explicit=[{','.join(f'num_{j}' for j in range(20))}]",
        f"data.hash_buckets={max(100_000, 2 * card)}",
        "sequence.col=null",
        "sequence.query_key=[]",
        "features.covis.enabled=false",
        "cv.n_splits=3",
        "gbdt.id_cols=[user]",
    ]


def run_arm(overrides: list[str], rounds: int) -> dict[str, float]:
    """Fold 0 of the family, timed by phase, exactly as gbdt/train.py _fit_fold trains it."""
    from toss_core.gbdt.dataset import training_dataset
    from toss_core.gbdt.params import gbdt_params
    from toss_core.gbdt.train import _boost, _inputs, fit_id_encoder
    from toss_core.tabular.design import build_matrix
    from toss_core.tabular.fold_result import validation_scores
    from toss_core.tabular.inputs import fold_rows

    cfg = load_config(REPO / "cfgs" / "quality.yaml", [*overrides, f"gbdt.num_boost_round={rounds}"])
    ctx = RunContext.from_config(cfg, REPO)
    steps.prepare(ctx)
    layout = ctx.layout
    cache, labels, dense, plan = _inputs(cfg, layout)
    train_rows, valid_rows = fold_rows(layout, cache.n_rows, 0)
    t0 = time.perf_counter()
    encoder, oof_te = fit_id_encoder(cfg, plan, cache, train_rows, labels[train_rows])
    params = gbdt_params(cfg, len(train_rows), float(labels[train_rows].mean()))
    y = labels[train_rows]
    ds = training_dataset(plan, params, cache, train_rows, y, encoder, oof_te, dense, cfg.seed)
    x_valid = build_matrix(plan, cache, valid_rows, encoder, None, dense)
    built = time.perf_counter() - t0
    wall, cpu = time.perf_counter(), time.process_time()
    booster = _boost(cfg, 0, params, ds, x_valid, labels[valid_rows])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    best = booster.best_iteration or booster.current_iteration()
    done = min(best + cfg.gbdt.early_stopping_rounds, rounds)  # the booster keeps only its best rounds
    logits = np.asarray(booster.predict(x_valid, raw_score=True, num_iteration=best), dtype=np.float32)
    metrics = validation_scores(labels[valid_rows], logits, float(y.mean()), best)[0]
    names = plan.feature_names
    user_bins = ds.feature_num_bin(names.index("cat__user")) if "cat__user" in names else 0
    return {
        "user_bins": user_bins,
        "build_s": built,
        "rounds": done,
        "best": best,
        "rounds_per_s": done / wall,
        "cpu_s_per_round": cpu / done,
        "AUC": metrics["AUC"],
        "Score_cal": metrics["Score_cal"],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cards", type=int, nargs="+", default=[1_000, 10_000, 50_000, 200_000])
    p.add_argument("--rows", type=int, default=300_000)
    p.add_argument("--rounds", type=int, default=300, help="cap on boosting rounds per arm")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--zipf", type=float, default=0.9, help="id popularity ∝ 1/rank^zipf (0: uniform)")
    p.add_argument("--threads", type=int, default=1, help="runtime.num_threads")
    p.add_argument("--omp-default", action="store_true", help="libgomp's default (spinning) wait: the before")
    p.add_argument("--arm", action="append", required=True, metavar="NAME:KEY=VALUE,...")
    p.add_argument("--md", type=Path, default=None, help="write the table into this Markdown file")
    args = p.parse_args()
    arms = {a.split(":", 1)[0]: [s for s in a.split(":", 1)[1].split(",") if s] for a in args.arm}
    if args.omp_default:
        import lightgbm  # noqa: F401  (loaded here, before toss's loader: libgomp's own wait policy)
    head = "| user values | arm | bins of `user` | Dataset s | rounds (best) | rounds/s | CPU s/round | AUC |"
    lines = [head + " Score_cal |", "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for card in args.cards:
        data = REPO / "data" / "lgb_native_ids" / f"r{args.rows}_k{card}_z{args.zipf}_s{args.seed}"
        if not (data / "test.parquet").is_file():
            write_data(data, args.rows, card, args.seed, args.zipf)
        for name, sets in arms.items():
            overrides = [*base_overrides(data, card), f"runtime.num_threads={args.threads}", *sets]
            overrides.append(f"exp_name=lgb_native_ids_{card}_{name}")
            r = run_arm(overrides, args.rounds)
            cells = [f"{card:,}", name, f"{r['user_bins']:,}", f"{r['build_s']:.1f}",
                     f"{r['rounds']} ({r['best']})", f"{r['rounds_per_s']:.2f}",
                     f"{r['cpu_s_per_round']:.3f}", f"{r['AUC']:.4f}", f"{r['Score_cal']:.4f}"]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    print("\n".join(lines))
    if args.md:
        write_section(args.md, "lgb_native_ids", "\n".join(lines))


if __name__ == "__main__":
    main()
