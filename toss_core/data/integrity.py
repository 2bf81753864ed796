"""Checks that a cache on disk is the one its manifest describes, before anything reuses it.

Quick (always): every shard file exists, its .npy header parses and states the manifest's dtype and
shape, and its size is exactly header + data. Full (data.verify = full, and the Dagster integrity
check): also the crc32 of every byte. Each problem names the file, so a warning can say what was
rebuilt and why.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import numpy as np

CHECKSUM = "crc32"  # zlib.crc32 of the whole .npy file: ~3 GB/s, enough to catch torn or corrupted files
_READ_BLOCK = 1 << 24
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def crc_file(path: Path) -> str:
    crc = 0
    with path.open("rb") as fh:
        while block := fh.read(_READ_BLOCK):
            crc = zlib.crc32(block, crc)
    return f"{crc:08x}"


def _header_problem(path: Path, rows: int, field: dict[str, Any]) -> str | None:
    """Why the file's header or size disagrees with the manifest, or None."""
    want_shape = (rows, *field["shape"])
    try:
        with path.open("rb") as fh:
            version = np.lib.format.read_magic(fh)
            if version not in _HEADER_READERS:
                return f"{path}: .npy format version {version} (toss writes 1.0 or 2.0)"
            shape, _, dtype = _HEADER_READERS[version](fh)
            data_at = fh.tell()
    except (OSError, ValueError, SyntaxError, TypeError) as exc:
        return f"{path}: unreadable .npy header ({str(exc).splitlines()[0]})"
    if tuple(shape) != want_shape or dtype.str != np.dtype(field["dtype"]).str:
        return f"{path}: header says {dtype.str} {tuple(shape)}, manifest {field['dtype']} {want_shape}"
    size, want = path.stat().st_size, data_at + int(np.prod(want_shape)) * dtype.itemsize
    if size != want:
        return f"{path}: {size} bytes, expected {want} (truncated or padded)"
    return None


def shard_problems(root: Path, manifest: dict[str, Any], full: bool) -> list[str]:
    """Every shard file that is missing, malformed, of the wrong size or (full) the wrong crc32."""
    problems = []
    algo = manifest.get("checksum", CHECKSUM)
    if full and algo != CHECKSUM:
        return [f"{root}: unknown checksum '{algo}', expected '{CHECKSUM}'"]
    fields = manifest["fields"]
    for shard in manifest["shards"]:
        for name, entry in shard["files"].items():
            path = root / entry["path"]
            if not path.is_file():
                problems.append(f"{path}: shard file of field '{name}' is missing")
                continue
            problem = _header_problem(path, int(shard["rows"]), fields[name])
            if problem is None and full and (found := crc_file(path)) != entry[CHECKSUM]:
                problem = f"{path}: checksum mismatch, manifest {entry[CHECKSUM]}, file {found}"
            if problem:
                problems.append(problem)
    return problems
