"""PLO model values -> PLO XML: the MsgHead v1.2 envelope with an Innleggelsesrapport, an
Utskrivningsrapport (TverrfagligEpikrise) or a Dialogmelding 1.1 inside.

Elements are written in the order their XSDs demand (MsgHead-v1_2, Innleggelsesrapport-v1.6,
TverrfagligEpikrise-v1.6, poKomponent-v1.6, felleskomponent1, dialogmelding-v1.1), ``CS`` codes
with ``V`` and ``DN`` only and ``CV`` codes with their code system OID. A part whose required
children the values cannot fill (a professional or unit without an identifier, an event without
a time) is left out rather than made up. Times are written as PLO writes them: local time without
an offset.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from lxml import etree

from adapter.plo.envelope import MSGHEAD_NS
from adapter.plo.model import (
    Address,
    Appointment,
    Code,
    Diagnosis,
    Dialog,
    DialogNote,
    DialogRequest,
    DialogRole,
    Envelope,
    Event,
    FunctionAssessment,
    Goal,
    Organisation,
    Person,
    Professional,
    Report,
    Service,
    Telecom,
)
from adapter.plo.terminology import MessageType

__all__ = ["write_message"]

Element = etree._Element
PO_NS = "http://www.kith.no/xmlstds/po/poKomponent/2012-04-01"
FK1_NS = "http://www.kith.no/xmlstds/felleskomponent1"
EPJ2_NS = "http://www.kith.no/xmlstds/epj/epj2/2008-02-20"
MIG_VERSION = "v1.2 2006-05-24"


def _el(parent: Element, ns: str, name: str, text: str | None = None) -> Element:
    node = etree.SubElement(parent, f"{{{ns}}}{name}")
    if text is not None:
        node.text = text
    return node


def _text(parent: Element, ns: str, name: str, value: object | None) -> None:
    if value is not None and str(value) != "":
        _el(parent, ns, name, _plain(value))


def _plain(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _cs(parent: Element, ns: str, name: str, code: Code | None) -> None:
    """A CS code: V and DN (the schema allows no code system)."""
    if code is None or not (code.v or code.dn):
        return
    node = _el(parent, ns, name)
    for attr, value in (("V", code.v), ("DN", code.dn)):
        if value:
            node.set(attr, value)


def _cv(parent: Element, ns: str, name: str, code: Code | None, *, required: bool = False) -> None:
    """A CV code: V, S (the OID), DN and OT."""
    if code is None or not (code.v or code.dn or code.ot):
        if required:
            _el(parent, ns, name)
        return
    node = _el(parent, ns, name)
    for attr, value in (("V", code.v), ("S", code.s), ("DN", code.dn), ("OT", code.ot)):
        if value:
            node.set(attr, value)


def _ts(parent: Element, ns: str, name: str, value: str | None) -> None:
    if value:
        _el(parent, ns, name).set("V", value)


# --- felleskomponent1 / MsgHead shapes ----------------------------------------------------------


def _idents(parent: Element, ns: str, person: Person | Organisation, ident_ns: str) -> None:
    for ident in person.idents:
        node = _el(parent, ns, "Ident")
        _el(node, ident_ns, "Id", ident.id)
        _cv(node, ident_ns, "TypeId", ident.type)


def _address(parent: Element, ns: str, address: Address | None, part_ns: str) -> None:
    if address is None:
        return
    node = _el(parent, ns, "Address")
    _text(node, part_ns, "StreetAdr", address.street)
    _text(node, part_ns, "PostalCode", address.postal_code)
    _text(node, part_ns, "City", address.city)
    _text(node, part_ns, "Postbox", address.postbox)
    _cs(node, part_ns, "County", address.county)
    _cs(node, part_ns, "Country", address.country)


def _telecoms(parent: Element, ns: str, telecoms: tuple[Telecom, ...], part_ns: str) -> None:
    for telecom in telecoms:
        node = _el(parent, ns, "TeleCom")
        _cs(node, part_ns, "TypeTelecom", telecom.type)
        _el(node, part_ns, "TeleAddress").set("V", telecom.address)


def _names(parent: Element, ns: str, person: Person, *, given_first: bool = False) -> None:
    # Dialogmelding's Person alone orders the names given, middle, family.
    order = ("GivenName", "MiddleName", "FamilyName")
    names = {"FamilyName": person.family, "MiddleName": person.middle, "GivenName": person.given}
    for name in order if given_first else reversed(order):
        _text(parent, ns, name, names[name])
    _text(parent, ns, "DateOfBirth", person.birth_date)
    _cs(parent, ns, "Sex", person.sex)
    _cs(parent, ns, "Nationality", person.nationality)


def _person(
    parent: Element,
    ns: str,
    person: Person,
    part_ns: str | None = None,
    *,
    given_first: bool = False,
) -> None:
    """A Person's children (fk1:Person, MsgHead Patient); ``part_ns`` for Ident/Address/TeleCom
    parts when their children live in another namespace (Dialogmelding)."""
    parts = part_ns or ns
    _names(parent, ns, person, given_first=given_first)
    _idents(parent, ns, person, parts)
    _address(parent, ns, person.address, parts)
    _telecoms(parent, ns, person.telecoms, parts)


def _professional(
    parent: Element, ns: str, professional: Professional, part_ns: str | None = None
) -> None:
    _cs(parent, ns, "TypeHealthcareProfessional", professional.category)
    _cv(parent, ns, "RoleToPatient", professional.role)
    _person(parent, ns, professional.person, part_ns)


def _identified(item: Professional | Organisation | None) -> bool:
    """HealthcareProfessional and Organisation need at least one Ident."""
    if item is None:
        return False
    idents = item.person.idents if isinstance(item, Professional) else item.idents
    return bool(idents)


def _fk1_organisation(parent: Element, ns: str, name: str, organisation: Organisation) -> None:
    node = _el(parent, ns, name)
    _cv(node, FK1_NS, "TypeOrganisation", organisation.type)
    _text(node, FK1_NS, "OrganisationName", organisation.name or "-")
    _idents(node, FK1_NS, organisation, FK1_NS)
    _address(node, FK1_NS, organisation.address, FK1_NS)
    _telecoms(node, FK1_NS, organisation.telecoms, FK1_NS)
    if _identified(organisation.unit):
        assert organisation.unit is not None
        _fk1_organisation(node, FK1_NS, "Organisation", organisation.unit)


def _msghead_organisation(parent: Element, organisation: Organisation) -> None:
    node = _el(parent, MSGHEAD_NS, "Organisation")
    _text(node, MSGHEAD_NS, "OrganisationName", organisation.name or "-")
    _cv(node, MSGHEAD_NS, "TypeOrganisation", organisation.type)
    _idents(node, MSGHEAD_NS, organisation, MSGHEAD_NS)
    _address(node, MSGHEAD_NS, organisation.address, MSGHEAD_NS)
    _telecoms(node, MSGHEAD_NS, organisation.telecoms, MSGHEAD_NS)
    if _identified(organisation.unit):
        assert organisation.unit is not None
        _msghead_organisation(node, organisation.unit)
    if _identified(organisation.professional):
        assert organisation.professional is not None
        professional = _el(node, MSGHEAD_NS, "HealthcareProfessional")
        _professional(professional, MSGHEAD_NS, organisation.professional)


def _envelope(envelope: Envelope, kind: MessageType) -> tuple[Element, Element]:
    root = etree.Element(f"{{{MSGHEAD_NS}}}MsgHead", nsmap={None: MSGHEAD_NS})  # type: ignore[dict-item]
    info = _el(root, MSGHEAD_NS, "MsgInfo")
    _cs(info, MSGHEAD_NS, "Type", Code(v=kind.code, dn=kind.display))
    _text(info, MSGHEAD_NS, "MIGversion", MIG_VERSION)
    _text(info, MSGHEAD_NS, "GenDate", envelope.gen_date)
    _text(info, MSGHEAD_NS, "MsgId", envelope.msg_id)
    if envelope.conversation is not None:
        ref = _el(info, MSGHEAD_NS, "ConversationRef")
        _text(ref, MSGHEAD_NS, "RefToParent", envelope.conversation.parent)
        _text(ref, MSGHEAD_NS, "RefToConversation", envelope.conversation.conversation)
    for role, organisation in (("Sender", envelope.sender), ("Receiver", envelope.receiver)):
        _msghead_organisation(_el(info, MSGHEAD_NS, role), organisation)
    _person(_el(info, MSGHEAD_NS, "Patient"), MSGHEAD_NS, envelope.patient)
    refdoc = _el(_el(root, MSGHEAD_NS, "Document"), MSGHEAD_NS, "RefDoc")
    _ts(refdoc, MSGHEAD_NS, "IssueDate", envelope.document_date)
    _cs(refdoc, MSGHEAD_NS, "MsgType", Code(v="XML", dn="XML-instans"))
    return root, _el(refdoc, MSGHEAD_NS, "Content")


# --- the report parts (poKomponent) -------------------------------------------------------------


def _event(parent: Element, event: Event) -> None:
    node = _el(parent, PO_NS, "TidsfestetHendelse")
    _cv(node, PO_NS, "Hendelsekode", event.code)
    _text(node, PO_NS, "BeskrivelseAvHendelse", event.description)
    _ts(node, PO_NS, "TidspunktForHendelse", event.time)
    _text(node, PO_NS, "Anslag", event.estimated)
    _text(node, PO_NS, "Merknad", event.remark)
    if event.place:
        _text(_el(node, PO_NS, "StedForHendelse"), PO_NS, "StedHendelse", event.place)


def _diagnoses(root: Element, report: Report) -> None:
    current = [d for d in report.diagnoses if not d.history]
    if current:
        info = _el(root, PO_NS, "InfoMedisinskDiagnose")
        for diagnosis in current:
            node = _el(info, PO_NS, "MedisinskDiagnose")
            _text(node, PO_NS, "Hoveddiagnose", diagnosis.main)
            _cv(node, PO_NS, "Diagnosekode", diagnosis.code)
            _text(node, PO_NS, "DiagnoseBeskrivelse", diagnosis.text)


def _history(root: Element, report: Report) -> None:
    earlier = [d for d in report.diagnoses if d.history]
    if not earlier:
        return
    medical = _el(root, PO_NS, "MedisinskfagligeOpplysninger")
    for diagnosis in earlier:
        fragment = _el(
            _el(medical, PO_NS, "InfoTidligereSykdommer"), PO_NS, "TidligereSykdomFragment"
        )
        _text(fragment, PO_NS, "FunksjonshemmingKroniskSykdom", bool(diagnosis.chronic))
        _text(fragment, PO_NS, "TidligereSykdom", _illness(diagnosis))
        _cv(fragment, PO_NS, "Diagnosekode", diagnosis.code)


def _illness(diagnosis: Diagnosis) -> str:
    return diagnosis.text or (diagnosis.code.dn if diagnosis.code else None) or "-"


def _functions(root: Element, functions: FunctionAssessment | None) -> None:
    if functions is None or not functions.scores:
        return
    info = _el(root, PO_NS, "InfoKartleggingFunksjonsniva")
    if functions.care_dependency is not None or functions.assessment or functions.remark:
        overall = _el(info, PO_NS, "SamletVurderingFunksjonsniva")
        _text(overall, PO_NS, "Pleietyngde", functions.care_dependency)
        _text(overall, PO_NS, "VurderingPleietyngde", functions.assessment)
        _text(overall, PO_NS, "Merknad", functions.remark)
    for score in functions.scores:
        node = _el(info, PO_NS, "KartlagtFunksjon")
        _cv(node, PO_NS, "Funksjonsvariabel", score.variable)
        _text(node, PO_NS, "Vurdering", score.score)
        _text(node, PO_NS, "Merknad", score.remark)


def _goal(parent: Element, goal: Goal) -> None:
    info = _el(parent, PO_NS, "InfoMaalForventetRes")
    content = _el(info, PO_NS, "InnholdMaaldokument")
    _cv(content, PO_NS, "MaalForventetResultat", goal.goal)
    _cv(content, PO_NS, "ForventetGradMaaloppnaaelse", goal.expected)
    _text(content, PO_NS, "Beskrivelse", goal.description)
    _cs(content, PO_NS, "KategoriHelsepersonell", goal.category)
    _text(content, PO_NS, "ForventesOppnaadd", goal.due)
    _text(content, PO_NS, "FraDato", goal.start)
    _text(content, PO_NS, "TilDato", goal.end)
    for word in goal.keywords:
        _text(content, PO_NS, "Stikkord", word)
    for text in goal.texts:
        journal = _el(info, EPJ2_NS, "Journaltekst")
        _cv(journal, EPJ2_NS, "Overskriftskode", text.heading)
        _text(journal, EPJ2_NS, "Notat", text.text)
        _text(journal, EPJ2_NS, "Merknad", text.remark)


def _existing_service(root: Element, service: Service) -> None:
    node = _el(root, PO_NS, "EksisterendeTjeneste")
    _cv(node, PO_NS, "IPLOStjenestetype", service.type)
    _text(node, PO_NS, "BetegnelseTjeneste", service.name)
    _text(node, PO_NS, "PrivatTjeneste", bool(service.private))
    _text(node, PO_NS, "TjenestenLevertAv", service.provider)
    _text(node, PO_NS, "OpplysningerOmTjenesten", service.details)
    _text(node, PO_NS, "AntallEnheter", service.amount)
    _text(node, PO_NS, "Enhet", service.unit)
    _text(node, PO_NS, "Startdato", service.start)
    _text(node, PO_NS, "Sluttdato", service.end)
    _text(node, PO_NS, "Merknad", service.remark)


def _needed_service(root: Element, service: Service) -> None:
    node = _el(root, PO_NS, "TjenesteBehov")
    _cv(node, PO_NS, "IPLOStjenestetype", service.type)
    _text(node, PO_NS, "BetegnelseTjeneste", service.name)
    _text(node, PO_NS, "VedInstitusjon", service.provider)
    _text(node, PO_NS, "BeskrivelseAvTjeneste", service.details)
    _text(node, PO_NS, "AntallEnheterOnsket", service.amount)
    _text(node, PO_NS, "Enhet", service.unit)


def _informed(parent: Element, appointment: Appointment) -> None:
    if appointment.patient_informed is None and appointment.relative_informed is None:
        return
    node = _el(parent, PO_NS, "InformertOm")
    _text(node, PO_NS, "PasientInformert", bool(appointment.patient_informed))
    _text(node, PO_NS, "ParorendeInformert", bool(appointment.relative_informed))


def _appointment(root: Element, appointment: Appointment) -> None:
    info = _el(root, PO_NS, "InfoKontrolltime")
    if appointment.kind == "self-booked":
        node = _el(info, PO_NS, "KontrolltimeBestill")
        _text(node, PO_NS, "PasientParorendeBestiller", appointment.books_self is not False)
    elif appointment.kind == "tentative":
        node = _el(info, PO_NS, "InformasjonOmTentativTime")
        _text(node, PO_NS, "TentativtTidspunktTime", appointment.tentative_time)
        _text(node, PO_NS, "StedTime", appointment.place)
        _text(node, PO_NS, "Merknad", appointment.remark)
    else:
        node = _el(info, PO_NS, "InformasjonOmTime")
        _text(node, PO_NS, "BestiltKontrolltime", appointment.booked is not False)
        _text(
            node,
            PO_NS,
            "TidspunktTime",
            appointment.start if appointment.start and "T" in appointment.start else None,
        )
        _text(node, PO_NS, "Varighet", appointment.minutes)
        _text(node, PO_NS, "StedTime", appointment.place)
    _informed(node, appointment)


def _header_parts(root: Element, report: Report, status: Code) -> None:
    header = report.header
    info = _el(root, PO_NS, "InformasjonOmForsendelsen")
    _cs(info, PO_NS, "Forsendelsesstatus", status)
    if header.civil_status is not None or header.language is not None:
        extra = _el(root, PO_NS, "TilleggsopplysningPasient")
        _cs(extra, PO_NS, "SivilStatus", header.civil_status)
        _cs(extra, PO_NS, "Sprak", header.language)
    for relative in header.relatives:
        node = _el(root, PO_NS, "ParorendeForesatt")
        _cs(node, PO_NS, "Slektskap", relative.relationship)
        _cs(node, PO_NS, "Omsorgsfunksjon", relative.care_role)
        _text(node, PO_NS, "FodselsarMindrearigParorende", relative.birth_year)
        _person(_el(node, PO_NS, "Referanseperson"), FK1_NS, relative.person)
        _text(node, PO_NS, "Merknad", relative.remark)
    for unit in header.units:
        if _identified(unit.organisation):
            node = _el(root, PO_NS, "TilknyttetEnhet")
            _fk1_organisation(node, PO_NS, "Kontaktenhet", unit.organisation)
            _text(node, PO_NS, "Merknad", unit.remark)
    for kind, wrapper, name in (
        ("contact", "KontaktpersonHelsepersonell", "Kontaktperson"),
        ("report", "AnsvarForRapport", "AnsvarligRapport"),
    ):
        for responsible in header.responsibles:
            if responsible.kind != kind or not _identified(responsible.professional):
                continue
            node = _el(root, PO_NS, wrapper)
            _professional(_el(node, PO_NS, name), FK1_NS, responsible.professional)
            _text(node, PO_NS, "GodkjentDato", responsible.approved if kind == "report" else None)
            _cv(node, PO_NS, "TypeRelasjon", responsible.relation if kind == "report" else None)
            _text(node, PO_NS, "Merknad", responsible.remark)


def _admission_report(root: Element, report: Report) -> None:
    """Innleggelsesrapport-v1.6 after the header parts."""
    _diagnoses(root, report)
    _history(root, report)
    for service in report.services:
        if not service.needed:
            _existing_service(root, service)
    _functions(root, report.functions)
    if report.goals:
        nursing = _el(root, PO_NS, "Sykepleierdokumentasjon")
        for goal in report.goals:
            _goal(nursing, goal)


def _discharge_report(root: Element, report: Report, content_type: Code) -> None:
    """TverrfagligEpikrise-v1.6 after the header parts."""
    kind = _el(root, PO_NS, "TypeInnholdIMelding")
    _cv(kind, PO_NS, "TypeInnhold", report.content_type or content_type, required=True)
    _text(kind, PO_NS, "Merknad", report.content_remark)
    for event in report.events:
        _event(_el(root, PO_NS, "OpplysningOpphold"), event)
    _diagnoses(root, report)
    _history(root, report)
    if report.goals:
        nursing = _el(root, PO_NS, "Sykepleierdokumentasjon")
        for goal in report.goals:
            _goal(nursing, goal)
    _functions(root, report.functions)
    for service in report.services:
        if service.needed:
            _needed_service(root, service)
    for appointment in report.appointments:
        _appointment(root, appointment)


# --- Dialogmelding 1.1 --------------------------------------------------------------------------


def _role(parent: Element, ns: str, role: DialogRole) -> None:
    node = _el(parent, ns, "RollerRelatertNotat")
    _cv(node, ns, "RolleNotat", role.role)
    _cv(node, ns, "RoleToPatient", role.role_to_patient)
    if role.professional is not None:
        _professional(_el(node, ns, "HealthcareProfessional"), ns, role.professional, FK1_NS)
    elif role.person is not None:
        _person(_el(node, ns, "Person"), ns, role.person, FK1_NS, given_first=True)


def _request(parent: Element, ns: str, request: DialogRequest) -> None:
    node = _el(parent, ns, "Foresporsel")
    _cv(node, ns, "TypeForesp", request.type, required=True)
    _text(node, ns, "EmneSporsmal", request.subject)
    _text(node, ns, "Sporsmal", request.question)
    _cv(node, ns, "Formål", request.purpose)
    _text(node, ns, "Begrunnelse", request.reason)
    _cs(node, ns, "Hastegrad", request.urgency)
    _text(node, ns, "FraDato", request.start)
    _text(node, ns, "TilDato", request.end)
    for record in request.record_types:
        _cv(node, ns, "TypeJournalinfo", record)
    _cv(node, ns, "KodetOpplysning", request.coded_info)
    _text(node, ns, "DokIdForesp", request.document_id)
    for role in request.roles:
        _role(node, ns, role)


def _note(parent: Element, ns: str, note: DialogNote) -> None:
    node = _el(parent, ns, "Notat")
    _cv(node, ns, "TemaKodet", note.theme, required=True)
    _text(node, ns, "Tema", note.theme_text)
    _text(node, ns, "TekstNotatInnhold", note.text)
    _text(node, ns, "Merknad", note.remark)
    _text(node, ns, "DokIdNotat", note.document_id)
    _text(node, ns, "DatoNotat", note.date)
    if note.request is not None:
        _request(node, ns, note.request)
    for role in note.roles:
        _role(node, ns, role)


def _dialog(content: Element, ns: str, dialog: Dialog) -> None:
    nsmap: Any = {None: ns, "fk1": FK1_NS}
    root = etree.SubElement(content, f"{{{ns}}}Dialogmelding", nsmap=nsmap)
    _cv(root, ns, "SakstypeKodet", dialog.case_type)
    _text(root, ns, "Sakstype", dialog.case_text)
    for request in dialog.requests:
        _request(root, ns, request)
    for note in dialog.notes:
        _note(root, ns, note)


# --- the whole ----------------------------------------------------------------------------------

_REPORTS: dict[str, Callable[..., None]] = {
    "Innleggelsesrapport": _admission_report,
    "TverrfagligEpikrise": _discharge_report,
}


def write_message(
    envelope: Envelope,
    kind: MessageType,
    content: Report | Dialog,
    *,
    status: Code | None = None,
) -> bytes:
    """The message as UTF-8 XML. ``kind`` names the MsgInfo type and (its last content root)
    the document written; ``status`` is the Forsendelsesstatus of a report."""
    root, holder = _envelope(envelope, kind)
    clark = kind.contents[-1]
    namespace, name = clark[1:].split("}", 1)
    if isinstance(content, Dialog):
        _dialog(holder, namespace, content)
    else:
        write = _REPORTS.get(name)
        if write is None:
            raise ValueError(f"forlop does not write {name} documents")
        nsmap: Any = {None: PO_NS, "p": namespace, "fk1": FK1_NS, "epj2": EPJ2_NS}
        report = etree.SubElement(holder, f"{{{namespace}}}{name}", nsmap=nsmap)
        _header_parts(report, content, status or Code(v="N", dn="Ny"))
        content_type = kind.content_type or {}
        default = Code(
            v=content_type.get("code"),
            s=str(content_type.get("system", "")).removeprefix("urn:oid:") or None,
            dn=content_type.get("display"),
        )
        if name == "TverrfagligEpikrise":
            write(report, content, default)
        else:
            write(report, content)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
