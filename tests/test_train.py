"""Training: EMA, schedule, sampler and prefetch on their own, then whole folds on the smoke cache."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_config, run_context
from torch import nn

from toss_core import steps
from toss_core.artifacts.fold import SELECTED
from toss_core.config import SamplerConfig
from toss_core.data.folds import assign_folds, load_folds
from toss_core.data.reader import ShardedCache
from toss_core.features.fold_rates import fold_dense
from toss_core.layout import Layout
from toss_core.scoring.fold_metrics import fold_metrics
from toss_core.scoring.metrics import logit, prior_only_score
from toss_core.spec import FeatureSpec
from toss_core.train import fold_data, loop
from toss_core.train.batches import prefetched
from toss_core.train.ema import EMA, ema_decay
from toss_core.train.loop import train_fold
from toss_core.train.paths import checkpoint_path, resume_path, tb_dir, train_log_path
from toss_core.train.predict import load_checkpoint, predict_logits, stream_feed
from toss_core.train.sampler import (
    capped,
    epoch_batches,
    epoch_generator,
    prior_logit_offset,
    steps_per_epoch,
)
from toss_core.train.schedule import lr_multiplier, peak_lr, warmup_decay
from toss_core.util.errors import ArtifactError
from toss_core.util.results import FoldResult

# ---- EMA ---------------------------------------------------------------------------------------------


def test_ema_update_math():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    ema = EMA(model, decay=0.9)
    start = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
        model[1].running_mean.fill_(5.0)
    ema.update(model)
    d0 = ema_decay(0.9, 0)
    assert d0 == pytest.approx(0.1)  # warm-up: (1 + 0) / (10 + 0)
    for s, p0, p in zip(ema.module.parameters(), start, model.parameters(), strict=True):
        torch.testing.assert_close(s, d0 * p0 + (1 - d0) * p.detach())
    torch.testing.assert_close(ema.module[1].running_mean, torch.full((2,), 5.0))  # buffers copied
    assert ema_decay(0.9, 1000) == 0.9  # the configured decay once warmed up
    before = [s.clone() for s in ema.module.parameters()]
    ema.update(model)
    d1 = ema_decay(0.9, 1)
    for s, b, p in zip(ema.module.parameters(), before, model.parameters(), strict=True):
        torch.testing.assert_close(s, d1 * b + (1 - d1) * p.detach())
    clone = EMA(model, decay=0.5)
    clone.load_state_dict(ema.state_dict())
    assert clone.updates == 2 and clone.decay == 0.9
    for s, c in zip(ema.module.parameters(), clone.module.parameters(), strict=True):
        torch.testing.assert_close(c, s)
    ema.update(model)  # a resumed average goes on blending, with the warmed-up decay
    clone.update(model)
    for s, c in zip(ema.module.parameters(), clone.module.parameters(), strict=True):
        torch.testing.assert_close(c, s)
    assert not any(p.requires_grad for p in clone.module.parameters()) and not clone.module.training


# ---- schedule ----------------------------------------------------------------------------------------


def test_warmup_then_a_decay_per_epoch_that_needs_no_final_epoch():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = warmup_decay(opt, steps_per_epoch=10, warmup_epochs=0.5, decay=0.5)  # 5 warm-up steps
    lrs = []
    for _ in range(45):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert lrs[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert lrs[5] == pytest.approx(1.0) and lrs[15] == pytest.approx(0.5) and lrs[35] == pytest.approx(0.125)
    assert (np.diff(lrs[5:]) < 0).all()  # decays smoothly, step by step
    assert lr_multiplier(10, 0, 10, 0.7) == pytest.approx(0.7)  # no warm-up: one epoch = one factor
    assert lr_multiplier(999, 0, 10, 1.0) == 1.0  # decay 1 = constant after the warm-up


@pytest.mark.parametrize(("rule", "factor"), [("none", 1.0), ("sqrt", 4.0), ("linear", 16.0)])
def test_peak_lr_follows_the_batch_size(rule, factor):
    tc = make_config("train.lr=1e-3", "train.batch_size=16384", f"train.lr_scaling={rule}").train
    assert tc.lr_base_batch == 1024 and peak_lr(tc) == pytest.approx(1e-3 * factor)
    same = make_config("train.batch_size=4096", "train.lr_base_batch=4096", f"train.lr_scaling={rule}").train
    assert peak_lr(same) == same.lr  # at the base batch the rate is train.lr whatever the rule


# ---- sampler -----------------------------------------------------------------------------------------


def _labels(n: int, rate: float, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy((np.random.default_rng(seed).random(n) < rate).astype(np.float32))


def _gen(seed: int = 0) -> torch.Generator:
    return epoch_generator(seed, 0, 0, torch.device("cpu"))


def test_balanced_sampler_hits_pos_fraction():
    y = _labels(20_000, 0.02)
    rows = torch.arange(y.numel()) + 100  # row ids need not start at 0
    sampler = SamplerConfig(type="balanced", pos_fraction=0.25)
    batches = epoch_batches(rows, y, sampler, 200, _gen())
    assert batches.ids.shape == (steps_per_epoch(y.numel(), int(y.sum()), sampler, 200), 200)
    assert bool((batches.weights == 1).all())  # no filler: every balanced batch is full
    frac = y[batches.ids - 100].mean(dim=1)
    assert torch.allclose(frac, torch.tensor(0.25))
    negatives = rows[y == 0]
    assert bool(torch.isin(negatives, batches.ids).all())  # one epoch covers every negative


def test_plain_sampler_is_a_shuffle_with_zero_weight_filler():
    rows = torch.arange(1000)
    batches = epoch_batches(rows, _labels(1000, 0.1), SamplerConfig(), 128, _gen())
    assert batches.ids.shape == batches.weights.shape == (8, 128)  # one static shape
    real = batches.ids[batches.weights == 1]
    assert torch.equal(real.sort().values, rows)  # every row once with weight 1
    assert int(batches.weights.sum()) == 1000
    assert bool((batches.weights[:-1] == 1).all())  # the filler is in the last batch only
    assert bool((batches.ids.diff(dim=1) >= 0).all())  # each batch sorted, for forward shard reads
    again = epoch_batches(rows, _labels(1000, 0.1), SamplerConfig(), 128, _gen())
    assert torch.equal(again.ids, batches.ids) and torch.equal(again.weights, batches.weights)
    other = epoch_batches(rows, _labels(1000, 0.1), SamplerConfig(), 128, epoch_generator(0, 0, 1, "cpu"))
    assert not torch.equal(other.ids, batches.ids)  # a new order every epoch
    tiny = epoch_batches(torch.arange(5), _labels(5, 0.5), SamplerConfig(), 16, _gen())
    assert tiny.ids.shape == (1, 16) and int(tiny.weights.sum()) == 5  # fewer rows than one batch


def test_capped_epochs_draw_fresh_rows_each_epoch():
    y = _labels(20_000, 0.05)
    rows, sampler = torch.arange(y.numel()), SamplerConfig(type="balanced", pos_fraction=0.25)
    full = epoch_batches(rows, y, sampler, 100, _gen())
    first = capped(full, 3)
    assert first.ids.shape == (3, 100) and torch.equal(first.ids, full.ids[:3])
    second = capped(epoch_batches(rows, y, sampler, 100, epoch_generator(0, 0, 1, "cpu")), 3)
    assert not torch.equal(first.ids.sort().values, second.ids.sort().values)  # another random share
    assert capped(full, None) is full and capped(full, len(full) + 5) is full


def test_a_capped_epoch_trains_and_schedules_that_many_steps(smoke_cached, tmp_path):
    """train.max_steps_per_epoch: each epoch stops after the cap, and the schedule's epoch is the cap."""
    layout = _fold_layout(smoke_cached, tmp_path, "train.max_steps_per_epoch=3", "logging.csv_log=false")
    trainer = loop.FoldTrainer(layout.cfg, layout, 0)
    assert trainer.steps_per_epoch == 3
    trainer.run()
    assert trainer.state.step == 3 * layout.cfg.train.epochs


def test_prior_offset_restores_base_rate():
    """A constant model trained on balanced batches learns logit(pos_fraction); the offset brings its
    probability back to the training base rate."""
    y = _labels(20_000, 0.03, seed=1)
    sampler = SamplerConfig(type="balanced", pos_fraction=0.3)
    bias = nn.Parameter(torch.zeros(()))
    opt = torch.optim.Adam([bias], lr=0.05)
    for epoch in range(2):
        gen = epoch_generator(0, 0, epoch, torch.device("cpu"))
        for batch in epoch_batches(torch.arange(y.numel()), y, sampler, 256, gen).ids:
            target = y[batch]
            loss = nn.functional.binary_cross_entropy_with_logits(bias.expand_as(target), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert bias.item() == pytest.approx(logit(0.3), abs=0.1)
    offset = prior_logit_offset(sampler, float(y.mean()))
    assert torch.sigmoid(bias + offset).item() == pytest.approx(y.mean().item(), rel=0.1)
    assert prior_logit_offset(SamplerConfig(), 0.03) == 0.0


# ---- prefetch ----------------------------------------------------------------------------------------


class _Source:
    def __init__(self, fail_at: int | None = None):
        self.fail_at = fail_at

    def take(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        if self.fail_at is not None and rows[0] == self.fail_at:
            raise ValueError("broken shard")
        return {"x": rows * 2}


def test_prefetch_order_errors_and_early_exit():
    batches = [np.array([i]) for i in range(20)]
    out = [b["x"][0] for b in prefetched(_Source().take, batches, depth=3)]
    assert out == [2 * i for i in range(20)]
    with pytest.raises(ValueError, match="broken shard"):
        list(prefetched(_Source(fail_at=5).take, batches, depth=2))
    gen = prefetched(_Source().take, batches, depth=1)
    next(gen)
    gen.close()  # the worker must stop instead of blocking on a full queue
    assert math.isclose(next(iter(prefetched(_Source().take, batches, depth=0)))["x"][0], 0)


# ---- whole folds on the smoke cache ------------------------------------------------------------------


def _fold_layout(smoke: Layout, root: Path, *overrides: str) -> Layout:
    """A run under `root` on the shared smoke data and caches (a small QNN-α so the tests stay fast),
    with its folds assigned."""
    cfg = make_config(
        f"data.train_path={smoke.train_path}",
        f"data.test_path={smoke.test_path}",
        f"data.cache_dir={smoke.cache_dir}",
        "features.covis.enabled=false",
        "model.qnn_alpha.proj_dim=2",
        "model.interaction_layers=1",
        "model.mlp_hidden=[16]",
        "train.batch_size=512",
        "train.epochs=2",
        "train.early_stop_patience=5",
        "logging.verbose_steps=2",
        *overrides,
    )
    layout = Layout(cfg, root=root)
    assign_folds(cfg, layout)
    return layout


@pytest.fixture(scope="module")
def reference(smoke_cached, tmp_path_factory) -> tuple[Layout, FoldResult]:
    """Fold 0 trained without interruption, TensorBoard on."""
    layout = _fold_layout(smoke_cached, tmp_path_factory.mktemp("reference"), "logging.tb=true")
    return layout, train_fold(layout.cfg, layout, 0)


def _train_prior(layout: Layout) -> float:
    return float(torch.load(checkpoint_path(layout, 0), weights_only=True)["train_prior"])


def _oof(layout: Layout) -> dict[str, np.ndarray]:
    with np.load(layout.oof_path(0, "nn")) as z:
        return {k: z[k] for k in z.files}


def test_fold_outputs(reference):
    layout, result = reference
    folds = load_folds(layout)
    oof = _oof(layout)
    np.testing.assert_array_equal(oof["index"], np.flatnonzero(folds == 0))  # exactly the validation rows
    labels = ShardedCache(layout.train_cache).read_field("label")
    np.testing.assert_array_equal(oof["label"], labels[folds == 0])
    assert json.loads(str(oof["metrics"]))["Score"] == pytest.approx(result.metrics["Score"])
    assert result.metrics["n"] == oof["index"].size and 1 <= result.best_epoch <= 2  # counted from 1
    assert result.prior_score == pytest.approx(prior_only_score(oof["label"]))
    assert result.metrics == pytest.approx(
        {
            **fold_metrics(oof["label"], oof["logit"], _train_prior(layout)),
            "n": result.metrics["n"],
            "pos_rate": float(oof["label"].mean()),
            SELECTED: float(result.best_epoch),  # the epochs a refit on every row trains for
        }
    )
    assert not resume_path(layout, 0).exists()
    log_rows = list(csv.DictReader(train_log_path(layout, 0).open()))
    epoch_rows = [r for r in log_rows if r["Score"]]
    assert [int(r["epoch"]) for r in epoch_rows] == [1, 2]  # 1-based, like the log lines
    assert {int(r["epoch"]) for r in log_rows} == {1, 2}  # the verbose-step rows count the same way
    by_calibrated = int(np.argmax([float(r["Score_cal"]) for r in epoch_rows])) + 1
    assert result.best_epoch == by_calibrated  # train.select_metric defaults to the calibrated Score
    assert len(log_rows) > len(epoch_rows)  # verbose-step rows too
    assert list(tb_dir(layout, 0).glob("events.out.tfevents.*"))

    ckpt = torch.load(checkpoint_path(layout, 0), weights_only=True)
    assert {
        "model_state",
        "ema_state",
        "config",
        "spec",
        "logit_offset",
        "best_metrics",
        "best_epoch",
        "cache_fingerprint",
        "covis_fingerprint",
    } <= set(ckpt)
    assert ckpt["logit_offset"] == 0.0 and ckpt["ema_state"] is not None and ckpt["covis_fingerprint"] is None
    # EMA weights: the OOF logits were made with them
    model, _ = load_checkpoint(checkpoint_path(layout, 0), "cpu")
    cache = ShardedCache(layout.train_cache)
    spec = FeatureSpec.from_dict(ckpt["spec"])
    feed = stream_feed(cache, None, spec, "cpu")
    again = predict_logits(model, feed, oof["index"], 512, "cpu", ckpt["logit_offset"])
    np.testing.assert_allclose(again, oof["logit"], rtol=1e-5, atol=1e-5)
    model.load_state_dict(ckpt["model_state"])  # the raw weights predict differently
    raw = predict_logits(model, feed, oof["index"], 512, "cpu", ckpt["logit_offset"])
    assert not np.allclose(raw, oof["logit"], atol=1e-4)


def test_tensorboard_tags(reference):
    """val/* holds the validation metrics only; train/loss has a point at the end of every epoch."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    layout, _ = reference
    events = EventAccumulator(str(tb_dir(layout, 0)))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {t for t in tags if t.startswith("val/")} == {"val/AP", "val/WLL", "val/Score", "val/Score_cal"}
    assert {"train/loss", "train/lr", "train/rows_per_s"} <= tags
    rows = list(csv.DictReader(train_log_path(layout, 0).open()))
    epoch_steps = [int(r["step"]) for r in rows if r["Score"]]
    assert len(epoch_steps) == 2
    assert set(epoch_steps) <= {e.step for e in events.Scalars("train/loss")}
    assert [e.step for e in events.Scalars("val/Score")] == epoch_steps
    by_step = {e.step: e.value for e in events.Scalars("train/loss")}
    epoch_loss = [float(r["loss"]) for r in rows if r["Score"]]
    assert [by_step[s] for s in epoch_steps] == pytest.approx(epoch_loss, rel=1e-6)


def test_same_seed_same_metrics(reference, smoke_cached, tmp_path):
    ref_layout, ref = reference
    layout = _fold_layout(smoke_cached, tmp_path, "runtime.deterministic=true", "logging.tb=true")
    result = train_fold(layout.cfg, layout, 0)
    assert result.metrics == ref.metrics
    np.testing.assert_array_equal(_oof(layout)["logit"], _oof(ref_layout)["logit"])
    assert not torch.are_deterministic_algorithms_enabled()  # restored after the run


def test_resume_after_interruption(reference, smoke_cached, tmp_path, monkeypatch):
    ref_layout, ref = reference
    layout = _fold_layout(smoke_cached, tmp_path, "logging.tb=true")
    real_save = loop.save_resume_state

    def save_then_crash(trainer):
        real_save(trainer)
        raise RuntimeError("simulated crash after epoch 1")

    monkeypatch.setattr(loop, "save_resume_state", save_then_crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_fold(layout.cfg, layout, 0)
    assert resume_path(layout, 0).is_file() and not checkpoint_path(layout, 0).exists()
    monkeypatch.setattr(loop, "save_resume_state", real_save)
    result = train_fold(layout.cfg, layout, 0)
    assert result.metrics == pytest.approx(ref.metrics, rel=1e-5)
    np.testing.assert_allclose(_oof(layout)["logit"], _oof(ref_layout)["logit"], rtol=1e-5, atol=1e-5)
    assert not resume_path(layout, 0).exists()
    rows = list(csv.DictReader(train_log_path(layout, 0).open()))
    assert len(rows) == len(list(csv.DictReader(train_log_path(ref_layout, 0).open())))


def test_balanced_sampler_offset_and_covis_features(smoke_cached, tmp_path):
    """One run checks three things: the balanced sampler's offset is stored and applied to the OOF logits,
    co-visitation features are read as `dense` and recorded in the checkpoint, and binned numerics and
    co-visitation features get their edges from the fold's training rows and keep them through the
    checkpoint."""
    layout = _fold_layout(
        smoke_cached,
        tmp_path,
        "train.sampler.type=balanced",
        "train.sampler.pos_fraction=0.3",
        "train.epochs=1",
        "logging.csv_log=false",
        "features.covis.enabled=true",
        "model.numeric_fields=binned",
        "model.numeric_bins=4",
        "model.dense_bins=4",
    )
    covis = steps.build_covis(run_context(layout))
    train_fold(layout.cfg, layout, 0)
    ckpt = torch.load(checkpoint_path(layout, 0), weights_only=True)
    assert ckpt["logit_offset"] == pytest.approx(logit(ckpt["train_prior"]) - logit(0.3))
    dense = ShardedCache(layout.covis_train)
    assert (
        ckpt["spec"]["dense_cols"] == covis.feature_names and ckpt["covis_fingerprint"] == dense.fingerprint
    )
    assert not train_log_path(layout, 0).exists()
    model, _ = load_checkpoint(checkpoint_path(layout, 0), "cpu")
    oof = _oof(layout)
    spec = FeatureSpec.from_dict(ckpt["spec"])
    cache = ShardedCache(layout.train_cache)
    feed = stream_feed(cache, fold_dense(dense, 0, nested=True), spec, "cpu")  # nested: the network's
    raw = predict_logits(model, feed, oof["index"], 512, "cpu", 0.0)
    np.testing.assert_allclose(oof["logit"], raw + ckpt["logit_offset"], rtol=1e-5, atol=1e-5)
    train_rows = np.flatnonzero(load_folds(layout) != 0)
    assert train_rows.size <= fold_data.BIN_SAMPLE_ROWS  # so the edges are the quantiles of all training rows
    edges = np.quantile(cache.take(train_rows, ["num"])["num"], [0.25, 0.5, 0.75], axis=0).T
    np.testing.assert_allclose(model.num.edges.numpy(), edges, rtol=1e-5, atol=1e-4)
    rates = fold_dense(dense, 0, nested=True).take(train_rows, ["dense"])["dense"]  # fold 0 reads them
    edges = np.quantile(rates, [0.25, 0.5, 0.75], axis=0).T
    np.testing.assert_allclose(model.dense.edges.numpy(), edges, rtol=1e-5, atol=1e-4)


def test_missing_checkpoint_is_an_artifact_error(tmp_path):
    with pytest.raises(ArtifactError, match="ckpt_fold_3"):
        load_checkpoint(tmp_path / "ckpt_fold_3.pt")
