"""Dialogmelding 1.0 (``http://www.kith.no/xmlstds/dialog/2006-10-11``) and 1.1
(``.../2013-01-23``): requests (Foresporsel), answers and other notes (Notat).

DIALOG_FORESPORSEL carries requests; DIALOG_SVAR and DIALOG_AVVIK carry notes, an answer repeating
the request it answers. ``RollerRelatertNotat`` names the people and units a request or note comes
from or concerns. Version 1.1 allows markup in ``Sporsmal`` and ``TekstNotatInnhold``; forlop keeps
their text. A request or note without its required type (TypeForesp, TemaKodet) stays text.
"""

from __future__ import annotations

from lxml import etree

from adapter.plo.kith import (
    Taken,
    kid,
    kids,
    read_code,
    read_date,
    read_mixed,
    read_organisation,
    read_person,
    read_professional,
    read_text,
)
from adapter.plo.model import Dialog, DialogNote, DialogRequest, DialogRole

__all__ = ["read_dialog"]

Element = etree._Element


def _roles(taken: Taken, parent: Element) -> tuple[DialogRole, ...]:
    found = []
    for node in kids(parent, "RollerRelatertNotat"):
        unit = kid(node, "TilknyttetEnhet")
        organisation = kid(unit, "Kontaktenhet")
        professional = kid(node, "HealthcareProfessional")
        person = kid(node, "Person")
        found.append(
            DialogRole(
                role=read_code(taken, kid(node, "RolleNotat")),
                role_to_patient=read_code(taken, kid(node, "RoleToPatient")),
                unit=read_organisation(taken, organisation) if organisation is not None else None,
                professional=(
                    read_professional(taken, professional) if professional is not None else None
                ),
                person=read_person(taken, person) if person is not None else None,
            )
        )
    return tuple(found)


def _request(taken: Taken, node: Element) -> DialogRequest | None:
    kind = read_code(taken, kid(node, "TypeForesp"))
    if kind is None:
        return None
    return DialogRequest(
        type=kind,
        subject=read_text(taken, kid(node, "EmneSporsmal")),
        question=read_mixed(taken, kid(node, "Sporsmal")),
        purpose=read_code(taken, kid(node, "Formål")),
        reason=read_text(taken, kid(node, "Begrunnelse")),
        urgency=read_code(taken, kid(node, "Hastegrad")),
        start=read_date(taken, kid(node, "FraDato")),
        end=read_date(taken, kid(node, "TilDato")),
        record_types=tuple(
            code for item in kids(node, "TypeJournalinfo") if (code := read_code(taken, item))
        ),
        coded_info=read_code(taken, kid(node, "KodetOpplysning")),
        document_id=read_text(taken, kid(node, "DokIdForesp")),
        roles=_roles(taken, node),
    )


def _note(taken: Taken, node: Element) -> DialogNote | None:
    theme = read_code(taken, kid(node, "TemaKodet"))
    if theme is None:
        return None
    request = kid(node, "Foresporsel")
    return DialogNote(
        theme=theme,
        theme_text=read_text(taken, kid(node, "Tema")),
        text=read_mixed(taken, kid(node, "TekstNotatInnhold")),
        remark=read_text(taken, kid(node, "Merknad")),
        document_id=read_text(taken, kid(node, "DokIdNotat")),
        date=read_date(taken, kid(node, "DatoNotat")),
        request=_request(taken, request) if request is not None else None,
        roles=_roles(taken, node),
    )


def read_dialog(taken: Taken, root: Element) -> Dialog:
    return Dialog(
        case_type=read_code(taken, kid(root, "SakstypeKodet")),
        case_text=read_text(taken, kid(root, "Sakstype")),
        requests=tuple(r for node in kids(root, "Foresporsel") if (r := _request(taken, node))),
        notes=tuple(n for node in kids(root, "Notat") if (n := _note(taken, node))),
    )
