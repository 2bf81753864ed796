"""model.embed_id_cols auto: the network may embed the id columns whose values carry evidence, a validation
trial on one fold decides whether it does, and the list is saved in the checkpoint's config."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_config, on_smoke_caches, run_context

from toss_core import steps
from toss_core.config import ConfigError, TossConfig
from toss_core.data.folds import assign_folds
from toss_core.layout import Layout
from toss_core.models import build_model
from toss_core.scoring.fold_metrics import fold_metrics
from toss_core.scoring.score_gap import score_gap
from toss_core.spec import FeatureSpec
from toss_core.train import loop
from toss_core.train.family import NETWORK
from toss_core.train.id_trial import choice_path, settle_id_embedding
from toss_core.train.ids import resolve_id_embedding
from toss_core.train.loop import train_fold
from toss_core.train.paths import checkpoint_path, resume_path
from toss_core.tune.objective import Objective

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


# ---- the validation trial (train/id_trial.py) ------------------------------------------------------------


class FakeArms:
    """Stands in for the trial trainings: each arm's validation logits are the rows' true logits plus noise
    of its own size (less noise, a better arm); every call is recorded, and each arm leaves its name as
    its fold's final state."""

    def __init__(self, embed: float, l2: float, rates: float, pause_s: float = 0.0):
        rng = np.random.default_rng(0)
        truth = rng.normal(-0.5, 1.5, 4_000)
        self.labels = (rng.random(truth.size) < 1.0 / (1.0 + np.exp(-truth))).astype(np.float32)
        noise = {"embed": embed, "embed_l2_bins": l2, "rates": rates}
        self.logits = {
            arm: (truth + rng.normal(0.0, size, truth.size)).astype(np.float32) for arm, size in noise.items()
        }
        self.pause_s = pause_s
        self.calls: list[tuple[list[str], float, int, int, Path]] = []

    @staticmethod
    def arm(cfg: TossConfig) -> str:
        if "l_feat_14" not in cfg.model.embed_id_cols:
            return "rates"
        return "embed_l2_bins" if cfg.model.dense_bins == 16 else "embed"

    def __call__(self, cfg: TossConfig, layout: Layout, fold: int) -> tuple[np.ndarray, np.ndarray]:
        ids, l2, bins = cfg.model.embed_id_cols, cfg.model.emb_l2, cfg.model.dense_bins
        assert isinstance(ids, list) and isinstance(l2, float) and isinstance(bins, int)  # settled
        self.calls.append((ids, l2, bins, fold, layout.models_dir))
        layout.family_dir("nn").mkdir(parents=True)  # what a trained arm leaves behind: its final state
        resume_path(layout, fold).write_text(self.arm(cfg))
        time.sleep(self.pause_s)
        return self.labels, self.logits[self.arm(cfg)]


def _trial_layout(smoke: Layout, root: Path, *overrides: str) -> Layout:
    layout = on_smoke_caches(
        smoke, root, "features.covis.enabled=false", f"features.covis.id_cols={IDS}", *overrides
    )
    assign_folds(layout.cfg, layout)
    return layout


EVIDENCED = {"l_feat_14": 1_000, "l_feat_12": 5_000, "l_feat_11": 50_000}  # 40, 8, 0.8 rows per value
EMBEDDED = ["l_feat_14", "l_feat_12"]


def _settle(layout: Layout, arms: FakeArms, shaping: str = "net-a") -> TossConfig:
    return settle_id_embedding(layout.cfg, layout, _spec(EVIDENCED), _labels(100_000, 0.4), shaping, arms)


@pytest.mark.parametrize(("noise", "choice", "settled"), [
    ((0.3, 1.5, 1.5), "embed", (EMBEDDED, 0.0, 0)),  # the embedding is better
    ((1.5, 2.0, 0.3), "rates", ([], 0.0, 0)),  # the click rates lead clearly
    ((1.5, 0.3, 2.0), "embed_l2_bins", (EMBEDDED, 0.01, 16)),  # the L2 with binned rates leads clearly
    ((1.5, 0.6, 0.3), "rates", ([], 0.0, 0)),  # both lead clearly: the larger lead wins
    ((1.0, 0.95, 0.95), "embed", (EMBEDDED, 0.0, 0)),  # both lead within noise: the embedding stays
])  # fmt: skip
def test_a_challenger_replaces_the_embedding_only_when_it_leads_clearly(
    smoke_cached: Layout,
    tmp_path: Path,
    noise: tuple[float, float, float],
    choice: str,
    settled: tuple[list[str], float, int],
) -> None:
    layout = _trial_layout(smoke_cached, tmp_path)
    arms = FakeArms(*noise)
    model = _settle(layout, arms).model
    assert (model.embed_id_cols, model.emb_l2, model.dense_bins) == settled
    # the arms train fold 0: the evidenced ids plainly, then under the L2 with binned rates, then none
    assert [call[:4] for call in arms.calls] == [
        (EMBEDDED, 0.0, 0, 0), (EMBEDDED, 0.01, 16, 0), ([], 0.0, 0, 0)
    ]  # fmt: skip
    assert all(out.is_relative_to(layout.family_dir("nn")) for *_, out in arms.calls)
    saved = json.loads(choice_path(layout).read_text())
    assert saved["choice"] == choice
    for arm, measured in saved["trial"]["over_embed"].items():
        arm_noise = noise[["embed_l2_bins", "rates"].index(arm) + 1]
        if abs(arm_noise - noise[0]) >= 0.2:  # a clear difference of noise shows in the gap's sign
            assert (measured["gap"] > 0) == (arm_noise < noise[0])
        assert measured["bootstrap_sd"] > 0
    assert not (layout.family_dir("nn") / "id_trial").exists()  # the arms' models are gone
    # the winner's final state is now fold 0's resume state: the fold is not trained again
    assert resume_path(layout, 0).read_text() == choice


@pytest.mark.parametrize(("overrides", "calls"), [
    (("model.emb_l2=0.05",), [(EMBEDDED, 0.05, 0), (EMBEDDED, 0.05, 16), ([], 0.05, 0)]),
    (("model.dense_bins=8",), [(EMBEDDED, 0.0, 8), (EMBEDDED, 0.01, 8), ([], 0.0, 8)]),
    (("model.emb_l2=0.05", "model.dense_bins=8"), [(EMBEDDED, 0.05, 8), ([], 0.05, 8)]),  # nothing to try
])  # fmt: skip
def test_values_set_by_hand_are_kept_in_every_arm(
    smoke_cached: Layout,
    tmp_path: Path,
    overrides: tuple[str, ...],
    calls: list[tuple[list[str], float, int]],
) -> None:
    layout = _trial_layout(smoke_cached, tmp_path, *overrides)
    arms = FakeArms(0.3, 1.5, 1.5)
    _settle(layout, arms)
    assert [call[:3] for call in arms.calls] == calls


def test_the_gap_and_its_spread_are_those_of_the_calibrated_validation_score() -> None:
    arms = FakeArms(1.5, 1.5, 0.3)
    labels, embed, rates = arms.labels, arms.logits["embed"], arms.logits["rates"]
    gap, spread = score_gap(labels, embed, rates, seed=1)
    assert gap == pytest.approx(
        fold_metrics(labels, rates, 0.5)["Score_cal"] - fold_metrics(labels, embed, 0.5)["Score_cal"]
    )
    assert score_gap(labels, embed, embed, seed=1) == (0.0, 0.0)  # the same arm twice: no gap, no spread
    assert 0.0 < spread < gap


def test_the_trial_runs_once_per_data_and_settings(smoke_cached: Layout, tmp_path: Path) -> None:
    layout = _trial_layout(smoke_cached, tmp_path)
    first = FakeArms(1.5, 1.5, 0.3)
    assert _settle(layout, first).model.embed_id_cols == []
    again = FakeArms(0.3, 1.5, 1.5)  # would choose otherwise, were it asked
    assert _settle(layout, again).model.embed_id_cols == []
    assert again.calls == []
    _settle(layout, again, shaping="net-b")  # other training settings: decided afresh
    assert len(again.calls) == 3 and json.loads(choice_path(layout).read_text())["choice"] == "embed"


def test_folds_trained_in_parallel_share_one_trial(smoke_cached: Layout, tmp_path: Path) -> None:
    layout = _trial_layout(smoke_cached, tmp_path)
    arms = FakeArms(0.3, 1.5, 1.5, pause_s=0.2)
    with ThreadPoolExecutor(3) as pool:
        chosen = list(pool.map(lambda _: _settle(layout, arms).model.embed_id_cols, range(3)))
    assert chosen == [EMBEDDED] * 3
    assert len(arms.calls) == 3


@pytest.mark.parametrize(("overrides", "embedded"), [
    (("model.embed_min_events=100",), []),  # no id has the evidence
    (("model.embed_min_events=10", "sequence.query_key=[l_feat_14]"), ["l_feat_14"]),  # only the query's
    (("model.embed_id_cols=true",), IDS),  # set by hand
])  # fmt: skip
def test_no_trial_when_no_id_can_go_either_way(
    smoke_cached: Layout, tmp_path: Path, overrides: tuple[str, ...], embedded: list[str]
) -> None:
    layout = _trial_layout(smoke_cached, tmp_path, *overrides)
    arms = FakeArms(1.5, 0.3, 0.3)
    settled = _settle(layout, arms)
    embeds = settled.model.embed_id_cols
    assert (IDS if embeds is True else embeds) == embedded
    assert (settled.model.emb_l2, settled.model.dense_bins) == (0.0, 0)  # auto without a trial: off
    assert arms.calls == [] and not choice_path(layout).exists()


@pytest.mark.slow
def test_a_fold_trains_what_the_trial_chose_and_the_tuner_reuses_it(
    smoke_cached: Layout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end on the smoke cache: the trial's arms are real fold trainings, the fold model embeds the
    chosen list under the chosen penalty (its checkpoint's config), fold 0 is the winning arm's training,
    and a tuning study pins that choice without training."""
    layout = _trial_layout(
        smoke_cached, tmp_path, "features.covis.enabled=true", "model.embed_min_events=0", "train.epochs=1"
    )
    steps.build_covis(run_context(layout))
    train_fold(layout.cfg, layout, 1)
    saved = json.loads(choice_path(layout).read_text())
    assert saved["identity"]["fold"] == 0 and set(saved["trial"]["over_embed"]) == {"embed_l2_bins", "rates"}
    assert all(arm["bootstrap_sd"] > 0 for arm in saved["trial"]["over_embed"].values())
    chosen, l2, bins = saved["identity"]["arms"][saved["choice"]]
    assert saved["identity"]["arms"]["embed"][0]  # every id column has the (zero) evidence asked for
    ckpt = torch.load(checkpoint_path(layout, 1), weights_only=True)
    settled = (chosen, l2, bins)
    assert tuple(ckpt["config"]["model"][k] for k in ("embed_id_cols", "emb_l2", "dense_bins")) == settled
    # fold 0 is the winning arm's training: it writes that arm's best epoch without an epoch of its own
    assert resume_path(layout, 0).is_file()
    monkeypatch.setattr(loop.FoldTrainer, "train_epoch", _no_epoch)
    fold0 = train_fold(layout.cfg, layout, 0)
    assert fold0.best_epoch == 1 and fold0.metrics["Score_cal"] > 0
    model0 = torch.load(checkpoint_path(layout, 0), weights_only=True)["config"]["model"]
    assert tuple(model0[k] for k in ("embed_id_cols", "emb_l2", "dense_bins")) == settled
    assert not resume_path(layout, 0).exists()
    monkeypatch.setattr(loop, "_arm_outputs", _no_training)
    assert Objective(layout.cfg, layout, NETWORK).cfg.model.embed_id_cols == chosen


def _no_epoch(*_: object) -> tuple[float, float]:
    raise AssertionError("fold 0 should have been the trial's winning arm, not trained again")


def _no_training(*_: object) -> tuple[np.ndarray, np.ndarray]:
    raise AssertionError("the saved choice should have been reused")
