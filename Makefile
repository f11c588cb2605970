# The two quick-start commands (`make study`, `make test`) and their helpers.
# Each target sets up .venv first, so both work on a fresh machine with nothing installed.

VENV     := .venv
PY       := $(VENV)/bin/python
DVC      := $(VENV)/bin/dvc
STAMP    := $(VENV)/.installed-stamp
VEGA     := node_modules/.package-lock.json
# Offline machines read the data from a local mirror; ../shared/data is where CI has one.
BARENET_DATA_MIRROR ?= $(abspath $(wildcard ../shared/data))
export BARENET_DATA_MIRROR

.PHONY: setup study test test-fast lint params bench bench-study bench-suite clean-venv system-tools

setup: $(STAMP) $(VEGA) system-tools

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[study,dev]'
	touch $@

# For `dvc plots show` offline (.dvc/plots/offline.html): Vega as pinned in package-lock.json,
# and Debian's chromium, in which tests/test_plots_browser.py opens the page.
$(VEGA): package-lock.json | system-tools
	npm ci
	touch $@

# Debian packages, installed only where missing (apt needs root, as on CI).
system-tools:
	@missing="$$(for tool in chromium npm; do command -v $$tool >/dev/null || echo $$tool; done)"; \
	test -z "$$missing" || { apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; }

# Stage commands call `python`: the venv's must come first on PATH.
study: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" $(DVC) repro

# The suite on every core (pytest-xdist; worksteal: an idle worker takes queued tests from a
# busy one), with one BLAS/OpenMP thread per process as the stages run: threads spin-waiting
# for a shared core slow everything down (study/threads.py).
PYTEST   := OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest -n auto --dist worksteal

test: setup
	$(PYTEST)

# The inner loop: every test not marked slow (the library, config, validation and stage
# helpers; no pipeline run, no browser). Its last wall time: benchmarks/results.json.
test-fast: $(STAMP)
	$(PYTEST) -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check src stages tests benchmarks

# Regenerate params.yaml from conf/ exactly as `dvc exp run` composes it.
params: $(STAMP)
	$(VENV)/bin/study-params --write

bench: $(STAMP)
	$(PY) benchmarks/run.py

# The ratios above plus a forced full `dvc repro` and a no-op one, timed (each stage's seconds
# in benchmarks/study.json).
bench-study: $(STAMP)
	$(PY) benchmarks/run.py --study

# The wall times of `make test-fast` and `make test` against their targets, into results.json's
# test_suite entry, the ratios left as they are (it runs both).
bench-suite: $(STAMP)
	$(PY) benchmarks/run.py --suite

clean-venv:
	rm -rf $(VENV)
