"""Fold artifacts, one reader and one writer for every model family: OOF logits and test logits.

    oof_fold_k.npz          index [n_val] int64 (train-cache rows), logit [n_val] float32 (true-prior
                            log-odds), label [n_val] float32, metrics (JSON), lineage (JSON)
    test_logits_fold_k.npz  logit [n_test] float32 (test-cache order), lineage (JSON)

The lineage names the family and fold, the fingerprints of the train cache and co-visitation features
the model was trained on, and `model`, a digest of the model file. A fold's test logits must name the
same model as its OOF logits, so test predictions of an older checkpoint are never blended with the
OOF logits of a retrained fold, and the ensemble step can verify everything from these files alone.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from toss_core.layout import FULL, Layout
from toss_core.util.atomic import atomic_path
from toss_core.util.errors import ArtifactError

FORMAT = "toss-fold/1"
SELECTED = "selected"  # OOF metrics key: the epochs or boosting rounds the fold selected
_DIGEST_CHUNK = 1 << 20


@contextmanager
def open_npz(path: Path, command: str) -> Iterator[Any]:
    """np.load of a fold artifact; a damaged file (a torn zip, a member whose zip crc32 fails, a missing
    array, unreadable JSON) becomes an ArtifactError naming it and the command that rewrites it. Every
    member is read whole, so the crc32 the zip format stores for it is checked on each load."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            yield npz
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError) as exc:
        if isinstance(exc, OSError) and not path.is_file():
            raise
        why = str(exc).splitlines()[0] if str(exc) else "unreadable"
        raise ArtifactError(
            f"{path} is damaged ({type(exc).__name__}: {why}): rewrite it with `{command}`"
        ) from exc


def file_digest(path: Path) -> str:
    """sha256 (first 16 hex digits) of a model file: what identifies the model a fold trained."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(_DIGEST_CHUNK):
            h.update(chunk)
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Lineage:
    """Where a fold's predictions come from (see the module docstring)."""

    family: str
    fold: int | str  # layout.FULL for a refit on every training row
    train_cache: str  # fingerprint of the train cache the model was trained on
    covis: str | None  # fingerprint of its co-visitation features; None when it reads none
    model: str  # file_digest of the model file
    test_cache: str | None = None  # set on test logits: the test cache they were predicted from

    def to_json(self) -> np.ndarray:
        return np.array(json.dumps({"format": FORMAT, **asdict(self)}, sort_keys=True))

    @classmethod
    def from_npz(cls, npz: Any, path: Path) -> Lineage:
        if "lineage" not in npz:
            raise ArtifactError(f"{path} has no lineage (written by an older toss): retrain that fold")
        payload = json.loads(str(npz["lineage"]))
        if payload.pop("format", None) != FORMAT:
            raise ArtifactError(f"{path}: not a {FORMAT} artifact: retrain that fold")
        return cls(**payload)


@dataclass(frozen=True)
class FamilyOOF:
    """One family's out-of-fold logits: each train row once, predicted by the fold that held it out."""

    family: str
    logit: np.ndarray  # [n_train] float64, row order of the train cache
    label: np.ndarray  # [n_train] float64
    fold: np.ndarray  # [n_train] int, the fold whose model predicted the row
    lineage: list[Lineage]  # one per fold, in fold order


def save_oof(
    layout: Layout,
    lineage: Lineage,
    index: np.ndarray,
    logit: np.ndarray,
    label: np.ndarray,
    metrics: dict[str, float],
) -> Path:
    """Write one fold's validation-row logits atomically; returns the path."""
    path = layout.oof_path(lineage.fold, lineage.family)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(
            fh,
            index=np.asarray(index, dtype=np.int64),
            logit=np.asarray(logit, dtype=np.float32),
            label=np.asarray(label, dtype=np.float32),
            metrics=np.array(json.dumps(metrics)),
            lineage=lineage.to_json(),
        )
    return path


def _missing(layout: Layout, family: str, paths: list[Path], what: str, command: str) -> None:
    missing = [k for k, p in enumerate(paths) if not p.is_file()]
    if missing:
        raise ArtifactError(
            f"{what} of family '{family}' are missing for fold(s) {missing} (expected {paths[missing[0]]}): "
            f"run `{command}` first"
        )


def _command(verb: str, family: str) -> str:
    """The `toss` command that writes a family's artifact, e.g. `toss predict --family gbdt`."""
    return f"toss {verb} --family {family}"


def require_fold_files(layout: Layout, family: str, n_splits: int) -> None:
    """Every fold's OOF and test-logit file exists, else ArtifactError naming the first missing one and
    the command that writes it: checked before any cache is opened."""
    _missing(layout, family, [layout.oof_path(k, family) for k in range(n_splits)], "OOF predictions",
             _command("train", family))  # fmt: skip
    _missing(layout, family, [layout.test_logits_path(k, family) for k in range(n_splits)], "test logits",
             _command("predict", family))  # fmt: skip


def load_family_oof(layout: Layout, family: str, n_splits: int, n_rows: int) -> FamilyOOF:
    """Assemble the family's OOF vector from its per-fold files; ArtifactError when incomplete."""
    paths = [layout.oof_path(k, family) for k in range(n_splits)]
    _missing(layout, family, paths, "OOF predictions", _command("train", family))
    logit, label = np.full(n_rows, np.nan), np.full(n_rows, np.nan)
    fold = np.full(n_rows, -1, dtype=np.int64)
    lineage = []
    for k, path in enumerate(paths):
        with open_npz(path, f"{_command('train', family)} --fold {k}") as npz:
            lineage.append(Lineage.from_npz(npz, path))
            index = npz["index"]
            if index.size and (index.min() < 0 or index.max() >= n_rows):
                raise ArtifactError(
                    f"{path} indexes rows up to {index.max()}, the train cache has {n_rows}: it was "
                    f"written for another cache; retrain fold {k}"
                )
            if (fold[index] >= 0).any():
                raise ArtifactError(
                    f"{path} repeats {int((fold[index] >= 0).sum())} rows already predicted by another "
                    "fold: the folds were reassigned; retrain every fold"
                )
            logit[index], label[index], fold[index] = npz["logit"], npz["label"], k
    uncovered = int((fold < 0).sum())
    if uncovered:
        raise ArtifactError(
            f"OOF predictions of family '{family}' in {layout.family_dir(family)} cover "
            f"{n_rows - uncovered} of {n_rows} train rows: the folds were reassigned; retrain every fold"
        )
    return FamilyOOF(family, logit, label, fold, lineage)


def fold_models(layout: Layout, families: list[str], n_splits: int) -> dict[str, str]:
    """`family/fold_k` → the digest of the model whose OOF logits are on disk now (reads only lineages)."""
    models = {}
    for family in families:
        for k in range(n_splits):
            path = layout.oof_path(k, family)
            if path.is_file():
                with open_npz(path, f"{_command('train', family)} --fold {k}") as npz:
                    models[f"{family}/fold_{k}"] = Lineage.from_npz(npz, path).model
    return models


def save_test_logits(layout: Layout, lineage: Lineage, test_cache: str, logits: np.ndarray) -> Path:
    """Write one fold's test logits with the lineage of the model that made them; returns the path."""
    path = layout.test_logits_path(lineage.fold, lineage.family)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(
            fh,
            logit=np.asarray(logits, dtype=np.float32),
            lineage=replace(lineage, test_cache=test_cache).to_json(),
        )
    return path


def read_test_logits(layout: Layout, fold: int | str, family: str) -> tuple[np.ndarray, Lineage]:
    """One fold's saved test logits and their lineage, unchecked (load_test_logits verifies them)."""
    path = layout.test_logits_path(fold, family)
    command = _command("refit", family) if fold == FULL else f"{_command('predict', family)} --fold {fold}"
    if not path.is_file():
        raise ArtifactError(f"{path} is missing: run `{command}` first")
    with open_npz(path, command) as npz:
        return npz["logit"], Lineage.from_npz(npz, path)


def load_test_logits(layout: Layout, oof: FamilyOOF, test_cache: str, n_rows: int) -> np.ndarray:
    """[n_folds, n_test] test logits of a family, each verified against the model of its OOF logits."""
    family = oof.family
    paths = [layout.test_logits_path(k, family) for k in range(len(oof.lineage))]
    command = _command("predict", family)
    _missing(layout, family, paths, "test logits", command)
    out = np.empty((len(paths), n_rows), dtype=np.float64)
    for k, path in enumerate(paths):
        logits, made = read_test_logits(layout, k, family)
        if made.model != oof.lineage[k].model:
            raise ArtifactError(
                f"{path} was predicted by model {made.model}, but fold {k}'s OOF logits come from model "
                f"{oof.lineage[k].model} (the fold was retrained): rerun `{command} --fold {k}`"
            )
        if made.test_cache != test_cache:
            raise ArtifactError(
                f"{path} was predicted from test cache {made.test_cache}, but {layout.test_cache} is "
                f"{test_cache}: rerun `{command} --fold {k}`"
            )
        if logits.shape != (n_rows,):
            raise ArtifactError(
                f"{path} holds {logits.shape} logits for {n_rows} test rows: rerun `{command}`"
            )
        out[k] = logits
    return out


def load_refit_test_logits(
    layout: Layout, family: str, train_cache: str, test_cache: str, n_rows: int
) -> np.ndarray:
    """The test logits of a family's refit on every row (cv.refit = full), verified against the caches."""
    logits, made = read_test_logits(layout, FULL, family)
    path = layout.test_logits_path(FULL, family)
    command = _command("refit", family)
    if made.train_cache != train_cache or made.test_cache != test_cache or logits.shape != (n_rows,):
        raise ArtifactError(
            f"{path} was made from train cache {made.train_cache} and test cache {made.test_cache} "
            f"({logits.shape[0]} rows), the current ones are {train_cache} and {test_cache} ({n_rows} rows): "
            f"rerun `{command}`"
        )
    return logits.astype(np.float64)


def selected_sizes(layout: Layout, family: str, n_splits: int) -> list[int]:
    """The epochs or boosting rounds each fold selected (what a refit on every row trains for)."""
    sizes = []
    for k in range(n_splits):
        path = layout.oof_path(k, family)
        if not path.is_file():
            raise ArtifactError(f"{path} is missing: run `{_command('train', family)} --fold {k}` first")
        with open_npz(path, f"{_command('train', family)} --fold {k}") as npz:
            metrics = json.loads(str(npz["metrics"]))
        if SELECTED not in metrics:
            raise ArtifactError(f"{path} does not say how long fold {k} trained (older toss): retrain it")
        sizes.append(int(metrics[SELECTED]))
    return sizes


def check_oof_lineage(oof: FamilyOOF, train_cache: str, covis: str | None, layout: Layout) -> None:
    """Every fold of the family was trained on the current train cache and co-visitation features."""
    for lin in oof.lineage:
        what = f"{lin.family} fold {lin.fold} (in {layout.family_dir(lin.family)})"
        if lin.train_cache != train_cache:
            raise ArtifactError(
                f"{what} was trained on cache {lin.train_cache}, but the current train cache "
                f"{layout.train_cache} is {train_cache}: retrain the fold (or point data.cache_dir at its "
                "cache)"
            )
        if lin.covis is not None and lin.covis != covis:
            raise ArtifactError(
                f"{what} was trained with co-visitation features {lin.covis}, but {layout.covis_train} is "
                f"{covis}: rebuild the features or retrain the fold"
            )


def verify_model(layout: Layout, fold: int | str, family: str, path: Path) -> None:
    """Before a fold's model predicts: its file is the one the fold's training wrote, by the digest the
    training recorded in the OOF lineage. A damaged or replaced model file would otherwise predict
    without complaint, and the ensemble would then call the fold retrained and send the user to
    `toss predict`, which could never repair it. (The refit on every row predicts in its own step.)"""
    oof = layout.oof_path(fold, family)  # `path`: the family's model file of the fold
    if fold == FULL or not path.is_file() or not oof.is_file():
        return  # nothing recorded to compare with; the family names a missing model file
    command = f"{_command('train', family)} --fold {fold}"
    with open_npz(oof, command) as npz:
        recorded = Lineage.from_npz(npz, oof).model
    found = file_digest(path)
    if found != recorded:
        raise ArtifactError(
            f"{path}: digest {found}, but its training recorded {recorded} in {oof}: the model file was "
            f"changed or damaged after training; retrain the fold with `{command}`"
        )
