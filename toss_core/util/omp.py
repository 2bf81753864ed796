"""LightGBM loaded with passive OpenMP waiting (issue 20: "LightGBM's speed on a native id").

libgomp's default makes a thread that reaches a barrier spin for ~300k iterations before it sleeps.
LightGBM opens several short parallel regions per tree leaf; where the machine has fewer free cores than
threads (a shared box, parallel folds), every barrier waits on a descheduled thread while the others
spin. Measured on the 2-core box beside other jobs (bench/lgb_native_ids.py, BENCHMARKS.md issue 20):
83% of LightGBM's samples in libgomp's spin, 0.5 rounds/s where passive waiting gives 13; passive
waiting changes no result. libgomp reads OMP_WAIT_POLICY once, when it is loaded, so the variable is
set only while lightgbm is first imported and restored after (torch's own libgomp keeps its default);
a user's own OMP_WAIT_POLICY always wins.
"""

from __future__ import annotations

import os
import sys

KEY = "OMP_WAIT_POLICY"


def load_lightgbm() -> None:
    """Import lightgbm (once per process) with OMP_WAIT_POLICY=PASSIVE unless the user set it."""
    if "lightgbm" in sys.modules:
        return
    own = KEY in os.environ
    if not own:
        os.environ[KEY] = "PASSIVE"
    try:
        import lightgbm  # noqa: F401
    finally:
        if not own:
            del os.environ[KEY]
