# Every target bootstraps .venv itself: a fresh clone needs only Python 3.10+
# with venv.  `make test` is what CI runs (.ci/run).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.sbd-installed
# xdist workers: both cores by default; override with `make test JOBS=1`.
JOBS ?= auto

.PHONY: all venv test lint demo bench fuzz clean

all: test

$(STAMP): pyproject.toml setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint
	$(PY) -m pytest -n $(JOBS) --dist loadgroup $(PYTEST_ARGS)

demo: $(STAMP)
	$(VENV)/bin/sbd demo

bench: $(STAMP)
	@set -e; for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b; done

fuzz: $(STAMP)
	$(PY) bench/fuzz_validate.py

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
