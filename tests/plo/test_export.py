"""FHIR -> PLO: reports for a stay and Dialogmelding for a Communication, schema-valid, and the
round trip PLO -> FHIR -> PLO keeping every element the import structures."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from adapter.plo.export import ExportError, export_communication, export_encounter, stay_of
from adapter.plo.importer import import_message
from adapter.plo.message import Message, parse_message
from adapter.plo.model import Dialog, Report
from adapter.plo.reader import read_xml
from adapter.plo.xsd import Schemas
from adapter.router.crud import Context
from adapter.store.repository import Repository
from tests.plo.conftest import MESSAGES, needs_shared, shared_samples
from tests.plo.support import stored

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
REPORTS = {"INNLEGGELSESRAPPORT", "UTSKRIVNINGSRAPPORT"}


def _import(path: Path | bytes, repository: Repository, context: Context) -> Message:
    body = path if isinstance(path, bytes) else path.read_bytes()
    _, status, summary = import_message(body, repository, context)
    assert status == 200, summary.lines()
    return parse_message(body)


def _codes(code: Any) -> Any:
    return None if code is None else code.v


def _idents(item: Any) -> list[tuple[str, str | None]]:
    return sorted((i.id, i.type.v) for i in item.idents)


def covered(message: Message) -> dict[str, Any]:
    """What the round trip must keep: the parts the import structures, as comparable values."""
    patient = message.envelope.patient
    out: dict[str, Any] = {
        "patient": (
            patient.family,
            patient.given,
            patient.middle,
            patient.birth_date,
            _codes(patient.sex),
            _idents(patient),
        ),
    }
    content = message.content
    if isinstance(content, Dialog):
        out["requests"] = [
            (_codes(r.type), r.subject, r.question, r.reason, [_idents(x.professional.person)
             for x in r.roles if x.professional])
            for r in content.requests
        ]  # fmt: skip
        out["notes"] = [
            (
                _codes(n.theme),
                n.text,
                n.request.question if n.request else None,
                [_idents(x.professional.person) for x in n.roles if x.professional],
            )
            for n in content.notes
        ]
        return out
    assert isinstance(content, Report)
    header = content.header
    out["header"] = (
        _codes(header.civil_status),
        _codes(header.language),
        sorted((
            (r.person.family, r.person.given, _codes(r.relationship),
             [t.address for t in r.person.telecoms])
            for r in header.relatives
        ), key=repr),
        sorted(((u.organisation.name, _idents(u.organisation)) for u in header.units), key=repr),
        sorted(
            ((r.kind, _idents(r.professional.person), _codes(r.professional.category),
              _codes(r.professional.role), r.approved)
             for r in header.responsibles), key=repr
        ),
    )  # fmt: skip
    out["diagnoses"] = sorted(
        (
            (d.history, _codes(d.code), d.code.s if d.code else None, d.main, d.text, d.chronic)
            for d in content.diagnoses
        ),
        key=repr,
    )
    functions = content.functions
    out["functions"] = functions and (
        [(s.variable.v, s.score, s.remark) for s in functions.scores],
        str(functions.care_dependency),
        functions.assessment,
        functions.remark,
    )
    out["goals"] = [
        (g.description, _codes(g.expected), g.due, g.start, g.end, _codes(g.category), g.keywords,
         [t.text for t in g.texts])
        for g in content.goals
    ]  # fmt: skip
    out["appointments"] = [
        (a.kind, a.booked, a.start, a.minutes, a.place, a.books_self, a.patient_informed,
         a.relative_informed)
        for a in content.appointments
    ]  # fmt: skip
    needed = message.type.code == "UTSKRIVNINGSRAPPORT"
    out["services"] = [
        (_codes(s.type), s.name, str(s.amount), s.unit, s.start, s.end, s.remark, bool(s.private))
        for s in content.services
        if s.needed is needed
    ]
    if needed:
        out["events"] = [
            (_codes(e.code), e.time, e.estimated, e.description, e.remark) for e in content.events
        ]
    return out


def _journal_texts_as_exported(original: dict[str, Any], exported: dict[str, Any]) -> None:
    """A goal's journal text comes back as its note: heading display, then the text."""
    for before, after in zip(original["goals"], exported["goals"], strict=True):
        for text, note in zip(before[-1], after[-1], strict=True):
            assert note.endswith(text)
    original["goals"] = [g[:-1] for g in original["goals"]]
    exported["goals"] = [g[:-1] for g in exported["goals"]]


def _round_trip(
    path: Path, memory: Repository, context: Context, schemas: Schemas | None
) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    original = _import(path, memory, context)
    stay = stay_of(memory, original.envelope.msg_id)
    assert stay is not None
    exported = export_encounter(memory, stay, original.type.code, now=NOW, msg_id="export-1")
    if schemas is not None:
        assert schemas.validate(read_xml(exported)) == []
    again = parse_message(exported)
    assert again.type.code == original.type.code
    before, after = covered(original), covered(again)
    _journal_texts_as_exported(before, after)
    return before, after, exported


@pytest.mark.parametrize("name", ["innleggelsesrapport-ny", "utskrivningsrapport-ny"])
def test_own_reports_survive_the_round_trip(
    name: str, memory: Repository, context: Context, optional_schemas: Schemas | None
) -> None:
    before, after, _ = _round_trip(MESSAGES / f"{name}.xml", memory, context, optional_schemas)
    assert after == before


SHARED_REPORTS = [
    p
    for p in shared_samples()
    if p.name.startswith(("Innleggelsesrapport", "Utskrivningsrapport")) and "_Ny" in p.name
]


@needs_shared
@pytest.mark.parametrize("path", SHARED_REPORTS, ids=lambda p: p.name)
def test_shared_reports_survive_the_round_trip(
    path: Path, memory: Repository, context: Context, schemas: Schemas
) -> None:
    before, after, _ = _round_trip(path, memory, context, schemas)
    assert after == before


def test_the_export_is_addressed_like_the_stays_documents(
    memory: Repository, context: Context
) -> None:
    _, _, exported = _round_trip(MESSAGES / "utskrivningsrapport-ny.xml", memory, context, None)
    message = parse_message(exported)
    assert message.envelope.sender.name == "Fjordvik sykehus HF"
    assert message.envelope.sender.unit is not None
    assert message.envelope.sender.unit.idents[0].id == "880017"
    assert message.envelope.receiver.unit is not None
    assert message.envelope.receiver.unit.name == "Tildelingskontoret"
    assert (message.envelope.msg_id, message.envelope.gen_date) == (
        "export-1",
        "2026-04-01T11:00:00",
    )
    assert message.status == "N"


def test_an_innleggelsesrapport_goes_to_the_institution(
    memory: Repository, context: Context
) -> None:
    _import(MESSAGES / "utskrivningsrapport-ny.xml", memory, context)
    stay = stay_of(memory, "7c1d2e3f-0001-4a00-9000-00000000b005")
    assert stay is not None
    exported = parse_message(
        export_encounter(memory, stay, "INNLEGGELSESRAPPORT", now=NOW, msg_id="x")
    )
    assert exported.envelope.receiver.name == "Fjordvik sykehus HF"
    assert exported.envelope.sender.name == "Nordheim kommune"


def test_entered_in_error_resources_are_not_exported(memory: Repository, context: Context) -> None:
    _import(MESSAGES / "innleggelsesrapport-ny.xml", memory, context)
    _import(MESSAGES / "innleggelsesrapport-endring.xml", memory, context)
    stay = stay_of(memory, "6f0c1c52-9a1e-4d55-8a0e-0b1d2c3e4f02")
    assert stay is not None
    exported = parse_message(
        export_encounter(memory, stay, "INNLEGGELSESRAPPORT", now=NOW, msg_id="x")
    )
    assert isinstance(exported.content, Report)
    assert [d.code.v for d in exported.content.diagnoses if d.code] == ["I50"]
    assert exported.content.goals[0].description == "Gå til postkassen og tilbake uten hvile"


def test_parties_can_be_named_by_her_id(memory: Repository, context: Context) -> None:
    _import(MESSAGES / "utskrivningsrapport-ny.xml", memory, context)
    stay = stay_of(memory, "7c1d2e3f-0001-4a00-9000-00000000b005")
    assert stay is not None
    exported = parse_message(
        export_encounter(
            memory,
            stay,
            "UTSKRIVNINGSRAPPORT",
            sender_her="880017",
            receiver_her="770002",
            now=NOW,
            msg_id="x",
        )
    )
    assert exported.envelope.sender.name == "Fjordvik sykehus HF"
    assert exported.envelope.receiver.name == "Nordheim kommune"
    assert exported.envelope.receiver.unit is None
    with pytest.raises(ExportError, match="HER-id 999"):
        export_encounter(
            memory, stay, "UTSKRIVNINGSRAPPORT", sender_her="999", receiver_her="770002"
        )


@pytest.mark.parametrize(
    ("encounter", "kind", "message"),
    [
        ("missing", "UTSKRIVNINGSRAPPORT", "no Encounter/missing"),
        ("missing", "LOG_INNLAGT", "exports INNLEGGELSESRAPPORT and UTSKRIVNINGSRAPPORT"),
        ("missing", "NOPE", "not NOPE"),
    ],
)
def test_what_cannot_be_exported_is_an_export_error(
    encounter: str, kind: str, message: str, memory: Repository
) -> None:
    with pytest.raises(ExportError, match=message):
        export_encounter(memory, encounter, kind)


def test_dialogues_survive_the_round_trip(
    memory: Repository, context: Context, optional_schemas: Schemas | None
) -> None:
    request = _import(MESSAGES / "dialog-foresporsel.xml", memory, context)
    answer = _import(MESSAGES / "dialog-svar.xml", memory, context)
    communications = {
        c["category"][0]["coding"][0]["code"]: c["id"] for c in stored(memory, "Communication")
    }
    for original, code in ((request, "DIALOG_FORESPORSEL"), (answer, "DIALOG_SVAR")):
        exported = export_communication(memory, communications[code], now=NOW, msg_id="d")
        if optional_schemas is not None:
            assert optional_schemas.validate(read_xml(exported)) == []
        again = parse_message(exported)
        assert again.type.code == code
        assert covered(again) == covered(original)
        assert again.envelope.sender.name == original.envelope.sender.name
        assert again.envelope.receiver.name == original.envelope.receiver.name
    reply = parse_message(export_communication(memory, communications["DIALOG_SVAR"], now=NOW))
    assert reply.envelope.conversation is not None
    assert reply.envelope.conversation.parent == request.envelope.msg_id


def test_an_unknown_communication_is_an_export_error(memory: Repository) -> None:
    with pytest.raises(ExportError, match="no Communication/none"):
        export_communication(memory, "none")


def test_exported_messages_use_the_plo_time_convention(
    memory: Repository, context: Context
) -> None:
    _, _, exported = _round_trip(MESSAGES / "utskrivningsrapport-ny.xml", memory, context, None)
    root = etree.fromstring(exported)
    times = [t.get("V") for t in root.iter("{*}TidspunktForHendelse")]
    assert times == ["2026-02-02T14:20:00", "2026-02-09T11:45:00"]
