# Two commands do all set-up on a fresh machine:  make study   |   make test
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# torch is pinned to the CPU build that this machine has on local disk; an unpinned torch
# would pull a multi-GB CUDA build. On a GPU machine, install the CUDA build of torch first.
TORCH  ?= torch==2.13.0

.PHONY: install study smoke test report bench mutation clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[all]'
	touch $(STAMP)

install: $(STAMP)

study: install          ## the full standard-profile study, its ensemble and report (hours on a 2-core CPU; resumable)
	HF_HUB_OFFLINE=$${HF_HUB_OFFLINE:-0} $(BIN)/python -m study.run --profile standard --out runs/standard --no-report
	$(BIN)/python -m study.ensemble runs/standard
	$(BIN)/python -m study.report runs/standard

smoke: install          ## a tiny study in one to two minutes
	$(BIN)/python -m study.run --profile smoke --out runs/smoke

test: install           ## the test suite (CI runs exactly this)
	HF_HUB_OFFLINE=1 MPLBACKEND=Agg $(BIN)/python -m pytest -q

report: install         ## regenerate the report of a run folder: make report RUN=runs/standard
	$(BIN)/python -m study.report $(or $(RUN),runs/standard)

bench: install          ## speed benchmarks (not part of the tests)
	$(BIN)/python benchmarks/bench_data.py

mutation: install      ## mutation testing of the scientific core (about an hour; not part of test)
	$(BIN)/python -m pip install --quiet -e '.[mutation]'
	PYTHON=$(BIN)/python benchmarks/mutation.sh $(MODULES)

clean:
	rm -rf $(VENV) runs .pytest_cache mutants mutants.log
