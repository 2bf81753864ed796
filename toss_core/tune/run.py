"""run_study: add trials to a family's study, log each, write the best parameters and the plots.

runs/<exp>/tuned/<family>.json holds the study's best trial as config overrides, its value, the trial
counts, the study's fingerprint and the best trial's check against the defaults (tune/verdict.py); it is
rewritten (atomically) at the end of every call, from the whole study, so with several workers the last
one to finish writes the study's best. Ctrl-C: Optuna marks the running trial failed, the file is
written from the trials done without a new check, and a rerun continues. The fold models train with the
tuned parameters only when the check says they beat the defaults on a fold the search did not see.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from toss_core.config import TossConfig
from toss_core.families.base import Family
from toss_core.layout import Layout
from toss_core.tune import report
from toss_core.tune import study as studies
from toss_core.tune.objective import METRIC, Objective
from toss_core.tune.space import apply_params
from toss_core.tune.verdict import against_defaults
from toss_core.util.atomic import write_json
from toss_core.util.errors import ArtifactError
from toss_core.util.locks import writer_lock
from toss_core.util.results import TuneResult

log = logging.getLogger("toss")

TUNED_FORMAT = "toss-tuned/1"


class TrialLog:
    """Optuna callback: one line per finished trial with its Score, the best so far, elapsed and ETA."""

    def __init__(self, family: str, n_trials: int, timeout_s: float | None):
        self.family, self.n_trials, self.timeout_s = family, n_trials, timeout_s
        self.started = time.perf_counter()
        self.done = 0

    def __call__(self, study: Any, trial: Any) -> None:
        self.done += 1
        elapsed = time.perf_counter() - self.started
        eta = elapsed / self.done * (self.n_trials - self.done)
        if self.timeout_s is not None:
            eta = min(eta, max(self.timeout_s - elapsed, 0.0))
        value = f"{METRIC} {trial.value:.5f}" if trial.value is not None else trial.state.name.lower()
        best = _best(study)
        best_text = f"best {best.value:.5f} (trial {best.number})" if best else "no best yet"
        params = ", ".join(f"{k}={_short(v)}" for k, v in trial.params.items())
        log.info(
            "tune %s: trial %d %s | %s | %d/%d, %.0fs elapsed, ETA %.0fs | %s",
            self.family, trial.number, value, best_text, self.done, self.n_trials, elapsed, eta, params,
        )  # fmt: skip


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _best(study: Any) -> Any | None:
    try:
        return study.best_trial
    except ValueError:  # no completed trial yet
        return None


def run_study(
    cfg: TossConfig,
    layout: Layout,
    model_family: Family,
    n_trials: int | None = None,
    timeout_s: float | None = None,
) -> TuneResult:
    """Add up to n_trials trials (default tune.n_trials) within timeout_s to the family's study."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # TrialLog says it in one line per trial
    n_trials = n_trials or cfg.tune.n_trials
    timeout_s = timeout_s if timeout_s is not None else cfg.tune.timeout_s
    started = time.perf_counter()
    family = model_family.name
    study = studies.open_study(cfg, layout, model_family)
    trial_log = TrialLog(family, n_trials, timeout_s)
    try:
        study.optimize(
            Objective(cfg, layout, model_family),
            n_trials=n_trials,
            timeout=timeout_s,
            callbacks=[trial_log],
            gc_after_trial=True,
        )
    except KeyboardInterrupt:
        log.warning("tune %s: interrupted; the running trial is marked failed, a rerun continues", family)
        check = _saved_check(layout, family, study, _best(study))
        summarise(cfg, layout, family, study, trial_log.done, started, check)
        raise
    # workers finishing together: the first checks the best trial and writes the file, the others read it
    with writer_lock(
        layout.tuned_params(family), f"the {family} study's check against the defaults", wait=True
    ):
        best = _best(study)
        check = _saved_check(layout, family, study, best)
        if check is None and best is not None:
            check = against_defaults(cfg, layout, model_family, best.params, best.number)
        return summarise(cfg, layout, family, study, trial_log.done, started, check)


def _saved_check(layout: Layout, family: str, study: Any, best: Any | None) -> dict[str, Any] | None:
    """The tuned file's check against the defaults where it judged `best`, the study's best trial now."""
    saved = read_tuned(layout, family)
    if best is None or saved is None or saved.get("fingerprint") != study.user_attrs["fingerprint"]:
        return None
    check = saved.get("against_defaults")
    return check if check is not None and check.get("trial") == best.number else None


def summarise(
    cfg: TossConfig,
    layout: Layout,
    family: str,
    study: Any,
    trials_run: int,
    started: float,
    check: dict[str, Any] | None,
) -> TuneResult:
    """Write the tuned file and plots from the whole study; the result the step returns."""
    import optuna

    states = [t.state for t in study.trials]
    best = _best(study)
    fp, url = study.user_attrs["fingerprint"], studies.redacted(studies.storage_url(cfg, layout))
    path = None
    if best is not None:
        path = layout.tuned_params(family)
        write_json(
            path,
            {
                "format": TUNED_FORMAT,
                "family": family,
                "study_name": study.study_name,
                "storage": url,
                "fingerprint": fp,
                "metric": f"mean {METRIC} of folds {cfg.tune.folds}",
                "best_value": best.value,
                "best_trial": best.number,
                "overrides": best.params,
                "trials": {s.name.lower(): states.count(s) for s in optuna.trial.TrialState},
                "against_defaults": check,
            },
        )
        log.info("tune %s: best %s %.5f (trial %d) → %s", family, METRIC, best.value, best.number, path)
    history, importance = report.write_plots(study, layout.tuned_dir, family)
    return TuneResult(
        family=family,
        path=path,
        study_name=study.study_name,
        storage=url,
        fingerprint=fp,
        best_value=None if best is None else best.value,
        best_params={} if best is None else dict(best.params),
        trials_run=trials_run,
        n_complete=states.count(optuna.trial.TrialState.COMPLETE),
        n_pruned=states.count(optuna.trial.TrialState.PRUNED),
        n_failed=states.count(optuna.trial.TrialState.FAIL),
        seconds=time.perf_counter() - started,
        trials=report.trial_rows(study),
        history_png=history,
        importance_png=importance,
        against_defaults=check,
    )


def read_tuned(layout: Layout, family: str) -> dict[str, Any] | None:
    """The tuned file of a family (runs/<exp>/tuned/<family>.json), None when there is none."""
    path = layout.tuned_params(family)
    if not path.is_file():
        return None
    payload = json.loads(path.read_text())
    if payload.get("format") != TUNED_FORMAT:
        raise ArtifactError(f"{path}: not a toss tuned-parameters file (format {payload.get('format')!r})")
    return payload


def tuned_config(
    cfg: TossConfig, layout: Layout, model_family: Family
) -> tuple[TossConfig, str, dict[str, Any]]:
    """(config to train with, where its parameters came from, the tuned overrides applied).

    With tune.enabled and a tuned file for the family whose best trial beat the defaults on the check
    fold (tune/verdict.py), its best parameters go on top of the config; otherwise the config as given
    ("config"), and the log says why. A file tuned on other data, folds or space is still used, with a
    warning naming the command that refreshes it."""
    family = model_family.name
    searched = cfg.tune.enabled and (cfg.tune.families is None or family in cfg.tune.families)
    payload = read_tuned(layout, family) if searched else None
    if payload is None:
        return cfg, "config", {}
    path = layout.tuned_params(family)
    fp = studies.fingerprint(cfg, layout, model_family)
    if payload.get("fingerprint") != fp:
        log.warning(
            "%s: tuned on other data, folds or space (fingerprint %s, now %s); using it anyway: "
            "run `toss tune --family %s` to refresh it",
            path, payload.get("fingerprint"), fp, family,
        )  # fmt: skip
    check = payload.get("against_defaults")
    if check is None:
        log.warning(
            "%s: its best trial was not checked against the defaults (an interrupted study, or a file "
            "from before the check): training with the config's parameters; `toss tune --family %s "
            "--trials 1` checks it",
            path, family,
        )  # fmt: skip
        return cfg, "config", {}
    if not check["use_tuned"]:
        log.info(
            "%s: trial %d scored %+.5f against the defaults on fold %d, which the search did not see "
            "(bootstrap sd %.5f): training with the config's parameters",
            path, check["trial"], check["gap"], check["fold"], check["bootstrap_sd"],
        )  # fmt: skip
        return cfg, "config", {}
    overrides = dict(payload["overrides"])
    log.info("%s: training with the tuned parameters of %s: %s", family, path, overrides)
    return apply_params(cfg, overrides, str(path)), str(path), overrides
