#!/usr/bin/env bash
# The prepared GPU check of the training core (bench/gpu_check.py): one command, under 5 minutes on one
# H100/H200. Without CUDA it stops at once with "gpu_check: no CUDA device"; --dry-run checks it on CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
exec timeout 300 "${PYTHON:-.venv/bin/python}" -m bench.gpu_check "$@"
