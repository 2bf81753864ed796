"""Checks of the column roles a config names, made when it is loaded: nothing here reads a file.

A column listed twice (LightGBM stops on it with its own error after the caches are built), a regular
expression that does not compile, a column with two roles, and a test file that is the train file are
all found before any work starts.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any


def _duplicates(values: list[str]) -> list[str]:
    return sorted(v for v, n in Counter(values).items() if n > 1)


def column_problems(cfg: Any) -> list[str]:
    """What is wrong with data.* and sequence.* column roles, one sentence each naming the key."""
    d, seq = cfg.data, cfg.sequence
    problems = []
    lists = {
        "data.cat_cols": d.cat_cols,
        "data.num_cols_explicit": d.num_cols_explicit or [],
        "sequence.query_key": seq.query_key,
        "features.covis.id_cols": cfg.features.covis.id_cols,
        "features.covis.target_cols": cfg.features.covis.target_cols,
    }
    for key, values in lists.items():
        if dup := _duplicates(values):
            problems.append(f"{key} lists {dup} more than once")
    problems += _cross_problems(cfg.features.covis.cross_cols, d.cat_cols)
    for i, pattern in enumerate(d.num_patterns):
        try:
            re.compile(pattern)
        except re.error as exc:
            problems.append(f"data.num_patterns[{i}] {pattern!r} is not a valid regular expression ({exc})")
    roles = {"data.label_col": d.label_col, "data.id_col": d.id_col, "sequence.col": seq.col}
    for key, col in roles.items():
        if col is not None and col in d.cat_cols:
            problems.append(f"{key} '{col}' is also in data.cat_cols: a column has one role")
        if col is not None and col in (d.num_cols_explicit or []):
            problems.append(f"{key} '{col}' is also in data.num_cols_explicit: a column has one role")
    if seq.col is not None and not seq.query_key:
        problems.append(
            f"sequence.query_key is empty (its default names no column of data.cat_cols {d.cat_cols}): "
            f"with a sequence (sequence.col '{seq.col}') DARE builds its query from it; name categorical "
            "column(s) of data.cat_cols, or set sequence.col: null"
        )
    if d.source == "parquet" and _same_path(d.train_path, d.test_path):
        problems.append(
            f"data.test_path is data.train_path ({d.train_path}): the test rows must be a file of their own"
        )
    return problems


def _cross_problems(crosses: Any, cat_cols: list[str]) -> list[str]:
    """features.covis.cross_cols given as a list: each entry two different columns of data.cat_cols."""
    if crosses == "auto":
        return []
    problems = []
    for i, pair in enumerate(crosses):
        if len(pair) != 2 or pair[0] == pair[1]:
            problems.append(f"features.covis.cross_cols[{i}] is {pair}: a cross is two different columns")
        elif stray := [c for c in pair if c not in cat_cols]:
            problems.append(
                f"features.covis.cross_cols[{i}] names {stray}, which are not in data.cat_cols {cat_cols}"
            )
    return problems


def _same_path(a: str, b: str) -> bool:
    """The two config paths name one file (compared as written and once resolved)."""
    from pathlib import Path

    return a == b or Path(a).resolve() == Path(b).resolve()
