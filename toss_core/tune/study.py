"""The Optuna study of one family: where it is stored, what it is called, how it samples and prunes.

The study's fingerprint hashes what makes two trials comparable: the train cache and co-visitation
features, the fold assignment, the folds scored, the searched space and the family's fixed config. It is
part of the default study name, so a changed input starts a new study and an unchanged one continues
(load_if_exists); a study named explicitly must carry the same fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any

from toss_core.artifacts.fold import file_digest
from toss_core.config import TossConfig
from toss_core.families.base import Family
from toss_core.families.registry import search_space
from toss_core.layout import Layout
from toss_core.util.errors import ArtifactError

log = logging.getLogger("toss")

HEARTBEAT_S = 60  # a worker killed mid-trial leaves a RUNNING trial; others mark it failed after 2x this
SQLITE_TIMEOUT_S = 60  # concurrent workers on one SQLite file wait this long for its write lock
OPEN_ATTEMPTS = 3


def storage_url(cfg: TossConfig, layout: Layout) -> str:
    """tune.storage, or a SQLite file under runs/<exp_name>/tuned/ (created here)."""
    if cfg.tune.storage is not None:
        return cfg.tune.storage
    layout.tuned_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(layout.tuned_dir / 'study.db').resolve()}"


def redacted(url: str) -> str:
    """The storage URL without its password, for logs and files."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def fingerprint(cfg: TossConfig, layout: Layout, family: Family) -> str:
    """Hash of the inputs a trial's value depends on besides its own parameters."""
    from toss_core.data.reader import ShardedCache

    if not layout.folds_path.is_file():
        raise ArtifactError(f"fold assignment {layout.folds_path} is missing: run `toss folds` first")
    covis = ShardedCache(layout.covis_train).fingerprint if cfg.features.covis.enabled else None
    payload = {
        "train_cache": ShardedCache(layout.train_cache).fingerprint,
        "covis": covis,
        "folds": file_digest(layout.folds_path),
        "tune.folds": cfg.tune.folds,
        "space": {k: v.model_dump() for k, v in search_space(cfg, family).items()},
        # what shapes a model, not how a trial runs (threads, device), so those never split a study
        "fixed": cfg.section_fingerprint("seed", *family.shaping_keys()),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


def study_name(cfg: TossConfig, family: str, fp: str) -> str:
    return cfg.tune.study_name or f"{cfg.exp_name}-{family}-{fp}"


def _sampler(cfg: TossConfig, seed: int) -> Any:
    import optuna

    if cfg.tune.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    # constant_liar: a worker treats the others' running trials as poor, so they do not all try one point
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


def trial_seed(base: int, number: int) -> int:
    """The sampler seed of trial `number`: well mixed, so neighbouring trials draw unrelated points."""
    import numpy as np

    return int(np.random.SeedSequence([base, number]).generate_state(1)[0])


def trial_seeded_sampler(cfg: TossConfig, base: int) -> Any:
    """A sampler that samples each trial with a fresh tune.sampler seeded by (base, trial number).

    Trial numbers are handed out by the study's storage, one per trial across every worker, so workers
    sharing a study (and a config, hence a seed) never draw the same start-up points: N workers do N
    times the work. One worker stays reproducible, and a resumed study moves on to new seeds."""
    import optuna

    class TrialSeeded(optuna.samplers.BaseSampler):
        def __init__(self) -> None:
            self._by_trial: dict[int, Any] = {}

        def _of(self, trial: Any) -> Any:
            if trial.number not in self._by_trial:
                self._by_trial[trial.number] = _sampler(cfg, trial_seed(base, trial.number))
            return self._by_trial[trial.number]

        def infer_relative_search_space(self, study: Any, trial: Any) -> Any:
            return self._of(trial).infer_relative_search_space(study, trial)

        def sample_relative(self, study: Any, trial: Any, search_space: Any) -> Any:
            return self._of(trial).sample_relative(study, trial, search_space)

        def sample_independent(self, study: Any, trial: Any, name: str, distribution: Any) -> Any:
            return self._of(trial).sample_independent(study, trial, name, distribution)

        def before_trial(self, study: Any, trial: Any) -> None:
            self._of(trial).before_trial(study, trial)

        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            inner = self._by_trial.pop(trial.number, None)
            if inner is not None:
                inner.after_trial(study, trial, state, values)

    return TrialSeeded()


def make_pruner(cfg: TossConfig) -> Any:
    """Median: stop a trial whose epoch trails the median of earlier trials at that epoch (after 5
    trials); hyperband: successive halving over epochs; none: every trial runs to the end."""
    import optuna

    if cfg.tune.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    if cfg.tune.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource="auto")
    return optuna.pruners.NopPruner()


def _storage(url: str) -> Any:
    import warnings

    import optuna

    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
    with warnings.catch_warnings():  # the heartbeat is experimental in Optuna 5 and says so each time
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            url, engine_kwargs=kwargs, heartbeat_interval=HEARTBEAT_S, grace_period=2 * HEARTBEAT_S
        )


def open_study(cfg: TossConfig, layout: Layout, model_family: Family) -> Any:
    """Create the family's study or continue it; its sampler seeded per trial (trial_seeded_sampler)."""
    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    family = model_family.name
    fp = fingerprint(cfg, layout, model_family)
    name, url = study_name(cfg, family, fp), storage_url(cfg, layout)
    for attempt in range(OPEN_ATTEMPTS):
        try:
            study = optuna.create_study(
                storage=_storage(url),
                study_name=name,
                direction="maximize",
                pruner=make_pruner(cfg),
                load_if_exists=True,
            )
            break
        except ImportError as exc:
            raise ArtifactError(
                f"tune.storage {redacted(url)}: its database driver is not installed ({exc}): "
                "pip install -e '.[scale]'"
            ) from exc
        except SQLAlchemyError as exc:
            # workers starting together race to create the tables of a new database: the loser retries
            if attempt == OPEN_ATTEMPTS - 1:
                raise ArtifactError(f"tune.storage {redacted(url)}: cannot open the study ({exc})") from exc
            time.sleep(1.0 + attempt)
    saved = study.user_attrs.get("fingerprint")
    if saved is None:
        study.set_user_attr("fingerprint", fp)
    elif saved != fp:
        raise ArtifactError(
            f"study '{name}' in {redacted(url)} was made for other data, folds or space (fingerprint "
            f"{saved}, now {fp}): set tune.study_name to a new name, or unset it for the default"
        )
    n_before = len(study.trials)
    seed = cfg.tune.seed if cfg.tune.seed is not None else cfg.seed
    study.sampler = trial_seeded_sampler(cfg, seed)
    log.info(
        "tune %s: study '%s' in %s, %d trials so far, %s sampler seeded per trial from %d, %s pruner",
        family, name, redacted(url), n_before, cfg.tune.sampler, seed, cfg.tune.pruner,
    )  # fmt: skip
    return study
