"""Checkpoint files: written atomically, loaded with weights_only (plain containers and tensors only).

Two kinds per fold: the final checkpoint (paths.checkpoint_path, the contract in the project README) and the
resume state (paths.resume_path: everything needed to continue an interrupted fold after its last
finished epoch), which is deleted once the fold finishes.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path
from typing import Any

import torch

from toss_core.util.atomic import atomic_path
from toss_core.util.errors import ArtifactError

_ALMOST_FULL = 64 << 20  # free bytes under which a failed write is reported as a full disk


def save(path: Path, payload: dict[str, Any]) -> None:
    """Write atomically; PyTorch reports a failed write (a full disk) as a RuntimeError from its zip
    writer that names no file, so it becomes an OSError naming `path`."""
    with atomic_path(path) as tmp:
        try:
            torch.save(payload, tmp)
        except RuntimeError as exc:
            full = shutil.disk_usage(tmp.parent).free < _ALMOST_FULL
            code, why = (errno.ENOSPC, "No space left on device") if full else (errno.EIO, "write failed")
            raise OSError(code, f"{why} ({str(exc).splitlines()[0]})", str(path)) from exc


def load(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """ArtifactError when the file is missing or unreadable (a truncated file never has the final name)."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"checkpoint {path} is missing: train this fold first (`toss train --fold K`)")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:
        raise ArtifactError(f"checkpoint {path} cannot be read: {exc}") from exc


def cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of a state dict (kept as the best-so-far weights)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}
