"""SMART scopes: parsing v1 and v2 forms, and which interactions each allows."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapter.fhir.errors import Code
from adapter.search.parameters import default_parameters
from adapter.search.query import Include, SearchQuery
from adapter.security.errors import AuthError
from adapter.security.scopes import (
    INTERACTION_PERMISSION,
    ScopeSet,
    check_search,
    parse_scope,
    required_permission,
)

INTERACTIONS = list(INTERACTION_PERMISSION)


@pytest.mark.parametrize(
    ("text", "context", "rtype", "letters"),
    [
        ("system/CarePlan.rs", "system", "CarePlan", "rs"),
        ("system/*.cruds", "system", "*", "cruds"),
        ("user/Observation.r", "user", "Observation", "r"),
        ("patient/Goal.cu", "patient", "Goal", "cu"),
        ("system/CarePlan.read", "system", "CarePlan", "rs"),
        ("system/CarePlan.write", "system", "CarePlan", "cud"),
        ("user/*.*", "user", "*", "cruds"),
        ("system/AuditEvent.s", "system", "AuditEvent", "s"),
    ],
)
def test_resource_scopes_parse(text: str, context: str, rtype: str, letters: str) -> None:
    scope = parse_scope(text)
    assert scope is not None
    assert (scope.context, scope.resource_type, scope.permissions) == (
        context,
        rtype,
        frozenset(letters),
    )
    assert scope.text == text


@pytest.mark.parametrize(
    "text",
    [
        "openid",
        "launch/patient",
        "helseid://scopes/identity/pid",
        "system/CarePlan.rc",  # wrong order
        "system/CarePlan.rr",
        "system/CarePlan.x",
        "system/CarePlan.",
        "system/Careplan.rs",  # not an R4 type
        "system/Resource.rs",
        "admin/CarePlan.rs",
        "system/CarePlan.rs?category=nursing",  # granular: not enforced, so not granted
        "system/CarePlan.readwrite",
    ],
)
def test_other_scopes_grant_nothing(text: str) -> None:
    assert parse_scope(text) is None
    scopes = ScopeSet.parse(text)
    assert scopes.ignored == (text,)
    assert not any(scopes.allows("CarePlan", i) for i in INTERACTIONS)


# interaction -> allowed by (v2 form, v1 form)
ALLOWS_TABLE = {
    "create": ("c", "write"),
    "read": ("r", "read"),
    "vread": ("r", "read"),
    "history-instance": ("r", "read"),
    "update": ("u", "write"),
    "patch": ("u", "write"),
    "delete": ("d", "write"),
    "search": ("s", "read"),
    "history": ("s", "read"),
}


@pytest.mark.parametrize("interaction", INTERACTIONS)
@pytest.mark.parametrize("letter", list("cruds"))
def test_each_v2_letter_allows_exactly_its_interactions(interaction: str, letter: str) -> None:
    scopes = ScopeSet.parse(f"system/Goal.{letter}")
    assert scopes.allows("Goal", interaction) is (ALLOWS_TABLE[interaction][0] == letter)
    assert not scopes.allows("CarePlan", interaction)


@pytest.mark.parametrize("interaction", INTERACTIONS)
@pytest.mark.parametrize("form", ["read", "write"])
def test_v1_forms_allow_their_interactions(interaction: str, form: str) -> None:
    scopes = ScopeSet.parse(f"user/Goal.{form}")
    assert scopes.allows("Goal", interaction) is (ALLOWS_TABLE[interaction][1] == form)


@given(
    letters=st.sets(st.sampled_from("cruds")),
    interaction=st.sampled_from(INTERACTIONS),
)
def test_v2_permissions_are_a_set_of_letters(letters: set[str], interaction: str) -> None:
    ordered = "".join(x for x in "cruds" if x in letters)
    scopes = ScopeSet.parse(f"system/Observation.{ordered}")
    assert scopes.allows("Observation", interaction) is (
        INTERACTION_PERMISSION[interaction] in letters
    )


@pytest.mark.parametrize("interaction", INTERACTIONS)
def test_wildcards_allow_every_type_but_audit_event(interaction: str) -> None:
    for text in ("system/*.cruds", "user/*.*", "system/*.read system/*.write"):
        scopes = ScopeSet.parse(text)
        assert scopes.allows("CarePlan", interaction)
        assert scopes.allows("QuestionnaireResponse", interaction)
        assert not scopes.allows("AuditEvent", interaction)


def test_audit_event_needs_an_explicit_scope() -> None:
    scopes = ScopeSet.parse("system/*.cruds system/AuditEvent.rs")
    assert scopes.allows("AuditEvent", "search")
    assert scopes.allows("AuditEvent", "read")
    assert not scopes.allows("AuditEvent", "create")
    assert ScopeSet.parse("system/AuditEvent.read").allows("AuditEvent", "search")
    with pytest.raises(AuthError) as caught:
        ScopeSet.parse("system/*.cruds").require("AuditEvent", "search")
    assert "never grants" in str(caught.value)


def test_system_level_search_needs_a_wildcard() -> None:
    assert ScopeSet.parse("system/*.s").allows("*", "search")
    assert not ScopeSet.parse("system/CarePlan.s system/Goal.s").allows("*", "search")


def test_operations() -> None:
    reader = ScopeSet.parse("system/Patient.rs system/QuestionnaireResponse.r")
    assert reader.allows("Patient", "operation:$everything")
    assert not ScopeSet.parse("system/Patient.r").allows("Patient", "operation:$everything")
    assert reader.allows("QuestionnaireResponse", "operation:$extract")
    assert ScopeSet.parse("system/Goal.c").allows("Goal", "operation:$validate")
    assert not ScopeSet.parse("system/Goal.c").allows("CarePlan", "operation:$validate")
    # An operation this server does not know needs every permission.
    assert not reader.allows("Patient", "operation:$purge")
    assert ScopeSet.parse("system/Patient.cruds").allows("Patient", "operation:$purge")
    assert required_permission("operation:$validate") is None


def test_letters_must_come_from_one_context() -> None:
    mixed = ScopeSet.parse("patient/Patient.r user/Patient.s")
    assert not mixed.allows("Patient", "operation:$everything")
    assert mixed.allows("Patient", "read") and mixed.allows("Patient", "search")


def test_patient_only() -> None:
    scopes = ScopeSet.parse("patient/Observation.rs system/Goal.rs patient/Goal.rs")
    assert scopes.patient_only("Observation", "read")
    assert not scopes.patient_only("Goal", "read")
    assert not scopes.patient_only("CarePlan", "read")


def test_unknown_interactions_are_a_programming_error() -> None:
    with pytest.raises(ValueError):
        ScopeSet().allows("Goal", "frobnicate")


def test_require_names_a_scope_that_would_do() -> None:
    with pytest.raises(AuthError) as caught:
        ScopeSet.parse("system/CarePlan.r").require("CarePlan", "search")
    error = caught.value
    assert error.status == 403
    assert error.bearer_error == "insufficient_scope"
    assert error.scope == "system/CarePlan.s"
    assert error.issues[0].forlop_code is Code.SCOPE_MISSING
    assert error.issues[0].code == "forbidden"
    assert 'scope="system/CarePlan.s"' in error.www_authenticate()


def test_scope_sets_keep_their_text() -> None:
    scopes = ScopeSet.parse("openid system/CarePlan.rs   system/Goal.read")
    assert str(scopes) == "system/CarePlan.rs system/Goal.read"
    assert ScopeSet.parse(None) == ScopeSet()
    assert ScopeSet.parse(42) == ScopeSet()
    assert str(ScopeSet.parse(["system/Goal.r", 7])) == "system/Goal.r"


# --- searches with _include / _revinclude ---------------------------------------------------


def _query(
    includes: tuple[Include, ...] = (), revincludes: tuple[Include, ...] = ()
) -> SearchQuery:
    return SearchQuery(types=("CarePlan",), includes=includes, revincludes=revincludes)


def test_a_search_needs_the_search_scope_of_its_types() -> None:
    parameters = default_parameters()
    check_search(ScopeSet.parse("system/CarePlan.s"), _query(), parameters)
    with pytest.raises(AuthError):
        check_search(ScopeSet.parse("system/CarePlan.r"), _query(), parameters)
    with pytest.raises(AuthError):
        check_search(ScopeSet.parse("system/CarePlan.s"), SearchQuery(types=()), parameters)


def test_includes_need_read_on_their_targets() -> None:
    parameters = default_parameters()
    goal = _query(includes=(Include("CarePlan", "goal"),))
    check_search(ScopeSet.parse("system/CarePlan.s system/Goal.r"), goal, parameters)
    with pytest.raises(AuthError) as caught:
        check_search(ScopeSet.parse("system/CarePlan.s"), goal, parameters)
    assert "Goal" in str(caught.value)
    # A parameter with several targets needs one of them; the rest are filtered by type.
    subject = _query(includes=(Include("CarePlan", "subject"),))
    check_search(ScopeSet.parse("system/CarePlan.s system/Patient.r"), subject, parameters)
    explicit = _query(includes=(Include("CarePlan", "subject", "Group"),))
    with pytest.raises(AuthError):
        check_search(ScopeSet.parse("system/CarePlan.s system/Patient.r"), explicit, parameters)


def test_revincludes_need_read_on_their_source_type() -> None:
    parameters = default_parameters()
    query = _query(revincludes=(Include("Provenance", "target"),))
    check_search(ScopeSet.parse("system/CarePlan.s system/Provenance.r"), query, parameters)
    with pytest.raises(AuthError):
        check_search(ScopeSet.parse("system/CarePlan.s"), query, parameters)


def test_audit_events_are_never_included_through_a_wildcard() -> None:
    parameters = default_parameters()
    query = _query(revincludes=(Include("AuditEvent", "entity"),))
    with pytest.raises(AuthError):
        check_search(ScopeSet.parse("system/*.rs"), query, parameters)


def test_wildcard_includes_need_some_read_scope() -> None:
    parameters = default_parameters()
    query = _query(includes=(Include("CarePlan", None),))
    check_search(ScopeSet.parse("system/CarePlan.rs"), query, parameters)
    with pytest.raises(AuthError):
        check_search(ScopeSet.parse("system/CarePlan.s"), query, parameters)
