"""The ``$operations``: ``$validate`` (FHIR R4 Resource-validate), ``$extract`` (SDC
QuestionnaireResponse-extract, applied to the store in the same transaction) and ``$everything``
(R4 Patient-everything, with ``_since`` and stable paging).

Importing this module registers them in :data:`adapter.router.dispatch.OPERATIONS`.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from adapter.fhir.errors import Code, FhirError, invalid, outcome
from adapter.mapping.codes import PSFS_QUESTIONNAIRE
from adapter.mapping.psfs import extract
from adapter.mapping.psfs_response import is_psfs_response, response_to_assessment
from adapter.router import bundles
from adapter.router.capability import SERVED_TYPES
from adapter.router.crud import Context, validation_status
from adapter.router.dispatch import OPERATIONS, Operation
from adapter.router.request import FhirRequest, Outcome
from adapter.router.searching import entry
from adapter.search.parameters import default_parameters
from adapter.search.parser import parse_search
from adapter.store.repository import StoredResource, Transaction

_EVERYTHING_LIMIT = 10_000


def _parameter(body: Any, name: str) -> Any:
    """A resource given directly, or as the named parameter of a Parameters resource."""
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        for parameter in body.get("parameter") or []:
            if parameter.get("name") == name and isinstance(parameter.get("resource"), dict):
                return parameter["resource"]
        raise invalid(
            f"The Parameters resource has no '{name}' parameter with a resource.",
            expression="Parameters.parameter",
        )
    return body


def _subject(ctx: Context, tx: Transaction, req: FhirRequest, name: str) -> dict[str, Any]:
    if req.id is not None and req.resource_type is not None:
        if req.body is not None:
            return dict(_parameter(req.body, name))
        return tx.read(req.resource_type, req.id).resource
    resource = _parameter(req.body, name)
    if not isinstance(resource, dict):
        raise invalid(
            f"The operation needs a resource in the body, or a Parameters resource with a "
            f"'{name}' parameter.",
            code="required",
        )
    return resource


def validate_operation(ctx: Context, tx: Transaction, req: FhirRequest) -> Outcome:
    """$validate: every issue of the resource, as an OperationOutcome (200 when checked)."""
    resource = _subject(ctx, tx, req, "resource")
    if req.resource_type and resource.get("resourceType") != req.resource_type:
        raise invalid(
            f"$validate on {req.resource_type} was given a {resource.get('resourceType')}.",
            expression="resourceType",
        )
    return Outcome(200, outcome(ctx.validate(resource)))


def _previous_responses(
    tx: Transaction, response: dict[str, Any], current_id: str
) -> list[dict[str, Any]]:
    """The patient's earlier PSFS responses in the store, oldest first."""
    subject = (response.get("subject") or {}).get("reference")
    if not isinstance(subject, str):
        return []
    query = parse_search(
        "QuestionnaireResponse",
        [("subject", subject), ("questionnaire", PSFS_QUESTIONNAIRE), ("_count", "1000")],
        max_count=1000,
    ).query
    found = [m.resource for m in tx.search(query).matches]
    earlier = []
    for stored in found:
        other = response_to_assessment(stored)
        if other.id != current_id:
            earlier.append(stored)
    return sorted(earlier, key=lambda r: str(r.get("authored", "")))


def extract_operation(ctx: Context, tx: Transaction, req: FhirRequest) -> Outcome:
    """$extract: PSFS response -> Goals, score Observations and Provenance, stored now."""
    response = copy.deepcopy(_subject(ctx, tx, req, "questionnaire-response"))
    issues = ctx.validate(response)
    if any(i.is_error for i in issues):
        raise FhirError(validation_status(issues), issues)
    if not is_psfs_response(response):
        raise invalid(
            "Only responses to the PSFS Questionnaire can be extracted to Goals and Observations.",
            expression="QuestionnaireResponse.questionnaire",
            forlop_code=Code.EXTRACT_UNSUPPORTED,
            code="not-supported",
            status=422,
        )
    current = response_to_assessment(response)
    previous = _previous_responses(tx, response, current.id)
    bundle, warnings = extract(response, previous, ctx.registry)
    result = bundles.run_transaction(ctx, tx, bundle, req)
    result.issues = warnings
    return result


def _compartment_ids(tx: Transaction, patient_id: str, since: str | None) -> list[StoredResource]:
    parameters = default_parameters()
    found: list[StoredResource] = []
    for rtype in sorted(SERVED_TYPES):
        if rtype == "Patient":
            params = [("_id", patient_id)]
        else:
            code = next(
                (c for c in ("patient", "subject") if parameters.get(rtype, c) is not None), None
            )
            if code is None:
                continue
            params = [(code, f"Patient/{patient_id}")]
        if since:
            params.append(("_lastUpdated", f"ge{since}"))
        params.append(("_count", "1000"))
        query = parse_search(rtype, params, max_count=1000).query
        while True:
            page = tx.search(query)
            found += page.matches
            if not page.next_cursor or len(found) > _EVERYTHING_LIMIT:
                break
            query = type(query)(**{**query.__dict__, "cursor": page.next_cursor})
    if len(found) > _EVERYTHING_LIMIT:
        raise invalid(
            f"The patient's record holds more than {_EVERYTHING_LIMIT} resources; use _since.",
            code="too-costly",
        )
    return sorted(found, key=lambda s: (s.resource_type, s.id))


def everything_operation(ctx: Context, tx: Transaction, req: FhirRequest) -> Outcome:
    """$everything: the patient and every resource in their compartment, paged by position."""
    assert req.id is not None
    tx.read("Patient", req.id)
    params = dict(req.query)
    since = params.get("_since")
    if since is not None:
        try:
            datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            raise invalid(
                f"_since must be an instant, not {since!r}.", expression="_since"
            ) from None
    count_raw = params.get("_count", str(ctx.settings.default_page_size))
    if not count_raw.isdigit() or int(count_raw) < 1:
        raise invalid(f"_count must be a positive number, not {count_raw!r}.", expression="_count")
    count = min(int(count_raw), ctx.settings.max_page_size)
    after = params.get("_cursor")
    everything = _compartment_ids(tx, req.id, since)
    if req.principal is not None:
        # Each resource is returned by its own type's read permission.
        allows = req.principal.scopes.allows
        everything = [s for s in everything if allows(s.resource_type, "read")]
    if after:
        everything = [s for s in everything if f"{s.resource_type}/{s.id}" > after]
    page, rest = everything[:count], everything[count:]
    url = f"{req.base_url}/Patient/{req.id}/$everything"
    kept = [(k, v) for k, v in (("_since", since), ("_count", count_raw)) if v]
    cursor = [("_cursor", after)] if after else []
    links = [{"relation": "self", "url": _link(url, kept + cursor)}]
    if rest:
        last = f"{page[-1].resource_type}/{page[-1].id}"
        links.append({"relation": "next", "url": _link(url, [*kept, ("_cursor", last)])})
    return Outcome(
        200,
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "link": links,
            "entry": [entry(req.base_url, s, "match") for s in page],
        },
    )


def _link(url: str, params: list[tuple[str, str]]) -> str:
    return f"{url}?{urlencode(params)}" if params else url


OPERATIONS[(None, "$validate")] = Operation(
    validate_operation, "http://hl7.org/fhir/OperationDefinition/Resource-validate"
)
OPERATIONS[("QuestionnaireResponse", "$extract")] = Operation(
    extract_operation,
    "http://hl7.org/fhir/uv/sdc/OperationDefinition/QuestionnaireResponse-extract",
    affects_state=True,
)
OPERATIONS[("Patient", "$everything")] = Operation(
    everything_operation, "http://hl7.org/fhir/OperationDefinition/Patient-everything"
)
