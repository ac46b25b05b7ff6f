"""What forlop reads from a PLO message, as plain values (KITH MsgHead v1.2, poKomponent v1.6,
felleskomponent1, Dialogmelding 1.0/1.1).

The readers in :mod:`adapter.plo.kith`, :mod:`adapter.plo.envelope` and the content-family modules
fill these; :mod:`adapter.plo.fhir` maps them. Every value here is mapped to FHIR; whatever the
readers do not take into these classes is rendered as text (:mod:`adapter.plo.leftovers`), so
nothing a message says is dropped silently. Dates and times stay as the message wrote them (KITH
``TS``/xs:dateTime lexical forms); the mapping reads them in the configured time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = [
    "Address",
    "Appointment",
    "Code",
    "Conversation",
    "Diagnosis",
    "Dialog",
    "DialogNote",
    "DialogRequest",
    "DialogRole",
    "Envelope",
    "Event",
    "FunctionAssessment",
    "FunctionScore",
    "Goal",
    "Header",
    "Ident",
    "JournalText",
    "Logistics",
    "Organisation",
    "Person",
    "Professional",
    "Relative",
    "Report",
    "Responsible",
    "Service",
    "Telecom",
    "Unit",
]


@dataclass(frozen=True)
class Code:
    """A KITH ``CV`` (V, S, DN, OT) or ``CS`` (V, DN: no code system named) value."""

    v: str | None = None
    s: str | None = None
    dn: str | None = None
    ot: str | None = None


@dataclass(frozen=True)
class Ident:
    id: str
    type: Code


@dataclass(frozen=True)
class Address:
    """An address; County only as a municipality number (Volven 3402), Country as ISO 3166."""

    street: str | None = None
    postal_code: str | None = None
    city: str | None = None
    postbox: str | None = None
    county: Code | None = None
    country: Code | None = None


@dataclass(frozen=True)
class Telecom:
    """A telecommunication address as a URL (``tel:``, ``mailto:``, ``fax:``, ``http:`` ...)."""

    address: str
    type: Code | None = None


@dataclass(frozen=True)
class Person:
    family: str | None = None
    middle: str | None = None
    given: str | None = None
    birth_date: str | None = None
    sex: Code | None = None
    nationality: Code | None = None
    idents: tuple[Ident, ...] = ()
    address: Address | None = None
    telecoms: tuple[Telecom, ...] = ()


@dataclass(frozen=True)
class Professional:
    """Health personnel (``HealthcareProfessional``): a person with a category and a role."""

    person: Person
    category: Code | None = None  # TypeHealthcareProfessional
    role: Code | None = None  # RoleToPatient (KITH 9034)


@dataclass(frozen=True)
class Organisation:
    name: str | None
    idents: tuple[Ident, ...] = ()
    type: Code | None = None
    address: Address | None = None
    telecoms: tuple[Telecom, ...] = ()
    unit: Organisation | None = None  # the nested, more specific organisation
    professional: Professional | None = None


@dataclass(frozen=True)
class Conversation:
    parent: str
    conversation: str


@dataclass(frozen=True)
class Envelope:
    """MsgHead/MsgInfo and the one Document's RefDoc."""

    type: Code
    gen_date: str
    msg_id: str
    sender: Organisation
    receiver: Organisation
    patient: Person
    mig_version: str | None = None
    conversation: Conversation | None = None
    issue_date: str | None = None

    @property
    def document_date(self) -> str:
        """RefDoc/IssueDate, which stays the same through N -> M -> C; else GenDate."""
        return self.issue_date or self.gen_date


# --- poKomponent --------------------------------------------------------------------------------


@dataclass(frozen=True)
class JournalText:
    """epj2:Journaltekst: a heading code, the note, and a remark."""

    text: str
    heading: Code | None = None
    remark: str | None = None


@dataclass(frozen=True)
class Relative:
    """ParorendeForesatt."""

    person: Person
    relationship: Code | None = None  # Slektskap
    care_role: Code | None = None  # Omsorgsfunksjon
    birth_year: str | None = None  # FodselsarMindrearigParorende
    remark: str | None = None


@dataclass(frozen=True)
class Unit:
    """TilknyttetEnhet: an organisation the patient is connected to."""

    organisation: Organisation
    remark: str | None = None


@dataclass(frozen=True)
class Responsible:
    """KontaktpersonHelsepersonell (``kind`` contact) or AnsvarForRapport (``kind`` report)."""

    kind: str
    professional: Professional
    approved: str | None = None  # GodkjentDato
    relation: Code | None = None  # TypeRelasjon
    remark: str | None = None


@dataclass(frozen=True)
class Header:
    """The parts every pleie- og omsorgsmelding starts with."""

    status: Code  # Forsendelsesstatus
    civil_status: Code | None = None
    language: Code | None = None
    relatives: tuple[Relative, ...] = ()
    units: tuple[Unit, ...] = ()
    responsibles: tuple[Responsible, ...] = ()


@dataclass(frozen=True)
class Event:
    """TidsfestetHendelse: an event of the stay (code from KITH 9121) at a time."""

    time: str
    estimated: bool
    code: Code | None = None
    description: str | None = None
    remark: str | None = None
    place: str | None = None
    discharge_state: Code | None = None  # UtskrevetTil/Uttilstand
    discharged_to: Code | None = None  # UtskrevetTil/UtTil
    discharge_remark: str | None = None


@dataclass(frozen=True)
class Diagnosis:
    """MedisinskDiagnose (``history`` False) or TidligereSykdomFragment (``history`` True); a
    TidsperiodeDiagnose adds the period the diagnosis held (``start``, ``end``)."""

    history: bool
    code: Code | None = None
    text: str | None = None
    main: bool | None = None
    chronic: bool | None = None
    start: str | None = None
    end: str | None = None


@dataclass(frozen=True)
class FunctionScore:
    """KartlagtFunksjon: one IPLOS functional variable (KITH 9111) and its score."""

    variable: Code
    score: int | None = None
    remark: str | None = None


@dataclass(frozen=True)
class FunctionAssessment:
    """InfoKartleggingFunksjonsniva with its overall assessment."""

    scores: tuple[FunctionScore, ...]
    care_dependency: Decimal | None = None  # Pleietyngde
    assessment: str | None = None  # VurderingPleietyngde
    remark: str | None = None
    time: str | None = None  # Ansvarlig/TidspunktForHendelse
    assessor: Professional | None = None
    assessor_unit: Organisation | None = None


@dataclass(frozen=True)
class Goal:
    """InfoMaalForventetRes/InnholdMaaldokument with its journal texts."""

    goal: Code | None = None  # MaalForventetResultat
    expected: Code | None = None  # ForventetGradMaaloppnaaelse
    description: str | None = None
    category: Code | None = None  # KategoriHelsepersonell
    due: str | None = None  # ForventesOppnaadd
    start: str | None = None  # FraDato
    end: str | None = None  # TilDato
    keywords: tuple[str, ...] = ()
    texts: tuple[JournalText, ...] = ()


@dataclass(frozen=True)
class Appointment:
    """InfoKontrolltime: a booked time, a time the patient books, or a tentative time."""

    kind: str  # booked | self-booked | tentative
    booked: bool | None = None  # BestiltKontrolltime
    start: str | None = None
    minutes: int | None = None
    place: str | None = None
    tentative_time: str | None = None
    remark: str | None = None
    books_self: bool | None = None  # PasientParorendeBestiller
    patient_informed: bool | None = None
    relative_informed: bool | None = None


@dataclass(frozen=True)
class Service:
    """EksisterendeTjeneste (``needed`` False) or TjenesteBehov (``needed`` True)."""

    needed: bool
    type: Code | None = None  # IPLOStjenestetype (KITH 9151)
    name: str | None = None
    private: bool | None = None
    provider: str | None = None  # TjenestenLevertAv / VedInstitusjon
    details: str | None = None  # OpplysningerOmTjenesten / BeskrivelseAvTjeneste
    amount: Decimal | None = None
    unit: str | None = None
    start: str | None = None
    end: str | None = None
    remark: str | None = None


@dataclass(frozen=True)
class Report:
    """One of the six pleie- og omsorgsmeldinger (reports) of v1.6."""

    header: Header
    content_type: Code | None = None  # TypeInnholdIMelding/TypeInnhold or InnholdKonsultasjon
    content_remark: str | None = None
    events: tuple[Event, ...] = ()  # OpplysningOpphold
    diagnoses: tuple[Diagnosis, ...] = ()
    functions: FunctionAssessment | None = None
    goals: tuple[Goal, ...] = ()
    appointments: tuple[Appointment, ...] = ()
    services: tuple[Service, ...] = ()


@dataclass(frozen=True)
class Logistics:
    """Pasientlogistikk: one use (meldingsanvendelse) and its events."""

    header: Header
    usage: str
    events: tuple[Event, ...] = ()


# --- Dialogmelding ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DialogRole:
    """RollerRelatertNotat: who a request or note concerns or comes from."""

    role: Code | None = None  # RolleNotat
    role_to_patient: Code | None = None
    unit: Organisation | None = None
    professional: Professional | None = None
    person: Person | None = None


@dataclass(frozen=True)
class DialogRequest:
    """Foresporsel."""

    type: Code
    subject: str | None = None  # EmneSporsmal
    question: str | None = None  # Sporsmal
    purpose: Code | None = None
    reason: str | None = None
    urgency: Code | None = None
    start: str | None = None
    end: str | None = None
    record_types: tuple[Code, ...] = ()  # TypeJournalinfo
    coded_info: Code | None = None
    document_id: str | None = None
    roles: tuple[DialogRole, ...] = ()


@dataclass(frozen=True)
class DialogNote:
    """Notat: an answer or a message (theme from KITH 9069, 8117 ...)."""

    theme: Code
    theme_text: str | None = None
    text: str | None = None
    remark: str | None = None
    document_id: str | None = None
    date: str | None = None
    request: DialogRequest | None = None
    roles: tuple[DialogRole, ...] = ()


@dataclass(frozen=True)
class Dialog:
    case_type: Code | None = None  # SakstypeKodet
    case_text: str | None = None  # Sakstype
    requests: tuple[DialogRequest, ...] = ()
    notes: tuple[DialogNote, ...] = ()
