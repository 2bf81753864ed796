"""Every relative link and image in the project's markdown points at a file that is in the repository.

bench.quality writes a chart beside each results section; a chart that was never committed left 25
broken images in bench/results/quality.md before this test existed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = sorted(
    [REPO / "README.md", REPO / "BENCHMARKS.md", *REPO.glob("docs/*.md"), *REPO.glob("bench/**/*.md")]
)
LINK = re.compile(r"\]\(([^)\s]+)\)")  # [text](target) and ![alt](target)


def relative_targets(markdown: str) -> list[str]:
    """The link targets that name a file of the repository (no URL, no bare #anchor), anchors cut off."""
    targets = (m.group(1).split("#")[0] for m in LINK.finditer(markdown))
    return [t for t in targets if t and not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def test_relative_targets_keep_files_and_drop_urls_and_anchors() -> None:
    text = "see [a](docs/a.md#x), ![c](c.png), [u](https://x.org/a.md), [s](#section), [m](mailto:a@b)"
    assert relative_targets(text) == ["docs/a.md", "c.png"]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(doc: Path) -> None:
    missing = [t for t in relative_targets(doc.read_text()) if not (doc.parent / t).exists()]
    assert missing == [], f"{doc.relative_to(REPO)} links files that do not exist: {missing}"
