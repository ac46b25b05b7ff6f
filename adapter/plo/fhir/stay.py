"""The hospital stay as one Encounter, folded from the timed events of every document about it.

PLO has no identifier for a stay. forlop identifies it by the institution, the patient and the
admission date when a message gives one (a non-estimated event with KITH 9121 code 1); otherwise a
message joins the patient's latest open stay at the same institution, and opens a stay of its own
when there is none (``stay`` of the message type: ``open``) or leaves the stay alone (``attach``).

The Encounter keeps its history as data: ``statusHistory`` holds one entry per event of each
document (extension ``plo-event``: the document key, the event code, its description, whether it
was estimated, where the patient was discharged to), or one entry at the document's date with the
status its message type implies when it carries no coded event. Status and period are derived
from that log on every change:

- status: of the latest non-estimated entry whose status is known (ConceptMap
  ``plo-event-encounter-status``); ``entered-in-error`` when every document was cancelled;
- period.start: the admission event; period.end: when the stay became finished;
- hospitalization.dischargeDisposition: the latest ``UtskrevetTil/UtTil``.

A change of a document replaces its entries; a cancellation removes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from adapter.plo.fhir.datatypes import Datatypes
from adapter.plo.fhir.keys import SID, extension_url, stable_id
from adapter.plo.model import Event
from adapter.plo.terminology import MessageType

__all__ = [
    "ADMITTED",
    "EVENT_EXTENSION",
    "admission",
    "event_text",
    "is_open",
    "message_entries",
    "stay_encounter",
    "stay_keys",
]

EVENT_EXTENSION = extension_url("event")
ADMITTED = "1"  # KITH 9121: Pasient innlagt
_CLOSED = frozenset({"finished", "cancelled", "entered-in-error"})
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


def admission(events: tuple[Event, ...]) -> str | None:
    """When the patient was admitted, from a non-estimated admission event."""
    for event in events:
        if event.code is not None and event.code.v == ADMITTED and not event.estimated:
            return event.time
    return None


def event_text(event: Event) -> str:
    """An event as text, for a document whose events have no stay to go on."""
    code = event.code
    lines = [f"Hendelse: {(code.dn or code.v) if code else '-'}"]
    if code is not None and code.v:
        lines[0] += f" [V={code.v}" + (f", S={code.s}]" if code.s else "]")
    lines.append(f"  Tidspunkt: {event.time}" + (" (anslag)" if event.estimated else ""))
    for label, text in (
        ("Beskrivelse", event.description),
        ("Merknad", event.remark),
        ("Sted", event.place),
    ):
        if text:
            lines.append(f"  {label}: {text}")
    return "\n".join(lines)


def _sub(url: str, **value: Any) -> dict[str, Any]:
    return {"url": url, **value}


def _event_entry(
    types: Datatypes, event: Event, document: str, message_type: MessageType, status: str
) -> dict[str, Any]:
    parts = [
        _sub("document", valueIdentifier={"system": SID.DOCUMENT, "value": document}),
        _sub(
            "messageType",
            valueCoding={
                "system": "http://forlop.no/fhir/CodeSystem/plo-message-type",
                "code": message_type.code,
            },
        ),
    ]
    for name, code in (
        ("code", event.code),
        ("dischargeState", event.discharge_state),
        ("dischargedTo", event.discharged_to),
    ):
        coding = types.coding(code) if code is not None else None
        if coding:
            parts.append(_sub(name, valueCoding=coding))
    parts.append(_sub("estimated", valueBoolean=event.estimated))
    for name, text in (
        ("description", event.description),
        ("remark", event.remark),
        ("place", event.place),
        ("dischargeRemark", event.discharge_remark),
    ):
        if text:
            parts.append(_sub(name, valueString=text))
    return {
        "extension": [{"url": EVENT_EXTENSION, "extension": parts}],
        "status": status,
        "period": {"start": types.moment(event.time)},
    }


def _details(entry: dict[str, Any]) -> dict[str, Any]:
    """The sub-extensions of an entry's plo-event extension, by name."""
    for ext in entry.get("extension") or []:
        if ext.get("url") == EVENT_EXTENSION:
            return {part["url"]: part for part in ext.get("extension") or []}
    return {}


def _document_of(entry: dict[str, Any]) -> str | None:
    part = _details(entry).get("document")
    return part["valueIdentifier"]["value"] if part else None


def _instant(types: Datatypes, value: str) -> datetime:
    """A sortable moment: a date alone counts as its local midnight."""
    text = value if "T" in value else f"{value[:10]}T00:00:00"
    if len(text) < 19:
        text = f"{value[:4]}-01-01T00:00:00"
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=types.zone)


def message_entries(
    types: Datatypes,
    events: tuple[Event, ...],
    document: str,
    message_type: MessageType,
    document_date: str,
) -> list[dict[str, Any]]:
    """The statusHistory entries one document contributes."""
    entries = []
    for event in events:
        code = event.code.v if event.code is not None and event.code.v else None
        status = (
            types.terminology.translate(
                "plo-event-encounter-status",
                "urn:oid:" + event.code.s if event.code and event.code.s else None,
                code,
            )
            if code
            else None
        )
        entries.append(_event_entry(types, event, document, message_type, status or "unknown"))
    if not any(e["status"] != "unknown" for e in entries) and message_type.implied_status:
        implied = Event(time=document_date, estimated=False)
        entries.append(
            _event_entry(types, implied, document, message_type, message_type.implied_status)
        )
    return entries


def stay_encounter(
    types: Datatypes,
    *,
    stored: dict[str, Any] | None,
    entries: list[dict[str, Any]],
    document: str,
    patient: dict[str, str],
    provider: dict[str, str] | None,
    new_keys: list[tuple[str, str]],
) -> dict[str, Any]:
    """The Encounter after this document: the stored one (if any) with the document's entries
    replaced by ``entries``, and status, period and discharge derived again."""
    kept = [e for e in (stored or {}).get("statusHistory") or [] if _document_of(e) != document]
    log = sorted(kept + entries, key=lambda e: _instant(types, e["period"]["start"]))
    resource: dict[str, Any] = {"resourceType": "Encounter"}
    identifiers = list((stored or {}).get("identifier") or [])
    for system, value in new_keys:
        if {"system": system, "value": value} not in identifiers:
            identifiers.append({"system": system, "value": value})
    resource["identifier"] = identifiers
    actual = [e for e in log if not _details(e).get("estimated", {}).get("valueBoolean")]
    known = [e for e in actual if e["status"] != "unknown"]
    if not log:
        status = "entered-in-error"
    else:
        status = known[-1]["status"] if known else "unknown"
    resource["status"] = status
    if log:
        resource["statusHistory"] = log
    resource["class"] = {"system": ACT_CODE, "code": "IMP", "display": "inpatient encounter"}
    resource["subject"] = patient
    period: dict[str, Any] = {}
    for entry in actual:
        code = _details(entry).get("code")
        if code and code["valueCoding"].get("code") == ADMITTED:
            period["start"] = entry["period"]["start"]
            break
    if status == "finished":
        # The end is when the stay became finished: the first finished entry after the last
        # entry that was not.
        became = None
        for entry in known:
            if entry["status"] != "finished":
                became = None
            elif became is None:
                became = entry["period"]["start"]
        period["end"] = became
        if "start" in period and _instant(types, period["end"]) < _instant(types, period["start"]):
            period["end"] = period["start"]
    if period:
        resource["period"] = period
    disposition = [d["dischargedTo"] for e in actual if "dischargedTo" in (d := _details(e))]
    if disposition:
        resource["hospitalization"] = {
            "dischargeDisposition": {"coding": [disposition[-1]["valueCoding"]]}
        }
    if provider is not None:
        resource["serviceProvider"] = provider
    return resource


def stay_keys(
    institution: tuple[str, str], patient: tuple[str, str], admitted: str | None, document: str
) -> tuple[str, str]:
    """(plo-stay-of, plo-stay) keys: the patient at the institution, and this stay."""
    stay_of = stable_id("stay-of", *institution, *patient)
    if admitted is not None:
        return stay_of, stable_id("stay", *institution, *patient, admitted[:10])
    return stay_of, stable_id("stay", "document", document)


def is_open(encounter: dict[str, Any]) -> bool:
    return encounter.get("status") not in _CLOSED
