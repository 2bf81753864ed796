"""model.embed_id_cols auto: the network embeds the id columns whose values carry evidence, decided once
from the training cache and saved in the checkpoint's config."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_config

from toss_core.config import ConfigError
from toss_core.models import build_model
from toss_core.spec import FeatureSpec
from toss_core.train.ids import resolve_id_embedding

IDS = ["l_feat_14", "l_feat_12", "l_feat_11"]


def _spec(cards: dict[str, int]) -> FeatureSpec:
    return FeatureSpec(["hour", *cards], [25, *cards.values()], [], [], None, 0, 0)


def _labels(n: int, rate: float) -> np.ndarray:
    return (np.arange(n) < round(n * rate)).astype(np.float32)


def test_auto_embeds_exactly_the_ids_with_enough_minority_rows_per_value() -> None:
    # 100k rows at 40% clicks: 40k minority rows -> 40 per value at 1k values, 8 at 5k, 0.8 at 50k
    spec = _spec({"l_feat_14": 1_000, "l_feat_12": 5_000, "l_feat_11": 50_000})
    cfg = make_config(f"features.covis.id_cols={IDS}")
    resolved = resolve_id_embedding(cfg, spec, _labels(100_000, 0.4))
    assert resolved.model.embed_id_cols == ["l_feat_14", "l_feat_12"]
    assert resolved.network_id_columns_skipped == ["l_feat_11"]
    stricter = make_config(f"features.covis.id_cols={IDS}", "model.embed_min_events=10")
    assert resolve_id_embedding(stricter, spec, _labels(100_000, 0.4)).model.embed_id_cols == ["l_feat_14"]
    # the rarer class counts: at 98% clicks the 2% of non-clicks are the evidence (2 per value at 1k)
    assert resolve_id_embedding(cfg, spec, _labels(100_000, 0.98)).model.embed_id_cols == []
    assert cfg.model.embed_id_cols == "auto"  # the run's config is not changed in place


def test_auto_always_embeds_a_column_the_sequence_query_reads() -> None:
    spec = _spec({"l_feat_14": 50_000, "l_feat_12": 50_000, "l_feat_11": 50_000})
    cfg = make_config(f"features.covis.id_cols={IDS}", "sequence.query_key=[l_feat_14]")
    assert resolve_id_embedding(cfg, spec, _labels(10_000, 0.1)).model.embed_id_cols == ["l_feat_14"]


def test_a_list_naming_a_column_that_is_no_id_column_is_refused_before_any_work() -> None:
    want = r"model\.embed_id_cols names \['gender'\].*features\.covis\.id_cols"
    with pytest.raises(ConfigError, match=want):
        make_config(f"features.covis.id_cols={IDS}", "model.embed_id_cols=[l_feat_12, gender]")


@pytest.mark.parametrize("setting", ["true", "false", "[l_feat_12]"])
def test_an_explicit_setting_is_kept(setting: str) -> None:
    cfg = make_config(f"features.covis.id_cols={IDS}", f"model.embed_id_cols={setting}")
    spec = _spec({"l_feat_14": 10, "l_feat_12": 10, "l_feat_11": 10})
    assert resolve_id_embedding(cfg, spec, _labels(1_000, 0.5)) is cfg


def test_the_resolved_model_embeds_what_was_decided() -> None:
    spec = _spec({"l_feat_14": 1_000, "l_feat_12": 5_000, "l_feat_11": 50_000})
    cfg = make_config(f"features.covis.id_cols={IDS}", "sequence.col=null", "sequence.query_key=[]")
    resolved = resolve_id_embedding(cfg, spec, _labels(100_000, 0.4))
    assert build_model(spec, resolved).embedded_cat_cols == ["hour", "l_feat_14", "l_feat_12"]
    assert build_model(spec, cfg).embedded_cat_cols == ["hour"]  # unresolved auto embeds no id
