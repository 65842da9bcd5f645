#!/bin/bash
# The final study from a frozen copy of the code (/work/final-run): the out-of-the-box variant, then the
# tuned one (reports/tuning), into /work/final-out (seeded with the committed hand-tuned rows); then ensembles.
set -e
cd /work/final-run
export CMAPSS_DATA_DIR=/work/shared/data/cmapss HF_HUB_OFFLINE=1 MPLBACKEND=Agg RAY_AUTH_MODE=disabled PYTHONPATH=/work/final-run
PY=/work/main/.venv/bin/python
OUT=/work/final-out
echo "default start $(date +%s) $(date)"
$PY -m study.run --profile default --workers 2 --out $OUT --no-report --offline --data-dir /work/shared/data/cmapss
echo "default end $(date +%s) $(date)"
$PY -m study.run --profile default --tuned reports/tuning --workers 2 --out $OUT --no-report --offline --data-dir /work/shared/data/cmapss
echo "tuned end $(date +%s) $(date)"
$PY -m study.ensemble $OUT
echo "ensemble end $(date +%s) $(date)"
