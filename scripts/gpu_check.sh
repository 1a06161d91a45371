#!/usr/bin/env bash
# The GPU checks in one command, for the device machine (docs/GPU.md says how to call it and what to carry):
#
#     bash scripts/gpu_check.sh          # from the repository's root; $OUT: an empty folder for the results
#
# 1. what the machine has: the GPU (nvidia-smi), Python, PyTorch and CUDA, each package textrnn needs;
# 2. textrnn installed without touching the machine's PyTorch: the carried wheels in .whl/ (datasets and the
#    pure-Python packages it needs) into /tmp/site when datasets is missing, then `pip install --no-deps -e .`
#    (or, should that fail, the checkout on PYTHONPATH);
# 3. scripts/benchmark_speed.py --device cuda, the GPU grid on IMDB's train.parquet from .gpu_data/imdb/;
# 4. pytest -m cuda tests/test_cuda.py.
#
# Each stage runs under `timeout`, all of them in under 8 minutes. What comes back in $OUT (7 files):
#   environment.txt        the machine, the packages, the install, each stage's exit status and seconds
#   pip-freeze.txt         python3 -m pip freeze, after the install
#   benchmark_gpu.md       the benchmark_speed_gpu block, for docs/BENCHMARKS.md
#   benchmark_gpu.json     its raw measurements
#   benchmark_gpu.log      the benchmark's output
#   pytest-cuda.xml        pytest's JUnit XML
#   pytest-cuda.log        pytest's output
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
PYTHON=${PYTHON:-python3}
DATA=${DATA:-.gpu_data/imdb}
ENVIRONMENT="$OUT/environment.txt"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export HF_DATASETS_CACHE=/tmp/gpu-check-hf-datasets MPLBACKEND=Agg
STARTED=$SECONDS

log() { echo "$*" | tee -a "$ENVIRONMENT"; }

# stage NAME SECONDS COMMAND...: the command under `timeout` (SIGINT first, so pytest still writes its report;
# SIGKILL 15 s later), its exit status and time logged
stage() {
    local name=$1 limit=$2 began=$SECONDS rc
    shift 2
    log "=== stage $name (at most ${limit} s), at ${began} s"
    timeout -s INT -k 15 "$limit" "$@"
    rc=$?
    log "=== stage $name: exit status $rc in $((SECONDS - began)) s$([ $rc -eq 124 ] && echo ' (timed out)')"
    return $rc
}

# what imports from outside the checkout (a script in scripts/ does not see the root's textrnn/ unless installed)
packages() {
    (cd / && "$PYTHON" - <<'EOF'
import importlib, importlib.metadata as metadata
for module, name in [("torch", "torch"), ("datasets", "datasets"), ("dill", "dill"), ("multiprocess", "multiprocess"),
                     ("fsspec", "fsspec"), ("pyarrow", "pyarrow"), ("pandas", "pandas"), ("xxhash", "xxhash"),
                     ("huggingface_hub", "huggingface-hub"), ("tokenizers", "tokenizers"),
                     ("safetensors", "safetensors"), ("sklearn", "scikit-learn"), ("tqdm", "tqdm"),
                     ("matplotlib", "matplotlib"), ("numpy", "numpy"), ("yaml", "pyyaml"), ("pytest", "pytest"),
                     ("setuptools", "setuptools"), ("textrnn", "textrnn")]:
    try:
        importlib.import_module(module)
        where = metadata.version(name) if name != "textrnn" else "importable"
    except Exception as error:  # missing, or importable only in part
        where = f"MISSING ({type(error).__name__}: {str(error)[:120]})"
    print(f"{name:16} {where}")
EOF
    )
}

machine() {
    log "date: $(date -u +%FT%TZ); host: $(uname -a)"
    log "python: $(command -v "$PYTHON") $("$PYTHON" --version 2>&1)"
    nvidia-smi 2>&1 | tee -a "$ENVIRONMENT"
    "$PYTHON" -c "
import torch
print('torch', torch.__version__, 'CUDA', torch.version.cuda, 'cuDNN', torch.backends.cudnn.version())
print('GPU available:', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')
print('NCCL:', torch.distributed.is_nccl_available(), torch.cuda.nccl.version() if torch.cuda.is_available() else '')
" 2>&1 | tee -a "$ENVIRONMENT"
    log "--- packages before the install"
    packages 2>&1 | tee -a "$ENVIRONMENT"
}

install() {
    if ! "$PYTHON" -c "import datasets" 2>/dev/null; then
        if ls .whl/*.whl >/dev/null 2>&1; then
            log "datasets is missing: installing the carried wheels into /tmp/site: $(ls .whl)"
            "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
                .whl/*.whl 2>&1 | tee -a "$ENVIRONMENT"
            export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
        else
            log "datasets is missing and no wheels were carried in .whl/ (docs/GPU.md): textrnn cannot read data"
        fi
    fi
    log "--- pip install --no-deps --no-build-isolation --no-index -e . (the machine's torch stays)"
    if ! timeout 60 "$PYTHON" -m pip install -q --no-deps --no-build-isolation --no-index -e . 2>&1 \
            | tee -a "$ENVIRONMENT"; then
        log "the editable install failed: textrnn is read from the checkout (PYTHONPATH)"
    fi
    if ! (cd / && "$PYTHON" -c "import textrnn.cli" 2>/dev/null); then
        export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
    fi
    log "PYTHONPATH=${PYTHONPATH:-}"
    log "--- packages after the install"
    packages 2>&1 | tee -a "$ENVIRONMENT"
    "$PYTHON" -m pip freeze > "$OUT/pip-freeze.txt" 2>&1
}

machine
install
if [ -f "$DATA/train.parquet" ]; then
    stage benchmark 190 "$PYTHON" scripts/benchmark_speed.py --device cuda --data "$DATA" \
        --output "$OUT/benchmark_gpu.md" --json "$OUT/benchmark_gpu.json" > "$OUT/benchmark_gpu.log" 2>&1
else
    log "=== stage benchmark: skipped, no $DATA/train.parquet (carry .gpu_data: docs/GPU.md)"
fi
stage pytest-cuda 200 "$PYTHON" -m pytest -m cuda tests/test_cuda.py -q -rs -p no:cacheprovider \
    --junitxml="$OUT/pytest-cuda.xml" > "$OUT/pytest-cuda.log" 2>&1
tail -n 25 "$OUT/pytest-cuda.log"
tail -n 40 "$OUT/benchmark_gpu.log" 2>/dev/null
log "=== done in $((SECONDS - STARTED)) s"
