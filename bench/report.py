"""Tables, summaries, charts and the Markdown report of bench/quality.py: output only, no modelling."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
NN = "DARE + QNN-α"


@dataclass
class Row:
    model: str
    metrics: dict[str, float]
    seconds: float | None


def _base(model: str) -> str:
    """The model's name without the fold number, so runs line up."""
    return re.sub(r" \[.*\]$", "", re.sub(r"\(best fold \d+\)", "(best fold)", model))


def _fmt(x: float | None, digits: int = 4) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def table(rows: list[Row], oracle: float | None) -> str:
    lines = [
        "| model | AUC | AP | WLL | Score | gap to oracle | train time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        m = r.metrics
        gap = None if oracle is None else oracle - m["Score"]
        lines.append(
            f"| {r.model} | {_fmt(m['AUC'])} | {_fmt(m['AP'])} | {_fmt(m['WLL'])} | {_fmt(m['Score'])} | "
            f"{_fmt(gap)} | {_fmt(r.seconds, 1)} |"
        )
    return "\n".join(lines)


def summary(runs: dict[str, list[Row]]) -> tuple[str, dict[str, tuple[float, float]]]:
    """Mean ± sd of Score and of the gap to the oracle over runs, per model (matched by name prefix)."""
    names = [_base(r.model) for r in next(iter(runs.values()))]
    scores: dict[str, list[float]] = {n: [] for n in names}
    gaps: dict[str, list[float]] = {n: [] for n in names}
    for rows in runs.values():
        oracle = next((r.metrics["Score"] for r in rows if r.model.startswith("oracle")), None)
        for r in rows:
            name = _base(r.model)
            scores[name].append(r.metrics["Score"])
            if oracle is not None:
                gaps[name].append(oracle - r.metrics["Score"])
    lines = [
        f"| model | Score mean ± sd over {len(runs)} runs | gap to oracle mean ± sd |",
        "|---|---|---|",
    ]
    stats = {}
    for n in names:
        s = np.array(scores[n])
        g = np.array(gaps[n]) if gaps[n] else None
        stats[n] = (float(s.mean()), float(s.std()))
        gap = "—" if g is None else f"{g.mean():.4f} ± {g.std():.4f}"
        lines.append(f"| {n} | {s.mean():.4f} ± {s.std():.4f} | {gap} |")
    return "\n".join(lines), stats


def targets(runs: dict[str, list[Row]]) -> str:
    """The three synthetic-data targets, checked per run."""
    out = []
    for run, rows in runs.items():
        by = {_base(r.model): r.metrics["Score"] for r in rows}
        needed = ["LightGBM", f"{NN}", "cross-family ensemble", "oracle (p_true)"]
        first = {n: next((v for k, v in by.items() if k.startswith(n)), None) for n in needed}
        got = {n: v for n, v in first.items() if v is not None}
        if len(got) < len(needed):
            continue
        nn = by.get(f"{NN} (fold ensemble)", got[NN])
        gb, ens, orc = got["LightGBM"], got["cross-family ensemble"], got["oracle (p_true)"]
        checks = [
            f"NN − LightGBM = {nn - gb:+.4f} "
            f"(target ≥ +0.005: {'met' if round(nn - gb, 6) >= 0.005 else 'MISSED'})",
            f"ensemble − max(NN, LightGBM) = {ens - max(nn, gb):+.4f} "
            f"(target > 0: {'met' if ens > max(nn, gb) else 'MISSED'})",
            f"oracle − ensemble = {orc - ens:.4f} "
            f"(target ≤ 0.010: {'met' if round(orc - ens, 6) <= 0.010 else 'MISSED'})",
        ]
        out.append(f"- {run}: " + "; ".join(checks))
    return "\n".join(out)


def chart(runs: dict[str, list[Row]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [_base(r.model) for r in next(iter(runs.values()))]
    width = 0.8 / len(runs)
    fig, ax = plt.subplots(figsize=(max(7, 1.3 * len(names)), 4.2))
    for i, (run, rows) in enumerate(runs.items()):
        ax.bar(np.arange(len(rows)) + i * width, [r.metrics["Score"] for r in rows], width, label=run)
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names, rotation=20, ha="right", fontsize=8)
    lo = min(r.metrics["Score"] for rows in runs.values() for r in rows)
    ax.set_ylim(lo - 0.02, None)
    ax.set_ylabel("Score (test, calibrated)")
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def append_report(text: str) -> None:
    path = RESULTS / "quality.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file():
        path.write_text("# Quality benchmark\n\nWritten by bench/quality.py; newest run last.\n")
    with path.open("a") as fh:
        fh.write("\n" + text.rstrip() + "\n")


def read_runs(report: Path, tags: list[str]) -> dict[str, list[Row]]:
    """The per-run model tables that earlier runs with these tags appended to the report."""
    runs: dict[str, list[Row]] = {}
    sections = re.split(r"^## ", report.read_text(), flags=re.M)
    for tag in tags:
        found = [sec for sec in sections if sec.startswith(f"{tag} (")]
        if not found:
            raise SystemExit(f"{report}: no section for run tag '{tag}'")
        for block in re.split(r"^### ", found[-1], flags=re.M)[1:]:
            name, _, body = block.partition("\n")
            lines = [ln for ln in body.splitlines() if ln.startswith("| ") and not ln.startswith("| model")]
            if not lines or name.strip() in ("Summary", "Targets"):
                continue
            rows = []
            for ln in lines:
                cells = [c.strip() for c in ln.strip("|").split("|")]
                auc, ap, wll, score = (float(c) for c in cells[1:5])
                seconds = None if cells[6] == "—" else float(cells[6])
                rows.append(Row(cells[0], {"AUC": auc, "AP": ap, "WLL": wll, "Score": score}, seconds))
            runs[name.strip()] = rows
    return runs


def _oracle(rows: list[Row]) -> float | None:
    return next((r.metrics["Score"] for r in rows if r.model.startswith("oracle")), None)


def enc_table(runs: dict[str, list[Row]]) -> str:
    """Encodings × runs: test Score (calibrated fold ensemble), OOF Score, AUC, time; and the mean."""
    lines = [
        "| id encoding | run | test AUC | test Score | OOF Score | train time (s) |",
        "|---|---|---|---|---|---|",
    ]
    means: dict[str, list[float]] = {}
    for run, rows in runs.items():
        for r in rows:
            m = r.metrics
            means.setdefault(r.model, []).append(m["Score"])
            lines.append(
                f"| {r.model} | {run} | {m['AUC']:.4f} | {m['Score']:.4f} | {m['OOF Score']:.4f} | "
                f"{_fmt(r.seconds, 1)} |"
            )
    for enc, s in means.items():
        lines.append(f"| **{enc}** | mean of {len(s)} | | **{np.mean(s):.4f}** | | |")
    return "\n".join(lines)
