"""The Family interface: everything the pipeline asks of a model family.

A family trains one model per fold on the shared caches, folds and co-visitation features, writes its
OOF logits through toss_core.artifacts.fold, predicts the test rows of a trained fold, and can refit on
every training row. Each family lives in its own package (train/ the network, gbdt/ LightGBM, catboost/
CatBoost) with a light `family.py` that imports nothing heavy, so the registry and the Dagster code
location stay quick to import.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

    from toss_core.artifacts.fold import Lineage
    from toss_core.config import ParamRange, TossConfig
    from toss_core.layout import Layout
    from toss_core.util.results import FoldResult

# Called after each epoch (or boosting stage) of a tuned fold with its validation metrics; it raises
# toss_core.util.errors.StopTraining to prune the trial. Families without stages ignore it.
EpochCallback = Callable[[int, dict[str, float]], None]


class Family(Protocol):
    """One model family. `name` keys it everywhere: `families:` in the config, `--family` on the CLI,
    runs/<exp>/<name>/ on disk, tune.space.<name>, the Dagster assets <name>_fold_model and
    <name>_test_logits."""

    name: str
    title: str  # shown in reports and tables, e.g. "LightGBM"
    kind: str  # the Dagster `kinds` tag of its assets, e.g. "lightgbm"
    takes_gpu_slot: bool  # its fold steps hold a slot of the Dagster pool `gpu` (device or fair cores)
    packages: tuple[str, ...]  # toss_core packages whose source shapes its models (code versions)
    tunable_sections: tuple[str, ...]  # config sections its search may change

    def default_space(self) -> dict[str, ParamRange]:
        """The searched parameters when tune.space.<name> is not given."""
        ...

    def shaping_keys(self) -> tuple[str, ...]:
        """Config sections or keys whose values shape a trained model (what a study's fingerprint hashes);
        how a trial executes (threads, device) is left out so it never splits a study."""
        ...

    def settle(self, cfg: TossConfig, layout: Layout) -> TossConfig:
        """cfg with the choices the family makes by a trial on the run's data made explicit (the network's
        embedded ids), so that a tuning study's trials share one decision instead of each repeating it."""
        ...

    def checkpoint(self, layout: Layout, fold: int | str) -> Path:
        """The model file of one fold (layout.FULL: the refit); its digest is the model's identity."""
        ...

    def train_fold(
        self, cfg: TossConfig, layout: Layout, fold: int, on_epoch: EpochCallback | None = None
    ) -> FoldResult:
        """Train on the rows outside `fold`, select on the rows inside it, write the model and its OOF."""
        ...

    def predict_test(self, cfg: TossConfig, layout: Layout, fold: int | str) -> tuple[np.ndarray, Lineage]:
        """True-prior test logits [n_test] of one trained fold, and the lineage of its model."""
        ...

    def refit(self, cfg: TossConfig, layout: Layout, size: int) -> Lineage:
        """Train once on every training row for `size` epochs / rounds (what the folds selected)."""
        ...
