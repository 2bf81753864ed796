"""`toss …`: every step of the pipeline from a shell, without Dagster.

Each subcommand is a thin call into toss_core.pipeline (or a small library function), so the CLI and the
Dagster assets run the same code. Failures print one line, `toss: error: …`, and exit with status 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from toss_core.errors import TossError

log = logging.getLogger("toss")


def _add_cfg(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--cfg", required=required, help="YAML config (see cfgs/)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override one config key, repeatable (value read as YAML), e.g. --set train.epochs=1",
    )


def _config(args: argparse.Namespace):
    from toss_core.config import load_config

    return load_config(args.cfg, args.overrides)


def _print(payload: Any) -> None:
    if hasattr(payload, "to_dict"):
        payload = payload.to_dict()
    elif isinstance(payload, list):
        payload = [p.to_dict() if hasattr(p, "to_dict") else p for p in payload]
    print(json.dumps(payload, indent=2, default=str))


def cmd_synth(args: argparse.Namespace) -> None:
    from toss_core.data.synth import generate

    summary = generate(
        Path(args.out),
        train_rows=args.train_rows,
        test_rows=args.test_rows,
        seed=args.seed,
        seq_len_scale=args.seq_len_scale,
    )
    _print(summary)


def cmd_build_cache(args: argparse.Namespace) -> None:
    from toss_core import pipeline

    cfg = _config(args)
    if cfg.data.source == "synthetic":
        pipeline.prepare_raw(cfg)
    _print(pipeline.build_caches(cfg))


def cmd_score(args: argparse.Namespace) -> None:
    from toss_core.metrics import score_submission

    _print(score_submission(Path(args.sub), Path(args.truth)))


def cmd_folds(args: argparse.Namespace) -> None:
    from toss_core import pipeline

    _print(pipeline.assign_folds(_config(args)))


def cmd_covis(args: argparse.Namespace) -> None:
    from toss_core import pipeline

    _print(pipeline.build_covis(_config(args)))


def cmd_train(args: argparse.Namespace) -> None:
    from toss_core import pipeline

    cfg = _config(args)
    folds = [args.fold] if args.fold is not None else list(range(cfg.cv.n_splits))
    _print([pipeline.train_fold(cfg, k, family=args.family) for k in folds])


def cmd_infer(args: argparse.Namespace) -> None:
    from toss_core import pipeline

    cfg = _config(args)
    pipeline.ensemble(cfg)
    _print(pipeline.write_submission(cfg))


def cmd_blend(args: argparse.Namespace) -> None:
    from toss_core.blend import blend_files

    _print(blend_files(Path(args.sub1), Path(args.sub2), Path(args.out), method=args.method, w=args.w))


def cmd_diagnose(args: argparse.Namespace) -> None:
    from toss_core import pipeline

    _print(pipeline.diagnose(_config(args)))


def cmd_run(args: argparse.Namespace) -> None:
    from toss_core import pipeline

    _print(pipeline.run_all(_config(args)))


def cmd_config(args: argparse.Namespace) -> None:
    cfg = _config(args)
    if args.explain:
        from toss_core.config_doc import explain

        print(explain(cfg))
    else:
        print(cfg.model_dump_json(indent=2))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="toss",
        description="CTR pipeline on the Toss ad-click schema (the steps the Dagster assets run).",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and the result")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, fn: Callable[[argparse.Namespace], None], help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=fn)
        return p

    p = add(
        "synth", cmd_synth, "write Toss-schema synthetic train/test/test_truth Parquet with a planted truth"
    )
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--train-rows", type=int, default=100_000)
    p.add_argument("--test-rows", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--seq-len-scale",
        type=float,
        default=1.0,
        help="scale sequence lengths (1.0 = Toss-like, median ~450)",
    )

    _add_cfg(add("build-cache", cmd_build_cache, "stream train and test Parquet into the NPY shard cache"))

    p = add("score", cmd_score, "score a submission against a truth file (AP, WLL, Score, AUC)")
    p.add_argument("--sub", required=True, help="submission CSV with ID,clicked")
    p.add_argument("--truth", required=True, help="Parquet with ID and clicked (e.g. test_truth.parquet)")

    _add_cfg(add("folds", cmd_folds, "assign and save the cross-validation fold of every training row"))
    _add_cfg(add("covis", cmd_covis, "build co-visitation and sequence features"))

    p = add("train", cmd_train, "train one fold (--fold K) or all folds")
    _add_cfg(p)
    p.add_argument("--fold", type=int, default=None, help="fold index; all folds when omitted")
    p.add_argument("--family", choices=["nn", "gbdt"], default="nn", help="model family")

    _add_cfg(add("infer", cmd_infer, "ensemble the fold checkpoints, calibrate and write submission.csv"))

    p = add("blend", cmd_blend, "blend two submission files with the same IDs")
    p.add_argument("--sub1", required=True)
    p.add_argument("--sub2", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--method", choices=["logit_mean", "mean", "rank_avg", "geom_mean"], default="logit_mean")
    p.add_argument("--w", type=float, default=0.5, help="weight of --sub1 (the second gets 1 - w)")

    _add_cfg(
        add("diagnose", cmd_diagnose, "per-fold and OOF metrics, reliability diagram, histogram, report")
    )
    _add_cfg(
        add("run", cmd_run, "the whole chain: data, cache, folds, features, training, ensemble, submission")
    )
    p = add("config", cmd_config, "print the validated config with every default filled in")
    _add_cfg(p)
    p.add_argument(
        "--explain",
        action="store_true",
        help="every key with its type, default, value and description (docs/config.md has the defaults)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    try:
        args.func(args)
    except (TossError, FileNotFoundError, ValueError) as exc:
        message = " ".join(str(exc).split("\n"))
        print(f"toss: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("toss: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
