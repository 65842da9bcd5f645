# Two commands do all set-up on a fresh machine:  make study   |   make test
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# torch is pinned to the CPU build that this machine has on local disk; an unpinned torch
# would pull a multi-GB CUDA build. On a GPU machine, install the CUDA build of torch first.
TORCH  ?= torch==2.13.0
STUDY  ?= runs/study
# every model the tuner can run here (Chronos needs weights from the Hugging Face hub)
TUNED_MODELS ?= xgboost,lstm,transformer,mamba,sktime-rocket,darts-tft,autogluon-tabular,autogluon-timeseries

.PHONY: install study tune smoke test report bench mutation clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[all]'
	touch $(STAMP)

install: $(STAMP)

study: install          ## the study: every model out of the box and at its committed tuned configuration, ensembles, report (48 min measured on 2 cores; resumable)
	HF_HUB_OFFLINE=$${HF_HUB_OFFLINE:-0} $(BIN)/python -m study.run --profile default --workers 2 --out $(STUDY) --no-report
	HF_HUB_OFFLINE=$${HF_HUB_OFFLINE:-0} $(BIN)/python -m study.run --profile default --tuned reports/tuning --workers 2 --out $(STUDY) --no-report
	$(BIN)/python -m study.ensemble $(STUDY)
	$(BIN)/python -m study.report $(STUDY)

tune: install           ## the committed equal-budget tuning: 600 s per model and subset, one fit at a time (about 5.5 h; resumable)
	$(BIN)/python -m study.tune --profile default --budget 600 --folds 3 --threads 1 --workers 1 \
	    --models $(TUNED_MODELS) --subsets FD001,FD003,FD002,FD004 --out $(or $(TUNING),reports/tuning)
	$(BIN)/python -m study.tuning_summary $(or $(TUNING),reports/tuning)

smoke: install          ## a tiny study in one to two minutes
	$(BIN)/python -m study.run --profile smoke --out runs/smoke

test: install           ## the test suite (CI runs exactly this)
	HF_HUB_OFFLINE=1 MPLBACKEND=Agg $(BIN)/python -m pytest -q

report: install         ## regenerate the report of a run folder: make report RUN=runs/study
	$(BIN)/python -m study.report $(or $(RUN),$(STUDY))

bench: install          ## speed benchmarks (not part of the tests)
	$(BIN)/python benchmarks/bench_data.py

mutation: install      ## mutation testing of the scientific core (about an hour; not part of test)
	$(BIN)/python -m pip install --quiet -e '.[mutation]'
	PYTHON=$(BIN)/python benchmarks/mutation.sh $(MODULES)

clean:
	rm -rf $(VENV) runs .pytest_cache mutants mutants.log
