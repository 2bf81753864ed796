"""The feature spec: what a model needs to know about a cache (column roles and vocabulary sizes).

It is read from a cache's manifest.json and saved inside every checkpoint, so a model can always be
rebuilt for inference and a checkpoint trained on another cache is detected.

Manifest contract (written by toss_core.data.cache, read here and by toss_core.data.reader):

    {
      "format": "toss-shards/1",
      "kind": "train" | "test" | "features",
      "n_rows": int,
      # fields: cat, num, isna, seq, seq_len, qtok, label (train), id (test), dense (features)
      "fields": {name: {"dtype": str, "shape": [per-row dims]}},
      "checksum": "crc32",   # zlib.crc32 of each whole .npy file, hex, stored under that key below
      "shards": [{"index": i, "rows": n, "offset": first_row, "files": {field: {"path": str, "crc32": str}}}],
      "columns": {"cat": [...], "num": [...], "isna": [...], "qtok": [...], "dense": [...],
                  "seq": str | None, "label": str | None, "id": str | None},
      "cat_cardinalities": [int, ...],   # ids per cat column, 0 = null/unknown included
      "seq_vocab_size": int,              # token ids 0..size-1, 0 = padding
      "max_len": int,
      "fingerprint": {"input": str, "config": str, "cache": str},
      ...
    }
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class FeatureSpec:
    cat_cols: list[str]
    cat_cardinalities: list[int]
    num_cols: list[str]
    isna_cols: list[str]
    seq_col: str | None
    seq_vocab_size: int
    max_len: int
    qtok_cols: list[str] = field(default_factory=list)
    dense_cols: list[str] = field(default_factory=list)
    cache_fingerprint: str = ""

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any], dense_cols: list[str] | None = None) -> FeatureSpec:
        cols = manifest["columns"]
        return cls(
            cat_cols=list(cols.get("cat", [])),
            cat_cardinalities=[int(c) for c in manifest.get("cat_cardinalities", [])],
            num_cols=list(cols.get("num", [])),
            isna_cols=list(cols.get("isna", [])),
            seq_col=cols.get("seq"),
            seq_vocab_size=int(manifest.get("seq_vocab_size", 0)),
            max_len=int(manifest.get("max_len", 0)),
            qtok_cols=list(cols.get("qtok", [])),
            dense_cols=list(dense_cols or []),
            cache_fingerprint=str(manifest.get("fingerprint", {}).get("cache", "")),
        )

    @property
    def has_sequence(self) -> bool:
        return self.seq_col is not None and self.max_len > 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> FeatureSpec:
        return cls(**payload)
