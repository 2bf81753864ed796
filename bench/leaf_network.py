"""Does the network earn a place in the blend when it also reads tree leaves (each tree's leaf as a field)?

    nice .venv/bin/python -m bench.leaf_network --data data/frappe --cfg cfgs/frappe.yaml --trees 32
    nice .venv/bin/python -m bench.leaf_network --data data/frappe --cfg cfgs/frappe.yaml --trees 0

The recipe of the Criteo winners (GBDT leaves as categorical inputs of a factorisation model), tried on a
finished bench.quality run (the same arguments) without touching the product. For each fold k it trains a
small LightGBM on fold k's training rows only (their cat codes, numeric columns and fold k's plain click
rates), writes a copy of the raw data with each tree's leaf index as one more categorical column, and
trains and predicts the network's fold k in that copy (`toss build-cache / folds / covis / train /
predict`, run directory `<exp>_<tag>_<k>`). The copies hold the run's own choices fixed: its kept crosses
and its id-trial arm, so a copy differs from the run only by the leaves. `--trees 0` is that control.
The copies' folds must equal the run's. Then the network's OOF and test logits are stacked with the
run's other families as the ensemble step stacks them, and the test is scored at each network share
(bench/family_share.py's table). Fold k's leaves never saw fold k's labels except through the click
rates, which the run's tree families read the same way. Results: BENCHMARKS.md, "the network reading
tree leaves".
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import yaml

from bench.family_share import print_shares
from bench.quality import REPO, add_run_arguments, run_config, run_families
from toss_core.artifacts.fold import FamilyOOF
from toss_core.config import load_config
from toss_core.data.folds import load_folds, stacking_rows
from toss_core.data.reader import ShardedCache
from toss_core.families import registry
from toss_core.features.fold_rates import fold_dense
from toss_core.layout import Layout
from toss_core.post.diagnostics_truth import require_test_truth
from toss_core.post.ensemble import ensemble_family
from toss_core.scoring.calibration import Calibrator
from toss_core.scoring.metrics import evaluate_logits
from toss_core.tabular.inputs import cpu_threads
from toss_core.train.id_trial import choice_path
from toss_core.util.omp import load_lightgbm

NETWORK = "nn"


def tree_inputs(cache: ShardedCache, rates: ShardedCache | None) -> tuple[np.ndarray, int]:
    """[rows, columns] float32 design of every row of `cache` (cat codes first, then numeric columns and
    click rates) and the number of leading categorical columns."""
    rows = np.arange(cache.n_rows)
    fields = [f for f in ("cat", "num") if f in cache.fields]
    arrays = cache.take(rows, fields)
    parts = [arrays[f].astype(np.float32) for f in fields]
    if rates is not None:
        parts.append(rates.take(rows, ["dense"])["dense"].astype(np.float32))
    return np.hstack(parts), arrays["cat"].shape[1]


def fold_leaves(
    args: argparse.Namespace,
    threads: int,
    x: np.ndarray,
    xt: np.ndarray,
    label: np.ndarray,
    train: np.ndarray,
    n_cat: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Leaf index per tree [rows, trees] of the rows of `x` and `xt`, from trees fitted on the rows
    `train` of `x` only (their labels are the only ones the trees see)."""
    load_lightgbm()
    import lightgbm as lgb

    params = {
        "objective": "binary",
        "num_leaves": args.leaves,
        "learning_rate": args.tree_lr,
        "min_data_in_leaf": args.min_leaf_rows,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "num_threads": threads,
        "verbose": -1,
        "seed": args.seed_trees,
    }
    data = lgb.Dataset(x[train], label[train], categorical_feature=list(range(n_cat)))
    booster = lgb.train(params, data, num_boost_round=args.trees)
    return np.asarray(booster.predict(x, pred_leaf=True)), np.asarray(booster.predict(xt, pred_leaf=True))


def held_choices(layout: Layout, covis: ShardedCache | None) -> list[str]:
    """Overrides that fix what the run decided from its data: the kept crosses and the id-trial arm."""
    held = (
        []
        if covis is None
        else [f"features.covis.cross_cols={json.dumps(covis.manifest['covis']['cross_cols'])}"]
    )
    path = choice_path(layout)
    if path.is_file():
        choice = json.loads(path.read_text())
        ids, l2, bins = choice["identity"]["arms"][choice["choice"]]
        held += [f"model.embed_id_cols={json.dumps(ids)}", f"model.emb_l2={l2}", f"model.dense_bins={bins}"]
    return held


def toss(step: list[str], cfg_path: Path, overrides: list[str]) -> None:
    sets = [a for s in overrides for a in ("--set", s)]
    subprocess.run([sys.executable, "-m", "toss_core.cli", "-q", *step, "--cfg", str(cfg_path), *sets],
                   cwd=REPO, check=True, stdout=subprocess.DEVNULL)  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_run_arguments(p)
    p.add_argument("--trees", type=int, default=32, help="trees per fold, one leaf field each (0: control)")
    p.add_argument("--leaves", type=int, default=32, help="leaves per tree")
    p.add_argument("--tree-lr", type=float, default=0.2)
    p.add_argument("--min-leaf-rows", type=int, default=40)
    p.add_argument("--seed-trees", type=int, default=0)
    p.add_argument("--tag", default=None, help="names the copies (default leaves<trees>)")
    p.add_argument("--shares", type=float, nargs="+", default=[0.0, 0.05, 0.1, 0.2, 0.3])
    args = p.parse_args()
    cfg = run_config(args, args.seed)
    layout = Layout(cfg, root=REPO)
    if NETWORK not in registry.enabled_names(cfg):
        p.error(f"this run's families {registry.enabled_names(cfg)} hold no network")
    if cfg.cv.refit != "none":
        p.error("the copies train the folds only: run on a bench.quality run with cv.refit=none")
    tag = args.tag or f"leaves{args.trees}"
    train, test = ShardedCache(layout.train_cache), ShardedCache(layout.test_cache)
    covis = ShardedCache(layout.covis_train) if cfg.features.covis.enabled else None
    covis_test = ShardedCache(layout.covis_test) if cfg.features.covis.enabled else None
    folds, label = load_folds(layout), train.read_field("label").astype(np.float32)
    raw, raw_test = pl.read_parquet(layout.train_path), pl.read_parquet(layout.test_path)
    if not np.array_equal(raw[cfg.data.label_col].to_numpy().astype(np.float32), label):
        sys.exit(f"{layout.train_path}: rows are not in the train cache's order")
    leaf_cols = [f"leaf{t:03d}" for t in range(args.trees)]
    held = [*held_choices(layout, covis), f"families=[{NETWORK}]", "data.source=parquet",
            f"data.cat_cols={json.dumps(cfg.data.cat_cols + leaf_cols)}"]  # fmt: skip
    oof = np.full(train.n_rows, np.nan)
    fold_test = np.empty((cfg.cv.n_splits, test.n_rows))
    # the tree families' view of the click rates: the same `dense` for every fold model (fold_dense)
    x, n_cat = tree_inputs(train, fold_dense(covis, 0, nested=False))
    xt, _ = tree_inputs(test, fold_dense(covis_test, 0, nested=False))
    for k in range(cfg.cv.n_splits):
        copy = REPO / "data" / f"{cfg.exp_name}_{tag}" / str(k)  # the run directory is exp_name's
        copy.mkdir(parents=True, exist_ok=True)
        frames = {"train": raw, "test": raw_test}
        if args.trees:
            leaves = fold_leaves(args, cpu_threads(cfg), x, xt, label, folds != k, n_cat)
            frames = {
                name: frame.with_columns(
                    pl.Series(c, lv[:, t].astype(np.int32)) for t, c in enumerate(leaf_cols)
                )
                for (name, frame), lv in zip(frames.items(), leaves, strict=True)
            }
        for name, frame in frames.items():
            frame.write_parquet(copy / f"{name}.parquet")
        (copy / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
        name = f"{cfg.exp_name}_{tag}_{k}"
        sets = [*held, f"data.train_path={copy}/train.parquet", f"data.test_path={copy}/test.parquet",
                f"data.cache_dir=cache/{name}", f"exp_name={name}"]  # fmt: skip
        for step in (["build-cache"], ["folds"], ["covis"], ["train", "--family", NETWORK, "--fold", str(k)],
                     ["predict", "--family", NETWORK, "--fold", str(k)]):  # fmt: skip
            toss(step, copy / "config.yaml", sets)
        copy_layout = Layout(load_config(copy / "config.yaml", sets), root=REPO)
        if not np.array_equal(load_folds(copy_layout), folds):
            sys.exit(f"fold {k}: the copy's folds differ from the run's")
        with np.load(copy_layout.oof_path(k, NETWORK)) as npz:
            oof[npz["index"]] = npz["logit"]
        with np.load(copy_layout.test_logits_path(k, NETWORK)) as npz:
            fold_test[k] = npz["logit"]
        print(f"fold {k}: done ({copy_layout.run_dir})", flush=True)
    network = FamilyOOF(NETWORK, oof, label.astype(np.float64), folds, [])
    truth = require_test_truth(cfg, layout)
    part = ensemble_family(cfg, network, fold_test, None, stacking_rows(cfg, folds))
    m = evaluate_logits(truth.labels, Calibrator.from_dict(part.report["calibrator"]).apply(part.test_logits))
    print(f"\nnetwork with {args.trees} leaf fields alone: test AUC {m['AUC']:.4f}, Score {m['Score']:.4f}\n")
    families = registry.enabled_names(cfg)
    oofs, tests = run_families(cfg, layout, [f for f in families if f != NETWORK])
    oofs.insert(families.index(NETWORK), network)
    tests.insert(families.index(NETWORK), fold_test)
    print_shares(cfg, oofs, tests, truth, NETWORK, args.shares)


if __name__ == "__main__":
    main()
