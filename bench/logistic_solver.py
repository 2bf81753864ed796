"""The class-balanced logistic fit: the NumPy Newton solver toss had against sklearn's LogisticRegression.

    nice .venv/bin/python -m bench.logistic_solver --rows 10000000 --repeats 3

Every fit minimises the same loss (the class-balanced log loss of σ(x @ params), an intercept included):
the NumPy Newton solver toss used until issue 22 (exact Hessian, Armijo steps, float64; kept here as the
reference), and sklearn's LogisticRegression with class_weight="balanced" and no penalty (C = inf), by
lbfgs (its default) and by newton-cholesky — the last as toss now calls it (`fit_balanced_logistic`)
and with tol 1e-8. Two shapes: the calibrator (one logit column, the OOF rows of a whole run) and the
stacker (three families' logits). Prints a Markdown table: the best of `repeats` runs (wall and CPU
seconds, all threads) and the loss each reached.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from scipy.special import expit

from toss_core.scoring.calibration import balanced_shift, balanced_weights, fit_balanced_logistic

Fit = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (x with an intercept column, y) -> params


def _data(rows: int, members: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Members' logits of a ~2% click rate: noisy, differently scaled views of one true logit, and a
    column of ones."""
    rng = np.random.default_rng(seed)
    eta = -4.2 + 1.3 * rng.standard_normal(rows)
    y = rng.random(rows) < expit(eta)
    z = [(0.6 + 0.2 * m) * eta + 0.5 * rng.standard_normal(rows) for m in range(members)]
    return np.column_stack([*z, np.ones(rows)]), y


def _start(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    members = x.shape[1] - 1
    return np.r_[np.full(members, 1.0 / members), balanced_shift(y)]


def _loss(x: np.ndarray, y: np.ndarray, params: np.ndarray) -> float:
    s = x @ params
    return float(balanced_weights(y) @ np.logaddexp(0.0, np.where(y, -s, s)))


def _numpy_newton(x: np.ndarray, y: np.ndarray, iters: int = 50) -> np.ndarray:
    """The solver toss had: Newton steps with the exact Hessian, halved until the loss drops (Armijo)."""
    sign, weight = np.where(y, -1.0, 1.0), balanced_weights(y)
    params = _start(x, y)

    def terms(params: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        m = sign * (x @ params)
        p = expit(m)
        h = weight * p * (1.0 - p)
        return float(weight @ np.logaddexp(0.0, m)), x.T @ (weight * sign * p), (x * h[:, None]).T @ x

    loss, grad, hess = terms(params)
    for _ in range(iters):
        step = np.linalg.solve(hess + 1e-12 * (np.trace(hess) + 1.0) * np.eye(params.size), grad)
        decrease = float(grad @ step)
        if decrease < 2e-14:
            break
        t = 1.0
        while t > 1e-12:
            candidate = params - t * step
            if float(weight @ np.logaddexp(0.0, sign * (x @ candidate))) <= loss - 1e-4 * t * decrease:
                break
            t *= 0.5
        else:
            break
        params = candidate
        loss, grad, hess = terms(params)
    return params


def _sklearn(solver: str, tol: float) -> Fit:
    from sklearn.linear_model import LogisticRegression

    def fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        model = LogisticRegression(
            C=np.inf, class_weight="balanced", solver=solver, tol=tol, fit_intercept=False, max_iter=1000
        )
        return model.fit(x, y).coef_[0]

    return fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    solvers: dict[str, Fit] = {
        "NumPy Newton (toss before issue 22)": _numpy_newton,
        "sklearn lbfgs": _sklearn("lbfgs", 1e-4),
        "sklearn newton-cholesky (toss now)": lambda x, y: fit_balanced_logistic(x, y, _start(x, y)),
        "sklearn newton-cholesky, tol 1e-8": _sklearn("newton-cholesky", 1e-8),
    }
    print(f"{args.rows:,} rows, best of {args.repeats}\n")
    print("| fit | solver | wall s | CPU s | balanced log loss | coefficients, intercept |")
    print("|---|---|---:|---:|---:|---|")
    for shape, members in (("calibrator", 1), ("stacker", 3)):
        x, y = _data(args.rows, members, seed=members)
        for name, fit in solvers.items():
            times = []
            for _ in range(args.repeats):
                started, cpu = time.perf_counter(), time.process_time()
                params = fit(x, y)
                times.append((time.perf_counter() - started, time.process_time() - cpu))
            wall, cpu = min(times)
            shown = ", ".join(f"{v:.5f}" for v in params)
            print(
                f"| {shape} | {name} | {wall:.2f} | {cpu:.2f} | {_loss(x, y, params):.10f} | {shown} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
