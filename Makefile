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

# Runs the translation core end to end on the bundled fixtures.
run: install
	$(BIN)/forlop validate fixtures/pathways/*/fhir/*.json
	$(BIN)/forlop extract fixtures/pathways/astrid-fjellheim/fhir/psfs-reassessment.json \
		--previous fixtures/pathways/astrid-fjellheim/fhir/psfs-baseline.json > extracted-bundle.json
	$(BIN)/forlop validate extracted-bundle.json

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest

test: lint typecheck unit
