"""The Toss competition schema the generator writes: column names, value sets, dtypes, sizes.

Kept apart from the click model so that code which only needs the schema (benchmarks, tests, the
cache's Toss defaults) does not import the generator.
"""

from __future__ import annotations

import pyarrow as pa

GENERATOR_VERSION = "toss-synth/2"
CLICK_RATE = 0.019
BLOCK_ROWS = 8192
RECENT_K = 16

VOCAB_SIZE = 480
N_CLUSTERS = 16
TOKENS_PER_CLUSTER = VOCAB_SIZE // N_CLUSTERS
USER_INTERESTS = 3
RUN_SWITCH_BYTE = 51  # a run switches cluster when a random byte < 51: probability 51/256 ≈ 0.2
LUT_BITS = 12  # token ranks drawn through a 4096-entry inverse-CDF table (fast, 1/4096 resolution)
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
TRANSFORMS_BY_GROUP = {"l_feat": (0, 2), "feat": (0, 1, 2), "history": (1, 2, 3)}
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
