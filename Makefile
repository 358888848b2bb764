# Whistle: `make run` serves the platform on the embedded store; `make test` runs everything.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
export WHISTLE_TEST_POSTGIS_URL ?= postgresql://postgres@127.0.0.1:5432/whistle_test

.PHONY: install run test lint system-deps bench clean

$(BIN)/whistle: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	@touch $@

install: $(BIN)/whistle

run: install
	$(BIN)/whistle boundaries load data/boundaries/changshan
	$(BIN)/whistle serve --host 127.0.0.1 --port 8000

system-deps:
	bash scripts/postgis.sh
	bash scripts/chromium.sh

lint: install
	$(BIN)/ruff check .

test: install system-deps lint
	$(BIN)/pytest -q -ra

bench: install
	$(BIN)/python bench/locate.py
	$(BIN)/python bench/matrix.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
