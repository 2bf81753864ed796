"""Synthetic data with the exact Toss schema and a planted, known click model.

Why: the pipeline must run end to end without the 10.7M-row competition files, and the planted truth
gives an oracle Score, so a model's distance to the best achievable Score is known.

Files written into `out_dir`: train.parquet (TOSS_COLUMNS), test.parquet (TEST_COLUMNS: `ID` first,
TEST_0000000…, no label), test_truth.parquet (ID, clicked, p_true) and synth_meta.json (parameters,
oracle metrics, generator version; written last, so its presence means the files are complete).

Rows are generated in blocks of BLOCK_ROWS, each from its own RNG stream derived from
(seed, split, block index); the ad-side tables (ids, hierarchy, effects) are drawn once from the seed
and shared by train and test. Row content therefore does not depend on `chunk_rows`, which only
sets the Parquet row-group size and the memory bound (one chunk + one block is held at a time).

The sequence `seq` is a user's history of tokens (VOCAB_SIZE = 480 tokens in N_CLUSTERS = 16 latent
interest clusters of 30 tokens; Zipf popularity inside a cluster). Each user has 3 interest clusters
with Dirichlet weights; the history is a sequence of runs (a run switches cluster with probability
0.2 per token) whose cluster is drawn from the user's interests, so nearby tokens co-occur
(co-visitation is meaningful) and the recent tokens reveal the current interest. Lengths are
lognormal: median 450·seq_len_scale, σ = 0.9, clipped to [1, 14000].

The ad hierarchy: creative (l_feat_12, 5000) → ad set (l_feat_14, 3200) → campaign (l_feat_11, 1500);
a row's creative is drawn from a lognormal popularity. Each ad set targets one interest cluster.
l_feat_2..10 are creative attributes, l_feat_1/13/16 are Bernoulli(0.3/0.5/0.15); the other numeric
columns are driven by a 4-dimensional user factor plus noise. Columns not in the table below carry
no direct effect (only their correlation with the user factor).

True click logit η = b0 + Σ effects below; p_true = sigmoid(η); clicked ~ Bernoulli(p_true).
x_col is the standardised latent value behind a numeric column (the column itself is a monotone
transform of it: identity, exp, count or rate), `recent` = the last RECENT_K = 16 tokens of seq.

| effect                        | form                                                      | size      |
|-------------------------------|-----------------------------------------------------------|-----------|
| intercept b0                  | solved by bisection on a sample for a 1.9% click rate     | ≈ −4.6    |
| inventory_id                  | table, one value per inventory                            | sd 0.5    |
| age_group / gender            | table / +0.12 for "2.0"                                   | sd 0.2    |
| hour / day_of_week            | 0.15·cos(2π(h−21)/24) / table                             | 0.15/0.06 |
| ad set / campaign / creative  | tables on l_feat_14 / l_feat_11 / l_feat_12               | sd .45/.35/.2 |
| l_feat_1 (binary)             | +0.3·l_feat_1                                             | 0.3       |
| history_a_1 (saturating)      | 0.6·tanh(1.5·x)                                           | ±0.6      |
| feat_a_3 (hinge)              | 0.4·max(x, 0)                                             | 0.4 per sd|
| history_b_2 (quadratic)       | −0.25·x²                                                  | 0.25      |
| feat_e_3 (periodic; 10% null) | 0.3·sin(2x)                                               | ±0.3      |
| inventory × age_group         | table [18, 8]                                             | sd 0.3    |
| hour × inventory              | +0.5 at night (0–5 h) for 4 inventories                   | 0.5       |
| history_a_1 × l_feat_16       | 0.4·x·l_feat_16                                           | 0.4 per sd|
| target-aware sequence         | 2.0 · share of `recent` in the ad set's cluster           | 0 … 2.0   |
| inventory × recent interests  | mean over `recent` of G[inventory, token cluster]         | sd 0.4    |
| sequence length               | 0.3·tanh((ln len − ln median)/0.9)                        | ±0.3      |

Null blocks (independent of the click model, which sees the latent values): 0.16% of rows lose
gender, age_group, feat_b/c/d/e and history_a/b together; 0.18% lose all feat_a; feat_e_3 is null in
10% of rows. The oracle prediction is p_true moved to the 50:50 prior (what WLL rewards), scored
against the drawn test labels.
"""

from __future__ import annotations

import functools
import json
import logging
import operator
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from toss_core.atomic import atomic_path, write_json
from toss_core.metrics import evaluate_logits, prior_only_score, prior_shift, sigmoid
from toss_core.progress import Progress

log = logging.getLogger("toss")

GENERATOR_VERSION = "toss-synth/2"
CLICK_RATE = 0.019
BLOCK_ROWS = 8192
RECENT_K = 16

VOCAB_SIZE = 480
N_CLUSTERS = 16
TOKENS_PER_CLUSTER = VOCAB_SIZE // N_CLUSTERS
USER_INTERESTS = 3
RUN_SWITCH_BYTE = 51  # a run switches cluster when a random byte < 51: probability 51/256 ≈ 0.2
_LUT_BITS = 12  # token ranks drawn through a 4096-entry inverse-CDF table (fast, 1/4096 resolution)
SEQ_MEDIAN = 450.0
SEQ_SIGMA = 0.9
SEQ_MAX = 14_000

N_CAMPAIGN, N_ADSET, N_CREATIVE = 1500, 3200, 5000
INVENTORY_VALUES = ["2", "3", "11", "16", "21", "24", "29", "31", "36", "37", "39", "42", "43", "46", "88",
                    "91", "92", "95"]  # fmt: skip
GENDER_VALUES = ["1.0", "2.0"]
AGE_VALUES = [f"{i}.0" for i in range(1, 9)]
DOW_VALUES = [str(i) for i in range(1, 8)]
HOUR_VALUES = [str(i) for i in range(24)]

CAT_COLUMNS = ["gender", "age_group", "inventory_id", "day_of_week", "hour"]
NUM_GROUPS = {
    "l_feat": 27,
    "feat_e": 10,
    "feat_d": 6,
    "feat_c": 8,
    "feat_b": 6,
    "feat_a": 18,
    "history_a": 7,
    "history_b": 30,
}
NUM_COLUMNS = [f"{group}_{i}" for group, n in NUM_GROUPS.items() for i in range(1, n + 1)]
TOSS_COLUMNS = [*CAT_COLUMNS, "seq", *NUM_COLUMNS, "clicked"]
TEST_COLUMNS = ["ID", *TOSS_COLUMNS[:-1]]
TRUTH_COLUMNS = ["ID", "clicked", "p_true"]

ID_FEATS = {"l_feat_11": "campaign", "l_feat_12": "creative", "l_feat_14": "adset"}
BINARY_FEATS = {"l_feat_1": 0.3, "l_feat_13": 0.5, "l_feat_16": 0.15}  # P(value = 1)
AD_FEATS = [f"l_feat_{i}" for i in range(2, 11)]  # attributes of the creative
LATENT_COLUMNS = [c for c in NUM_COLUMNS if c not in ID_FEATS and c not in BINARY_FEATS and c not in AD_FEATS]
LATENT_INDEX = {name: j for j, name in enumerate(LATENT_COLUMNS)}
USER_DIM = 4
# 0 gaussian, 1 exp (skewed positive), 2 count, 3 rate in [0, 1]
_TRANSFORMS_BY_GROUP = {"l_feat": (0, 2), "feat": (0, 1, 2), "history": (1, 2, 3)}
NULL_BLOCK_COLS = ["gender", "age_group"] + [
    c for c in NUM_COLUMNS if c.startswith(("feat_b", "feat_c", "feat_d", "feat_e", "history_"))
]
NULL_BLOCK_RATE, NULL_FEAT_A_RATE, NULL_FEAT_E3_RATE = 0.0016, 0.0018, 0.10


def _arrow_type(column: str) -> pa.DataType:
    if column in ("ID", *CAT_COLUMNS, "seq"):
        return pa.string()
    return pa.int32() if column == "clicked" else pa.float32()


TRAIN_SCHEMA = pa.schema([(c, _arrow_type(c)) for c in TOSS_COLUMNS])
TEST_SCHEMA = pa.schema([(c, _arrow_type(c)) for c in TEST_COLUMNS])
TRUTH_SCHEMA = pa.schema([("ID", pa.string()), ("clicked", pa.int32()), ("p_true", pa.float64())])


@dataclass(frozen=True)
class _Params:
    """Everything drawn once from the seed: vocabulary, ad hierarchy, effect tables."""

    token_of: np.ndarray  # [N_CLUSTERS, TOKENS_PER_CLUSTER] raw token values
    token_cluster: np.ndarray  # [VOCAB_SIZE + 1] cluster of a raw token value
    token_lut: np.ndarray  # [N_CLUSTERS << _LUT_BITS] int16: (cluster, 12-bit uniform) -> raw token
    cluster_cdf: np.ndarray
    creative_cdf: np.ndarray
    creative_adset: np.ndarray
    adset_campaign: np.ndarray
    adset_cluster: np.ndarray
    campaign_ids: np.ndarray
    adset_ids: np.ndarray
    creative_ids: np.ndarray
    creative_attrs: np.ndarray  # [N_CREATIVE, len(AD_FEATS)]
    gender_cdf: np.ndarray
    age_cdf: np.ndarray
    inventory_cdf: np.ndarray
    hour_cdf: np.ndarray
    loadings: np.ndarray  # [len(LATENT_COLUMNS), USER_DIM]
    noise_scale: np.ndarray
    transform: np.ndarray
    eff_inventory: np.ndarray
    eff_age: np.ndarray
    eff_dow: np.ndarray
    eff_adset: np.ndarray
    eff_campaign: np.ndarray
    eff_creative: np.ndarray
    eff_inv_age: np.ndarray
    night_inventory: np.ndarray  # [18] 0/1
    eff_inv_cluster: np.ndarray  # [18, N_CLUSTERS]


def _cdf(weights: np.ndarray) -> np.ndarray:
    return np.cumsum(weights) / weights.sum()


def _zipf_cdf(n: int, s: float) -> np.ndarray:
    return _cdf(1.0 / np.arange(1, n + 1) ** s)


def _token_lut(token_of: np.ndarray, rank_cdf: np.ndarray) -> np.ndarray:
    levels = (np.arange(1 << _LUT_BITS) + 0.5) / (1 << _LUT_BITS)
    rank = np.minimum(np.searchsorted(rank_cdf, levels, side="right"), rank_cdf.size - 1)
    return token_of[:, rank].astype(np.int16).ravel()


def _cover(rng: np.random.Generator, n_parents: int, n_children: int) -> np.ndarray:
    """Parent of each child such that every parent has at least one child."""
    parent = np.concatenate([np.arange(n_parents), rng.integers(0, n_parents, n_children - n_parents)])
    return rng.permutation(parent)


def _draw_params(seed: int) -> _Params:
    rng = np.random.default_rng([seed, 0])
    perm = rng.permutation(VOCAB_SIZE) + 1
    token_of = perm.reshape(N_CLUSTERS, TOKENS_PER_CLUSTER)
    token_cluster = np.zeros(VOCAB_SIZE + 1, np.int64)
    token_cluster[token_of.ravel()] = np.repeat(np.arange(N_CLUSTERS), TOKENS_PER_CLUSTER)
    cluster_w = rng.permutation(1.0 / np.arange(1, N_CLUSTERS + 1) ** 0.8)
    creative_w = rng.lognormal(0.0, 1.2, N_CREATIVE)
    n_lat = len(LATENT_COLUMNS)
    transform = np.array(
        [
            rng.choice(_TRANSFORMS_BY_GROUP["l_feat" if c.startswith("l_") else c.split("_")[0]])
            for c in LATENT_COLUMNS
        ]
    )
    loadings = rng.normal(0.0, 0.35, (n_lat, USER_DIM))
    noise_scale = np.sqrt(np.clip(1.0 - (loadings**2).sum(1), 0.1, None))
    n_inv = len(INVENTORY_VALUES)
    night = np.zeros(n_inv)
    night[rng.choice(n_inv, 4, replace=False)] = 1.0
    return _Params(
        token_of=token_of,
        token_cluster=token_cluster,
        token_lut=_token_lut(token_of, _zipf_cdf(TOKENS_PER_CLUSTER, 1.1)),
        cluster_cdf=_cdf(cluster_w),
        creative_cdf=_cdf(creative_w),
        creative_adset=_cover(rng, N_ADSET, N_CREATIVE),
        adset_campaign=_cover(rng, N_CAMPAIGN, N_ADSET),
        adset_cluster=rng.integers(0, N_CLUSTERS, N_ADSET),
        campaign_ids=np.sort(rng.choice(20_000, N_CAMPAIGN, replace=False)).astype(np.float64),
        adset_ids=np.sort(rng.choice(40_000, N_ADSET, replace=False)).astype(np.float64),
        creative_ids=np.sort(rng.choice(60_000, N_CREATIVE, replace=False)).astype(np.float64),
        creative_attrs=np.round(rng.lognormal(0.0, 1.0, (N_CREATIVE, len(AD_FEATS))), 2),
        gender_cdf=_cdf(np.array([0.52, 0.48])),
        age_cdf=_cdf(rng.dirichlet(np.full(len(AGE_VALUES), 4.0))),
        inventory_cdf=_cdf(rng.lognormal(0.0, 1.0, n_inv)),
        hour_cdf=_cdf(1.0 + 0.7 * np.sin(2 * np.pi * (np.arange(24) - 8) / 24)),
        loadings=loadings,
        noise_scale=noise_scale,
        transform=transform,
        eff_inventory=rng.normal(0.0, 0.5, n_inv),
        eff_age=rng.normal(0.0, 0.2, len(AGE_VALUES)),
        eff_dow=rng.normal(0.0, 0.06, len(DOW_VALUES)),
        eff_adset=rng.normal(0.0, 0.45, N_ADSET),
        eff_campaign=rng.normal(0.0, 0.35, N_CAMPAIGN),
        eff_creative=rng.normal(0.0, 0.2, N_CREATIVE),
        eff_inv_age=rng.normal(0.0, 0.3, (n_inv, len(AGE_VALUES))),
        night_inventory=night,
        eff_inv_cluster=rng.normal(0.0, 0.4, (n_inv, N_CLUSTERS)),
    )


def _pick(rng: np.random.Generator, cdf: np.ndarray, n: int) -> np.ndarray:
    """n draws of an index from a cumulative distribution (inverse-CDF, vectorised)."""
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), cdf.size - 1)


@dataclass
class _Block:
    """One block of rows before it becomes Arrow: category indices, numeric values, null masks,
    the flat token array with per-row lengths, and the true logit without the intercept."""

    n: int
    cat_idx: dict[str, np.ndarray]
    num: dict[str, np.ndarray]
    null: dict[str, np.ndarray]
    lengths: np.ndarray  # tokens per row in `tokens` (the full length unless drawn recent_only)
    tokens: np.ndarray
    eta: np.ndarray
    effects: dict[str, np.ndarray]  # each planted effect's share of eta (they sum to it)


def _observe(latent: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """Turn standardised latents [column, row] into the kinds of values the real columns hold."""
    kinds = {
        0: lambda x: x,
        1: lambda x: np.exp(0.7 * x),
        2: lambda x: np.floor(np.exp(0.8 * x + 0.5)),
        3: lambda x: np.round(1.0 / (1.0 + np.exp(1.0 - 1.5 * x)), 3),
    }
    out = np.empty_like(latent)
    for kind, f in kinds.items():
        rows = transform == kind
        out[rows] = f(latent[rows])
    return out


def _draw_sequences(
    p: _Params, rng: np.random.Generator, n: int, seq_len_scale: float, keep_last: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row lengths and the flat token array: runs of one interest cluster, Zipf tokens inside.

    With keep_last, tokens are drawn only for the last min(length, keep_last) positions of each row.
    Run clusters are i.i.d. draws from the user's interests and run breaks are memoryless, so those
    tokens have exactly the distribution of the tail of the full sequence (cheap intercept sampling)."""
    median = max(SEQ_MEDIAN * seq_len_scale, 1.0)
    full = np.clip(np.rint(rng.lognormal(np.log(median), SEQ_SIGMA, n)), 1, SEQ_MAX).astype(np.int64)
    lengths = full if keep_last is None else np.minimum(full, keep_last)
    interests = _pick(rng, p.cluster_cdf, n * USER_INTERESTS).reshape(n, USER_INTERESTS)
    weight_cdf = np.cumsum(rng.dirichlet(np.ones(USER_INTERESTS), n), axis=1)
    total = int(lengths.sum())
    starts = np.cumsum(lengths) - lengths
    new_run = np.frombuffer(rng.bytes(total), np.uint8) < RUN_SWITCH_BYTE
    new_run[starts] = True
    run_start = np.flatnonzero(new_run)
    run_row = np.searchsorted(starts, run_start, side="right") - 1
    u = rng.random(run_start.size)
    slot = (u > weight_cdf[run_row, 0]).astype(np.int64) + (u > weight_cdf[run_row, 1])
    run_cluster = interests[run_row, slot]
    cluster = np.repeat(run_cluster.astype(np.int32), np.diff(np.r_[run_start, total]))
    uniform12 = np.frombuffer(rng.bytes(2 * total), np.uint16) >> (16 - _LUT_BITS)
    return full, p.token_lut[(cluster << _LUT_BITS) | uniform12]


def _recent_effects(
    p: _Params, tokens: np.ndarray, lengths: np.ndarray, target_cluster: np.ndarray, inv: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Share of the last RECENT_K tokens in the ad set's cluster, and the inventory's mean affinity to
    their clusters (a loop over the RECENT_K positions, vectorised over rows)."""
    ends = np.cumsum(lengths)
    share = np.zeros(lengths.size)
    affinity = np.zeros(lengths.size)
    for j in range(RECENT_K):
        valid = j < lengths
        cluster = p.token_cluster[tokens[np.where(valid, ends - 1 - j, 0)]]
        share += valid * (cluster == target_cluster)
        affinity += valid * p.eff_inv_cluster[inv, cluster]
    k = np.minimum(lengths, RECENT_K)
    return share / k, affinity / k


def _draw_block(
    p: _Params, rng: np.random.Generator, n: int, seq_len_scale: float, recent_only: bool = False
) -> _Block:
    """One block of rows; recent_only draws just the tokens the click model reads (for calibration)."""
    cat_idx = {
        "gender": _pick(rng, p.gender_cdf, n),
        "age_group": _pick(rng, p.age_cdf, n),
        "inventory_id": _pick(rng, p.inventory_cdf, n),
        "day_of_week": rng.integers(0, len(DOW_VALUES), n),
        "hour": _pick(rng, p.hour_cdf, n),
    }
    creative = _pick(rng, p.creative_cdf, n)
    adset = p.creative_adset[creative]
    campaign = p.adset_campaign[adset]
    num: dict[str, np.ndarray] = {
        "l_feat_11": p.campaign_ids[campaign],
        "l_feat_12": p.creative_ids[creative],
        "l_feat_14": p.adset_ids[adset],
    }
    for name, p_one in BINARY_FEATS.items():
        num[name] = (rng.random(n) < p_one).astype(np.float64)
    attrs = p.creative_attrs[creative]
    for j, name in enumerate(AD_FEATS):
        num[name] = attrs[:, j]
    user = rng.standard_normal((n, USER_DIM))
    noise = rng.standard_normal((len(LATENT_COLUMNS), n), dtype=np.float32)
    latent = p.loadings @ user.T + noise * p.noise_scale[:, None]
    observed = _observe(latent, p.transform)
    for j, name in enumerate(LATENT_COLUMNS):
        num[name] = observed[j]
    lengths, tokens = _draw_sequences(p, rng, n, seq_len_scale, RECENT_K if recent_only else None)
    drawn = np.minimum(lengths, RECENT_K) if recent_only else lengths

    inv, age, hour = cat_idx["inventory_id"], cat_idx["age_group"], cat_idx["hour"]
    x = {c: latent[LATENT_INDEX[c]] for c in ("history_a_1", "feat_a_3", "history_b_2", "feat_e_3")}
    share, affinity = _recent_effects(p, tokens, drawn, p.adset_cluster[adset], inv)
    z_len = (np.log(lengths) - np.log(max(SEQ_MEDIAN * seq_len_scale, 1.0))) / SEQ_SIGMA
    effects = {  # the table in the module docstring, one entry per planted effect
        "inventory_id": p.eff_inventory[inv],
        "age_group": p.eff_age[age],
        "gender": 0.12 * cat_idx["gender"],
        "hour": 0.15 * np.cos(2 * np.pi * (hour - 21) / 24),
        "day_of_week": p.eff_dow[cat_idx["day_of_week"]],
        "ad_set": p.eff_adset[adset],
        "campaign": p.eff_campaign[campaign],
        "creative": p.eff_creative[creative],
        "l_feat_1": 0.3 * num["l_feat_1"],
        "history_a_1": 0.6 * np.tanh(1.5 * x["history_a_1"]),
        "feat_a_3": 0.4 * np.maximum(x["feat_a_3"], 0.0),
        "history_b_2": -0.25 * x["history_b_2"] ** 2,
        "feat_e_3": 0.3 * np.sin(2 * x["feat_e_3"]),
        "inventory_x_age": p.eff_inv_age[inv, age],
        "hour_x_inventory": 0.5 * p.night_inventory[inv] * (hour < 6),
        "history_a_1_x_l_feat_16": 0.4 * x["history_a_1"] * num["l_feat_16"],
        "target_aware_sequence": 2.0 * share,
        "inventory_x_recent_interests": affinity,
        "sequence_length": 0.3 * np.tanh(z_len),
    }
    eta = functools.reduce(operator.add, effects.values())  # left to right, as one long sum

    block = rng.random(n) < NULL_BLOCK_RATE
    feat_a = rng.random(n) < NULL_FEAT_A_RATE
    null = {c: block for c in NULL_BLOCK_COLS}
    null.update({f"feat_a_{i}": feat_a for i in range(1, NUM_GROUPS["feat_a"] + 1)})
    null["feat_e_3"] = block | (rng.random(n) < NULL_FEAT_E3_RATE)
    return _Block(n, cat_idx, num, null, drawn, tokens, eta, effects)


def _token_bytes() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lookup tables for join_tokens: each vocabulary token as one uint32 holding its digits padded
    with commas, its digit count, and for k = 0..4 a uint32 whose first k bytes are 1 (a byte mask)."""
    text = [str(v) for v in range(VOCAB_SIZE + 1)]
    table = np.frombuffer("".join(s.ljust(4, ",") for s in text).encode(), np.uint32)
    masks = np.frombuffer(bytes([int(i < k) for k in range(5) for i in range(4)]), np.uint32)
    return table, np.array([len(s) for s in text], np.uint8), masks


_TOKEN_WORDS, _TOKEN_DIGITS, _BYTE_MASKS = _token_bytes()


def join_tokens(tokens: np.ndarray, lengths: np.ndarray) -> pa.StringArray:
    """Comma-joined strings from a flat token array and per-row lengths (≥ 1), built as one byte
    buffer: every token contributes its digits plus a comma unless it ends its row."""
    ends = np.cumsum(lengths)
    nbytes = _TOKEN_DIGITS[tokens] + np.uint8(1)
    nbytes[ends - 1] -= np.uint8(1)
    data = _TOKEN_WORDS[tokens].view(np.uint8)[_BYTE_MASKS[nbytes].view(np.bool_)]
    row_bytes = np.add.reduceat(nbytes, ends - lengths, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(row_bytes)]).astype(np.int32)
    return pa.StringArray.from_buffers(lengths.size, pa.py_buffer(offsets), pa.py_buffer(data))


_VALUES = {
    "gender": pa.array(GENDER_VALUES),
    "age_group": pa.array(AGE_VALUES),
    "inventory_id": pa.array(INVENTORY_VALUES),
    "day_of_week": pa.array(DOW_VALUES),
    "hour": pa.array(HOUR_VALUES),
}


def _feature_arrays(b: _Block) -> dict[str, pa.Array]:
    cols: dict[str, pa.Array] = {}
    for c in CAT_COLUMNS:
        cols[c] = _VALUES[c].take(pa.array(b.cat_idx[c], mask=b.null.get(c)))
    cols["seq"] = join_tokens(b.tokens, b.lengths)
    for c in NUM_COLUMNS:
        cols[c] = pa.array(b.num[c].astype(np.float32), mask=b.null.get(c))
    return cols


def _test_ids(start: int, n: int) -> pa.Array:
    digits = pc.utf8_lpad(pc.cast(pa.array(np.arange(start, start + n)), pa.string()), width=7, padding="0")
    return pc.binary_join_element_wise("TEST_", digits, "")


def _iter_blocks(
    p: _Params, seed: int, split: int, n_rows: int, seq_len_scale: float, recent_only: bool = False
) -> Iterator[tuple[int, np.random.Generator, _Block]]:
    """Blocks of one split, each from its own stream (seed, split, block index): chunk-size free."""
    for b, start in enumerate(range(0, n_rows, BLOCK_ROWS)):
        rng = np.random.default_rng([seed, split, b])
        yield start, rng, _draw_block(p, rng, min(BLOCK_ROWS, n_rows - start), seq_len_scale, recent_only)


_SPLIT_CALIBRATION, _SPLIT_TRAIN, _SPLIT_TEST = 1, 2, 3


def solve_intercept(p: _Params, seed: int, seq_len_scale: float, rows: int = 8 * BLOCK_ROWS) -> float:
    """The intercept whose mean click probability on a calibration sample is CLICK_RATE (bisection)."""
    blocks = _iter_blocks(p, seed, _SPLIT_CALIBRATION, rows, seq_len_scale, recent_only=True)
    eta = np.concatenate([b.eta for _, _, b in blocks])
    lo, hi = -20.0, 10.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if sigmoid(eta + mid).mean() > CLICK_RATE else (mid, hi)
    return 0.5 * (lo + hi)


@functools.lru_cache(maxsize=4)
def _model(seed: int, seq_len_scale: float) -> tuple[_Params, float]:
    """Parameters and intercept of a seed, cached: the intercept costs a 64k-row calibration sample."""
    p = _draw_params(seed)
    return p, solve_intercept(p, seed, seq_len_scale)


class _ChunkedWriter:
    """Parquet writer whose row groups hold exactly `chunk_rows` rows (the last one fewer)."""

    def __init__(self, path: Path, schema: pa.Schema, chunk_rows: int):
        self.schema = schema
        self.chunk_rows = chunk_rows
        self.writer = pq.ParquetWriter(path, schema, compression="zstd")
        self.buffer: list[pa.Table] = []
        self.buffered = 0

    def add(self, columns: dict[str, pa.Array]) -> None:
        self.buffer.append(pa.Table.from_pydict(columns, schema=self.schema))
        self.buffered += self.buffer[-1].num_rows
        while self.buffered >= self.chunk_rows:
            self._flush(self.chunk_rows)

    def _flush(self, rows: int) -> None:
        table = pa.concat_tables(self.buffer)
        self.writer.write_table(table.slice(0, rows), row_group_size=rows)
        rest = table.slice(rows)
        self.buffer, self.buffered = ([rest] if rest.num_rows else []), rest.num_rows

    def __enter__(self) -> _ChunkedWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None and self.buffered:
            self._flush(self.buffered)
        self.writer.close()


META_NAME = "synth_meta.json"
FILE_NAMES = {"train": "train.parquet", "test": "test.parquet", "truth": "test_truth.parquet"}


@dataclass
class SynthSummary:
    train_path: Path
    test_path: Path
    truth_path: Path
    meta_path: Path
    train_rows: int
    test_rows: int
    click_rate_train: float
    click_rate_test: float
    oracle: dict[str, float]
    prior_score: float
    intercept: float
    seconds: float
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


def synth_params(train_rows: int, test_rows: int, seed: int, seq_len_scale: float) -> dict[str, Any]:
    """What determines the content of the files (chunk_rows does not): reuse iff these match."""
    return {
        "generator_version": GENERATOR_VERSION,
        "train_rows": int(train_rows),
        "test_rows": int(test_rows),
        "seed": int(seed),
        "seq_len_scale": float(seq_len_scale),
    }


def truth_effects(seed: int, test_rows: int, seq_len_scale: float = 1.0) -> dict[str, np.ndarray]:
    """Each planted effect's contribution to the true logit of every TEST row (file order), regenerated
    from the seed: what bench/quality.py regresses model logits on to see which effects a model learned.
    Costs about as much as generating the test file."""
    p, _ = _model(seed, seq_len_scale)
    parts: dict[str, list[np.ndarray]] = {}
    for _, _, block in _iter_blocks(p, seed, _SPLIT_TEST, test_rows, seq_len_scale):
        for name, values in block.effects.items():
            parts.setdefault(name, []).append(values)
    return {name: np.concatenate(values) for name, values in parts.items()}


def oracle_metrics(truth_path: Path) -> dict[str, float]:
    """Score of the planted truth: p_true moved to the 50:50 prior (the WLL optimum) against the
    drawn labels. The ceiling a model can approach on this test set."""
    truth = pq.read_table(truth_path, columns=["clicked", "p_true"])
    y = truth["clicked"].to_numpy().astype(np.float64)
    p_true = truth["p_true"].to_numpy()
    logits = np.log(p_true) - np.log1p(-p_true)
    metrics = evaluate_logits(y, prior_shift(logits, from_rate=float(p_true.mean())))
    return {**metrics, "n": int(y.size), "pos_rate": float(y.mean())}


def read_meta(out_dir: Path) -> dict[str, Any] | None:
    """The synth_meta.json of a generated directory, or None if there is none (or it is unreadable)."""
    path = Path(out_dir) / META_NAME
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def matching_meta(out_dir: Path, params: dict[str, Any]) -> dict[str, Any] | None:
    """The meta of an existing, complete generation with exactly these params, else None."""
    meta = read_meta(out_dir)
    if meta is None or meta.get("params") != params:
        return None
    for name, size in meta.get("file_bytes", {}).items():
        path = Path(out_dir) / name
        if not path.is_file() or path.stat().st_size != size:
            return None
    return meta


def generate(
    out_dir: Path,
    train_rows: int,
    test_rows: int,
    seed: int = 0,
    chunk_rows: int = 200_000,
    seq_len_scale: float = 1.0,
) -> SynthSummary:
    """Write train/test/test_truth Parquet and synth_meta.json into out_dir (memory: one chunk)."""
    if train_rows <= 0 or test_rows <= 0 or chunk_rows <= 0 or seq_len_scale <= 0:
        raise ValueError(
            f"train_rows, test_rows, chunk_rows and seq_len_scale must be positive, got "
            f"{train_rows}, {test_rows}, {chunk_rows}, {seq_len_scale}"
        )
    start_time = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / META_NAME).unlink(missing_ok=True)  # the files are about to change: no stale vouching
    params = synth_params(train_rows, test_rows, seed, seq_len_scale)
    p, intercept = _model(seed, seq_len_scale)
    paths = {k: out_dir / name for k, name in FILE_NAMES.items()}
    clicks = {"train": 0, "test": 0}
    with ExitStack() as files:
        tmp = {k: files.enter_context(atomic_path(path)) for k, path in paths.items()}
        progress = Progress("synthetic train", train_rows)
        with _ChunkedWriter(tmp["train"], TRAIN_SCHEMA, chunk_rows) as train:
            for _, rng, block in _iter_blocks(p, seed, _SPLIT_TRAIN, train_rows, seq_len_scale):
                y = (rng.random(block.n) < sigmoid(block.eta + intercept)).astype(np.int32)
                train.add({**_feature_arrays(block), "clicked": pa.array(y)})
                clicks["train"] += int(y.sum())
                progress.update(block.n)
        progress = Progress("synthetic test", test_rows)
        with (
            _ChunkedWriter(tmp["test"], TEST_SCHEMA, chunk_rows) as test,
            _ChunkedWriter(tmp["truth"], TRUTH_SCHEMA, chunk_rows) as truth,
        ):
            for start, rng, block in _iter_blocks(p, seed, _SPLIT_TEST, test_rows, seq_len_scale):
                p_true = sigmoid(block.eta + intercept)
                y = (rng.random(block.n) < p_true).astype(np.int32)
                ids = _test_ids(start, block.n)
                test.add({"ID": ids, **_feature_arrays(block)})
                truth.add({"ID": ids, "clicked": pa.array(y), "p_true": pa.array(p_true)})
                clicks["test"] += int(y.sum())
                progress.update(block.n)
    oracle = oracle_metrics(paths["truth"])
    truth_y = pq.read_table(paths["truth"], columns=["clicked"])["clicked"].to_numpy()
    summary = SynthSummary(
        train_path=paths["train"],
        test_path=paths["test"],
        truth_path=paths["truth"],
        meta_path=out_dir / META_NAME,
        train_rows=train_rows,
        test_rows=test_rows,
        click_rate_train=clicks["train"] / train_rows,
        click_rate_test=clicks["test"] / test_rows,
        oracle=oracle,
        prior_score=prior_only_score(truth_y),
        intercept=intercept,
        seconds=time.perf_counter() - start_time,
        params=params,
    )
    meta = {
        **summary.to_dict(),
        "chunk_rows": chunk_rows,
        "file_bytes": {name: paths[k].stat().st_size for k, name in FILE_NAMES.items()},
    }
    write_json(summary.meta_path, meta)
    log.info(
        "synthetic data in %s: %d train / %d test rows, click rate %.4f, oracle Score %.4f (%.1fs)",
        out_dir, train_rows, test_rows, summary.click_rate_train, oracle["Score"], summary.seconds,
    )  # fmt: skip
    return summary
