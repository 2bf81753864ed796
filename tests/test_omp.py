"""LightGBM is loaded with passive OpenMP waiting (toss_core/util/omp.py), and only while it loads."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = (
    "import os; from toss_core.util.omp import load_lightgbm; load_lightgbm(); "
    "print('after:', os.environ.get('OMP_WAIT_POLICY'))"
)


def _run(**env: str) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter (libgomp reads the policy once, when loaded) that prints libgomp's settings."""
    base = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    return subprocess.run(
        [sys.executable, "-c", SCRIPT], env={**base, "OMP_DISPLAY_ENV": "VERBOSE", **env},
        capture_output=True, text=True, check=True,
    )  # fmt: skip


def test_lightgbm_loads_with_passive_waiting_and_the_variable_is_restored() -> None:
    out = _run()
    # what libgomp itself took at load: no spinning (its default, unset, spins 300000 times)
    assert "GOMP_SPINCOUNT = '0'" in out.stderr
    assert "after: None" in out.stdout  # torch's own libgomp, loaded later, keeps its default


def test_a_users_own_wait_policy_wins() -> None:
    out = _run(OMP_WAIT_POLICY="ACTIVE")
    assert "OMP_WAIT_POLICY = 'ACTIVE'" in out.stderr
    assert "GOMP_SPINCOUNT = '0'" not in out.stderr
    assert "after: ACTIVE" in out.stdout
