"""``_include`` and ``_revinclude`` through the reference index (FHIR R4 §3.1.1.5.4).

The first round applies every include to the matches; later rounds apply only the ``:iterate``
ones to what the previous round added, up to :data:`INCLUDE_ROUNDS` rounds. Only local
(``Type/id``) references can be followed. Included resources are ordered by type and id; a
backend cuts the list at its ``max_includes`` and says so.
"""

from __future__ import annotations

from collections.abc import Iterable

from adapter.search.index import ReferenceRow
from adapter.search.query import Include

INCLUDE_ROUNDS = 4


def include_keys(spec: Include, references: Iterable[ReferenceRow]) -> set[tuple[str, str]]:
    """The (type, id) targets ``spec`` follows among one resource's reference rows."""
    return {
        (row.target_type, row.target_id)
        for row in references
        if row.target_type is not None
        and row.target_id is not None
        and (spec.param is None or row.param == spec.param)
        and (spec.target_type is None or row.target_type == spec.target_type)
    }
