"""The layering of DESIGN.md holds: the import-linter contracts (also run by .ci/run) and no import cycle."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept() -> None:
    exe = Path(sys.executable).with_name("lint-imports")
    command = str(exe) if exe.is_file() else shutil.which("lint-imports")
    if command is None:
        pytest.skip("lint-imports is not installed (pip install -e '.[dev]')")
    done = subprocess.run([command], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "0 broken" in done.stdout


def test_no_module_of_toss_core_imports_one_that_imports_it_back() -> None:
    graph = grimp.build_graph("toss_core")
    cycles = sorted(
        (module, imported)
        for module in graph.modules
        for imported in graph.find_modules_directly_imported_by(module)
        if graph.find_shortest_chain(importer=imported, imported=module)
    )
    assert cycles == []
