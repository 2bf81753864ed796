"""Running Dagster the way a user does from a shell: no DAGSTER_HOME, the project's dagster.yaml in the
working directory, the instance under .dagster_home/ next to it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from conftest import REPO, SMOKE
from dagster._core.instance.ref import InstanceRef

BIN = Path(sys.executable).parent  # the venv's console scripts (dagster, dg, dagster-webserver)


def shell_env(config: Path = SMOKE, **extra: str) -> dict[str, str]:
    """A new shell's environment: no DAGSTER_HOME, the given toss config."""
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    return {**env, "TOSS_CONFIG": str(config), **extra}


def project_dir(root: Path) -> Path:
    """`root` as the directory Dagster starts in: the project's instance file copied there."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dagster.yaml", root / "dagster.yaml")
    return root


@contextmanager
def instance_in(root: Path) -> Iterator[dg.DagsterInstance]:
    """The instance a Dagster command started in `root` uses (its dagster.yaml, paths relative to it)."""
    before = Path.cwd()
    os.chdir(root)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            ref = InstanceRef.from_dir(scratch, config_dir=str(root))
            with dg.DagsterInstance.from_ref(ref) as instance:
                yield instance
    finally:
        os.chdir(before)


@contextmanager
def process_group(cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """`cmd` in its own process group, output to `log`; at the end SIGTERM to the group, then SIGKILL for
    whatever outlives it (a code server or run workers), so a test leaves no process behind."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=30)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
