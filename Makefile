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
# The course's notebooks (`make sync NOTEBOOKS=dir` works on a copy).
NOTEBOOKS ?= notebooks

.PHONY: setup data demo test lint test-unit test-notebooks test-browser sync notebooks lab lab-full lab-edit explore bench \
  reproduce clean

$(STAMP): pyproject.toml requirements/lock.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c requirements/lock.txt -e '.[test,notebooks]'
	$(BIN)/python -m gmgan_lib.kernels.warmup   # compile the CPU kernels once, into NUMBA_CACHE_DIR
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

# Unit tests, notebooks and the browser test are separate pytest calls: a notebook or a page
# that hangs cannot hide the other results.
test: lint test-unit test-notebooks test-browser

# The rules are in pyproject.toml: [tool.ruff] for the code, [tool.importlinter] for the rooms
# (imports run down, no circle).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

test-unit: data
	$(BIN)/python -m pytest tests -q -p no:cacheprovider --ignore=tests/browser

# Every cell is executed; only cells tagged `nbval-check-output` have their output compared
# (notebooks/README.md, "How CI runs them"). nbval needs a count on every cell with outputs and
# the committed notebooks keep none: it runs on numbered copies in build/nbval.
test-notebooks: data
	rm -rf build/nbval
	$(BIN)/python scripts/notebook_outputs.py number build/nbval $(NOTEBOOKS)/[0-9]*.ipynb
	GMGAN_FAST=1 $(BIN)/python -m pytest build/nbval -q -p no:cacheprovider \
	  --nbval-lax --nbval-current-env --nbval-cell-timeout=600 \
	  --nbval-sanitize-with notebooks/sanitize.cfg

# The widgets in a real browser: JupyterLab and `make explore`'s page on 127.0.0.1, driven in
# Debian's Chromium by Playwright (installed here when run as root); screenshots of a failing
# page go to build/browser-test/.
test-browser: data
	@scripts/chromium.sh
	$(BIN)/python -m pytest tests/browser -q -p no:cacheprovider

# After editing a notebook (in JupyterLab, or its text twin in an editor): bring the .ipynb and
# its twin together (inputs from whichever was saved last, outputs from the .ipynb; jupytext),
# then drop what the project does not keep: execution counts, widget state, timestamps, cell ids
# (nbstripout, keeping the outputs) and widget views whose state is gone (notebook_outputs.py).
sync: setup
	$(BIN)/jupytext --quiet --sync $(NOTEBOOKS)/*.ipynb
	$(BIN)/nbstripout --keep-output $(NOTEBOOKS)/*.ipynb
	$(BIN)/python scripts/notebook_outputs.py drop-widget-views $(NOTEBOOKS)/*.ipynb

# Execute every notebook in FAST mode, as CI does, keep the fresh outputs, then sync.
notebooks: data
	GMGAN_FAST=1 $(BIN)/jupyter nbconvert --log-level=WARN --to notebook --execute --inplace \
	  --ExecutePreprocessor.timeout=600 $(NOTEBOOKS)/[0-9]*.ipynb
	$(MAKE) --no-print-directory sync

# JupyterLab on a git-ignored working copy of the notebooks (scripts/lab.sh): FAST mode by
# default (minutes on a laptop), lab-full for the real runs. As root: make lab ALLOW_ROOT=1.
# It serves work/, with the copy in work/notebooks/ and docs/ copied to work/docs/, so that the
# notebooks' `../docs/...` pictures and links resolve as in the repository.
lab: setup
	scripts/lab.sh fast

lab-full: setup
	scripts/lab.sh full

# JupyterLab on notebooks/ itself (served from the repository, so docs/ resolves too), to change
# the course; run `make sync` before committing.
lab-edit: setup
	scripts/lab.sh edit

# The explorers (morphology, orientation scores, structuring elements) as one web page with no
# code, for a projector: Voila on http://127.0.0.1:$(EXPLORE_PORT) (notebooks/explorers.ipynb).
EXPLORE_PORT ?= 8866
explore: data
	GMGAN_FAST=1 $(BIN)/voila notebooks/explorers.ipynb --Voila.ip=127.0.0.1 --port=$(EXPLORE_PORT)

bench: setup
	$(BIN)/python benchmarks/bench_morph.py
	$(BIN)/python benchmarks/bench_convection.py

clean:
	rm -rf runs .pytest_cache .numba_cache
