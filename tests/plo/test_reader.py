"""Reading PLO bytes: encodings, and the hardening shared with the FHIR XML codec (T01)."""

from __future__ import annotations

import codecs

import pytest

from adapter.plo.errors import PloError
from adapter.plo.reader import read_xml
from tests.plo.conftest import MESSAGES

SAMPLE = (MESSAGES / "log-innlagt.xml").read_bytes()
DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>'


def _codes(error: PloError) -> list[str]:
    return [p.code for p in error.problems]


def _reencoded(encoding: str, declared: str | None) -> bytes:
    text = SAMPLE.decode("utf-8").removeprefix(DECLARATION.decode())
    head = f'<?xml version="1.0" encoding="{declared}"?>' if declared else ""
    return (head + text).encode(encoding)


@pytest.mark.parametrize(
    ("encoding", "declared"),
    [
        ("utf-8", "UTF-8"),
        ("utf-8", None),
        ("iso-8859-1", "ISO-8859-1"),
        ("iso-8859-1", "latin1"),
        ("cp1252", "windows-1252"),
        ("iso-8859-15", "ISO-8859-15"),
    ],
)
def test_the_encodings_plo_senders_use_read_the_same(encoding: str, declared: str | None) -> None:
    root = read_xml(_reencoded(encoding, declared))
    patient = root.find(".//{*}Patient/{*}FamilyName")
    assert patient is not None and patient.text == "Lien"
    event = root.find(".//{*}BeskrivelseAvHendelse")
    assert event is not None and event.text == "Innlagt ved Medisinsk avdeling"
    kinds = [node.get("DN") for node in root.iterfind(".//{*}Patient/{*}Ident/{*}TypeId")]
    assert kinds == ["Fødselsnummer"]


@pytest.mark.parametrize("bom", [codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE])
def test_a_byte_order_mark_names_the_encoding(bom: bytes) -> None:
    text = SAMPLE.decode("utf-8")
    encoding = {codecs.BOM_UTF8: "utf-8", codecs.BOM_UTF16_LE: "utf-16-le"}.get(bom, "utf-16-be")
    declared = (
        text.replace('encoding="UTF-8"', 'encoding="UTF-16"') if bom != codecs.BOM_UTF8 else text
    )
    root = read_xml(bom + declared.encode(encoding))
    assert root.find(".//{*}MsgId").text == "7c1d2e3f-0001-4a00-9000-00000000b001"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"<MsgHead><MsgInfo></MsgHead>", "not well-formed"),
        (b'<?xml version="1.0" encoding="EBCDIC-XYZ"?><a/>', "unknown encoding"),
        (b'<?xml version="1.0" encoding="utf-32"?><a/>', "not accepted"),
        (b'<?xml version="1.0" encoding="UTF-8"?><a>\xff\xfe</a>', "not valid UTF-8"),
        (b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', "DOCTYPE"),
        (b"<a>" * 70 + b"</a>" * 70, "deeper"),
    ],
)
def test_unreadable_messages_are_t01_with_the_reason(body: bytes, fragment: str) -> None:
    with pytest.raises(PloError) as caught:
        read_xml(body)
    assert _codes(caught.value) == ["T01"]
    assert fragment.lower() in str(caught.value).lower()


def test_a_message_over_the_size_limit_is_refused_before_parsing() -> None:
    with pytest.raises(PloError) as caught:
        read_xml(SAMPLE, max_bytes=100)
    assert _codes(caught.value) == ["T01"]
    assert "at most 100" in str(caught.value)


def test_latin1_letters_do_not_count_twice_against_the_limit() -> None:
    latin1 = _reencoded("iso-8859-1", "ISO-8859-1")
    # The UTF-8 form is longer than the limit; the message as received is not.
    assert read_xml(latin1, max_bytes=len(latin1)) is not None
