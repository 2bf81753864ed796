"""Code and data versions: what lets Dagster tell which assets are stale.

- The **code version** of an asset is a digest of the source of the toss_core modules that compute it
  (`SHAPED_BY`; for a family's assets, its Family.packages), read when the code location loads.
  Editing the LightGBM trainer marks `gbdt_fold_model`, `gbdt_test_logits` and what is downstream of
  them as changed; editing the ensemble leaves the caches alone. `toss_core/steps.py` and the config
  schema are left out on purpose: they touch every step, and a config value that changes an artifact
  changes its fingerprint, hence its data version.
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
import importlib.util
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import dagster as dg

from toss_core.artifacts.fold import file_digest
from toss_core.families import registry

_DATA = ("toss_core.data.raw", "toss_core.data.shaping", "toss_core.data.stats", "toss_core.data.seqparse")
_CACHE = (*_DATA, "toss_core.data.cache", "toss_core.data.cache_write", "toss_core.spec")
_FAMILIES = tuple(p for f in registry.registered() for p in f.packages)
_POST = ("toss_core.post", "toss_core.artifacts", "toss_core.scoring")
_FOLD_ARTIFACTS = ("toss_core.artifacts", "toss_core.scoring")  # what every family's fold writes through

SHAPED_BY: dict[str, tuple[str, ...]] = {
    "raw_train": ("toss_core.data.raw", "toss_core.synth"),
    "raw_test": ("toss_core.data.raw", "toss_core.synth"),
    "train_cache": _CACHE,
    "test_cache": _CACHE,
    "folds": ("toss_core.data.folds",),
    "covis_features": ("toss_core.features",),
    "tuned_params": ("toss_core.tune", "toss_core.families", *_FAMILIES),
    "ensemble": _POST,
    "submission": ("toss_core.post.submission",),
    "diagnostics": ("toss_core.post.diagnostics", "toss_core.scoring"),
}
"""The toss_core modules (or packages: every module in them) whose source decides each asset."""


def _sources(module: str) -> list[Path]:
    spec = importlib.util.find_spec(module)
    if spec is None:
        raise ValueError(f"versions.SHAPED_BY names {module}, which does not exist")
    if spec.submodule_search_locations:
        return sorted(p for root in spec.submodule_search_locations for p in Path(root).rglob("*.py"))
    return [Path(spec.origin)]


@cache
def modules_version(modules: tuple[str, ...]) -> str:
    """sha256 (16 hex digits) of the source files of `modules` (packages: every module in them)."""
    digest = hashlib.sha256()
    for path in sorted({p for module in modules for p in _sources(module)}):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def code_version(asset: str) -> str:
    """The code version of an asset named in SHAPED_BY."""
    return modules_version(SHAPED_BY[asset])


def family_code_version(packages: tuple[str, ...]) -> str:
    """The code version of a family's fold assets: its packages (Family.packages) and the fold-artifact
    and metric modules every family writes through."""
    return modules_version((*packages, *_FOLD_ARTIFACTS))


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
