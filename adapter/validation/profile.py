"""Validation against forlop's profiles (FHIR R4 §2.29 StructureDefinition, §5.1 Profiling).

A profile is read from its differential: for every element it constrains, every occurrence in the
resource is checked for cardinality (counted per occurrence of the parent, so ``min`` does not apply
where the parent is absent), choice types, ``fixed[x]``, ``pattern[x]``, required and extensible
bindings (ValueSets expanded from the registry), reference targets, extension and datatype profiles,
FHIRPath invariants (context: the element; ``%resource``: the resource) and slicing.

All problems are collected as :class:`~adapter.fhir.errors.Issue` with a ``PROFILE_*`` code, the
concrete FHIRPath of the element (``Goal.target[0].measure``) and a diagnostic naming the profile.
What this validator cannot evaluate (a FHIRPath error, an unresolvable ValueSet, an unsupported
slicing) is an error too: a profile rule never passes because it could not be checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from adapter.fhir.errors import Code, Issue, Severity, has_errors
from adapter.registry import Registry
from adapter.validation.differential import DifferentialError, ElementNode, build_tree
from adapter.validation.elements import Instance, children, fhirpath_node, root
from adapter.validation.expansion import Concept, UnresolvableValueSet, expand
from adapter.validation.fastpath import Unsure, compile_fast, type_path_info
from adapter.validation.fhirpath import Verdicts, evaluate, is_true
from adapter.validation.patterns import declared, describe, matches_fixed, matches_pattern
from adapter.validation.slicing import (
    SliceRule,
    SlicingError,
    assign,
    describe_slices,
    slice_rules,
)

__all__ = ["OWN_CANONICAL_PREFIX", "validate_claimed_profiles", "validate_profile"]

OWN_CANONICAL_PREFIX = "http://forlop.no/"
_HL7_STRUCTURE_DEFINITION = "http://hl7.org/fhir/StructureDefinition/"
CONSTRAINT_VERDICTS = Verdicts()  # of profile constraints (plain FHIRPath, no added functions)

# Type/id, optionally versioned, at the end of a relative or absolute literal reference.
_LITERAL_REFERENCE = re.compile(
    r"(?:^|/)(?P<type>[A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}(?:/_history/[A-Za-z0-9\-.]{1,64})?$"
)
# Type?search: a conditional reference, resolved inside a transaction (R4 http.html#trules).
_CONDITIONAL_REFERENCE = re.compile(r"(?P<type>[A-Z][A-Za-z]+)\?.+")


def validate_profile(
    resource: dict[str, Any], profile: dict[str, Any], registry: Registry
) -> list[Issue]:
    """Every issue of ``resource`` against the StructureDefinition ``profile``."""
    validation = _Validation(resource, registry)
    validation.against(profile, root(resource))
    return validation.result()


def validate_claimed_profiles(resource: dict[str, Any], registry: Registry) -> list[Issue]:
    """Validate against every profile in ``meta.profile``.

    A claimed forlop profile the registry does not hold is an error; any other unknown profile
    only a warning, since a client may claim national or vendor profiles this server does not
    enforce.
    """
    meta = resource.get("meta")
    claimed = meta.get("profile") if isinstance(meta, dict) else None
    if not isinstance(claimed, list):
        return []
    validation = _Validation(resource, registry)
    resource_type = str(resource.get("resourceType", ""))
    for index, canonical in enumerate(claimed):
        if not isinstance(canonical, str):
            continue
        expression = f"{resource_type}.meta.profile[{index}]"
        profile = validation.resolve(canonical, expression, "the claimed profile", None)
        if profile is not None:
            validation.against(profile, root(resource))
    return validation.result()


def _label(profile: dict[str, Any]) -> str:
    for key in ("id", "name", "url"):
        value = profile.get(key)
        if isinstance(value, str):
            return value
    return "without id"


def _coded(value: Any) -> list[tuple[str | None, str]]:
    """(system, code) pairs a code, Coding, Quantity or CodeableConcept carries."""
    if isinstance(value, str):
        return [(None, value)]
    if not isinstance(value, dict):
        return []
    codings = value.get("coding") if "coding" in value else [value]
    if not isinstance(codings, list):
        return []
    # A Coding without a system does not say what its code means, so "" matches no entry.
    return [
        (c.get("system") if isinstance(c.get("system"), str) else "", c["code"])
        for c in codings
        if isinstance(c, dict) and isinstance(c.get("code"), str)
    ]


def _in(concepts: frozenset[Concept], system: str | None, code: str) -> bool:
    if system is not None:
        return (system, code) in concepts
    # A code element carries no system: the code of any system of the ValueSet will do.
    return any(known == code for _, known in concepts)


def _found(value: Any) -> str:
    return "no value" if value is None else describe(value)


@dataclass
class _Validation:
    """One validation run: the resource, the registry and the issues found so far."""

    resource: dict[str, Any]
    registry: Registry
    issues: list[Issue] = field(default_factory=list)
    expansions: dict[str, frozenset[Concept] | str] = field(default_factory=dict)
    active: tuple[str, ...] = ()  # profile URLs being applied, so a cycle is applied once

    def result(self) -> list[Issue]:
        # The same rule can be reached twice (a base profile, a repeated slice error).
        return list(dict.fromkeys(self.issues))

    def report(
        self,
        label: str | None,
        severity: Severity,
        code: str,
        forlop_code: Code,
        expression: str,
        message: str,
    ) -> None:
        suffix = f" (profile {label})" if label is not None else ""
        self.issues.append(Issue(severity, code, message + suffix, (expression,), forlop_code))

    def resolve(
        self, canonical: str, expression: str, role: str, label: str | None
    ) -> dict[str, Any] | None:
        profile = self.registry.get(canonical)
        if profile is not None and profile.get("resourceType") == "StructureDefinition":
            return profile
        own = canonical.startswith(OWN_CANONICAL_PREFIX)
        self.report(
            label,
            "error" if own else "warning",
            "not-found",
            Code.PROFILE_UNKNOWN,
            expression,
            f"{expression}: {role} {canonical} is not known to this server"
            + ("" if own else ", so it was not checked"),
        )
        return None

    # --- applying one profile ------------------------------------------------------------------

    def against(self, profile: dict[str, Any], instance: Instance) -> None:
        """Apply ``profile`` (and its forlop base profiles) to ``instance``."""
        url = str(profile.get("url", ""))
        if url in self.active:
            return
        label = _label(profile)
        expected = profile.get("type")
        # Backbone elements have path-like type names and are never profiled on their own.
        if "." not in instance.type_path and instance.type_path != expected:
            self.report(
                label,
                "error",
                "structure",
                Code.PROFILE_TYPE,
                instance.expression,
                f"{instance.expression} is a {instance.type_path}, "
                f"but the profile constrains {expected}",
            )
            return
        try:
            tree = build_tree(profile)
        except DifferentialError as exc:
            self.report(
                label,
                "error",
                "not-supported",
                Code.PROFILE_UNSUPPORTED,
                instance.expression,
                f"the profile cannot be applied: {exc}",
            )
            return
        self.active = (*self.active, url)
        base = profile.get("baseDefinition")
        if isinstance(base, str) and not base.startswith(_HL7_STRUCTURE_DEFINITION):
            base_profile = self.resolve(base, instance.expression, "the base profile", label)
            if base_profile is not None:
                self.against(base_profile, instance)
        self.element(label, tree, [instance])
        self.active = self.active[:-1]

    def element(self, label: str, node: ElementNode, instances: list[Instance]) -> None:
        if node.definition:
            for instance in instances:
                self.value_rules(label, node, instance)
        for child in node.children.values():
            self.child_element(label, child, instances)

    def child_element(self, label: str, node: ElementNode, parents: list[Instance]) -> None:
        rules = self.rules_of(label, node, parents)
        closed = node.definition.get("slicing", {}).get("rules") == "closed"
        everything: list[Instance] = []
        members: dict[str, list[Instance]] = {name: [] for name in node.slices}
        for parent in parents:
            found = children(parent, node.name)
            everything.extend(found)
            self.cardinality(label, node, parent, found, None)
            if rules is None:
                continue
            assignment = assign(rules, found)
            for name, in_slice in assignment.members.items():
                self.cardinality(label, node.slices[name], parent, in_slice, rules[name])
                members[name].extend(in_slice)
            if closed:
                for stray in assignment.unmatched:
                    self.report(
                        label,
                        "error",
                        "structure",
                        Code.PROFILE_SLICING,
                        stray.expression,
                        f"{stray.expression} matches none of the slices "
                        f"{describe_slices(rules)}; the slicing is closed",
                    )
        self.element(label, node, everything)
        if rules is not None:
            for name, slice_node in node.slices.items():
                self.element(label, slice_node, members[name])

    def rules_of(
        self, label: str, node: ElementNode, parents: list[Instance]
    ) -> dict[str, list[SliceRule]] | None:
        if not node.slices:
            return None
        try:
            return slice_rules(node)
        except SlicingError as exc:
            for parent in parents:
                self.report(
                    label,
                    "error",
                    "not-supported",
                    Code.PROFILE_UNSUPPORTED,
                    f"{parent.expression}.{node.name}",
                    f"the slicing of {node.element_id} cannot be evaluated: {exc}",
                )
            return None

    def cardinality(
        self,
        label: str,
        node: ElementNode,
        parent: Instance,
        found: list[Instance],
        rules: list[SliceRule] | None,
    ) -> None:
        definition = node.definition
        if not definition:
            return
        where = f"{parent.expression}.{node.name.removesuffix('[x]')}"
        subject = where
        if rules is not None:
            slice_name = str(definition.get("sliceName", node.element_id))
            subject = f"{where} slice {describe_slices({slice_name: rules})}"
        least = int(definition.get("min", 0))
        most = definition.get("max")
        count = len(found)
        if count < least:
            self.report(
                label,
                "error",
                "required",
                Code.PROFILE_CARDINALITY,
                where,
                f"{subject}: at least {least} required, found {count}",
            )
        if isinstance(most, str) and most != "*" and count > int(most):
            self.report(
                label,
                "error",
                "structure",
                Code.PROFILE_CARDINALITY,
                where,
                f"{subject}: not allowed, found {count}"
                if most == "0"
                else f"{subject}: at most {most} allowed, found {count}",
            )

    # --- rules on one occurrence ------------------------------------------------------------

    def value_rules(self, label: str, node: ElementNode, instance: Instance) -> None:
        definition = node.definition
        self.choice_type(label, node, instance)
        fixed = declared(definition, "fixed")
        if fixed is not None and not matches_fixed(instance.value, fixed[1]):
            self.report(
                label,
                "error",
                "value",
                Code.PROFILE_FIXED,
                instance.expression,
                f"{instance.expression} must be exactly {describe(fixed[1])}, "
                f"found {_found(instance.value)}",
            )
        pattern = declared(definition, "pattern")
        if pattern is not None and not matches_pattern(instance.value, pattern[1]):
            self.report(
                label,
                "error",
                "value",
                Code.PROFILE_PATTERN,
                instance.expression,
                f"{instance.expression} must be {describe(pattern[1])}, "
                f"found {_found(instance.value)}",
            )
        self.binding(label, definition, instance)
        self.reference_target(label, definition, instance)
        self.type_profiles(label, definition, instance)
        self.constraints(label, definition, instance)

    def choice_type(self, label: str, node: ElementNode, instance: Instance) -> None:
        codes = [t.get("code") for t in node.definition.get("type", [])]
        base = node.name.removesuffix("[x]")
        if base == node.name or not codes:
            return
        suffix = instance.name[len(base) :]
        if any(isinstance(c, str) and c[:1].upper() + c[1:] == suffix for c in codes):
            return
        self.report(
            label,
            "error",
            "structure",
            Code.PROFILE_TYPE,
            instance.expression,
            f"{instance.expression}: {base}[x] must be of type "
            f"{' or '.join(str(c) for c in codes)}, found {instance.type_path}",
        )

    def binding(self, label: str, definition: dict[str, Any], instance: Instance) -> None:
        binding = definition.get("binding")
        if not isinstance(binding, dict):
            return
        strength = binding.get("strength")
        valueset = binding.get("valueSet")
        if strength not in ("required", "extensible") or not isinstance(valueset, str):
            return
        severity: Severity = "error" if strength == "required" else "warning"
        concepts = self.expansion(valueset)
        if isinstance(concepts, str):
            self.report(
                label,
                severity,
                "not-found",
                Code.PROFILE_BINDING,
                instance.expression,
                f"{instance.expression}: the {strength} binding to ValueSet {valueset} "
                f"cannot be checked: {concepts}",
            )
            return
        offered = _coded(instance.value)
        if any(_in(concepts, system, code) for system, code in offered):
            return
        if strength == "extensible" and not offered:
            return  # extensible bindings allow text alone when no code fits
        self.report(
            label,
            severity,
            "code-invalid",
            Code.PROFILE_BINDING,
            instance.expression,
            f"{instance.expression} must have a code from ValueSet {valueset} "
            f"({strength} binding), found {_found(instance.value) if offered else 'no code'}",
        )

    def expansion(self, valueset: str) -> frozenset[Concept] | str:
        """The ValueSet's concepts, or why it cannot be expanded."""
        if valueset not in self.expansions:
            try:
                self.expansions[valueset] = expand(valueset, self.registry)
            except UnresolvableValueSet as exc:
                self.expansions[valueset] = str(exc)
        return self.expansions[valueset]

    def reference_target(self, label: str, definition: dict[str, Any], instance: Instance) -> None:
        targets = [
            target
            for type_ in definition.get("type", [])
            if type_.get("code") == "Reference"
            for target in type_.get("targetProfile", [])
        ]
        if not targets or not isinstance(instance.value, dict):
            return
        allowed: set[str] = set()
        for target in targets:
            target_type = self.target_type(label, target, instance)
            if target_type is None:
                return
            allowed.add(target_type)
        actual = self.referenced_type(label, instance)
        if actual is None or actual in allowed or "Resource" in allowed:
            return
        self.report(
            label,
            "error",
            "structure",
            Code.PROFILE_TYPE,
            instance.expression,
            f"{instance.expression} must refer to {' or '.join(sorted(allowed))}, "
            f"found a reference to {actual}",
        )

    def target_type(self, label: str, canonical: str, instance: Instance) -> str | None:
        url = canonical.partition("|")[0]
        if url.startswith(_HL7_STRUCTURE_DEFINITION):
            return url.removeprefix(_HL7_STRUCTURE_DEFINITION)
        profile = self.resolve(canonical, instance.expression, "the target profile", label)
        target = profile.get("type") if profile is not None else None
        return target if isinstance(target, str) else None

    def referenced_type(self, label: str, instance: Instance) -> str | None:
        """The resource type a Reference points at; None when it cannot be known locally."""
        reference = instance.value.get("reference")
        if not isinstance(reference, str):
            declared_type = instance.value.get("type")
            if isinstance(declared_type, str):
                return declared_type.rsplit("/", 1)[-1]
            return None  # a logical reference (identifier only) has no type to check
        if reference.startswith("urn:"):
            return None  # urn:uuid / urn:oid within a Bundle: resolved by the bundle engine
        if reference.startswith("#"):
            if reference == "#":
                return str(self.resource.get("resourceType"))
            for contained in self.resource.get("contained", []):
                if isinstance(contained, dict) and contained.get("id") == reference[1:]:
                    return str(contained.get("resourceType"))
            problem = f"{reference} names no contained resource"
        else:
            match = _CONDITIONAL_REFERENCE.fullmatch(reference) or _LITERAL_REFERENCE.search(
                reference
            )
            if match is not None:
                return match["type"]
            problem = f"the type of the resource {reference!r} refers to cannot be told"
        self.report(
            label,
            "error",
            "structure",
            Code.PROFILE_TYPE,
            f"{instance.expression}.reference",
            f"{instance.expression}.reference: {problem}",
        )
        return None

    def type_profiles(self, label: str, definition: dict[str, Any], instance: Instance) -> None:
        canonicals = [
            canonical
            for type_ in definition.get("type", [])
            for canonical in type_.get("profile", [])
        ]
        outcomes: list[list[Issue]] = []
        for canonical in canonicals:
            profile = self.resolve(canonical, instance.expression, "the type profile", label)
            if profile is None:
                continue
            trial = _Validation(self.resource, self.registry, [], self.expansions, self.active)
            trial.against(profile, instance)
            outcomes.append(trial.issues)
        if outcomes:
            # Listing several profiles means the occurrence must conform to one of them.
            passing = [o for o in outcomes if not has_errors(o)]
            self.issues.extend(passing[0] if passing else outcomes[0])

    def holds(self, expression: str, instance: Instance) -> bool:
        """Whether the constraint holds on the instance: compiled when it can be, else
        fhirpathpy (see :mod:`adapter.validation.fastpath`)."""
        program = compile_fast(expression)
        info = type_path_info(instance.type_path)
        if program is not None and info is not None and instance.primitive_extension is None:
            env = {"resource": self.resource, "rootResource": self.resource}
            try:
                return program(instance.value, info, env) is not False
            except Unsure:
                pass
        return is_true(evaluate(fhirpath_node(instance), expression, self.resource))

    def constraints(self, label: str, definition: dict[str, Any], instance: Instance) -> None:
        for constraint in definition.get("constraint", []):
            key = constraint.get("key", "without key")
            expression = constraint.get("expression")
            if not isinstance(expression, str):
                self.report(
                    label,
                    "error",
                    "not-supported",
                    Code.PROFILE_UNSUPPORTED,
                    instance.expression,
                    f"{instance.expression}: constraint {key} has no FHIRPath expression",
                )
                continue
            verdict = CONSTRAINT_VERDICTS.key(
                expression, instance.type_path, instance.value, instance.primitive_extension
            )
            held = CONSTRAINT_VERDICTS.get(verdict)
            try:
                if held is None:
                    held = self.holds(expression, instance)
                    CONSTRAINT_VERDICTS.put(verdict, held)
            except Exception as exc:  # fhirpathpy raises many kinds; each is a failed check
                self.report(
                    label,
                    "error",
                    "exception",
                    Code.PROFILE_INVARIANT,
                    instance.expression,
                    f"{instance.expression}: constraint {key} could not be evaluated ({exc})",
                )
                continue
            if not held:
                self.report(
                    label,
                    "warning" if constraint.get("severity") == "warning" else "error",
                    "invariant",
                    Code.PROFILE_INVARIANT,
                    instance.expression,
                    f"{instance.expression} violates {key}: {constraint.get('human', expression)}",
                )
