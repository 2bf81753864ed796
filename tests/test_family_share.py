"""bench/family_share.py holds one family at a share and keeps the others in the stacker's ratio."""

from __future__ import annotations

import numpy as np

from bench.family_share import held_at


def test_the_others_keep_their_ratio_and_the_shares_sum_to_one():
    weights = np.array([0.1, 0.3, 0.6])
    held = held_at(weights, 0, 0.2)
    np.testing.assert_allclose(held, [0.2, 0.8 / 3, 1.6 / 3])
    np.testing.assert_allclose(held_at(weights, 2, 0.0), [0.25, 0.75, 0.0])


def test_others_the_stacker_zeroed_share_equally():
    np.testing.assert_allclose(held_at(np.array([1.0, 0.0, 0.0]), 0, 0.4), [0.4, 0.3, 0.3])
