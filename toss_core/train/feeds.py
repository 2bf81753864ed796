"""The two data paths from the caches to the model behind one face: `iterate` over chunks of row ids.

ResidentFeed (train.data_on_device): every row of the fields the model reads is held on the training
device (train/resident.py); a batch is an index_select there, with no memmap gather, no host→device
copy and no host sync per step. On CPU a background thread gathers the next batches while the model
computes; on CUDA gathers are queued on the stream inline.
StreamFeed (the fallback when the data does not fit): a background thread gathers rows from the
memory-mapped shards and, on CUDA, puts them in pinned memory; the main thread copies them with
non-blocking copies in the compact cache dtypes, converts them on the device, and the copy of the next
batch is queued while the model computes.

Both yield model-ready tensors (batches.model_inputs) on the device, in the order of the chunks, whose
row ids must be on `index_device`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import torch

from toss_core.config import TossConfig
from toss_core.train.batches import BatchSource, model_inputs, prefetched, to_tensors
from toss_core.train.resident import DeviceTable, fit

log = logging.getLogger("toss")

PREFETCH_BATCHES = 2  # batches gathered ahead by a background thread (bench/results/train.md)

Batch = dict[str, torch.Tensor]


class ResidentFeed:
    """Batches gathered from a DeviceTable on the device itself."""

    def __init__(self, source: BatchSource, device: torch.device):
        self.table = DeviceTable(source, device)
        self.index_device = device
        self.depth = PREFETCH_BATCHES if device.type == "cpu" else 0

    def iterate(self, chunks: Iterable[torch.Tensor]) -> Iterator[Batch]:
        return prefetched(lambda ids: model_inputs(self.table.gather(ids)), chunks, self.depth)


class StreamFeed:
    """Batches gathered from the memory-mapped caches on the host, then moved to the device."""

    index_device = torch.device("cpu")

    def __init__(self, source: BatchSource, device: torch.device):
        self.source = source
        self.device = device

    def _host(self, ids: torch.Tensor) -> Batch:
        raw = to_tensors(self.source.take(ids.numpy()))
        if self.device.type == "cuda":
            return {name: t.pin_memory() for name, t in raw.items()}
        return model_inputs(raw)  # the CPU converts in the prefetch thread, off the training thread

    def iterate(self, chunks: Iterable[torch.Tensor]) -> Iterator[Batch]:
        host = prefetched(self._host, chunks, PREFETCH_BATCHES)
        if self.device.type != "cuda":
            return host
        return (model_inputs({k: t.to(self.device, non_blocking=True) for k, t in b.items()}) for b in host)


def choose_feed(cfg: TossConfig, source: BatchSource, device: torch.device) -> ResidentFeed | StreamFeed:
    """The data path train.data_on_device asks for; auto holds the data on the device when it fits in
    train.device_memory_share of the free memory. One log line says which path runs and why."""
    setting = cfg.train.data_on_device
    if setting is False:
        log.info("data path: streaming from the memory-mapped cache (train.data_on_device=false)")
        return StreamFeed(source, device)
    check = fit(source, device, cfg.train.device_memory_share)
    if setting == "auto" and not check.ok:
        log.info(
            "data path: streaming from the memory-mapped cache: the data do not fit (%s)", check.describe()
        )
        return StreamFeed(source, device)
    why = "fits" if check.ok else "train.data_on_device=true although it exceeds the share"
    log.info("data path: resident on %s, %s (%s)", device, why, check.describe())
    return ResidentFeed(source, device)
