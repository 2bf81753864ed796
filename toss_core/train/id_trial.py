"""model.embed_id_cols auto, its second step: a validation trial decides whether the network embeds the
id columns that have the evidence for it (train/ids.py).

Why a trial: evidence per value cannot tell ids whose crosses a network learns (Frappe's users and
apps, +0.019 AUC embedded) from ids whose effect their click rate already holds (the synthetic ad ids at
14 clicks per ad set, -0.0014 Score embedded). As LightGBM's id trial (gbdt/train.py decide_ids): both
arms train one fold, the better calibrated validation Score wins, all or none. The choice is saved in
<family dir>/id_choice.json with what it was decided on, so every fold, the refit and a resumed run
agree; fold models trained in parallel share it under a lock: the first trains the arms, the others wait
and read its choice.

The fold is always fold 0 (TRIAL_FOLD), not LightGBM's "placed like the test" fold: on MovieLens, whose
last fold holds each user's latest ratings, that fold preferred the click rates (Score_cal 0.6818 vs
0.6781) while the test gained 0.016 AUC from the embeddings; folds 0 and 1 preferred the embeddings
(+0.0018, +0.0032), as the test did, and fold 0 also ranked Frappe and the synthetic ids as their tests
did (BENCHMARKS.md, "Issue 20: the network's id trial").
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from toss_core.config import TossConfig
from toss_core.data.reader import ShardedCache
from toss_core.layout import Layout
from toss_core.spec import FeatureSpec
from toss_core.train.ids import resolve_id_embedding, with_embedded_ids
from toss_core.train.paths import NAME
from toss_core.util.atomic import write_json
from toss_core.util.locks import writer_lock

log = logging.getLogger("toss")

# Trains one fold of the network under a config and a layout; returns its validation metrics.
ArmTrainer = Callable[[TossConfig, Layout, int], dict[str, float]]

TRIAL_FOLD = 0  # see the module docstring: the fold whose validation ranked the arms as every test did
EMBED, RATES = "embed", "rates"  # the two arms: the evidenced ids embedded, or read as click rates only


def choice_path(layout: Layout) -> Path:
    return layout.family_dir(NAME) / "id_choice.json"


def settle_id_embedding(
    cfg: TossConfig,
    layout: Layout,
    spec: FeatureSpec,
    labels: np.ndarray,
    shaping: str,
    train_arm: ArmTrainer,
) -> TossConfig:
    """cfg with model.embed_id_cols auto replaced by the list the network embeds: the ids the evidence
    names (resolve_id_embedding), kept when the trial's embedding arm scores at least the click-rate arm,
    else only those sequence.query_key needs. `shaping` fingerprints the settings that shape a fold's
    weights; no trial when no id can go either way. Any other setting comes back unchanged."""
    if cfg.model.embed_id_cols != "auto":
        return cfg
    evidenced = resolve_id_embedding(cfg, spec, labels).model.embed_id_cols
    assert isinstance(evidenced, list)
    needed = [c for c in evidenced if c in cfg.sequence.query_key]
    if evidenced == needed:
        return with_embedded_ids(cfg, evidenced)
    choice = _decide(cfg, layout, (evidenced, needed), shaping, train_arm)
    embed = evidenced if choice == EMBED else needed
    if choice == RATES:
        log.info(
            "network ids: the trial leaves %s to their click rates", [c for c in evidenced if c not in embed]
        )
    return with_embedded_ids(cfg, embed)


def _decide(
    cfg: TossConfig,
    layout: Layout,
    arms: tuple[list[str], list[str]],
    shaping: str,
    train_arm: ArmTrainer,
) -> str:
    """EMBED or RATES: the saved choice when it was made on the same data and settings, else the trial's."""
    evidenced, needed = arms
    fold = TRIAL_FOLD
    covis = ShardedCache(layout.covis_train).fingerprint if cfg.features.covis.enabled else None
    identity = {
        "cache": ShardedCache(layout.train_cache).fingerprint,
        "covis": covis,
        "folds": json.loads(layout.folds_meta_path.read_text())["cv_fingerprint"],
        "fold": fold,
        "embed": evidenced,
        "rates_only": needed,
        "network": shaping,
    }
    path = choice_path(layout)
    path.parent.mkdir(parents=True, exist_ok=True)
    with writer_lock(path, "the network's id trial", wait=True):
        saved = json.loads(path.read_text()) if path.is_file() else {}
        if saved.get("identity") == identity:
            return str(saved["choice"])
        scores = {}
        log.info(
            "network ids: trial on fold %d, %s embedded against click rates only (two extra trainings of "
            "the fold; model.embed_id_cols auto, saved in %s)",
            fold, evidenced, path,
        )  # fmt: skip
        for arm, ids in ((EMBED, evidenced), (RATES, needed)):
            out = layout.family_dir(NAME) / "id_trial" / arm
            metrics = train_arm(
                with_embedded_ids(cfg, ids), dataclasses.replace(layout, output_dir=out), fold
            )
            scores[arm] = {k: float(metrics[k]) for k in ("Score_cal", "AUC")}
            shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(layout.family_dir(NAME) / "id_trial", ignore_errors=True)
        choice = EMBED if scores[EMBED]["Score_cal"] >= scores[RATES]["Score_cal"] else RATES
        log.info("network ids %s: %s on fold %d (validation %s)", evidenced, choice, fold, scores)
        write_json(path, {"identity": identity, "choice": choice, "scores": scores})
        return choice
