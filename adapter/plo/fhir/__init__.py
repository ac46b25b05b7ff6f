"""PLO message -> FHIR R4 transaction Bundle (see :mod:`adapter.plo.fhir.mapping`)."""
