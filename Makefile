# The two commands of the README: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck unit install

$(BIN)/forlop: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

install: $(BIN)/forlop

# The FHIR server on its embedded default: SQLite file ./forlop.db, http://127.0.0.1:8080/fhir,
# secured with a development signing key made on first run (.forlop/keys).
KEYS := .forlop/keys
run: install
	@test -f $(KEYS)/private-key.pem || $(BIN)/forlop token keygen --dir $(KEYS)
	@echo "Get a token: $(BIN)/forlop token issue --key-dir $(KEYS) --issuer forlop-dev --audience forlop --org 995172038 --scope 'system/*.cruds'"
	$(BIN)/forlop serve --jwks $(KEYS)/jwks.json --issuer forlop-dev --audience forlop

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest

test: lint typecheck unit
