#!/usr/bin/env bash
# The prepared GPU check for our PyTorch regressors (run on a CUDA machine, from the repo root).
#
#   CMAPSS_DATA_DIR=/path/to/cmapss OUT=/tmp/gpu-check [MAMBA_SDIST=mamba_ssm-X.tar.gz] \
#       [TUNE_ARGS="..."] bash benchmarks/gpu_check.sh
#
# 1. builds mamba-ssm's selective-scan CUDA extension for this GPU's architecture only, in the
#    background (when MAMBA_SDIST is given; installing the released wheel works as well);
# 2. runs the torch tests on CUDA (the CUDA-only ones included);
# 3. runs a smoke study of lstm/transformer/mamba end to end on CUDA (`python -m study.run`);
# 4. optionally, alongside 2 and 3, a validation-only tuning sweep on CUDA (TUNE_ARGS are
#    benchmarks/tune_torch.py's arguments; TUNE_TIMEOUT bounds it);
# 5. once the extension is built: the mamba-ssm kernel tests, and one Mamba fit with the kernel.
# Everything is logged under $OUT, in at most 8 files. Each step has its own time limit, so
# one slow step cannot take the others down. The data and the mamba-ssm sdist can travel to
# a remote GPU machine in the git-ignored folder .gpu/ (e.g. .gpu/cmapss/).
set -u
OUT=${OUT:?set OUT to a folder for the logs}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 MPLCONFIGDIR=/tmp/mpl
PY=${PYTHON:-python3}
T0=$SECONDS
stamp() { echo "[$((SECONDS - T0))s] $*" | tee -a "$OUT/steps.log"; }

stamp "machine: $(nvidia-smi -L 2>&1 | head -1); $($PY -c 'import torch, sys; print(sys.version.split()[0], torch.__version__, torch.version.cuda, torch.cuda.is_available())')"

BUILD_DIR=/tmp/mamba-build
if [ -n "${MAMBA_SDIST:-}" ]; then
  rm -rf "$BUILD_DIR" && mkdir -p "$BUILD_DIR" && tar xzf "$MAMBA_SDIST" -C "$BUILD_DIR" --strip-components 1
  ARCH=$($PY -c 'import torch; m, n = torch.cuda.get_device_capability(); print(f"{m}{n}")')
  # build for this GPU only (the release builds ~9 architectures, ten times the compile time)
  $PY - "$BUILD_DIR/setup.py" "$ARCH" <<'EOF'
import sys
path, arch = sys.argv[1], sys.argv[2]
text = open(path).read()
marker = "    # HACK: The compiler flag -D_GLIBCXX_USE_CXX11_ABI"
text = text.replace(marker, f'    cc_flag = ["-gencode", "arch=compute_{arch},code=sm_{arch}"]\n' + marker, 1)
open(path, "w").write(text)
EOF
  stamp "building mamba-ssm's selective_scan_cuda for sm_$ARCH in the background"
  (cd "$BUILD_DIR" && MAMBA_FORCE_BUILD=TRUE TORCH_CUDA_ARCH_LIST="${ARCH:0:1}.${ARCH:1}" MAX_JOBS=${MAX_JOBS:-9} \
     setsid $PY setup.py build_ext --inplace >"$OUT/mamba_build.log" 2>&1; echo $? >"$BUILD_DIR/done") &
fi

TUNE_PID=
if [ -n "${TUNE_ARGS:-}" ]; then
  stamp "tuning sweep on CUDA in the background: $TUNE_ARGS"
  timeout "${TUNE_TIMEOUT:-300}" $PY benchmarks/tune_torch.py --device "${TUNE_DEVICE:-cuda}" --out "$OUT/tune_cuda.jsonl" $TUNE_ARGS \
    >"$OUT/tune_cuda.log" 2>&1 &
  TUNE_PID=$!
fi

stamp "torch tests on CUDA"
timeout 240 $PY -m pytest -q -p no:cacheprovider tests/adapters/test_torch_models.py -rs >"$OUT/pytest_cuda.log" 2>&1
stamp "pytest exit $?: $(tail -1 "$OUT/pytest_cuda.log")"

stamp "smoke study on CUDA"
timeout 240 $PY -m study.run --profile smoke --models lstm,transformer,mamba --subsets FD001 --offline \
  --executor inline --out /tmp/gpu-smoke >"$OUT/study_smoke.log" 2>&1
stamp "study.run exit $?"
$PY - >>"$OUT/steps.log" 2>&1 <<'EOF'
import json
for line in open("/tmp/gpu-smoke/trials.jsonl"):
    r = json.loads(line)
    info = r.get("info") or {}
    print(r["model"], r["status"], info.get("device"), r.get("fit_seconds"), r.get("rmse"), r.get("reason"))
EOF

if [ -n "${TUNE_PID:-}" ]; then
  wait "$TUNE_PID"
  stamp "tuning exit $? ($(wc -l <"$OUT/tune_cuda.jsonl" 2>/dev/null) jobs)"
fi

if [ -n "${MAMBA_SDIST:-}" ]; then
  for _ in $(seq "${BUILD_WAIT_S:-240}"); do [ -f "$BUILD_DIR/done" ] && break; sleep 1; done
  stamp "mamba-ssm build: $(cat "$BUILD_DIR/done" 2>/dev/null || echo 'not finished')"
  if [ "$(cat "$BUILD_DIR/done" 2>/dev/null)" = "0" ]; then
    export PYTHONPATH="$BUILD_DIR${PYTHONPATH:+:$PYTHONPATH}"
    timeout 120 $PY -m pytest -q -p no:cacheprovider tests/adapters/test_torch_models.py -k "mamba_ssm" -rs \
      >"$OUT/mamba_ssm.log" 2>&1
    stamp "mamba-ssm tests exit $?: $(tail -1 "$OUT/mamba_ssm.log")"
    timeout ${KERNEL_FIT_TIMEOUT:-120} $PY benchmarks/tune_torch.py --device cuda --models mamba --subsets FD001 --seeds 0 \
      --variants scan_torch scan_kernel --workers 2 --out "$OUT/mamba_kernel.jsonl" >>"$OUT/mamba_ssm.log" 2>&1
    stamp "mamba fits, ours vs kernel, exit $?"
  fi
fi
stamp "done"
