"""`toss …`: every step of the pipeline from a shell, without Dagster.

Each subcommand is a thin call into toss_core.steps (or a small library function), so the CLI and the
Dagster assets run the same code. Failures print one line, `toss: error: …`, and exit with status 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toss_core.util.errors import TossError

if TYPE_CHECKING:
    from toss_core.context import RunContext

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


def _context(args: argparse.Namespace) -> RunContext:
    """The run's context from --cfg and --set; an unknown family (in `families`, tune.* or --family)
    fails here, before any work."""
    from toss_core.config import load_config
    from toss_core.context import RunContext
    from toss_core.families import registry

    ctx = RunContext.from_config(load_config(args.cfg, args.overrides))
    if getattr(args, "family", None) is not None:
        registry.get(args.family)
    return ctx


def _print(payload: Any) -> None:
    if hasattr(payload, "to_dict"):
        payload = payload.to_dict()
    elif isinstance(payload, list):
        payload = [p.to_dict() if hasattr(p, "to_dict") else p for p in payload]
    print(json.dumps(payload, indent=2, default=str))


def cmd_synth(args: argparse.Namespace) -> None:
    from toss_core.synth import generate

    summary = generate(
        Path(args.out),
        train_rows=args.train_rows,
        test_rows=args.test_rows,
        seed=args.seed,
        seq_len_scale=args.seq_len_scale,
    )
    _print(summary)


def cmd_build_cache(args: argparse.Namespace) -> None:
    from toss_core import steps

    ctx = _context(args)
    if ctx.cfg.data.source == "synthetic":
        steps.prepare_raw(ctx)
    _print(steps.build_caches(ctx))


def cmd_score(args: argparse.Namespace) -> None:
    from toss_core.post.submission_file import score_submission

    _print(score_submission(Path(args.sub), Path(args.truth)))


def cmd_folds(args: argparse.Namespace) -> None:
    from toss_core import steps

    _print(steps.assign_folds(_context(args)))


def cmd_covis(args: argparse.Namespace) -> None:
    from toss_core import steps

    _print(steps.build_covis(_context(args)))


def _folds_of(ctx: RunContext, args: argparse.Namespace) -> list[int]:
    return [args.fold] if args.fold is not None else list(range(ctx.cfg.cv.n_splits))


def _families_of(ctx: RunContext, args: argparse.Namespace) -> list[str]:
    """--family, or every family the config enables."""
    return [args.family] if args.family else ctx.family_names


def cmd_train(args: argparse.Namespace) -> None:
    from toss_core import steps

    ctx = _context(args)
    _print([steps.train_fold(ctx, f, k) for f in _families_of(ctx, args) for k in _folds_of(ctx, args)])


def cmd_tune(args: argparse.Namespace) -> None:
    from toss_core import steps
    from toss_core.families import registry

    ctx = _context(args)
    families = [args.family] if args.family else [f.name for f in registry.searched(ctx.cfg)]
    _print([steps.tune(ctx, f, n_trials=args.trials, timeout_s=args.timeout) for f in families])


def cmd_predict(args: argparse.Namespace) -> None:
    from toss_core import steps

    ctx = _context(args)
    _print([steps.predict_test(ctx, f, k) for f in _families_of(ctx, args) for k in _folds_of(ctx, args)])


def cmd_refit(args: argparse.Namespace) -> None:
    from toss_core import steps

    ctx = _context(args)
    _print([steps.refit(ctx, f) for f in _families_of(ctx, args)])


def cmd_ensemble(args: argparse.Namespace) -> None:
    from toss_core import steps

    _print(steps.ensemble(_context(args)))


def cmd_submit(args: argparse.Namespace) -> None:
    from toss_core import steps

    _print(steps.write_submission(_context(args)))


def cmd_infer(args: argparse.Namespace) -> None:
    """The old name of predict + ensemble + submit, kept for users' scripts."""
    from toss_core import steps

    log.warning("`toss infer` is an alias of `toss predict`, `toss ensemble` and `toss submit`, run in order")
    ctx = _context(args)
    for family in ctx.family_names:
        for fold in range(ctx.cfg.cv.n_splits):
            steps.predict_test(ctx, family, fold)
    steps.ensemble(ctx)
    _print(steps.write_submission(ctx))


def cmd_blend(args: argparse.Namespace) -> None:
    from toss_core.post.submission_blend import blend_files

    _print(
        blend_files(
            Path(args.sub1), Path(args.sub2), Path(args.out), method=args.method, w=args.w, force=args.force
        )
    )


def cmd_diagnose(args: argparse.Namespace) -> None:
    from toss_core import steps

    _print(steps.diagnose(_context(args)))


def cmd_run(args: argparse.Namespace) -> None:
    from toss_core import steps

    _print(steps.run_all(_context(args)))


def cmd_config(args: argparse.Namespace) -> None:
    cfg = _context(args).cfg
    if args.explain:
        from toss_core.config_doc import explain

        print(explain(cfg))
    else:
        print(cfg.model_dump_json(indent=2))


Adder = Callable[[str, Callable[[argparse.Namespace], None], str], argparse.ArgumentParser]


def _add_fold(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fold", type=int, default=None, help="fold index; all folds when omitted")


def _add_family(p: argparse.ArgumentParser, help_: str) -> None:
    """--family NAME: checked against the registry once the config is loaded (a registered plug-in
    family is as valid as a built-in one)."""
    p.add_argument("--family", default=None, metavar="NAME", help=help_ + " (nn, gbdt, catboost, …)")


def _data_commands(add: Adder) -> None:
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
    _add_cfg(add("folds", cmd_folds, "assign and save the cross-validation fold of every training row"))
    _add_cfg(add("covis", cmd_covis, "build co-visitation and sequence features"))


def _model_commands(add: Adder) -> None:
    p = add("train", cmd_train, "train one fold (--fold K) or all folds")
    _add_cfg(p)
    _add_fold(p)
    _add_family(p, "one model family only (default: every family in `families`)")
    p = add(
        "tune",
        cmd_tune,
        "Optuna search (tune.*): add trials to each family's study, write runs/<exp>/tuned/<family>.json",
    )
    _add_cfg(p)
    _add_family(p, "one family (default: tune.families)")
    p.add_argument(
        "--trials", type=int, default=None, help="trials this process adds (default tune.n_trials)"
    )
    p.add_argument(
        "--timeout", type=float, default=None, help="start no trial after S seconds (tune.timeout_s)"
    )
    p = add(
        "predict", cmd_predict, "predict the test set with trained folds (every enabled family by default)"
    )
    _add_cfg(p)
    _add_fold(p)
    _add_family(p, "one model family only")
    p = add("refit", cmd_refit, "train each family once on every row (cv.refit: full), predict the test set")
    _add_cfg(p)
    _add_family(p, "one model family only")


def _output_commands(add: Adder) -> None:
    _add_cfg(add("ensemble", cmd_ensemble, "combine the saved OOF and test logits, fit the calibrator"))
    _add_cfg(add("submit", cmd_submit, "write and validate runs/<exp_name>/submission.csv"))
    _add_cfg(add("infer", cmd_infer, "alias of predict + ensemble + submit (the old name)"))
    p = add("score", cmd_score, "score a submission against a truth file (AP, WLL, Score, AUC)")
    p.add_argument("--sub", required=True, help="submission CSV with ID,clicked")
    p.add_argument("--truth", required=True, help="Parquet with ID and clicked (e.g. test_truth.parquet)")
    p = add("blend", cmd_blend, "blend two submission files with the same IDs")
    p.add_argument("--sub1", required=True)
    p.add_argument("--sub2", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--method", choices=["logit_mean", "mean", "rank_avg", "geom_mean"], default="logit_mean")
    p.add_argument("--w", type=float, default=0.5, help="weight of --sub1 (the second gets 1 - w)")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
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
        help="every key with its type, default, value and description (docs/config.md adds the notes)",
    )


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

    _data_commands(add)
    _model_commands(add)
    _output_commands(add)
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
    except (TossError, ValueError) as exc:
        message = " ".join(str(exc).split("\n"))
        print(f"toss: error: {message}", file=sys.stderr)
        return 1
    except OSError as exc:  # disk full, permission denied, missing file: the temporaries are already gone
        where = exc.filename or "(unknown path)"
        print(f"toss: error: {where}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("toss: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
