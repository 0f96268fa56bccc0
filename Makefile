# The front door: `make demo`, `make test`, `make lint`, `make bench`, `make soak`.
# Every target creates or refreshes the virtualenv first, so a fresh clone needs nothing else.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench soak system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# The tests drive real Prometheus, promtool and Alertmanager binaries (Debian packages).
system-deps:
	@command -v promtool >/dev/null && command -v prometheus-alertmanager >/dev/null \
		|| scripts/install-system-deps.sh

demo: $(STAMP)
	$(VENV)/bin/smartlead-monitor demo

test: $(STAMP) system-deps
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check monitor tests bench deploy
	$(VENV)/bin/ruff format --check monitor tests bench deploy
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) -m bench

soak: $(STAMP)
	$(PY) -m pytest -m soak --run-soak tests/reliability

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
