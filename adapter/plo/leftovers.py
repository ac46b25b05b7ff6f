"""What the readers did not structure, as text: nothing a PLO message says is dropped silently.

After the readers have taken the values they map, every remaining part of the message that holds
text or a coded value is rendered here, in document order, as indented ``Name: value`` lines under
the element path where it was found. The mapping stores this text beside the original message on
the DocumentReference and lists the paths in the import summary. Technical attributes (schema
locations, EPJ component metadata) are not repeated; the stored original keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from adapter.plo.kith import Taken, local

__all__ = ["Leftover", "leftovers", "render_leftovers"]

Element = etree._Element
_INDENT = "  "


@dataclass(frozen=True)
class Leftover:
    """A part of the message kept as text: where it was and what it said."""

    path: str
    text: str


def _attributes(element: Element) -> str:
    """A leaf's own attributes, DN first as the readable name, then V, S, U ... in brackets;
    namespaced metadata (xsi, EPJ component attributes) is left out."""
    shown = {
        str(name): str(value).strip()
        for name, value in element.attrib.items()
        if isinstance(name, str) and not name.startswith("{") and str(value).strip()
    }
    name = shown.pop("DN", "")
    rest = ", ".join(f"{key}={value}" for key, value in shown.items())
    return " ".join(part for part in (name, f"[{rest}]" if rest else "") if part)


def _lines(text: str | None) -> list[str]:
    """The text's lines with their whitespace normalised; blank lines at the ends dropped."""
    lines = [" ".join(line.split()) for line in (text or "").splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _text(element: Element) -> str:
    return " ".join((element.text or "").split())


def _has_content(element: Element) -> bool:
    for node in element.iter():
        if not isinstance(node.tag, str):
            continue
        if (node.text or "").strip() or (node.tail or "").strip() and node is not element:
            return True
        if not len(node) and _attributes(node):
            return True
    return False


def _render(element: Element, depth: int, lines: list[str]) -> None:
    children = [child for child in element if isinstance(child.tag, str)]
    pad = _INDENT * depth
    if not children:
        text = _lines(element.text)
        first = " ".join(part for part in (text[0] if text else "", _attributes(element)) if part)
        lines.append(f"{pad}{local(element)}: {first}" if first else f"{pad}{local(element)}")
        lines.extend(f"{pad}{_INDENT}{line}" for line in text[1:])
        return
    lines.append(f"{pad}{local(element)}")
    lines.extend(f"{pad}{_INDENT}{line}" for line in _lines(element.text))
    for child in children:
        if _has_content(child):
            _render(child, depth + 1, lines)
        if (child.tail or "").strip():
            lines.append(f"{pad}{_INDENT}{' '.join((child.tail or '').split())}")


def _untouched(element: Element, taken: Taken) -> bool:
    return not any(node in taken for node in element.iter())


def leftovers(root: Element, taken: Taken, skip: Element | None = None) -> list[Leftover]:
    """Every part of ``root`` the readers left, as text; ``skip`` is not looked into."""
    found: list[Leftover] = []

    def visit(element: Element, path: str) -> None:
        if element is skip or element in taken or not _has_content(element):
            return
        if _untouched(element, taken):
            lines: list[str] = []
            _render(element, 0, lines)
            found.append(Leftover(path, "\n".join(lines)))
            return
        if _text(element):
            found.append(Leftover(path, _text(element)))
        for child in element:
            if isinstance(child.tag, str):
                visit(child, f"{path}/{local(child)}")

    visit(root, local(root))
    return found


def render_leftovers(parts: list[Leftover]) -> str:
    """All leftovers as one text, each under its path."""
    return "\n\n".join(f"{part.path}\n{part.text}" for part in parts)
