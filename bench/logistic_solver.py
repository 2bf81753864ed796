"""The class-balanced logistic fit: toss's Newton solver against sklearn's LogisticRegression.

    nice .venv/bin/python -m bench.logistic_solver --rows 10000000 --repeats 3

Both fits minimise the same loss (the class-balanced log loss of σ(x @ params), an intercept included):
toss's `fit_balanced_logistic` (exact Hessian, Armijo steps, float64) and sklearn's LogisticRegression
with class_weight="balanced" and no penalty (C = inf), by lbfgs (its default) and by newton-cholesky.
Two shapes: the calibrator (one logit column, the OOF rows of a whole run) and the stacker (three
families' logits). Prints a Markdown table: the best of `repeats` wall times, and the loss each reached.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from toss_core.scoring.calibration import balanced_shift, balanced_weights, fit_balanced_logistic


def _data(rows: int, members: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Members' logits of a ~2% click rate: noisy, differently scaled views of one true logit."""
    rng = np.random.default_rng(seed)
    eta = -4.2 + 1.3 * rng.standard_normal(rows)
    y = rng.random(rows) < 1.0 / (1.0 + np.exp(-eta))
    z = np.stack([(0.6 + 0.2 * m) * eta + 0.5 * rng.standard_normal(rows) for m in range(members)], axis=1)
    return z, y


def _loss(z: np.ndarray, y: np.ndarray, coef: np.ndarray, intercept: float) -> float:
    """The class-balanced log loss of σ(z @ coef + intercept)."""
    s = z @ coef + intercept
    return float(balanced_weights(y) @ np.logaddexp(0.0, np.where(y, -s, s)))


def _newton(z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    x = np.column_stack([z, np.ones(len(y))])
    start = np.r_[np.ones(z.shape[1]) / z.shape[1], balanced_shift(y)]
    params = fit_balanced_logistic(x, y, start)
    return params[:-1], float(params[-1])


def _sklearn(solver: str) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, float]]:
    from sklearn.linear_model import LogisticRegression

    def fit(z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
        model = LogisticRegression(C=np.inf, class_weight="balanced", solver=solver, max_iter=1000)
        model.fit(z, y)
        return model.coef_[0], float(model.intercept_[0])

    return fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    solvers = {
        "toss Newton (fit_balanced_logistic)": _newton,
        "sklearn lbfgs": _sklearn("lbfgs"),
        "sklearn newton-cholesky": _sklearn("newton-cholesky"),
    }
    print(f"{args.rows:,} rows, best of {args.repeats}\n")
    print("| fit | solver | seconds | balanced log loss | coefficients, intercept |")
    print("|---|---|---:|---:|---|")
    for shape, members in (("calibrator", 1), ("stacker", 3)):
        z, y = _data(args.rows, members, seed=members)
        for name, fit in solvers.items():
            times = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                coef, intercept = fit(z, y)
                times.append(time.perf_counter() - started)
            params = ", ".join(f"{v:.5f}" for v in [*coef, intercept])
            loss = _loss(z, y, coef, intercept)
            print(f"| {shape} | {name} | {min(times):.2f} | {loss:.8f} | {params} |", flush=True)


if __name__ == "__main__":
    main()
