"""What every backend does the same way to a resource on its way in and out of storage.

FHIR R4 §3.1.0.1.3 (``meta.versionId``/``meta.lastUpdated`` are set by the server), resource id
rules (§2.22 ``[A-Za-z0-9\\-\\.]{1,64}``), the stored body format, and the history paging cursor.

Bodies are compact JSON bytes from :func:`adapter.fhir.json_codec.dump_json`, so decimals stay
exactly as received (``1.50`` stays ``1.50``); they are read back with decimals as ``Decimal``.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from decimal import Decimal
from typing import Any

from adapter.fhir.errors import Code, FhirError, error_issue, gone, invalid, precondition_failed
from adapter.fhir.json_codec import dump_json
from adapter.fhir.models import is_resource_type
from adapter.search.values import FHIR_ID, format_instant, to_datetime
from adapter.store.repository import StoredResource, TransientConflict

DEFAULT_MAX_INCLUDES = 1000


def now_us() -> int:
    """The current time in UTC microseconds, at the millisecond precision forlop stores."""
    return time.time_ns() // 1_000_000 * 1000


def new_id() -> str:
    return str(uuid.uuid4())


def check_writable(read_only: bool) -> None:
    if read_only:
        raise RuntimeError("A read-only transaction cannot write; open it without read_only.")


def check_type(resource_type: str) -> None:
    if not is_resource_type(resource_type):
        raise invalid(
            f"'{resource_type}' is not an R4 resource type.",
            forlop_code=Code.UNKNOWN_RESOURCE_TYPE,
            code="not-supported",
        )


def check_id(resource_id: str) -> None:
    if not FHIR_ID.fullmatch(resource_id):
        raise invalid(
            f"'{resource_id}' is not a valid resource id (1-64 of A-Z, a-z, 0-9, '-' and '.').",
            expression="id",
        )


def check_body(resource: dict[str, Any], resource_type: str | None, resource_id: str | None) -> str:
    """The resource's type; 400 when the body contradicts the type or id it is written as."""
    body_type = resource.get("resourceType")
    if not isinstance(body_type, str):
        raise invalid("The resource has no resourceType.", expression="resourceType")
    check_type(body_type)
    if resource_type is not None and body_type != resource_type:
        raise invalid(
            f"The body is a {body_type}, but is written as a {resource_type}.",
            expression=f"{body_type}.resourceType",
        )
    body_id = resource.get("id")
    if resource_id is not None and body_id is not None and body_id != resource_id:
        raise invalid(
            f"The body has id '{body_id}', but is written as {body_type}/{resource_id}.",
            expression=f"{body_type}.id",
        )
    return body_type


def stamp(
    resource: dict[str, Any], resource_id: str, version: int, last_updated: int
) -> dict[str, Any]:
    """A copy with id, meta.versionId and meta.lastUpdated set by the store."""
    stamped = dict(resource)
    stamped["id"] = resource_id
    meta = dict(stamped.get("meta") or {})
    meta["versionId"] = str(version)
    meta["lastUpdated"] = format_instant(last_updated)
    stamped["meta"] = meta
    return stamped


def stored(
    resource_type: str,
    resource_id: str,
    version: int,
    last_updated: int,
    deleted: bool,
    resource: dict[str, Any] | None,
) -> StoredResource:
    body = (
        resource
        if resource is not None
        else tombstone(resource_type, resource_id, version, last_updated)
    )
    return StoredResource(
        resource_type, resource_id, version, to_datetime(last_updated), deleted, body
    )


def tombstone(
    resource_type: str, resource_id: str, version: int, last_updated: int
) -> dict[str, Any]:
    return stamp({"resourceType": resource_type}, resource_id, version, last_updated)


def content(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource without what the store sets, for telling whether an update changes it."""
    plain = dict(resource)
    plain.pop("id", None)
    meta = {
        k: v
        for k, v in (plain.pop("meta", None) or {}).items()
        if k not in ("versionId", "lastUpdated")
    }
    if meta:
        plain["meta"] = meta
    return plain


def encode(resource: dict[str, Any]) -> bytes:
    return dump_json(resource)


def decode(body: bytes) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(body, parse_float=Decimal)
    return value


def check_match(
    resource_type: str, resource_id: str, current: int | None, if_match: int | None
) -> None:
    if if_match is not None and current != if_match:
        have = f"version {current}" if current is not None else "no version"
        raise precondition_failed(
            f"{resource_type}/{resource_id} has {have}; If-Match asked for version {if_match}."
        )


def gone_error(resource_type: str, resource_id: str, version: int) -> FhirError:
    return gone(f"{resource_type}/{resource_id} was deleted (version {version}).")


def transient_conflict(diagnostics: str) -> TransientConflict:
    return TransientConflict(409, [error_issue("transient", Code.CONFLICT, diagnostics)])


# --- history paging -----------------------------------------------------------------------------


def encode_history_cursor(last_updated: int, seq: int) -> str:
    raw = json.dumps([last_updated, seq]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_history_cursor(cursor: str | None) -> tuple[int, int] | None:
    if cursor is None:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()))
    except (ValueError, binascii.Error):
        value = None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(type(v) is int and -(2**63) <= v < 2**63 for v in value)
    ):
        raise invalid(
            "The history paging cursor is damaged; ask for the history again.",
            expression="_cursor",
            forlop_code=Code.SEARCH_INVALID,
        )
    return value[0], value[1]
