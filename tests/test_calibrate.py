"""Temperature scaling with bias, fitted against the class-balanced log loss (the metric's WLL)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from toss_core.config import CalibrationConfig
from toss_core.scoring.calibration import Calibrator, balanced_shift, fit_calibrator, fit_temperature
from toss_core.scoring.metrics import sigmoid, weighted_logloss


def _bernoulli(z: np.ndarray, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random(z.size) < sigmoid(z)).astype(np.float32)


def test_recovers_known_slope_and_bias():
    # Labels drawn from σ(0.6·z − 3.5): the WLL-optimal map is σ(0.6·z − 3.5 + log((1−π)/π)),
    # the true log-odds moved from the sample's rate π to the 50:50 prior.
    rng = np.random.default_rng(0)
    z = rng.normal(0.0, 2.0, 60_000)
    y = _bernoulli(0.6 * z - 3.5, seed=1)
    cal = fit_temperature(z, y)
    assert cal.a == pytest.approx(0.6, abs=0.04)
    assert cal.b == pytest.approx(-3.5 + balanced_shift(y), abs=0.1)


def test_lowers_wll_of_a_bce_model_at_two_percent_prior():
    # A perfectly calibrated BCE model at a ~2% click rate: its probabilities are right for the base
    # rate, far too low for WLL. Calibration must learn b ≈ log(0.98/0.02) ≈ 3.9 and lower the WLL.
    rng = np.random.default_rng(2)
    z = rng.normal(-4.6, 1.2, 50_000)
    y = _bernoulli(z, seed=3)
    assert 0.01 < y.mean() < 0.04
    cal = fit_temperature(z, y)
    before = weighted_logloss(y, sigmoid(z))
    after = weighted_logloss(y, cal.predict_proba(z))
    assert after < before - 0.2
    assert cal.a == pytest.approx(1.0, abs=0.1)
    assert cal.b == pytest.approx(balanced_shift(y), abs=0.3)
    assert balanced_shift(y) > 3.0


def test_fit_is_deterministic_and_bounded_by_iters():
    rng = np.random.default_rng(4)
    z = rng.normal(0.0, 1.5, 20_000)
    y = _bernoulli(z - 2.0, seed=5)
    first, again = fit_temperature(z, y), fit_temperature(z, y)
    assert first == again
    with pytest.warns(ConvergenceWarning):
        one_step = fit_temperature(z, y, iters=1)  # bounded by iters: not yet at the optimum
    assert weighted_logloss(y, one_step.predict_proba(z)) > weighted_logloss(y, first.predict_proba(z))


def test_disabled_calibration_is_the_identity():
    z = np.array([-2.0, 0.0, 3.0])
    cal = fit_calibrator(CalibrationConfig(enabled=False), z, np.array([0, 1, 1]))
    assert cal == Calibrator()
    np.testing.assert_array_equal(cal.apply(z), z)


def test_round_trip_and_single_class_error():
    cal = Calibrator(a=0.8, b=3.9, method="temperature")
    assert Calibrator.from_dict(cal.to_dict()) == cal
    with pytest.raises(ValueError, match="both classes"):
        fit_temperature(np.zeros(10), np.zeros(10))
