"""The check that the co-visitation features on disk are the ones this config would build.

`toss covis` reuses its output when its fingerprint (train and test caches, fold assignment, the
features.covis section) matches; the steps that read the features (train, tune, predict, refit,
ensemble, submit) check the same fingerprint, so a `features.covis.*` key changed after `toss covis`, or
caches and folds rebuilt since, stop them with the key to look at and the command to rerun, instead of
training and predicting on stale features.
"""

from __future__ import annotations

import json

from toss_core.config import TossConfig
from toss_core.data.reader import MANIFEST, read_manifest
from toss_core.features.covis import fingerprint, make_plan
from toss_core.features.fold_rates import RERUN, format_problem
from toss_core.layout import Layout
from toss_core.util.errors import ArtifactError


def check_covis_current(cfg: TossConfig, layout: Layout) -> None:
    """ArtifactError when features.covis is enabled and its caches are stale. Missing ones are left to
    the reader that needs them (it names `toss covis`), so a step run too early names its nearest cause."""
    if not cfg.features.covis.enabled or not (layout.covis_train / MANIFEST).is_file():
        return
    train = read_manifest(layout.train_cache)
    test = read_manifest(layout.test_cache)
    plan = make_plan(cfg, train)
    folds = layout.folds_meta_path
    folds_meta = json.loads(folds.read_text()) if plan.needs_labels and folds.is_file() else None
    want = fingerprint(cfg, train["fingerprint"]["cache"], test["fingerprint"]["cache"], folds_meta)
    for root in (layout.covis_train, layout.covis_test):
        if not (root / MANIFEST).is_file():
            continue
        manifest = read_manifest(root)
        problem = format_problem(manifest, root)
        if problem:
            raise ArtifactError(problem)
        built = manifest.get("fingerprint", {})
        if built.get("cache") == want:
            continue
        if built.get("config") != cfg.section_fingerprint("features.covis"):
            why = "with other features.covis.* keys than the config has now"
        else:
            why = "from other caches or another fold assignment than the current ones"
        raise ArtifactError(f"{root}: the co-visitation features were built {why}; rerun `{RERUN}`")
