#!/usr/bin/env bash
# The GPU check of issue #23 in one run, on a machine with a CUDA GPU (run from the repository root):
#   1. install the gpu extra (CuPy) unless CuPy already imports, and show the device scratchnn finds;
#   2. the whole layer harness's namespace check on CuPy: every layer case's forward and backward in float64
#      against NumPy's, to 1e-10 (SCRATCHNN_TEST_DEVICE=cupy makes tests/harness.py use CuPy);
#   3. tests/test_device.py on the "gpu" device too: fit / evaluate / predict / save / load of an MLP, a CNN,
#      an LSTM and a ResNet-style model, float64, against NumPy (1e-10);
#   4. benchmarks/gpu.py: scratchnn on CuPy against PyTorch CUDA, batch 128 and 1024.
# Everything is written under $OUT (default: ./gpu_results); the exit status is the first failure's.
# Usage: OUT=/some/folder tools/gpu_check.sh [python]      (python: default .venv/bin/python, else python3)
set -uo pipefail
OUT="${OUT:-gpu_results}"
PY="${1:-}"
if [ -z "$PY" ]; then
    if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
mkdir -p "$OUT"
status=0
step() {        # step NAME COMMAND...: run it, log to $OUT/NAME.txt, remember the first failure
    local name=$1; shift
    echo "== $name: $*" | tee "$OUT/$name.txt"
    "$@" 2>&1 | tee -a "$OUT/$name.txt"
    local rc=${PIPESTATUS[0]}
    echo "== $name: exit $rc" | tee -a "$OUT/$name.txt"
    if [ "$rc" -ne 0 ] && [ "$status" -eq 0 ]; then status=$rc; fi
    return "$rc"
}

(nvidia-smi || echo "nvidia-smi not found") > "$OUT/nvidia-smi.txt" 2>&1
if ! "$PY" -c "import scratchnn" 2>/dev/null; then     # a machine's own python (torch, CuPy) without our venv
    export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
fi
if ! "$PY" -c "import cupy" 2>/dev/null; then
    step install "$PY" -m pip install -e ".[gpu]" || { echo "CuPy could not be installed: see $OUT/install.txt"; exit "$status"; }
fi
step device "$PY" -c "import scratchnn as snn; d = snn.backend.get_device('gpu'); import cupy; \
print(d, cupy.cuda.runtime.getDeviceProperties(0)['name'], 'CuPy', cupy.__version__)" || exit "$status"
export CI=true              # a missing optional test dependency fails instead of skipping
SCRATCHNN_TEST_DEVICE=cupy step harness "$PY" -m pytest -q -p no:cacheprovider tests/test_layers.py -k namespace \
    --junitxml "$OUT/harness.xml"
SCRATCHNN_TEST_DEVICE=cupy step models "$PY" -m pytest -q -p no:cacheprovider tests/test_device.py \
    --junitxml "$OUT/models.xml"
step benchmark "$PY" benchmarks/gpu.py --batch-sizes 128 1024 --json "$OUT/gpu_benchmark.json"
echo "results in $OUT (exit $status)"
exit "$status"
