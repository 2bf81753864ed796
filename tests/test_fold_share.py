"""toss_assets.fold_share without a GPU: fake device lists, leases in a tmp dir, a real instance's pool."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import dagster as dg
import pytest
from conftest import SMOKE
from filelock import FileLock

from toss_assets import fold_share
from toss_assets.fold_share import (
    CUDA_ENV,
    cpu_share,
    fair_threads,
    lease_device,
    machine_share,
    no_lease_reason,
    pool_limit,
    shares_machine,
    visible_gpus,
)
from toss_assets.resources import TossConfigResource


@pytest.fixture
def two_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two fake visible GPUs, leases in a tmp dir, 4 cores: returns the lease dir."""
    leases = tmp_path / "leases"
    monkeypatch.setenv(CUDA_ENV, "0,1")
    monkeypatch.setattr(fold_share, "LEASE_DIR", leases)
    monkeypatch.setattr(fold_share, "available_cores", lambda: 4)
    return leases


@pytest.fixture
def gpu_pool_of_two():
    with dg.instance_for_test() as instance:
        instance.event_log_storage.set_concurrency_slots("gpu", 2)
        yield instance


def test_visible_gpus_from_the_environment_or_the_driver(tmp_path: Path):
    assert visible_gpus({CUDA_ENV: "2, 3"}) == ["2", "3"]
    assert visible_gpus({CUDA_ENV: ""}) == []  # CUDA hides every GPU
    driver = tmp_path / "gpus"
    for bus in ("0000:3b:00.0", "0000:5e:00.0", "0000:86:00.0"):
        (driver / bus).mkdir(parents=True)
    assert visible_gpus({}, driver) == ["0", "1", "2"]
    assert visible_gpus({}, tmp_path / "no_driver") == []


def test_cpu_share_divides_the_cores_by_the_pool_limit():
    assert fair_threads(16, 2) == 8
    assert fair_threads(2, 4) == 1  # never zero
    assert cpu_share(None, 16, 2)[0] == ["runtime.num_threads=8"]
    assert cpu_share(None, 16, 1)[0] == []  # alone: the config's defaults stand
    assert cpu_share(3, 16, 2)[0] == []  # an explicit runtime.num_threads wins


def test_no_lease_on_cpu_or_with_one_gpu():
    assert no_lease_reason("cpu", ["0", "1"]) == "device: cpu"
    assert "nothing to choose" in no_lease_reason("auto", ["0"])
    assert no_lease_reason("auto", ["0", "1"]) is None


def test_concurrent_leases_get_different_devices_and_a_third_waits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(fold_share, "POLL_S", 0.05)
    logs: list[str] = []
    with lease_device(["0", "1"], tmp_path, logs.append) as first:
        with lease_device(["0", "1"], tmp_path, logs.append) as second:
            assert {first, second} == {"0", "1"}
            got: list[str] = []
            waiter = threading.Thread(
                target=lambda: got.append(lease_device(["0", "1"], tmp_path, logs.append).__enter__())
            )
            waiter.start()
            waiter.join(0.5)
            assert waiter.is_alive() and not got, "a third step must wait while both GPUs are leased"
        waiter.join(5)
        assert got == [second]  # the device the second step gave back
    assert any("waiting" in line for line in logs)


def test_pool_limit_read_from_the_instance(gpu_pool_of_two):
    assert pool_limit(gpu_pool_of_two, "gpu") == 2
    assert pool_limit(dg.DagsterInstance.ephemeral(), "gpu") == 1  # no pools in memory
    with dg.instance_for_test(overrides={"concurrency": {"pools": {"default_limit": 3}}}) as instance:
        assert pool_limit(instance, "gpu") == 3


def test_machine_share_leases_the_free_gpu_and_shares_the_cores(two_gpus, gpu_pool_of_two):
    toss = TossConfigResource(config_path=str(SMOKE), overrides=["runtime.device=auto"])
    context = dg.build_asset_context(instance=gpu_pool_of_two)
    # another fold step holds GPU 0
    with FileLock(two_gpus / "0.lock"), machine_share(context, toss, "gpu") as shared:
        assert os.environ[CUDA_ENV] == "1"
        assert shared.load().runtime.num_threads == 2  # 4 cores // pool limit 2
        assert shared.overrides == ["runtime.device=auto", "runtime.num_threads=2"]
    assert os.environ[CUDA_ENV] == "0,1"  # restored for whatever runs next in this process
    assert toss.load().runtime.num_threads is None  # the run's resource is untouched


def test_machine_share_on_cpu_sets_no_device(two_gpus, gpu_pool_of_two):
    toss = TossConfigResource(config_path=str(SMOKE))  # runtime.device: cpu
    with machine_share(dg.build_asset_context(instance=gpu_pool_of_two), toss, "gpu") as shared:
        assert os.environ[CUDA_ENV] == "0,1"
        assert shared.load().runtime.num_threads == 2
    assert not two_gpus.exists()  # no lease taken


def test_decorated_asset_runs_with_its_share(two_gpus, gpu_pool_of_two):
    seen = {}

    @dg.asset(pool="gpu")
    @shares_machine("gpu")
    def trains(context: dg.AssetExecutionContext, toss: TossConfigResource) -> dg.MaterializeResult:
        seen["device"] = os.environ[CUDA_ENV]
        seen["threads"] = toss.load().runtime.num_threads
        return dg.MaterializeResult()

    toss = TossConfigResource(config_path=str(SMOKE), overrides=["runtime.device=auto"])
    result = dg.materialize([trains], instance=gpu_pool_of_two, resources={"toss": toss})
    assert result.success
    assert seen == {"device": "0", "threads": 2}
    logs = [
        e.message
        for e in gpu_pool_of_two.all_logs(result.run_id)
        if e.user_message and "machine share" in e.user_message
    ]
    assert logs and "GPU 0 leased" in logs[0]


def test_step_processes_start_without_torch():
    """The lease works only while CUDA is uninitialised when a step starts: the forkserver that forks
    every step preloads toss_assets.definitions, which must not import torch (toss_core imports it
    inside the step functions)."""
    probe = "import sys, toss_assets.definitions; print(sorted({'torch', 'lightgbm'} & set(sys.modules)))"
    env = {**os.environ, "TOSS_CONFIG": str(SMOKE)}
    proc = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"
