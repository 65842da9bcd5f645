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

.PHONY: install study tune curves curves-a curves-b curves-status curves-study smoke test test-fast report bench mutation clean

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

tune: install           ## an equal-budget tuning under today's rules: 600 CPU s per model and subset, one fit at a time (resumable)
	$(BIN)/python -m study.tune --profile default --budget 600 --folds 3 --threads 1 --workers 1 \
	    --models $(TUNED_MODELS) --subsets FD001,FD003,FD002,FD004 --out $(or $(TUNING),runs/tuning)
	$(BIN)/python -m study.tuning_summary $(or $(TUNING),runs/tuning)

# the budget curves: 3,600 CPU s per pair for the five families tuning can change; two tuners,
# each on one core (make -j2 curves); rerun to resume (reports/curves/README.md)
empty :=
space := $(empty) $(empty)
comma := ,
CURVE_MODELS_ALL := lstm,transformer,mamba,xgboost,autogluon-tabular
CURVE_MODELS ?= $(CURVE_MODELS_ALL)
CURVE_TUNE = $(BIN)/python -m study.tune --profile default --budget 3600 --folds 3 --threads 1 --workers 1 \
	    --models $(CURVE_MODELS)
curves: curves-a curves-b
curves-a: install
	$(CURVE_TUNE) --subsets FD001,FD003 --out reports/curves/tuner-a
curves-b: install
	$(CURVE_TUNE) --subsets FD004,FD002 --out reports/curves/tuner-b
curves-status: install   ## refresh the budget table and the tuning traces in reports/curves/ from the journals
	$(BIN)/python -m study.tuning_summary reports/curves/tuner-a reports/curves/tuner-b --budgets $(subst $(space),$(comma),$(CURVE_BUDGETS)) \
	    --into reports/curves/README.md
	$(BIN)/python -m study.publishing.curves reports/curves/tuner-a reports/curves/tuner-b --figure reports/curves/fig_incumbent_traces.png
# then, once pairs are complete: their incumbents at 10, 30 and 60 minutes (variants tuned-10m,
# tuned-30m, tuned-60m), 3 seeds each, scored once into the study; the ensembles per variant
# (only with every family: an ensemble waits until a subset has all its members); the report
# with its budget curves (and, into the committed study, the post). Resumable; pick the finished ones:
#   make curves-study STUDY=reports/study CURVE_SUBSETS_A=FD001 CURVE_SUBSETS_B=FD004
#   make curves-study STUDY=reports/study CURVE_MODELS=lstm,transformer CURVE_SUBSETS_A=FD001 CURVE_SUBSETS_B=
#   (a partial model list stores no ensembles)
CURVE_BUDGETS ?= 600 1800 3600
CURVE_SUBSETS_A ?= FD001,FD003
CURVE_SUBSETS_B ?= FD004,FD002
curves-study: install
	for budget in $(CURVE_BUDGETS); do \
	  for part in $(if $(CURVE_SUBSETS_A),tuner-a:$(CURVE_SUBSETS_A)) $(if $(CURVE_SUBSETS_B),tuner-b:$(CURVE_SUBSETS_B)); do \
	    $(BIN)/python -m study.run --profile default --tuned reports/curves/$${part%%:*} --tuned-budget $$budget \
	        --models $(CURVE_MODELS) --subsets $${part#*:} --workers 2 --out $(STUDY) --no-report || exit 1; \
	  done; \
	done
ifeq ($(CURVE_MODELS),$(CURVE_MODELS_ALL))
	$(BIN)/python -m study.ensemble $(STUDY)
endif
	$(BIN)/python -m study.report $(STUDY) $(if $(filter reports/study,$(STUDY)),--writeup reports/writeup.md --writeup reports/blog.md)

smoke: install          ## a tiny study in one to two minutes
	$(BIN)/python -m study.run --profile smoke --out runs/smoke

test: install           ## the test suite (CI runs exactly this)
	HF_HUB_OFFLINE=1 MPLBACKEND=Agg $(BIN)/python -m pytest -q

test-fast: install      ## the inner loop: every test not marked slow (the full suite is make test)
	HF_HUB_OFFLINE=1 MPLBACKEND=Agg $(BIN)/python -m pytest -q -m "not slow"

report: install         ## regenerate the report of a run folder: make report RUN=runs/study
	$(BIN)/python -m study.report $(or $(RUN),$(STUDY))

bench: install          ## speed benchmarks (not part of the tests)
	$(BIN)/python benchmarks/bench_data.py

mutation: install      ## mutation testing of the scientific core (about an hour; not part of test)
	$(BIN)/python -m pip install --quiet -e '.[mutation]'
	PYTHON=$(BIN)/python benchmarks/mutation.sh $(MODULES)

clean:
	rm -rf $(VENV) runs .pytest_cache mutants mutants.log
