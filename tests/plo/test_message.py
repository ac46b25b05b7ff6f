"""Reading whole messages: the envelope, the content families, the refusals and their codes, and
the promise that nothing a message says is dropped silently."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from lxml import etree

from adapter.fhir.json_codec import dump_json
from adapter.plo.errors import PloError
from adapter.plo.fhir.mapping import to_bundle
from adapter.plo.leftovers import render_leftovers
from adapter.plo.message import DNR, FNR, parse_message
from adapter.plo.model import Dialog, Logistics, Report
from adapter.plo.terminology import Terminology
from tests.plo.conftest import MESSAGES, needs_shared, own_messages, shared_samples

ALL = own_messages() + shared_samples()
LOG = (MESSAGES / "log-innlagt.xml").read_bytes().decode("utf-8")


def _refused(body: str | bytes) -> list[str]:
    data = body.encode("utf-8") if isinstance(body, str) else body
    with pytest.raises(PloError) as caught:
        parse_message(data)
    return [p.code for p in caught.value.problems]


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_every_message_reads(path: Path) -> None:
    message = parse_message(path.read_bytes())
    family = {"report": Report, "logistics": Logistics, "dialog": Dialog}[message.type.family]
    assert isinstance(message.content, family)
    assert message.status in ("N", "M", "C")
    assert message.patient_system in (FNR, DNR)


@needs_shared
@pytest.mark.parametrize("path", shared_samples(), ids=lambda p: p.name)
def test_shared_samples_are_the_types_their_names_say(path: Path) -> None:
    message = parse_message(path.read_bytes())
    words = {
        "Innleggelsesrapport": "INNLEGGELSESRAPPORT",
        "Utskrivningsrapport": "UTSKRIVNINGSRAPPORT",
        "Helseopplysninger_til_lege": "HELSEOPPLYSNINGER_LEGE",
        "Helseopplysninger_": "HELSEOPPL_SOKNAD",
        "Medisinske": "MEDISINSKE_OPPLYSNINGER",
        "Orientering_om_tjenestetilbud": "ORIENTERING_TJENESTETILBUD",
        "Innlagt": "LOG_INNLAGT",
        "Avmelding": "LOG_AVMELDING",
        "Utskrivningsklar": "LOG_UTSKRIVNINGSKLAR",
        "utskrevet": "LOG_UTSKREVET",
        "dodsfall": "LOG_DOD",
        "svar": "DIALOG_SVAR",
        "foresporsel_PLO": "DIALOG_FORESPORSEL",
        "avvik": "DIALOG_AVVIK",
    }
    expected = next(code for word, code in words.items() if word in path.name)
    assert message.type.code == expected
    assert message.status == ("M" if "Endring" in path.name else "N")


def test_the_envelope_is_read() -> None:
    message = parse_message(LOG.encode())
    envelope = message.envelope
    assert envelope.msg_id == "7c1d2e3f-0001-4a00-9000-00000000b001"
    assert envelope.gen_date == "2026-02-02T14:31:00"
    assert envelope.document_date == "2026-02-02T14:30:00"
    assert envelope.sender.name == "Fjordvik sykehus HF"
    assert envelope.sender.unit is not None and envelope.sender.unit.idents[0].id == "880017"
    assert envelope.receiver.unit is not None
    assert envelope.receiver.unit.name == "Tildelingskontoret"
    patient = envelope.patient
    assert (patient.family, patient.given, patient.middle) == ("Lien", "Arne", "Johan")
    assert (message.patient_system, message.patient_id) == (FNR, "03893421032")


def test_logistics_events_carry_their_codes_times_and_the_discharge() -> None:
    message = parse_message((MESSAGES / "log-utskrevet.xml").read_bytes())
    assert isinstance(message.content, Logistics)
    (event,) = message.content.events
    assert event.code is not None and event.code.v == "2"
    assert (event.time, event.estimated, event.remark) == (
        "2026-02-09T11:45:00",
        False,
        "Hentet av sønnen.",
    )
    assert event.discharged_to is not None and event.discharged_to.dn == "Bosted/arbeidssted"


def test_a_report_reads_every_structured_part() -> None:
    message = parse_message((MESSAGES / "innleggelsesrapport-ny.xml").read_bytes())
    report = message.content
    assert isinstance(report, Report)
    assert [d.code.v for d in report.diagnoses if d.code] == ["I50", "J44"]
    assert report.diagnoses[0].main is True
    assert report.functions is not None
    assert [(s.variable.v, s.score) for s in report.functions.scores] == [
        ("5", 3),
        ("7", 4),
        ("15", 2),
    ]
    assert str(report.functions.care_dependency) == "2.6"
    (goal,) = report.goals
    assert goal.description == "Gå til postkassen uten hvile"
    assert goal.keywords == ("mobilitet", "utholdenhet")
    assert [s.type.v for s in report.services if s.type] == ["15", "5"]
    assert [r.relationship.v for r in report.header.relatives if r.relationship] == ["SO", "NA"]


def test_dialogue_version_1_1_reads_requests_and_answers() -> None:
    request = parse_message((MESSAGES / "dialog-foresporsel.xml").read_bytes()).content
    answer = parse_message((MESSAGES / "dialog-svar.xml").read_bytes()).content
    assert isinstance(request, Dialog) and isinstance(answer, Dialog)
    assert request.requests[0].subject == "Blodtrykksmedisin"
    assert request.requests[0].roles[0].professional is not None
    note = answer.notes[0]
    assert note.theme.v == "5" and note.text and note.text.startswith("Halver dosen")
    assert note.request is not None and note.request.question


# --- refusals ------------------------------------------------------------------------------------


MSGID = "<MsgId>7c1d2e3f-0001-4a00-9000-00000000b001</MsgId>"
STATUS = '<Forsendelsesstatus V="N" DN="Ny"/>'
SECOND_DOCUMENT = '<Document><RefDoc><MsgType V="XML"/></RefDoc></Document><Document>'
EDITS: list[tuple[str, str, str]] = [
    (MSGID, "", "E10"),
    (MSGID, "<MsgId>  </MsgId>", "E10"),
    ("<GenDate>2026-02-02T14:31:00</GenDate>", "", "T02"),
    ("2026-02-02T14:31:00</GenDate>", "2. februar</GenDate>", "T02"),
    ('<Type V="LOG_INNLAGT"', '<Type V="LOG_FLYTTET"', "T10"),
    ('<Type V="LOG_INNLAGT"', '<Type V="DIALOG_SVAR"', "T10"),
    ('<Type V="LOG_INNLAGT"', '<Type V="LOG_DOD"', "T02"),
    ('<Type V="LOG_INNLAGT"', "<Type", "T02"),
    ("<Id>03893421032</Id>", "<Id>03893421033</Id>", "E31"),
    ('V="FNR" DN="Fødselsnummer"', 'V="XYZ" DN="Annet"', "E30"),
    (STATUS, '<Forsendelsesstatus V="X"/>', "X99"),
    (STATUS, "", "T02"),
    ('<MsgType V="XML" DN="XML-instans"/>', '<MsgType V="PDF"/>', "T10"),
    ("<Document>", SECOND_DOCUMENT, "T10"),
    (
        'MsgHead xmlns="http://www.kith.no/xmlstds/msghead/2006-05-24"',
        'MsgHead xmlns="urn:x"',
        "T10",
    ),
]


@pytest.mark.parametrize(("old", "new", "code"), EDITS)
def test_a_broken_message_is_refused_with_the_code_that_says_why(
    old: str, new: str, code: str
) -> None:
    assert old in LOG
    assert _refused(LOG.replace(old, new)) == [code]


@pytest.mark.parametrize(("element", "code"), [("Patient", "E30"), ("Sender", "T02")])
def test_a_message_without_a_required_party_is_refused(element: str, code: str) -> None:
    assert _refused(re.sub(rf"<{element}>.*</{element}>", "", LOG, flags=re.S)) == [code]


def test_a_refusal_keeps_what_it_could_read_for_the_receipt() -> None:
    with pytest.raises(PloError) as caught:
        parse_message(LOG.replace("<Id>03893421032</Id>", "<Id>03893421033</Id>").encode())
    original = caught.value.original
    assert original.msg_id == "7c1d2e3f-0001-4a00-9000-00000000b001"
    assert original.sender.name == "Fjordvik sykehus HF"
    assert "ending 33" in str(caught.value) and "03893421033" not in str(caught.value)


def test_a_d_number_sent_as_fnr_is_taken_as_a_d_number() -> None:
    dnr = "43893421032"  # the synthetic fødselsnummer with 4 added to its first digit
    from adapter.domain.identifiers import dnr_problem, mod11

    nine = dnr[:9]
    k1 = mod11(nine, (3, 7, 6, 1, 8, 9, 4, 5, 2))
    k2 = mod11(f"{nine}{k1}", (5, 4, 3, 2, 7, 6, 5, 4, 3, 2))
    dnr = f"{nine}{k1}{k2}"
    assert dnr_problem(dnr) is None
    message = parse_message(LOG.replace("<Id>03893421032</Id>", f"<Id>{dnr}</Id>").encode())
    assert (message.patient_system, message.patient_id) == (DNR, dnr)
    assert any("D-number" in w for w in message.warnings)


# --- nothing dropped silently --------------------------------------------------------------------

# Codes the mapping translates rather than copies (their displays are the ConceptMaps' to give).
_TRANSLATED = {"Sex", "Forsendelsesstatus", "MsgType", "Type"}
_SCALAR = re.compile(r"(true|false|[+-]?\d+(\.\d+)?)")


def _without_attachments(bundle: dict[str, object]) -> str:
    text = dump_json(bundle).decode("utf-8")
    return re.sub(r'"data":"[^"]*"', "", text)


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_every_taken_text_reaches_fhir_and_every_other_text_is_kept(path: Path) -> None:
    """Each text and display a reader took appears in the Bundle (structured, or in the text the
    DocumentReference keeps beside the original); each it left appears in that text. A
    cancellation maps no content (it only names the document it cancels): only its envelope is
    checked."""
    message = parse_message(path.read_bytes())
    assert message.tree is not None and message.taken is not None
    mapped = to_bundle(message).bundle
    bundle = _without_attachments(mapped)
    document = next(
        e["resource"]
        for e in mapped["entry"]
        if e["resource"]["resourceType"] == "DocumentReference"
    )
    kept = "".join(
        base64.b64decode(c["attachment"]["data"]).decode("utf-8") for c in document["content"][1:]
    )
    content = message.tree.find("{*}Document/{*}RefDoc/{*}Content")
    assert content is not None
    for element in message.tree.iter():
        if not isinstance(element.tag, str) or len(element):
            continue
        if message.status == "C" and content in element.iterancestors():
            continue
        values = [" ".join((element.text or "").split())]
        if _local(element) not in _TRANSLATED:
            values.append(element.get("DN") or "")
        for value in values:
            if not value or _SCALAR.fullmatch(value):
                continue
            first_line = value.splitlines()[0]
            if element in message.taken:
                structured = dump_json(first_line).decode("utf-8")[1:-1] in bundle
                assert structured or first_line in kept, (_local(element), value)
            elif any(ancestor in message.taken for ancestor in element.iterancestors()):
                continue
            else:
                assert first_line in " ".join(kept.split()), (_local(element), value)


def test_the_leftovers_keep_medication_and_journal_notes() -> None:
    message = parse_message((MESSAGES / "innleggelsesrapport-ny.xml").read_bytes())
    text = render_leftovers(list(message.leftovers))
    assert "Navn: Furosemid" in text
    assert "Styrke: [V=40, U=mg]" in text
    assert "Overskriftskode: Årsak til innleggelse [V=AAI, S=2.16.578.1.12.4.1.1.9142]" in text
    # A journal note keeps its line breaks.
    assert "Notat: Økende tungpust siste tre døgn.\n" in text
    assert "Ekstern: false" in text
    paths = [part.path for part in message.leftovers]
    assert "Innleggelsesrapport/Legemiddelinfo" in paths


def test_unreadable_values_are_left_as_text_not_guessed() -> None:
    body = (MESSAGES / "innleggelsesrapport-ny.xml").read_bytes().decode("utf-8")
    body = body.replace("<Vurdering>3</Vurdering>", "<Vurdering>tre</Vurdering>")
    body = body.replace("<ForventesOppnaadd>2026-03-01", "<ForventesOppnaadd>2026-02-30")
    message = parse_message(body.encode())
    assert isinstance(message.content, Report) and message.content.functions is not None
    assert message.content.functions.scores[0].score is None
    assert message.content.goals[0].due is None
    text = render_leftovers(list(message.leftovers))
    assert "Vurdering: tre" in text and "ForventesOppnaadd: 2026-02-30" in text


def test_terminology_knows_every_message_type_forlop_reads() -> None:
    types = Terminology().message_types
    assert set(types) == {
        "INNLEGGELSESRAPPORT", "HELSEOPPL_SOKNAD", "UTSKRIVNINGSRAPPORT", "HELSEOPPLYSNINGER_LEGE",
        "MEDISINSKE_OPPLYSNINGER", "ORIENTERING_TJENESTETILBUD", "LOG_INNLAGT",
        "LOG_UTSKRIVNINGSKLAR", "LOG_AVMELDING", "LOG_UTSKREVET", "LOG_DOD",
        "DIALOG_FORESPORSEL", "DIALOG_SVAR", "DIALOG_AVVIK",
    }  # fmt: skip
    assert all(t.contents for t in types.values())
    assert all(t.usage for t in types.values() if t.family == "logistics")
