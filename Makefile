# Two commands set everything up: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test

.PHONY: demo test test-slow lint bench docs train clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

# on a fresh clone `make test` installs the package and its test tools in one pip run
$(TSTAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP) $@

demo: $(STAMP)
	$(VENV)/bin/bayesdiff demo --out demo-output

# the suite's files run on every core (pytest-xdist; one file stays on one worker, so
# its module fixtures are built once; the slowest files first, see tests/conftest.py)
test: $(TSTAMP)
	$(PY) -m pytest -q -n auto --dist loadfile --no-loadscope-reorder

# the long statistical runs: test by test on every core
test-slow: $(TSTAMP)
	$(PY) -m pytest -q -n auto --dist load -m slow

lint: $(TSTAMP)
	$(VENV)/bin/ruff check bayesdiff tests benchmarks examples
	$(VENV)/bin/ruff format --check bayesdiff tests benchmarks examples

bench: $(STAMP)
	$(PY) benchmarks/likelihood.py
	$(PY) benchmarks/posterior.py

# Reproduces the shipped ensemble bayesdiff/data/neural/default (wall time: docs/neural.md).
NEURAL_OUT := build/neural-default
train: $(STAMP)
	nice -n 15 $(VENV)/bin/bayesdiff train --out $(NEURAL_OUT) --members 5 --seed 0 \
		--n-train 400000 --minutes 32 --quiet
	mkdir -p bayesdiff/data/neural/default
	cp $(NEURAL_OUT)/manifest.json $(NEURAL_OUT)/member*.msgpack bayesdiff/data/neural/default/

docs: $(STAMP)
	$(PY) -m doctest -o ELLIPSIS docs/*.md

clean:
	rm -rf $(VENV) demo-output .pytest_cache
