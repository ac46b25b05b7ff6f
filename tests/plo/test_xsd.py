"""Optional XSD validation against a folder of KITH schemas, resolved locally only."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lxml import etree

from adapter.plo.reader import read_xml
from adapter.plo.xsd import MAX_PROBLEMS, SchemaFolderError, Schemas
from tests.plo.conftest import MESSAGES, SHARED_XSD, own_messages, shared_samples

SIGNATURE = (
    b'<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo/>'
    b"</ds:Signature></MsgHead>"
)


def _tree(path: Path) -> etree._Element:
    return read_xml(path.read_bytes())


@pytest.mark.parametrize("path", own_messages() + shared_samples(), ids=lambda p: p.name)
def test_every_message_is_schema_valid(schemas: Schemas, path: Path) -> None:
    assert schemas.validate(_tree(path)) == []


def test_the_folder_compiles_every_known_namespace(schemas: Schemas) -> None:
    assert "http://www.kith.no/xmlstds/msghead/2006-05-24" in schemas.namespaces
    assert "http://www.kith.no/xmlstds/dialog/2013-01-23" in schemas.namespaces
    assert len(schemas.namespaces) == 11


def test_problems_name_the_line_and_the_path(schemas: Schemas) -> None:
    body = (MESSAGES / "log-innlagt.xml").read_bytes().replace(b"<Anslag>false", b"<Anslag>kanskje")
    (problem,) = schemas.validate(read_xml(body))
    assert problem.code == "T02"
    assert problem.description.startswith("Line ") and "Anslag" in problem.description
    assert problem.where.startswith("/")


def test_at_most_a_bounded_number_of_problems_are_reported(schemas: Schemas) -> None:
    body = (MESSAGES / "innleggelsesrapport-ny.xml").read_bytes()
    broken = body.replace(b"<Vurdering>", b"<Vurdering>x").replace(b'V="', b'W="')
    assert 0 < len(schemas.validate(read_xml(broken))) <= MAX_PROBLEMS


def test_a_signature_validates_without_the_w3c_schema(schemas: Schemas) -> None:
    body = (MESSAGES / "log-innlagt.xml").read_bytes().replace(b"</MsgHead>", SIGNATURE)
    assert schemas.validate(read_xml(body)) == []


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    if not SHARED_XSD.is_dir():
        pytest.skip(f"the official PLO schemas are not available at {SHARED_XSD}")
    target = tmp_path / "xsd"
    shutil.copytree(SHARED_XSD, target)
    for path in target.iterdir():
        path.chmod(0o644)
    return target


def test_a_schema_location_outside_the_folder_is_refused(folder: Path, tmp_path: Path) -> None:
    outside = tmp_path / "kith.xsd"
    shutil.copy(folder / "kith.xsd", outside)
    head = folder / "MsgHead-v1_2.xsd"
    text = head.read_bytes().replace(
        b'schemaLocation="kith.xsd"', b'schemaLocation="../other/kith.xsd"'
    )
    head.write_bytes(text)
    (folder / "kith.xsd").unlink()
    (tmp_path / "other").mkdir()
    shutil.copy(outside, tmp_path / "other" / "kith.xsd")
    with pytest.raises(SchemaFolderError, match="do not compile"):
        Schemas(folder)


def test_a_network_schema_location_is_refused(folder: Path) -> None:
    head = folder / "MsgHead-v1_2.xsd"
    text = head.read_bytes().replace(
        b'schemaLocation="felleskomponent1.xsd"',
        b'schemaLocation="http://www.kith.no/xmlstds/felles.xsd"',
    )
    head.write_bytes(text)
    with pytest.raises(SchemaFolderError):
        Schemas(folder)


def test_a_folder_without_msghead_is_not_a_schema_folder(tmp_path: Path) -> None:
    with pytest.raises(SchemaFolderError, match="MsgHead"):
        Schemas(tmp_path)


def test_a_folder_missing_a_content_schema_reports_that_content(folder: Path) -> None:
    (folder / "Pasientlogistikk-v1.6.xsd").unlink()
    schemas = Schemas(folder)
    problems = schemas.validate(_tree(MESSAGES / "log-innlagt.xml"))
    assert problems and "Pasientlogistikk" in problems[0].description
    assert schemas.validate(_tree(MESSAGES / "dialog-svar.xml")) == []
