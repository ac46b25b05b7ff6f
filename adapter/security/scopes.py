"""SMART on FHIR scopes (SMART App Launch 2.x, "Scopes and Launch Context") mapped to interactions.

A resource scope is ``<context>/<resource type or *>.<permissions>`` with context ``patient``,
``user`` or ``system``. Permissions in the v2 form are the letters ``c r u d s`` in that order
(``system/CarePlan.rs``, ``system/*.cruds``); the v1 forms map onto them as SMART 2 says:
``read`` = ``rs``, ``write`` = ``cud``, ``*`` = ``cruds``.

Each FHIR interaction needs one letter on its resource type:

========================  ======  ==============================================
interaction               letter  notes
========================  ======  ==============================================
create                    c
read, vread               r
history-instance          r       ``GET Type/id/_history``
update, patch             u       an update that creates is still ``update``
delete                    d
search, history           s       type- and system-level search and history
operation:$name           table   :data:`OPERATION_PERMISSIONS`; unknown: all five
========================  ======  ==============================================

Scopes this server does not use (``openid``, ``launch``, HelseID's own, and SMART 2 granular
scopes with a ``?query``) grant nothing: a granular scope narrows access in ways this server does
not enforce, so it is never read as the wider scope. Types in :data:`EXPLICIT_ONLY_TYPES`
(``AuditEvent``) are never granted by a ``*`` scope, only by one that names them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from adapter.fhir.models import is_resource_type
from adapter.search.parameters import SearchParameters
from adapter.search.query import SearchQuery
from adapter.security.errors import insufficient_scope

Context = Literal["patient", "user", "system"]
CONTEXTS: tuple[Context, ...] = ("patient", "user", "system")
PERMISSIONS = "cruds"
WILDCARD = "*"

EXPLICIT_ONLY_TYPES: frozenset[str] = frozenset({"AuditEvent"})

INTERACTION_PERMISSION: Mapping[str, str] = {
    "create": "c",
    "read": "r",
    "vread": "r",
    "history-instance": "r",
    "update": "u",
    "patch": "u",
    "delete": "d",
    "search": "s",
    "history": "s",
}

# Letters an operation needs on the type it runs on, all of them; "" means any one permission on
# the type. Resources an operation writes (``$extract``) are checked again as create/update, and
# resources it returns (``$everything``) by their own type's read permission.
OPERATION_PERMISSIONS: Mapping[str, str] = {
    "$validate": "",  # checks the body it is sent; reads and changes nothing stored
    "$everything": "rs",
    "$extract": "r",
    "$meta": "r",
    "$meta-add": "u",
    "$meta-delete": "u",
    "$lastn": "s",
    "$expand": "r",
    "$lookup": "r",
    "$validate-code": "r",
    "$translate": "r",
    "$subsumes": "r",
}

_V1_PERMISSIONS = {"read": "rs", "write": "cud", "*": "cruds"}
_SCOPE = re.compile(
    r"^(?P<context>patient|user|system)/(?P<type>\*|[A-Z][A-Za-z]+)\.(?P<perm>[a-z*]+)$"
)
_V2_PERMISSIONS = re.compile(r"^c?r?u?d?s?$")


@dataclass(frozen=True)
class Scope:
    """One resource scope, in v2 terms whichever form it was written in."""

    context: Context
    resource_type: str  # a resource type or "*"
    permissions: frozenset[str]
    text: str

    def grants(self, resource_type: str, letter: str | None) -> bool:
        """Whether this scope grants ``letter`` (None: any permission) on ``resource_type``.

        ``resource_type`` ``"*"`` asks about every type at once (a system-level search), which
        only a wildcard scope grants.
        """
        if letter is not None and letter not in self.permissions:
            return False
        if self.resource_type == WILDCARD:
            return resource_type not in EXPLICIT_ONLY_TYPES
        return self.resource_type == resource_type


def parse_scope(text: str) -> Scope | None:
    """The resource scope ``text`` names, or None when it grants nothing on this server."""
    match = _SCOPE.match(text)
    if match is None:
        return None
    rtype, raw = match["type"], match["perm"]
    if rtype != WILDCARD and not is_resource_type(rtype):
        return None
    letters = _V1_PERMISSIONS.get(raw)
    if letters is None:
        if not raw or _V2_PERMISSIONS.match(raw) is None:
            return None
        letters = raw
    context: Context = match["context"]  # type: ignore[assignment]
    return Scope(context, rtype, frozenset(letters), text)


def required_permission(interaction: str) -> str | None:
    """The letters an interaction needs (all of them), or None for 'any one'.

    ``interaction`` is a key of :data:`INTERACTION_PERMISSION` or ``operation:$name``.
    """
    if interaction.startswith("operation:"):
        name = interaction.removeprefix("operation:")
        letters = OPERATION_PERMISSIONS.get(name, PERMISSIONS)
        return letters or None
    try:
        return INTERACTION_PERMISSION[interaction]
    except KeyError:
        raise ValueError(f"Unknown FHIR interaction '{interaction}'.") from None


@dataclass(frozen=True)
class ScopeSet:
    """The resource scopes of one access token."""

    scopes: tuple[Scope, ...] = ()
    ignored: tuple[str, ...] = ()  # scope strings that grant nothing here

    @classmethod
    def parse(cls, value: object) -> ScopeSet:
        """From a ``scope`` claim: a space-separated string (RFC 8693) or a list of strings
        (as HelseID issues it); anything else holds no scopes."""
        if isinstance(value, str):
            items = value.split()
        elif isinstance(value, list | tuple):
            items = [v for v in value if isinstance(v, str)]
        else:
            return cls()
        scopes: list[Scope] = []
        ignored: list[str] = []
        for item in items:
            parsed = parse_scope(item)
            if parsed is None:
                ignored.append(item)
            else:
                scopes.append(parsed)
        return cls(tuple(scopes), tuple(ignored))

    def _contexts(self, resource_type: str, interaction: str) -> set[Context]:
        """The contexts whose scopes, together, grant every letter the interaction needs."""
        letters = required_permission(interaction)
        found: set[Context] = set()
        for context in CONTEXTS:
            in_context = [s for s in self.scopes if s.context == context]
            if letters is None:
                granted = any(s.grants(resource_type, None) for s in in_context)
            else:
                granted = all(any(s.grants(resource_type, x) for s in in_context) for x in letters)
            if granted:
                found.add(context)
        return found

    def allows(self, resource_type: str, interaction: str) -> bool:
        """Whether the scopes allow ``interaction`` on ``resource_type`` in some context."""
        return bool(self._contexts(resource_type, interaction))

    def patient_only(self, resource_type: str, interaction: str) -> bool:
        """True when only ``patient/`` scopes allow it: the caller may then touch only the data
        of the patient in its launch context."""
        return self._contexts(resource_type, interaction) == {"patient"}

    def require(self, resource_type: str, interaction: str) -> None:
        """Raise 403 (insufficient_scope) unless the scopes allow the interaction."""
        if self.allows(resource_type, interaction):
            return
        letters = required_permission(interaction) or "r"
        wanted = f"system/{resource_type}.{letters}"
        action = interaction.replace("operation:", "the operation ")
        target = "every resource type" if resource_type == WILDCARD else resource_type
        note = (
            f" {resource_type} is granted only by a scope that names it; * never grants it."
            if resource_type in EXPLICIT_ONLY_TYPES
            else ""
        )
        raise insufficient_scope(
            f"The access token's scopes do not allow {action} on {target}; "
            f"it needs a scope such as {wanted}.{note}",
            wanted,
        )

    def __str__(self) -> str:
        return " ".join(s.text for s in self.scopes)


def include_candidates(query: SearchQuery, parameters: SearchParameters) -> list[tuple[str, ...]]:
    """For each ``_include``/``_revinclude`` of the query, the types it may pull in (``("*",)``
    when any type can come)."""
    found: list[tuple[str, ...]] = []
    for include in query.includes:
        if include.target_type is not None:
            found.append((include.target_type,))
            continue
        definition = parameters.get(include.source_type, include.param) if include.param else None
        found.append(definition.target if definition and definition.target else (WILDCARD,))
    found.extend((include.source_type,) for include in query.revincludes)
    return found


def check_search(scopes: ScopeSet, query: SearchQuery, parameters: SearchParameters) -> None:
    """403 unless the scopes allow the search and read at least one type each include can pull
    in. Included resources of types the scopes do not allow to read must still be left out of
    the result (``scopes.allows(type, "read")``) by the caller."""
    for rtype in query.types or (WILDCARD,):
        scopes.require(rtype, "search")
    for candidates in include_candidates(query, parameters):
        if candidates == (WILDCARD,):
            if not any("r" in s.permissions for s in scopes.scopes):
                scopes.require(WILDCARD, "read")
        elif not any(scopes.allows(t, "read") for t in candidates):
            scopes.require(candidates[0], "read")
