#!/usr/bin/env bash
# Mutation testing of the modules whose bugs change the study's numbers (issue 21; the
# measured scores are in reports/mutation.md). Slow (about an hour on a 2-core machine for
# every module), so not part of `make test` or CI; one worker, at low priority.
#
#   benchmarks/mutation.sh                  every module in benchmarks/mutation_scope.py
#   benchmarks/mutation.sh scoring trial    some of them (scoring protocol cmapss results leaderboard selection trial trainer)
#   RESUME=1 benchmarks/mutation.sh         only the mutants not checked yet (after an interrupted run)
#
# mutmut's settings (what is mutated, which tests run) are in pyproject.toml [tool.mutmut];
# its work folder is mutants/ (ignored by git). `mutmut show NAME` prints one mutant's diff.
# Set CMAPSS_DATA_DIR as for `make test`: without the real data its tests are skipped and kill nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
export HF_HUB_OFFLINE=1 MPLBACKEND=Agg CMAPSS_TORCH_THREADS=1
if [[ "${RESUME:-0}" == 1 && -d mutants ]]; then
    mapfile -t names < <("$PYTHON" benchmarks/mutation_scope.py pending "$@")
    [[ ${#names[@]} -gt 0 ]] || { "$PYTHON" benchmarks/mutation_scope.py summary "$@"; exit 0; }
else
    mapfile -t names < <("$PYTHON" benchmarks/mutation_scope.py globs "$@")
fi
nice -n 15 "$PYTHON" -m mutmut run --max-children 1 "${names[@]}" >mutants.log 2>&1 || {
    tail -c 3000 mutants.log; exit 1; }
"$PYTHON" benchmarks/mutation_scope.py summary "$@"
echo "survivors: $PYTHON benchmarks/mutation_scope.py survivors $*  (then: $PYTHON -m mutmut show NAME)"
