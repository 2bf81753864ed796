"""How much an id column's values can be learned from: the training rows of the rarer class per value.

Why one definition: LightGBM's native-vs-target choice (gbdt.native_min_events) and the network's choice to
embed an id (model.embed_min_events) weigh the same evidence, so they read it from one place."""

from __future__ import annotations


def minority_events_per_value(n_rows: int, pos_rate: float, cardinality: int) -> float:
    """Training rows of the rarer class per value of a column, on average: where this is small, a value's
    own parameter (a LightGBM category, an embedding row) can only memorise its few clicks."""
    return n_rows * min(pos_rate, 1.0 - pos_rate) / max(cardinality, 1)
