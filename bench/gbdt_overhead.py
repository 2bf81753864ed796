"""The tree families through toss vs the same library called directly: iterations/s on one fold's matrix.

On a cache whose folds are assigned (`toss build-cache`, `toss folds`, and `toss covis` when enabled),
fold 0's design matrix is built once with toss's own code, then each arm boosts `--rounds` rounds on
it with the same parameters, alternating arms for `--repeats` rounds of measurement (medians):
- toss: the family's boosting call exactly as its train_fold makes it (the validation set, early
  stopping that never triggers here, the progress callback);
- direct: the library on the same training data and parameters, no validation set, no callbacks;
- direct + valid: the same with the validation set, i.e. the library's own per-round metric.
"toss / direct" is the share of the library's speed toss keeps (issue 23's target: ≥ 0.8), from wall
time and from CPU time (direct CPU s / toss CPU s).

    nice .venv/bin/python -m bench.gbdt_overhead --cfg cfgs/dare_qnn_next.yaml --set device=cpu ... \
        --rounds 50 --md bench/results/gbdt_overhead.md
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.markdown import write_section
from toss_core.config import TossConfig, load_config
from toss_core.features.fold_rates import fold_dense, reads_nested
from toss_core.layout import Layout
from toss_core.tabular.design import build_matrix
from toss_core.tabular.inputs import fold_rows
from toss_core.util.omp import load_lightgbm


def _timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """(wall, CPU) seconds of one call; CPU time (every thread of this process) is far less sensitive
    than wall time to the other jobs of a shared machine."""
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - start, time.process_time() - cpu


def lightgbm_arms(cfg: TossConfig, layout: Layout, rounds: int) -> tuple[dict[str, Callable[[], Any]], str]:
    load_lightgbm()
    import lightgbm as lgb

    from toss_core.gbdt.dataset import training_dataset
    from toss_core.gbdt.params import gbdt_params
    from toss_core.gbdt.train import _boost, _inputs, fit_id_encoder

    cache, labels, dense, plan = _inputs(cfg, layout)
    dense = fold_dense(dense, 0, nested=reads_nested(cfg, "gbdt"))
    train_rows, valid_rows = fold_rows(layout, cache.n_rows, 0)
    encoder, oof_te = fit_id_encoder(cfg, plan, cache, train_rows, labels[train_rows])
    params = gbdt_params(cfg, len(train_rows), float(labels[train_rows].mean()))
    y_train = labels[train_rows]
    ds = training_dataset(plan, params, cache, train_rows, y_train, encoder, oof_te, dense, cfg.seed)
    x_valid = build_matrix(plan, cache, valid_rows, encoder, None, dense)
    y_valid = labels[valid_rows]
    arms = {
        "toss": lambda: _boost(cfg, 0, params, ds, x_valid, y_valid),
        "direct": lambda: lgb.train(params, ds, num_boost_round=rounds),
        "direct + valid": lambda: lgb.train(
            params, ds, num_boost_round=rounds, valid_sets=[lgb.Dataset(x_valid, y_valid, reference=ds)]
        ),
    }
    return arms, f"{ds.num_data():,} × {ds.num_feature()} features"


def catboost_arms(cfg: TossConfig, layout: Layout, rounds: int) -> tuple[dict[str, Callable[[], Any]], str]:
    from toss_core.catboost.design import cache_pool, plan_for
    from toss_core.catboost.params import catboost_params, classifier
    from toss_core.catboost.train import _fit
    from toss_core.tabular.inputs import train_inputs

    cache, labels, dense = train_inputs(cfg, layout)
    plan = plan_for(cache, dense, nested=reads_nested(cfg, "catboost"))
    dense = fold_dense(dense, 0, nested=reads_nested(cfg, "catboost")) if plan.dense_cols else None
    train_rows, valid_rows = fold_rows(layout, cache.n_rows, 0)
    params = catboost_params(cfg)
    train_pool = cache_pool(plan, cache, train_rows, dense, labels[train_rows])
    valid_pool = cache_pool(plan, cache, valid_rows, dense, labels[valid_rows])
    early = cfg.catboost.early_stopping_rounds
    arms = {
        "toss": lambda: _fit(
            params,
            0,
            train_pool,
            len(train_rows),
            eval_set=valid_pool,
            early_stopping_rounds=early,
            use_best_model=True,
        ),
        "direct": lambda: classifier(params).fit(train_pool),
        "direct + valid": lambda: classifier(params).fit(train_pool, eval_set=valid_pool),
    }
    shape = f"{len(train_rows):,} × {len(plan.feature_names)} features ({len(plan.native_cols)} categorical)"
    return arms, shape


FAMILIES = {"gbdt": lightgbm_arms, "catboost": catboost_arms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cfg", type=Path, required=True)
    parser.add_argument("--set", action="append", default=[], help="config override, repeatable")
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--label", default="", help="what data this is, for the table")
    parser.add_argument("--md", type=Path, default=None)
    args = parser.parse_args()
    overrides = [
        *args.set,
        f"gbdt.num_boost_round={args.rounds}",
        f"gbdt.early_stopping_rounds={args.rounds}",
        f"catboost.iterations={args.rounds}",
        f"catboost.early_stopping_rounds={args.rounds}",
    ]
    cfg = load_config(args.cfg, overrides)
    layout = Layout(cfg)
    lines = [
        f"{args.label} fold 0, {args.rounds} rounds per arm, {args.repeats} alternating repeats (medians)",
        "",
        "| family | training matrix | toss it/s | direct it/s | direct + valid it/s | toss / direct "
        "| toss / direct + valid | toss / direct, CPU time | toss / direct + valid, CPU time |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for family in args.families:
        arms, shape = FAMILIES[family](cfg, layout, args.rounds)
        seconds: dict[str, list[tuple[float, float]]] = {name: [] for name in arms}
        for _ in range(args.repeats):
            for name, fn in arms.items():
                seconds[name].append(_timed(fn))
                wall, cpu = seconds[name][-1]
                print(family, name, f"{wall:.1f} s, CPU {cpu:.1f} s", flush=True)
        rate = {name: args.rounds / statistics.median(w for w, _ in s) for name, s in seconds.items()}
        cpu_s = {name: statistics.median(c for _, c in s) for name, s in seconds.items()}
        lines.append(
            f"| {family} | {shape} | {rate['toss']:.2f} | {rate['direct']:.2f} "
            f"| {rate['direct + valid']:.2f} | {rate['toss'] / rate['direct']:.2f} "
            f"| {rate['toss'] / rate['direct + valid']:.2f} | {cpu_s['direct'] / cpu_s['toss']:.2f} "
            f"| {cpu_s['direct + valid'] / cpu_s['toss']:.2f} |"
        )
        del arms
    text = "\n".join(lines) + "\n"
    print(text)
    if args.md:
        write_section(args.md, f"gbdt-overhead-{args.label or 'run'}", text)


if __name__ == "__main__":
    main()
