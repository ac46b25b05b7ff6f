"""Hypothesis strategies for PLO messages: variations of real messages' envelopes and contents.

A variation starts from one of our fixtures or the shared samples and applies a few edits to its
tree: an element dropped (optional or not), a code replaced by an unknown one, whitespace added
around text, a text replaced by arbitrary text (Norwegian letters, characters XML escapes), and
is then written in one of the encodings PLO senders use.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import strategies as st
from hypothesis.strategies import DrawFn, SearchStrategy
from lxml import etree

ENCODINGS = ("UTF-8", "ISO-8859-1", "windows-1252", "UTF-16")
_TEXT = st.text(
    alphabet=st.characters(
        codec="utf-8",
        categories=("L", "N", "P", "Zs"),
        include_characters="æøåÆØÅ<&>\"'",
    ),
    max_size=30,
)
_WHITESPACE = st.text(alphabet=" \t\r\n", min_size=1, max_size=5)


def _elements(tree: etree._Element) -> list[etree._Element]:
    return [e for e in tree.iter() if isinstance(e.tag, str) and e is not tree]


def _drop(draw: DrawFn, tree: etree._Element) -> None:
    elements = _elements(tree)
    if elements:
        victim = elements[draw(st.integers(0, len(elements) - 1))]
        parent = victim.getparent()
        if parent is not None:
            parent.remove(victim)


def _recode(draw: DrawFn, tree: etree._Element) -> None:
    coded = [e for e in _elements(tree) if e.get("V") is not None]
    if coded:
        element = coded[draw(st.integers(0, len(coded) - 1))]
        element.set("V", draw(st.text(alphabet="ABCXYZ0123456789_", max_size=8)))


def _leaves(tree: etree._Element) -> list[etree._Element]:
    return [e for e in _elements(tree) if not len(e) and (e.text or "").strip()]


def _pad(draw: DrawFn, tree: etree._Element) -> None:
    leaves = _leaves(tree)
    if leaves:
        leaf = leaves[draw(st.integers(0, len(leaves) - 1))]
        leaf.text = draw(_WHITESPACE) + (leaf.text or "") + draw(_WHITESPACE)
        leaf.tail = (leaf.tail or "") + draw(_WHITESPACE)


def _retext(draw: DrawFn, tree: etree._Element) -> None:
    leaves = _leaves(tree)
    if leaves:
        leaves[draw(st.integers(0, len(leaves) - 1))].text = draw(_TEXT)


_EDITS = (_drop, _recode, _pad, _retext)


@st.composite
def variations(draw: DrawFn, sources: list[Path]) -> bytes:
    """A message from ``sources`` with 0-4 edits, in one of :data:`ENCODINGS`."""
    source = draw(st.sampled_from(sources))
    tree = etree.fromstring(source.read_bytes())
    for edit in draw(st.lists(st.sampled_from(_EDITS), max_size=4)):
        edit(draw, tree)
    encoding = draw(st.sampled_from(ENCODINGS))
    written = etree.tostring(tree, encoding=encoding, xml_declaration=True)
    assert isinstance(written, bytes)
    return written


def message_variations(sources: list[Path]) -> SearchStrategy[bytes]:
    return variations(sources)
