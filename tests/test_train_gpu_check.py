"""bench/gpu_check.sh, the prepared GPU check: its CPU dry run writes its table, and without CUDA the
real check stops at once with a clear message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def test_dry_run_writes_the_section(tmp_path):
    md = tmp_path / "bench.md"
    md.write_text("# Benchmarks\n\nearlier text\n")
    env = {**os.environ, "PYTHON": sys.executable}
    cmd = ["bash", str(REPO / "bench" / "gpu_check.sh"), "--dry-run", "--md", str(md)]
    run = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "data path: resident on cpu" in run.stderr  # the device-resident path ran
    text = md.read_text()
    assert text.startswith("# Benchmarks\n\nearlier text\n")  # the section is added, nothing replaced
    assert "## GPU check of the training core (CPU (dry run))" in text
    assert "| 256 |" in text and "| 512 |" in text


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message a machine without CUDA gets")
def test_without_cuda_it_stops_with_a_clear_message(monkeypatch, tmp_path):
    from bench import gpu_check

    monkeypatch.setattr(sys, "argv", ["gpu_check", "--md", str(tmp_path / "never.md")])
    with pytest.raises(SystemExit, match="gpu_check: no CUDA device"):
        gpu_check.main()
    assert not (tmp_path / "never.md").exists()
