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
import operator
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from toss_core.scoring.metrics import sigmoid
from toss_core.synth.schema import (
    AD_FEATS,
    AGE_VALUES,
    BINARY_FEATS,
    BLOCK_ROWS,
    CLICK_RATE,
    DOW_VALUES,
    INVENTORY_VALUES,
    LATENT_COLUMNS,
    LATENT_INDEX,
    LUT_BITS,
    N_ADSET,
    N_CAMPAIGN,
    N_CLUSTERS,
    N_CREATIVE,
    NULL_BLOCK_COLS,
    NULL_BLOCK_RATE,
    NULL_FEAT_A_RATE,
    NULL_FEAT_E3_RATE,
    NUM_GROUPS,
    RECENT_K,
    RUN_SWITCH_BYTE,
    SEQ_MAX,
    SEQ_MEDIAN,
    SEQ_SIGMA,
    TOKENS_PER_CLUSTER,
    TRANSFORMS_BY_GROUP,
    USER_DIM,
    USER_INTERESTS,
    VOCAB_SIZE,
)


@dataclass(frozen=True)
class Params:
    """Everything drawn once from the seed: vocabulary, ad hierarchy, effect tables."""

    token_of: np.ndarray  # [N_CLUSTERS, TOKENS_PER_CLUSTER] raw token values
    token_cluster: np.ndarray  # [VOCAB_SIZE + 1] cluster of a raw token value
    token_lut: np.ndarray  # [N_CLUSTERS << LUT_BITS] int16: (cluster, 12-bit uniform) -> raw token
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
    levels = (np.arange(1 << LUT_BITS) + 0.5) / (1 << LUT_BITS)
    rank = np.minimum(np.searchsorted(rank_cdf, levels, side="right"), rank_cdf.size - 1)
    return token_of[:, rank].astype(np.int16).ravel()


def _cover(rng: np.random.Generator, n_parents: int, n_children: int) -> np.ndarray:
    """Parent of each child such that every parent has at least one child."""
    parent = np.concatenate([np.arange(n_parents), rng.integers(0, n_parents, n_children - n_parents)])
    return rng.permutation(parent)


def draw_params(seed: int) -> Params:
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
            rng.choice(TRANSFORMS_BY_GROUP["l_feat" if c.startswith("l_") else c.split("_")[0]])
            for c in LATENT_COLUMNS
        ]
    )
    loadings = rng.normal(0.0, 0.35, (n_lat, USER_DIM))
    noise_scale = np.sqrt(np.clip(1.0 - (loadings**2).sum(1), 0.1, None))
    n_inv = len(INVENTORY_VALUES)
    night = np.zeros(n_inv)
    night[rng.choice(n_inv, 4, replace=False)] = 1.0
    return Params(
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
class Block:
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
        3: lambda x: np.round(sigmoid(1.5 * x - 1.0), 3),
    }
    out = np.empty_like(latent)
    for kind, f in kinds.items():
        rows = transform == kind
        out[rows] = f(latent[rows])
    return out


def draw_sequences(
    p: Params, rng: np.random.Generator, n: int, seq_len_scale: float, keep_last: int | None = None
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
    uniform12 = np.frombuffer(rng.bytes(2 * total), np.uint16) >> (16 - LUT_BITS)
    return full, p.token_lut[(cluster << LUT_BITS) | uniform12]


def _recent_effects(
    p: Params, tokens: np.ndarray, lengths: np.ndarray, target_cluster: np.ndarray, inv: np.ndarray
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
    p: Params, rng: np.random.Generator, n: int, seq_len_scale: float, recent_only: bool = False
) -> Block:
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
    lengths, tokens = draw_sequences(p, rng, n, seq_len_scale, RECENT_K if recent_only else None)
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
    return Block(n, cat_idx, num, null, drawn, tokens, eta, effects)


def iter_blocks(
    p: Params, seed: int, split: int, n_rows: int, seq_len_scale: float, recent_only: bool = False
) -> Iterator[tuple[int, np.random.Generator, Block]]:
    """Blocks of one split, each from its own stream (seed, split, block index): chunk-size free."""
    for b, start in enumerate(range(0, n_rows, BLOCK_ROWS)):
        rng = np.random.default_rng([seed, split, b])
        yield start, rng, _draw_block(p, rng, min(BLOCK_ROWS, n_rows - start), seq_len_scale, recent_only)


SPLIT_CALIBRATION, SPLIT_TRAIN, SPLIT_TEST = 1, 2, 3


def solve_intercept(p: Params, seed: int, seq_len_scale: float, rows: int = 8 * BLOCK_ROWS) -> float:
    """The intercept whose mean click probability on a calibration sample is CLICK_RATE (bisection)."""
    blocks = iter_blocks(p, seed, SPLIT_CALIBRATION, rows, seq_len_scale, recent_only=True)
    eta = np.concatenate([b.eta for _, _, b in blocks])
    lo, hi = -20.0, 10.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if sigmoid(eta + mid).mean() > CLICK_RATE else (mid, hi)
    return 0.5 * (lo + hi)


@functools.lru_cache(maxsize=4)
def click_model(seed: int, seq_len_scale: float) -> tuple[Params, float]:
    """Parameters and intercept of a seed, cached: the intercept costs a 64k-row calibration sample."""
    p = draw_params(seed)
    return p, solve_intercept(p, seed, seq_len_scale)
