"""Device, precision, threads and determinism for one training or inference run.

Precision policy: on CUDA with runtime.amp, autocast to bf16 where the GPU supports it, else fp16 with a
GradScaler. On CPU training stays fp32 whatever runtime.amp says: bf16 autocast measured slower than fp32
on the CPUs this was benchmarked on (bench/results/train.md) and costs accuracy.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator

import numpy as np
import torch

from toss_core.config import TossConfig


def resolve_device(name: str) -> torch.device:
    """`auto` → cuda when available, else cpu; asking for cuda without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device: cuda was requested but torch sees no CUDA device")
    return torch.device(name)


def amp_dtype(enabled: bool, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for full precision (always None on CPU, see the module docstring)."""
    if not enabled or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def intra_op_threads(cfg: TossConfig) -> int:
    """runtime.num_threads, or by default every core but one.

    The spare core is for the batch-prefetch thread and the orchestrator: when torch's intra-op threads
    have to share their cores, every small op waits for a descheduled thread, and a training step on a
    2-core machine measured 11x slower with 2 threads than with 1 (BENCHMARKS.md).
    """
    return cfg.runtime.num_threads or max(1, (os.cpu_count() or 1) - 1)


@contextlib.contextmanager
def torch_runtime(cfg: TossConfig) -> Iterator[None]:
    """Apply runtime.num_threads and cfg.runtime.deterministic for the duration of a run, then restore them.

    Deterministic mode seeds nothing itself (the trainer seeds from cfg.seed + fold); it selects
    deterministic kernels (cuBLAS workspace config, no cuDNN autotuning) and warns about any op that
    has no deterministic implementation instead of failing the run."""
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    cudnn_benchmark = torch.backends.cudnn.benchmark
    torch.set_num_threads(intra_op_threads(cfg))
    if cfg.runtime.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)  # an op without one warns, not fails
        torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
        torch.backends.cudnn.benchmark = cudnn_benchmark
