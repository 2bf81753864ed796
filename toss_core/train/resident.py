"""The fields a model reads, every row of a cache, held as tensors on the training device.

Loaded once, shard by shard, in the caches' compact dtypes (int32 ids, uint8 null masks, float32
values); a batch is then one index_select per field where the tensors are. With device cpu they are
torch tensors in RAM, so no step gathers from a memory map. `fit` is the check train.data_on_device=auto
makes before loading: the bytes the table would take against a share of the free memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from toss_core.train.batches import BatchSource


def free_memory(device: torch.device) -> int:
    """Bytes free on `device`: torch's free CUDA memory, or the RAM the OS reports available."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    import psutil

    return int(psutil.virtual_memory().available)


@dataclass(frozen=True)
class Fit:
    """Whether a table of `need` bytes fits in `share` of `free` bytes."""

    need: int
    free: int
    share: float

    @property
    def ok(self) -> bool:
        return self.need <= self.share * self.free

    def describe(self) -> str:
        mib = 2**20
        return (
            f"{self.need / mib:,.1f} MiB of fields vs {self.share:g} x {self.free / mib:,.1f} MiB free "
            f"= {self.share * self.free / mib:,.1f} MiB"
        )


def fit(source: BatchSource, device: torch.device, share: float) -> Fit:
    """The memory a DeviceTable of `source` would take against train.device_memory_share of the free."""
    return Fit(source.row_bytes() * source.cache.n_rows, free_memory(device), share)


class DeviceTable:
    """Every row of `source`'s fields (base cache and the aligned dense cache) as tensors on `device`."""

    def __init__(self, source: BatchSource, device: torch.device):
        parts = [(source.cache, source.fields)]
        if source.dense_cache is not None:
            parts.append((source.dense_cache, ["dense"]))
        self.fields: dict[str, torch.Tensor] = {}
        for cache, names in parts:
            for name in names:
                meta = cache.manifest["fields"][name]
                dtype = torch.from_numpy(np.empty(0, dtype=meta["dtype"])).dtype
                table = torch.empty((cache.n_rows, *meta["shape"]), dtype=dtype, device=device)
                for start, arrays in cache.iter_shards([name]):
                    shard = torch.from_numpy(np.array(arrays[name]))  # a writable copy of the mapped shard
                    table[start : start + shard.shape[0]].copy_(shard)
                self.fields[name] = table

    def gather(self, ids: torch.Tensor) -> dict[str, torch.Tensor]:
        """The rows `ids` (int64, on the table's device) of every field, in `ids` order."""
        return {name: table.index_select(0, ids) for name, table in self.fields.items()}
