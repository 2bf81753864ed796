"""The data paths of the training core: the device-resident path trains on the same rows in the same
order as the streaming path, the fit check falls back with a log line, and the zero-weight filler of the
last batch changes neither the loss nor the gradients."""

from __future__ import annotations

import csv
import logging

import numpy as np
import torch
from conftest import make_config
from test_train import _fold_layout, _oof

from toss_core.data.reader import ShardedCache
from toss_core.models import build_model
from toss_core.models.qnn_alpha import self_ensemble_loss
from toss_core.train.batches import BatchSource, feature_fields, model_inputs, model_spec
from toss_core.train.feeds import ResidentFeed, StreamFeed, choose_feed
from toss_core.train.loop import train_fold
from toss_core.train.losses import batch_loss, row_loss, weighted_mean
from toss_core.train.paths import train_log_path

CPU = torch.device("cpu")


def _source(layout) -> BatchSource:
    cache = ShardedCache(layout.train_cache)
    return BatchSource(cache, feature_fields(cache.spec, cache.fields), label=True)


def test_resident_and_streaming_feeds_gather_the_same_batches(smoke_cached):
    source = _source(smoke_cached)
    ids = torch.tensor([[3, 3, 10, 999, 2999], [0, 1, 2, 1500, 2000]])
    resident = list(ResidentFeed(source, CPU).iterate(ids))
    streamed = list(StreamFeed(source, CPU).iterate(ids))
    for r, s, row_ids in zip(resident, streamed, ids, strict=True):
        want = model_inputs({k: torch.from_numpy(v) for k, v in source.take(row_ids.numpy()).items()})
        assert r.keys() == s.keys() == want.keys()
        for name in want:
            assert r[name].dtype == want[name].dtype  # ids int64, the rest float32
            assert torch.equal(r[name], want[name]) and torch.equal(s[name], want[name])


def _step_losses(layout) -> list[tuple[str, str, str]]:
    return [(r["epoch"], r["step"], r["loss"]) for r in csv.DictReader(train_log_path(layout, 0).open())]


def test_resident_path_trains_like_the_streaming_path(smoke_cached, tmp_path, caplog):
    """Same seed, fp32, deterministic: the same loss at every step and the same OOF logits."""
    runs = {}
    for setting in ("true", "false"):
        layout = _fold_layout(
            smoke_cached,
            tmp_path / setting,
            f"train.data_on_device={setting}",
            "runtime.deterministic=true",
            "logging.verbose_steps=1",
            "train.epochs=2",
        )
        with caplog.at_level(logging.INFO, logger="toss"):
            train_fold(layout.cfg, layout, 0)
        runs[setting] = layout
    assert "data path: resident on cpu" in caplog.text and "data_on_device=false" in caplog.text
    resident, streamed = _step_losses(runs["true"]), _step_losses(runs["false"])
    assert len(resident) > 4 and resident == streamed  # every step's loss, to the printed digit
    np.testing.assert_array_equal(_oof(runs["true"])["logit"], _oof(runs["false"])["logit"])


def test_fit_check_falls_back_with_a_log_line(smoke_cached, tmp_path, caplog):
    source = _source(smoke_cached)
    cfg = make_config("train.data_on_device=auto", "train.device_memory_share=1e-12")
    with caplog.at_level(logging.INFO, logger="toss"):
        feed = choose_feed(cfg, source, CPU)
    assert isinstance(feed, StreamFeed)
    need = source.row_bytes() * source.cache.n_rows
    assert f"{need / 2**20:,.1f} MiB of fields" in caplog.text and "do not fit" in caplog.text
    assert isinstance(choose_feed(make_config("train.data_on_device=auto"), source, CPU), ResidentFeed)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="toss"):
        forced = choose_feed(
            make_config("train.device_memory_share=1e-12", "train.data_on_device=true"), source, CPU
        )
    assert isinstance(forced, ResidentFeed) and "exceeds the share" in caplog.text


def _loss_and_grads(model, cfg, batch, target, weights):
    model.zero_grad(set_to_none=True)
    loss = batch_loss(cfg, model)(batch, target, weights)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_zero_weight_filler_changes_neither_loss_nor_gradients(smoke_cached, tmp_path):
    """fp32: a batch of 300 real rows filled up to 512 with zero-weight rows gives bit for bit the loss
    of the 300 rows alone, and their gradients, with the self-ensemble loss and the embedding L2 term."""
    layout = _fold_layout(
        smoke_cached,
        tmp_path,
        "model.emb_l2=0.01",
        "model.head_dropout=0.0",  # the two passes must see the same masks in both batches
        "model.qnn_alpha.aux_head_weight=0.1",
    )
    cfg = layout.cfg
    source = _source(layout)
    torch.manual_seed(0)
    model = build_model(model_spec(cfg, source.cache), cfg).train()
    real = torch.arange(300) * 7 % 3000
    padded = torch.cat([real, real[:212]])  # the sampler fills up with rows of the same epoch
    feed = ResidentFeed(source, CPU)
    (a,), (b,) = feed.iterate(real[None]), feed.iterate(padded[None])
    ya, yb = a.pop("label"), b.pop("label")
    loss_a, grads_a = _loss_and_grads(model, cfg, a, ya, torch.ones(300))
    loss_b, grads_b = _loss_and_grads(model, cfg, b, yb, (torch.arange(512) < 300).float())
    assert torch.equal(loss_b, loss_a)
    assert grads_a.keys() == grads_b.keys() and len(grads_a) > 5
    for name in grads_a:
        # reductions over 512 vs 300 rows sum in another order: float rounding (~1e-11) only
        torch.testing.assert_close(grads_b[name], grads_a[name], rtol=1e-5, atol=1e-8, msg=name)
    # and the weighted per-row loss is the model's own batch-mean definition
    with torch.no_grad():
        z = model(a).float()
        own = self_ensemble_loss(z, z, ya, 0.1)
        rows = weighted_mean(row_loss(cfg)(model, a, ya), torch.ones(300))
    torch.testing.assert_close(rows, own, rtol=1e-6, atol=0)
