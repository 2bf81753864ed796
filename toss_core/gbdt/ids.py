"""Which categoricals LightGBM treats as ids, and how it encodes them (gbdt.id_cols, gbdt.id_encoding)."""

from __future__ import annotations

from toss_core.config import GBDTConfig
from toss_core.data.evidence import minority_events_per_value
from toss_core.spec import FeatureSpec
from toss_core.util.errors import DataError


def choose_ids(spec: FeatureSpec, gcfg: GBDTConfig, evidence: tuple[int, float]) -> tuple[list[str], str]:
    """(id columns to encode, "target" | "frequency"): explicit gbdt.id_cols, else cardinality >
    id_min_cardinality. Under gbdt.id_encoding auto these are the columns target-encoded in any case, those
    whose values average fewer than gbdt.native_min_events minority-class rows (`evidence` = training rows,
    positive rate); trial_ids names the others, which a validation trial decides (gbdt/train.py)."""
    if gcfg.id_cols is not None:
        unknown = sorted(set(gcfg.id_cols) - set(spec.cat_cols))
        if unknown:
            raise DataError(f"gbdt.id_cols names {unknown}, which are not cache cat columns {spec.cat_cols}")
        ids = [c for c in spec.cat_cols if c in gcfg.id_cols]
    else:
        ids = [
            c
            for c, card in zip(spec.cat_cols, spec.cat_cardinalities, strict=True)
            if card > gcfg.id_min_cardinality
        ]
    if gcfg.id_encoding == "native":
        ids = []
    elif gcfg.id_encoding == "auto":
        card = dict(zip(spec.cat_cols, spec.cat_cardinalities, strict=True))
        ids = [c for c in ids if minority_events_per_value(*evidence, card[c]) < gcfg.native_min_events]
    return ids, "frequency" if gcfg.id_encoding == "frequency" else "target"


def trial_ids(spec: FeatureSpec, gcfg: GBDTConfig, evidence: tuple[int, float]) -> list[str]:
    """gbdt.id_encoding auto: the id columns whose encoding a validation trial decides (native or target),
    i.e. the ids choose_ids does not target-encode in any case; [] under any other encoding."""
    if gcfg.id_encoding != "auto":
        return []
    everything = choose_ids(spec, gcfg.model_copy(update={"id_encoding": "target"}), evidence)[0]
    sparse = choose_ids(spec, gcfg, evidence)[0]
    return [c for c in everything if c not in sparse]
