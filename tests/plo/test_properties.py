"""Properties over generated variations of PLO messages: the import never crashes, a refusal is
a clear negative AppRec (known KITH 8221 codes, a description, nothing stored), and every
receipt is schema-valid."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, event, given, settings
from lxml import etree

from adapter.plo.importer import import_message
from adapter.plo.terminology import Terminology
from adapter.plo.xsd import load_schemas
from adapter.router.crud import Context
from adapter.store import MemoryRepository
from tests.plo.conftest import SHARED_XSD, own_messages, shared_samples
from tests.plo.strategies import message_variations
from tests.plo.support import receipt, versions

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KNOWN_ERRORS = {
    str(c["code"])
    for c in Terminology().registry.require("http://forlop.no/fhir/CodeSystem/plo-kith-8221")[
        "concept"
    ]
}


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(body=message_variations(own_messages() + shared_samples()))
def test_variations_never_crash_and_refusals_are_clear(body: bytes, context: Context) -> None:
    repository = MemoryRepository()
    apprec, status, summary = import_message(body, repository, context, now=NOW, receipt_id="r")
    code, errors = receipt(apprec)
    event("accepted" if summary.accepted else "refused " + " ".join(e[0] for e in errors))
    if summary.accepted:
        assert (status, code, errors) == (200, "1", [])
    else:
        assert status in (400, 409, 422)
        assert code == "2" and errors
        for value, display, detail in errors:
            assert value in KNOWN_ERRORS
            assert display and detail
        assert versions(repository) == {}
    if SHARED_XSD.is_dir():
        assert load_schemas(str(SHARED_XSD)).validate(etree.fromstring(apprec)) == []
