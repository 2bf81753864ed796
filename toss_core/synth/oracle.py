"""What the planted truth says: the oracle Score of a test set and each effect's share of the logit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from toss_core.scoring.metrics import evaluate_logits, logit, prior_shift
from toss_core.synth.click import SPLIT_TEST, click_model, iter_blocks


def truth_effects(seed: int, test_rows: int, seq_len_scale: float = 1.0) -> dict[str, np.ndarray]:
    """Each planted effect's contribution to the true logit of every TEST row (file order), regenerated
    from the seed: what bench/quality.py regresses model logits on to see which effects a model learned.
    Costs about as much as generating the test file."""
    p, _ = click_model(seed, seq_len_scale)
    parts: dict[str, list[np.ndarray]] = {}
    for _, _, block in iter_blocks(p, seed, SPLIT_TEST, test_rows, seq_len_scale):
        for name, values in block.effects.items():
            parts.setdefault(name, []).append(values)
    return {name: np.concatenate(values) for name, values in parts.items()}


def oracle_metrics(truth_path: Path) -> dict[str, float]:
    """Score of the planted truth: p_true moved to the 50:50 prior (the WLL optimum) against the
    drawn labels. The ceiling a model can approach on this test set."""
    truth = pq.read_table(truth_path, columns=["clicked", "p_true"])
    y = truth["clicked"].to_numpy().astype(np.float64)
    p_true = truth["p_true"].to_numpy()
    logits = logit(p_true)
    metrics = evaluate_logits(y, prior_shift(logits, from_rate=float(p_true.mean())))
    return {**metrics, "n": int(y.size), "pos_rate": float(y.mean())}
