"""The AuditEvent of every interaction (FHIR R4 AuditEvent after IHE BALP, built by
:func:`adapter.security.audit.build_audit_event`).

An :class:`AuditTrail` follows one HTTP interaction and records exactly one AuditEvent for it; a
batch or transaction Bundle is one interaction, whose entities are the resources of its entries.
It is written

- in the database transaction of the change it records, for every interaction that writes
  (:func:`adapter.router.access.transact`), so a rollback takes it away too;
- right after, through the :class:`~adapter.router.audit_log.AuditLog`, for reads and searches
  (their transaction is read-only) and for batches (each entry commits on its own);
- through the same log for a refused or failed request, with the status it got.

The log writes the events of concurrent requests in one transaction (group commit); each request
still waits until its own event is committed, so no answer leaves before its audit is stored.

Its entities are what the answer disclosed or the interaction wrote (``Type/id/_history/v``), the
patients those resources belong to, the query of a search (base64, as BALP asks) and the operation
invoked. For a refused request they are the resource the URL named and the query: a patient is
never named on the strength of a resource the caller was not allowed to see.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from adapter.fhir.errors import FhirError
from adapter.router.access import Recorder, version_reference
from adapter.router.audit_log import AuditLog
from adapter.router.dispatch import Route, route
from adapter.router.request import FhirRequest, Outcome
from adapter.search.parser import parse_search
from adapter.search.values import FHIR_ID
from adapter.security.audit import AuditSource, build_audit_event, restful_interaction
from adapter.security.policy import ORGNR_SYSTEM, patients_of
from adapter.security.tokens import Principal
from adapter.store.repository import Transaction

log = logging.getLogger("forlop")

MAX_DESCRIPTION = 1000
# What a request that never reached its handler did, by HTTP method.
_FALLBACK_INTERACTIONS = {
    "GET": "read",
    "POST": "create",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}


class OrganisationDirectory:
    """Organisation number -> ``Organization/id`` of the Organization this server holds for it
    (the first by id when there are several), remembered for ``ttl`` seconds per process so an
    AuditEvent names the caller's Organization without a lookup on every request."""

    def __init__(self, ttl: float = 300.0) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._known: dict[str, tuple[str | None, float]] = {}

    def reference(self, tx: Transaction, number: str) -> str | None:
        now = time.monotonic()
        with self._lock:
            known = self._known.get(number)
        if known is not None and known[1] > now:
            return known[0]
        query = parse_search(
            "Organization", [("identifier", f"{ORGNR_SYSTEM}|{number}"), ("_count", "10")]
        ).query
        ids = sorted(m.id for m in tx.search(query).matches)
        found = f"Organization/{ids[0]}" if ids else None
        with self._lock:
            self._known[number] = (found, now + self.ttl)
        return found


def _bundle_entities(bundle: dict[str, Any]) -> Iterable[tuple[str, dict[str, Any] | None]]:
    """(reference, resource or None) of each entry of a Bundle the server answers."""
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource")
        response = entry.get("response") or {}
        if isinstance(resource, dict) and resource.get("resourceType") != "OperationOutcome":
            meta = resource.get("meta") or {}
            ref = f"{resource.get('resourceType')}/{resource.get('id')}"
            version = meta.get("versionId")
            yield (f"{ref}/_history/{version}" if version else ref), resource
        elif isinstance(response.get("location"), str):
            yield response["location"], None
        elif isinstance(entry.get("fullUrl"), str) and isinstance(response.get("etag"), str):
            # A deletion: the tombstone's version, named by the entry's etag.
            full_url = entry["fullUrl"]
            version = response["etag"].removeprefix('W/"').rstrip('"')
            parts = full_url.rstrip("/").split("/")
            yield f"{parts[-2]}/{parts[-1]}/_history/{version}", None


@dataclass
class AuditTrail:
    """The AuditEvent of one HTTP interaction, filled in as the request is understood."""

    source: AuditSource
    directory: OrganisationDirectory
    method: str
    client_address: str | None
    recorded: datetime
    principal: Principal | None = None
    interaction: str | None = None  # restful-interaction code
    requested: str | None = None  # Type/id[/_history/v] the URL names
    query: str | None = None
    operation: str | None = None
    operation_definition: str | None = None
    written: list[str] = field(default_factory=list)
    patients: set[str] = field(default_factory=set)
    done: bool = False

    # --- what was asked -------------------------------------------------------------------------

    def describe(self, found: Route) -> None:
        req = found.request
        self.interaction = restful_interaction(found.interaction, req.resource_type)
        # Only an id that can name a resource is recorded as a reference to one.
        if req.resource_type and req.id and FHIR_ID.fullmatch(req.id):
            version = f"/_history/{req.version_id}" if req.version_id else ""
            self.requested = f"{req.resource_type}/{req.id}{version}"
        if found.operation is not None:
            self.operation = found.interaction.removeprefix("operation:")
            self.operation_definition = found.operation.definition

    def describe_bundle(self, body: Any) -> None:
        kind = body.get("type") if isinstance(body, dict) else None
        self.interaction = "transaction" if kind == "transaction" else "batch"

    def describe_url(self, method: str, url: str, base: FhirRequest) -> None:
        """What a refused request asked for, as far as its URL tells (it may name nothing)."""
        if self.interaction is not None:
            return
        if method == "POST" and url.split("?")[0].strip("/") == "":
            self.describe_bundle(base.body)
            return
        try:
            self.describe(route(method, url, base))
        except FhirError:
            self.interaction = _FALLBACK_INTERACTIONS.get(method, "operation")

    # --- what was done --------------------------------------------------------------------------

    def absorb(self, tx: Transaction, *, recorded: bool) -> None:
        """Take in what a committed transaction wrote; ``recorded``: it holds this AuditEvent."""
        if isinstance(tx, Recorder):
            self.written += tx.written
            self.patients |= tx.patients
        self.done = self.done or recorded

    def event(
        self,
        tx: Transaction,
        status: int,
        outcome: Outcome | None = None,
        recorder: Transaction | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        references: dict[str, None] = {}  # ordered, without repeats
        patients = set(self.patients)
        if isinstance(recorder, Recorder):
            references.update(dict.fromkeys(recorder.written))
            patients |= recorder.patients
        references.update(dict.fromkeys(self.written))
        if outcome is not None:
            if outcome.stored is not None:
                references[version_reference(outcome.stored)] = None
                if not outcome.stored.deleted:
                    patients |= patients_of(outcome.stored.resource)
            if outcome.resource is not None and outcome.resource.get("resourceType") == "Bundle":
                for reference, resource in _bundle_entities(outcome.resource):
                    references[reference] = None
                    if resource is not None:
                        patients |= patients_of(resource)
        requested = self.requested
        if requested is not None and not any(
            r == requested or r.startswith(f"{requested}/_history/") for r in references
        ):
            references = {requested: None, **references}
        organisation = self.principal.organisation if self.principal else None
        return build_audit_event(
            interaction=self.interaction or "operation",
            status=status,
            recorded=self.recorded,
            source=self.source,
            principal=self.principal,
            client_address=self.client_address,
            resources=list(references),
            patients=patients,
            query=self.query,
            operation=self.operation,
            operation_definition=self.operation_definition,
            description=description[:MAX_DESCRIPTION] if description else None,
            organisation_reference=(
                self.directory.reference(tx, organisation) if organisation else None
            ),
        )

    def record(self, tx: Transaction, outcome: Outcome, recorder: Transaction) -> None:
        """Create the AuditEvent of a successful interaction in its own (writing) transaction."""
        tx.create(self.event(tx, outcome.status, outcome, recorder))

    def record_alone(
        self,
        audit_log: AuditLog,
        status: int,
        outcome: Outcome | None = None,
        description: str | None = None,
    ) -> None:
        """Create the AuditEvent outside any transaction of the request (reads, batches,
        refusals), together with those of concurrent requests; returns once it is committed."""
        audit_log.append(lambda tx: self.event(tx, status, outcome, description=description))
        self.done = True

    def record_failure(self, audit_log: AuditLog, error: Exception) -> None:
        """The AuditEvent of a request that was refused or failed; a store that cannot take it
        is logged, and the request's own error stands."""
        if self.done:
            return
        status = error.status if isinstance(error, FhirError) else 500
        description = str(error) if isinstance(error, FhirError) else "internal error"
        try:
            self.record_alone(audit_log, status, description=description)
        except Exception:  # noqa: BLE001 - the original error is what the caller must see
            log.exception("The AuditEvent of a failed %s could not be written", self.method)
