"""The configuration reference, rendered from the schema: `toss config --explain` and docs/config.md.

Both come from the pydantic fields of toss_core.config (type, bounds, default, one-line description),
docs/config.md also from its NOTES (the long form: why, evidence, caveats), so the reference cannot
drift from the code: tests/test_config_docs.py fails when docs/config.md is stale.
Regenerate it with `python -m toss_core.config_doc > docs/config.md`.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from toss_core.config import MOVED_KEYS, NOTES, REMOVED_KEYS, TossConfig

REGENERATE = "python -m toss_core.config_doc > docs/config.md"
# a field's description is one line of at most this many characters (tests/test_config.py), so that
# --explain prints it unwrapped beneath its key; the long form goes to NOTES, rendered in docs/config.md
DESCRIPTION_MAX = 100
# --explain column widths of key, type and default; a longer cell pushes the rest of its row only
COLUMNS = (36, 24, 28)
_BOUNDS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}  # pydantic's annotated-types constraints


@dataclass(frozen=True)
class KeyDoc:
    """One leaf key of the schema."""

    key: str  # dotted path, e.g. train.lr
    type: str  # e.g. "float (> 0)", "int | null", '"S1" | "S2"'
    default: Any
    description: str
    note: str  # NOTES[key], or ""


@dataclass(frozen=True)
class SectionDoc:
    """The leaf keys of one section (path "" = the top level), in schema order."""

    path: str
    description: str
    note: str  # NOTES[path], or ""
    keys: list[KeyDoc]


def _section(field: FieldInfo) -> type[BaseModel] | None:
    """The field's model when the field is a nested section, else None."""
    kind = field.annotation
    return kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None


def _type_name(annotation: Any) -> str:
    """The annotation as a user writes the value in YAML: null for None, quoted literal choices."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(json.dumps(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is not None:
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in args)}]"
    if annotation is type(None):
        return "null"
    return "Any" if annotation is Any else annotation.__name__


def _type_with_bounds(field: FieldInfo) -> str:
    bounds = [
        f"{sign} {getattr(m, name)}"
        for m in field.metadata
        for name, sign in _BOUNDS.items()
        if getattr(m, name, None) is not None
    ]
    return _type_name(field.annotation) + (f" ({', '.join(bounds)})" if bounds else "")


def _lookup(dump: dict[str, Any], key: str) -> Any:
    node: Any = dump
    for part in key.split("."):
        node = node[part]
    return node


def sections() -> list[SectionDoc]:
    """Every section of TossConfig that has leaf keys, depth first (data, then data.synthetic, ...)."""
    defaults = TossConfig().model_dump(mode="json")
    out: list[SectionDoc] = []

    def visit(model: type[BaseModel], path: str, description: str) -> None:
        prefix = f"{path}." if path else ""
        keys = [
            KeyDoc(
                prefix + name,
                _type_with_bounds(f),
                _lookup(defaults, prefix + name),
                f.description or "",
                NOTES.get(prefix + name, ""),
            )
            for name, f in model.model_fields.items()
            if _section(f) is None
        ]
        if keys:
            out.append(SectionDoc(path, description, NOTES.get(path, ""), keys))
        for name, f in model.model_fields.items():
            section = _section(f)
            if section is not None:
                visit(section, prefix + name, f.description or "")

    visit(TossConfig, "", "run-wide settings")
    return out


def _show(value: Any) -> str:
    """A value as YAML flow syntax (JSON is valid YAML): null, true, 0.002, "S1", ["a", "b"]."""
    return json.dumps(value, ensure_ascii=False)


def explain(cfg: TossConfig) -> str:
    """Every key of `cfg` grouped by section: key, type, default and effective value in aligned columns
    (`value = default` where cfg keeps the default, so what the file changes stands out), the one-line
    description beneath (the notes are docs/config.md's: a terminal listing stays scannable)."""
    values = cfg.model_dump(mode="json")
    blocks = []
    for s in sections():
        lines = [f"[{s.path or 'top level'}] {s.description}"]
        for k in s.keys:
            value = _lookup(values, k.key)
            cells = [k.key, k.type, f"default {_show(k.default)}"]
            shown = "value = default" if value == k.default else f"value {_show(value)}"
            lines.append("  ".join(c.ljust(w) for c, w in zip(cells, COLUMNS, strict=True)) + "  " + shown)
            lines.append(f"    {k.description}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _text(text: str) -> str:
    """Markdown prose: `<` escaped, so that runs/<exp> is not read as HTML."""
    return text.replace("<", "&lt;")


def _cell(text: str) -> str:
    """Prose for a Markdown table cell, pipes escaped too."""
    return _text(text.replace("|", "\\|"))


def _code(text: str) -> str:
    """A code span for a Markdown table cell (a pipe needs its backslash even there)."""
    return "`" + text.replace("|", "\\|") + "`"


def markdown() -> str:
    """docs/config.md: one table per section, its keys' notes listed beneath it (a table cell is no place
    for a paragraph), then the keys that moved (and where) and the removed keys (and why they are gone)."""
    lines = [
        "# Configuration reference",
        "",
        f"Generated from `toss_core/config/` by `{REGENERATE}`: edit the field descriptions and "
        "`notes.py` there, not this file.",
        "`toss config --cfg FILE --explain` prints the same keys with the values FILE gives them.",
        "",
        "A YAML file states only what differs from these defaults. Keys are strict: an unknown key is an "
        "error naming the nearest valid one, and values are not coerced (`true` is not an integer, `3.0` "
        'is not an int, `"3"` is not a number; an int is fine for a float).',
    ]
    for s in sections():
        lines += ["", f"## {s.path or 'Top level'}", "", f"{s.description[0].upper()}{s.description[1:]}."]
        if s.note:
            lines += ["", _text(s.note)]
        lines += ["", "| key | type | default | description |", "| --- | --- | --- | --- |"]
        lines += [
            f"| `{k.key}` | {_cell(k.type)} | {_code(_show(k.default))} | {_cell(k.description)} |"
            for k in s.keys
        ]
        notes = [f"- `{k.key}`: {_text(k.note)}" for k in s.keys if k.note]
        if notes:
            lines += ["", "Notes:", "", *notes]
    lines += [
        "",
        "## Moved keys",
        "",
        "A file (or `--set`) that still sets one of these fails naming its new key.",
    ]
    lines += ["A moved section takes its keys along (`ema.decay` is now `train.ema.decay`).", ""]
    lines += ["| old key | new key |", "| --- | --- |"]
    lines += [f"| `{old}` | `{new}` |" for old, new in MOVED_KEYS.items()]
    lines += ["", "## Removed keys", "", "A file that still sets one of these fails with the reason.", ""]
    lines += ["| key | why |", "| --- | --- |"]
    lines += [f"| `{key}` | {_cell(why)} |" for key, why in REMOVED_KEYS.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
