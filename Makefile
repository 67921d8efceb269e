# The two set-up commands of the README: `make demo` (the main job) and `make test`. Both build .venv first.
PYTHON ?= python3
VENV := .venv
export MTDNN_DATA_DIR ?= $(abspath ../shared/data/glue)
export HF_HUB_OFFLINE ?= 1

.PHONY: setup test lint demo

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(VENV)/bin/python -m pytest

demo: setup
	$(VENV)/bin/python training/run_mtdnn.py
