# Two commands: `make demo` and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test bench clean chromium

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# the CPU build of PyTorch (for vectro[train] and vectro[embed]); a bare `torch` would pull the CUDA one
	$(BIN)/python -m pip install --quiet 'torch==2.13.0'
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/vectro demo

# Debian's chromium for the dashboard's headless-browser test (Playwright drives /usr/bin/chromium;
# no `playwright install`); without root or apt-get the test says why it is skipped.
chromium:
	@test -x /usr/bin/chromium || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -q chromium || { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; } \
	  || echo "chromium could not be installed: the dashboard browser test will be skipped"; }

test: install chromium
	$(BIN)/python -m pytest

bench: install
	cd benchmarks && ../$(BIN)/python compress.py
	cd benchmarks && ../$(BIN)/python speed.py
	cd benchmarks && ../$(BIN)/python search.py
	cd benchmarks && ../$(BIN)/python quality.py
	cd benchmarks && ../$(BIN)/python learned.py
	cd benchmarks && ../$(BIN)/python embed_models.py
	cd benchmarks && ../$(BIN)/python service.py --write-docs
	cd benchmarks && ../$(BIN)/python databases.py --write-docs

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .hypothesis
