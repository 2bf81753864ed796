"""Turn toss_core results into the metadata a user reads in the Dagster UI.

Only formatting lives here: numbers rounded for display, small tables for fold metrics and the submission
preview, and plots. The UI renders a Markdown value inline on the asset page only when it is shorter
than 1,000 characters (longer ones hide behind "[Show Markdown]"), so the reliability diagram and the
histogram are drawn as tiny SVGs that fit (`inline_plot`); the full-size PNGs ride along as paths.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import dagster as dg

METRIC_KEYS = ("AP", "WLL", "Score", "AUC")
MAX_IMAGE_BYTES = 2_000_000  # larger images are linked by path only, to keep the event log small
SIGNIFICANT_DIGITS = 5  # a Score differs from the next model's in the 4th digit; more is noise to read


def rounded(value: float) -> float:
    """`value` to SIGNIFICANT_DIGITS significant digits (0.34217 rather than 0.3421698760986328)."""
    return float(f"{float(value):.{SIGNIFICANT_DIGITS}g}")


def number(value: float) -> dg.MetadataValue:
    return dg.MetadataValue.float(rounded(value))


def metrics(values: Mapping[str, float] | None, prefix: str = "") -> dict[str, dg.MetadataValue]:
    """AP/WLL/Score/AUC (those present) as rounded float metadata, e.g. `oof_calibrated/Score`."""
    values = values or {}
    return {f"{prefix}{k}": number(values[k]) for k in METRIC_KEYS if k in values}


def metrics_table(rows: Mapping[str, Mapping[str, float]], label: str = "name") -> dg.MetadataValue:
    """One row per model/fold/family with its numbers (AP/WLL/Score/AUC first): compared side by side."""
    present = [k for k in METRIC_KEYS if any(k in r for r in rows.values())]
    present += sorted({k for r in rows.values() for k in r} - set(present))
    schema = dg.TableSchema(
        columns=[dg.TableColumn(label, "string"), *(dg.TableColumn(k, "float") for k in present)]
    )
    records = [
        dg.TableRecord({label: name, **{k: rounded(r[k]) for k in present if k in r}})
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
    shown = [{k: rounded(v) if isinstance(v, float) else v for k, v in r.items()} for r in rows]
    records = [dg.TableRecord(r) for r in shown]
    return dg.MetadataValue.table(records=records, schema=schema)


INLINE_MARKDOWN_LIMIT = 1000  # characters: the UI's threshold for rendering Markdown metadata inline
PLOT_SIZE = 96  # SVG user units of the plot square (divisible by the histogram's bins); drawn 220 px wide
PLOT_COLOURS = {"#4f43dd": "blue", "#e0812b": "orange", "#2a9d8f": "green"}


def _y(value: float, y_max: float) -> int:
    return round(PLOT_SIZE - value / y_max * PLOT_SIZE)


def _curve(xy: list[tuple[float, float]], y_max: float) -> str:
    """A polyline through (x in [0, 1], y) points, y pointing up, in whole plot units (short to write)."""
    return "M" + "L".join(f"{round(x * PLOT_SIZE)} {_y(y, y_max)}" for x, y in xy)


def _steps(density: list[float], y_max: float) -> str:
    """A histogram's outline over equal bins of [0, 1]: one vertical and one horizontal move per bin."""
    width = PLOT_SIZE / len(density)
    return f"M0 {PLOT_SIZE}" + "".join(f"V{_y(d, y_max)}h{width:g}" for d in density) + f"V{PLOT_SIZE}"


def inline_plot(
    title: str, series: Mapping[str, list], kind: Literal["reliability", "histogram"]
) -> dg.MetadataValue:
    """A small SVG line plot that the UI shows inline: `kind` "reliability" draws (mean prediction, rate)
    curves on the unit square with its diagonal, "histogram" draws densities on equal bins of [0, 1]."""
    names = list(series)[: len(PLOT_COLOURS)]
    if kind == "reliability":
        paths = [_curve(series[n], 1.0) for n in names]
    else:
        y_max = max((d for n in names for d in series[n]), default=1.0) or 1.0
        paths = [_steps(series[n], y_max) for n in names]
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="-2 -2 {PLOT_SIZE + 4} {PLOT_SIZE + 4}" width="220">',
        f'<rect width="{PLOT_SIZE}" height="{PLOT_SIZE}" fill="#fff" stroke="#bbb"/>',
    ]
    if kind == "reliability":
        parts.append(f'<path d="M0 {PLOT_SIZE}L{PLOT_SIZE} 0" stroke="#999" stroke-dasharray="3"/>')
    for colour, path in zip(PLOT_COLOURS, paths, strict=False):
        parts.append(f'<path d="{path}" fill="none" stroke="{colour}"/>')
    encoded = base64.b64encode(("".join(parts) + "</svg>").encode()).decode("ascii")
    legend = ", ".join(f"{n} ({word})" for n, word in zip(names, PLOT_COLOURS.values(), strict=False))
    text = f"**{title}**: {legend}\n\n![{title}](data:image/svg+xml;base64,{encoded})"
    if len(text) >= INLINE_MARKDOWN_LIMIT:
        raise ValueError(f"inline plot {title!r} is {len(text)} characters: the UI would hide it")
    return dg.MetadataValue.md(text)


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
