"""Refusals of access (RFC 6750 bearer token usage, FHIR R4 §3.1.0.1.4 security).

Exception tree::

    FhirError
     └── AuthError   (status 401 or 403, plus the RFC 6750 ``error`` for WWW-Authenticate)

A 401 says the request carries no usable token; a 403 says the token is good but its scopes do not
cover the interaction. A resource the caller may not see is answered like a missing one (404,
:func:`hidden`), so a refusal never reveals that the resource exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapter.fhir.errors import Code, FhirError, error_issue, not_found

REALM = "forlop"


@dataclass
class AuthError(FhirError):
    """401/403 with what the ``WWW-Authenticate`` header should say (RFC 6750 §3).

    ``bearer_error`` is ``None`` when the request carried no token at all: RFC 6750 §3.1 asks the
    server not to name an error code then.
    """

    bearer_error: str | None = None
    scope: str | None = None

    def www_authenticate(self) -> str:
        """The value of the ``WWW-Authenticate`` response header."""
        parts = [f'realm="{REALM}"']
        if self.bearer_error is not None:
            parts.append(f'error="{self.bearer_error}"')
            description = str(self).replace("\\", "").replace('"', "'")
            parts.append(f'error_description="{description}"')
        if self.scope:
            parts.append(f'scope="{self.scope}"')
        return "Bearer " + ", ".join(parts)


def missing_token(diagnostics: str = "This server needs an OAuth 2.0 bearer token.") -> AuthError:
    return AuthError(401, [error_issue("login", Code.UNAUTHENTICATED, diagnostics)], None)


def invalid_token(diagnostics: str, issue_type: str = "login") -> AuthError:
    """A token that is malformed, forged, expired or meant for another server (issue type
    ``expired`` for an expired one, ``login`` otherwise)."""
    return AuthError(
        401, [error_issue(issue_type, Code.UNAUTHENTICATED, diagnostics)], "invalid_token"
    )


def insufficient_scope(diagnostics: str, scope: str | None = None) -> AuthError:
    return AuthError(
        403,
        [error_issue("forbidden", Code.SCOPE_MISSING, diagnostics)],
        "insufficient_scope",
        scope,
    )


def access_denied(diagnostics: str) -> FhirError:
    """403 for a write the caller's organisation may not make (the token itself is good)."""
    return FhirError(403, [error_issue("forbidden", Code.ACCESS_DENIED, diagnostics)])


def keys_unavailable() -> FhirError:
    """The issuer's signing keys could not be loaded: a server-side fault, not the caller's."""
    return FhirError(
        503,
        [
            error_issue(
                "transient",
                Code.SIGNING_KEYS_UNAVAILABLE,
                "The token issuer's signing keys cannot be loaded right now; try again later.",
            )
        ],
    )


def hidden(resource_type: str, id: str) -> FhirError:
    """The answer for a resource the caller may not see: the same 404 as for an unknown id."""
    return not_found(f"{resource_type}/{id} is not known.")
