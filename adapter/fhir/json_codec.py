"""FHIR JSON on the wire (FHIR R4 §2.6.2 JSON representation), parsed defensively.

Decisions the spec asks of a server:
- duplicate property names are an error (RFC 8259 leaves them undefined; FHIR forbids them);
- decimals stay exact: ``1.50`` is parsed to ``Decimal('1.50')`` and written back as ``1.50``;
- NaN and Infinity are not JSON and are refused;
- nesting depth and body size are bounded so hostile input cannot exhaust the stack or memory.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson

from adapter.fhir.errors import Code, FhirError, error_issue, invalid, too_large

DEFAULT_MAX_DEPTH = 64
DEFAULT_MAX_BYTES = 16 * 1024 * 1024


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _depth_exceeds(value: Any, max_depth: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))
    return False


def parse_json(
    data: bytes | str,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> dict[str, Any]:
    """Parse one FHIR JSON resource; raise :class:`FhirError` (400/413) with a clear issue."""
    value = _parse(data, max_depth, max_bytes)
    if not isinstance(value, dict):
        raise invalid(
            "A FHIR JSON body must be one object with a resourceType.",
            forlop_code=Code.JSON_NOT_OBJECT,
            code="structure",
        )
    return value


def parse_json_patch(
    data: bytes | str,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> list[Any]:
    """Parse a JSON Patch (RFC 6902) document: a JSON array of operations."""
    value = _parse(data, max_depth, max_bytes)
    if not isinstance(value, list):
        raise invalid(
            "A JSON Patch body must be a JSON array of operations.",
            forlop_code=Code.JSON_NOT_OBJECT,
            code="structure",
        )
    return value


def _parse(data: bytes | str, max_depth: int, max_bytes: int) -> Any:
    size = len(data.encode() if isinstance(data, str) else data)
    if size > max_bytes:
        raise too_large(f"The body is {size} bytes; this server accepts at most {max_bytes}.")
    try:
        value = json.loads(
            data,
            object_pairs_hook=_object_without_duplicates,
            parse_float=Decimal,
            parse_constant=_refuse_constant,
        )
    except _DuplicateKey as exc:
        raise invalid(
            f"The property '{exc.key}' appears twice in one JSON object; FHIR forbids duplicates.",
            forlop_code=Code.JSON_DUPLICATE_KEY,
            code="structure",
        ) from None
    except RecursionError:
        raise _too_deep(max_depth) from None
    except UnicodeDecodeError as exc:
        raise invalid(
            f"The body is not UTF-8 text: {exc.reason} at byte {exc.start}.",
            forlop_code=Code.JSON_SYNTAX,
            code="structure",
        ) from None
    except ValueError as exc:
        raise invalid(
            f"The body is not valid JSON: {exc}.", forlop_code=Code.JSON_SYNTAX, code="structure"
        ) from None
    if _depth_exceeds(value, max_depth):
        raise _too_deep(max_depth)
    return value


def _too_deep(max_depth: int) -> FhirError:
    return FhirError(
        400,
        [
            error_issue(
                "too-costly",
                Code.JSON_TOO_DEEP,
                f"The JSON nests deeper than {max_depth} levels, the limit of this server.",
            )
        ],
    )


def _exact_decimal(value: Any) -> orjson.Fragment:
    if isinstance(value, Decimal) and value.is_finite():
        return orjson.Fragment(str(value).encode())
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dump_json(resource: Any, *, pretty: bool = False) -> bytes:
    """Serialise a FHIR JSON value, keeping decimals exactly as they were given."""
    option = orjson.OPT_INDENT_2 if pretty else 0
    return orjson.dumps(resource, default=_exact_decimal, option=option)
