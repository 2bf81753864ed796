"""Where every artifact lives, computed once from the config.

The CLI and the Dagster assets both ask a `Layout` for paths, so they always read and write the same
files. Relative paths in the config are resolved against `root` (the working directory by default)
and must stay inside it: `--set data.cache_dir=../../x` is refused up front, an absolute path is
taken as given on purpose.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from toss_core.config import ConfigError, TossConfig

FULL = "full"  # the fold name of a family's refit on every training row (cv.refit = full)


@dataclass(frozen=True)
class Layout:
    cfg: TossConfig
    root: Path = Path(".")
    # where the model families write checkpoints, OOF logits and logs; None = run_dir. A tuning trial
    # points it at its own directory and keeps the run's caches, folds and co-visitation features.
    output_dir: Path | None = None

    def __post_init__(self) -> None:
        d = self.cfg.data
        keys = {
            "data.train_path": d.train_path,
            "data.test_path": d.test_path,
            "data.cache_dir": d.cache_dir,
            "runs_dir": self.cfg.runs_dir,
        }
        for key, value in keys.items():
            self._inside(key, Path(value), self.root)

    @staticmethod
    def _inside(key: str, p: Path, base: Path) -> None:
        """ConfigError when a relative `p` climbs out of `base` with '..' (symlinks the user made are
        theirs to point anywhere, so the check is on the path as written)."""
        if p.is_absolute():
            return
        if os.path.normpath(p).split(os.sep)[0] == "..":
            raise ConfigError(
                f"{key} = {str(p)!r} leads outside {base.resolve()}; give a path inside it, "
                "or an absolute path if you mean it"
            )

    def _resolve(self, p: str | Path) -> Path:
        p = Path(p)
        return p if p.is_absolute() else self.root / p

    # raw inputs -----------------------------------------------------------------------------------
    @property
    def train_path(self) -> Path:
        return self._resolve(self.cfg.data.train_path)

    @property
    def test_path(self) -> Path:
        return self._resolve(self.cfg.data.test_path)

    @property
    def truth_path(self) -> Path:
        """Ground truth of the synthetic test set (ID, clicked, p_true); absent for real data."""
        return self.test_path.with_name("test_truth.parquet")

    # shard caches ---------------------------------------------------------------------------------
    @property
    def cache_dir(self) -> Path:
        return self._resolve(self.cfg.data.cache_dir)

    @property
    def train_cache(self) -> Path:
        return self.cache_dir / "train"

    @property
    def test_cache(self) -> Path:
        return self.cache_dir / "test"

    # run outputs ----------------------------------------------------------------------------------
    @property
    def run_dir(self) -> Path:
        return self._resolve(self.cfg.runs_dir) / self.cfg.exp_name

    @property
    def folds_path(self) -> Path:
        return self.run_dir / "folds.npy"

    @property
    def folds_meta_path(self) -> Path:
        return self.run_dir / "folds.json"

    @property
    def covis_train(self) -> Path:
        return self.run_dir / "covis" / "train"

    @property
    def covis_test(self) -> Path:
        return self.run_dir / "covis" / "test"

    @property
    def models_dir(self) -> Path:
        return self.output_dir if self.output_dir is not None else self.run_dir

    def family_dir(self, family: str) -> Path:
        """Everything one model family writes: runs/<exp>/<family>/ (its package names its model files)."""
        return self.models_dir / family

    def oof_path(self, fold: int | str, family: str) -> Path:
        """Validation-row predictions of one fold: npz with `index`, `logit`, `label`, `metrics` (json)."""
        return self.family_dir(family) / f"oof_fold_{fold}.npz"

    def test_logits_path(self, fold: int | str, family: str) -> Path:
        """Test-set predictions of one fold: npz with `logit` and `lineage` (toss_core.artifacts.fold)."""
        return self.family_dir(family) / f"test_logits_fold_{fold}.npz"

    # hyperparameter search -----------------------------------------------------------------------------
    @property
    def tuned_dir(self) -> Path:
        return self.run_dir / "tuned"

    def tuned_params(self, family: str) -> Path:
        """Best parameters of a family's study, as config overrides (toss_core.tune)."""
        return self.tuned_dir / f"{family}.json"

    def trial_dir(self, family: str, number: int) -> Path:
        """A tuning trial's own output_dir, removed when the trial ends."""
        return self.tuned_dir / "trials" / family / f"t{number}"

    def tune_check_dir(self, family: str, arm: str) -> Path:
        """The output_dir of one side of the best trial's check against the defaults, removed after it."""
        return self.tuned_dir / "trials" / family / f"check_{arm}"

    @property
    def ensemble_path(self) -> Path:
        return self.run_dir / "ensemble.json"

    @property
    def test_pred_path(self) -> Path:
        return self.run_dir / "test_pred.npy"

    @property
    def submission_path(self) -> Path:
        return self.run_dir / "submission.csv"

    @property
    def diagnostics_dir(self) -> Path:
        return self.run_dir / "diagnostics"
