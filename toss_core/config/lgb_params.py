"""gbdt.params checked against LightGBM itself when the config is loaded, not when a fold trains.

LightGBM ignores a parameter name it does not know (with a warning nobody reads) and rejects a bad value
with its own error only once the caches are built: a name is checked against LightGBM's list of
parameters and aliases, and the values by building a booster on four rows (a few milliseconds).
"""

from __future__ import annotations

import difflib
import json
import re
from functools import lru_cache
from typing import Any

from toss_core.util.omp import load_lightgbm


@lru_cache(maxsize=1)
def lightgbm_names() -> frozenset[str]:
    """Every parameter name and alias LightGBM accepts."""
    load_lightgbm()
    from lightgbm.basic import _ConfigAliases

    return frozenset(n for names in _ConfigAliases._get_all_param_aliases().values() for n in [*names])


def lightgbm_param_problems(params: dict[str, Any]) -> list[str]:
    """Unknown names (with the nearest valid one), then LightGBM's own complaint about the values."""
    names = lightgbm_names()
    problems = []
    for key in params:
        if key not in names:
            near = difflib.get_close_matches(key, sorted(names), n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            problems.append(f"gbdt.params.{key} is not a LightGBM parameter{hint}")
    return problems or list(_value_problems(json.dumps(params, sort_keys=True)))


@lru_cache(maxsize=256)
def _value_problems(params_json: str) -> tuple[str, ...]:
    """LightGBM's complaint about a JSON-encoded parameter mapping (cached: probes repeat them)."""
    load_lightgbm()
    import lightgbm as lgb
    import numpy as np

    params = json.loads(params_json)
    x, y = np.arange(8, dtype=np.float64).reshape(4, 2), np.array([0.0, 1.0, 0.0, 1.0])
    try:
        lgb.Booster(
            {"objective": "binary", **params, "verbose": -1}, lgb.Dataset(x, y, params={"verbose": -1})
        )
    except (lgb.basic.LightGBMError, ValueError, TypeError) as exc:
        message = re.sub(r" at \S+, line \d+ ?\.?$", "", re.sub(r"\s+", " ", str(exc)).strip())
        return (f"gbdt.params {params} is refused by LightGBM: {message}",)
    return ()
