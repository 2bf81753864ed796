"""bench/leaf_network.py: fold k's tree leaves come from trees that saw only fold k's training rows."""

from __future__ import annotations

import argparse

import numpy as np

from bench.leaf_network import fold_leaves


def _leaves(label: np.ndarray, x: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    args = argparse.Namespace(trees=4, leaves=8, tree_lr=0.3, min_leaf_rows=20, seed_trees=0)
    return fold_leaves(args, 1, x, x[:50], label, train, n_cat=1)


def test_the_trees_learn_from_the_training_rows_only():
    rng = np.random.default_rng(3)
    n = 2_000
    x = np.column_stack([rng.integers(0, 5, n), rng.normal(size=(n, 2))]).astype(np.float32)
    label = (rng.random(n) < 1 / (1 + np.exp(-2 * x[:, 1]))).astype(np.float32)
    train = rng.random(n) < 0.7
    leaves, test_leaves = _leaves(label, x, train)
    assert leaves.shape == (n, 4) and test_leaves.shape == (50, 4)
    assert len(np.unique(leaves[:, 0])) > 1

    held_out_flipped = label.copy()
    held_out_flipped[~train] = 1 - held_out_flipped[~train]
    again, test_again = _leaves(held_out_flipped, x, train)
    np.testing.assert_array_equal(leaves, again)
    np.testing.assert_array_equal(test_leaves, test_again)

    # the check has teeth: the training rows' labels do shape the trees (all flipped would only mirror them)
    shuffled = label.copy()
    shuffled[train] = rng.permutation(shuffled[train])
    assert (_leaves(shuffled, x, train)[0] != leaves).any()
