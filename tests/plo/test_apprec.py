"""AppRec v1.1 receipts: addressed back to the sender, schema-valid, with KITH 8221 error codes."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from adapter.plo.apprec import APPREC_NS, ERROR_SYSTEM, build_apprec
from adapter.plo.envelope import Original
from adapter.plo.errors import PloError, Problem
from adapter.plo.importer import import_message
from adapter.plo.message import parse_message
from adapter.plo.model import Code, Organisation
from adapter.plo.xsd import Schemas
from adapter.router.crud import Context
from adapter.store.repository import Repository
from tests.fixtures_support import REGENERATE
from tests.plo.conftest import BAD, EXPECTED, MESSAGES, bad_messages

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NS = {"a": APPREC_NS}


def _original(path: Path) -> Original:
    envelope = parse_message(path.read_bytes()).envelope
    return Original(
        envelope.type, envelope.msg_id, envelope.gen_date, envelope.sender, envelope.receiver
    )


def _text(root: etree._Element, path: str) -> str | None:
    node = root.find(path, NS)
    return None if node is None else node.text


def test_an_ok_receipt_is_addressed_back_to_the_sender() -> None:
    apprec = build_apprec(_original(MESSAGES / "log-innlagt.xml"), [], receipt_id="r1", now=NOW)
    root = etree.fromstring(apprec)
    assert root.tag == f"{{{APPREC_NS}}}AppRec"
    assert root.find("a:MsgType", NS).get("V") == "APPREC"  # type: ignore[union-attr]
    assert _text(root, "a:MIGversion") == "v1.1 2012-02-15"
    assert (_text(root, "a:GenDate"), _text(root, "a:Id")) == ("2026-03-01T12:00:00+00:00", "r1")
    # The receipt comes from the receiver (the municipality) and goes to the sender (hospital).
    assert _text(root, "a:Sender/a:HCP/a:Inst/a:Name") == "Nordheim kommune"
    assert _text(root, "a:Sender/a:HCP/a:Inst/a:Dept/a:Id") == "770023"
    assert _text(root, "a:Receiver/a:HCP/a:Inst/a:Id") == "880001"
    assert root.find("a:Receiver/a:HCP/a:Inst/a:TypeId", NS).get("V") == "HER"  # type: ignore[union-attr]
    assert root.find("a:Status", NS).attrib == {"V": "1", "DN": "OK"}  # type: ignore[union-attr]
    assert root.findall("a:Error", NS) == []
    assert _text(root, "a:OriginalMsgId/a:Id") == "7c1d2e3f-0001-4a00-9000-00000000b001"
    assert _text(root, "a:OriginalMsgId/a:IssueDate") == "2026-02-02T14:31:00"
    assert root.find("a:OriginalMsgId/a:MsgType", NS).get("V") == "LOG_INNLAGT"  # type: ignore[union-attr]


def test_a_rejection_lists_every_problem_with_its_8221_code() -> None:
    problems = [Problem("T02", "Element X is not expected.", "/*/*[1]"), Problem("E31", "Wrong.")]
    apprec = build_apprec(
        _original(MESSAGES / "log-innlagt.xml"), problems, receipt_id="r2", now=NOW
    )
    root = etree.fromstring(apprec)
    assert root.find("a:Status", NS).attrib == {"V": "2", "DN": "Avvist"}  # type: ignore[union-attr]
    errors = [dict(e.attrib) for e in root.findall("a:Error", NS)]
    assert errors == [
        {
            "V": "T02",
            "S": ERROR_SYSTEM,
            "DN": "XML validerer ikke",
            "OT": "Element X is not expected. (/*/*[1])",
        },
        {"V": "E31", "S": ERROR_SYSTEM, "DN": "Pasientens fødselsnummer er feil", "OT": "Wrong."},
    ]


def test_a_professional_at_the_end_of_the_chain_is_named() -> None:
    original = _original(MESSAGES / "dialog-foresporsel.xml")
    root = etree.fromstring(build_apprec(original, [], receipt_id="r3", now=NOW))
    assert _text(root, "a:Receiver/a:HCP/a:Inst/a:Name") == "Nordheim kommune"
    assert _text(root, "a:Sender/a:HCP/a:Inst/a:HCPerson/a:Name") == "Ola Nordmann"
    assert _text(root, "a:Sender/a:HCP/a:Inst/a:HCPerson/a:Id") == "660017"


def test_a_time_without_seconds_gets_them_and_an_unknown_one_is_the_receipt_time() -> None:
    original = Original(Code("LOG_INNLAGT"), "m1", "2026-02-02T14:31", Organisation("A"))
    root = etree.fromstring(build_apprec(original, [], receipt_id="r", now=NOW))
    assert _text(root, "a:OriginalMsgId/a:IssueDate") == "2026-02-02T14:31:00"
    root = etree.fromstring(
        build_apprec(Original(), [Problem("T01", "x")], receipt_id="r", now=NOW)
    )
    assert _text(root, "a:OriginalMsgId/a:IssueDate") == "2026-03-01T12:00:00+00:00"
    assert _text(root, "a:OriginalMsgId/a:Id") is None


@pytest.mark.parametrize("problems", [[], [Problem("X99", "Other.")]])
@pytest.mark.parametrize("original", ["known", "unknown"])
def test_receipts_are_schema_valid(
    schemas: Schemas, problems: list[Problem], original: str
) -> None:
    sent = _original(MESSAGES / "dialog-svar.xml") if original == "known" else Original()
    apprec = build_apprec(sent, problems, receipt_id="r", now=NOW)
    assert schemas.validate(etree.fromstring(apprec)) == []


def _normalised(apprec: bytes) -> bytes:
    """The receipt without the software version, which changes with every release."""
    return re.sub(rb"<SoftwareVersion>[^<]*</SoftwareVersion>", b"<SoftwareVersion/>", apprec)


@pytest.mark.parametrize("path", bad_messages(), ids=lambda p: p.name)
def test_golden_receipts_for_refused_messages(
    path: Path, memory: Repository, context: Context, optional_schemas: Schemas | None
) -> None:
    apprec, _, summary = import_message(
        path.read_bytes(), memory, context, now=NOW, receipt_id="golden"
    )
    assert not summary.accepted
    if optional_schemas is not None:
        assert optional_schemas.validate(etree.fromstring(apprec)) == []
    golden = EXPECTED / f"{path.stem}.apprec.xml"
    if REGENERATE:
        golden.write_bytes(_normalised(apprec))
    assert _normalised(apprec) == golden.read_bytes()


def test_the_refused_original_is_read_leniently() -> None:
    with pytest.raises(PloError) as caught:
        parse_message((BAD / "ukjent-meldingstype.xml").read_bytes())
    original = caught.value.original
    assert isinstance(original, Original)
    assert original.type is not None and original.type.v == "LOG_FLYTTET"
