"""Which id columns may the network embed (model.embed_id_cols auto, its first step): those with evidence.

Why by evidence: an id whose values carry a click or two each is memorised within an epoch and ends
training before anything else is learned (bench/results/nn_diagnosis.md: the synthetic ad ids, under one
click per value), while ids with evidence behind every value are where a network's crosses come from
(Frappe's users and apps, MovieLens' users and movies: BENCHMARKS.md, "Issue 20: the network"). Every
id keeps its out-of-fold click rate either way. Counted on the whole training cache, so every fold and
the refit agree; a validation trial then decides whether the evidenced ids are embedded (train/id_trial.py),
and the list is written into the config the checkpoint saves, so prediction rebuilds the same model."""

from __future__ import annotations

import logging

import numpy as np

from toss_core.config import TossConfig
from toss_core.data.evidence import minority_events_per_value
from toss_core.spec import FeatureSpec

log = logging.getLogger("toss")


def resolve_id_embedding(cfg: TossConfig, spec: FeatureSpec, labels: np.ndarray) -> TossConfig:
    """cfg with model.embed_id_cols auto replaced by the list it embeds: the features.covis.id_cols whose
    values average at least model.embed_min_events minority-class rows of the training cache, and any
    that sequence.query_key needs; any other setting comes back unchanged."""
    if cfg.model.embed_id_cols != "auto":
        return cfg
    cards = dict(zip(spec.cat_cols, spec.cat_cardinalities, strict=True))
    rate = float(np.mean(labels)) if labels.size else 0.0
    evidence = {
        c: minority_events_per_value(labels.size, rate, cards[c])
        for c in cfg.features.covis.id_cols
        if c in cards
    }
    floor = cfg.model.embed_min_events
    embed = [c for c, e in evidence.items() if e >= floor or c in cfg.sequence.query_key]
    shown = ", ".join(f"{c} {e:.1f}" for c, e in evidence.items())
    log.info(
        "network ids: evidence for %s, click rates only for %s (minority rows per value: %s; "
        "model.embed_min_events %.1f)",
        embed, [c for c in evidence if c not in embed], shown or "none", floor,
    )  # fmt: skip
    return with_embedded_ids(cfg, embed)


def with_embedded_ids(cfg: TossConfig, embed: list[str]) -> TossConfig:
    """cfg whose network embeds exactly the id columns `embed`."""
    return cfg.model_copy(update={"model": cfg.model.model_copy(update={"embed_id_cols": embed})})
