"""The linear baseline: logistic regression on the LightGBM family's design matrix.

Every benchmark compares the models against the same linear model, so its numbers are comparable
across scripts: the gbdt design (target-encoded id columns, native categoricals one-hot encoded with
rare values pooled, numerics and co-visitation features standardised, missing values as 0 after
scaling), sklearn's lbfgs logistic regression with C = 1, trained on the rows outside one fold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from toss_core.config import TossConfig
from toss_core.data.folds import load_folds
from toss_core.data.reader import ShardedCache
from toss_core.features.fold_rates import fold_dense, reads_nested
from toss_core.gbdt.ids import choose_ids
from toss_core.gbdt.paths import NAME
from toss_core.gbdt.train import fit_id_encoder
from toss_core.layout import Layout
from toss_core.tabular.design import DesignPlan, build_matrix, iter_design
from toss_core.tabular.inputs import dense_cache, dense_cols, train_inputs

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

MIN_CATEGORY_ROWS = 20  # rarer categorical values share one one-hot column


@dataclass(frozen=True)
class LinearBaseline:
    val_rows: np.ndarray  # train-cache rows of the held-out fold
    val_logits: np.ndarray
    val_labels: np.ndarray
    test_logits: np.ndarray  # [n_test], test-cache order


class _Design:
    """One-hot native categoricals + standardised rest, fitted on the training rows."""

    def __init__(self, n_cat: int):
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        self.n_cat = n_cat
        self.onehot = OneHotEncoder(handle_unknown="ignore", min_frequency=MIN_CATEGORY_ROWS)
        self.scale = StandardScaler()

    def fit(self, x: np.ndarray) -> _Design:
        self.onehot.fit(x[:, : self.n_cat])
        self.scale.fit(np.nan_to_num(x[:, self.n_cat :]))
        return self

    def __call__(self, x: np.ndarray) -> csr_matrix:
        import scipy.sparse as sp

        cats, rest = x[:, : self.n_cat], np.nan_to_num(x[:, self.n_cat :])
        return sp.hstack([self.onehot.transform(cats), sp.csr_matrix(self.scale.transform(rest))]).tocsr()


def logistic_baseline(cfg: TossConfig, layout: Layout, fold: int = 0) -> LinearBaseline:
    """Fit on the rows outside `fold`; logits of the held-out rows and of the whole test cache."""
    from sklearn.linear_model import LogisticRegression

    cfg = cfg.model_copy(update={"gbdt": cfg.gbdt.model_copy(update={"id_encoding": "target"})})
    cache, _, dense = train_inputs(cfg, layout)
    nested = reads_nested(cfg, NAME)  # read as the LightGBM family reads them
    dense = fold_dense(dense, fold, nested=nested)
    folds, labels = load_folds(layout), cache.read_field("label").astype(np.float64)
    ids, method = choose_ids(cache.spec, cfg.gbdt, (cache.n_rows, float(labels.mean())))
    plan = DesignPlan.build(cache.spec, cache.fields, dense_cols(dense), ids, method)
    train_rows, val_rows = np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)
    encoder, oof_te = fit_id_encoder(cfg, plan, cache, train_rows, labels[train_rows])
    x_train = build_matrix(plan, cache, train_rows, encoder, oof_te, dense)
    design = _Design(len(plan.native_cols)).fit(x_train)
    model = LogisticRegression(C=1.0, max_iter=300).fit(design(x_train), labels[train_rows])
    val = model.decision_function(design(build_matrix(plan, cache, val_rows, encoder, None, dense)))
    test = ShardedCache(layout.test_cache)
    test_dense = None
    if dense is not None:
        test_dense = fold_dense(dense_cache(layout, "test", test.n_rows), fold, nested=nested)
    blocks = [b for _, _, b in iter_design(plan, test, None, encoder, None, test_dense)]
    return LinearBaseline(
        val_rows, val, labels[val_rows], model.decision_function(design(np.concatenate(blocks)))
    )
