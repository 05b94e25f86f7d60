# Two commands for a fresh machine with only Python:
#   make demo   set up .venv and learn zoom + colour walks on the bundled `faces` model
#   make test   set up .venv and run the test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-fast lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -c constraints.txt -e ".[dev,ui,biggan]"
	# Wheels that carry real pretrained weights; only their weight files are read.
	$(PIP) install --quiet --no-deps generateme==0.1.2 stlpips-pytorch==0.0.2
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/steerlab demo --out runs/demo

CHROMIUM ?= /usr/bin/chromium

# The layer contract (pyproject.toml, import-linter) and ruff guard the architecture.
lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench tools
	$(VENV)/bin/lint-imports

test: lint
	@test -x $(CHROMIUM) || echo "NOTE: no Chromium at $(CHROMIUM): the browser tests of the web UI (tests/test_ui_browser.py) will be SKIPPED; install it with 'apt-get install chromium' (as root)"
	STEERLAB_CHROMIUM=$(CHROMIUM) $(PY) -m pytest -q

test-fast: lint
	$(PY) -m pytest -q -m "not slow"

bench: $(STAMP)
	$(PY) bench/walk_step.py
	$(PY) bench/import_time.py
	$(PY) bench/steerable_throughput.py

clean:
	rm -rf $(VENV) runs
