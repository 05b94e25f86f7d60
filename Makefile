# Two commands for a fresh machine with only Python:
#   make demo   set up .venv and learn zoom + colour walks on the bundled `faces` model
#   make test   set up .venv and run the test suite (all but the tests marked slow; make test-all: every test)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-slow test-all lint bench clean chromium

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

# The web UI's browser tests drive Debian's Chromium: installed here when we can (root and apt-get, as
# .ci/run does); otherwise one line says how, and those tests are skipped.
chromium:
	@test -x $(CHROMIUM) && exit 0; \
	if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && apt-get update -qq >/dev/null 2>&1 \
	    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1; then \
	    echo "make: installed Debian's chromium for the browser tests"; \
	else \
	    echo "NOTE: no Chromium at $(CHROMIUM), so the browser tests of the web UI (tests/test_ui_browser.py) will be SKIPPED; get it with 'sudo apt-get install chromium' (or set CHROMIUM=/path/to/chromium)"; \
	fi

# make test: every test but the ~40 marked slow (multi-process, resume-after-kill, browser-concurrency and
# example end-to-end runs, 8-55 s each). make test-slow runs those; make test-all both; .ci/run runs both.
test: lint chromium
	STEERLAB_CHROMIUM=$(CHROMIUM) $(PY) -m pytest -q -m "not slow" --durations=15

test-slow: $(STAMP) chromium
	STEERLAB_CHROMIUM=$(CHROMIUM) $(PY) -m pytest -q -m slow --durations=15

test-all: test test-slow

bench: $(STAMP)
	$(PY) bench/walk_step.py
	$(PY) bench/import_time.py
	$(PY) bench/steerable_throughput.py

clean:
	rm -rf $(VENV) runs
