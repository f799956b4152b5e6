# Every target creates .venv and installs the project on first use, and reinstalls
# whenever pyproject.toml changes. Needs Python 3.11+ as $(PYTHON) (default: python3).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
NOTEBOOKS := $(wildcard notebooks/*.ipynb) $(wildcard solutions/*.ipynb)
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg \
         --nbval-cell-timeout 60 -p no:randomly
HOST ?= 127.0.0.1
# Jupyter refuses to run as root (containers often do) unless told it may.
LAB_FLAGS ?= $(if $(filter 0,$(shell id -u)),--allow-root)
PORT ?= 8000

.PHONY: lab serve test lint format notebooks bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "StreamVerse needs Python 3.11 or newer: make PYTHON=python3.11 ...")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -c 'import matplotlib.pyplot'  # build the font cache now, not in a lesson
	touch $(STAMP)

lab: $(STAMP)  ## open the course in JupyterLab
	$(BIN)/jupyter lab $(LAB_FLAGS) notebooks/00_course_map_and_background_server.ipynb

serve: $(STAMP)  ## run the platform (API docs at /docs)
	$(BIN)/streamverse serve --host $(HOST) --port $(PORT)

test: $(STAMP) lint  ## everything CI runs: lint, unit and integration tests, notebooks
	$(BIN)/pytest
	$(BIN)/pytest $(NBVAL) notebooks solutions

lint: $(STAMP)  ## ruff (lint and format) and the type checker
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

notebooks: $(STAMP)  ## re-execute every notebook in place, in a fresh kernel each
	$(BIN)/python -m streamverse.course.execute $(NOTEBOOKS)

bench: $(STAMP)  ## benchmarks (never part of the tests)
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache
