# Two commands do everything on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Where raw dataset files are copied from when data/ lacks them (see README, "Data").
GMGAN_DATA_MIRROR ?= $(if $(wildcard ../shared/data/MNIST/raw),$(abspath ../shared/data),)
export GMGAN_DATA_MIRROR
# Compiled CPU kernels are cached here, so only the very first call ever compiles.
export NUMBA_CACHE_DIR ?= $(CURDIR)/.numba_cache
# Two CPU cores: one BLAS thread pool, no oversubscription. An OpenMP thread that has finished
# its share spins 3,000 times, then sleeps: libgomp's default (300,000) made steps up to 15x
# slower on a loaded machine, never spinning (OMP_WAIT_POLICY=PASSIVE) cost both models 8-9 % of
# their speed on an idle one (docs/performance.md, "OpenMP threads that wait").
export OMP_NUM_THREADS ?= 2
export GOMP_SPINCOUNT ?= 3000

.PHONY: setup data demo test lint test-unit test-notebooks lab lab-full bench reproduce clean

$(STAMP): pyproject.toml requirements/lock.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c requirements/lock.txt -e '.[test,notebooks]'
	$(BIN)/python -m gmgan_lib.kernels.cpu   # compile the CPU kernels once, into NUMBA_CACHE_DIR
	touch $@

setup: $(STAMP)

data: setup
	@scripts/fashion_mnist_mirror.sh
	$(BIN)/python -m gmgan_lib prepare-data

demo: data
	$(BIN)/python -m gmgan_lib demo --out runs/demo

# The paper's comparison at CPU scale (docs/results.md): 28 runs of 10 CPU minutes, two at a
# time, resumable (about 2.5 hours on 2 cores, measured); `scripts/reproduce.py --help` for parts of it.
reproduce: data
	$(BIN)/python scripts/reproduce.py

# Unit tests and notebooks are two pytest calls: a notebook that hangs cannot hide unit results.
test: lint test-unit test-notebooks

# The rules are in pyproject.toml ([tool.ruff]).
lint: setup
	$(BIN)/ruff check .

test-unit: data
	$(BIN)/python -m pytest tests -q -p no:cacheprovider

# The committed notebooks carry outputs but no execution counts; nbval needs counts on cells
# with outputs, so it runs on numbered copies in build/nbval (scripts/strip_notebooks.py).
test-notebooks: data
	rm -rf build/nbval
	$(BIN)/python scripts/strip_notebooks.py --for-nbval build/nbval notebooks/*.ipynb
	GMGAN_FAST=1 $(BIN)/python -m pytest build/nbval -q -p no:cacheprovider \
	  --nbval-lax --nbval-current-env --nbval-cell-timeout=600 \
	  --nbval-sanitize-with notebooks/sanitize.cfg

# JupyterLab on a git-ignored working copy of the notebooks (scripts/lab.sh): FAST mode by
# default (minutes on a laptop), lab-full for the real runs. As root: make lab ALLOW_ROOT=1.
lab: setup
	scripts/lab.sh fast

lab-full: setup
	scripts/lab.sh full

bench: setup
	$(BIN)/python benchmarks/bench_morph.py
	$(BIN)/python benchmarks/bench_convection.py

clean:
	rm -rf runs .pytest_cache .numba_cache
