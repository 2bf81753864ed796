"""Parse comma-separated integer sequences straight from Arrow's string buffers with NumPy.

Why not split into a list of strings: a Toss `seq` holds ~450 tokens per row and the cache keeps only the
most recent `max_len`, so materialising every token as a string is most of the cost. Here one vectorised
pass over the bytes validates the characters and finds the token ends; only the kept tokens are decoded
(digit by digit over the ≤ 9 digit positions, vectorised over tokens). Rows are processed in blocks of
~`block_bytes` (1 MB) so temporaries stay small whatever the shard size, and the allocator reuses them
instead of mapping fresh pages for every block.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MAX_DIGITS = 9  # every token below 10**9 fits int32 after the +1 shift
_COMMA = ord(",")


class SeqParseError(ValueError):
    """A malformed sequence: `row` is the row index within the parsed array."""

    def __init__(self, row: int, reason: str):
        super().__init__(f"row {row}: {reason}")
        self.row = row
        self.reason = reason


@dataclass
class ParsedSeq:
    ids: np.ndarray  # int32 [n, max_len]: token + 1, left-aligned, 0 = padding
    seq_len: np.ndarray  # int32 [n]: kept tokens
    seq_len_raw: np.ndarray  # int32 [n]: tokens in the row


def _buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(int64 offsets [n+1], uint8 data) of a string array, nulls read as empty strings."""
    if arr.null_count:
        arr = pc.fill_null(arr, "")
    arr = arr.cast(pa.large_string())
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64, count=len(arr) + 1, offset=arr.offset * 8)
    data_buf = arr.buffers()[2]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return offsets, data


def _row_blocks(offsets: np.ndarray, block_bytes: int) -> np.ndarray:
    n = len(offsets) - 1
    marks = np.arange(offsets[0], offsets[-1], block_bytes)
    cuts = np.searchsorted(offsets, marks, side="right") - 1
    return np.unique(np.concatenate([cuts, [0, n]]))


def parse_sequences(arr: pa.Array, max_len: int, block_bytes: int = 1 << 20) -> ParsedSeq:
    """Keep the last `max_len` tokens of every row (oldest kept first); SeqParseError on bad input."""
    n = len(arr)
    offsets, data = _buffers(arr)
    out = ParsedSeq(
        ids=np.zeros((n, max_len), dtype=np.int32),
        seq_len=np.zeros(n, dtype=np.int32),
        seq_len_raw=np.zeros(n, dtype=np.int32),
    )
    cols = np.arange(max_len)
    blocks = _row_blocks(offsets, block_bytes)
    for r0, r1 in itertools.pairwise(blocks):
        if r1 > r0:
            _parse_block(data, offsets[r0 : r1 + 1], max_len, cols, out, int(r0))
    return out


def _parse_block(
    data: np.ndarray, offsets: np.ndarray, max_len: int, cols: np.ndarray, out: ParsedSeq, r0: int
) -> None:
    base = int(offsets[0])
    chunk = data[base : int(offsets[-1])]
    if not len(chunk):
        return  # only empty or null rows: zero tokens, already zero in `out`
    rel = offsets - base
    starts, ends = rel[:-1], rel[1:]
    # token ends (exclusive): every comma and every non-empty row's end
    is_end = np.zeros(len(chunk) + 1, dtype=bool)
    np.equal(chunk, _COMMA, out=is_end[:-1])
    non_digit = (chunk - np.uint8(ord("0"))) > 9  # uint8 wrap-around: below '0' is large too
    if np.count_nonzero(non_digit) != np.count_nonzero(is_end):  # a non-digit that is not a comma
        pos = int(np.flatnonzero(non_digit & ~is_end[:-1])[0])
        row = int(np.searchsorted(rel, pos, side="right")) - 1
        raise SeqParseError(
            r0 + row, f"character {chr(chunk[pos])!r} in a token (expected digits and commas)"
        )
    nonempty = ends > starts
    is_end[ends[nonempty]] = True
    leading = nonempty & (chunk[np.minimum(starts, len(chunk) - 1)] == _COMMA)
    if leading.any():
        raise SeqParseError(r0 + int(np.flatnonzero(leading)[0]), "empty token (leading comma)")
    tok_end = np.flatnonzero(is_end)
    first = np.searchsorted(tok_end, starts, side="right")
    last = np.searchsorted(tok_end, ends, side="right")
    n_tok = last - first
    # token width = end - previous end - 1, except a row's first token, which starts at the row start
    prev = np.empty_like(tok_end)
    prev[1:] = tok_end[:-1]
    prev[0] = -1
    prev[first[nonempty]] = starts[nonempty] - 1
    width = tok_end - prev
    width -= 1
    if (width - 1).view(np.uint64).max() >= MAX_DIGITS:  # width < 1 wraps around to a huge value
        bad = int(np.flatnonzero((width < 1) | (width > MAX_DIGITS))[0])
        row = int(np.searchsorted(last, bad, side="right"))
        reason = (
            "empty token (two commas in a row or a trailing comma)"
            if width[bad] < 1
            else f"token of {width[bad]} digits (at most {MAX_DIGITS})"
        )
        raise SeqParseError(r0 + row, reason)
    kept = np.minimum(n_tok, max_len)
    mask = cols < kept[:, None]  # left-aligned [rows, max_len]
    kept_tok = (last - kept)[:, None] + cols  # token index of every (row, position)
    kept_tok = kept_tok[mask]
    end_k, width_k = tok_end[kept_tok], width[kept_tok]
    value = chunk[end_k - 1].astype(np.int32)
    value -= ord("0") - 1  # the digit, plus the +1 that keeps id 0 for padding
    scale = 1
    for digit in range(2, int(width_k.max(initial=1)) + 1):
        scale *= 10
        d = chunk[end_k - digit].astype(np.int32)
        d -= ord("0")
        d *= width_k >= digit  # positions before the token's first digit contribute 0
        d *= scale
        value += d
    rows = slice(r0, r0 + len(starts))
    out.ids[rows][mask] = value
    out.seq_len[rows] = kept
    out.seq_len_raw[rows] = n_tok
