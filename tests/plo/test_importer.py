"""Importing messages into the store: receipts, idempotency, change and cancellation, the stay,
dialogues, refusals that store nothing, and retrying after a concurrent change."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapter.fhir.errors import precondition_failed
from adapter.plo import importer
from adapter.plo.fhir.keys import SID
from adapter.plo.importer import import_message
from adapter.router.bundles import process
from adapter.router.crud import Context
from adapter.store.repository import Repository
from tests.plo.conftest import BAD, MESSAGES, SHARED_XSD, needs_shared, shared_samples
from tests.plo.support import receipt, stored, versions

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _import(
    path: Path | bytes, repository: Repository, context: Context, **options: Any
) -> tuple[bytes, int, importer.ImportSummary]:
    body = path if isinstance(path, bytes) else path.read_bytes()
    return import_message(body, repository, context, now=NOW, receipt_id="r1", **options)


def _ok(path: Path, repository: Repository, context: Context) -> importer.ImportSummary:
    apprec, status, summary = _import(path, repository, context)
    assert status == 200, summary.lines()
    assert receipt(apprec) == ("1", [])
    assert summary.accepted
    return summary


def _item_resources(repository: Repository, rtype: str) -> list[dict[str, Any]]:
    return [
        r
        for r in stored(repository, rtype)
        if any(i.get("system") == SID.ITEM for i in r.get("identifier", []))
    ]


@needs_shared
def test_every_shared_sample_imports_with_an_ok_receipt(
    memory: Repository, context: Context
) -> None:
    for path in shared_samples():
        apprec, status, summary = _import(path, memory, context, xsd_dir=SHARED_XSD)
        assert (status, summary.accepted) == (200, True), (path.name, summary.lines())
        assert receipt(apprec) == ("1", [])


def test_every_own_message_imports_in_order(store: Repository, context: Context) -> None:
    order = [
        "innleggelsesrapport-ny", "innleggelsesrapport-endring", "log-innlagt",
        "log-utskrivningsklar", "log-utskrevet", "utskrivningsrapport-ny", "log-dod",
        "dialog-foresporsel", "dialog-svar", "medisinske-opplysninger-latin1",
        "innleggelsesrapport-kansellering",
    ]  # fmt: skip
    for name in order:
        _ok(MESSAGES / f"{name}.xml", store, context)
    assert len(stored(store, "DocumentReference")) == len(order)


def test_the_same_message_twice_changes_nothing(store: Repository, context: Context) -> None:
    path = MESSAGES / "innleggelsesrapport-ny.xml"
    first = _ok(path, store, context)
    assert {w.outcome for w in first.written} == {"created"}
    before = versions(store)
    again = _ok(path, store, context)
    assert again.duplicate and again.written == ()
    assert versions(store) == before
    assert again.lines() == [
        f"INNLEGGELSESRAPPORT {first.msg_id}: already imported; nothing changed"
    ]


def test_a_resend_with_a_new_msg_id_changes_nothing_either(
    memory: Repository, context: Context
) -> None:
    path = MESSAGES / "utskrivningsrapport-ny.xml"
    _ok(path, memory, context)
    before = versions(memory)
    resent = path.read_bytes().replace(b"00000000b005", b"00000000b0ff")
    summary = _ok_bytes(resent, memory, context)
    assert summary.status == "M"  # an N for a document forlop has is a change
    changed = {w.ref for w in summary.written if w.outcome not in ("unchanged", "created")}
    created = {w.ref.split("/")[0] for w in summary.written if w.outcome == "created"}
    assert created == {"DocumentReference", "Provenance"}
    assert {ref.split("/")[0] for ref in changed} == {"DocumentReference"}  # the first: superseded
    assert all(
        before[ref] == versions(memory)[ref] for ref in before if "DocumentReference" not in ref
    )


def _ok_bytes(body: bytes, repository: Repository, context: Context) -> importer.ImportSummary:
    apprec, status, summary = _import(body, repository, context)
    assert status == 200 and receipt(apprec) == ("1", []), summary.lines()
    return summary


def test_a_reused_msg_id_for_other_bytes_is_refused(memory: Repository, context: Context) -> None:
    path = MESSAGES / "log-innlagt.xml"
    _ok(path, memory, context)
    before = versions(memory)
    other = path.read_bytes().replace(b"Innlagt ved Medisinsk avdeling", b"Innlagt i korridor")
    apprec, status, summary = _import(other, memory, context)
    assert status == 409
    assert receipt(apprec)[0] == "2"
    assert [e[0] for e in receipt(apprec)[1]] == ["E10"]
    assert versions(memory) == before
    assert not summary.accepted


def test_a_change_updates_what_the_first_version_created(
    store: Repository, context: Context
) -> None:
    _ok(MESSAGES / "innleggelsesrapport-ny.xml", store, context)
    change = _ok(MESSAGES / "innleggelsesrapport-endring.xml", store, context)
    assert change.status == "M"
    conditions = {
        c["code"]["coding"][0]["code"]: c["verificationStatus"]["coding"][0]["code"]
        for c in stored(store, "Condition")
    }
    assert conditions == {"I50": "confirmed", "J44": "entered-in-error"}
    (goal,) = stored(store, "Goal")
    assert goal["description"]["text"] == "Gå til postkassen og tilbake uten hvile"
    hygiene = next(
        o
        for o in stored(store, "Observation")
        if o["code"].get("coding", [{}])[0].get("code") == "7"
    )
    assert hygiene["valueInteger"] == 3
    documents = {
        d["masterIdentifier"]["value"][-2:]: (d["status"], d["docStatus"])
        for d in stored(store, "DocumentReference")
    }
    assert documents == {"01": ("superseded", "final"), "02": ("current", "amended")}
    outcomes = {w.ref.split("/")[0]: w.outcome for w in change.written}
    assert outcomes["Goal"] == "updated"
    assert any(w.outcome == "entered-in-error" for w in change.written)


def test_a_cancellation_enters_everything_in_error(store: Repository, context: Context) -> None:
    for name in ("ny", "endring", "kansellering"):
        _ok(MESSAGES / f"innleggelsesrapport-{name}.xml", store, context)
    for rtype, field in (
        ("Goal", "lifecycleStatus"),
        ("Observation", "status"),
        ("CareTeam", "status"),
        ("CarePlan", "status"),
    ):
        assert {r[field] for r in _item_resources(store, rtype)} == {"entered-in-error"}, rtype
    for condition in stored(store, "Condition"):
        assert condition["verificationStatus"]["coding"][0]["code"] == "entered-in-error"
        assert "clinicalStatus" not in condition
    statuses = sorted((d["status"], d["docStatus"]) for d in stored(store, "DocumentReference"))
    assert statuses == [
        ("current", "entered-in-error"),
        ("entered-in-error", "amended"),
        ("entered-in-error", "final"),
    ]
    (encounter,) = stored(store, "Encounter")
    assert encounter["status"] == "entered-in-error"
    # Nothing is deleted, and the shared resources stay as they were.
    assert len(stored(store, "Patient")) == 1
    assert len(stored(store, "RelatedPerson")) == 2
    provenances = stored(store, "Provenance")
    activities = sorted(p["activity"]["coding"][0]["code"] for p in provenances)
    assert activities == ["CREATE", "NULLIFY", "UPDATE"]


def test_a_cancellation_of_an_unknown_document_is_refused_and_stores_nothing(
    memory: Repository, context: Context
) -> None:
    apprec, status, summary = _import(
        MESSAGES / "innleggelsesrapport-kansellering.xml", memory, context
    )
    assert status == 422
    status_code, errors = receipt(apprec)
    assert status_code == "2" and errors[0][0] == "X99"
    assert "nothing to cancel" in errors[0][2]
    assert versions(memory) == {}


def test_the_stay_follows_the_logistics_messages(memory: Repository, context: Context) -> None:
    for name in ("log-innlagt", "log-utskrivningsklar"):
        _ok(MESSAGES / f"{name}.xml", memory, context)
    (encounter,) = stored(memory, "Encounter")
    assert encounter["status"] == "in-progress"
    assert encounter["period"] == {"start": "2026-02-02T14:20:00+01:00"}
    _ok(MESSAGES / "log-utskrevet.xml", memory, context)
    _ok(MESSAGES / "utskrivningsrapport-ny.xml", memory, context)
    (encounter,) = stored(memory, "Encounter")
    assert encounter["status"] == "finished"
    assert encounter["period"]["end"] == "2026-02-09T11:45:00+01:00"
    assert encounter["hospitalization"]["dischargeDisposition"]["coding"][0]["code"] == "1"
    # The death the day after discharge joins the stay that just ended.
    _ok(MESSAGES / "log-dod.xml", memory, context)
    (encounter,) = stored(memory, "Encounter")
    codes = [
        part["valueCoding"]["code"]
        for entry in encounter["statusHistory"]
        for part in entry["extension"][0]["extension"]
        if part["url"] == "code"
    ]
    assert codes[-1] == "13"
    (patient,) = stored(memory, "Patient")
    assert patient["deceasedDateTime"] == "2026-02-10T06:30:00+01:00"
    assert patient["name"] == [{"family": "Lien", "given": ["Arne", "Johan"]}]


def test_a_cancelled_death_takes_the_time_of_death_away(
    memory: Repository, context: Context
) -> None:
    death = MESSAGES / "log-dod.xml"
    _ok(death, memory, context)
    cancel = (
        death.read_bytes()
        .replace(b'V="N" DN="Ny"', b'V="C" DN="Kansellering"')
        .replace(b"00000000b004", b"00000000b0c4")
    )
    _ok_bytes(cancel, memory, context)
    (patient,) = stored(memory, "Patient")
    assert "deceasedDateTime" not in patient


def test_an_answer_points_to_the_request_it_answers(memory: Repository, context: Context) -> None:
    _ok(MESSAGES / "dialog-foresporsel.xml", memory, context)
    summary = _ok(MESSAGES / "dialog-svar.xml", memory, context)
    communications = stored(memory, "Communication")
    request = next(c for c in communications if "inResponseTo" not in c)
    answer = next(c for c in communications if "inResponseTo" in c)
    assert answer["inResponseTo"] == [{"reference": f"Communication/{request['id']}"}]
    assert not any("forlop ikke har" in n["text"] for n in answer.get("note", []))
    assert summary.status == "N"


@pytest.mark.parametrize(
    ("name", "code", "http"),
    [
        ("ugyldig-fodselsnummer", "E31", 422),
        ("ukjent-meldingstype", "T10", 422),
        ("avkuttet", "T01", 400),
    ],
)
def test_a_refused_message_gets_a_negative_receipt_and_stores_nothing(
    name: str, code: str, http: int, memory: Repository, context: Context
) -> None:
    apprec, status, summary = _import(BAD / f"{name}.xml", memory, context)
    assert status == http
    status_code, errors = receipt(apprec)
    assert status_code == "2"
    assert [e[0] for e in errors] == [code]
    assert errors[0][1] and errors[0][2]
    assert versions(memory) == {}
    assert summary.lines()[0].endswith("rejected")


@needs_shared
def test_with_a_schema_folder_an_invalid_message_is_t02(
    memory: Repository, context: Context
) -> None:
    body = (MESSAGES / "log-innlagt.xml").read_bytes()
    swapped = body.replace(
        b"<MiddleName>Johan</MiddleName>\n\t\t\t<GivenName>Arne</GivenName>",
        b"<GivenName>Arne</GivenName>\n\t\t\t<MiddleName>Johan</MiddleName>",
    )
    assert swapped != body
    apprec, status, _ = _import(swapped, memory, context, xsd_dir=SHARED_XSD)
    assert status == 400
    errors = receipt(apprec)[1]
    assert {e[0] for e in errors} == {"T02"} and "MiddleName" in errors[0][2]
    # Without the schemas the same message is read (the readers do not depend on the order).
    assert _import(swapped, memory, context)[1] == 200


def test_an_import_that_races_another_is_run_again(
    memory: Repository, context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = process

    def racing(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise precondition_failed("Version 2 is not the current version.")
        return real(*args, **kwargs)

    monkeypatch.setattr(importer, "process", racing)
    _ok(MESSAGES / "log-innlagt.xml", memory, context)
    assert len(calls) == 2


def test_a_bundle_the_store_refuses_becomes_a_negative_receipt(
    memory: Repository, context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refusing(*args: Any, **kwargs: Any) -> Any:
        raise precondition_failed("The criteria match more than one Organization.")

    monkeypatch.setattr(importer, "process", refusing)
    apprec, status, _ = _import(MESSAGES / "log-innlagt.xml", memory, context)
    assert status == 422
    assert receipt(apprec)[1][0][0] == "X99"
    assert "more than one Organization" in receipt(apprec)[1][0][2]
