"""The built-in generator of Toss-schema data with a planted click model (see `click` for the model).

`schema` holds the columns and value sets, `click` the click model, `writer` the files and `generate`,
`oracle` what the planted truth scores. The names below are the package's public face.
"""

from toss_core.synth.oracle import oracle_metrics, truth_effects
from toss_core.synth.schema import CAT_COLUMNS, NUM_COLUMNS, TEST_COLUMNS, TOSS_COLUMNS, TRUTH_COLUMNS
from toss_core.synth.writer import (
    FILE_NAMES,
    SynthSummary,
    generate,
    join_tokens,
    matching_meta,
    synth_params,
)

__all__ = [
    "CAT_COLUMNS",
    "FILE_NAMES",
    "NUM_COLUMNS",
    "TEST_COLUMNS",
    "TOSS_COLUMNS",
    "TRUTH_COLUMNS",
    "SynthSummary",
    "generate",
    "join_tokens",
    "matching_meta",
    "oracle_metrics",
    "synth_params",
    "truth_effects",
]
