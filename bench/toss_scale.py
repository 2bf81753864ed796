"""The whole chain at Toss size: every step's wall and CPU seconds, peak RSS, disk written and rows/s.

Each step runs as the `toss` command a user would type, in its own process, so its peak RSS
(os.wait4's ru_maxrss) and CPU time are its own. The config is the one a user starts from
(cfgs/dare_qnn_next.yaml) adapted to CPU (device cpu, no AMP, no compile), with the caps that let
the chain finish in a session on 2 cores stated in the table: `--folds` folds, the network's epoch
capped at `--nn-steps` optimiser steps (train.max_steps_per_epoch, one epoch), `--rounds` boosting
rounds per tree family. The per-step, per-round and per-epoch costs make the uncapped time a matter of
arithmetic.

    # a Toss-size pair (10.7M / 1.5M rows, the real sequence-length distribution), then the chain
    nice .venv/bin/python -m bench.toss_scale --data /work/scale/toss_full --generate 10704179 1527298 \
        --work /work/scale/run_full --label 10.7M
    nice .venv/bin/python -m bench.toss_scale --data /work/scale/toss_1m --generate 1000000 142700 \
        --work /work/scale/run_1m --label 1M
    .venv/bin/python -m bench.toss_scale --report --md BENCHMARKS.md   # both labels side by side

Results accumulate in --results (JSON, one entry per label and step), so a step can be rerun alone
(`--steps covis`) and the table redrawn from what was measured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bench.markdown import write_section

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "toss_scale.json"
SECTION = "toss-scale"


@dataclass
class StepCost:
    step: str
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    disk_mb: float
    rows: int
    note: str


def _tree_bytes(path: Path) -> int:
    """Bytes of the files under `path` (what a step wrote there is the difference)."""
    if not path.exists():
        return 0
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run_measured(argv: list[str], watch: Path) -> tuple[float, float, float, float, str]:
    """(wall s, CPU s, peak RSS MB, MB written under `watch`, stdout) of one command in its own process."""
    before = _tree_bytes(watch)
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=REPO)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"bench.toss_scale: `{' '.join(argv)}` failed with exit code {proc.returncode}")
    disk = (_tree_bytes(watch) - before) / 1e6
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, disk, out


def _overrides(args: argparse.Namespace) -> list[str]:
    """The user's starting config adapted to CPU, with the stated caps."""
    sets = [
        "data.source=parquet",
        f"data.train_path={args.data / 'train.parquet'}",
        f"data.test_path={args.data / 'test.parquet'}",
        f"data.cache_dir={args.work / 'cache'}",
        f"runs_dir={args.work / 'runs'}",
        "runtime.device=cpu",
        "runtime.amp=false",
        "runtime.compile=false",
        f"families=[{','.join(args.families)}]",
        f"cv.n_splits={args.folds}",
        "train.epochs=1",
        f"train.max_steps_per_epoch={args.nn_steps}",
        f"gbdt.num_boost_round={args.rounds}",
        f"catboost.iterations={args.rounds}",
    ]
    return sets + list(args.set)


def nn_probe(cfg_path: Path, overrides: list[str], infer_rows: int) -> dict[str, float]:
    """The network on fold 0 of the full cache, in this process: the fold's data set up over every row,
    one epoch capped at train.max_steps_per_epoch steps, then inference on `infer_rows` validation rows.
    Used where the whole network step cannot finish on the machine (its validation alone is millions of
    rows); rows/s of training and of inference, and their ratio, are what the full run follows from."""
    import torch

    from toss_core.config import load_config
    from toss_core.layout import Layout
    from toss_core.train.loop import FoldTrainer
    from toss_core.train.predict import predict_logits
    from toss_core.train.runtime import torch_runtime

    cfg = load_config(cfg_path, overrides)
    with torch_runtime(cfg):
        start = time.perf_counter()
        trainer = FoldTrainer(cfg, Layout(cfg), 0)
        setup = time.perf_counter() - start
        _, train_rps = trainer.train_epoch(0)
        rows = trainer.data.val_rows[:infer_rows]
        start = time.perf_counter()
        with torch.no_grad():
            predict_logits(
                trainer.model, trainer.feed, rows, cfg.train.eval_batch_size, trainer.device, trainer.offset
            )
        infer_rps = rows.size / (time.perf_counter() - start)
    return {
        "setup_s": setup,
        "train_rows_per_s": train_rps,
        "infer_rows_per_s": infer_rps,
        "train_rows": float(trainer.data.train_rows.size),
        "val_rows": float(trainer.data.val_rows.size),
        "steps": float(trainer.steps_per_epoch),
    }


def polars_pass(cfg_path: Path, overrides: list[str], out_dir: Path) -> dict[str, float]:
    """The baseline of the cache build, in this process: a bare streaming Polars pass over the same
    columns of both files, the sequence cut to its last max_len tokens as int32 lists, written as
    uncompressed Arrow IPC (the build writes its shards too). Nothing is fitted or encoded."""
    import polars as pl

    from toss_core.config import load_config
    from toss_core.data.raw import resolve_numeric_columns

    cfg = load_config(cfg_path, overrides)
    d, seq_col, max_len = cfg.data, cfg.sequence.col, cfg.sequence.max_len
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = 0
    for kind, path in (("train", d.train_path), ("test", d.test_path)):
        names = list(pl.read_parquet_schema(path))
        cols = [*d.cat_cols, *resolve_numeric_columns(cfg, names)]
        cols += [c for c in (d.label_col, d.id_col) if c in names]
        exprs: list[pl.Expr] = [pl.col(c) for c in dict.fromkeys(cols)]
        if seq_col is not None:
            exprs.append(pl.col(seq_col).str.split(",").list.tail(max_len).cast(pl.List(pl.Int32)))
        pl.scan_parquet(path).select(exprs).sink_ipc(out_dir / f"{kind}.arrow", compression=None)
        rows += pl.scan_ipc(out_dir / f"{kind}.arrow").select(pl.len()).collect().item()
    for f in out_dir.glob("*.arrow"):
        f.unlink()
    return {"rows": float(rows)}


def stacker_probe(cfg_path: Path, overrides: list[str], n_rows: int) -> dict[str, float]:
    """The ensemble's fitting on `n_rows` OOF rows of three families, in this process: the stacker
    (cross-validated over the folds, bootstrap intervals) and the calibrator, the functions the
    ensemble step calls, on logits drawn like three correlated models of a 2% click rate."""
    from toss_core.config import load_config
    from toss_core.post.ensemble_families import fit_family_weights
    from toss_core.scoring.calibration import fit_calibrator

    cfg = load_config(cfg_path, overrides)
    rng = np.random.default_rng(cfg.seed)
    signal = rng.normal(size=n_rows)
    labels = rng.random(n_rows) < 1.0 / (1.0 + np.exp(-(signal - 4.2)))
    logits = np.stack([signal + rng.normal(scale=s, size=n_rows) - 4.0 for s in (0.6, 0.8, 1.0)])
    folds = rng.integers(0, cfg.cv.n_splits, n_rows)
    start = time.perf_counter()
    stack = fit_family_weights(logits, labels, folds, cfg.calibration, ["a", "b", "c"])
    stacker_s = time.perf_counter() - start
    start = time.perf_counter()
    fit_calibrator(cfg.calibration, logits.T @ stack.weights, labels)
    return {"stacker_s": stacker_s, "calibrator_s": time.perf_counter() - start, "rows": float(n_rows)}


def _rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def _note(step: str, out: str) -> str:
    """What the step's JSON result says about its own pace (per fold: seconds; epochs or rounds)."""
    try:
        payload = json.loads(out)
    except json.JSONDecodeError:
        return ""
    items = payload if isinstance(payload, list) else [payload]
    if step == "nn probe":
        p = items[0]
        epoch_h = p["train_rows"] / p["train_rows_per_s"] / 3600
        return (
            f"{p['steps']:.0f} steps: train {p['train_rows_per_s']:,.0f} rows/s, inference "
            f"{p['infer_rows_per_s']:,.0f} rows/s ({p['infer_rows_per_s'] / p['train_rows_per_s']:.1f}×), "
            f"setup {p['setup_s']:.0f} s; a full epoch of {p['train_rows']:,.0f} rows ≈ {epoch_h:.1f} h"
        )
    if step == "stacker probe":
        p = items[0]
        return (
            f"stacker {p['stacker_s']:.1f} s (CV over folds, bootstrap), calibrator {p['calibrator_s']:.1f} s"
        )
    if step.startswith("train "):
        return "; ".join(f"fold {r['fold']}: {r['seconds']:.0f} s" for r in items)
    if step.startswith("predict"):
        return "; ".join(f"{r['family']} fold {r['fold']}: {r['seconds']:.0f} s" for r in items)
    if step == "ensemble":
        return f"OOF Score_cal {items[0]['oof_calibrated']['Score']:.4f}"
    if step == "submit" and items[0].get("test_metrics"):
        return f"test Score {items[0]['test_metrics']['Score']:.4f}"
    return ""


def chain(args: argparse.Namespace) -> list[tuple[str, list[str], int]]:
    """(step name, toss arguments, rows it reads) in pipeline order."""
    n_train, n_test = _rows(args.data / "train.parquet"), _rows(args.data / "test.parquet")
    steps = [
        ("polars pass", ["--polars-child", str(args.work / "polars")], n_train + n_test),
        ("build-cache", ["build-cache"], n_train + n_test),
        ("folds", ["folds"], n_train),
        ("covis", ["covis"], n_train + n_test),
    ]
    if args.nn_probe:
        from toss_core.config import load_config

        batch = load_config(args.cfg, _overrides(args)).train.batch_size
        steps.append(
            ("nn probe", ["--nn-probe-child", str(args.nn_probe)], args.nn_steps * batch + args.nn_probe)
        )
    one = ["--fold", str(args.only_fold)] if args.only_fold is not None else []
    n_folds = 1 if one else args.folds
    steps += [(f"train {f}", ["train", "--family", f, *one], n_train) for f in args.families]
    steps += [(f"predict {f}", ["predict", "--family", f, *one], n_test * n_folds) for f in args.families]
    if one:  # the ensemble needs every fold: it is measured by the stacker probe instead
        return [*steps, ("stacker probe", ["--stacker-probe-child", str(n_train)], n_train)]
    steps += [("ensemble", ["ensemble"], n_train), ("submit", ["submit"], n_test)]
    steps += [("diagnose", ["diagnose"], n_train)]
    return steps


def _load(path: Path) -> dict[str, dict[str, dict]]:
    return json.loads(path.read_text()) if path.is_file() else {}


def _save(path: Path, label: str, entry: dict[str, dict]) -> None:
    """Write this label's entry, re-reading the file first: two sizes may be measured at once."""
    results = _load(path)
    results[label] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1) + "\n")


def measure(args: argparse.Namespace) -> None:
    entry = _load(args.results).get(args.label, {})
    if args.generate:
        train_rows, test_rows = args.generate
        meta = args.data / "synth_meta.json"
        if not meta.is_file():
            argv = [sys.executable, "-m", "toss_core.cli", "synth", "--out", str(args.data)]
            argv += ["--train-rows", str(train_rows), "--test-rows", str(test_rows), "--seed", "11"]
            wall, cpu, rss, disk, _ = run_measured(argv, args.data)
            entry["synth"] = asdict(StepCost("synth", wall, cpu, rss, disk, train_rows + test_rows, ""))
            _save(args.results, args.label, entry)
    sets = [x for s in _overrides(args) for x in ("--set", s)]
    for name, cmd, rows in chain(args):
        if args.steps and name.split()[0] not in args.steps and name not in args.steps:
            continue
        print(f"[toss_scale {args.label}] {name} ...", flush=True)
        runner = ["bench.toss_scale"] if cmd[0].startswith("--") else ["toss_core.cli", "-q"]
        argv = [sys.executable, "-m", *runner, *cmd, "--cfg", str(args.cfg), *sets]
        wall, cpu, rss, disk, out = run_measured(argv, args.work)
        cost = StepCost(name, wall, cpu, rss, disk, rows, _note(name, out))
        print(f"[toss_scale {args.label}] {cost}", flush=True)
        entry[name] = asdict(cost)
        entry["_caps"] = {
            "folds": args.folds,
            "nn_steps": args.nn_steps,
            "rounds": args.rounds,
            "families": args.families,
            "only_fold": args.only_fold,
        }
        _save(args.results, args.label, entry)


def table(results: dict[str, dict[str, dict]]) -> str:
    """Every measured step, the sizes side by side (smallest first), and the peak-RSS growth from the
    smallest to the next."""
    labels = sorted(results, key=lambda lab: results[lab].get("build-cache", {}).get("rows", 0))
    names: list[str] = []
    for lab in labels:
        names += [n for n in results[lab] if not n.startswith("_") and n not in names]
    head = "| step |" + "".join(
        f" {lab} wall s | {lab} CPU s | {lab} peak RSS MB | {lab} disk MB | {lab} rows/s |" for lab in labels
    )
    lines = [head + (" RSS growth |" if len(labels) > 1 else "") + " notes |"]
    lines.append("|---|" + "---:|" * (5 * len(labels) + (len(labels) > 1)) + "---|")
    for name in names:
        cells, notes = [], []
        for lab in labels:
            c = results[lab].get(name)
            if c is None:
                cells.append(" — | — | — | — | — |")
                continue
            cells.append(
                f" {c['wall_s']:,.0f} | {c['cpu_s']:,.0f} | {c['peak_rss_mb']:,.0f} | {c['disk_mb']:,.0f} "
                f"| {c['rows'] / max(c['wall_s'], 1e-9):,.0f} |"
            )
            note = c["note"]
            polars = results[lab].get("polars pass")
            if name == "build-cache" and polars:
                cpu, wall = c["cpu_s"] / polars["cpu_s"], c["wall_s"] / polars["wall_s"]
                note = f"CPU {cpu:.2f}×, wall {wall:.2f}× the Polars pass"
            if note:
                notes.append(f"{lab}: {note}")
        growth = ""
        if len(labels) > 1:
            a, b = (results[lab].get(name) for lab in labels[:2])
            growth = f" {b['peak_rss_mb'] / a['peak_rss_mb']:.2f}× |" if a and b else " — |"
        lines.append(f"| {name} |" + "".join(cells) + growth + f" {'; '.join(notes)} |")
    caps = [f"{lab}: {results[lab].get('_caps')}" for lab in labels]
    return "\n".join(lines) + "\n\nCaps: " + "; ".join(caps) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="directory with train.parquet and test.parquet")
    parser.add_argument(
        "--generate",
        type=int,
        nargs=2,
        metavar=("TRAIN_ROWS", "TEST_ROWS"),
        help="write the pair with `toss synth` first (measured) when --data has none",
    )
    parser.add_argument("--work", type=Path, help="cache and run directory of this measurement")
    parser.add_argument("--label", default="10.7M", help="column label of this measurement in the table")
    parser.add_argument("--cfg", type=Path, default=REPO / "cfgs" / "dare_qnn_next.yaml")
    parser.add_argument("--families", nargs="+", default=["nn", "gbdt", "catboost"])
    parser.add_argument("--folds", type=int, default=2, help="cv.n_splits (a cap: the user config says 5)")
    parser.add_argument("--nn-steps", type=int, default=200, help="the network's one epoch, capped")
    parser.add_argument("--rounds", type=int, default=200, help="boosting rounds of each tree family")
    parser.add_argument("--set", action="append", default=[], help="one more config override")
    parser.add_argument(
        "--nn-probe",
        type=int,
        default=0,
        metavar="ROWS",
        help="measure the network by a probe (a capped epoch on fold 0, inference on ROWS validation rows) "
        "instead of, or beside, its full fold training; 0 = no probe",
    )
    parser.add_argument("--nn-probe-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--polars-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--only-fold",
        type=int,
        default=None,
        help="train and predict this fold alone (a cap: the per-fold cost and memory are what scale); "
        "the ensemble step is then measured by the stacker probe on as many OOF rows as train has",
    )
    parser.add_argument("--stacker-probe-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--steps", nargs="*", default=None, help="only these steps (e.g. covis train)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--report", action="store_true", help="only redraw the table from --results")
    parser.add_argument("--md", type=Path, default=None, help="write the table into this Markdown file")
    args = parser.parse_args()
    if args.nn_probe_child:
        print(json.dumps(nn_probe(args.cfg, args.set, args.nn_probe_child)))
        return
    if args.stacker_probe_child:
        print(json.dumps(stacker_probe(args.cfg, args.set, args.stacker_probe_child)))
        return
    if args.polars_child:
        print(json.dumps(polars_pass(args.cfg, args.set, args.polars_child)))
        return
    if not args.report:
        if args.data is None or args.work is None:
            parser.error("--data and --work are needed to measure (or --report to redraw the table)")
        measure(args)
    text = table(_load(args.results))
    print(text)
    if args.md:
        write_section(args.md, SECTION, text)


if __name__ == "__main__":
    main()
