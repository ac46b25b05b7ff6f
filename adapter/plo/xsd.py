"""Optional XSD validation of PLO messages and receipts against a folder of KITH schemas.

The schemas are not shipped with forlop (they are KITH's/the Norwegian Directorate of Health's);
point ``--xsd-dir`` or ``FORLOP_PLO_XSD_DIR`` at a folder holding them. ``MsgHead-v1_2.xsd``
declares its content as a strict wildcard, so forlop compiles one driver schema that imports
MsgHead and every content schema named in ``mappings/plo-settings.json`` (``schemas``) that the
folder has.

Schema imports are resolved inside the folder only, by file name: a schemaLocation that names
anything else fails to compile rather than reach the network or another file. The XML signature
schema that MsgHead imports from w3.org is replaced, when the folder lacks
``xmldsig-core-schema.xsd``, by a stub that accepts any ``ds:Signature``.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from lxml import etree

from adapter.plo.errors import Problem
from adapter.plo.terminology import Terminology

__all__ = ["MAX_PROBLEMS", "SchemaFolderError", "Schemas", "load_schemas"]

MAX_PROBLEMS = 20
_XMLDSIG_FILE = "xmldsig-core-schema.xsd"
_MSGHEAD_FILE = "MsgHead-v1_2.xsd"


class SchemaFolderError(ValueError):
    """The schema folder cannot be used (missing, incomplete, or a schema does not compile)."""


def _stub(namespace: str) -> bytes:
    return (
        '<schema xmlns="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified" '
        f"targetNamespace={quoteattr(namespace)}>"
        '<element name="Signature"><complexType><sequence>'
        '<any processContents="skip" minOccurs="0" maxOccurs="unbounded"/>'
        '</sequence><anyAttribute processContents="skip"/></complexType></element></schema>'
    ).encode()


class _FolderResolver(etree.Resolver):
    """Resolves schema locations to files of one folder, by name; refuses everything else."""

    def __init__(self, folder: Path, xmldsig: str) -> None:
        super().__init__()
        self.folder = folder
        self.xmldsig = xmldsig

    # lxml calls resolve(url, public_id, context); lxml-stubs leave out the context.
    def resolve(  # type: ignore[override]
        self, system_url: str | None, public_id: str | None, context: Any
    ) -> Any:
        name = (system_url or "").replace("\\", "/").rsplit("/", 1)[-1]
        candidate = self.folder / name
        # lxml-stubs do not declare the Resolver helpers' full signatures.
        resolver: Any = self
        if name and candidate.is_file():
            return resolver.resolve_filename(str(candidate), context)
        if name == _XMLDSIG_FILE:
            return resolver.resolve_string(_stub(self.xmldsig), context)
        raise SchemaFolderError(f"{system_url} is not a schema in {self.folder}")


def _parser(folder: Path, xmldsig: str) -> etree.XMLParser:
    parser = etree.XMLParser(
        no_network=True, resolve_entities=False, load_dtd=False, huge_tree=False
    )
    parser.resolvers.add(_FolderResolver(folder, xmldsig))
    return parser


class Schemas:
    """The KITH schemas of one folder, compiled into one validator."""

    def __init__(self, folder: Path, terminology: Terminology | None = None) -> None:
        settings = (terminology or Terminology()).settings
        folder = folder.resolve()
        if not (folder / _MSGHEAD_FILE).is_file():
            raise SchemaFolderError(
                f"{folder} has no {_MSGHEAD_FILE}; it is not a PLO schema folder."
            )
        files = {
            namespace: name
            for namespace, name in dict(settings["schemas"]).items()
            if (folder / name).is_file()
        }
        imports = "".join(
            f"<import namespace={quoteattr(ns)} schemaLocation={quoteattr(name)}/>"
            for ns, name in files.items()
        )
        driver = (
            '<schema xmlns="http://www.w3.org/2001/XMLSchema" '
            f'targetNamespace="urn:forlop:plo-schemas">{imports}</schema>'
        ).encode()
        parser = _parser(folder, str(settings["xmldsig"]))
        try:
            document = etree.parse(io.BytesIO(driver), parser, base_url=folder.as_uri() + "/")
            self._schema = etree.XMLSchema(document)
        except (etree.XMLSchemaParseError, etree.XMLSyntaxError, SchemaFolderError) as exc:
            raise SchemaFolderError(f"The schemas in {folder} do not compile: {exc}") from None
        self.folder = folder
        self.namespaces = frozenset(files)

    def validate(self, root: etree._Element) -> list[Problem]:
        """T02 problems for everything the schemas reject (at most :data:`MAX_PROBLEMS`)."""
        if self._schema.validate(root.getroottree()):
            return []
        problems = []
        log: Iterable[Any] = self._schema.error_log  # type: ignore[assignment]
        for entry in list(log)[:MAX_PROBLEMS]:
            where = getattr(entry, "path", None) or f"line {entry.line}"
            problems.append(Problem("T02", f"Line {entry.line}: {entry.message}", where))
        return problems


@cache
def load_schemas(folder: str) -> Schemas:
    """The compiled schemas of ``folder``, compiled once per process."""
    return Schemas(Path(folder))
