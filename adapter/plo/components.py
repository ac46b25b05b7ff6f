"""The shared building blocks of the pleie- og omsorgsmeldinger (poKomponent v1.6,
``http://www.kith.no/xmlstds/po/poKomponent/2012-04-01``).

Every report and Pasientlogistikk message starts with the same header parts
(InformasjonOmForsendelsen, TilleggsopplysningPasient, ParorendeForesatt, TilknyttetEnhet,
KontaktpersonHelsepersonell, AnsvarForRapport); the reports then use the same components for
diagnoses, functional assessment (IPLOS), goals, appointments, services and timed events. This
module reads each of them; an element it cannot make sense of stays untaken and becomes text.
"""

from __future__ import annotations

from dataclasses import replace

from lxml import etree

from adapter.plo.errors import reject
from adapter.plo.kith import (
    Taken,
    kid,
    kids,
    read_bool,
    read_code,
    read_date,
    read_datetime,
    read_decimal,
    read_int,
    read_organisation,
    read_person,
    read_professional,
    read_text,
    read_ts,
    read_year,
)
from adapter.plo.model import (
    Appointment,
    Diagnosis,
    Event,
    FunctionAssessment,
    FunctionScore,
    Goal,
    Header,
    JournalText,
    Relative,
    Responsible,
    Service,
    Unit,
)

__all__ = [
    "read_appointments",
    "read_diagnoses",
    "read_event",
    "read_functions",
    "read_goals",
    "read_header",
    "read_history",
    "read_journal_texts",
    "read_services",
]

Element = etree._Element


def read_header(taken: Taken, root: Element) -> Header:
    """InformasjonOmForsendelsen and the parts about the patient's people and units."""
    info = kid(root, "InformasjonOmForsendelsen")
    status = read_code(taken, kid(info, "Forsendelsesstatus")) if info is not None else None
    if info is None or status is None or status.v is None:
        raise reject(
            "T02",
            "InformasjonOmForsendelsen/Forsendelsesstatus is missing.",
            f"{etree.QName(root).localname}/InformasjonOmForsendelsen",
        )
    extra = kid(root, "TilleggsopplysningPasient")
    return Header(
        status=status,
        civil_status=read_code(taken, kid(extra, "SivilStatus")),
        language=read_code(taken, kid(extra, "Sprak")),
        relatives=tuple(
            relative
            for node in kids(root, "ParorendeForesatt")
            if (relative := _relative(taken, node)) is not None
        ),
        units=tuple(
            Unit(read_organisation(taken, org), read_text(taken, kid(node, "Merknad")))
            for node in kids(root, "TilknyttetEnhet")
            if (org := kid(node, "Kontaktenhet")) is not None
        ),
        responsibles=_responsibles(taken, root),
    )


def _responsibles(taken: Taken, root: Element) -> tuple[Responsible, ...]:
    found = []
    for node in kids(root, "KontaktpersonHelsepersonell"):
        person = kid(node, "Kontaktperson")
        if person is not None:
            remark = read_text(taken, kid(node, "Merknad"))
            found.append(Responsible("contact", read_professional(taken, person), remark=remark))
    for node in kids(root, "AnsvarForRapport"):
        person = kid(node, "AnsvarligRapport")
        if person is not None:
            found.append(
                Responsible(
                    "report",
                    read_professional(taken, person),
                    approved=read_date(taken, kid(node, "GodkjentDato")),
                    relation=read_code(taken, kid(node, "TypeRelasjon")),
                    remark=read_text(taken, kid(node, "Merknad")),
                )
            )
    return tuple(found)


def _relative(taken: Taken, node: Element) -> Relative | None:
    person = kid(node, "Referanseperson")
    if person is None:
        return None
    return Relative(
        person=read_person(taken, person),
        relationship=read_code(taken, kid(node, "Slektskap")),
        care_role=read_code(taken, kid(node, "Omsorgsfunksjon")),
        birth_year=read_year(taken, kid(node, "FodselsarMindrearigParorende")),
        remark=read_text(taken, kid(node, "Merknad")),
    )


def read_event(taken: Taken, node: Element) -> Event | None:
    """TidsfestetHendelse; None when it has no usable time (then it stays text)."""
    time = read_ts(taken, kid(node, "TidspunktForHendelse"))
    if time is None:
        return None
    place = kid(node, "StedForHendelse")
    return Event(
        time=time,
        estimated=bool(read_bool(taken, kid(node, "Anslag"))),
        code=read_code(taken, kid(node, "Hendelsekode")),
        description=read_text(taken, kid(node, "BeskrivelseAvHendelse")),
        remark=read_text(taken, kid(node, "Merknad")),
        place=read_text(taken, kid(place, "StedHendelse")) if place is not None else None,
    )


def read_diagnoses(taken: Taken, root: Element) -> list[Diagnosis]:
    """InfoMedisinskDiagnose/MedisinskDiagnose and InfoIPLOSrelevantInformasjon/
    TidsperiodeDiagnose (a diagnosis with the period it held)."""
    found = []
    for info in kids(root, "InfoMedisinskDiagnose"):
        for node in kids(info, "MedisinskDiagnose"):
            diagnosis = _diagnosis(taken, node)
            if diagnosis is not None:
                found.append(diagnosis)
    for info in kids(root, "InfoIPLOSrelevantInformasjon"):
        for period in kids(info, "TidsperiodeDiagnose"):
            held = kid(period, "MedisinskDiagnose")
            diagnosis = _diagnosis(taken, held) if held is not None else None
            if diagnosis is None:
                continue
            start = read_date(taken, kid(period, "StartdatoDiagnose"))
            end = read_date(taken, kid(period, "SluttdatoDiagnose"))
            found.append(replace(diagnosis, start=start, end=end))
    return found


def _diagnosis(taken: Taken, node: Element) -> Diagnosis | None:
    code = read_code(taken, kid(node, "Diagnosekode"))
    text = read_text(taken, kid(node, "DiagnoseBeskrivelse"))
    if code is None and text is None:
        return None
    return Diagnosis(False, code, text, read_bool(taken, kid(node, "Hoveddiagnose")))


def read_history(taken: Taken, root: Element) -> list[Diagnosis]:
    """MedisinskfagligeOpplysninger/InfoTidligereSykdommer/TidligereSykdomFragment."""
    found = []
    medical = kid(root, "MedisinskfagligeOpplysninger")
    for info in kids(medical, "InfoTidligereSykdommer") if medical is not None else []:
        node = kid(info, "TidligereSykdomFragment")
        if node is None:
            continue
        code = read_code(taken, kid(node, "Diagnosekode"))
        text = read_text(taken, kid(node, "TidligereSykdom"))
        if code is None and text is None:
            continue
        chronic = read_bool(taken, kid(node, "FunksjonshemmingKroniskSykdom"))
        found.append(Diagnosis(True, code, text, chronic=chronic))
    return found


def read_functions(taken: Taken, root: Element) -> FunctionAssessment | None:
    """InfoKartleggingFunksjonsniva: IPLOS variables with scores, and the overall assessment."""
    info = kid(root, "InfoKartleggingFunksjonsniva")
    if info is None or not any(
        _has_code(kid(node, "Funksjonsvariabel")) for node in kids(info, "KartlagtFunksjon")
    ):
        return None
    scores = []
    for node in kids(info, "KartlagtFunksjon"):
        variable = read_code(taken, kid(node, "Funksjonsvariabel"))
        if variable is None or variable.v is None:
            continue
        scores.append(
            FunctionScore(
                variable,
                read_int(taken, kid(node, "Vurdering")),
                read_text(taken, kid(node, "Merknad")),
            )
        )
    overall = kid(info, "SamletVurderingFunksjonsniva")
    responsible = kid(info, "Ansvarlig")
    time = assessor = unit = None
    if responsible is not None:
        time = read_datetime(taken, kid(responsible, "TidspunktForHendelse"))
        person = kid(responsible, "AnsvarligTjenesteyter")
        assessor = read_professional(taken, person) if person is not None else None
        org = kid(responsible, "Virksomhet")
        unit = read_organisation(taken, org) if org is not None else None
    present = overall is not None
    return FunctionAssessment(
        scores=tuple(scores),
        care_dependency=read_decimal(taken, kid(overall, "Pleietyngde")) if present else None,
        assessment=read_text(taken, kid(overall, "VurderingPleietyngde")) if present else None,
        remark=read_text(taken, kid(overall, "Merknad")) if present else None,
        time=time,
        assessor=assessor,
        assessor_unit=unit,
    )


def _has_code(element: Element | None) -> bool:
    return element is not None and bool((element.get("V") or "").strip())


def read_journal_texts(taken: Taken, parent: Element) -> tuple[JournalText, ...]:
    found = []
    for node in kids(parent, "Journaltekst"):
        text = read_text(taken, kid(node, "Notat"))
        if text is None:
            continue
        found.append(
            JournalText(
                text,
                read_code(taken, kid(node, "Overskriftskode")),
                read_text(taken, kid(node, "Merknad")),
            )
        )
    return tuple(found)


def read_goals(taken: Taken, root: Element) -> list[Goal]:
    """Sykepleierdokumentasjon/InfoMaalForventetRes: goals and expected results."""
    nursing = kid(root, "Sykepleierdokumentasjon")
    found = []
    for info in kids(nursing, "InfoMaalForventetRes") if nursing is not None else []:
        content = kid(info, "InnholdMaaldokument")
        if content is None:
            continue
        goal = Goal(
            goal=read_code(taken, kid(content, "MaalForventetResultat")),
            expected=read_code(taken, kid(content, "ForventetGradMaaloppnaaelse")),
            description=read_text(taken, kid(content, "Beskrivelse")),
            category=read_code(taken, kid(content, "KategoriHelsepersonell")),
            due=read_date(taken, kid(content, "ForventesOppnaadd")),
            start=read_date(taken, kid(content, "FraDato")),
            end=read_date(taken, kid(content, "TilDato")),
            keywords=tuple(
                word for node in kids(content, "Stikkord") if (word := read_text(taken, node))
            ),
            texts=read_journal_texts(taken, info),
        )
        found.append(goal)
    return found


def _informed(taken: Taken, node: Element) -> tuple[bool | None, bool | None]:
    informed = kid(node, "InformertOm")
    if informed is None:
        return None, None
    return (
        read_bool(taken, kid(informed, "PasientInformert")),
        read_bool(taken, kid(informed, "ParorendeInformert")),
    )


def read_appointments(taken: Taken, root: Element) -> list[Appointment]:
    """InfoKontrolltime: a booked time, a time the patient books, or a tentative time."""
    found = []
    for info in kids(root, "InfoKontrolltime"):
        if (node := kid(info, "InformasjonOmTime")) is not None:
            patient, relative = _informed(taken, node)
            found.append(
                Appointment(
                    "booked",
                    booked=read_bool(taken, kid(node, "BestiltKontrolltime")),
                    start=read_datetime(taken, kid(node, "TidspunktTime")),
                    minutes=read_int(taken, kid(node, "Varighet")),
                    place=read_text(taken, kid(node, "StedTime")),
                    patient_informed=patient,
                    relative_informed=relative,
                )
            )
        elif (node := kid(info, "KontrolltimeBestill")) is not None:
            patient, relative = _informed(taken, node)
            found.append(
                Appointment(
                    "self-booked",
                    books_self=read_bool(taken, kid(node, "PasientParorendeBestiller")),
                    patient_informed=patient,
                    relative_informed=relative,
                )
            )
        elif (node := kid(info, "InformasjonOmTentativTime")) is not None:
            patient, relative = _informed(taken, node)
            found.append(
                Appointment(
                    "tentative",
                    tentative_time=read_text(taken, kid(node, "TentativtTidspunktTime")),
                    place=read_text(taken, kid(node, "StedTime")),
                    remark=read_text(taken, kid(node, "Merknad")),
                    patient_informed=patient,
                    relative_informed=relative,
                )
            )
    return found


def read_services(taken: Taken, root: Element) -> list[Service]:
    """EksisterendeTjeneste (services the patient has) and TjenesteBehov (services needed)."""
    found = []
    for node in kids(root, "EksisterendeTjeneste"):
        if not _names_service(node):
            continue
        found.append(
            Service(
                needed=False,
                type=read_code(taken, kid(node, "IPLOStjenestetype")),
                name=read_text(taken, kid(node, "BetegnelseTjeneste")),
                private=read_bool(taken, kid(node, "PrivatTjeneste")),
                provider=read_text(taken, kid(node, "TjenestenLevertAv")),
                details=read_text(taken, kid(node, "OpplysningerOmTjenesten")),
                amount=read_decimal(taken, kid(node, "AntallEnheter")),
                unit=read_text(taken, kid(node, "Enhet")),
                start=read_date(taken, kid(node, "Startdato")),
                end=read_date(taken, kid(node, "Sluttdato")),
                remark=read_text(taken, kid(node, "Merknad")),
            )
        )
    for node in kids(root, "TjenesteBehov"):
        if not _names_service(node):
            continue
        found.append(
            Service(
                needed=True,
                type=read_code(taken, kid(node, "IPLOStjenestetype")),
                name=read_text(taken, kid(node, "BetegnelseTjeneste")),
                provider=read_text(taken, kid(node, "VedInstitusjon")),
                details=read_text(taken, kid(node, "BeskrivelseAvTjeneste")),
                amount=read_decimal(taken, kid(node, "AntallEnheterOnsket")),
                unit=read_text(taken, kid(node, "Enhet")),
            )
        )
    return found


def _names_service(node: Element) -> bool:
    """A service is structured only when it says which service it is."""
    name = kid(node, "BetegnelseTjeneste")
    named = name is not None and not len(name) and bool((name.text or "").strip())
    return named or _has_code(kid(node, "IPLOStjenestetype"))
