# Two commands work on a fresh machine from a clean clone: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format bench soak clean openssh-server

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("edi-engine needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/edi-engine demo demo-home

# the SFTP tests run a real OpenSSH sshd on 127.0.0.1; without one they skip, saying why
openssh-server:
	@if [ ! -x /usr/sbin/sshd ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing openssh-server for the SFTP tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null) \
	  || echo "openssh-server could not be installed: the SFTP tests will skip"; \
	fi

# one test process per core (pytest-xdist), each test file whole in one of them: a file's
# module fixtures (one engine run for many tests) are set up once
test: $(STAMP) openssh-server
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q --numprocesses auto --dist loadfile

# speed and memory, never timed tests (docs/performance.md): a mix of 5,000 invoices
# against the floor, then one large pivot flow, the rules' ceilings, and `edi-engine check`
# on a home of 100,000 flows (docs/reliability.md), and the API's lookups and deposits a
# second under wrk (docs/api.md)
bench: $(STAMP)
	$(BIN)/python -m bench
	$(BIN)/python bench/pivot_flow.py
	$(BIN)/python -m bench.ceiling
	$(BIN)/python -m bench.check --flows 100000
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get install -y -qq wrk >/dev/null; } || echo "wrk is missing: bench.api skipped"
	@if command -v wrk >/dev/null; then $(BIN)/python -m bench.api; fi

# the crash harness at length (tests/crash/soak.py): thousands of flows, hundreds of kills
# of the engine's processes, then everything verified and `edi-engine check`; e.g.
# `make soak DURATION=2h SOAK_ARGS='--database postgresql'`
DURATION ?= 30m
SOAK_ARGS ?=
soak: $(STAMP) openssh-server
	$(BIN)/python -m tests.crash.soak --duration $(DURATION) $(SOAK_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) demo-home build dist *.egg-info .pytest_cache .ruff_cache
