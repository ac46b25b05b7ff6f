"""Importing one PLO message into the store and answering it with an AppRec.

:func:`import_message` is what ``forlop plo import`` and ``POST /plo`` call:

1. read and check the message (:func:`adapter.plo.message.parse_message`); a refused message gets
   a negative AppRec and nothing is stored;
2. a MsgId forlop has already imported is answered OK again when the bytes are the same (nothing
   changes), and refused with E10 when they differ (a MsgId must identify one message);
3. map it once to learn what to look up, read that from the store (the patient and parties, the
   earlier versions of the document and what they created, the hospital stay, the message a
   dialogue answers), and map it again against what was found;
4. run the Bundle through the transaction engine (:func:`adapter.router.bundles.process`): every
   entry validated, all or nothing in one database transaction. Updates of stored resources name
   the version they were made from, so an import that raced another one fails cleanly and is
   run again from step 3;
5. answer with an OK AppRec and a summary of what was created, updated or left unchanged.

A cancellation of a document forlop does not have is refused (X99): there is nothing to cancel.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from adapter.fhir.errors import FhirError
from adapter.plo.apprec import build_apprec
from adapter.plo.envelope import Original
from adapter.plo.errors import PloError, Problem, reject
from adapter.plo.fhir.assembly import Known, Prior
from adapter.plo.fhir.keys import SID
from adapter.plo.fhir.mapping import Needs, to_bundle
from adapter.plo.fhir.record import attachment_hash
from adapter.plo.fhir.stay import EVENT_EXTENSION, is_open
from adapter.plo.lookup import by_identifier, search, written_by
from adapter.plo.message import Message, parse_message
from adapter.plo.terminology import Terminology
from adapter.plo.xsd import load_schemas
from adapter.router.bundles import process
from adapter.router.crud import Context
from adapter.router.request import FhirRequest
from adapter.store.repository import Repository, Transaction

__all__ = ["ImportSummary", "Written", "import_message"]

_ATTEMPTS = 5


@dataclass(frozen=True)
class Written:
    """One resource the import wrote (or found unchanged)."""

    ref: str  # Type/id
    outcome: str  # created | updated | unchanged | entered-in-error | superseded


@dataclass(frozen=True)
class ImportSummary:
    """What happened to one message."""

    accepted: bool
    msg_id: str | None = None
    message_type: str | None = None
    status: str | None = None  # the forsendelsesstatus acted on
    duplicate: bool = False
    written: tuple[Written, ...] = ()
    warnings: tuple[str, ...] = ()
    kept_as_text: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()

    def lines(self) -> list[str]:
        """The summary for people, one line each."""
        head = f"{self.message_type or '?'} {self.msg_id or '?'}"
        if not self.accepted:
            return [f"{head}: rejected"] + [f"  error {p}" for p in self.problems]
        if self.duplicate:
            return [f"{head}: already imported; nothing changed"]
        out = [f"{head}: accepted ({self.status})"]
        out += [f"  {w.outcome:<16} {w.ref}" for w in self.written]
        out += [f"  kept as text     {path}" for path in self.kept_as_text]
        out += [f"  warning          {text}" for text in self.warnings]
        return out


def _moment(resource: dict[str, Any], element: str) -> str:
    return str(resource.get(element) or "")


def _documents_of(stay: Known) -> set[str]:
    found = set()
    for entry in stay.resource.get("statusHistory") or []:
        for ext in entry.get("extension") or []:
            if ext.get("url") != EVENT_EXTENSION:
                continue
            for part in ext.get("extension") or []:
                if part.get("url") == "document":
                    found.add(str(part["valueIdentifier"]["value"]))
    return found


def _ended_recently(stay: Known, document_date: str, days: int) -> bool:
    """A finished stay that ended at most ``days`` before the document's date."""
    end = str((stay.resource.get("period") or {}).get("end") or "")[:10]
    if stay.resource.get("status") != "finished" or len(end) != 10 or len(document_date) < 10:
        return False
    gap = date.fromisoformat(document_date[:10]) - date.fromisoformat(end)
    return gap <= timedelta(days=days)


def _stay(tx: Transaction, needs: Needs, join_days: int) -> Known | None:
    """The stay a message belongs to: the one holding the document's events (a change or
    cancellation), else the one its admission date names, else the patient's latest stay at the
    institution if that is open, or (for a message without an admission date) ended recently."""
    if needs.stay_of is None:
        return None
    candidates = by_identifier(tx, "Encounter", SID.STAY_OF, needs.stay_of)
    for known in candidates:
        if needs.document in _documents_of(known):
            return known
    if needs.stay_key is not None:
        for known in candidates:
            if {"system": SID.STAY, "value": needs.stay_key} in known.resource.get(
                "identifier", []
            ):
                return known
    usable = [k for k in candidates if is_open(k.resource)]
    if needs.stay_key is not None:
        # An admission joins an open stay only while that stay's admission is unknown.
        usable = [k for k in usable if "start" not in (k.resource.get("period") or {})]
    else:
        usable += [k for k in candidates if _ended_recently(k, needs.document_date, join_days)]
    if not usable:
        return None
    return max(
        usable,
        key=lambda k: (_moment(k.resource.get("period") or {}, "start"), k.version, k.id),
    )


def load_prior(repo: Repository, needs: Needs, join_days: int = 0) -> Prior:
    """Everything the mapping of a message depends on, read in one read-only transaction."""
    with repo.transaction(read_only=True) as tx:
        shared = {}
        for url in needs.shared_urls:
            rtype, _, criteria = url.partition("?")
            found = search(tx, rtype, criteria)
            if len(found) == 1:
                shared[url] = found[0]
        documents = sorted(
            by_identifier(tx, "DocumentReference", SID.DOCUMENT, needs.document),
            key=lambda k: (_moment(k.resource, "date"), k.id),
        )
        owned: dict[str, Known] = {}
        for document in documents:
            master = document.resource.get("masterIdentifier") or {}
            for known in written_by(tx, str(master.get("value", ""))):
                if known.type not in ("DocumentReference", "Provenance"):
                    owned[known.ref] = known
        answered: list[Known] = []
        if needs.parent_msg_id:
            for parent in by_identifier(tx, "DocumentReference", SID.MSGID, needs.parent_msg_id):
                master = parent.resource.get("masterIdentifier") or {}
                answered += [
                    k for k in written_by(tx, str(master.get("value"))) if k.type == "Communication"
                ]
        return Prior(
            shared=shared,
            documents=tuple(documents),
            owned=tuple(owned.values()),
            stay=_stay(tx, needs, join_days),
            answered=tuple(answered),
        )


def _already(repo: Repository, message: Message) -> Known | None:
    with repo.transaction(read_only=True) as tx:
        found = by_identifier(tx, "DocumentReference", SID.MSGID, message.envelope.msg_id)
    return found[0] if found else None


def _outcomes(bundle: dict[str, Any], response: dict[str, Any], prior: Prior) -> list[Written]:
    versions: dict[str, int] = {}
    for known in (*prior.shared.values(), *prior.documents, *prior.owned):
        versions[known.ref] = known.version
    if prior.stay is not None:
        versions[prior.stay.ref] = prior.stay.version
    written = []
    for sent, answer in zip(bundle["entry"], response.get("entry") or [], strict=False):
        reply = answer.get("response") or {}
        location = str(reply.get("location") or answer.get("fullUrl") or "")
        ref, _, version = location.partition("/_history/")
        ref = "/".join(ref.split("/")[-2:])
        resource = sent["resource"]
        status = resource.get("status") or resource.get("lifecycleStatus")
        verification = (resource.get("verificationStatus") or {}).get("coding") or [{}]
        if str(reply.get("status", "")).startswith("201"):
            outcome = "created"
        elif "entered-in-error" in (status, verification[0].get("code")):
            outcome = "entered-in-error"
        elif status == "superseded":
            outcome = "superseded"
        elif version.isdigit() and versions.get(ref) == int(version):
            outcome = "unchanged"
        else:
            outcome = "updated"
        if outcome in ("entered-in-error", "superseded") and versions.get(ref) == int(version or 0):
            outcome = "unchanged"
        written.append(Written(ref, outcome))
    return written


@dataclass(frozen=True)
class _Receipt:
    """The AppRec's own Id and GenDate."""

    id: str
    now: datetime

    def build(self, original: Original, problems: Any, terminology: Terminology) -> bytes:
        return build_apprec(
            original, problems, receipt_id=self.id, now=self.now, terminology=terminology
        )


def _refuse(
    error: PloError,
    terminology: Terminology,
    receipt: _Receipt,
    original: Original | None = None,
) -> tuple[bytes, int, ImportSummary]:
    original = original or (error.original if isinstance(error.original, Original) else Original())
    status_of = terminology.settings["httpStatus"]
    http = int(status_of.get(error.problems[0].code, 422))
    apprec = receipt.build(original, error.problems, terminology)
    summary = ImportSummary(
        accepted=False,
        msg_id=original.msg_id,
        message_type=original.type.v if original.type else None,
        problems=error.problems,
    )
    return apprec, http, summary


def _original(message: Message) -> Original:
    envelope = message.envelope
    return Original(
        envelope.type, envelope.msg_id, envelope.gen_date, envelope.sender, envelope.receiver
    )


def import_message(
    xml: bytes,
    repo: Repository,
    ctx: Context,
    *,
    xsd_dir: str | Path | None = None,
    request: FhirRequest | None = None,
    now: datetime | None = None,
    receipt_id: str | None = None,
) -> tuple[bytes, int, ImportSummary]:
    """Import one PLO message: (AppRec v1.1 bytes, HTTP status, summary).

    ``request`` is the interaction the import runs for (its base URL, and for ``POST /plo`` the
    principal and audit trail); the Bundle's entries are run as part of it.

    The HTTP status is 200 when the message was accepted (also when it was imported before), and
    otherwise the status ``mappings/plo-settings.json`` gives its first AppRec error code (400
    unreadable or invalid, 409 a reused MsgId, 422 a message forlop understood and refused).
    ``now`` and ``receipt_id`` fix the AppRec's GenDate and Id (for tests).
    """
    terminology = Terminology(ctx.registry)
    zone = ZoneInfo(str(terminology.settings["timeZone"]))
    receipt = _Receipt(receipt_id or str(uuid.uuid4()), now or datetime.now(zone))
    schemas = load_schemas(str(Path(xsd_dir).resolve())) if xsd_dir else None
    try:
        message = parse_message(
            xml, terminology, schemas=schemas, max_bytes=ctx.settings.max_body_bytes
        )
    except PloError as error:
        return _refuse(error, terminology, receipt)
    original = _original(message)
    earlier = _already(repo, message)
    if earlier is not None:
        content = (earlier.resource.get("content") or [{}])[0].get("attachment") or {}
        if content.get("hash") != attachment_hash(xml):
            reused = reject(
                "E10",
                f"MsgId {message.envelope.msg_id} was used before for a different message.",
                "MsgHead/MsgInfo/MsgId",
            )
            return _refuse(reused, terminology, receipt, original)
        apprec = receipt.build(original, [], terminology)
        summary = ImportSummary(
            accepted=True,
            msg_id=message.envelope.msg_id,
            message_type=message.type.code,
            status=message.status,
            duplicate=True,
        )
        return apprec, 200, summary
    needs = to_bundle(message, Prior(), terminology).needs
    for attempt in range(_ATTEMPTS):
        prior = load_prior(repo, needs, int(terminology.settings["joinFinishedStayDays"]))
        if message.status == "C" and not prior.documents:
            nothing = reject(
                "X99",
                "This cancellation names a document forlop does not have (same sender, receiver, "
                "patient, message type and RefDoc/IssueDate); there is nothing to cancel.",
                "MsgHead/Document/RefDoc/IssueDate",
            )
            return _refuse(nothing, terminology, receipt, original)
        mapped = to_bundle(message, prior, terminology)
        try:
            outcome = process(ctx, repo, mapped.bundle, request or FhirRequest("POST"))
        except FhirError as error:
            if error.status in (409, 412) and attempt < _ATTEMPTS - 1:
                continue  # a concurrent import changed what this one was built on
            problems = [Problem("X99", issue.diagnostics) for issue in error.issues[:20]]
            return _refuse(
                PloError(problems or [Problem("X99", str(error))]), terminology, receipt, original
            )
        break
    assert outcome.resource is not None
    apprec = receipt.build(original, [], terminology)
    summary = ImportSummary(
        accepted=True,
        msg_id=message.envelope.msg_id,
        message_type=message.type.code,
        status=mapped.status,
        written=tuple(_outcomes(mapped.bundle, outcome.resource, prior)),
        warnings=mapped.warnings,
        kept_as_text=tuple(dict.fromkeys(part.path for part in message.leftovers)),
    )
    return apprec, 200, summary
