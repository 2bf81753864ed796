"""One writer at a time: an OS file lock per cache and per fold, so two processes never race one
build or train one fold twice.

The lock files live in a folder of toss's own (LOCK_DIR: `toss-locks-<uid>` in the system's temporary
directory), named by a hash of the guarded path, never beside what they guard: a cache_dir that is the
user's home folder must not collect `.train.lock` files, least of all when toss refuses that folder.
They are OS file locks, so they order the processes of one machine (as they always did).
A build waits for the other writer (saying so), then finds its result and reuses it; a fold refuses at
once, since training it again after waiting would be the double work the lock exists to prevent.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from toss_core.util.errors import ArtifactError

log = logging.getLogger("toss")


LOCK_DIR = Path(tempfile.gettempdir()) / f"toss-locks-{os.getuid()}"


def lock_path(target: Path) -> Path:
    """The lock file of `target`: one per absolute path, in LOCK_DIR."""
    resolved = Path(os.path.abspath(target))
    key = hashlib.sha256(str(resolved).encode()).hexdigest()[:20]
    return LOCK_DIR / f"{resolved.name}-{key}.lock"


@contextmanager
def writer_lock(target: str | Path, what: str, wait: bool) -> Iterator[None]:
    """Hold the lock of `target` for the block; `wait`: block until free, else ArtifactError at once."""
    path = lock_path(Path(target))
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = FileLock(path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if not wait:
            raise ArtifactError(
                f"{target}: another toss process is already writing {what} (lock {path}); wait for it to "
                "finish (or stop it) and run the command again"
            ) from None
        log.warning("waiting for another toss process writing %s (lock %s)", what, path)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()
