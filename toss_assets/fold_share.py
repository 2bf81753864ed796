"""One machine shared by the training steps that run at once: a GPU each when several exist, and a fair
share of the CPU cores.

Dagster's pool `gpu` caps how many training steps run at the same time (dagster.yaml, or
`dagster instance concurrency set gpu N`), but it does not tell a step which slot it holds, so a step
cannot pick its device from the pool. Each step leases one instead: one lock file per visible GPU in a
directory every process on this machine shares; the first free one wins and stays locked for the step
(an flock, which the kernel drops if the process dies, so a crashed step leaks nothing), and
CUDA_VISIBLE_DEVICES names only that GPU. That works because nothing in the step's process has
initialised CUDA yet: toss_assets never imports torch and toss_core imports it inside the step
functions. The leases are per machine, not per Dagster instance, because the GPUs are.

The CPU is shared whatever the devices: with a pool limit of N, each step gets cores // N threads
(runtime.num_threads, which both torch and LightGBM read), unless the config sets runtime.num_threads.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from filelock import FileLock, Timeout

from toss_assets.resources import TossConfigResource

CUDA_ENV = "CUDA_VISIBLE_DEVICES"
NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")  # one entry per GPU the driver exposes to this machine
LEASE_DIR = Path(tempfile.gettempdir()) / "toss-gpu-leases"
POLL_S = 1.0

AssetFn = Callable[[dg.AssetExecutionContext, TossConfigResource], dg.MaterializeResult]


def visible_gpus(environ: Mapping[str, str] = os.environ, driver_dir: Path = NVIDIA_GPUS) -> list[str]:
    """The CUDA devices this process may use: the entries of CUDA_VISIBLE_DEVICES when it is set (ids or
    UUIDs), else 0…n-1 for the n GPUs the NVIDIA driver lists. Read without importing torch, which would
    pin the process to a device set before a lease could choose one."""
    if CUDA_ENV in environ:
        return [d.strip() for d in environ[CUDA_ENV].split(",") if d.strip()]
    if not driver_dir.is_dir():
        return []
    return [str(i) for i in range(len(list(driver_dir.iterdir())))]


def available_cores() -> int:
    """The cores this process may run on (its affinity mask, which taskset and cgroups narrow)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def fair_threads(cores: int, concurrent: int) -> int:
    """Threads per step when `concurrent` steps share `cores`: never fewer than one."""
    return max(1, cores // max(1, concurrent))


def pool_limit(instance: dg.DagsterInstance, pool: str) -> int:
    """How many steps of `pool` may run at once on this instance: its own limit, else the instance's
    default_limit; 1 when neither is set or the storage has no pools (in-memory instances run one step
    at a time anyway)."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return 1
    return storage.get_concurrency_info(pool).limit or 1


def _lock_name(device: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", device) + ".lock"


@contextmanager
def lease_device(devices: list[str], lock_dir: Path, log: Callable[[str], None]) -> Iterator[str]:
    """Hold the first free device of `devices` (one lock file each under `lock_dir`) until the block
    ends; while every one is held by another step, wait for one."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        for device in devices:
            lock = FileLock(lock_dir / _lock_name(device))
            try:
                lock.acquire(timeout=0)
            except Timeout:
                continue
            try:
                yield device
            finally:
                lock.release()
            return
        if not waited:
            log(
                f"all {len(devices)} GPUs ({','.join(devices)}) are leased by other training steps: waiting "
                f"for one (the pool `gpu` lets more steps run than there are GPUs; leases in {lock_dir})"
            )
            waited = True
        time.sleep(POLL_S)


def _cuda_initialised() -> bool:
    torch = sys.modules.get("torch")  # only if something imported it already; never imported here
    return bool(torch is not None and torch.cuda.is_initialized())


def no_lease_reason(device: str, devices: list[str]) -> str | None:
    """Why this step takes no GPU lease, or None when it should lease one of `devices`."""
    if device == "cpu":
        return "device: cpu"
    if len(devices) < 2:
        return f"{len(devices)} visible GPU(s), nothing to choose"
    if _cuda_initialised():  # in-process execution after an earlier step used CUDA: too late to choose
        return "CUDA is already initialised in this process"
    return None


def cpu_share(num_threads: int | None, cores: int, concurrent: int) -> tuple[list[str], str]:
    """The config overrides that give this step its share of the cores, and a sentence saying why."""
    if num_threads is not None:
        return [], f"runtime.num_threads = {num_threads} as configured"
    if concurrent < 2:
        return [], "every core (no other training step runs beside it)"
    threads = fair_threads(cores, concurrent)
    why = f"{threads} CPU thread(s) for torch and LightGBM = {cores} cores // {concurrent}"
    return [f"runtime.num_threads={threads}"], why


@contextmanager
def machine_share(
    context: dg.AssetExecutionContext, toss: TossConfigResource, pool: str
) -> Iterator[TossConfigResource]:
    """This step's CPU share and GPU lease for the block: yields the resource with the thread override."""
    cfg = toss.load()
    concurrent = pool_limit(context.instance, pool)
    overrides, threads = cpu_share(cfg.runtime.num_threads, available_cores(), concurrent)
    share = f"machine share: pool `{pool}` runs up to {concurrent} steps at once; {threads}"
    shared = toss.with_overrides(overrides)
    devices = visible_gpus()
    reason = no_lease_reason(cfg.runtime.device, devices)
    if reason:
        context.log.info(f"{share}; no GPU lease ({reason})")
        yield shared
        return
    before = os.environ.get(CUDA_ENV)
    with lease_device(devices, LEASE_DIR, context.log.info) as device:
        os.environ[CUDA_ENV] = device
        context.log.info(
            f"{share}; GPU {device} leased ({CUDA_ENV}={device}), the first free of {len(devices)}"
        )
        try:
            yield shared
        finally:
            if before is None:
                os.environ.pop(CUDA_ENV, None)
            else:
                os.environ[CUDA_ENV] = before


def shares_machine(pool: str) -> Callable[[AssetFn], AssetFn]:
    """Decorate a training asset `(context, toss)` of `pool` so it runs inside machine_share."""

    def decorate(fn: AssetFn) -> AssetFn:
        @functools.wraps(fn)
        def step(context: dg.AssetExecutionContext, toss: TossConfigResource) -> dg.MaterializeResult:
            with machine_share(context, toss, pool) as shared:
                return fn(context, shared)

        return step

    return decorate
