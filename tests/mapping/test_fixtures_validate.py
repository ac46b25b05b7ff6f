"""Every FHIR file of the synthetic pathways is valid: base R4, our profiles, its Questionnaire.

Covers what systems send (``fixtures/pathways/*/fhir/``) and what the mapping produces (the golden
``expected/*.bundle.json`` and ``expected/checklists/*.response.json``). Warnings are allowed;
errors are not, and the failure lists each one with its FHIRPath location.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from adapter.validation.validator import validate
from tests.fixtures_support import FIXTURES, load, pathways


def _files() -> list[Path]:
    files: list[Path] = []
    for pathway in pathways():
        files += pathway.fhir_files()
        files += sorted(pathway.expected.glob("*.bundle.json"))
        files += sorted(pathway.expected.glob("checklists/*.response.json"))
    return files


FILES = _files()


def test_every_pathway_contributes_fhir_and_golden_files() -> None:
    for pathway in pathways():
        mine = [f for f in FILES if pathway.root in f.parents]
        # discharge bundle + 2 PSFS responses, 3 golden bundles, 4 checklist responses
        assert len(mine) == 10, pathway.slug


@pytest.mark.parametrize("path", FILES, ids=[str(f.relative_to(FIXTURES)) for f in FILES])
def test_fixture_is_valid(path: Path) -> None:
    errors = [i for i in validate(load(path)) if i.is_error]
    assert not errors, "\n".join(
        f"{', '.join(i.expression) or '-'}: {i.diagnostics} ({i.forlop_code})" for i in errors
    )
