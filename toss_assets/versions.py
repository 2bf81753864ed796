"""Code and data versions: what lets Dagster tell which assets are stale.

- The **code version** of an asset is a digest of the source of the toss_core modules that compute it
  (`SHAPED_BY`), read when the code location loads. Editing the LightGBM trainer marks
  `gbdt_fold_model` and what is downstream of it as changed; editing the ensemble leaves the caches
  alone. `toss_core/steps.py` and the config schema are left out on purpose: they touch every step, and
  a config value that changes an artifact changes its fingerprint, hence its data version.
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

from toss_core.post.artifacts import file_digest

_DATA = ("toss_core.data.raw", "toss_core.data.shaping", "toss_core.data.stats", "toss_core.data.seqparse")
_CACHE = (*_DATA, "toss_core.data.cache", "toss_core.data.cache_write", "toss_core.spec")
_NN = ("toss_core.train", "toss_core.models", "toss_core.scoring")
_GBDT = ("toss_core.gbdt", "toss_core.scoring")
_POST = ("toss_core.post", "toss_core.scoring")

SHAPED_BY: dict[str, tuple[str, ...]] = {
    "raw_train": ("toss_core.data.raw", "toss_core.synth"),
    "raw_test": ("toss_core.data.raw", "toss_core.synth"),
    "train_cache": _CACHE,
    "test_cache": _CACHE,
    "folds": ("toss_core.data.folds",),
    "covis_features": ("toss_core.features",),
    "tuned_params": ("toss_core.tune", *_NN, *_GBDT),
    "fold_model": _NN,
    "gbdt_fold_model": _GBDT,
    "fold_test_logits": (*_NN, *_GBDT),
    "refit_model": (*_NN, *_GBDT),
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
def code_version(asset: str) -> str:
    """sha256 (16 hex digits) of the source files of the modules that compute `asset`."""
    digest = hashlib.sha256()
    for path in sorted({p for module in SHAPED_BY[asset] for p in _sources(module)}):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


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
