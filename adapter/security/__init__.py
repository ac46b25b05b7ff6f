"""Access control and audit: bearer tokens, SMART scopes, organisation-scoped access to patient
data, and AuditEvent records (see each module's docstring for the standard it follows).

- :mod:`~adapter.security.settings`: :class:`AuthSettings` (flags and ``FORLOP_*`` variables);
- :mod:`~adapter.security.tokens`: :class:`TokenVerifier`, :class:`JwksCache`, :class:`Principal`;
- :mod:`~adapter.security.scopes`: :class:`ScopeSet` (SMART v1/v2 scopes -> interactions);
- :mod:`~adapter.security.policy`: care relations and read/write decisions;
- :mod:`~adapter.security.audit`: :func:`build_audit_event` (IHE BALP);
- :mod:`~adapter.security.keys`: development key pairs and tokens (``forlop token``);
- :mod:`~adapter.security.errors`: :class:`AuthError` (401/403 with WWW-Authenticate), and the
  403 of a write the caller's organisation may not make.

:mod:`adapter.router.access` applies the policy to each request's transactions and
:mod:`adapter.router.auditing` records the AuditEvents.
"""

from adapter.security.audit import (
    AuditSource,
    build_audit_event,
    check_audit_interaction,
    outcome_code,
    restful_interaction,
)
from adapter.security.errors import (
    AuthError,
    access_denied,
    hidden,
    insufficient_scope,
    invalid_token,
    keys_unavailable,
    missing_token,
)
from adapter.security.keys import (
    KeyFileError,
    SigningKey,
    generate_key_pair,
    issue_token,
    load_signing_key,
)
from adapter.security.policy import (
    CARE_RELATION_SEARCHES,
    PATIENT_COMPARTMENT,
    PRIVATE_TYPES,
    RELATION_TYPES,
    CareLookup,
    Decision,
    Resolver,
    authors_of,
    care_organisations,
    may_read,
    may_write,
    named_organisations,
    organisation_number,
    patients_of,
    visible,
)
from adapter.security.scopes import (
    EXPLICIT_ONLY_TYPES,
    Scope,
    ScopeSet,
    check_search,
    parse_scope,
    required_permission,
)
from adapter.security.settings import AuthConfigError, AuthSettings, is_loopback
from adapter.security.tokens import (
    JwksCache,
    Principal,
    TokenVerifier,
    bearer_token,
    insecure_dev_principal,
)

__all__ = [
    "CARE_RELATION_SEARCHES",
    "EXPLICIT_ONLY_TYPES",
    "PATIENT_COMPARTMENT",
    "PRIVATE_TYPES",
    "RELATION_TYPES",
    "AuditSource",
    "AuthConfigError",
    "AuthError",
    "AuthSettings",
    "CareLookup",
    "Decision",
    "JwksCache",
    "KeyFileError",
    "Principal",
    "Resolver",
    "Scope",
    "ScopeSet",
    "SigningKey",
    "TokenVerifier",
    "access_denied",
    "authors_of",
    "bearer_token",
    "build_audit_event",
    "care_organisations",
    "check_audit_interaction",
    "check_search",
    "generate_key_pair",
    "hidden",
    "insecure_dev_principal",
    "insufficient_scope",
    "invalid_token",
    "is_loopback",
    "issue_token",
    "keys_unavailable",
    "load_signing_key",
    "may_read",
    "may_write",
    "missing_token",
    "named_organisations",
    "organisation_number",
    "outcome_code",
    "parse_scope",
    "patients_of",
    "required_permission",
    "restful_interaction",
    "visible",
]
