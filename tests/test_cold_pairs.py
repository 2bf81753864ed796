"""bench/cold_pairs.py: pair recurrence and item co-use are counted out of fold."""

from __future__ import annotations

import numpy as np

from bench.cold_pairs import co_use, recurrence_elsewhere


def test_recurrence_counts_the_pair_in_other_folds_only() -> None:
    key, item = np.array([0, 0, 0, 1]), np.array([5, 5, 5, 5])
    folds = np.array([0, 0, 1, 1])
    assert recurrence_elsewhere(key, item, folds).tolist() == [1, 1, 2, 0]


def _toy() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Users 0 and 1 use apps 0 and 1 (fold 1); user 2 uses app 1 (fold 1) and is asked about app 0 and
    app 2 (fold 0)."""
    key = np.array([0, 0, 1, 1, 2, 2, 2])
    item = np.array([0, 1, 0, 1, 1, 0, 2])
    positive = np.array([1, 1, 1, 1, 1, 0, 0], bool)
    folds = np.array([1, 1, 1, 1, 1, 0, 0])
    return key, item, positive, folds


def test_co_use_scores_an_app_used_alongside_the_users_other_apps() -> None:
    key, item, positive, folds = _toy()
    feature = co_use(key, item, positive, folds)
    # app 0 was used with app 1 by both of its users: cosine 2 / sqrt(2 * 3); app 2 by nobody
    assert np.isclose(feature[5], 2 / np.sqrt(6)) and feature[6] == 0.0


def test_co_use_of_a_fold_ignores_that_folds_labels_and_the_rows_own_app() -> None:
    key, item, positive, folds = _toy()
    flipped = positive.copy()
    flipped[folds == 0] = True  # fold 0's own labels must not reach fold 0's feature
    assert np.array_equal(co_use(key, item, positive, folds)[5:], co_use(key, item, flipped, folds)[5:])
    # a row whose app is the only one its user has used elsewhere has no history
    key, item = np.array([0, 0]), np.array([3, 3])
    assert co_use(key, item, np.array([True, True]), np.array([0, 1])).tolist() == [0.0, 0.0]
