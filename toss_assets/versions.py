"""Code and data versions: what lets Dagster tell which assets are stale.

- The **code version** of an asset is a digest of the source of every toss_core module its step runs:
  the import closure (lazy imports inside functions included) of the module that implements the step
  (`ROOTS`), computed with grimp when the code location loads. A change to the OOF file format
  (artifacts/fold) thus marks every fold model stale, and editing the ensemble leaves the caches alone.
  Cut from the closure (`NOT_CODE`): `toss_core.steps` and `toss_core.cli`, which reach every step (a
  root never imports them: lint-imports keeps imports downward), and the config schema, `toss_core.config`:
  its values, defaults included, are the step's input like the YAML's, and a value that changes an
  artifact changes the artifact's fingerprint (checked on reuse), hence its data version — so a new
  key or description does not mark the whole graph stale. Imports made only for type checking are left
  out too: they do not run.
- The **data version** of a materialisation is the fingerprint toss already keeps for what the step
  wrote: the raw file's footer digest, a cache's fingerprint (its input file and the config keys that
  shaped it), a digest of the fold assignment, of a checkpoint, of the test logits, of the submission.
  A step that reuses an artifact reports the same version, so nothing downstream turns stale; a
  retrained fold reports a new one, so the ensemble, the submission and the diagnostics do.

Dagster records, with each materialisation, the data versions of the inputs it was computed from;
an asset is stale when one of those inputs now has another version or its own code version changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import dagster as dg
import grimp

import toss_core
from toss_core.artifacts.fold import file_digest

PACKAGE = "toss_core"
NOT_CODE = ("toss_core.steps", "toss_core.cli", "toss_core.config")
"""Modules (and packages: everything under them) that no code version follows; see the module doc."""

ROOTS: dict[str, tuple[str, ...]] = {
    "raw_train": ("toss_core.data.raw",),
    "raw_test": ("toss_core.data.raw",),
    "train_cache": ("toss_core.data.cache",),
    "test_cache": ("toss_core.data.cache",),
    "folds": ("toss_core.data.folds",),
    "covis_features": ("toss_core.features.covis",),
    "tuned_params": ("toss_core.tune.run",),
    "ensemble": ("toss_core.post.ensemble",),
    "submission": ("toss_core.post.submission",),
    "diagnostics": ("toss_core.post.diagnostics",),
}
"""Per asset, the toss_core module(s) implementing the step it calls (a package: all its modules). A model
family's assets (`<family>_fold_model`, `<family>_test_logits`, and `refit_model` over the families) are
versioned by the closure of the family's own packages instead (`family_code_version`, Family.packages)."""


@cache
def _graph() -> grimp.ImportGraph:
    """toss_core's import graph, built once per process (about 25 ms; no cache directory is written)."""
    return grimp.build_graph(PACKAGE, exclude_type_checking_imports=True, cache_dir=None)


def _is_code(module: str) -> bool:
    return not any(module == cut or module.startswith(cut + ".") for cut in NOT_CODE)


def _with_packages(module: str) -> list[str]:
    """The module and the packages above it: importing it runs their `__init__` too."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def import_closure(roots: Iterable[str]) -> frozenset[str]:
    """Every toss_core module the roots import, directly or not (packages: every module in them), less
    NOT_CODE and what is reached only through it."""
    graph = _graph()
    todo = []
    for root in roots:
        if root not in graph.modules:
            raise ValueError(f"versions: {root} is not a toss_core module")
        todo += [root, *graph.find_descendants(root)]
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        if module in seen or not _is_code(module):
            continue
        seen.add(module)
        todo += _with_packages(module)
        todo += graph.find_modules_directly_imported_by(module)
    return frozenset(seen)


def _source(module: str) -> bytes:
    """The source of a toss_core module (a package's `__init__.py`)."""
    path = Path(toss_core.__file__).parent.joinpath(*module.split(".")[1:])
    return (path / "__init__.py" if path.is_dir() else path.with_suffix(".py")).read_bytes()


@cache
def code_version_of_modules(roots: tuple[str, ...]) -> str:
    """sha256 (16 hex digits) of the names and sources of the import closure of `roots`."""
    digest = hashlib.sha256()
    for module in sorted(import_closure(roots)):
        digest.update(module.encode() + b"\0")
        digest.update(_source(module))
    return digest.hexdigest()[:16]


def family_code_version(packages: tuple[str, ...]) -> str:
    """The code version of a model family's assets: the import closure of its packages (Family.packages),
    which reaches the fold-artifact module every family writes through."""
    return code_version_of_modules(tuple(packages))


def code_version(asset: str) -> str:
    """The code version of `asset`: the import closure of the module(s) implementing its step (ROOTS)."""
    return code_version_of_modules(ROOTS[asset])


def data_version(*parts: str) -> dg.DataVersion:
    """One data version from fingerprints (one part is used as it is, several are digested together)."""
    if len(parts) == 1:
        return dg.DataVersion(parts[0])
    return dg.DataVersion(hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16])


def files_version(paths: Iterable[Path]) -> dg.DataVersion:
    """The data version of files a step wrote: the digest of their contents."""
    return data_version(*(file_digest(p) for p in paths))


SKIPPED = dg.DataVersion("skipped")
"""The data version of a disabled step: the same every time, so switching nothing on stales nothing."""
