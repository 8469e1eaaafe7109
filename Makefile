# Two commands: `make demo` and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# the CPU build of PyTorch (for vectro[train]); a bare `torch` would pull the CUDA one
	$(BIN)/python -m pip install --quiet 'torch==2.13.0'
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/vectro demo

test: install
	$(BIN)/python -m pytest

bench: install
	cd benchmarks && ../$(BIN)/python compress.py --write-docs
	cd benchmarks && ../$(BIN)/python speed.py --write-docs
	cd benchmarks && ../$(BIN)/python search.py --write-docs
	cd benchmarks && ../$(BIN)/python quality.py --write-docs
	cd benchmarks && ../$(BIN)/python learned.py --write-docs

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .hypothesis
