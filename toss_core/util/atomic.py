"""Write-then-rename helpers: a crash never leaves a half-written file that looks complete, and a
write never destroys what toss did not make.

A directory artifact carries a marker file (MARKER); an existing directory at a target is replaced
only when it holds that marker or a toss cache manifest, otherwise the write is refused. Files and
their directory are fsynced around the rename (as pip and SQLite do), so a power cut leaves either
the old artifact or the new one. Temporaries are named `.NAME.tmp-PID-RANDOM`; the next write of the
same target removes those whose process is gone (a run killed with -9 leaves them behind).
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from toss_core.util.errors import ArtifactError

MARKER = ".toss-artifact"
_TOSS_MANIFEST = "manifest.json"  # caches built before the marker existed
_PID = re.compile(r"\.tmp-(\d+)-[0-9a-f]+$")


def _tmp_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_orphans(path: str | Path) -> list[Path]:
    """Remove temporaries of `path` whose writer is gone (this process's own are left alone)."""
    target = Path(path)
    if not target.parent.is_dir():
        return []
    removed = []
    for tmp in target.parent.glob(f".{glob.escape(target.name)}.tmp-*"):
        m = _PID.search(tmp.name)
        pid = int(m.group(1)) if m else None
        if pid is not None and (pid == os.getpid() or _alive(pid)):
            continue
        _remove(tmp)
        removed.append(tmp)
    return removed


def is_toss_artifact(path: Path) -> bool:
    """A directory toss wrote: it holds the marker, or a manifest of toss's cache format."""
    if (path / MARKER).is_file():
        return True
    try:
        manifest = json.loads((path / _TOSS_MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and str(manifest.get("format", "")).startswith("toss-")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    if path.is_dir():
        for child in path.iterdir():
            if child.is_file():
                _fsync(child)
    _fsync(path)


def _refuse_foreign(target: Path) -> None:
    if target.is_dir() and not target.is_symlink() and not is_toss_artifact(target):
        raise ArtifactError(
            f"{target}: is an existing directory that toss did not create; refusing to replace it "
            "(choose another output path, or move the directory away)"
        )


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path` only if the block succeeds.

    Works for files and directories alike (a directory gets the MARKER). An existing file or toss
    directory at the target is replaced; any other directory is an ArtifactError, raised up front."""
    target = Path(path)
    _refuse_foreign(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_orphans(target)
    tmp = _tmp_sibling(target)
    try:
        try:
            yield tmp
        except OSError as exc:  # a write to an open handle (a full disk) names no file: name the target
            if exc.filename is None:
                raise OSError(exc.errno, exc.strerror or str(exc), str(target)) from exc
            raise
        if tmp.is_dir():
            (tmp / MARKER).write_text("written by toss; safe for toss to replace\n")
        elif target.is_dir() and not target.is_symlink():
            raise ArtifactError(f"{target}: is a directory; refusing to replace it with a file")
        _fsync_tree(tmp)
        if target.is_dir() and not target.is_symlink():
            _refuse_foreign(target)  # appeared while the block ran
            old = _tmp_sibling(target)
            target.rename(old)
            tmp.rename(target)
            _remove(old)
        else:
            os.replace(tmp, target)
        _fsync(target.parent)
    finally:
        _remove(tmp)


def write_json(path: str | Path, payload: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str))


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
