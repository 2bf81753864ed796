"""model.embed_id_cols auto, its second step: a validation trial decides whether and how the network
embeds the id columns that have the evidence for it (train/ids.py), and so settles model.emb_l2 and
model.dense_bins auto too.

Why a trial: evidence per value cannot tell ids whose crosses a network learns (Frappe's users and
apps, +0.019 AUC embedded) from ids whose effect their click rate already holds (the synthetic ad ids at
14 clicks per ad set, -0.0014 Score embedded); nor whether the embeddings want the coupled L2 and the
click rates their bins (Frappe +0.0098 validation Score, MovieLens -0.0007). As LightGBM's id trial
(gbdt/train.py decide_ids), the arms train one fold, all ids or none; but the plain embedding, the
evidence's choice, stays unless a challenger leads clearly: by CLEAR_BY standard deviations of the gap in
calibrated validation Score over a paired bootstrap of the fold's rows. A bare lead is noise: on
MovieLens with its crosses the click rates led by 0.0003 (0.2 sd) and the network trained that way lost
0.012 test AUC. The choice is saved in <family dir>/id_choice.json with what it was decided on, so every
fold, the refit and a resumed run agree; fold models trained in parallel share it under a lock: the
first trains the arms, the others wait and read its choice. The winning arm's finished training becomes
the trial fold's own (its resume state), so the fold is not trained once more after its arms.

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
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from toss_core.config import TossConfig
from toss_core.data.reader import ShardedCache
from toss_core.layout import Layout
from toss_core.scoring.score_gap import BOOTSTRAP_DRAWS, CLEAR_BY, leads_clearly, score_gap
from toss_core.spec import FeatureSpec
from toss_core.train.ids import resolve_id_embedding, with_embedded_ids
from toss_core.train.paths import NAME, resume_path, tb_dir
from toss_core.util.atomic import write_json
from toss_core.util.locks import writer_lock

log = logging.getLogger("toss")

# Trains one fold of the network under a config and a layout; returns its validation rows' labels and
# (true-prior) logits, in one order for both arms.
ArmTrainer = Callable[[TossConfig, Layout, int], tuple[np.ndarray, np.ndarray]]

# The challenger that reads the ids and their rates more carefully: the embedding under FuxiCTR's coupled L2
# (model.emb_l2) and every click rate through a learned curve over its quantile bins (model.dense_bins).
# On Frappe it led the plain embedding by 9.6 sd and gave the network its stack weight; neither half did
# alone (BENCHMARKS.md, "Issue 20: the network's stack weight").
TRIAL_L2 = 0.01
TRIAL_BINS = 16

TRIAL_FOLD = 0  # see the module docstring: the fold whose validation ranked the arms as every test did
# The arms: the evidenced ids embedded (the default), the same with the L2 and the binned rates, or click
# rates only.
EMBED, EMBED_L2_BINS, RATES = "embed", "embed_l2_bins", "rates"


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
    """cfg with model.embed_id_cols auto replaced by the list the network embeds, and model.emb_l2 and
    model.dense_bins auto by numbers: the ids the evidence names (resolve_id_embedding), plainly, unless a
    challenger arm of the trial leads clearly (by CLEAR_BY bootstrap standard deviations of the gap): the
    same ids under TRIAL_L2 with TRIAL_BINS bins per click rate, or only the ids sequence.query_key
    needs. `shaping` fingerprints the settings that shape a fold's weights; no trial when no id can go
    either way, and the autos are then 0. Any other setting comes back unchanged."""
    if cfg.model.embed_id_cols != "auto":
        return without_trial(cfg)
    by_evidence = without_trial(resolve_id_embedding(cfg, spec, labels))
    evidenced = by_evidence.model.embed_id_cols
    assert isinstance(evidenced, list)
    needed = [c for c in evidenced if c in cfg.sequence.query_key]
    if evidenced == needed:
        return by_evidence
    arms = _arms(cfg, evidenced, needed)
    choice = _decide(cfg, layout, arms, shaping, train_arm)
    if choice == RATES:
        log.info(
            "network ids: the trial leaves %s to their click rates", sorted(set(evidenced) - set(needed))
        )
    if choice == EMBED_L2_BINS:
        log.info(
            "network ids: the trial embeds %s under the coupled L2 with binned click rates "
            "(model.emb_l2 %s, model.dense_bins %s)",
            evidenced, arms[choice].model.emb_l2, arms[choice].model.dense_bins,
        )  # fmt: skip
    return arms[choice]


def without_trial(cfg: TossConfig) -> TossConfig:
    """cfg as a network trains it where no trial runs (model.embed_id_cols set by hand, or no id to try):
    model.emb_l2 and model.dense_bins auto are 0."""
    return _settled(cfg, 0.0, 0)


def _settled(cfg: TossConfig, l2: float, bins: int) -> TossConfig:
    """cfg with model.emb_l2 and model.dense_bins auto replaced by `l2` and `bins` (set by hand: kept)."""
    update: dict[str, float | int] = {}
    if cfg.model.emb_l2 == "auto":
        update["emb_l2"] = l2
    if cfg.model.dense_bins == "auto":
        update["dense_bins"] = bins
    return cfg.model_copy(update={"model": cfg.model.model_copy(update=update)}) if update else cfg


def _arms(cfg: TossConfig, evidenced: list[str], needed: list[str]) -> dict[str, TossConfig]:
    """Each arm's config, the embedding first (the default every challenger must beat clearly); the L2 and
    bins arm only while model.emb_l2 or model.dense_bins is auto (a value set by hand is kept in every
    arm)."""
    arms = {EMBED: without_trial(with_embedded_ids(cfg, evidenced))}
    if "auto" in (cfg.model.emb_l2, cfg.model.dense_bins):
        arms[EMBED_L2_BINS] = _settled(with_embedded_ids(cfg, evidenced), TRIAL_L2, TRIAL_BINS)
    arms[RATES] = without_trial(with_embedded_ids(cfg, needed))
    return arms


def _decide(
    cfg: TossConfig,
    layout: Layout,
    arms: dict[str, TossConfig],
    shaping: str,
    train_arm: ArmTrainer,
) -> str:
    """The winning arm: the saved choice when it was made on the same data and settings, else the trial's."""
    fold = TRIAL_FOLD
    covis = ShardedCache(layout.covis_train).fingerprint if cfg.features.covis.enabled else None
    identity = {
        "cache": ShardedCache(layout.train_cache).fingerprint,
        "covis": covis,
        "folds": json.loads(layout.folds_meta_path.read_text())["cv_fingerprint"],
        "fold": fold,
        "arms": {arm: [a.model.embed_id_cols, a.model.emb_l2, a.model.dense_bins] for arm, a in arms.items()},
        "network": shaping,
        "rule": f"an arm over the embedding by {CLEAR_BY:g} sd of {BOOTSTRAP_DRAWS} draws",
    }
    path = choice_path(layout)
    path.parent.mkdir(parents=True, exist_ok=True)
    with writer_lock(path, "the network's id trial", wait=True):
        saved = json.loads(path.read_text()) if path.is_file() else {}
        if saved.get("identity") == identity:
            return str(saved["choice"])
        log.info(
            "network ids: trial on fold %d of %s (%d extra trainings of the fold: the winning arm becomes "
            "the fold's own; model.embed_id_cols auto, saved in %s)",
            fold, list(arms), len(arms) - 1, path,
        )  # fmt: skip
        arm_layouts = {
            arm: dataclasses.replace(layout, output_dir=layout.family_dir(NAME) / "id_trial" / arm)
            for arm in arms
        }
        outputs = {arm: train_arm(arm_cfg, arm_layouts[arm], fold) for arm, arm_cfg in arms.items()}
        labels, embed_logits = outputs[EMBED]
        gaps = {
            arm: score_gap(labels, embed_logits, logits, seed=cfg.seed)
            for arm, (_, logits) in outputs.items()
            if arm != EMBED
        }
        clear = {arm: gap for arm, (gap, spread) in gaps.items() if leads_clearly(gap, spread)}
        choice = max(clear, key=clear.__getitem__) if clear else EMBED
        _promote(arm_layouts[choice], layout, fold)
        shutil.rmtree(layout.family_dir(NAME) / "id_trial", ignore_errors=True)
        shown = ", ".join(f"{arm} {gap:+.5f} (sd {spread:.5f})" for arm, (gap, spread) in gaps.items())
        log.info(
            "network ids %s: %s (fold %d, calibrated Score against the embedding: %s; an arm needs a "
            "lead of %g sd)",
            arms[EMBED].model.embed_id_cols, choice, fold, shown, CLEAR_BY,
        )  # fmt: skip
        trial = {
            "fold": fold,
            "clear_by": CLEAR_BY,
            "over_embed": {arm: {"gap": gap, "bootstrap_sd": spread} for arm, (gap, spread) in gaps.items()},
        }
        write_json(path, {"identity": identity, "choice": choice, "trial": trial})
        return choice


def _promote(arm: Layout, layout: Layout, fold: int) -> None:
    """The winning arm trained the trial fold as the fold itself trains (the same config, data and seeds):
    its finished state becomes the fold's resume state and its TensorBoard events the fold's, so the fold
    writes that arm's best epoch instead of training a third time. The fold's resume step still checks the
    state's identity, and retrains when it differs. An arm that left no state is skipped."""
    state = resume_path(arm, fold)
    if not state.is_file():
        return
    os.replace(state, resume_path(layout, fold))
    events = tb_dir(arm, fold)
    if events.is_dir():
        shutil.rmtree(tb_dir(layout, fold), ignore_errors=True)
        tb_dir(layout, fold).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(events, tb_dir(layout, fold))
    log.info("network ids: fold %d keeps the winning arm's training (%s)", fold, resume_path(layout, fold))
