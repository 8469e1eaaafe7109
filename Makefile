# Two commands: `make demo` and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test bench clean chromium

$(STAMP): pyproject.toml setup.py constraints.txt src/vectro/kernels/_native.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# the CPU build of PyTorch (for vectro[train] and vectro[embed]); a bare `torch` would pull the CUDA one
	$(BIN)/python -m pip install --quiet 'torch==2.13.0'
	# uv resolves and installs the rest in parallel (2 minutes on a clean machine, where pip takes 8);
	# it keeps the torch above, and compiles bytecode as pip does (where PYTHONDONTWRITEBYTECODE is
	# set, every process would otherwise compile each module it imports). pip does the same job
	# where uv cannot run.
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/python -m uv pip install --quiet --compile-bytecode --python $(BIN)/python -c constraints.txt -e '.[dev,bench]' \
	  || $(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
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

# the public set the benchmarks measure on; without it `make bench` says so and runs on the bundled sample
PUBLIC_DATA ?= $(or $(VECTRO_PUBLIC_DATA),$(abspath ../shared/data/public-all-MiniLM-L6-v2))

bench: install
	@if [ ! -f "$(PUBLIC_DATA)/base.npy" ]; then \
	  echo "public data not found at $(PUBLIC_DATA): point at the public-all-MiniLM-L6-v2 folder with"; \
	  echo "  make bench PUBLIC_DATA=/path/to/public-all-MiniLM-L6-v2   (or export VECTRO_PUBLIC_DATA=...)"; \
	  echo "running on the bundled 5,000-vector sample instead (docs/benchmarks.md is left alone):"; \
	  $(BIN)/vectro demo && $(BIN)/vectro bench speed --n 100000 --d 384; \
	else \
	  cd benchmarks && export VECTRO_PUBLIC_DATA=$(PUBLIC_DATA) && \
	  ../$(BIN)/python compress.py --write-docs && ../$(BIN)/python speed.py --write-docs && ../$(BIN)/python search.py --write-docs && \
	  ../$(BIN)/python quality.py --write-docs && ../$(BIN)/python learned.py --write-docs && \
	  ../$(BIN)/python embed_models.py --write-docs && ../$(BIN)/python service.py --write-docs && \
	  ../$(BIN)/python databases.py --write-docs; \
	fi

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .hypothesis
