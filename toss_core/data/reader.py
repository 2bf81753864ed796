"""Write and read the NPY shard caches (format "toss-shards/1", contract in toss_core.spec).

`ShardWriter` writes one `.npy` file per field per shard into a temporary directory and checksums each
file as it is written; `commit` writes manifest.json last and renames the directory into place, so a
directory with a manifest is always complete. `ShardedCache` memory-maps the shards and gathers rows by
global index with one fancy-index per touched shard, never a Python loop over rows.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import time
import zlib
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from toss_core.data.integrity import CHECKSUM, crc_file, shard_problems
from toss_core.spec import FeatureSpec
from toss_core.util.atomic import atomic_path
from toss_core.util.errors import ArtifactError

FORMAT = "toss-shards/1"
MANIFEST = "manifest.json"
_RESERVED = ("format", "kind", "n_rows", "fields", "shards", "checksum")


def _save_npy(path: Path, array: np.ndarray) -> str:
    """Write `array` as .npy and return the crc32 of the file's bytes without reading the file back."""
    array = np.ascontiguousarray(array)
    with path.open("wb") as fh:
        np.lib.format.write_array(fh, array, allow_pickle=False)
        header_len = fh.tell() - array.nbytes
    with path.open("rb") as fh:
        crc = zlib.crc32(fh.read(header_len))
    crc = zlib.crc32(array.data.cast("B"), crc) if array.nbytes else crc
    return f"{crc:08x}"


def library_versions() -> dict[str, str]:
    """Versions recorded in every manifest, so a cache built by other libraries can be told apart."""
    import polars
    import pyarrow

    try:
        toss_version = importlib.metadata.version("toss")
    except importlib.metadata.PackageNotFoundError:
        toss_version = "unknown"
    return {
        "toss": toss_version,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "polars": polars.__version__,
        "pyarrow": pyarrow.__version__,
    }


class ShardWriter:
    """Write shards into a temporary sibling of `out_dir`; only `commit` makes them visible.

    Use as a context manager (or call `abort`): an exception inside the block removes the temporary
    directory and leaves any existing cache at `out_dir` untouched.
    """

    def __init__(self, out_dir: str | Path, kind: str):
        self.out_dir = Path(out_dir)
        self.kind = kind
        self._stack = ExitStack()
        self.tmp_dir: Path = self._stack.enter_context(atomic_path(self.out_dir))
        self.tmp_dir.mkdir(parents=True)
        self._fields: dict[str, dict[str, Any]] = {}
        self._shards: list[dict[str, Any]] = []
        self.n_rows = 0
        self.bytes = 0

    @property
    def n_shards(self) -> int:
        return len(self._shards)

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.abort(exc)

    def add(self, arrays: dict[str, np.ndarray]) -> None:
        """Write one shard; every shard must carry the same fields with the same dtypes and row shapes."""
        if not arrays:
            raise ValueError("ShardWriter.add: a shard needs at least one field")
        rows = {name: len(a) for name, a in arrays.items()}
        if len(set(rows.values())) != 1:
            raise ValueError(f"ShardWriter.add: fields disagree on the number of rows: {rows}")
        layout = {name: {"dtype": a.dtype.str, "shape": list(a.shape[1:])} for name, a in arrays.items()}
        if not self._fields:
            self._fields = layout
        else:
            self._check_layout(layout)
        index = len(self._shards)
        files = {}
        for name, array in arrays.items():
            rel = f"{name}.{index:05d}.npy"
            files[name] = {"path": rel, CHECKSUM: _save_npy(self.tmp_dir / rel, array)}
            self.bytes += (self.tmp_dir / rel).stat().st_size
        n = next(iter(rows.values()))
        self._shards.append({"index": index, "rows": n, "offset": self.n_rows, "files": files})
        self.n_rows += n

    def _check_layout(self, layout: dict[str, dict[str, Any]]) -> None:
        if set(layout) != set(self._fields):
            raise ValueError(f"ShardWriter.add: fields {sorted(layout)} differ from {sorted(self._fields)}")
        for name, spec in layout.items():
            want = self._fields[name]
            if spec["shape"] != want["shape"]:
                raise ValueError(f"ShardWriter.add: field '{name}' shape {spec['shape']} != {want['shape']}")
            if spec["dtype"] != want["dtype"]:
                if np.dtype(spec["dtype"]).kind == "U" == np.dtype(want["dtype"]).kind:
                    want["dtype"] = max(spec["dtype"], want["dtype"], key=lambda d: np.dtype(d).itemsize)
                else:
                    raise ValueError(
                        f"ShardWriter.add: field '{name}' dtype {spec['dtype']} != {want['dtype']}"
                    )

    def load(self, index: int, name: str) -> np.ndarray:
        """A field of an already written shard, memory-mapped from the temporary directory."""
        return np.load(self.tmp_dir / self._shards[index]["files"][name]["path"], mmap_mode="r")

    def rewrite(self, index: int, arrays: dict[str, np.ndarray]) -> None:
        """Replace (or add) fields of shard `index`: statistics fitted after the pass are applied this way.

        Call it for every shard with the same fields, so all shards keep one layout."""
        shard = self._shards[index]
        for name, array in arrays.items():
            if len(array) != shard["rows"]:
                raise ValueError(
                    f"ShardWriter.rewrite: '{name}' has {len(array)} rows, shard has {shard['rows']}"
                )
            path = self.tmp_dir / f"{name}.{index:05d}.npy"
            if name in shard["files"]:
                self.bytes -= path.stat().st_size
            fresh = path.with_suffix(".new")  # a new inode: live memory maps of the old file stay valid
            checksum = _save_npy(fresh, array)
            os.replace(fresh, path)
            shard["files"][name] = {"path": path.name, CHECKSUM: checksum}
            self.bytes += path.stat().st_size
            if index == 0:
                self._fields[name] = {"dtype": array.dtype.str, "shape": list(array.shape[1:])}

    def commit(self, manifest_extra: dict[str, Any]) -> Path:
        """Write manifest.json (last) and atomically rename the directory onto `out_dir`."""
        clash = set(manifest_extra) & set(_RESERVED)
        if clash:
            raise ValueError(f"ShardWriter.commit: manifest_extra may not set {sorted(clash)}")
        manifest: dict[str, Any] = {
            "columns": {},
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "versions": library_versions(),
            **manifest_extra,
            "format": FORMAT,
            "kind": self.kind,
            "n_rows": self.n_rows,
            "checksum": CHECKSUM,
            "fields": self._fields,
            "shards": self._shards,
        }
        try:
            (self.tmp_dir / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True, default=str))
        except BaseException as exc:
            self.abort(exc)
            raise
        self._stack.close()
        return self.out_dir

    def abort(self, exc: BaseException | None = None) -> None:
        """Drop everything written so far (the temporary directory is removed)."""
        exc = exc or RuntimeError("ShardWriter aborted")
        self._stack.__exit__(type(exc), exc, exc.__traceback__)


def read_manifest(root: str | Path) -> dict[str, Any]:
    """Load and check a cache manifest; ArtifactError when it is missing, torn or of an unknown format."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise ArtifactError(
            f"{path}: no cache manifest (the cache was never built or its build did not finish); "
            "build it with `toss build-cache --cfg <your config>` (shard caches) or `toss covis` "
            "(co-visitation features)"
        )
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: unreadable cache manifest: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise ArtifactError(f"{path}: expected cache format '{FORMAT}', found {found!r}")
    missing = [k for k in ("n_rows", "fields", "shards") if k not in manifest]
    if missing:
        raise ArtifactError(f"{path}: incomplete cache manifest, missing keys {missing}")
    return manifest


class ShardedCache:
    """Read-only view of a shard cache: memory-mapped fields, row gathers by global index.

    With `crc` (data.verify = full, the default) every shard file's crc32 is checked the first time a
    step opens it: the check reads the file once, which brings it into the page cache the memory map
    then serves, so verifying costs a crc pass over bytes the step reads anyway, not a second read."""

    def __init__(self, root: str | Path, crc: bool = True):
        self.root = Path(root)
        self.crc = crc
        self.manifest = read_manifest(self.root)
        self.n_rows: int = int(self.manifest["n_rows"])
        self.fields: list[str] = list(self.manifest["fields"])
        self._shards: list[dict[str, Any]] = self.manifest["shards"]
        self.offsets = np.array([s["offset"] for s in self._shards] + [self.n_rows], dtype=np.int64)
        self._maps: dict[tuple[int, str], np.ndarray] = {}
        self._verified: set[tuple[int, str]] = set()

    def __len__(self) -> int:
        return self.n_rows

    @property
    def spec(self) -> FeatureSpec:
        return FeatureSpec.from_manifest(self.manifest, dense_cols=self.manifest["columns"].get("dense"))

    @property
    def fingerprint(self) -> str:
        return str(self.manifest.get("fingerprint", {}).get("cache", ""))

    @property
    def n_shards(self) -> int:
        return len(self._shards)

    def _field_names(self, fields: Sequence[str] | None) -> list[str]:
        names = list(fields) if fields is not None else self.fields
        unknown = [f for f in names if f not in self.manifest["fields"]]
        if unknown:
            raise KeyError(f"{self.root}: no field(s) {unknown} in this cache; it has {self.fields}")
        return names

    def _dtype(self, name: str) -> np.dtype:
        return np.dtype(self.manifest["fields"][name]["dtype"])

    def shard(self, index: int, name: str) -> np.ndarray:
        """One field of one shard, memory-mapped (opened once, then cached: random row gathers come back
        to every shard)."""
        key = (index, name)
        if key not in self._maps:
            self._maps[key] = self._open(index, name)
        return self._maps[key]

    def _open(self, index: int, name: str) -> np.ndarray:
        """A fresh memory map of one shard file, checked (size and header; crc32 once per cache view)."""
        path = self.root / self._shards[index]["files"][name]["path"]
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, SyntaxError, TypeError) as exc:
            raise ArtifactError(
                f"{path}: unreadable shard file ({exc}); rebuild with `toss build-cache`"
            ) from exc
        if len(array) != self._shards[index]["rows"]:
            raise ArtifactError(f"{path}: {len(array)} rows, manifest says {self._shards[index]['rows']}")
        if self.crc and (index, name) not in self._verified:
            self._check_crc(path, self._shards[index]["files"][name])
            self._verified.add((index, name))
        return array

    def _check_crc(self, path: Path, entry: dict[str, Any]) -> None:
        """ArtifactError naming the file and the command that rebuilds it, when its bytes changed."""
        want = entry.get(CHECKSUM)
        if want is None or self.manifest.get("checksum", CHECKSUM) != CHECKSUM:
            return  # written without a checksum: the size and header checks above still ran
        found = crc_file(path)
        if found != want:
            command = "toss covis" if self.manifest.get("kind") == "features" else "toss build-cache"
            raise ArtifactError(
                f"{path}: checksum mismatch (manifest {want}, file {found}): the file changed after it was "
                f"written; rebuild it with `{command} --cfg <your config>`"
            )

    def take(self, idx: np.ndarray, fields: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Rows at global indices `idx` (any order, repeats allowed), as in-memory arrays in `idx` order."""
        idx = np.asarray(idx, dtype=np.int64).reshape(-1)
        names = self._field_names(fields)
        if len(idx) and (idx.min() < 0 or idx.max() >= self.n_rows):
            bad = idx[(idx < 0) | (idx >= self.n_rows)][0]
            raise IndexError(f"{self.root}: row index {bad} out of range [0, {self.n_rows})")
        shard_of = np.searchsorted(self.offsets, idx, side="right") - 1
        order = np.argsort(shard_of, kind="stable")
        cuts = np.searchsorted(shard_of[order], np.arange(self.n_shards + 1))
        out = {}
        for name in names:
            row_shape = tuple(self.manifest["fields"][name]["shape"])
            out[name] = np.empty((len(idx), *row_shape), dtype=self._dtype(name))
        for s in np.flatnonzero(np.diff(cuts)):
            pos = order[cuts[s] : cuts[s + 1]]
            local = idx[pos] - self.offsets[s]
            for name in names:
                out[name][pos] = self.shard(int(s), name)[local]
        return out

    def read_field(self, name: str) -> np.ndarray:
        """A whole field concatenated over shards (meant for the small per-row fields: label, id, seq_len)."""
        self._field_names([name])
        parts = [self.shard(i, name) for i in range(self.n_shards)]
        if not parts:
            row_shape = tuple(self.manifest["fields"][name]["shape"])
            return np.empty((0, *row_shape), dtype=self._dtype(name))
        return np.concatenate(parts)

    def iter_shards(self, fields: Sequence[str] | None = None) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        """(first global row, {field: memory-mapped array}) per shard, in row order.

        A pass keeps no map it opened: the pages of a mapped file count in the process's resident
        memory while they stay mapped, so a pass over a 30 GB cache whose maps were all kept would show
        (and, until the kernel reclaims them, hold) tens of GB (measured: 17 GB of RSS, 0.8 GB of it the
        process's own, for the co-visitation pass at 10.7M Toss rows)."""
        names = self._field_names(fields)
        for i in range(self.n_shards):
            yield int(self.offsets[i]), self.shard_arrays(i, names)

    def shard_arrays(self, index: int, names: Sequence[str]) -> dict[str, np.ndarray]:
        """The named fields of one shard, memory-mapped for the caller alone (see iter_shards)."""
        cached = self._maps
        return {n: cached[(index, n)] if (index, n) in cached else self._open(index, n) for n in names}

    def verify(self, full: bool = True) -> int:
        """Check every shard file (size and header; crc32 when `full`); ArtifactError naming the first
        bad file. Returns the number of files checked."""
        problems = shard_problems(self.root, self.manifest, full)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise ArtifactError(problems[0] + more)
        return sum(len(s["files"]) for s in self._shards)
