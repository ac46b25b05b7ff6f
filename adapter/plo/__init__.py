"""PLO messages (pleie- og omsorgsmeldinger, KITH XML) <-> FHIR R4, with AppRec receipts.

The data flow, one module per step::

    bytes --reader--> XML tree (hardened parser; UTF-8, ISO-8859-1, windows-1252, UTF-16)
          --xsd------> optional validation against a folder of KITH schemas
          --envelope-> MsgHead v1.2: type, MsgId, GenDate, sender, receiver, patient, IssueDate
          --reports / logistics / dialog (with components, kith)--> model values
          --leftovers-> what the readers did not take, as text (nothing is dropped silently)
          --fhir.mapping--> one transaction Bundle of conditional, idempotent PUTs
          --importer--> the transaction engine, and an AppRec v1.1 receipt (apprec)

    store --export (with fhir.reverse)--> model values --writer--> PLO XML (MsgHead v1.2)

What becomes what (details in each module of :mod:`adapter.plo.fhir`):

==========================================  ===============================================
PLO                                         FHIR R4
==========================================  ===============================================
MsgInfo/Patient, TilleggsopplysningPasient  Patient (fødselsnummer / D-number)
Sender, Receiver, TilknyttetEnhet           Organization (HER-id, organisation number), partOf
HealthcareProfessional                      Practitioner (HPR number)
ParorendeForesatt                           RelatedPerson
timed events, the stay                      Encounter (statusHistory = the event log)
InfoMedisinskDiagnose, TidligereSykdom      Condition
InfoKartleggingFunksjonsniva (IPLOS)        Observation (KITH 9111) and a panel
InfoMaalForventetRes                        Goal
InfoKontrolltime                            Appointment
contacts, responsible units, next of kin    CareTeam
EksisterendeTjeneste, TjenesteBehov         CarePlan (activities coded with KITH 9151)
Dialogmelding                               Communication
the message itself                          DocumentReference (original + leftover text)
what the message wrote                      Provenance (activity from Forsendelsesstatus)
==========================================  ===============================================

The mapping's code tables are data: ``mappings/plo-*.json`` and ``profiles/ConceptMap-plo-*.json``.
The public names below are imported on first use, so ``forlop plo --help`` stays quick.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapter.plo.apprec import build_apprec
    from adapter.plo.errors import PloError, Problem
    from adapter.plo.export import ExportError, export_communication, export_encounter, stay_of
    from adapter.plo.fhir.assembly import Known, Prior
    from adapter.plo.fhir.mapping import Mapped, Needs, to_bundle
    from adapter.plo.importer import ImportSummary, Written, import_message
    from adapter.plo.message import Message, parse_message
    from adapter.plo.xsd import SchemaFolderError, Schemas, load_schemas

__all__ = [
    "ExportError",
    "ImportSummary",
    "Known",
    "Mapped",
    "Message",
    "Needs",
    "PloError",
    "Prior",
    "Problem",
    "SchemaFolderError",
    "Schemas",
    "Written",
    "build_apprec",
    "export_communication",
    "export_encounter",
    "import_message",
    "load_schemas",
    "parse_message",
    "stay_of",
    "to_bundle",
]

_HOMES = {
    "build_apprec": "adapter.plo.apprec",
    "PloError": "adapter.plo.errors",
    "ExportError": "adapter.plo.export",
    "export_communication": "adapter.plo.export",
    "export_encounter": "adapter.plo.export",
    "stay_of": "adapter.plo.export",
    "Problem": "adapter.plo.errors",
    "Known": "adapter.plo.fhir.assembly",
    "Prior": "adapter.plo.fhir.assembly",
    "Mapped": "adapter.plo.fhir.mapping",
    "Needs": "adapter.plo.fhir.mapping",
    "to_bundle": "adapter.plo.fhir.mapping",
    "ImportSummary": "adapter.plo.importer",
    "Written": "adapter.plo.importer",
    "import_message": "adapter.plo.importer",
    "Message": "adapter.plo.message",
    "parse_message": "adapter.plo.message",
    "SchemaFolderError": "adapter.plo.xsd",
    "Schemas": "adapter.plo.xsd",
    "load_schemas": "adapter.plo.xsd",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'adapter.plo' has no attribute {name!r}")
    return getattr(import_module(home), name)
