# workerlib's build, test and demo entry points. Every target sets up what it needs:
# a .venv on Python 3.13, npm packages from package-lock.json, Debian's Chromium, the wheels and the Pyodide folder.
# Each step leaves a file behind, so a second run with nothing changed downloads and rebuilds nothing.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
WRAPT_VERSION := $(shell sed -n 's/.*"wrapt==\([0-9.]*\)".*/\1/p' pyproject.toml)
BEARTYPE_VERSION := $(shell sed -n 's/.*"beartype==\([0-9.]*\)".*/\1/p' pyproject.toml)
PYTHON313 ?= $(shell PYENV_VERSION=3.13.0 command -v python3.13 >/dev/null 2>&1 && PYENV_VERSION=3.13.0 python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null)
VENV := .venv
PY := $(VENV)/bin/python
CHROMIUM := /usr/bin/chromium

WHEELS := build/wheels
WORKERLIB_WHEEL := $(WHEELS)/pyscript_workerlib-$(VERSION)-py3-none-any.whl
WRAPT_WHEEL := $(WHEELS)/wrapt-$(WRAPT_VERSION)-py3-none-any.whl
BEARTYPE_WHEEL := $(WHEELS)/beartype-$(BEARTYPE_VERSION)-py3-none-any.whl
# The npm packages (package.json): pyodide is 314.0.2, PyScript 0.7.31's own default (Python 3.14), which every page,
# example, benchmark and the in-Pyodide layer run on; pyodide-0.29 is 0.29.5 (Python 3.13, what PyScript 2026.1.x
# runs), on which the browser tests of services, values and failures run as well (tests/browser/harness.py).
PYODIDE_NPM := node_modules/pyodide
# pip picks the pure wheels for the default Pyodide's Python; py3-none-any, they serve 0.29.5's 3.13 as well.
PYODIDE_PYTHON := 3.14
PYODIDE_DIST := build/pyodide-dist
# What make dist builds: the sdist and wheel for PyPI, and the folder a PyScript page can load workerlib from with
# packages = ["./workerlib.toml"] (that file and the wheels it names).
DIST := build/dist
SDIST := $(DIST)/pyscript_workerlib-$(VERSION).tar.gz
DIST_WHEEL := $(DIST)/pyscript_workerlib-$(VERSION)-py3-none-any.whl
PYSCRIPT_PACKAGE := build/pyscript-package
PACKAGE_FILE := $(PYSCRIPT_PACKAGE)/workerlib.toml
SOURCES := $(shell find workerlib -name '*.py') pyproject.toml README.md

VENV_STAMP := $(VENV)/.workerlib-installed
NPM_STAMP := node_modules/.package-lock.json
PYODIDE_DIST_STAMP := $(PYODIDE_DIST)/.built

.PHONY: help setup venv npm chromium wheels dist pyodide-dist lint typecheck docs test test-unit test-pyodide test-browser demo serve clean

help:
	@echo "make test   set everything up, then lint, type check, docs and the three test layers"
	@echo "make demo   set everything up, then run the first example headless and print what it shows"
	@echo "make serve  serve the repository (or DIR=path) at http://127.0.0.1:8000 with the headers PyScript needs"
	@echo "make dist   build the sdist and wheel (build/dist) and workerlib.toml with its wheels (build/pyscript-package)"
	@echo "make screenshots  run every example headless and copy a PNG of each finished page to docs/_static/examples"

setup: venv npm chromium wheels dist pyodide-dist

venv: $(VENV_STAMP)
$(VENV_STAMP): pyproject.toml
	@if [ -z "$(PYTHON313)" ]; then echo "error: Python 3.13 not found (tried PYENV_VERSION=3.13.0 python3.13); set PYTHON313=/path/to/python3.13" >&2; exit 1; fi
	@[ -x $(PY) ] || $(PYTHON313) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,typecheck]'
	@touch $@

npm: $(NPM_STAMP)
$(NPM_STAMP): package-lock.json package.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

chromium:
	@if [ -x $(CHROMIUM) ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "error: $(CHROMIUM) is missing and installing it needs root:" >&2; \
	  echo "       run 'sudo apt-get install -y chromium' once, then run make again" >&2; exit 1; \
	fi; \
	echo "installing Debian's Chromium (apt-get)"; \
	DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	[ -x $(CHROMIUM) ] || { echo "error: apt-get finished but $(CHROMIUM) is still missing" >&2; exit 1; }

wheels: $(WORKERLIB_WHEEL) $(WRAPT_WHEEL) $(BEARTYPE_WHEEL)
$(WORKERLIB_WHEEL): $(SOURCES) $(VENV_STAMP)
	@mkdir -p $(WHEELS)
	@rm -f $(WHEELS)/workerlib-*.whl $(WHEELS)/pyscript_workerlib-*.whl
	$(PY) -m pip wheel --quiet --disable-pip-version-check --no-deps --no-build-isolation -w $(WHEELS) .
	@test -f $@ || { echo "error: expected $@ after building the wheel" >&2; exit 1; }

$(WRAPT_WHEEL): | $(VENV_STAMP)
	@mkdir -p $(WHEELS)
	$(PY) -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
	  --platform any --python-version $(PYODIDE_PYTHON) --implementation py -d $(WHEELS) wrapt==$(WRAPT_VERSION)
	@test -f $@ || { echo "error: expected wrapt's pure wheel at $@" >&2; exit 1; }

# Every browser test page unpacks it, so pages can use typechecked (and typechecked=True services) in main and workers.
$(BEARTYPE_WHEEL): | $(VENV_STAMP)
	@mkdir -p $(WHEELS)
	$(PY) -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
	  --platform any --python-version $(PYODIDE_PYTHON) --implementation py -d $(WHEELS) beartype==$(BEARTYPE_VERSION)
	@test -f $@ || { echo "error: expected beartype's pure wheel at $@" >&2; exit 1; }

dist: $(SDIST) $(DIST_WHEEL) $(PACKAGE_FILE)
$(SDIST): $(SOURCES) $(VENV_STAMP)
	@mkdir -p $(DIST)
	@rm -f $(DIST)/pyscript_workerlib-*.tar.gz
	$(PY) -m hatchling build -t sdist -d $(DIST)
	@test -f $@ || { echo "error: expected $@ after building the sdist" >&2; exit 1; }
$(DIST_WHEEL): $(WORKERLIB_WHEEL)
	@mkdir -p $(DIST)
	@rm -f $(DIST)/pyscript_workerlib-*.whl
	cp $< $@
$(PACKAGE_FILE): tools/build_package_file.py tools/build_pyodide_dist.py $(WORKERLIB_WHEEL) $(WRAPT_WHEEL)
	$(PY) -m tools.build_package_file --out $(PYSCRIPT_PACKAGE) $(WORKERLIB_WHEEL) $(WRAPT_WHEEL)

# Pyodide from npm with the project's wheels and pytest's in its lock, for the in-Pyodide tests (make test-pyodide).
pyodide-dist: $(PYODIDE_DIST_STAMP)
$(PYODIDE_DIST_STAMP): tools/build_pyodide_dist.py $(NPM_STAMP) $(WORKERLIB_WHEEL) $(WRAPT_WHEEL)
	$(PY) tools/build_pyodide_dist.py --pyodide $(PYODIDE_NPM) --wheels $(WHEELS) --out $(PYODIDE_DIST)
	@touch $@

lint: $(VENV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV_STAMP)
	$(VENV)/bin/mypy

docs: $(VENV_STAMP)
	$(VENV)/bin/sphinx-build -q -W --keep-going -b html docs build/docs

# The wheel test installs workerlib and wrapt's wheel into a fresh venv, offline.
test-unit: $(VENV_STAMP) $(WRAPT_WHEEL)
	$(PY) -m pytest -q tests/unit

test-pyodide: $(VENV_STAMP) $(PYODIDE_DIST_STAMP)
	$(PY) -m pytest -q tests/pyodide --runtime=node --dist-dir=$(PYODIDE_DIST)

test-browser: $(VENV_STAMP) $(NPM_STAMP) chromium $(WORKERLIB_WHEEL) $(WRAPT_WHEEL) $(BEARTYPE_WHEEL) $(PACKAGE_FILE)
	$(PY) -m pytest -q tests/browser

test: lint typecheck docs test-unit test-pyodide test-browser

demo: $(VENV_STAMP) $(NPM_STAMP) chromium $(WORKERLIB_WHEEL) $(WRAPT_WHEEL)
	$(PY) tools/demo.py examples/01-hello

# Each example runs headless on Pyodide 314.0.2 as its browser test runs it, leaving build/screenshots/<example>.png;
# an example that finished OK has its PNG copied to docs/_static/examples/, which docs/examples.rst shows (commit it).
.PHONY: screenshots
screenshots: $(VENV_STAMP) $(NPM_STAMP) chromium $(WORKERLIB_WHEEL) $(WRAPT_WHEEL)
	$(PY) -m tools.screenshots

.PHONY: bench
bench: $(VENV_STAMP) $(NPM_STAMP) chromium wheels
	$(PY) tools/bench.py

# DIR=path serves that folder instead of the repository; PORT=n another port.
DIR ?=
PORT ?= 8000
serve: $(VENV_STAMP) $(NPM_STAMP) $(WORKERLIB_WHEEL) $(WRAPT_WHEEL) $(PACKAGE_FILE)
	$(PY) tools/devserver.py --port $(PORT) $(if $(DIR),--dir "$(DIR)")

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
