"""Faults (issue 11): kill -9 mid-build and mid-training, damaged shards, a full disk, two writers.

Processes that must die or hold a lock run as subprocesses; each waits for a flag file the patched code
writes, so nothing depends on timing."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from badinput_util import assert_one_line_error, copy_layout, smoke, toss
from conftest import REPO, SMOKE

from toss_core.data import reader
from toss_core.layout import Layout

_CHILD = """
import sys, time
from pathlib import Path
from toss_core.cli import main
flag = Path(sys.argv[1])
def hold(*args, **kwargs):
    flag.write_text("here")
    time.sleep(60)
{patch}
sys.exit(main(sys.argv[2:]))
"""
_PATCHES = {
    "build": "from toss_core.data import cache_write\nreal = cache_write.ShardWriter.add\n"
    "def add(self, arrays):\n    real(self, arrays)\n    hold()\ncache_write.ShardWriter.add = add",
    "epoch2": "from toss_core.train import loop\nreal = loop.FoldTrainer.train_epoch\n"
    "def train_epoch(self, epoch):\n    if epoch == 1:\n        hold()\n    return real(self, epoch)\n"
    "loop.FoldTrainer.train_epoch = train_epoch",
}


def _start(root: Path, patch: str, argv: list[str]) -> tuple[subprocess.Popen, Path]:
    """A `toss ARGV` child in root whose patched code writes a flag and sleeps at the chosen point."""
    flag = root / f".flag-{patch}"
    code = _CHILD.format(patch=_PATCHES[patch])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", code, str(flag), "-q", *argv], cwd=root, env=env)
    deadline = time.monotonic() + 60
    while not flag.exists():
        assert child.poll() is None, f"child exited early with {child.returncode}"
        assert time.monotonic() < deadline, "child never reached the patched point"
        time.sleep(0.05)
    return child, flag


def _kill(child: subprocess.Popen) -> None:
    child.send_signal(signal.SIGKILL)
    child.wait()


_NO_COVIS = ("features.covis.enabled=false", "features.covis.stats=[]")


@pytest.fixture
def work(smoke_cached: Layout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return copy_layout(smoke_cached, tmp_path / "w", monkeypatch)


def _shard(root: Path, field: str = "num") -> Path:
    return root / "cache/smoke/train" / f"{field}.00001.npy"


def test_kill_9_during_a_cache_build_then_the_rerun_cleans_up_and_builds(work: Path, capsys) -> None:
    child, _ = _start(work, "build", smoke("build-cache", "data.cache_dir=cache/fresh"))
    _kill(child)
    orphans = list((work / "cache/fresh").glob(".train.tmp-*"))
    assert orphans and not (work / "cache/fresh/train").exists()
    rc, err = toss(capsys, *smoke("build-cache", "data.cache_dir=cache/fresh"))
    assert rc == 0, err
    assert not list((work / "cache/fresh").glob(".train.tmp-*"))
    assert reader.ShardedCache(work / "cache/fresh/train").verify(full=True) > 0


@pytest.fixture
def folded(work: Path, capsys) -> Path:
    assert toss(capsys, *smoke("folds"))[0] == 0
    return work


def test_kill_9_during_training_then_the_rerun_resumes(folded: Path, capsys) -> None:
    work = folded
    argv = [*smoke("train", "train.epochs=2", "train.early_stop_patience=5", *_NO_COVIS), "--fold", "0"]
    child, _ = _start(work, "epoch2", argv)
    _kill(child)
    assert (work / "runs/smoke/nn/ckpt_fold_0.last.pt").is_file()
    rc, err = toss(capsys, *argv)
    assert rc == 0, err
    assert (work / "runs/smoke/nn/ckpt_fold_0.pt").is_file()
    assert not (work / "runs/smoke/nn/ckpt_fold_0.last.pt").exists()


@pytest.mark.parametrize(
    ("damage", "verify", "rebuilt"),
    [
        ("bytes", "full", True),  # overwritten data: only the crc sees it
        ("bytes", "quick", False),  # quick checks read no data: reused (the Dagster check runs full)
        ("truncate", "quick", True),
        ("header", "quick", True),
    ],
)
def test_a_damaged_shard_is_rebuilt_with_a_warning_naming_it(
    work: Path, capsys, caplog, damage, verify, rebuilt
) -> None:
    path = _shard(work)
    data = bytearray(path.read_bytes())
    if damage == "bytes":
        data[-16:] = b"\x7f" * 16
    elif damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[8:20] = b"{'descr': 12"
    path.write_bytes(bytes(data))
    rc, err = toss(capsys, *smoke("build-cache", f"data.verify={verify}"))
    assert rc == 0 and "Traceback" not in err, err
    assert (str(path.relative_to(work)) in caplog.text) is rebuilt
    if rebuilt:
        assert reader.ShardedCache(path.parent).verify(full=True) > 0


def test_a_full_disk_is_one_line_naming_the_path_and_leaves_no_temporaries(
    work: Path, capsys, monkeypatch
) -> None:
    real, calls = reader._save_npy, []

    def save(path: Path, array: np.ndarray) -> str:
        calls.append(path)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, array)

    monkeypatch.setattr(reader, "_save_npy", save)
    rc, err = toss(capsys, *smoke("build-cache", "data.cache_dir=cache/full"))
    assert_one_line_error(rc, err, str(calls[-1]), "No space left on device")
    assert not [p for p in (work / "cache/full").iterdir() if not p.name.endswith(".lock")]


def test_two_trainings_of_one_fold_the_second_refuses(folded: Path, capsys) -> None:
    work = folded
    argv = [*smoke("train", "train.epochs=2", *_NO_COVIS), "--fold", "0"]
    child, _ = _start(work, "epoch2", argv)
    try:
        rc, err = toss(capsys, *argv)
        assert_one_line_error(rc, err, "another toss process", "fold 0")
    finally:
        _kill(child)


def test_a_second_cache_build_waits_then_reuses(work: Path, capsys, caplog) -> None:
    from toss_core.util.locks import writer_lock

    target = work / "cache/smoke/train"
    code = (
        "import sys, time\nfrom pathlib import Path\nfrom toss_core.util.locks import writer_lock\n"
        "with writer_lock(Path(sys.argv[1]), 'x', wait=False):\n"
        "    Path(sys.argv[2]).write_text('held')\n    time.sleep(1.5)\n"
    )
    flag = work / ".held"
    child = subprocess.Popen([sys.executable, "-c", code, str(target), str(flag)], cwd=work)
    while not flag.exists():
        time.sleep(0.05)
    rc, err = toss(capsys, *smoke("build-cache"))
    child.wait()
    assert rc == 0, err
    assert "waiting for another toss process" in caplog.text
    with writer_lock(target, "x", wait=False):
        pass  # released again
    assert SMOKE.is_file()
