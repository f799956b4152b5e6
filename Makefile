# Every target creates .venv and installs the project on first use, and reinstalls
# whenever pyproject.toml changes. Needs Python 3.11+ as $(PYTHON) (default: python3).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Tests are type-checked (bodies, Optionals, calls into the package) without annotating
# every fixture and helper; the package and bench/ are checked strictly (pyproject.toml).
MYPY_TESTS := --allow-untyped-defs --allow-incomplete-defs --allow-untyped-calls \
	--allow-any-generics --no-warn-return-any --no-warn-unused-ignores
NOTEBOOKS := $(wildcard notebooks/*.ipynb) $(wildcard solutions/*.ipynb)
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg \
         --nbval-cell-timeout 60 -p no:randomly
HOST ?= 127.0.0.1
# Jupyter refuses to run as root (containers often do) unless told it may.
LAB_FLAGS ?= $(if $(filter 0,$(shell id -u)),--allow-root)
PORT ?= 8000

.PHONY: lab workspace reset-lesson serve test lint format notebooks bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "StreamVerse needs Python 3.11 or newer: make PYTHON=python3.11 ...")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -c 'import matplotlib.pyplot'  # build the font cache now, not in a lesson
	touch $(STAMP)

WORKSPACE := workspace
LESSON ?=

lab: $(STAMP) workspace  ## open the course in JupyterLab, from your own copy in workspace/
	$(BIN)/jupyter lab $(LAB_FLAGS) $(WORKSPACE)/00_course_map_and_background_server.ipynb

# The learner's copy: git ignores it, and a lesson already there is never overwritten, so
# your work survives `git pull` and never fails `make test`.
workspace:
	@mkdir -p $(WORKSPACE)
	@for lesson in notebooks/*.ipynb; do \
	  test -e $(WORKSPACE)/$$(basename $$lesson) || cp $$lesson $(WORKSPACE)/; \
	done

reset-lesson:  ## put a fresh copy of one lesson in workspace/: make reset-lesson LESSON=01
	@test -n "$(LESSON)" || { echo "which lesson? make reset-lesson LESSON=01" >&2; exit 2; }
	@lesson=$$(ls notebooks/$(LESSON)_*.ipynb 2>/dev/null | head -1); \
	test -n "$$lesson" || { echo "no lesson $(LESSON) in notebooks/" >&2; exit 2; }; \
	mkdir -p $(WORKSPACE); copy=$(WORKSPACE)/$$(basename $$lesson); \
	if test -e $$copy; then mv $$copy $${copy%.ipynb}.bak.ipynb; echo "kept your old copy as $${copy%.ipynb}.bak.ipynb"; fi; \
	cp $$lesson $$copy; echo "fresh copy: $$copy"

serve: $(STAMP)  ## run the platform (API docs at /docs)
	$(BIN)/streamverse serve --host $(HOST) --port $(PORT)

test: $(STAMP) lint  ## everything CI runs: lint, unit and integration tests, notebooks
	$(BIN)/pytest
	$(BIN)/pytest $(NBVAL) notebooks solutions

lint: $(STAMP)  ## ruff (lint and format) and the type checker
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy tests $(MYPY_TESTS)

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

notebooks: $(STAMP)  ## re-execute every notebook in place, in a fresh kernel each
	$(BIN)/python -m streamverse.course.execute $(NOTEBOOKS)

bench: $(STAMP)  ## benchmarks (never part of the tests)
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache
