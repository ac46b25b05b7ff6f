"""Domain rules and the stable diagnostic codes stay in step."""

from __future__ import annotations

import pytest

from adapter.domain.findings import DomainError, Rule, error, raise_on_errors, warning
from adapter.fhir.errors import Code


@pytest.mark.parametrize("rule", list(Rule))
def test_every_rule_has_a_stable_code(rule: Rule) -> None:
    assert Code[rule.name].value.startswith("FORLOP-")


def test_warnings_pass_and_errors_raise_all_findings_together() -> None:
    notes = [warning(Rule.PSFS_TOO_FEW, "activities", "two")]
    assert raise_on_errors(notes) == tuple(notes)
    problems = [*notes, error(Rule.PSFS_TOO_MANY, "activities", "six")]
    with pytest.raises(DomainError) as caught:
        raise_on_errors(problems)
    assert caught.value.findings == tuple(problems)


def test_stable_codes_are_unique() -> None:
    values = [c.value for c in Code]
    assert len(values) == len(set(values))
