"""One writer at a time: an OS file lock per cache and per fold, so two processes never race one
build or train one fold twice.

The lock file sits beside what it guards (`.NAME.lock`), never inside a directory that gets replaced.
A build waits for the other writer (saying so), then finds its result and reuses it; a fold refuses at
once, since training it again after waiting would be the double work the lock exists to prevent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from toss_core.util.errors import ArtifactError

log = logging.getLogger("toss")


def lock_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.lock")


@contextmanager
def writer_lock(target: str | Path, what: str, wait: bool) -> Iterator[None]:
    """Hold the lock of `target` for the block; `wait`: block until free, else ArtifactError at once."""
    path = lock_path(Path(target))
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if not wait:
            raise ArtifactError(
                f"{path}: another toss process is already writing {what}; wait for it to finish "
                "(or stop it) and run the command again"
            ) from None
        log.warning("waiting for another toss process writing %s (lock %s)", what, path)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()
