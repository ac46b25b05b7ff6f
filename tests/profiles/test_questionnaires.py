"""forlop's own terminology and questionnaires in ``profiles/``, checked as data.

Covers the CodeSystems, ValueSets and Questionnaires agreed in the helpers' ids brief (PSFS and
the four PaTH checklists of DOMAIN.md), against FHIR R4 Questionnaire rules (que-1, que-4, que-6,
que-12, enableWhen answer types from the questionnaire-enable-operator definitions), the translation
extension (http://hl7.org/fhir/StructureDefinition/translation) and the SDC extensions we use.

Each check is a function that returns the problems it finds as ``"<FHIRPath>: message"``. The tests
run every check on the shipped files, expecting none, and on deliberately broken copies, expecting
the break to be reported, so that no check can pass vacuously when clinicians edit the files.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.fhir.json_codec import parse_json
from adapter.fhir.models import is_resource_type, model_class
from adapter.registry import Registry

Resource = dict[str, Any]
Item = dict[str, Any]

PROFILES = Path(__file__).resolve().parents[2] / "profiles"
README = PROFILES / "README.md"
OURS = "http://forlop.no/fhir/"
BASE_HL7 = ("http://hl7.org/", "http://terminology.hl7.org/")
TRANSLATION = "http://hl7.org/fhir/StructureDefinition/translation"
SDC = "http://hl7.org/fhir/StructureDefinition/"
CS_PSFS = OURS + "CodeSystem/psfs"
CS_DIRECTION = OURS + "CodeSystem/psfs-direction"
CS_TRANSITION = OURS + "CodeSystem/care-transition"
CS_PATH = OURS + "CodeSystem/path-answer"

# The agreed identifiers (/work/brief/ids.md): resource ids and exactly their codes or members.
AGREED_CODES: dict[str, set[str]] = {
    "psfs": {"activity-score", "mean-score", "original-score", "direction", "psfs-activity"},
    "psfs-direction": {"ability", "difficulty"},
    "care-transition": {"transition-plan"},
    "path-answer": {"yes", "no", "not-needed", "partly", "not-relevant"},
}
AGREED_MEMBERS: dict[str, set[tuple[str, str]]] = {
    "psfs-score-codes": {(CS_PSFS, "activity-score"), (CS_PSFS, "mean-score")},
    "psfs-direction": {(CS_DIRECTION, "ability"), (CS_DIRECTION, "difficulty")},
    "path-yes-no-not-needed": {(CS_PATH, "yes"), (CS_PATH, "no"), (CS_PATH, "not-needed")},
    "path-yes-partly-no": {(CS_PATH, "yes"), (CS_PATH, "partly"), (CS_PATH, "no")},
    "path-yes-no": {(CS_PATH, "yes"), (CS_PATH, "no")},
}
PATH_QUESTIONNAIRES = (
    "path-discharge-call",
    "path-home-nurse-assessment",
    "path-gp-consultation",
    "path-extended-assessment",
)
# PSFS items from ids.md: linkId -> (type, required, repeats, parent linkId).
PSFS_ITEMS: dict[str, tuple[str, bool, bool, str | None]] = {
    "direction": ("choice", True, False, None),
    "activity": ("group", True, True, None),
    "activity.key": ("string", False, False, "activity"),
    "activity.text": ("string", True, False, "activity"),
    "activity.score": ("integer", True, False, "activity"),
    "activity.target": ("integer", False, False, "activity"),
}

ITEM_TYPES = frozenset(
    {
        "group", "display", "boolean", "decimal", "integer", "date", "dateTime", "time",
        "string", "text", "url", "choice", "open-choice", "attachment", "reference", "quantity",
    }
)  # fmt: skip
CHOICE_TYPES = frozenset({"choice", "open-choice"})
# Item type -> the enableWhen.answer[x] that can match its answers (R4 Questionnaire.item.type).
ANSWER_KEY = {
    "boolean": "answerBoolean",
    "decimal": "answerDecimal",
    "integer": "answerInteger",
    "date": "answerDate",
    "dateTime": "answerDateTime",
    "time": "answerTime",
    "string": "answerString",
    "text": "answerString",
    "choice": "answerCoding",
    "open-choice": "answerCoding",
    "quantity": "answerQuantity",
    "reference": "answerReference",
}
ORDERED_TYPES = frozenset({"decimal", "integer", "date", "dateTime", "time", "quantity"})
OPERATORS = frozenset({"exists", "=", "!=", ">", "<", ">=", "<="})
LINK_ID = re.compile(r"[a-z0-9]+(?:[.-][a-z0-9]+)*")
NAME = re.compile(r"[A-Z][A-Za-z0-9_]{0,254}")  # que-0 / cnl-0
SEMVER = re.compile(r"\d+\.\d+\.\d+")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return _is_int(value) or isinstance(value, float | Decimal)


ANSWER_KIND: dict[str, Callable[[Any], bool]] = {
    "answerBoolean": lambda v: isinstance(v, bool),
    "answerDecimal": _is_number,
    "answerInteger": _is_int,
    "answerDate": lambda v: isinstance(v, str),
    "answerDateTime": lambda v: isinstance(v, str),
    "answerTime": lambda v: isinstance(v, str),
    "answerString": lambda v: isinstance(v, str),
    "answerCoding": lambda v: isinstance(v, dict),
    "answerQuantity": lambda v: isinstance(v, dict),
    "answerReference": lambda v: isinstance(v, dict),
}


# ------------------------------------------------------------------------------ loading


def _load(path: Path) -> Resource:
    return parse_json(path.read_bytes())


def _own_files() -> list[Path]:
    """Our CodeSystem/ValueSet/Questionnaire files; base HL7 copies belong to other helpers."""
    found = []
    for pattern in ("CodeSystem-*.json", "ValueSet-*.json", "Questionnaire-*.json"):
        for path in sorted(PROFILES.glob(pattern)):
            if not str(_load(path).get("url", "")).startswith(BASE_HL7):
                found.append(path)
    return found


OWN_FILES = _own_files()
OWN: dict[str, Resource] = {p.name: _load(p) for p in OWN_FILES}


def _own(resource_type: str) -> list[str]:
    return [name for name, res in OWN.items() if res.get("resourceType") == resource_type]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.load(PROFILES)


# ------------------------------------------------------------------------------ helpers


def walk(items: list[Item], path: str = "Questionnaire") -> Iterator[tuple[str, Item]]:
    """(FHIRPath, item) for every item, in document order (parents before children)."""
    for index, item in enumerate(items):
        here = f"{path}.item[{index}]"
        yield here, item
        yield from walk(item.get("item", []), here)


def english(companion: Any) -> str | None:
    """The English translation carried by a primitive's ``_x`` companion, if any."""
    if not isinstance(companion, dict):
        return None
    for ext in companion.get("extension", []):
        if ext.get("url") != TRANSLATION:
            continue
        parts = {part.get("url"): part for part in ext.get("extension", [])}
        if parts.get("lang", {}).get("valueCode") != "en":
            continue
        content = parts.get("content", {}).get("valueString")
        if isinstance(content, str) and content.strip():
            return content
    return None


def concept_list(code_system: Resource) -> list[Resource]:
    """Every concept, through nested concepts."""
    out: list[Resource] = []
    stack = list(code_system.get("concept", []))
    while stack:
        concept = stack.pop()
        out.append(concept)
        stack.extend(concept.get("concept", []))
    return out


def concepts(code_system: Resource) -> dict[str, Resource]:
    """code -> concept."""
    return {str(concept.get("code")): concept for concept in concept_list(code_system)}


def designation_en(concept: Resource) -> str | None:
    for designation in concept.get("designation", []):
        if designation.get("language") == "en" and designation.get("value"):
            return str(designation["value"])
    return None


def code_system(registry: Registry, system: Any) -> Resource | None:
    found = registry.get(system) if isinstance(system, str) else None
    return found if found is not None and found.get("resourceType") == "CodeSystem" else None


def value_set_codes(
    registry: Registry, value_set: Resource, where: str
) -> tuple[set[tuple[str, str]], list[str]]:
    """(system, code) members of a ValueSet by its compose.include, and what could not be read."""
    codes: set[tuple[str, str]] = set()
    problems: list[str] = []
    compose = value_set.get("compose", {})
    if compose.get("exclude"):
        problems.append(f"{where}: compose.exclude is not expected in our ValueSets")
    for index, include in enumerate(compose.get("include", [])):
        here = f"{where}.compose.include[{index}]"
        system = include.get("system")
        cs = code_system(registry, system)
        if cs is None:
            problems.append(f"{here}: system {system!r} is not a CodeSystem in the registry")
            continue
        if include.get("filter") or include.get("valueSet"):
            problems.append(f"{here}: only plain system/concept includes are expected")
        known = concepts(cs)
        listed = [c.get("code") for c in include.get("concept", [])] or list(known)
        for code in listed:
            if code in known:
                codes.add((system, code))
            else:
                problems.append(f"{here}: code {code!r} is not in {system}")
    if not codes and not problems:
        problems.append(f"{where}: the ValueSet has no members")
    return codes, problems


def answer_codes(registry: Registry, item: Item) -> set[tuple[str, str]]:
    """The (system, code) pairs a choice item offers, from answerOption or answerValueSet."""
    codes = {
        (opt["valueCoding"].get("system"), opt["valueCoding"].get("code"))
        for opt in item.get("answerOption", [])
        if "valueCoding" in opt
    }
    value_set = registry.get(str(item.get("answerValueSet", "")))
    if value_set is not None:
        codes |= value_set_codes(registry, value_set, "")[0]
    return codes


def _extension_value(element: Resource, url: str) -> Any:
    for ext in element.get("extension", []):
        if ext.get("url") == url:
            return next((v for k, v in ext.items() if k.startswith("value")), None)
    return None


# ------------------------------------------------------------------------------ checks


def metadata_problems(resource: Resource, file_name: str) -> list[str]:
    rtype, rid = resource.get("resourceType"), resource.get("id")
    where = str(rtype)
    problems = []
    if file_name != f"{rtype}-{rid}.json":
        problems.append(f"{where}: file {file_name} should be named {rtype}-{rid}.json")
    if resource.get("url") != f"{OURS}{rtype}/{rid}":
        problems.append(f"{where}.url: {resource.get('url')!r} is not {OURS}{rtype}/{rid}")
    if not SEMVER.fullmatch(str(resource.get("version", ""))):
        problems.append(f"{where}.version: {resource.get('version')!r} is not a x.y.z version")
    if resource.get("status") != "active":
        problems.append(f"{where}.status: must be active")
    if resource.get("publisher") != "forlop":
        problems.append(f"{where}.publisher: must be forlop")
    if not NAME.fullmatch(str(resource.get("name", ""))):
        problems.append(f"{where}.name: {resource.get('name')!r} is not a computable name")
    if not isinstance(resource.get("date"), str):
        problems.append(f"{where}.date: missing")
    for element in ("title", "description"):
        if not isinstance(resource.get(element), str) or not resource[element].strip():
            problems.append(f"{where}.{element}: missing")
        elif english(resource.get(f"_{element}")) is None:
            problems.append(f"{where}.{element}: no English translation")
    return problems


def structure_problems(questionnaire: Resource) -> list[str]:
    problems = []
    items = list(walk(questionnaire.get("item", [])))
    counts = Counter(item.get("linkId") for _, item in items)
    for path, item in items:
        link_id, kind, text = item.get("linkId"), item.get("type"), item.get("text")
        if not isinstance(link_id, str) or not LINK_ID.fullmatch(link_id):
            problems.append(f"{path}.linkId: {link_id!r} is not a short kebab-case name")
        elif counts[link_id] > 1:
            problems.append(f"{path}.linkId: {link_id!r} is used {counts[link_id]} times")
        if kind not in ITEM_TYPES:
            problems.append(f"{path}.type: {kind!r} is not an R4 item type")
        if not isinstance(text, str) or not text.strip():
            problems.append(f"{path}.text: every item needs text")
        for flag in ("required", "repeats"):
            if flag in item and not isinstance(item[flag], bool):
                problems.append(f"{path}.{flag}: {item[flag]!r} is not a boolean")
        if kind == "display":
            for element in ("required", "repeats", "item", "code", "initial"):
                if element in item:
                    problems.append(f"{path}.{element}: not allowed on a display item")
        elif "required" not in item:
            problems.append(f"{path}.required: state it explicitly (true or false)")
        if kind == "group" and not item.get("item"):
            problems.append(f"{path}: a group needs items (que-1)")
        has_options = "answerOption" in item or "answerValueSet" in item
        if has_options and kind not in CHOICE_TYPES:
            problems.append(f"{path}: answer options on a {kind} item")
        if kind in CHOICE_TYPES and not has_options:
            problems.append(f"{path}: a {kind} item needs answerOption or answerValueSet")
        if "answerOption" in item and "answerValueSet" in item:
            problems.append(f"{path}: answerOption and answerValueSet together (que-4)")
    return problems


def translation_problems(questionnaire: Resource) -> list[str]:
    problems = []
    for path, item in walk(questionnaire.get("item", [])):
        if "text" in item and english(item.get("_text")) is None:
            problems.append(f"{path}.text: no English translation")
        for index, option in enumerate(item.get("answerOption", [])):
            here = f"{path}.answerOption[{index}]"
            coding = option.get("valueCoding")
            if isinstance(coding, dict):
                if not coding.get("display"):
                    problems.append(f"{here}.valueCoding.display: missing")
                elif english(coding.get("_display")) is None:
                    problems.append(f"{here}.valueCoding.display: no English translation")
            elif "valueString" in option and english(option.get("_valueString")) is None:
                problems.append(f"{here}.valueString: no English translation")
    return problems


def answer_problems(registry: Registry, questionnaire: Resource) -> list[str]:
    problems = []
    for path, item in walk(questionnaire.get("item", [])):
        for index, option in enumerate(item.get("answerOption", [])):
            here = f"{path}.answerOption[{index}].valueCoding"
            coding = option.get("valueCoding")
            if not isinstance(coding, dict):
                continue
            system, code = coding.get("system"), coding.get("code")
            cs = code_system(registry, system)
            if cs is None:
                problems.append(f"{here}.system: {system!r} is not a CodeSystem in the registry")
                continue
            concept = concepts(cs).get(str(code))
            if concept is None:
                problems.append(f"{here}.code: {code!r} is not in {system}")
                continue
            if coding.get("display") != concept.get("display"):
                problems.append(f"{here}.display: differs from the CodeSystem's display")
            if english(coding.get("_display")) != designation_en(concept):
                problems.append(f"{here}.display: English differs from the CodeSystem's")
        if "answerValueSet" in item:
            url = item["answerValueSet"]
            value_set = registry.get(str(url))
            if value_set is None or value_set.get("resourceType") != "ValueSet":
                problems.append(f"{path}.answerValueSet: {url!r} is not a ValueSet in the registry")
            else:
                problems += value_set_codes(registry, value_set, f"{path}.answerValueSet")[1]
    return problems


def enable_when_problems(registry: Registry, questionnaire: Resource) -> list[str]:
    problems = []
    items = list(walk(questionnaire.get("item", [])))
    position = {item.get("linkId"): index for index, (_, item) in enumerate(items)}
    for index, (path, item) in enumerate(items):
        conditions = item.get("enableWhen", [])
        if len(conditions) > 1 and item.get("enableBehavior") not in ("all", "any"):
            problems.append(f"{path}.enableBehavior: needed with several enableWhen (que-12)")
        for number, condition in enumerate(conditions):
            here = f"{path}.enableWhen[{number}]"
            question = condition.get("question")
            if question not in position:
                problems.append(f"{here}.question: {question!r} names no item")
                continue
            if position[question] >= index:
                problems.append(f"{here}.question: {question!r} does not come before this item")
            target = items[position[question]][1]
            kind, operator = target.get("type"), condition.get("operator")
            if operator not in OPERATORS:
                problems.append(f"{here}.operator: {operator!r} is not an enableWhen operator")
            keys = [key for key in condition if key.startswith("answer")]
            if len(keys) != 1:
                problems.append(f"{here}: needs exactly one answer[x], has {keys}")
                continue
            key = keys[0]
            expected = "answerBoolean" if operator == "exists" else ANSWER_KEY.get(str(kind))
            if expected is None:
                problems.append(f"{here}.question: a {kind} item has no answers to compare")
                continue
            if key != expected:
                problems.append(f"{here}.{key}: a {kind} item is compared with {expected}")
                continue
            value = condition[key]
            if not ANSWER_KIND[key](value):
                problems.append(f"{here}.{key}: {value!r} has the wrong JSON type")
            elif key == "answerCoding":
                pair = (value.get("system"), value.get("code"))
                if pair not in answer_codes(registry, target):
                    problems.append(f"{here}.answerCoding: {pair} is not an answer of {question}")
            if operator in (">", "<", ">=", "<=") and kind not in ORDERED_TYPES:
                problems.append(f"{here}.operator: {operator} on an unordered {kind} item")
    return problems


_BOUND_KEY = {"integer": "valueInteger", "decimal": "valueDecimal", "date": "valueDate"}


def extension_problems(questionnaire: Resource) -> list[str]:
    """The item extensions we use, each with its value type and the item types it fits."""
    problems = []
    for path, item in walk(questionnaire.get("item", [])):
        kind = item.get("type")
        bounds: dict[str, Any] = {}
        for index, ext in enumerate(item.get("extension", [])):
            here = f"{path}.extension[{index}]"
            url = str(ext.get("url", ""))
            name = url.removeprefix(SDC)
            values = {k: v for k, v in ext.items() if k.startswith("value")}
            if len(values) != 1:
                problems.append(f"{here}: needs exactly one value[x]")
                continue
            ((key, value),) = values.items()
            if name in ("minValue", "maxValue"):
                fits = kind in _BOUND_KEY and key == _BOUND_KEY[kind]
            elif name in ("questionnaire-minOccurs", "questionnaire-maxOccurs"):
                fits = item.get("repeats") is True and _is_int(value) and value >= 0
            elif name == "questionnaire-hidden":
                fits = kind != "display" and isinstance(value, bool)
            elif name == "questionnaire-unit":
                fits = kind in ("integer", "decimal") and key == "valueCoding"
            elif name == "questionnaire-referenceResource":
                fits = kind == "reference" and isinstance(value, str) and is_resource_type(value)
            else:
                problems.append(f"{here}.url: {url!r} is not an item extension we use")
                continue
            if not fits:
                problems.append(f"{here}: {name} with {key} does not fit a {kind} item")
            else:
                bounds[name] = value
        for low, high in (
            ("minValue", "maxValue"),
            ("questionnaire-minOccurs", "questionnaire-maxOccurs"),
        ):
            if low in bounds and high in bounds and not bounds[low] <= bounds[high]:
                problems.append(f"{path}.extension: {low} {bounds[low]} > {high} {bounds[high]}")
    return problems


def code_system_problems(code_system: Resource) -> list[str]:
    problems = []
    codes = Counter(concept.get("code") for concept in concept_list(code_system))
    problems += [
        f"CodeSystem.concept: code {c!r} is used {n} times" for c, n in codes.items() if n > 1
    ]
    if code_system.get("content") != "complete":
        problems.append("CodeSystem.content: must be complete")
    if code_system.get("caseSensitive") is not True:
        problems.append("CodeSystem.caseSensitive: must be true")
    total = sum(codes.values())
    if code_system.get("count") != total:
        problems.append(f"CodeSystem.count: {code_system.get('count')!r}, has {total} concepts")
    for code, concept in concepts(code_system).items():
        where = f"CodeSystem.concept.where(code = '{code}')"
        if not concept.get("display"):
            problems.append(f"{where}.display: missing")
        if designation_en(concept) is None:
            problems.append(f"{where}.designation: no English designation")
        if not concept.get("definition"):
            problems.append(f"{where}.definition: missing")
        elif english(concept.get("_definition")) is None:
            problems.append(f"{where}.definition: no English translation")
    return problems


# ------------------------------------------------------------------------------ the shipped files


def test_the_agreed_resources_exist(registry: Registry) -> None:
    wanted = [("CodeSystem", rid) for rid in AGREED_CODES]
    wanted += [("ValueSet", rid) for rid in AGREED_MEMBERS]
    wanted += [("Questionnaire", rid) for rid in ("psfs", *PATH_QUESTIONNAIRES)]
    missing = [f"{rtype}/{rid}" for rtype, rid in wanted if registry.read(rtype, rid) is None]
    assert missing == []
    own = {(res["resourceType"], res["id"]) for res in OWN.values()}
    assert set(wanted) <= own


@pytest.mark.parametrize("file_name", list(OWN))
def test_each_file_is_the_one_the_registry_holds(registry: Registry, file_name: str) -> None:
    resource = OWN[file_name]
    assert registry.get(f"{resource.get('url')}|{resource.get('version')}") == resource


@pytest.mark.parametrize("file_name", list(OWN))
def test_each_file_is_a_valid_r4_model(file_name: str) -> None:
    resource = OWN[file_name]
    model = model_class(resource["resourceType"]).model_validate(resource)
    assert model.get_resource_type() == resource["resourceType"]


@pytest.mark.parametrize("file_name", list(OWN))
def test_each_file_has_our_canonical_metadata(file_name: str) -> None:
    assert metadata_problems(OWN[file_name], file_name) == []


def test_canonicals_are_unique() -> None:
    urls = Counter(res.get("url") for res in OWN.values())
    assert [url for url, count in urls.items() if count > 1] == []


@pytest.mark.parametrize("file_name", _own("CodeSystem"))
def test_code_system_concepts(file_name: str) -> None:
    code_system = OWN[file_name]
    assert code_system_problems(code_system) == []
    codes = set(concepts(code_system))
    assert codes == AGREED_CODES.get(code_system["id"], codes)


@pytest.mark.parametrize("file_name", _own("ValueSet"))
def test_value_set_members(registry: Registry, file_name: str) -> None:
    value_set = OWN[file_name]
    codes, problems = value_set_codes(registry, value_set, "ValueSet")
    assert problems == []
    assert codes == AGREED_MEMBERS.get(value_set["id"], codes)


@pytest.mark.parametrize("file_name", _own("Questionnaire"))
def test_questionnaire_structure(file_name: str) -> None:
    questionnaire = OWN[file_name]
    assert questionnaire.get("subjectType") == ["Patient"]
    assert structure_problems(questionnaire) == []


@pytest.mark.parametrize("file_name", _own("Questionnaire"))
def test_questionnaire_translations(file_name: str) -> None:
    assert translation_problems(OWN[file_name]) == []


@pytest.mark.parametrize("file_name", _own("Questionnaire"))
def test_questionnaire_answers_resolve(registry: Registry, file_name: str) -> None:
    assert answer_problems(registry, OWN[file_name]) == []


@pytest.mark.parametrize("file_name", _own("Questionnaire"))
def test_questionnaire_enable_when(registry: Registry, file_name: str) -> None:
    assert enable_when_problems(registry, OWN[file_name]) == []


@pytest.mark.parametrize("file_name", _own("Questionnaire"))
def test_questionnaire_extensions(file_name: str) -> None:
    assert extension_problems(OWN[file_name]) == []


@pytest.mark.parametrize("rid", PATH_QUESTIONNAIRES)
def test_path_checklists_have_required_questions(rid: str) -> None:
    items = [item for _, item in walk(OWN[f"Questionnaire-{rid}.json"]["item"])]
    assert any(i["type"] not in ("group", "display") and i.get("required") for i in items)
    assert any(i["type"] == "group" for i in items)


def test_psfs_has_exactly_the_agreed_items() -> None:
    psfs = OWN["Questionnaire-psfs.json"]
    found: dict[str, tuple[str, bool, bool, str | None]] = {}

    def collect(items: list[Item], parent: str | None) -> None:
        for item in items:
            if item["type"] != "display":
                found[item["linkId"]] = (
                    item["type"],
                    item.get("required", False),
                    item.get("repeats", False),
                    parent,
                )
            collect(item.get("item", []), item["linkId"])

    collect(psfs["item"], None)
    assert found == PSFS_ITEMS


def test_psfs_item_details() -> None:
    items = {item["linkId"]: item for _, item in walk(OWN["Questionnaire-psfs.json"]["item"])}
    assert _extension_value(items["activity"], SDC + "questionnaire-minOccurs") == 1
    assert _extension_value(items["activity"], SDC + "questionnaire-maxOccurs") == 5
    assert _extension_value(items["activity.key"], SDC + "questionnaire-hidden") is True
    for link_id in ("activity.score", "activity.target"):
        assert _extension_value(items[link_id], SDC + "minValue") == 0
        assert _extension_value(items[link_id], SDC + "maxValue") == 10
    options = {
        (o["valueCoding"]["system"], o["valueCoding"]["code"])
        for o in items["direction"]["answerOption"]
    }
    assert options == AGREED_MEMBERS["psfs-direction"]


def test_psfs_explains_the_scale_for_each_direction() -> None:
    """Each direction opens a display item with both anchors; an introduction comes first."""
    top = OWN["Questionnaire-psfs.json"]["item"]
    assert top[0]["type"] == "display"
    for system, code in AGREED_MEMBERS["psfs-direction"]:
        anchors = [
            item["text"]
            for item in top
            if item["type"] == "display"
            and any(
                w.get("question") == "direction"
                and w.get("answerCoding", {}).get("code") == code
                and w.get("answerCoding", {}).get("system") == system
                for w in item.get("enableWhen", [])
            )
        ]
        assert len(anchors) == 1, code
        assert "0 =" in anchors[0] and "10 =" in anchors[0]


def test_readme_lists_every_resource_and_path_item() -> None:
    readme = README.read_text(encoding="utf-8")
    for name, resource in OWN.items():
        assert f"`{name}`" in readme, name
        assert f"`{resource['url']}`" in readme, name
    for rid in PATH_QUESTIONNAIRES:
        for _, item in walk(OWN[f"Questionnaire-{rid}.json"]["item"]):
            assert f"| `{item['linkId']}` |" in readme, (rid, item["linkId"])


# ------------------------------------------------------------------------------ the checks can fail

QUESTIONNAIRES = _own("Questionnaire")


def _sites(predicate: Callable[[Item], bool]) -> list[tuple[str, int]]:
    """(file, document-order index) of every item in our Questionnaires matching ``predicate``."""
    return [
        (name, index)
        for name in QUESTIONNAIRES
        for index, (_, item) in enumerate(walk(OWN[name]["item"]))
        if predicate(item)
    ]


def _mutable(site: tuple[str, int]) -> tuple[Resource, Item]:
    """A deep copy of the Questionnaire and the item at ``site`` inside that copy."""
    name, index = site
    questionnaire = copy.deepcopy(OWN[name])
    return questionnaire, list(walk(questionnaire["item"]))[index][1]


def _all_reported(
    sites: list[tuple[str, int]],
    mutate: Callable[[Item], None],
    check: Callable[[Resource], list[str]],
) -> list[tuple[str, int]]:
    """The sites whose mutation ``check`` did NOT report (should be none)."""
    assert sites, "nothing to mutate: the check would pass vacuously"
    missed = []
    for site in sites:
        questionnaire, item = _mutable(site)
        mutate(item)
        if not check(questionnaire):
            missed.append(site)
    return missed


def test_missing_item_translation_is_reported() -> None:
    sites = _sites(lambda item: "_text" in item)
    assert _all_reported(sites, lambda item: item.pop("_text"), translation_problems) == []


def test_missing_option_translation_is_reported() -> None:
    def drop(item: Item) -> None:
        item["answerOption"][-1]["valueCoding"].pop("_display")

    sites = _sites(lambda item: bool(item.get("answerOption")))
    assert _all_reported(sites, drop, translation_problems) == []


def test_duplicate_link_id_is_reported() -> None:
    sites = _sites(lambda item: True)
    for site in sites:
        questionnaire, item = _mutable(site)
        link_ids = [other["linkId"] for _, other in walk(questionnaire["item"])]
        item["linkId"] = next(link_id for link_id in link_ids if link_id != item["linkId"])
        assert structure_problems(questionnaire), site


def test_non_boolean_flags_are_reported() -> None:
    def stringify(item: Item) -> None:
        item["required"] = "true"

    sites = _sites(lambda item: item["type"] != "display")
    assert _all_reported(sites, stringify, structure_problems) == []


def test_empty_group_is_reported() -> None:
    sites = _sites(lambda item: item["type"] == "group")
    assert _all_reported(sites, lambda item: item.update(item=[]), structure_problems) == []


def test_unknown_option_code_or_system_is_reported(registry: Registry) -> None:
    def check(questionnaire: Resource) -> list[str]:
        return answer_problems(registry, questionnaire)

    def bad_code(item: Item) -> None:
        item["answerOption"][0]["valueCoding"]["code"] = "no-such-code"

    def bad_system(item: Item) -> None:
        item["answerOption"][0]["valueCoding"]["system"] = OURS + "CodeSystem/no-such-system"

    sites = _sites(lambda item: bool(item.get("answerOption")))
    assert _all_reported(sites, bad_code, check) == []
    assert _all_reported(sites, bad_system, check) == []


def test_answer_value_set_resolves_or_is_reported(registry: Registry) -> None:
    """Swapping answerOption for the ValueSet with the same codes keeps every check clean."""
    by_codes = {
        frozenset(value_set_codes(registry, vs, "")[0]): vs["url"]
        for vs in registry.of_type("ValueSet")
        if str(vs.get("url", "")).startswith(OURS)
    }

    def options(item: Item) -> frozenset[tuple[str, str]]:
        return frozenset(
            (o["valueCoding"]["system"], o["valueCoding"]["code"])
            for o in item.get("answerOption", [])
        )

    sites = _sites(lambda item: options(item) in by_codes)
    assert sites
    for site in sites:
        questionnaire, item = _mutable(site)
        item["answerValueSet"] = by_codes[options(item)]
        del item["answerOption"]
        assert answer_problems(registry, questionnaire) == [], site
        assert enable_when_problems(registry, questionnaire) == [], site
        assert structure_problems(questionnaire) == [], site
        item["answerValueSet"] = OURS + "ValueSet/no-such-value-set"
        assert answer_problems(registry, questionnaire), site


ENABLE_WHEN_SITES = [
    (site, number)
    for site in _sites(lambda item: bool(item.get("enableWhen")))
    for number in range(len(list(walk(OWN[site[0]]["item"]))[site[1]][1]["enableWhen"]))
]


def test_enable_when_on_unknown_or_later_item_is_reported(registry: Registry) -> None:
    assert ENABLE_WHEN_SITES
    for site, number in ENABLE_WHEN_SITES:
        for target in ("no-such-item", "self"):
            questionnaire, item = _mutable(site)
            condition = item["enableWhen"][number]
            condition["question"] = item["linkId"] if target == "self" else target
            assert enable_when_problems(registry, questionnaire), (site, target)


def test_enable_when_with_a_code_the_item_does_not_offer_is_reported(registry: Registry) -> None:
    coded = [s for s in ENABLE_WHEN_SITES if "answerCoding" in _condition(s)]
    assert coded
    for site, number in coded:
        questionnaire, item = _mutable(site)
        item["enableWhen"][number]["answerCoding"]["code"] = "not-an-option"
        assert enable_when_problems(registry, questionnaire), site


def test_several_enable_when_without_behavior_are_reported(registry: Registry) -> None:
    sites = _sites(lambda item: len(item.get("enableWhen", [])) > 1)
    missed = _all_reported(
        sites,
        lambda item: item.pop("enableBehavior"),
        lambda q: enable_when_problems(registry, q),
    )
    assert missed == []


def _condition(site_number: tuple[tuple[str, int], int]) -> Resource:
    (name, index), number = site_number
    condition: Resource = list(walk(OWN[name]["item"]))[index][1]["enableWhen"][number]
    return condition


WRONG_ANSWERS: dict[str, Any] = {
    "answerBoolean": True,
    "answerDecimal": Decimal("1.5"),
    "answerInteger": 1,
    "answerDate": "2026-01-01",
    "answerDateTime": "2026-01-01T10:00:00+01:00",
    "answerTime": "10:00:00",
    "answerString": "ja",
    "answerCoding": {"system": CS_PATH, "code": "yes"},
    "answerQuantity": {"value": 1, "unit": "kg"},
    "answerReference": {"reference": "QuestionnaireResponse/1"},
}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    site=st.sampled_from(ENABLE_WHEN_SITES),
    key=st.sampled_from(sorted(WRONG_ANSWERS)),
)
def test_enable_when_answer_of_the_wrong_type_is_reported(
    registry: Registry, site: tuple[tuple[str, int], int], key: str
) -> None:
    (name, index), number = site
    original = _condition(site)
    current = next(k for k in original if k.startswith("answer"))
    if key == current:
        return
    questionnaire, item = _mutable((name, index))
    condition = item["enableWhen"][number]
    del condition[current]
    condition[key] = copy.deepcopy(WRONG_ANSWERS[key])
    assert enable_when_problems(registry, questionnaire)


def test_unknown_or_misplaced_extensions_are_reported() -> None:
    def typo(item: Item) -> None:
        item["extension"][0]["url"] += "x"

    def wrong_value(item: Item) -> None:
        ext = item["extension"][0]
        for key in [k for k in ext if k.startswith("value")]:
            del ext[key]
        ext["valueString"] = "5"

    sites = _sites(lambda item: bool(item.get("extension")))
    assert _all_reported(sites, typo, extension_problems) == []
    assert _all_reported(sites, wrong_value, extension_problems) == []


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.update(url="http://example.org/x"), ".url"),
        (lambda r: r.update(version="1"), ".version"),
        (lambda r: r.update(status="draft"), ".status"),
        (lambda r: r.update(name="lower name"), ".name"),
        (lambda r: r.pop("_title"), ".title"),
        (lambda r: r.pop("_description"), ".description"),
    ],
)
def test_metadata_faults_are_reported(mutate: Callable[[Resource], Any], message: str) -> None:
    for file_name, resource in OWN.items():
        broken = copy.deepcopy(resource)
        mutate(broken)
        assert any(message in p for p in metadata_problems(broken, file_name)), file_name


@pytest.mark.parametrize(
    "mutate",
    [
        lambda cs: cs["concept"][0].pop("designation"),
        lambda cs: cs["concept"][0].pop("_definition"),
        lambda cs: cs["concept"][0].pop("display"),
        lambda cs: cs.update(count=cs["count"] + 1),
        lambda cs: cs.update(content="fragment"),
        # A second concept with the first one's code, counted so that only the duplicate is wrong.
        lambda cs: cs.update(concept=[*cs["concept"], cs["concept"][0]], count=cs["count"] + 1),
    ],
)
def test_code_system_faults_are_reported(mutate: Callable[[Resource], Any]) -> None:
    names = _own("CodeSystem")
    assert names
    for name in names:
        broken = copy.deepcopy(OWN[name])
        mutate(broken)
        assert code_system_problems(broken), name


def test_value_set_faults_are_reported(registry: Registry) -> None:
    names = _own("ValueSet")
    assert names
    for name in names:
        broken = copy.deepcopy(OWN[name])
        include = broken["compose"]["include"][0]
        include["concept"] = [{"code": "no-such-code"}]
        assert value_set_codes(registry, broken, "ValueSet")[1], name
        include["system"] = OURS + "CodeSystem/no-such-system"
        assert value_set_codes(registry, broken, "ValueSet")[1], name
