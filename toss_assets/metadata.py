"""Turn toss_core results into the metadata a user reads in the Dagster UI.

Only formatting lives here: numbers rounded for display, images inlined as data URIs so the reliability
diagram and histogram show on the asset page, small tables for fold metrics and the submission preview.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg

METRIC_KEYS = ("AP", "WLL", "Score", "AUC")
MAX_IMAGE_BYTES = 2_000_000  # larger images are linked by path only, to keep the event log small


def metrics(values: Mapping[str, float] | None, prefix: str = "") -> dict[str, dg.MetadataValue]:
    """AP/WLL/Score/AUC (those present) as float metadata, e.g. `oof_calibrated/Score`."""
    values = values or {}
    return {f"{prefix}{k}": dg.MetadataValue.float(float(values[k])) for k in METRIC_KEYS if k in values}


def metrics_table(rows: Mapping[str, Mapping[str, float]], label: str = "name") -> dg.MetadataValue:
    """One row per model/fold/family with its numbers (AP/WLL/Score/AUC first): compared side by side."""
    present = [k for k in METRIC_KEYS if any(k in r for r in rows.values())]
    present += sorted({k for r in rows.values() for k in r} - set(present))
    schema = dg.TableSchema(
        columns=[dg.TableColumn(label, "string"), *(dg.TableColumn(k, "float") for k in present)]
    )
    records = [
        dg.TableRecord({label: name, **{k: round(float(r[k]), 6) for k in present if k in r}})
        for name, r in rows.items()
    ]
    return dg.MetadataValue.table(records=records, schema=schema)


def trials_table(rows: list[dict[str, Any]]) -> dg.MetadataValue:
    """One row per tuning trial: number, state, value, seconds and its parameters (JSON)."""
    fixed = ("number", "state", "value", "seconds")
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn("number", "int"),
            dg.TableColumn("state", "string"),
            dg.TableColumn("value", "float"),
            dg.TableColumn("seconds", "float"),
            dg.TableColumn("params", "string"),
        ]
    )
    records = [
        dg.TableRecord(
            {
                **{k: r[k] for k in fixed},
                "params": json.dumps({k: v for k, v in r.items() if k not in fixed}, default=str),
            }
        )
        for r in rows
    ]
    return dg.MetadataValue.table(records=records, schema=schema)


def preview_table(rows: list[dict[str, Any]]) -> dg.MetadataValue:
    """The first rows of a CSV-like result (e.g. the submission) as a table."""
    if not rows:
        return dg.MetadataValue.md("_empty_")
    columns = list(rows[0])
    schema = dg.TableSchema(
        columns=[dg.TableColumn(c, "float" if isinstance(rows[0][c], float) else "string") for c in columns]
    )
    return dg.MetadataValue.table(records=[dg.TableRecord(dict(r)) for r in rows], schema=schema)


def image(path: Path, title: str) -> dg.MetadataValue:
    """A PNG shown inline in the UI (Markdown with a base64 data URI); a path when it is too big."""
    path = Path(path)
    if not path.is_file():
        return dg.MetadataValue.md(f"_{title}: {path} was not written_")
    data = path.read_bytes()
    if len(data) > MAX_IMAGE_BYTES:
        return dg.MetadataValue.path(str(path))
    encoded = base64.b64encode(data).decode("ascii")
    return dg.MetadataValue.md(f"**{title}**\n\n![{title}](data:image/png;base64,{encoded})\n\n`{path}`")


def path(p: Path | str) -> dg.MetadataValue:
    return dg.MetadataValue.path(str(p))


def dir_bytes(root: Path) -> int:
    """Total size of the files under a directory (what an artifact costs on disk)."""
    root = Path(root)
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) if root.is_dir() else 0
