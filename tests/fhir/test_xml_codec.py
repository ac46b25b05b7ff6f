"""FHIR XML <-> JSON (FHIR R4 §2.6.3): exact round trips, a golden Observation, hostile input."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from adapter.fhir import xml_codec
from adapter.fhir.errors import Code, FhirError
from adapter.fhir.json_codec import dump_json, parse_json
from adapter.fhir.models import model_class
from adapter.fhir.xml_codec import FHIR_NS, XHTML_NS, dump_xml, hardened_parser, parse_xml
from tests.strategies import RESOURCE_STRATEGIES, bundles, resources

# Generation dominates the run time (about 10 ms a resource, 25 ms a Bundle on an idle core).
EACH_TYPE = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROUND_TRIP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def exact(value: Any, *, number_kinds: bool = True) -> Any:
    """The value with every number replaced by its kind and exact text: 1.50 != 1.5 != 1.

    With ``number_kinds=False`` an int and a Decimal with the same text compare equal: JSON ``0``
    in a decimal element parses to int (json_codec does not know element types), XML to Decimal.
    """
    if isinstance(value, dict):
        return {key: exact(item, number_kinds=number_kinds) for key, item in value.items()}
    if isinstance(value, list):
        return [exact(item, number_kinds=number_kinds) for item in value]
    if isinstance(value, bool):
        return ("boolean", value)
    if isinstance(value, Decimal | int):
        kind = type(value).__name__ if number_kinds else "number"
        return (kind, str(value))
    return value


def refusal(body: bytes | str, **limits: int) -> FhirError:
    with pytest.raises(FhirError) as caught:
        parse_xml(body, **limits)
    return caught.value


def only_issue(error: FhirError) -> tuple[int, Code | None, str, tuple[str, ...]]:
    assert len(error.issues) == 1
    issue = error.issues[0]
    return error.status, issue.forlop_code, issue.code, issue.expression


# --- properties --------------------------------------------------------------------------------


@pytest.mark.parametrize("resource_type", sorted(RESOURCE_STRATEGIES))
@EACH_TYPE
@given(data=st.data())
def test_json_to_xml_to_json_is_the_identity(resource_type: str, data: st.DataObject) -> None:
    resource = data.draw(resources(resource_type))
    assert exact(parse_xml(dump_xml(resource))) == exact(resource)


@FEW
@given(bundles())
def test_transaction_bundles_survive_the_round_trip(bundle: dict[str, Any]) -> None:
    assert exact(parse_xml(dump_xml(bundle, pretty=True))) == exact(bundle)


@ROUND_TRIP
@given(resources())
def test_xml_to_json_to_xml_is_stable(resource: dict[str, Any]) -> None:
    xml = dump_xml(resource)
    assert dump_xml(parse_xml(xml)) == xml
    # Indentation is whitespace between FHIR elements only: the narrative keeps its text.
    assert exact(parse_xml(dump_xml(resource, pretty=True))) == exact(parse_xml(xml))


@FEW
@given(resources())
def test_xml_agrees_with_the_json_codec(resource: dict[str, Any]) -> None:
    via_json = parse_json(dump_json(resource))
    assert exact(parse_xml(dump_xml(via_json)), number_kinds=False) == exact(
        via_json, number_kinds=False
    )


@FEW
@given(resources())
def test_generated_resources_are_valid_r4_structures(resource: dict[str, Any]) -> None:
    # The round-trip properties mean something only if the strategies make real FHIR.
    model_class(resource["resourceType"]).model_validate(resource)


# --- golden example ----------------------------------------------------------------------------

GOLDEN_XML = """<?xml version="1.0" encoding="UTF-8"?>
<!-- A PSFS activity score for a synthetic patient -->
<Observation xmlns="http://hl7.org/fhir">
  <id value="psfs-score-1"/>
  <text>
    <status value="generated"/>
    <div xmlns="http://www.w3.org/1999/xhtml"><p>Trapper: <b>4</b> av 10 &amp; "bedre"</p></div>
  </text>
  <contained>
    <Patient>
      <id value="p1"/>
      <name>
        <family value="Ødegård"/>
        <given value="Kari"/>
        <given>
          <extension url="http://hl7.org/fhir/StructureDefinition/data-absent-reason">
            <valueCode value="masked"/>
          </extension>
        </given>
      </name>
    </Patient>
  </contained>
  <status id="st1" value="final"/>
  <code>
    <coding>
      <system value="http://forlop.no/fhir/CodeSystem/psfs"/>
      <code value="activity-score"/>
      <userSelected value="false"/>
    </coding>
  </code>
  <subject>
    <reference value="#p1"/>
  </subject>
  <effectiveDateTime id="eff" value="2026-03-15T10:00:00+01:00">
    <extension url="http://forlop.no/fhir/StructureDefinition/merknad">
      <valueString value="Målt &quot;hjemme&quot; &lt;kveld&gt; &amp; natt"/>
    </extension>
  </effectiveDateTime>
  <valueInteger value="4"/>
  <component id="c1">
    <code>
      <text value="original-score"/>
    </code>
    <valueQuantity>
      <value value="6.50"/>
      <unit value="{score}"/>
    </valueQuantity>
  </component>
</Observation>
"""

GOLDEN_JSON: dict[str, Any] = {
    "resourceType": "Observation",
    "id": "psfs-score-1",
    "text": {
        "status": "generated",
        "div": '<div xmlns="http://www.w3.org/1999/xhtml">'
        '<p>Trapper: <b>4</b> av 10 &amp; "bedre"</p></div>',
    },
    "contained": [
        {
            "resourceType": "Patient",
            "id": "p1",
            "name": [
                {
                    "family": "Ødegård",
                    "given": ["Kari", None],
                    "_given": [
                        None,
                        {
                            "extension": [
                                {
                                    "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                                    "valueCode": "masked",
                                }
                            ]
                        },
                    ],
                }
            ],
        }
    ],
    "status": "final",
    "_status": {"id": "st1"},
    "code": {
        "coding": [
            {
                "system": "http://forlop.no/fhir/CodeSystem/psfs",
                "code": "activity-score",
                "userSelected": False,
            }
        ]
    },
    "subject": {"reference": "#p1"},
    "effectiveDateTime": "2026-03-15T10:00:00+01:00",
    "_effectiveDateTime": {
        "id": "eff",
        "extension": [
            {
                "url": "http://forlop.no/fhir/StructureDefinition/merknad",
                "valueString": 'Målt "hjemme" <kveld> & natt',
            }
        ],
    },
    "valueInteger": 4,
    "component": [
        {
            "id": "c1",
            "code": {"text": "original-score"},
            "valueQuantity": {"value": Decimal("6.50"), "unit": "{score}"},
        }
    ],
}


def test_golden_observation_parses_element_by_element() -> None:
    parsed = parse_xml(GOLDEN_XML.encode())
    assert list(parsed) == list(GOLDEN_JSON)
    for name, expected in GOLDEN_JSON.items():
        assert exact(parsed[name]) == exact(expected), name
    assert str(parsed["component"][0]["valueQuantity"]["value"]) == "6.50"
    assert parsed["code"]["coding"][0]["userSelected"] is False


NS = {"f": FHIR_NS, "h": XHTML_NS}


def _attrs(node: etree._Element) -> dict[str, str]:
    return {str(key): str(value) for key, value in node.attrib.items()}


def _one(node: etree._Element, path: str) -> etree._Element:
    found = node.find(path, NS)
    assert found is not None, path
    return found


def test_golden_observation_is_written_in_model_order_with_attributes() -> None:
    root = etree.fromstring(dump_xml(GOLDEN_JSON))
    assert [etree.QName(child).localname for child in root] == [
        "id", "text", "contained", "status", "code", "subject",
        "effectiveDateTime", "valueInteger", "component",
    ]  # fmt: skip
    assert _attrs(_one(root, "f:status")) == {"id": "st1", "value": "final"}
    assert _attrs(_one(root, "f:effectiveDateTime")) == {
        "id": "eff",
        "value": "2026-03-15T10:00:00+01:00",
    }
    extension = _one(root, "f:effectiveDateTime/f:extension")
    assert extension.get("url") == "http://forlop.no/fhir/StructureDefinition/merknad"
    assert _one(extension, "f:valueString").get("value") == 'Målt "hjemme" <kveld> & natt'
    assert _attrs(_one(root, "f:id")) == {"value": "psfs-score-1"}
    assert _attrs(_one(root, "f:component")) == {"id": "c1"}
    assert _one(root, "f:component/f:valueQuantity/f:value").get("value") == "6.50"
    assert _one(root, "f:code/f:coding/f:userSelected").get("value") == "false"
    givens = root.findall("f:contained/f:Patient/f:name/f:given", NS)
    assert [given.get("value") for given in givens] == ["Kari", None]
    assert _one(givens[1], "f:extension/f:valueCode").get("value") == "masked"
    div = _one(root, "f:text/h:div")
    assert "".join(str(text) for text in div.itertext()) == 'Trapper: 4 av 10 & "bedre"'
    assert exact(parse_xml(dump_xml(GOLDEN_JSON, pretty=True))) == exact(GOLDEN_JSON)


def test_prefixes_and_a_byte_order_mark_do_not_change_the_json() -> None:
    body = (
        '\ufeff<?xml version="1.0" encoding="utf-8"?>'
        '<f:Patient xmlns:f="http://hl7.org/fhir" xmlns:h="http://www.w3.org/1999/xhtml">'
        '<f:text><f:status value="generated"/><h:div><h:p>Hei <h:b>på</h:b> deg</h:p></h:div>'
        "</f:text><f:active value='true'/></f:Patient>"
    )
    assert parse_xml(body.encode()) == {
        "resourceType": "Patient",
        "text": {
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>Hei <b>på</b> deg</p></div>',
        },
        "active": True,
    }


def test_comments_and_processing_instructions_are_dropped() -> None:
    with_comments = GOLDEN_XML.replace("<code>", "<code><!-- kode --><?tool hint?>", 1)
    assert exact(parse_xml(with_comments)) == exact(GOLDEN_JSON)


# --- hostile input -----------------------------------------------------------------------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        body = b'<!ENTITY stolen "FETCHED-FROM-NETWORK">'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def web() -> Iterator[tuple[str, list[str]]]:
    """A local web server that records every request: a fetched DTD or entity would show here."""
    requests: list[str] = []
    handler = type("Handler", (_Recorder,), {"requests": requests})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def parser_never_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the body reaches the XML parser at all."""

    def refuse() -> etree.XMLPullParser:
        raise AssertionError("the body reached the XML parser")

    monkeypatch.setattr(xml_codec, "hardened_parser", refuse)


def _parse_bypassing_checks(body: bytes) -> bytes:
    """Defence in depth: what the hardened parser itself makes of a body the checks would refuse."""
    parser = hardened_parser()
    parser.feed(body)
    return etree.tostring(parser.close())


def _passwd_lines() -> list[str]:
    passwd = Path("/etc/passwd")
    lines = passwd.read_text().splitlines() if passwd.exists() else []
    return [line for line in lines if line.strip()] or ["root:x:0:0"]


def _shown(error: FhirError) -> str:
    return str(error) + json.dumps(error.outcome())


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE Patient [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Patient xmlns="http://hl7.org/fhir">
  <text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml">&xxe;</div></text>
</Patient>"""


@pytest.mark.usefixtures("parser_never_runs")
def test_xxe_with_a_file_entity_is_refused_and_reads_nothing() -> None:
    error = refusal(XXE)
    assert only_issue(error) == (400, Code.XML_FORBIDDEN, "security", ())
    shown = _shown(error)
    assert not any(line in shown for line in _passwd_lines())


def test_the_parser_itself_never_resolves_external_entities(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER")
    body = XXE.replace(b"file:///etc/passwd", secret.as_uri().encode())
    tree = _parse_bypassing_checks(body)
    assert b"TOP-SECRET-MARKER" not in tree
    assert not any(line.encode() in _parse_bypassing_checks(XXE) for line in _passwd_lines())


BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n<!ENTITY lol "lol">\n'
    + "".join(
        f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">\n'
        for n in range(1, 10)
    )
    + ']>\n<Patient xmlns="http://hl7.org/fhir"><text><status value="generated"/>'
    '<div xmlns="http://www.w3.org/1999/xhtml">&lol9;</div></text></Patient>'
).encode()


@pytest.mark.usefixtures("parser_never_runs")
def test_billion_laughs_is_refused_before_expansion() -> None:
    error = refusal(BILLION_LAUGHS)
    assert only_issue(error) == (400, Code.XML_FORBIDDEN, "security", ())
    assert "lollol" not in _shown(error)


def test_the_parser_itself_never_expands_an_entity_bomb() -> None:
    try:
        tree = _parse_bypassing_checks(BILLION_LAUGHS)
    except etree.XMLSyntaxError:
        return  # libxml2's amplification guard stopped it: also nothing expanded
    assert b"lollol" not in tree


@pytest.mark.usefixtures("parser_never_runs")
def test_external_dtd_by_system_url_is_refused_and_never_fetched(
    web: tuple[str, list[str]],
) -> None:
    base, requests = web
    body = (
        f'<?xml version="1.0"?>\n<!DOCTYPE Patient SYSTEM "{base}/evil.dtd">\n'
        '<Patient xmlns="http://hl7.org/fhir"><id value="a"/></Patient>'
    ).encode()
    error = refusal(body)
    assert only_issue(error) == (400, Code.XML_FORBIDDEN, "security", ())
    assert b"FETCHED" not in _parse_bypassing_checks(body)
    assert requests == []


@pytest.mark.usefixtures("parser_never_runs")
def test_parameter_entity_is_refused_and_never_fetched(web: tuple[str, list[str]]) -> None:
    base, requests = web
    body = (
        f'<?xml version="1.0"?>\n<!DOCTYPE Patient [<!ENTITY % remote SYSTEM "{base}/p.dtd">'
        " %remote;]>\n"
        '<Patient xmlns="http://hl7.org/fhir"><text><status value="generated"/>'
        '<div xmlns="http://www.w3.org/1999/xhtml">&stolen;</div></text></Patient>'
    ).encode()
    error = refusal(body)
    assert only_issue(error) == (400, Code.XML_FORBIDDEN, "security", ())
    assert b"FETCHED" not in _parse_bypassing_checks(body)
    assert requests == []


def _nested_extensions(levels: int) -> str:
    opening = '<extension url="http://example.org/e">' * levels
    closing = "</extension>" * levels
    leaf = '<valueString value="bunn"/>'
    return f'<Patient xmlns="http://hl7.org/fhir">{opening}{leaf}{closing}</Patient>'


@pytest.mark.parametrize("levels", [70, 1000, 100_000])
def test_too_deep_nesting_is_refused(levels: int) -> None:
    error = refusal(_nested_extensions(levels))
    assert only_issue(error)[:3] == (400, Code.XML_TOO_DEEP, "too-costly")


def test_the_depth_limit_is_configurable() -> None:
    body = _nested_extensions(5)
    assert only_issue(refusal(body, max_depth=4))[1] == Code.XML_TOO_DEEP
    assert parse_xml(body, max_depth=8)["extension"][0]["url"] == "http://example.org/e"
    # libxml2 stops at 256 levels on its own; a limit near that could not be reported as ours.
    with pytest.raises(ValueError, match="max_depth"):
        parse_xml(body, max_depth=255)


@pytest.mark.usefixtures("parser_never_runs")
@pytest.mark.parametrize("as_text", [False, True])
def test_oversize_body_is_413_and_not_parsed(as_text: bool) -> None:
    body = '<Patient xmlns="http://hl7.org/fhir"><id value="' + "å" * 60 + '"/></Patient>'
    error = refusal(body if as_text else body.encode(), max_bytes=100)
    assert only_issue(error)[:3] == (413, Code.TOO_LARGE, "too-costly")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'<Patient xmlns="http://hl7.org/fhir"><active value="true"></Patient>', "mismatch"),
        (b'<Patient xmlns="http://hl7.org/fhir"><active value="true"/>', "Premature end"),
        (b'<Patient xmlns="http://hl7.org/fhir">&nbsp;</Patient>', "'nbsp' not defined"),
        (b" \n", "empty"),
        (
            b'<Patient xmlns="http://hl7.org/fhir"><name><family value="\xf8"/></name></Patient>',
            "UTF-8",
        ),
        (
            b'<?xml version="1.0" encoding="ISO-8859-1"?><Patient xmlns="http://hl7.org/fhir"/>',
            "ISO-8859-1",
        ),
    ],
    ids=["unclosed", "truncated", "undeclared-entity", "empty", "latin-1", "declared-latin-1"],
)
def test_malformed_xml_is_a_syntax_error(body: bytes, words: str) -> None:
    error = refusal(body)
    assert only_issue(error) == (400, Code.XML_SYNTAX, "structure", ())
    assert words in error.issues[0].diagnostics


@pytest.mark.parametrize(
    ("body", "expression", "words"),
    [
        (
            '<Patient xmlns="http://hl7.org/fhir/r5"><id value="a"/></Patient>',
            "Patient",
            "namespace",
        ),
        ("<Patient><id value='a'/></Patient>", "Patient", "namespace"),
        (
            '<Patient xmlns="http://hl7.org/fhir"><x:foo xmlns:x="urn:x"/></Patient>',
            "Patient.foo",
            "namespace 'urn:x'",
        ),
        (
            '<Observation xmlns="http://hl7.org/fhir"><status value="final"/><code><coding>'
            '<system xmlns="urn:other" value="x"/></coding></code></Observation>',
            "Observation.code.coding[0].system",
            "namespace",
        ),
        (
            '<Observation xmlns="http://hl7.org/fhir"><code><coding><foo value="x"/>'
            "</coding></code></Observation>",
            "Observation.code.coding[0].foo",
            "Unknown element 'foo'",
        ),
        ('<Patientt xmlns="http://hl7.org/fhir"/>', "Patientt", "not a FHIR R4 resource type"),
        ('<Coding xmlns="http://hl7.org/fhir"/>', "Coding", "not a FHIR R4 resource type"),
        (
            '<Observation xmlns="http://hl7.org/fhir"><status/></Observation>',
            "Observation.status",
            "no 'value' attribute",
        ),
        (
            '<Observation xmlns="http://hl7.org/fhir"><status value="final">final</status>'
            "</Observation>",
            "Observation.status",
            "Text content 'final'",
        ),
        (
            '<Observation xmlns="http://hl7.org/fhir">final<status value="final"/></Observation>',
            "Observation",
            "Text content",
        ),
        (
            '<Observation xmlns="http://hl7.org/fhir"><code><coding id="c" code="x"/></code>'
            "</Observation>",
            "Observation.code.coding[0]",
            "attribute 'code'",
        ),
        (
            '<Patient xmlns="http://hl7.org/fhir"><name><id value="n"/></name></Patient>',
            "Patient.name[0].id",
            "attribute",
        ),
        (
            '<Patient xmlns="http://hl7.org/fhir" id="p"/>',
            "Patient",
            "attribute 'id'",
        ),
        (
            '<Patient xmlns="http://hl7.org/fhir"><gender value="male"/><gender value="female"/>'
            "</Patient>",
            "Patient.gender",
            "more than once",
        ),
        (
            '<Goal xmlns="http://hl7.org/fhir"><contained><Nope/></contained></Goal>',
            "Goal.contained[0]",
            "not a FHIR R4 resource type",
        ),
        (
            '<Goal xmlns="http://hl7.org/fhir"><contained><Patient/><Patient/></contained></Goal>',
            "Goal.contained[0]",
            "exactly one resource",
        ),
        (
            '<Patient xmlns="http://hl7.org/fhir"><text><status value="generated"/>'
            '<div value="x"/></text></Patient>',
            "Patient.text.div",
            "namespace",
        ),
        (
            '<Patient xmlns="http://hl7.org/fhir"><birthDate value="2000"><foo/></birthDate>'
            "</Patient>",
            "Patient.birthDate.foo",
            "only 'extension'",
        ),
    ],
    ids=[
        "wrong-namespace",
        "no-namespace",
        "foreign-element",
        "child-in-other-namespace",
        "unknown-element",
        "unknown-resource-type",
        "datatype-as-root",
        "no-value-attribute",
        "text-in-primitive",
        "text-in-resource",
        "unknown-attribute",
        "element-id-as-element",
        "resource-id-as-attribute",
        "repeated-single-element",
        "unknown-contained-type",
        "two-resources-in-one-wrapper",
        "div-in-fhir-namespace",
        "child-of-primitive",
    ],
)
def test_well_formed_xml_that_is_not_fhir_is_named_by_fhirpath(
    body: str, expression: str, words: str
) -> None:
    error = refusal(body)
    assert only_issue(error) == (400, Code.XML_STRUCTURE, "structure", (expression,))
    assert words in error.issues[0].diagnostics


@pytest.mark.parametrize(
    ("element", "value"),
    [("active", "yes"), ("multipleBirthInteger", "1.0"), ("multipleBirthInteger", "_1")],
)
def test_bad_primitive_values_are_refused(element: str, value: str) -> None:
    body = f'<Patient xmlns="http://hl7.org/fhir"><{element} value="{value}"/></Patient>'
    error = refusal(body)
    assert only_issue(error) == (400, Code.INVALID_VALUE, "value", (f"Patient.{element}",))


def test_decimals_keep_their_exact_text() -> None:
    body = (
        '<Observation xmlns="http://hl7.org/fhir"><valueQuantity><value value="1.50E+3"/>'
        "</valueQuantity></Observation>"
    )
    value = parse_xml(body)["valueQuantity"]["value"]
    assert isinstance(value, Decimal) and str(value) == "1.50E+3"
    assert b'<value value="1.50E+3"/>' in dump_xml(parse_xml(body))
    bad = body.replace("1.50E+3", "1,5")
    assert only_issue(refusal(bad))[:2] == (400, Code.INVALID_VALUE)


# --- writing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "code", "expression"),
    [
        ({"resourceType": "Patient", "foo": 1}, Code.UNKNOWN_ELEMENT, "Patient.foo"),
        ({"resourceType": "Nope"}, Code.UNKNOWN_RESOURCE_TYPE, "Nope"),
        ({"resourceType": "Patient", "active": "true"}, Code.WRONG_JSON_TYPE, "Patient.active"),
        (
            {"resourceType": "Patient", "multipleBirthInteger": True},
            Code.WRONG_JSON_TYPE,
            "Patient.multipleBirthInteger",
        ),
        (
            {"resourceType": "Patient", "name": [{"given": ["a", None]}]},
            Code.EMPTY_ELEMENT,
            "Patient.name[0].given[1]",
        ),
        (
            {"resourceType": "Patient", "name": [{"family": "a\x00b"}]},
            Code.INVALID_VALUE,
            "Patient.name[0].family",
        ),
        (
            {"resourceType": "Patient", "text": {"status": "generated", "div": "<p>x</p>"}},
            Code.INVALID_VALUE,
            "Patient.text.div",
        ),
        (
            {"resourceType": "Patient", "text": {"status": "generated", "div": "<div"}},
            Code.XML_SYNTAX,
            "Patient.text.div",
        ),
        (
            {"resourceType": "Patient", "name": [{"_id": {"id": "x"}, "id": "n"}]},
            Code.UNKNOWN_ELEMENT,
            "Patient.name[0]._id",
        ),
    ],
    ids=[
        "unknown-element",
        "unknown-type",
        "string-for-boolean",
        "boolean-for-integer",
        "null-without-companion",
        "nul-character",
        "div-not-a-div",
        "div-not-xml",
        "companion-on-attribute",
    ],
)
def test_what_has_no_xml_form_is_refused_with_its_path(
    resource: dict[str, Any], code: Code, expression: str
) -> None:
    with pytest.raises(FhirError) as caught:
        dump_xml(resource)
    status, forlop_code, _, where = only_issue(caught.value)
    assert (status, forlop_code, where) == (400, code, (expression,))


def test_output_is_utf8_with_a_declaration() -> None:
    xml = dump_xml({"resourceType": "Patient", "name": [{"family": "Ødegård & <Sønn>"}]})
    assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert "Ødegård &amp; &lt;Sønn&gt;".encode() in xml
