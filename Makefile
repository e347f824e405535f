# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MODEL_PORT ?= 9000
export TEST_DATABASE_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test

.PHONY: install run test lint format model-env vendor-graphiql clean

# Rebuilt whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# The example model servers' own virtual environments, Evidently's for the drift cross-check
# and tritonclient's for the drop-in tests (cached in ~/.cache/mlgraph).
model-env: install
	$(BIN)/python scripts/modelserver.py seldon --prepare
	$(BIN)/python scripts/modelserver.py mlserver --prepare
	$(BIN)/python scripts/modelserver.py evidently --prepare
	$(BIN)/python scripts/modelserver.py tritonclient --prepare

## Start the example Seldon model and mlgraph on SQLite; prints the GraphiQL address.
run: install
	$(BIN)/python scripts/modelserver.py seldon --prepare
	MODEL_PORT=$(MODEL_PORT) BIN=$(BIN) bash scripts/run-dev.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Lint, type-check and run every test on SQLite and PostgreSQL against a real model server.
test: lint model-env
	$(BIN)/pytest

## Refresh GraphiQL's vendored files (graph/static/graphiql/vendor/) from the npm registry at the
## versions pinned in scripts/vendor_graphiql.py. Needs npm; the result is committed.
vendor-graphiql:
	$(PYTHON) scripts/vendor_graphiql.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache mlgraph.db*
