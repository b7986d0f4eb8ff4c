# Every target bootstraps .venv itself; a fresh clone needs only python3 (3.10+) and make.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test bench bench-paper bench-accuracy bench-gpu lint clean-runs

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m fog.demo

test: $(STAMP)
	$(PY) -m pytest -q --durations=15

bench: $(STAMP)
	$(PY) bench/rd.py
	$(PY) bench/codec_speed.py
	$(PY) bench/placement.py

# the paper's five figures beside its claims (docs/results/paper.md); accuracy with error bars
bench-paper: $(STAMP)
	$(PY) bench/paper.py --threads 1

bench-accuracy: $(STAMP)
	$(PY) bench/accuracy.py --threads 1

# paper scale on one GPU, at most 8 minutes (docs/results/gpu.md); --quick runs it on a CPU
bench-gpu: $(STAMP)
	$(PY) bench/gpu.py

# ruff, then the package layers (pyproject [tool.importlinter]), then types ([tool.mypy])
lint: $(STAMP)
	$(VENV)/bin/ruff check rinr_core rinr_runtime fog edge deploy bench tests
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy rinr_core rinr_runtime

clean-runs:
	rm -rf runs .flwr
