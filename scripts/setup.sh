#!/usr/bin/env bash
# Create .venv (if needed) and install textrnn with its test tools into it.
#   bash scripts/setup.sh
# Re-running is cheap: nothing is installed again unless pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.textrnn-installed
wanted=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    # torch first, pinned: a plain `torch` requirement would pull the newest build and its
    # multi-GB CUDA packages; 2.13.0 satisfies the project's range and installs quickly.
    .venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/pip install --quiet --disable-pip-version-check "torch==2.13.0"
    .venv/bin/pip install --quiet --disable-pip-version-check -e ".[test]"
    echo "$wanted" > "$stamp"
fi
