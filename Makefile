# invdes: build the book and run the tests (GNU make).
#
#   make book   execute every notebook (profile $$INVDES_PROFILE, default paper) and build
#               the Jupyter Book into _build/html/index.html
#   make test   ruff, unit tests and every notebook in the smoke profile (nbval-lax: the cells
#               run), then every notebook in the paper profile against its committed outputs
#               (strict nbval, sanitizers in notebooks/nbval_sanitize.cfg: a number that moved
#               fails until `make notebooks` is run and the notebooks are committed);
#               tests/test_book.py builds the book once and opens every page in headless
#               Chromium (Debian packages chromium, chromium-driver: .ci/run installs them as
#               root; playwright comes with the dev extra); tests/test_jupyterlab.py runs
#               chapter 1 from the Run menu of a local `jupyter lab` in the same browser.
#               INVDES_SKIP_BROWSER=1 skips both.
#   make notebooks  re-execute every notebook in place in the paper profile and save its
#               outputs (run it after changing code or artifacts, then commit the notebooks)
#   make venv   create .venv (once) and install the package with its dev extra
#   make clean  remove the book build and tool caches (keeps .venv and artifacts/)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Written after a successful install; older than pyproject.toml means "reinstall".
STAMP := $(VENV)/.invdes-install.stamp

.PHONY: help venv test lint book notebooks clean

help:
	@echo "make book   build the Jupyter Book (executes notebooks; INVDES_PROFILE, default paper)"
	@echo "make test   lint, unit tests, notebooks in the smoke profile, nbval against the outputs"
	@echo "make notebooks  re-execute the notebooks in the paper profile and save their outputs"
	@echo "make venv   create .venv and install invdes with the dev extra"
	@echo "make clean  remove _build and tool caches"

venv: $(STAMP)

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "error: neither python3.11 nor python3 found on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

# The dev extra brings the test tools, playwright included (its Python API only: the browser
# is the system Chromium, so `playwright install` is never run).
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e ".[dev]"
	touch $@

# Lint only the folders that exist (benchmarks/ may be absent in a fresh clone).
LINT_DIRS := $(wildcard invdes tests benchmarks notebooks/*.py)

lint: venv
	$(BIN)/ruff check $(LINT_DIRS)

# The paper-profile notebook runs (make notebooks, and nbval in make test) share the profile
# and MPLBACKEND unset as in `make book`: the committed outputs are what the book shows.
PAPER_ENV := env -u MPLBACKEND INVDES_PROFILE=paper
NBVAL_SANITIZE := notebooks/nbval_sanitize.cfg

# pytest exit code 5 means "no tests collected" (no notebooks): not a failure.
test: lint
	INVDES_PROFILE=smoke $(BIN)/pytest tests
	INVDES_PROFILE=smoke $(BIN)/pytest --nbval-lax notebooks/ || test $$? -eq 5
	$(PAPER_ENV) $(BIN)/pytest --nbval --nbval-sanitize-with $(NBVAL_SANITIZE) notebooks/ \
		|| test $$? -eq 5

# Re-executes every notebook in place (nbclient, fresh kernel each) and saves its outputs;
# notebooks/execute.py keeps cell ids, drops timing metadata and widget state.
notebooks: venv
	$(PAPER_ENV) $(BIN)/python notebooks/execute.py

# MPLBACKEND is unset: a non-interactive backend such as Agg (CI exports it) would keep the
# notebook kernels from showing their figures.
book: venv
	env -u MPLBACKEND INVDES_PROFILE=$${INVDES_PROFILE:-paper} $(BIN)/jupyter-book build .
	@echo "book: $(CURDIR)/_build/html/index.html"

clean:
	rm -rf _build .pytest_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -path ./$(VENV) -prune -o -name .ipynb_checkpoints -type d -prune -exec rm -rf {} +
